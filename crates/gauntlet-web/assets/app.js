// Gauntlet dashboard and report: the theme switch, live updates over server-sent events,
// the virtualised waterfall, loading more steps, and the report's case toggles. Data comes
// from data- attributes and JSON blocks; text is set with textContent, never parsed as HTML
// (except the server's own step fragments, which it escaped).
(function () {
  "use strict";
  var root = document.documentElement;
  try {
    var saved = localStorage.getItem("gauntlet-theme");
    if (saved) root.dataset.theme = saved;
  } catch (e) { /* storage may be off */ }

  function ready(f) {
    if (document.readyState !== "loading") f(); else document.addEventListener("DOMContentLoaded", f);
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function fmtMs(v) {
    if (!(v >= 0)) return "–";
    if (v < 1) return v.toFixed(2) + " ms";
    if (v < 1000) return Math.round(v) + " ms";
    if (v < 60000) return (v / 1000).toFixed(2) + " s";
    var s = Math.round(v / 1000);
    return Math.floor(s / 60) + " min " + String(s % 60).padStart(2, "0") + " s";
  }

  function theme() {
    var b = document.querySelector("[data-theme-toggle]");
    if (!b) return;
    b.addEventListener("click", function () {
      var dark = root.dataset.theme ? root.dataset.theme === "dark"
        : window.matchMedia("(prefers-color-scheme: dark)").matches;
      root.dataset.theme = dark ? "light" : "dark";
      try { localStorage.setItem("gauntlet-theme", root.dataset.theme); } catch (e) { /* ignore */ }
    });
  }

  function confirms() {
    document.querySelectorAll("form[data-confirm]").forEach(function (f) {
      f.addEventListener("submit", function (ev) {
        if (!window.confirm(f.dataset.confirm)) ev.preventDefault();
      });
    });
  }

  function setBar(bar, p, f, e) {
    if (!bar) return;
    var total = p + f + e;
    bar.classList.toggle("empty", total === 0);
    bar.setAttribute("aria-label", p + " passed, " + f + " failed, " + e + " errored");
    var parts = bar.querySelectorAll("i");
    if (parts.length !== 3) {
      bar.textContent = "";
      ["ok", "bad", "warn"].forEach(function (c) { bar.appendChild(el("i", c)); });
      parts = bar.querySelectorAll("i");
    }
    [p, f, e].forEach(function (n, i) { parts[i].style.width = total ? (n * 100 / total) + "%" : "0"; });
  }

  // One EventSource per live element. The browser resends the last event id when it
  // reconnects, and the server replays what was missed, so counts neither skip nor repeat.
  function live() {
    document.querySelectorAll("[data-live]").forEach(function (node) {
      var counts = { passed: 0, failed: 0, error: 0 }, planned = null, seen = {};
      var src = new EventSource(node.dataset.live);
      var log = node.querySelector("[data-live-log]");
      var stateText = node.querySelector("[data-live-state]");
      var bar = node.querySelector("[data-live-bar]") || node.querySelector(".bar");
      var countCell = node.querySelector("[data-cell=count]");
      var rateCell = node.querySelector("[data-cell=rate]");
      function paint() {
        var done = counts.passed + counts.failed + counts.error;
        setBar(bar, counts.passed, counts.failed, counts.error);
        var text = done + (planned ? " of " + planned : "") + " case" + (done === 1 && !planned ? "" : "s");
        if (countCell) countCell.textContent = text;
        if (rateCell) rateCell.textContent = done ? (counts.passed * 100 / done).toFixed(1) + "%" : "–";
        if (stateText) stateText.textContent = text + " · " + counts.passed + " passed, " + counts.failed + " failed, " + counts.error + " errored";
        node.dataset.done = String(done);
      }
      src.addEventListener("snapshot", function (m) {
        var d = JSON.parse(m.data);
        if (node.hasAttribute("data-reload-on-start") && d.state === "running") { src.close(); window.location.reload(); return; }
        counts = { passed: d.passed || 0, failed: d.failed || 0, error: d.errored || 0 };
        if (d.planned) planned = d.planned;
        seen = {};
        paint();
      });
      src.addEventListener("status", function (m) {
        var d = JSON.parse(m.data);
        if (d.planned) planned = d.planned;
        if (node.hasAttribute("data-reload-on-start") && d.state === "running") { src.close(); window.location.reload(); return; }
        var badge = (node.querySelector("[data-cell=status] .badge") || document.querySelector("[data-cell=status] .badge"));
        if (badge && d.state) { badge.textContent = d.state; }
        paint();
      });
      src.addEventListener("case", function (m) {
        var d = JSON.parse(m.data);
        var key = d.index + ":" + (d.trial || 0);
        if (seen[key]) return;
        seen[key] = true;
        counts[d.status] = (counts[d.status] || 0) + 1;
        paint();
        if (log) {
          var li = el("li", d.status);
          li.dataset.index = String(d.index);
          li.textContent = "#" + d.index + " " + d.case + " · " + d.target + " · " + d.status + " · score " + Number(d.score).toFixed(2);
          log.appendChild(li);
          log.scrollTop = log.scrollHeight;
        }
      });
      src.addEventListener("end", function (m) {
        var d = JSON.parse(m.data);
        src.close();
        if (stateText) stateText.textContent = "Finished: " + (d.status || d.state) + ". Reloading…";
        setTimeout(function () { window.location.reload(); }, 800);
      });
      src.onerror = function () { if (stateText) stateText.textContent = "Connection lost; reconnecting…"; };
    });
  }

  // The waterfall draws only the rows in view: a case with 10,000 steps opens at once.
  function waterfalls(scope) {
    scope.querySelectorAll("[data-waterfall]:not([data-ready])").forEach(function (box) {
      box.dataset.ready = "1";
      var data = JSON.parse(document.getElementById(box.dataset.waterfall).textContent);
      var rows = data.rows, total = data.total_ms || 1, H = 24;
      var axis = el("div", "wf-axis"), ticks = el("div", "ticks");
      axis.appendChild(el("div", "lbl", rows.length + " rows · " + fmtMs(total)));
      axis.appendChild(ticks);
      for (var t = 0; t <= 4; t++) {
        var s = el("span", "", fmtMs(total * t / 4));
        s.style.left = (t * 25) + "%";
        if (t === 4) s.style.transform = "translateX(-100%)";
        ticks.appendChild(s);
      }
      var body = el("div", "wf-rows");
      body.style.height = (rows.length * H) + "px";
      box.appendChild(axis);
      box.appendChild(body);
      box.style.height = Math.min(rows.length * H + 26, 480) + "px";
      var drawn = {};
      function open(step) {
        var id = data.anchors[step];
        var d = id && document.getElementById(id);
        if (d) { d.open = true; d.scrollIntoView({ block: "start" }); d.classList.add("flash"); setTimeout(function () { d.classList.remove("flash"); }, 1200); }
        else if (id) { location.hash = id; }
      }
      function row(i) {
        var r = rows[i];
        var b = el("button", "wf-row d" + r[0]);
        b.type = "button";
        b.style.top = (i * H) + "px";
        b.dataset.kind = r[1];
        b.setAttribute("aria-label", r[2] + ": starts " + fmtMs(r[3]) + ", takes " + fmtMs(r[4]) + (r[6] ? ", " + r[6] : ""));
        b.title = r[2] + "\n" + fmtMs(r[3]) + " → " + fmtMs(r[3] + r[4]) + (r[6] ? "\n" + r[6] : "");
        b.appendChild(el("span", "lbl", r[2]));
        var track = el("span", "track");
        var seg = el("span", "seg " + r[1] + (r[5] === "bad" ? " bad" : ""));
        seg.style.left = (r[3] / total * 100) + "%";
        seg.style.width = (r[4] / total * 100) + "%";
        track.appendChild(seg);
        var dur = el("span", "dur", fmtMs(r[4]));
        var end = (r[3] + r[4]) / total * 100;
        // Near the right edge the duration goes before the bar, not over it.
        if (end > 85) { dur.style.right = (100 - r[3] / total * 100) + "%"; dur.style.paddingRight = "4px"; }
        else dur.style.left = end + "%";
        track.appendChild(dur);
        b.appendChild(track);
        b.addEventListener("click", function () { open(r[7]); });
        return b;
      }
      function draw() {
        var top = Math.max(0, box.scrollTop - 26), h = box.clientHeight || 480;
        var first = Math.max(0, Math.floor(top / H) - 10), last = Math.min(rows.length, Math.ceil((top + h) / H) + 10);
        Object.keys(drawn).forEach(function (k) {
          if (k < first || k >= last) { body.removeChild(drawn[k]); delete drawn[k]; }
        });
        for (var i = first; i < last; i++) if (!drawn[i]) { drawn[i] = row(i); body.appendChild(drawn[i]); }
        box.dataset.drawn = String(Object.keys(drawn).length);
      }
      box.addEventListener("scroll", function () { window.requestAnimationFrame(draw); });
      draw();
    });
  }

  // "Show more steps": the next page of steps replaces the link, and brings its own link.
  function loadMore(scope) {
    scope.querySelectorAll("[data-load-more]:not([data-bound])").forEach(function (a) {
      a.dataset.bound = "1";
      a.addEventListener("click", function (ev) {
        ev.preventDefault();
        a.textContent = "Loading…";
        fetch(a.dataset.loadMore, { credentials: "same-origin" }).then(function (r) {
          if (!r.ok) throw new Error("HTTP " + r.status);
          return r.text();
        }).then(function (html) {
          var holder = a.closest("p");
          var steps = holder.parentNode;
          holder.insertAdjacentHTML("afterend", html);
          steps.removeChild(holder);
          loadMore(steps);
        }).catch(function (e) { a.textContent = "Could not load the steps (" + e.message + "); try again"; });
      });
    });
  }

  // Anchors to a step open it (graph nodes link to their step).
  function openTarget() {
    var id = decodeURIComponent(location.hash.slice(1));
    var t = id && document.getElementById(id);
    if (!t) return;
    if (t.tagName === "DETAILS") t.open = true;
    if (t.classList.contains("case-detail")) { t.hidden = false; waterfalls(t); }
    var parent = t.closest("tr.case-detail");
    if (parent) { parent.hidden = false; waterfalls(parent); }
    t.scrollIntoView({ block: "start" });
  }

  // The report file: status filters and cases that open in place.
  function report() {
    var filter = document.querySelector("[data-status-filter]");
    if (!filter) return;
    filter.querySelectorAll("a[data-show]").forEach(function (a) {
      a.addEventListener("click", function (ev) {
        ev.preventDefault();
        var kind = a.dataset.show;
        filter.querySelectorAll("a").forEach(function (x) { x.removeAttribute("aria-current"); });
        a.setAttribute("aria-current", "true");
        document.querySelectorAll("tr.case").forEach(function (r) {
          var s = r.dataset.status;
          r.style.display = (kind === "all" || s === kind || (kind === "not-passed" && s !== "passed")) ? "" : "none";
        });
        document.querySelectorAll("tr.case-detail").forEach(function (r) { r.hidden = true; });
      });
    });
    document.querySelectorAll("tr.case a[href^='#case-']").forEach(function (a) {
      a.addEventListener("click", function (ev) {
        ev.preventDefault();
        var d = document.getElementById(a.getAttribute("href").slice(1));
        d.hidden = !d.hidden;
        if (!d.hidden) waterfalls(d);
      });
    });
  }

  ready(function () {
    theme();
    confirms();
    live();
    // In the report, a case's waterfall is drawn when its row opens.
    if (document.body.dataset.mode === "standalone") report(); else waterfalls(document);
    loadMore(document);
    openTarget();
    window.addEventListener("hashchange", openTarget);
  });
})();

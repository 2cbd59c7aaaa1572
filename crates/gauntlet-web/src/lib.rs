//! The dashboard's pages, rendered on the server as HTML: the run list, a run, a case (its
//! graph, waterfall, steps, assertions and failure tree), the assertion explorer, the
//! comparison of two runs, sign-in and sessions; and the HTML report, which is the run page as
//! one self-contained file.
//!
//! Pages are functions of the data they show; they read nothing and know no HTTP. The same
//! stylesheet and script serve the dashboard (from `/assets/`) and the report (inlined), so a
//! report attached to a CI job looks like the dashboard. Every value is escaped where it is
//! written ([`esc`]); the script reads data only from `<script type="application/json">`
//! blocks and `data-` attributes, never from HTML it builds out of strings.

pub mod format;
pub mod graph;
pub mod pages;
pub mod report;
pub mod timeline;

pub use gauntlet_report::escape_xml as esc;

/// The stylesheet, served at `/assets/app.css` and inlined in reports.
pub const STYLE: &str = include_str!("../assets/app.css");
/// The script, served at `/assets/app.js` and inlined in reports.
pub const SCRIPT: &str = include_str!("../assets/app.js");

/// A short content hash of the assets, for cache-busting links.
pub fn asset_version() -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    STYLE.hash(&mut h);
    SCRIPT.hash(&mut h);
    format!("{:08x}", h.finish() as u32)
}

/// Where a page is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `gauntlet view`: the local store, no sign-in.
    Local,
    /// `gauntlet serve`: signed in.
    Server,
    /// A report file: no server behind it, assets inline, links within the page.
    Standalone,
}

/// What the caller may do, so that pages show only the buttons that work.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Can {
    /// Start, cancel, pause, resume and re-run runs (`suites:execute`).
    pub execute: bool,
    /// Delete runs (`runs:delete`).
    pub delete: bool,
    /// See and revoke other users' sessions (`users:write`).
    pub manage_sessions: bool,
}

/// The frame every page shares: who is signed in, what they may do, the CSRF token their
/// forms carry.
#[derive(Clone, Debug)]
pub struct Chrome {
    pub mode: Mode,
    pub user: Option<String>,
    pub role: Option<String>,
    pub tenant: Option<String>,
    pub csrf: Option<String>,
    pub can: Can,
}

impl Chrome {
    pub fn standalone() -> Chrome {
        Chrome {
            mode: Mode::Standalone,
            user: None,
            role: None,
            tenant: None,
            csrf: None,
            can: Can::default(),
        }
    }

    /// A hidden field with the CSRF token, for every state-changing form.
    pub fn csrf_field(&self) -> String {
        match &self.csrf {
            Some(t) => format!(r#"<input type="hidden" name="csrf" value="{}">"#, esc(t)),
            None => String::new(),
        }
    }

    /// A form posting to `action` with one button.
    pub fn button(&self, action: &str, label: &str, class: &str) -> String {
        format!(
            r#"<form method="post" action="{}" class="inline">{}<button type="submit" class="{}">{}</button></form>"#,
            esc(action),
            self.csrf_field(),
            esc(class),
            esc(label)
        )
    }
}

/// Which section of the navigation a page belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nav {
    Runs,
    Compare,
    Assertions,
    Sessions,
    None,
}

/// A whole page: head, header with navigation and the signed-in user, `main` with `body`.
pub fn layout(chrome: &Chrome, nav: Nav, title: &str, body: &str) -> String {
    let mut page = layout_open(chrome, nav, title);
    page.push_str(body);
    page.push_str(LAYOUT_CLOSE);
    page
}

/// What [`layout_open`] leaves open.
pub const LAYOUT_CLOSE: &str = "</main>\n</body></html>\n";

/// A page up to the opening of `main`, for pages written as they are read.
pub fn layout_open(chrome: &Chrome, nav: Nav, title: &str) -> String {
    let (style, script) = match chrome.mode {
        Mode::Standalone => (
            format!("<style>{STYLE}</style>"),
            format!("<script>{SCRIPT}</script>"),
        ),
        _ => {
            let v = asset_version();
            (
                format!(r#"<link rel="stylesheet" href="/assets/app.css?v={v}">"#),
                format!(r#"<script src="/assets/app.js?v={v}" defer></script>"#),
            )
        }
    };
    let link = |n: Nav, href: &str, label: &str| {
        let current = if n == nav {
            r#" aria-current="page""#
        } else {
            ""
        };
        format!(r#"<a href="{href}"{current}>{label}</a>"#)
    };
    let nav_html = match chrome.mode {
        // Nothing to navigate to before signing in.
        Mode::Standalone => String::new(),
        Mode::Server if chrome.user.is_none() => String::new(),
        _ => {
            let mut links = vec![
                link(Nav::Runs, "/", "Runs"),
                link(Nav::Compare, "/compare", "Compare"),
            ];
            if chrome.can.manage_sessions {
                links.push(link(Nav::Sessions, "/sessions", "Sessions"));
            }
            format!(r#"<nav aria-label="Main">{}</nav>"#, links.join(""))
        }
    };
    let who = match (&chrome.mode, &chrome.user) {
        (Mode::Server, Some(u)) => format!(
            r#"<div class="who"><span title="tenant {tenant}">{u}</span> <span class="badge">{role}</span><form method="post" action="/logout" class="inline">{csrf}<button type="submit" class="link">Sign out</button></form></div>"#,
            u = esc(u),
            tenant = esc(chrome.tenant.as_deref().unwrap_or("")),
            role = esc(chrome.role.as_deref().unwrap_or("")),
            csrf = chrome.csrf_field(),
        ),
        (Mode::Local, _) => {
            r#"<div class="who"><span class="badge">local store</span></div>"#.to_owned()
        }
        _ => String::new(),
    };
    format!(
        r##"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark"><title>{title} · Gauntlet</title>{style}{script}</head>
<body data-mode="{mode}"><a class="skip" href="#main">Skip to content</a>
<header class="top"><a class="brand" href="{home}">Gauntlet</a>{nav_html}<span class="spacer"></span>{who}<button type="button" class="theme" data-theme-toggle aria-label="Switch between dark and light">◐</button></header>
<main id="main" tabindex="-1">"##,
        title = esc(title),
        mode = match chrome.mode {
            Mode::Local => "local",
            Mode::Server => "server",
            Mode::Standalone => "standalone",
        },
        home = if chrome.mode == Mode::Standalone {
            "#main"
        } else {
            "/"
        },
    )
}

/// A `<script type="application/json">` block: JSON with `<` escaped, so no value can close
/// the element.
pub fn json_block(id: &str, value: &serde_json::Value) -> String {
    let text = value.to_string().replace('<', "\\u003c");
    format!(
        r#"<script type="application/json" id="{}">{text}</script>"#,
        esc(id)
    )
}

/// A query string from (name, value) pairs, values percent-encoded; empty values left out.
pub fn query(pairs: &[(&str, &str)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

/// Percent-encoding of a query value.
pub fn encode(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_blocks_cannot_close_their_element() {
        let b = json_block(
            "d",
            &serde_json::json!({"x": "</script><script>alert(1)</script>"}),
        );
        assert_eq!(b.matches("</script>").count(), 1, "{b}");
    }

    #[test]
    fn queries_encode_values_and_drop_empty_ones() {
        assert_eq!(query(&[("a", "x y&z"), ("b", "")]), "?a=x%20y%26z");
        assert_eq!(query(&[("b", "")]), "");
    }
}

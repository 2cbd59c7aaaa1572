//! The `custom` assertion: an external command that reads the case as JSON on stdin and
//! prints `{"pass": bool, "score": 0–1, "reason": "…"}` on stdout.
//!
//! The command runs in the project directory, is killed after its timeout, and fails the
//! assertion with its exit status and the end of its stderr when it does not answer.

use std::process::Stdio;
use std::time::Duration;

use gauntlet_core::evaluators::CustomSpec;
use gauntlet_eval::Outcome;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How much of stderr a failure quotes.
const STDERR_TAIL: usize = 400;

pub async fn evaluate(spec: &CustomSpec, host: &gauntlet_sandbox::Host, case: &Value) -> Outcome {
    match run(spec, host, case).await {
        Ok(o) => o,
        Err(e) => gauntlet_eval::binary(false, format!("custom evaluator: {e}")),
    }
}

async fn run(
    spec: &CustomSpec,
    host: &gauntlet_sandbox::Host,
    case: &Value,
) -> Result<Outcome, String> {
    let Some((program, args)) = spec.command.split_first() else {
        return Err("no command".into());
    };
    let gauntlet_sandbox::Launch { mut command, guard } = host
        .command(program, args, &spec.dir, &[])
        .map_err(|e| e.to_string())?;
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            format!(
                "cannot start `{}` in {}: {e}",
                spec.command.join(" "),
                spec.dir.display()
            )
        })?;
    let body = case.to_string();
    let mut stdin = child.stdin.take();
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let work = async {
        let write = async {
            if let Some(mut s) = stdin.take() {
                // A command that exits without reading its input is not an error in itself.
                let _ = s.write_all(body.as_bytes()).await;
                let _ = s.shutdown().await;
            }
        };
        let mut out = Vec::new();
        let mut err = Vec::new();
        let read_out = async {
            if let Some(s) = stdout.as_mut() {
                let _ = s.read_to_end(&mut out).await;
            }
        };
        let read_err = async {
            if let Some(s) = stderr.as_mut() {
                let _ = s.read_to_end(&mut err).await;
            }
        };
        tokio::join!(write, read_out, read_err);
        let status = child.wait().await;
        (status, out, err)
    };
    let (status, out, err) = tokio::time::timeout(Duration::from_millis(spec.timeout_ms), work)
        .await
        .map_err(|_| {
            format!(
                "`{}` timed out after {} ms",
                spec.command.join(" "),
                spec.timeout_ms
            )
        })?;
    let status = status.map_err(|e| e.to_string())?;
    let err = String::from_utf8_lossy(&err);
    let tail: String = {
        let t = err.trim();
        let skip = t.chars().count().saturating_sub(STDERR_TAIL);
        t.chars().skip(skip).collect()
    };
    if !status.success() {
        if let Some(why) = guard.explain(status, &err) {
            return Err(format!("`{}`: {why}", spec.command.join(" ")));
        }
        return Err(format!(
            "`{}` exited with {status}{}",
            spec.command.join(" "),
            if tail.is_empty() {
                String::new()
            } else {
                format!(": {tail}")
            }
        ));
    }
    let text = String::from_utf8_lossy(&out);
    let line = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    let v: Value = serde_json::from_str(line.trim()).map_err(|e| {
        format!(
            "the last line of its output is not JSON ({e}): {:?}",
            line.chars().take(120).collect::<String>()
        )
    })?;
    let Some(pass) = v.get("pass").and_then(Value::as_bool) else {
        return Err(format!("its answer has no boolean `pass`: {v}"));
    };
    let score = match v.get("score") {
        None | Some(Value::Null) => {
            if pass {
                1.0
            } else {
                0.0
            }
        }
        Some(s) => match s.as_f64() {
            Some(x) if (0.0..=1.0).contains(&x) => x,
            _ => return Err(format!("`score` must be a number from 0 to 1, got {s}")),
        },
    };
    let reason = v
        .get("reason")
        .and_then(Value::as_str)
        .unwrap_or(if pass { "passed" } else { "failed" })
        .to_owned();
    Ok(Outcome {
        score,
        pass,
        reason,
        details: v.get("details").cloned(),
        cost_usd: 0.0,
    })
}

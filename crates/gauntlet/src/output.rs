//! The only place that writes to the terminal directly.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::{IsTerminal, Write};

pub fn out(s: &str) {
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(s.as_bytes());
    if !s.ends_with('\n') {
        let _ = o.write_all(b"\n");
    }
    let _ = o.flush();
}

pub fn err(s: &str) {
    eprintln!("{}", s.trim_end_matches('\n'));
}

/// Colour only on a terminal, and never when NO_COLOR is set.
pub fn style_stdout() -> gauntlet_report::text::Style {
    gauntlet_report::text::Style {
        color: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    }
}

pub fn style_stderr() -> gauntlet_report::text::Style {
    gauntlet_report::text::Style {
        color: std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    }
}

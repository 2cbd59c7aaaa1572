//! Reports of a run: JSON, JUnit XML, Markdown and CSV, plus the terminal summary. (The HTML
//! report is the dashboard's run page, in `gauntlet-web`, whose `report::writer` serves every
//! format.)
//!
//! Every format is a [`ReportWriter`] fed one case at a time, so a report of a 100,000-case run
//! is written while reading the store, never holding the run in memory. Reports contain no
//! secrets because results never do (the spec loader refuses secrets outside credentials).

pub mod comparison;
mod csv;
pub mod generate;
mod json;
mod junit;
mod markdown;
pub mod simulation;
pub mod summary;
pub mod text;

use std::io::{self, Write};
use std::path::Path;

use gauntlet_core::result::{CaseResult, RunRecord};

pub use summary::Summary;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Json,
    Junit,
    Markdown,
    Csv,
    Html,
}

impl Format {
    pub const NAMES: [&'static str; 5] = ["json", "junit", "markdown", "csv", "html"];

    pub fn parse(name: &str) -> Option<Format> {
        match name.to_ascii_lowercase().as_str() {
            "json" => Some(Format::Json),
            "junit" | "xml" => Some(Format::Junit),
            "markdown" | "md" => Some(Format::Markdown),
            "csv" => Some(Format::Csv),
            "html" | "htm" => Some(Format::Html),
            _ => None,
        }
    }

    /// The format named by a file's extension: `.json`, `.xml`, `.md`, `.csv`, `.html`.
    pub fn from_path(path: &Path) -> Option<Format> {
        path.extension()
            .and_then(|e| e.to_str())
            .and_then(Format::parse)
    }
}

/// A report being written: `begin`, then `case` for each case in index order, then `end`.
pub trait ReportWriter {
    fn begin(&mut self, run: &RunRecord) -> io::Result<()>;
    fn case(&mut self, case: &CaseResult) -> io::Result<()>;
    fn end(&mut self, run: &RunRecord, summary: &Summary) -> io::Result<()>;
}

/// The writer of a data format; `None` for HTML, which `gauntlet-web` renders.
pub fn data_writer<'a>(
    format: Format,
    out: Box<dyn Write + 'a>,
) -> Option<Box<dyn ReportWriter + 'a>> {
    Some(match format {
        Format::Json => Box::new(json::JsonReport::new(out)),
        Format::Junit => Box::new(junit::JunitReport::new(out)),
        Format::Markdown => Box::new(markdown::MarkdownReport::new(out)),
        Format::Csv => Box::new(csv::CsvReport::new(out)),
        Format::Html => return None,
    })
}

/// Escapes text for XML and HTML content and attribute values.
pub fn escape_xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Characters XML 1.0 cannot carry at all.
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\r' | '\t') => {
                out.push_str(&format!("\\u{{{:04x}}}", c as u32))
            }
            c => out.push(c),
        }
    }
    out
}

/// Shortens text for one-line displays.
pub fn clip(s: &str, max: usize) -> String {
    let one_line: String = s
        .chars()
        .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
        .collect();
    if one_line.chars().count() <= max {
        one_line
    } else {
        let mut t: String = one_line.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// Dollars with enough decimals that small costs do not print as zero.
pub fn usd(v: f64) -> String {
    if v == 0.0 {
        "$0".to_owned()
    } else if v >= 0.01 {
        format!("${v:.4}")
    } else {
        format!("${v:.6}")
    }
}

//! Reports of a run: human text, TAP, JUnit XML and JSON.

mod human;
mod json;
mod junit;
mod tap;

use crate::runner::RunReport;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Human,
    Tap,
    Junit,
    Json,
}

pub fn render(report: &RunReport, format: Format) -> String {
    match format {
        Format::Human => human::render(report),
        Format::Tap => tap::render(report),
        Format::Junit => junit::render(report),
        Format::Json => json::render(report),
    }
}

/// The evidence of a failure as plain lines: what was sent, what came back, the
/// extension's stderr.
fn evidence(r: &crate::context::CheckResult) -> Vec<String> {
    let mut lines = vec![];
    for s in &r.sent {
        lines.push(format!("sent:     {s}"));
    }
    for s in &r.received {
        lines.push(format!("received: {s}"));
    }
    if !r.stderr_tail.trim().is_empty() {
        lines.push("stderr tail:".into());
        lines.extend(r.stderr_tail.lines().map(|l| format!("  | {l}")));
    }
    lines
}

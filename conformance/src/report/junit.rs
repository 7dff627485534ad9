//! JUnit XML: one testsuite per category, one testcase per check; a failed SHOULD
//! is a testcase with `<system-out>` noting the warning, not a failure.

use crate::context::Status;
use crate::registry::Level;
use crate::runner::RunReport;
use std::collections::BTreeMap;
use std::fmt::Write;

/// Escapes text for XML content and attributes; drops characters XML 1.0 forbids.
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

pub fn render(report: &RunReport) -> String {
    let mut by_category: BTreeMap<&str, Vec<&crate::context::CheckResult>> = BTreeMap::new();
    for r in &report.results {
        by_category.entry(r.category).or_default().push(r);
    }
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"sandboxer-conformance\" tests=\"{}\" failures=\"{}\" time=\"{:.3}\">",
        report.results.len(),
        report.must_failures(),
        report.duration.as_secs_f64()
    );
    for (category, results) in by_category {
        let failures = results.iter().filter(|r| r.is_must_failure()).count();
        let skipped = results.iter().filter(|r| r.status == Status::Skip).count();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" skipped=\"{skipped}\">",
            xml(category),
            results.len()
        );
        for r in results {
            let _ = write!(
                out,
                "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\">",
                xml(category),
                xml(r.check.id),
                r.duration_ms as f64 / 1000.0
            );
            let body = super::evidence(r).join("\n");
            match (r.status, r.check.level) {
                (Status::Pass, _) => {}
                (Status::Skip, _) => {
                    let _ = write!(out, "<skipped message=\"{}\"/>", xml(&r.message));
                }
                (Status::Fail, Level::Must) => {
                    let _ = write!(
                        out,
                        "<failure message=\"{}\" type=\"MUST §{}\">{}</failure>",
                        xml(&r.message),
                        xml(r.check.section),
                        xml(&body)
                    );
                }
                (Status::Fail, Level::Should) => {
                    let _ = write!(
                        out,
                        "<system-out>SHOULD warning: {}\n{}</system-out>",
                        xml(&r.message),
                        xml(&body)
                    );
                }
            }
            let _ = writeln!(out, "</testcase>");
        }
        let _ = writeln!(out, "  </testsuite>");
    }
    out.push_str("</testsuites>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::xml;

    #[test]
    fn escapes_markup_and_drops_forbidden_characters() {
        assert_eq!(
            xml("<a href=\"x\">&'\u{1}"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&apos;\u{fffd}"
        );
    }
}

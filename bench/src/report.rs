//! The Markdown report: one table row per figure, with the DESIGN §7 target next to it and
//! whether it was met, then a line per figure saying what it measures.

/// Whether a figure met its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Met,
    NotMet,
    /// The figure has no target of its own (a baseline or context).
    NoTarget,
}

impl Verdict {
    /// `Met` when `ok`, else `NotMet`.
    pub fn of(ok: bool) -> Verdict {
        if ok { Verdict::Met } else { Verdict::NotMet }
    }

    fn text(self) -> &'static str {
        match self {
            Verdict::Met => "met",
            Verdict::NotMet => "**not met**",
            Verdict::NoTarget => "–",
        }
    }
}

/// One figure.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Short name, e.g. `Lookup, 100k objects, C=32`.
    pub figure: String,
    /// The measured value(s), e.g. `12,345 req/s; p50 1.20 ms; p99 4.00 ms`.
    pub measured: String,
    /// The DESIGN §7 target, or `–`.
    pub target: String,
    pub verdict: Verdict,
    /// One line: what the figure measures.
    pub what: String,
}

impl Row {
    /// A row.
    pub fn new(
        figure: impl Into<String>,
        measured: impl Into<String>,
        target: impl Into<String>,
        verdict: Verdict,
        what: impl Into<String>,
    ) -> Row {
        Row {
            figure: figure.into(),
            measured: measured.into(),
            target: target.into(),
            verdict,
            what: what.into(),
        }
    }
}

/// `1234567.8` → `1,234,568`.
pub fn thousands(v: f64) -> String {
    let n = v.round().max(0.0) as u64;
    let digits = n.to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The figures table followed by the list of what each one measures.
pub fn render(rows: &[Row]) -> String {
    let mut out = String::from(
        "| # | Figure | Measured | Target (DESIGN §7) | Met? |\n|---|---|---|---|---|\n",
    );
    for (i, r) in rows.iter().enumerate() {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            i + 1,
            cell(&r.figure),
            cell(&r.measured),
            cell(&r.target),
            r.verdict.text()
        ));
    }
    out.push_str("\nWhat each figure measures:\n\n");
    for (i, r) in rows.iter().enumerate() {
        out.push_str(&format!("{}. **{}**: {}\n", i + 1, r.figure, r.what));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_grouped() {
        let check = |v: f64, expected: &str| assert_eq!(thousands(v), expected);
        check(0.0, "0");
        check(999.4, "999");
        check(1000.0, "1,000");
        check(20480.6, "20,481");
        check(1234567.0, "1,234,567");
        check(-3.0, "0");
    }

    #[test]
    fn table_has_one_row_per_figure_and_explanations() {
        let rows = vec![
            Row::new("A", "1 | 2", "≥ 3", Verdict::NotMet, "what A is"),
            Row::new("B", "5", "–", Verdict::NoTarget, "what B is"),
            Row::new("C", "9", "≥ 3", Verdict::of(true), "what C is"),
        ];
        let text = render(&rows);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "| # | Figure | Measured | Target (DESIGN §7) | Met? |"
        );
        assert_eq!(lines[2], "| 1 | A | 1 \\| 2 | ≥ 3 | **not met** |");
        assert_eq!(lines[3], "| 2 | B | 5 | – | – |");
        assert_eq!(lines[4], "| 3 | C | 9 | ≥ 3 | met |");
        assert!(text.contains("1. **A**: what A is\n"));
        assert!(text.contains("3. **C**: what C is\n"));
    }
}

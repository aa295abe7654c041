//! Opportunity numbers from the workspace's pattern, e.g. `{yyyy}-{region}-{seq:3}` →
//! `2026-SH-001`.
//!
//! Numbers are quoted on the phone and typed into contracts and file names, so literal text
//! is restricted to characters that survive all of those unchanged. The sequence itself is
//! allocated by the store; this module only decides which counter a number draws from and
//! how it is spelled.

use crate::Problem;

pub const DEFAULT_PATTERN: &str = "{yyyy}-{region}-{seq:3}";
/// Measured in characters of the pattern, not of rendered numbers.
pub const MAX_PATTERN_LEN: usize = 60;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Year4,
    Year2,
    Month,
    Region,
    /// Minimum width; longer sequence numbers are never truncated.
    Seq(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberPattern {
    text: String,
    parts: Vec<Part>,
}

impl Default for NumberPattern {
    fn default() -> Self {
        NumberPattern::parse(DEFAULT_PATTERN).expect("DEFAULT_PATTERN is a valid pattern")
    }
}

impl NumberPattern {
    /// Placeholders: `{yyyy}` `{yy}` `{mm}` `{region}` `{seq}` `{seq:N}` (N in 1..=9,
    /// zero-padded width). Exactly one `{seq}` is required, since without it two
    /// opportunities would share a number and with two the number would repeat itself.
    /// Placeholder names are case-sensitive.
    pub fn parse(text: &str) -> Result<NumberPattern, Problem> {
        if text.is_empty() {
            return Err(Problem::new("the number pattern must not be empty"));
        }
        let length = text.chars().count();
        if length > MAX_PATTERN_LEN {
            return Err(Problem::new(format!(
                "the number pattern is {length} characters long; at most {MAX_PATTERN_LEN} are allowed"
            )));
        }

        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut seq_count = 0;
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            match c {
                '{' => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some('{') | None => {
                                return Err(Problem::new(format!(
                                    "unbalanced braces in the number pattern: \"{{{name}\" is not closed by \"}}\""
                                )));
                            }
                            Some(inner) => name.push(inner),
                        }
                    }
                    let part = placeholder(&name)?;
                    if matches!(part, Part::Seq(_)) {
                        seq_count += 1;
                    }
                    if !literal.is_empty() {
                        parts.push(Part::Literal(std::mem::take(&mut literal)));
                    }
                    parts.push(part);
                }
                '}' => {
                    return Err(Problem::new(
                        "unbalanced braces in the number pattern: \"}\" without a matching \"{\"",
                    ));
                }
                c if is_literal_char(c) => literal.push(c),
                other => {
                    return Err(Problem::new(format!(
                        "the number pattern may only contain letters A-Z, a-z, digits and - _ / . outside placeholders; found \"{other}\""
                    )));
                }
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        match seq_count {
            0 => Err(Problem::new(
                "the number pattern must contain a sequence placeholder {seq} or {seq:N}",
            )),
            1 => Ok(NumberPattern { text: text.to_string(), parts }),
            _ => Err(Problem::new(
                "the number pattern must contain exactly one sequence placeholder {seq}",
            )),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The sequence scope key: sequences are per (year, region) when the pattern has
    /// {yyyy}/{yy} and {region}; per year only if no region; per region only if no year;
    /// one global sequence if neither. Return a String key like "2026|SH", "2026|", "|SH",
    /// "|".
    ///
    /// `{mm}` deliberately does not scope the sequence, so `{yy}{mm}-{seq}` keeps counting
    /// through the year and a number never reveals how many deals a month had. `{yy}` scopes
    /// by the full year so that 2026 and 2126 never share a counter.
    pub fn sequence_key(&self, year: i32, region: &str) -> String {
        let has_year = self.parts.iter().any(|p| matches!(p, Part::Year4 | Part::Year2));
        let has_region = self.parts.contains(&Part::Region);
        let year = if has_year { year.to_string() } else { String::new() };
        let region = if has_region { region } else { "" };
        format!("{year}|{region}")
    }

    /// Infallible so that allocation never fails after a sequence number was consumed: the
    /// region is inserted as given and out-of-range months or years are printed as they are.
    pub fn render(&self, year: i32, month: u32, region: &str, seq: u64) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Year4 => out.push_str(&format!("{year:04}")),
                Part::Year2 => out.push_str(&format!("{:02}", year.rem_euclid(100))),
                Part::Month => out.push_str(&format!("{month:02}")),
                Part::Region => out.push_str(region),
                Part::Seq(width) => out.push_str(&format!("{seq:0width$}")),
            }
        }
        out
    }
}

fn is_literal_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '/' | '.')
}

fn placeholder(name: &str) -> Result<Part, Problem> {
    match name {
        "yyyy" => Ok(Part::Year4),
        "yy" => Ok(Part::Year2),
        "mm" => Ok(Part::Month),
        "region" => Ok(Part::Region),
        "seq" => Ok(Part::Seq(1)),
        _ => match name.strip_prefix("seq:") {
            Some(width) => match width.parse::<usize>() {
                Ok(w @ 1..=9) if width.len() == 1 => Ok(Part::Seq(w)),
                _ => Err(Problem::new(format!(
                    "the sequence width in \"{{{name}}}\" must be a single digit from 1 to 9"
                ))),
            },
            None => Err(Problem::new(format!(
                "unknown placeholder \"{{{name}}}\" in the number pattern; use {{yyyy}}, {{yy}}, {{mm}}, {{region}}, {{seq}} or {{seq:N}}"
            ))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pattern(text: &str) -> NumberPattern {
        NumberPattern::parse(text).unwrap_or_else(|p| panic!("{text:?}: {p}"))
    }

    #[test]
    fn render_table() {
        let cases = [
            (DEFAULT_PATTERN, 2026, 1, "SH", 1, "2026-SH-001"),
            (DEFAULT_PATTERN, 2026, 1, "SH", 999, "2026-SH-999"),
            (DEFAULT_PATTERN, 2026, 1, "SH", 1000, "2026-SH-1000"),
            ("{yy}{mm}-{seq:5}", 2026, 3, "SH", 42, "2603-00042"),
            ("{yy}{mm}-{seq:5}", 2009, 12, "SH", 7, "0912-00007"),
            ("OPP/{region}.{seq}", 2026, 1, "BJ", 7, "OPP/BJ.7"),
            ("{seq:9}", 2026, 1, "", 123, "000000123"),
            ("X_{seq:1}", 2026, 1, "", 0, "X_0"),
        ];
        for (text, year, month, region, seq, expected) in cases {
            assert_eq!(pattern(text).render(year, month, region, seq), expected, "{text}");
        }
        assert_eq!(NumberPattern::default(), pattern(DEFAULT_PATTERN));
        assert_eq!(pattern("{yy}{mm}-{seq:5}").as_str(), "{yy}{mm}-{seq:5}");
    }

    #[test]
    fn parse_errors() {
        let too_long = format!("{}{{seq}}", "A".repeat(MAX_PATTERN_LEN));
        let cases = [
            ("", "must not be empty"),
            ("{foo}", "unknown placeholder \"{foo}\""),
            ("{YYYY}-{seq}", "unknown placeholder"),
            ("{seq}{seq}", "exactly one"),
            ("{seq:3}-{seq}", "exactly one"),
            ("no-seq", "must contain a sequence placeholder"),
            ("{yyyy", "unbalanced"),
            ("{yy{seq}", "unbalanced"),
            ("yyyy}{seq}", "unbalanced"),
            ("中文{seq}", "found \"中\""),
            ("A B{seq}", "found \" \""),
            ("{seq:0}", "single digit from 1 to 9"),
            ("{seq:10}", "single digit from 1 to 9"),
            ("{seq:+3}", "single digit from 1 to 9"),
            ("{seq:}", "single digit from 1 to 9"),
            (too_long.as_str(), "at most 60"),
        ];
        for (text, expected) in cases {
            let problem = NumberPattern::parse(text).expect_err(text);
            assert!(problem.0.contains(expected), "{text:?}: {problem}");
        }
        assert!(
            NumberPattern::parse(&format!("{}{{seq}}", "A".repeat(MAX_PATTERN_LEN - 5))).is_ok()
        );
    }

    #[test]
    fn sequence_key_table() {
        let cases = [
            (DEFAULT_PATTERN, "2026|SH"),
            ("{yy}-{region}-{seq}", "2026|SH"),
            ("{yyyy}-{seq:4}", "2026|"),
            ("{yy}{mm}-{seq:5}", "2026|"),
            ("{region}-{seq:4}", "|SH"),
            ("{mm}-{seq}", "|"),
            ("OPP-{seq:6}", "|"),
        ];
        for (text, expected) in cases {
            assert_eq!(pattern(text).sequence_key(2026, "SH"), expected, "{text}");
        }
    }

    proptest! {
        #[test]
        fn render_contains_padded_seq(
            width in 1usize..=9,
            prefix in "[A-Za-z0-9_./-]{0,10}",
            year in any::<i32>(),
            month in any::<u32>(),
            region in ".{0,8}",
            seq in any::<u64>(),
        ) {
            let p = pattern(&format!("{prefix}{{yyyy}}{{yy}}{{mm}}{{region}}-{{seq:{width}}}"));
            let rendered = p.render(year, month, &region, seq);
            let padded = format!("{seq:0width$}");
            prop_assert!(padded.len() >= width);
            prop_assert!(rendered.ends_with(&format!("-{padded}")), "{} / {}", rendered, padded);
        }

        #[test]
        fn parse_never_panics(text in ".{0,70}") {
            let _ = NumberPattern::parse(&text);
        }
    }
}

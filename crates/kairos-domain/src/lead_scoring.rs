//! Lead scoring (线索评分), PRODUCT.md §3: a workspace's rules (conditions → points) plus
//! points for each known BANT element; at or above the threshold a lead is qualified
//! (MQL → SQL). Every path that creates or changes a lead (API, web form, import, UI) calls
//! [`score`], so one lead scores the same whichever way it came in.

use serde::{Deserialize, Serialize};

use crate::lead::Lead;
use crate::lead_rules::{Condition, Facts, all_match};
use crate::validation::FieldErrors;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ScoringRule {
    pub name: String,
    /// All must hold; an empty list always holds.
    #[serde(default)]
    pub when: Vec<Condition>,
    /// May be negative (e.g. a competitor's region −10).
    pub points: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ScoringConfig {
    #[serde(default)]
    pub rules: Vec<ScoringRule>,
    /// Points for each known BANT element (budget, authority, need, timeline).
    #[serde(default = "default_bant_points")]
    pub bant_points: i64,
    /// At or above it a lead is qualified.
    #[serde(default = "default_threshold")]
    pub threshold: i64,
}

fn default_bant_points() -> i64 {
    10
}

fn default_threshold() -> i64 {
    60
}

impl Default for ScoringConfig {
    /// Until an admin says otherwise: BANT completeness alone, 10 points each, qualified at 60
    /// (so it takes rules as well as BANT to qualify a lead).
    fn default() -> Self {
        ScoringConfig { rules: Vec::new(), bant_points: default_bant_points(), threshold: default_threshold() }
    }
}

/// One reason a lead has points.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScoreHit {
    /// The rule's name, or `BANT: budget` and the like.
    pub rule: String,
    pub points: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Score {
    pub points: i64,
    pub hits: Vec<ScoreHit>,
    pub qualified: bool,
}

impl ScoringConfig {
    /// Refuses rules that could never match and numbers that make no sense.
    pub fn check(&self, errors: &mut FieldErrors) {
        if self.rules.len() > 200 {
            errors.add("rules", "at most 200 scoring rules");
        }
        for (i, rule) in self.rules.iter().enumerate() {
            let path = format!("rules[{i}]");
            let name = rule.name.trim();
            if name.is_empty() || name.chars().count() > 100 {
                errors.add(format!("{path}.name"), "must be 1 to 100 characters");
            }
            if !(-1000..=1000).contains(&rule.points) {
                errors.add(format!("{path}.points"), "must be between -1000 and 1000");
            }
            for (j, c) in rule.when.iter().enumerate() {
                c.check(errors, &format!("{path}.when[{j}]"), false);
            }
        }
        if !(0..=1000).contains(&self.bant_points) {
            errors.add("bant_points", "must be between 0 and 1000");
        }
        if !(0..=100_000).contains(&self.threshold) {
            errors.add("threshold", "must be between 0 and 100000");
        }
    }
}

/// Scores a lead. `today` is the workspace's date (days to purchase are counted from it).
pub fn score(lead: &Lead, config: &ScoringConfig, today: chrono::NaiveDate) -> Score {
    let facts = Facts { lead, today, score: None };
    let mut hits: Vec<ScoreHit> = config
        .rules
        .iter()
        .filter(|r| all_match(&r.when, &facts))
        .map(|r| ScoreHit { rule: r.name.trim().to_string(), points: r.points })
        .collect();
    if config.bant_points != 0 {
        for (element, known) in lead.bant.completed() {
            if known {
                hits.push(ScoreHit { rule: format!("BANT: {}", element.as_str()), points: config.bant_points });
            }
        }
    }
    let points = hits.iter().map(|h| h.points).sum();
    Score { points, hits, qualified: points >= config.threshold }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lead::LeadSource;
    use crate::lead_rules::tests::{cond, lead};
    use chrono::NaiveDate;

    fn config() -> ScoringConfig {
        ScoringConfig {
            rules: vec![
                ScoringRule { name: "Exhibition".into(), when: vec![cond("source = exhibition")], points: 10 },
                ScoringRule { name: "Budget approved".into(), when: vec![cond("approved = true")], points: 15 },
                ScoringRule { name: "Big budget".into(), when: vec![cond("budget >= 100000000")], points: 20 },
                ScoringRule {
                    name: "Buying soon in the east".into(),
                    when: vec![cond("region = 华东"), cond("days <= 90")],
                    points: 10,
                },
                ScoringRule { name: "Cold region".into(), when: vec![cond("region = 西北")], points: -30 },
            ],
            bant_points: 5,
            threshold: 50,
        }
    }

    #[test]
    fn scores_add_rules_and_bant_and_say_why() {
        let today = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
        struct Case {
            name: &'static str,
            edit: fn(&mut Lead),
            points: i64,
            qualified: bool,
            rules: &'static [&'static str],
        }
        let cases = [
            Case { name: "bare exhibition lead", edit: |_| {}, points: 10, qualified: false, rules: &["Exhibition"] },
            Case {
                name: "web lead with approved budget",
                edit: |l| {
                    l.source = LeadSource::Web;
                    l.bant.budget_approved = true;
                    l.bant.budget_amount = Some(1_000);
                },
                points: 20,
                qualified: false,
                rules: &["Budget approved", "BANT: budget"],
            },
            Case {
                name: "full BANT, big approved budget, buying soon",
                edit: |l| {
                    l.bant.budget_approved = true;
                    l.bant.budget_amount = Some(200_000_000);
                    l.bant.is_decision_maker = Some(true);
                    l.bant.need_description = Some("CRM".into());
                    l.bant.expected_purchase_date = NaiveDate::from_ymd_opt(2026, 5, 1);
                },
                points: 10 + 15 + 20 + 10 + 4 * 5,
                qualified: true,
                rules: &["Exhibition", "Budget approved", "Big budget", "Buying soon in the east", "BANT: budget", "BANT: authority", "BANT: need", "BANT: timeline"],
            },
            Case {
                name: "purchase too far off for the timing rule",
                edit: |l| l.bant.expected_purchase_date = NaiveDate::from_ymd_opt(2027, 1, 1),
                points: 10 + 5,
                qualified: false,
                rules: &["Exhibition", "BANT: timeline"],
            },
            Case {
                name: "negative points",
                edit: |l| l.region = Some("西北".into()),
                points: -20,
                qualified: false,
                rules: &["Exhibition", "Cold region"],
            },
        ];
        for case in cases {
            let mut l = lead();
            (case.edit)(&mut l);
            let s = score(&l, &config(), today);
            assert_eq!(s.points, case.points, "{}", case.name);
            assert_eq!(s.qualified, case.qualified, "{}", case.name);
            let rules: Vec<&str> = s.hits.iter().map(|h| h.rule.as_str()).collect();
            assert_eq!(rules, case.rules, "{}", case.name);
        }
    }

    #[test]
    fn the_threshold_is_inclusive() {
        let today = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
        let cfg = ScoringConfig { threshold: 10, ..config() };
        assert!(score(&lead(), &cfg, today).qualified);
        let cfg = ScoringConfig { threshold: 11, ..config() };
        assert!(!score(&lead(), &cfg, today).qualified);
    }

    #[test]
    fn bad_rule_sets_name_each_problem() {
        let mut cfg = config();
        cfg.rules[0].name = " ".into();
        cfg.rules[1].points = 5000;
        cfg.rules[2].when.push(cond("score >= 3"));
        cfg.threshold = -1;
        let mut errors = FieldErrors::new();
        cfg.check(&mut errors);
        let fields: Vec<String> = errors.into_vec().into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["rules[0].name", "rules[1].points", "rules[2].when[1].field", "threshold"]);
    }
}

//! Opportunity health score (商机健康度, PRODUCT.md).
//!
//! The score gates stage advancement, so a one-point difference decides whether a rep is
//! refused, sent for approval or let through. The total is therefore computed in integer
//! tenths rather than floating point: 0.4 × 80 must be exactly 32, never 32.000000000000004.

use serde::Serialize;

use crate::Problem;

/// Number of need-confirmation items in the qualification checklist.
pub const NEED_ITEM_COUNT: usize = 10;
/// Highest score of one need-confirmation item.
pub const NEED_ITEM_MAX: u8 = 10;

/// Spec: "< 60 refused".
pub const DEFAULT_REFUSE_BELOW: u8 = 60;
/// Spec: "> 80 passes", so exactly 80 still needs approval.
pub const DEFAULT_PASS_ABOVE: u8 = 80;

const DECISION_MAKER_POINTS: u32 = 50;
const INFLUENCER_POINTS: u32 = 30;
const USER_POINTS: u32 = 20;

const AMOUNT_STATED_POINTS: u32 = 10;
const BUDGET_APPROVED_POINTS: u32 = 15;
const IN_ANNUAL_PLAN_POINTS: u32 = 5;
const BUDGET_MAX_POINTS: u32 =
    AMOUNT_STATED_POINTS + BUDGET_APPROVED_POINTS + IN_ANNUAL_PLAN_POINTS;

/// The score and its three components, each component on a 0..100 scale rounded to one
/// decimal for display; `score` is computed from the unrounded components.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    pub score: u8,
    pub need_match: f64,
    pub decision_chain: f64,
    pub budget: f64,
}

/// Role flags are booleans rather than contact counts: reaching three users is worth no
/// more than reaching one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HealthInputs {
    /// Items not yet scored are 0.
    pub need_items: [u8; NEED_ITEM_COUNT],
    pub decision_maker_reached: bool,
    pub influencer_reached: bool,
    pub user_reached: bool,
    pub amount_stated: bool,
    pub budget_approved: bool,
    pub in_annual_plan: bool,
}

/// Need items above 10 are clamped to 10.
pub fn health(inputs: &HealthInputs) -> Health {
    // Mean of ten 0–10 items × 10 is simply their sum.
    let need: u32 = inputs.need_items.iter().map(|i| u32::from((*i).min(NEED_ITEM_MAX))).sum();

    let chain = points(inputs.decision_maker_reached, DECISION_MAKER_POINTS)
        + points(inputs.influencer_reached, INFLUENCER_POINTS)
        + points(inputs.user_reached, USER_POINTS);

    let budget_points = points(inputs.amount_stated, AMOUNT_STATED_POINTS)
        + points(inputs.budget_approved, BUDGET_APPROVED_POINTS)
        + points(inputs.in_annual_plan, IN_ANNUAL_PLAN_POINTS);

    // 0.3 × (points / 30 × 100) is exactly `points`, so in tenths:
    // 10 × total = 4 × need + 3 × chain + 10 × budget_points.
    let tenths = 4 * need + 3 * chain + 10 * budget_points;
    let score = (tenths + 5) / 10;

    Health {
        score: score.min(100) as u8,
        need_match: f64::from(need),
        decision_chain: f64::from(chain),
        budget: round_half_up_one_decimal(budget_points * 100, BUDGET_MAX_POINTS),
    }
}

fn points(reached: bool, worth: u32) -> u32 {
    if reached { worth } else { 0 }
}

/// `numerator / denominator` rounded half up to one decimal, done in integers so that
/// e.g. 83.35 cannot round down through a binary representation of 83.3499….
fn round_half_up_one_decimal(numerator: u32, denominator: u32) -> f64 {
    let tenths = (numerator * 10 * 2 + denominator) / (denominator * 2);
    f64::from(tenths) / 10.0
}

/// Exactly 10 integers each 0..=10, as sent by a client; out-of-range values are refused
/// here rather than clamped, so a typo such as 80 for 8 does not silently become 10.
pub fn parse_need_items(items: &[i64]) -> Result<[u8; NEED_ITEM_COUNT], Problem> {
    if items.len() != NEED_ITEM_COUNT {
        return Err(Problem::new(format!(
            "need confirmation must have exactly {NEED_ITEM_COUNT} items, got {}",
            items.len()
        )));
    }
    let mut out = [0u8; NEED_ITEM_COUNT];
    for (index, (slot, value)) in out.iter_mut().zip(items).enumerate() {
        *slot = u8::try_from(*value).ok().filter(|v| *v <= NEED_ITEM_MAX).ok_or_else(|| {
            Problem::new(format!(
                "need item {} is {value}; each item must be a whole number from 0 to {NEED_ITEM_MAX}",
                index + 1
            ))
        })?;
    }
    Ok(out)
}

/// What a health score means for advancing a stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum HealthGate {
    Pass,
    NeedsApproval,
    Refuse,
}

/// `score < refuse_below` → Refuse; `score > pass_above` → Pass; otherwise NeedsApproval.
///
/// The spec says "60–80 needs approval; > 80 passes", so with the defaults
/// ([`DEFAULT_REFUSE_BELOW`], [`DEFAULT_PASS_ABOVE`]) 80 needs approval and 81 passes. Refuse
/// is checked first so that misconfigured thresholds (refuse_below > pass_above) err on the
/// side of refusing.
pub fn health_gate(score: u8, refuse_below: u8, pass_above: u8) -> HealthGate {
    if score < refuse_below {
        HealthGate::Refuse
    } else if score > pass_above {
        HealthGate::Pass
    } else {
        HealthGate::NeedsApproval
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn inputs(need: [u8; 10], chain: [bool; 3], budget: [bool; 3]) -> HealthInputs {
        HealthInputs {
            need_items: need,
            decision_maker_reached: chain[0],
            influencer_reached: chain[1],
            user_reached: chain[2],
            amount_stated: budget[0],
            budget_approved: budget[1],
            in_annual_plan: budget[2],
        }
    }

    #[test]
    fn health_table() {
        let none = [false; 3];
        let all = [true; 3];
        let first = |n: u8| [n, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        #[rustfmt::skip]
        let cases = [
            (inputs([0; 10], none, none), 0, 0.0, 0.0, 0.0, "all zero"),
            (inputs([10; 10], all, all), 100, 100.0, 100.0, 100.0, "all max"),
            (inputs([200; 10], all, all), 100, 100.0, 100.0, 100.0, "items above 10 clamp"),
            (inputs([8; 10], [true, true, false], [true, true, false]), 81, 80.0, 80.0, 83.3, "spec example"),
            (inputs([0; 10], [false, false, true], none), 6, 0.0, 20.0, 0.0, "user only"),
            (inputs([0; 10], none, [false, false, true]), 5, 0.0, 0.0, 16.7, "annual plan only"),
            (inputs([0; 10], none, [true, false, false]), 10, 0.0, 0.0, 33.3, "amount only"),
            (inputs(first(1), none, none), 0, 1.0, 0.0, 0.0, "0.4 rounds down"),
            (inputs(first(2), none, none), 1, 2.0, 0.0, 0.0, "0.8 rounds up"),
            (inputs(first(3), [true, false, false], none), 16, 3.0, 50.0, 0.0, "16.2 rounds down"),
            (inputs(first(5), [false, true, false], none), 11, 5.0, 30.0, 0.0, "whole 11"),
        ];
        for (input, score, need, chain, budget, case) in cases {
            let h = health(&input);
            assert_eq!(
                h,
                Health { score, need_match: need, decision_chain: chain, budget },
                "{case}"
            );
        }
    }

    #[test]
    fn component_rounding_is_half_up() {
        // With the current weights no total or budget component lands exactly on a half
        // (4 × need is even, budgets are thirds), so the tie rule is pinned on the helper.
        let cases =
            [(5 * 100, 30, 16.7), (20 * 100, 30, 66.7), (1, 20, 0.1), (3, 40, 0.1), (1, 40, 0.0)];
        for (numerator, denominator, expected) in cases {
            assert_eq!(
                round_half_up_one_decimal(numerator, denominator),
                expected,
                "{numerator}/{denominator}"
            );
        }
    }

    #[test]
    fn need_items_parse() {
        assert_eq!(
            parse_need_items(&[0, 1, 2, 3, 4, 5, 6, 7, 8, 10]).unwrap(),
            [0, 1, 2, 3, 4, 5, 6, 7, 8, 10]
        );
        let bad: [(&[i64], &str); 5] = [
            (&[], "exactly 10"),
            (&[1; 9], "exactly 10"),
            (&[1; 11], "exactly 10"),
            (&[1, 1, 11, 1, 1, 1, 1, 1, 1, 1], "need item 3 is 11"),
            (&[1, 1, 1, 1, 1, 1, 1, 1, 1, -1], "need item 10 is -1"),
        ];
        for (items, expected) in bad {
            let problem = parse_need_items(items).unwrap_err();
            assert!(problem.0.contains(expected), "{items:?}: {problem}");
        }
    }

    #[test]
    fn gate_boundaries() {
        let cases = [
            (0, HealthGate::Refuse),
            (59, HealthGate::Refuse),
            (60, HealthGate::NeedsApproval),
            (80, HealthGate::NeedsApproval),
            (81, HealthGate::Pass),
            (100, HealthGate::Pass),
        ];
        for (score, expected) in cases {
            assert_eq!(
                health_gate(score, DEFAULT_REFUSE_BELOW, DEFAULT_PASS_ABOVE),
                expected,
                "{score}"
            );
        }
        assert_eq!(health_gate(70, 80, 60), HealthGate::Refuse, "inverted thresholds refuse");
    }

    proptest! {
        #[test]
        fn score_matches_float_formula(
            need in proptest::array::uniform10(0u8..=10),
            chain in proptest::array::uniform3(any::<bool>()),
            budget in proptest::array::uniform3(any::<bool>()),
        ) {
            let input = inputs(need, chain, budget);
            let h = health(&input);
            prop_assert!(h.score <= 100);
            let need_sum: f64 = need.iter().map(|v| f64::from(*v)).sum();
            let budget_points: f64 =
                budget.iter().zip([10.0, 15.0, 5.0]).map(|(b, w)| if *b { w } else { 0.0 }).sum();
            let budget_percent = budget_points / 30.0 * 100.0;
            let float = 0.4 * need_sum + 0.3 * h.decision_chain + 0.3 * budget_percent;
            prop_assert!((f64::from(h.score) - float).abs() <= 0.5 + 1e-9);
        }
    }
}

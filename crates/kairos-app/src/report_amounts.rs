//! "Amounts in base-currency minor units plus a formatted string" (API.md, the analytics
//! issue): every report names where its amounts are, and its answer gains a text twin
//! beside each, `"amount": 50000000, "amount_formatted": "¥500,000"`, so a client, a CSV
//! and a spreadsheet show the same figure the web page does.
//!
//! The places are declared per report rather than guessed from field names because a name
//! does not say it: `won` is money in the forecast and a count in the win rate.

use serde::Serialize;
use serde_json::Value;

use crate::lead_reports::LeadSources;
use crate::reports::{Conversion, Cycle, Dwell, Forecast, ForecastAccuracy, Funnel, LossReasons, Movement, Team, Trend, WinRate};

/// A report whose answer carries amounts.
pub trait ReportAmounts: Serialize {
    /// Where the amounts are: `field`, `object.field`, or `list[].field` for every element.
    const AMOUNTS: &'static [&'static str];
    /// The currency every amount of the report is in (the workspace's base currency).
    fn currency(&self) -> &str;
}

/// The report as JSON with `<field>_formatted` placed right after each amount (null when
/// the amount is null, so every row of an export has the same columns).
pub fn with_formatted_amounts<R: ReportAmounts>(report: &R) -> serde_json::Result<Value> {
    let mut value = serde_json::to_value(report)?;
    for path in R::AMOUNTS {
        annotate(&mut value, path, report.currency());
    }
    Ok(value)
}

fn annotate(value: &mut Value, path: &str, currency: &str) {
    let (head, rest) = match path.split_once('.') {
        Some((head, rest)) => (head, Some(rest)),
        None => (path, None),
    };
    match (head.strip_suffix("[]"), rest) {
        (Some(list), Some(rest)) => {
            if let Some(Value::Array(items)) = value.get_mut(list) {
                items.iter_mut().for_each(|item| annotate(item, rest, currency));
            }
        }
        (None, Some(rest)) => {
            if let Some(child) = value.get_mut(head) {
                annotate(child, rest, currency);
            }
        }
        (_, None) => {
            let Some(object) = value.as_object_mut() else { return };
            let Some(position) = object.keys().position(|k| k == head) else { return };
            let text = match &object[head] {
                Value::Number(n) => match n.as_i64() {
                    Some(minor) => Value::String(kairos_domain::text::money(minor, currency)),
                    None => return,
                },
                Value::Null => Value::Null,
                _ => return,
            };
            object.shift_insert(position + 1, format!("{head}_formatted"), text);
        }
    }
}

/// Reports whose amounts are in the workspace's base currency, named `base_currency`.
macro_rules! in_base_currency {
    ($($report:ty => [$($path:literal),* $(,)?]),* $(,)?) => {$(
        impl ReportAmounts for $report {
            const AMOUNTS: &'static [&'static str] = &[$($path),*];
            fn currency(&self) -> &str {
                &self.base_currency
            }
        }
    )*};
}

in_base_currency!(
    Funnel => [
        "amount", "weighted_amount", "next_target", "stages[].amount", "stages[].weighted_amount",
        "sales_holes[].amount", "sales_holes[].expected_revenue", "sales_holes[].needed_amount",
    ],
    WinRate => ["groups[].won_amount", "groups[].lost_amount", "total.won_amount", "total.lost_amount"],
    LossReasons => ["lost_amount", "by_reason[].amount", "by_stage[].amount", "by_competitor[].lost_amount"],
    Forecast => [
        "buckets[].pipeline.amount", "buckets[].pipeline.weighted", "buckets[].best_case.amount", "buckets[].best_case.weighted",
        "buckets[].commit.amount", "buckets[].commit.weighted", "buckets[].won", "buckets[].forecast", "buckets[].target", "buckets[].gap",
        "total.pipeline.amount", "total.pipeline.weighted", "total.best_case.amount", "total.best_case.weighted",
        "total.commit.amount", "total.commit.weighted", "total.won", "total.forecast", "total.target", "total.gap",
    ],
    Movement => ["start.amount", "start.weighted", "end.amount", "end.weighted", "categories[].amount"],
    Trend => ["points[].total.amount", "points[].total.weighted", "points[].stages[].totals.amount", "points[].stages[].totals.weighted"],
    Team => ["high_value_threshold", "leaderboard[].won_amount", "leaderboard[].pipeline_amount", "total.won_amount", "total.pipeline_amount"],
    ForecastAccuracy => ["periods[].forecast", "periods[].won"],
);

impl ReportAmounts for LeadSources {
    const AMOUNTS: &'static [&'static str] = &["sources[].revenue", "total.revenue"];
    fn currency(&self) -> &str {
        &self.currency
    }
}

/// Reports of days and shares only: nothing to format.
macro_rules! without_amounts {
    ($($report:ty),*) => {$(
        impl ReportAmounts for $report {
            const AMOUNTS: &'static [&'static str] = &[];
            fn currency(&self) -> &str {
                ""
            }
        }
    )*};
}
without_amounts!(Dwell, Cycle, Conversion);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Serialize)]
    struct Sample(Value);

    impl ReportAmounts for Sample {
        const AMOUNTS: &'static [&'static str] = &["amount", "target", "rows[].won", "total.inner.amount", "missing", "rows[].missing"];
        fn currency(&self) -> &str {
            "CNY"
        }
    }

    #[test]
    fn every_named_amount_gets_its_text_right_after_it_and_nothing_else_changes() {
        let report = Sample(json!({
            "amount": 2_685_000_000_i64, "count": 65, "target": null,
            "rows": [{"key": "a", "won": 12_345, "lost": 3}, {"key": "b", "won": -50_000_000}],
            "total": {"inner": {"amount": 0}}
        }));
        let v = with_formatted_amounts(&report).unwrap();
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            serde_json::to_string(&json!({
                "amount": 2_685_000_000_i64, "amount_formatted": "¥26,850,000", "count": 65, "target": null, "target_formatted": null,
                "rows": [{"key": "a", "won": 12_345, "won_formatted": "¥123.45", "lost": 3}, {"key": "b", "won": -50_000_000, "won_formatted": "-¥500,000"}],
                "total": {"inner": {"amount": 0, "amount_formatted": "¥0"}}
            }))
            .unwrap(),
            "keys in place, counts untouched, absent paths ignored"
        );
    }
}

//! Pipeline analytics (PRODUCT.md §8): periods, funnel shape, win rates. Pure functions
//! over plain numbers; the app layer feeds them rows.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use serde::Serialize;

use crate::Problem;

/// A half-open reporting period [from, to) of local dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Period {
    pub from: NaiveDate,
    /// Exclusive.
    pub to: NaiveDate,
}

impl Period {
    /// `2026`, `2026-Q1` or `2026-03`.
    pub fn parse(text: &str) -> Result<Period, Problem> {
        let t = text.trim();
        let bad = || Problem::new("must be a year (2026), a quarter (2026-Q1) or a month (2026-03)");
        let date = |y: i32, m: u32| NaiveDate::from_ymd_opt(y, m, 1).ok_or_else(bad);
        let year: i32 = t.get(..4).and_then(|y| y.parse().ok()).filter(|y| (1970..=9999).contains(y)).ok_or_else(bad)?;
        match t.get(4..) {
            Some("") => Ok(Period { from: date(year, 1)?, to: date(year + 1, 1)? }),
            Some(rest) => {
                let rest = rest.strip_prefix('-').ok_or_else(bad)?;
                if let Some(q) = rest.strip_prefix('Q').or_else(|| rest.strip_prefix('q')) {
                    let q: u32 = q.parse().ok().filter(|q| (1..=4).contains(q)).ok_or_else(bad)?;
                    let from = date(year, (q - 1) * 3 + 1)?;
                    let to = if q == 4 { date(year + 1, 1)? } else { date(year, q * 3 + 1)? };
                    Ok(Period { from, to })
                } else {
                    let m: u32 = rest.parse().ok().filter(|m| (1..=12).contains(m)).ok_or_else(bad)?;
                    let to = if m == 12 { date(year + 1, 1)? } else { date(year, m + 1)? };
                    Ok(Period { from: date(year, m)?, to })
                }
            }
            None => Err(bad()),
        }
    }

    /// From two inclusive dates, as people type them.
    pub fn between(from: NaiveDate, to_inclusive: NaiveDate) -> Result<Period, Problem> {
        if to_inclusive < from {
            return Err(Problem::new("`to` must not be before `from`"));
        }
        Ok(Period { from, to: to_inclusive + Duration::days(1) })
    }

    /// The instants the period covers in a time zone `offset_minutes` east of UTC.
    pub fn instants(&self, offset_minutes: i32) -> (DateTime<Utc>, DateTime<Utc>) {
        let at = |d: NaiveDate| Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).unwrap_or_default()) - Duration::minutes(offset_minutes as i64);
        (at(self.from), at(self.to))
    }

    pub fn contains(&self, d: NaiveDate) -> bool {
        d >= self.from && d < self.to
    }
}

/// `2026-03` for a date.
pub fn month_key(d: NaiveDate) -> String {
    format!("{:04}-{:02}", d.year(), d.month())
}

/// `2026-Q1` for a date.
pub fn quarter_key(d: NaiveDate) -> String {
    format!("{:04}-Q{}", d.year(), (d.month() - 1) / 3 + 1)
}

/// Won / (won + lost); invalid closes never count. `None` when nothing was decided.
pub fn win_rate(won: u64, lost: u64) -> Option<f64> {
    let decided = won + lost;
    (decided > 0).then(|| won as f64 / decided as f64)
}

/// How fast a funnel narrows: 1 − the mean ratio of each stage's deal count to the one
/// before it (stages with no deals before them are skipped). 0 is a pipe (nothing drops),
/// values towards 1 a steep funnel that loses most deals at every step; a negative value
/// means later stages hold more deals than earlier ones.
pub fn shape_index(counts: &[u64]) -> Option<f64> {
    let ratios: Vec<f64> = counts.windows(2).filter(|w| w[0] > 0).map(|w| w[1] as f64 / w[0] as f64).collect();
    (!ratios.is_empty()).then(|| 1.0 - ratios.iter().sum::<f64>() / ratios.len() as f64)
}

/// Σ amount × probability / 100 over (amount, probability %) pairs, in minor units.
pub fn weighted(items: impl IntoIterator<Item = (i64, u8)>) -> i64 {
    let total: i128 = items.into_iter().map(|(a, p)| a as i128 * p as i128).sum();
    (total / 100).clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

/// Mean, median and 90th percentile of durations in days.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Stats {
    pub count: u64,
    pub mean: Option<f64>,
    pub median: Option<f64>,
    /// Nearest-rank 90th percentile.
    pub p90: Option<f64>,
}

/// The 0-based ranks, among `n` values in order, that the order statistics read: the median
/// is the mean of `median[0]` and `median[1]` (the same rank for an odd count, the two middle
/// ones for an even count) and p90 is the nearest rank, the ⌈0.9·n⌉-th smallest value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderRanks {
    pub median: [usize; 2],
    pub p90: usize,
}

pub fn order_ranks(n: usize) -> Option<OrderRanks> {
    if n == 0 {
        return None;
    }
    let upper = n / 2;
    let lower = if n % 2 == 1 { upper } else { upper - 1 };
    let p90 = ((0.9 * n as f64).ceil() as usize).clamp(1, n) - 1;
    Some(OrderRanks { median: [lower, upper], p90 })
}

impl Stats {
    /// The statistics of `count` values from their sum and the values at their `order_ranks`
    /// (`median` the two at `median`), rounded to hundredths as every report shows them.
    pub fn from_order(count: usize, sum: f64, median: [f64; 2], p90: f64) -> Stats {
        if count == 0 {
            return Stats::default();
        }
        let round = |x: f64| (x * 100.0).round() / 100.0;
        // (x + x) / 2 is exactly x, so one formula serves odd counts too.
        let median = (median[0] + median[1]) / 2.0;
        Stats { count: count as u64, mean: Some(round(sum / count as f64)), median: Some(round(median)), p90: Some(round(p90)) }
    }
}

pub fn stats(values: &[f64]) -> Stats {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    let Some(ranks) = order_ranks(v.len()) else {
        return Stats::default();
    };
    let sum = v.iter().sum::<f64>();
    // The order statistics by selection, not a full sort: at a million deals dwell hands
    // over millions of values, and sorting them took longer than reading them.
    let (below, &mut upper, above) = v.select_nth_unstable_by(ranks.median[1], f64::total_cmp);
    let lower = if ranks.median[0] == ranks.median[1] { upper } else { below.iter().copied().max_by(f64::total_cmp).unwrap_or(upper) };
    let p90 = match ranks.p90.checked_sub(ranks.median[1] + 1) {
        Some(k) => *above.select_nth_unstable_by(k, f64::total_cmp).1,
        // p90's rank is at least the upper median's for every n.
        None => upper,
    };
    Stats::from_order(v.len(), sum, [lower, upper], p90)
}

/// The kinds of period a target is set for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PeriodKind {
    Month,
    Quarter,
    Year,
}

impl PeriodKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PeriodKind::Month => "month",
            PeriodKind::Quarter => "quarter",
            PeriodKind::Year => "year",
        }
    }

    pub fn from_stored(text: &str) -> Option<Self> {
        [Self::Month, Self::Quarter, Self::Year].into_iter().find(|k| k.as_str() == text)
    }

    /// The kind of a period text: `2026` year, `2026-Q1` quarter, `2026-03` month.
    pub fn of(text: &str) -> Option<Self> {
        match text.trim().len() {
            4 => Some(PeriodKind::Year),
            7 if text.contains('Q') || text.contains('q') => Some(PeriodKind::Quarter),
            7 => Some(PeriodKind::Month),
            _ => None,
        }
    }
}

/// One target: an amount for a month, quarter or year starting on `start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetLine {
    pub kind: PeriodKind,
    pub start: NaiveDate,
    pub amount: i64,
}

/// The target of a period, month by month: a month's own target, else a third of its
/// quarter's, else a twelfth of its year's. `None` when no month of the period has any.
pub fn target_in(period: &Period, lines: &[TargetLine]) -> Option<i64> {
    let mut total: Option<i128> = None;
    let mut month = NaiveDate::from_ymd_opt(period.from.year(), period.from.month(), 1)?;
    while month < period.to {
        let quarter_start = NaiveDate::from_ymd_opt(month.year(), (month.month() - 1) / 3 * 3 + 1, 1)?;
        let year_start = NaiveDate::from_ymd_opt(month.year(), 1, 1)?;
        let find = |kind: PeriodKind, start: NaiveDate| lines.iter().filter(|l| l.kind == kind && l.start == start).map(|l| l.amount as i128).sum::<i128>();
        let has = |kind: PeriodKind, start: NaiveDate| lines.iter().any(|l| l.kind == kind && l.start == start);
        let share = if has(PeriodKind::Month, month) {
            Some(find(PeriodKind::Month, month))
        } else if has(PeriodKind::Quarter, quarter_start) {
            Some(find(PeriodKind::Quarter, quarter_start) / 3)
        } else if has(PeriodKind::Year, year_start) {
            Some(find(PeriodKind::Year, year_start) / 12)
        } else {
            None
        };
        if let Some(s) = share {
            total = Some(total.unwrap_or(0) + s);
        }
        month = if month.month() == 12 { NaiveDate::from_ymd_opt(month.year() + 1, 1, 1)? } else { NaiveDate::from_ymd_opt(month.year(), month.month() + 1, 1)? };
    }
    total.map(|t| t.clamp(i64::MIN as i128, i64::MAX as i128) as i64)
}

/// The months (or quarters) a period is cut into for a forecast.
pub fn buckets(period: &Period, quarterly: bool) -> Vec<(String, Period)> {
    let mut out = Vec::new();
    let Some(mut start) = NaiveDate::from_ymd_opt(period.from.year(), if quarterly { (period.from.month() - 1) / 3 * 3 + 1 } else { period.from.month() }, 1) else { return out };
    let step = if quarterly { 3 } else { 1 };
    while start < period.to && out.len() < 240 {
        let (y, m) = (start.year(), start.month() + step);
        let Some(end) = (if m > 12 { NaiveDate::from_ymd_opt(y + 1, m - 12, 1) } else { NaiveDate::from_ymd_opt(y, m, 1) }) else { break };
        let key = if quarterly { quarter_key(start) } else { month_key(start) };
        out.push((key, Period { from: start.max(period.from), to: end.min(period.to) }));
        start = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn periods_parse_and_cover_the_right_days() {
        let cases = [
            ("2026", "2026-01-01", "2027-01-01"),
            ("2026-Q1", "2026-01-01", "2026-04-01"),
            ("2026-q4", "2026-10-01", "2027-01-01"),
            ("2026-03", "2026-03-01", "2026-04-01"),
            ("2026-12", "2026-12-01", "2027-01-01"),
        ];
        for (text, from, to) in cases {
            assert_eq!(Period::parse(text), Ok(Period { from: d(from), to: d(to) }), "{text}");
        }
        for bad in ["", "26", "2026-13", "2026-Q5", "2026/03", "abcd", "2026-"] {
            assert!(Period::parse(bad).is_err(), "{bad}");
        }
        let p = Period::parse("2026-03").unwrap();
        let (a, b) = p.instants(480);
        assert_eq!(a.to_rfc3339(), "2026-02-28T16:00:00+00:00");
        assert_eq!(b.to_rfc3339(), "2026-03-31T16:00:00+00:00");
        assert!(Period::between(d("2026-03-02"), d("2026-03-01")).is_err());
        assert_eq!(quarter_key(d("2026-11-23")), "2026-Q4");
    }

    #[test]
    fn the_seed_forecast_example_is_26_850_000() {
        // Five stages at 10/40/60/80/90 % holding 65/34/27/15/6 deals of 500,000 each.
        let deals = [(65, 10u8), (34, 40), (27, 60), (15, 80), (6, 90)]
            .iter()
            .flat_map(|(n, p)| std::iter::repeat_n((500_000_00i64, *p), *n as usize))
            .collect::<Vec<_>>();
        assert_eq!(weighted(deals), 26_850_000_00);
    }

    #[test]
    fn targets_fall_back_from_month_to_quarter_to_year() {
        let line = |kind, start: &str, amount| TargetLine { kind, start: d(start), amount };
        let lines = [
            line(PeriodKind::Year, "2026-01-01", 1_200),
            line(PeriodKind::Quarter, "2026-04-01", 600),
            line(PeriodKind::Month, "2026-05-01", 500),
        ];
        let p = |s: &str| Period::parse(s).unwrap();
        assert_eq!(target_in(&p("2026-01"), &lines), Some(100));
        assert_eq!(target_in(&p("2026-04"), &lines), Some(200));
        assert_eq!(target_in(&p("2026-05"), &lines), Some(500));
        assert_eq!(target_in(&p("2026-Q2"), &lines), Some(200 + 500 + 200));
        assert_eq!(target_in(&p("2027-01"), &lines), None);
        let b = buckets(&p("2026-Q2"), false);
        assert_eq!(b.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), vec!["2026-04", "2026-05", "2026-06"]);
        assert_eq!(buckets(&p("2026"), true).len(), 4);
    }

    #[test]
    fn stats_use_nearest_rank_percentiles() {
        let s = stats(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]);
        assert_eq!((s.count, s.mean, s.median, s.p90), (10, Some(5.5), Some(5.5), Some(9.0)));
        assert_eq!(stats(&[]).mean, None);
        assert_eq!(stats(&[3.0]).p90, Some(3.0));
        assert_eq!((stats(&[4.0, 1.0]).median, stats(&[4.0, 1.0]).p90), (Some(2.5), Some(4.0)));
    }

    #[test]
    fn stats_by_selection_equal_stats_of_the_sorted_values() {
        let mut x: u64 = 7;
        for n in 1..300 {
            let values: Vec<f64> = (0..n)
                .map(|_| {
                    x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    ((x >> 40) % 1000) as f64 / 8.0
                })
                .collect();
            let mut sorted = values.clone();
            sorted.sort_by(f64::total_cmp);
            let median = if n % 2 == 1 { sorted[n / 2] } else { (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0 };
            let p90 = sorted[((0.9 * n as f64).ceil() as usize).clamp(1, n) - 1];
            let s = stats(&values);
            assert_eq!((s.median, s.p90), (Some((median * 100.0).round() / 100.0), Some((p90 * 100.0).round() / 100.0)), "{n} values");
        }
    }

    #[test]
    fn win_rates_and_shapes() {
        assert_eq!(win_rate(3, 1), Some(0.75));
        assert_eq!(win_rate(0, 0), None);
        assert_eq!(shape_index(&[100, 100, 100]), Some(0.0));
        assert_eq!(shape_index(&[100, 50, 25]), Some(0.5));
        assert_eq!(shape_index(&[0, 0]), None);
    }
}

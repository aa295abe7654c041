//! Follow-up rules (PRODUCT.md §6): whether a deal is short of its stage's cadence, stale,
//! sitting too long in its stage, or near its close date, and when an overdue task goes up
//! to the manager. Pure decisions over facts the scanners load; the scanners turn them into
//! tasks, flags and notifications.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::calendar::WorkCalendar;
use crate::process::Cadence;

/// What the rules know about one open deal.
#[derive(Debug, Clone)]
pub struct DealFacts<'a> {
    pub now: DateTime<Utc>,
    /// When the deal entered its current stage (its creation, if it never moved).
    pub stage_entered_at: DateTime<Utc>,
    /// The last change anyone made to the deal itself.
    pub last_update: DateTime<Utc>,
    /// When each logged activity on the deal happened (touches), in any order.
    pub touches: &'a [DateTime<Utc>],
    /// The earliest next step still ahead: an open task or planned activity due after now.
    pub next_step_at: Option<DateTime<Utc>>,
}

impl DealFacts<'_> {
    fn last_touch(&self) -> Option<DateTime<Utc>> {
        self.touches.iter().copied().filter(|t| *t <= self.now).max()
    }
}

/// Workspace settings of the follow-up rules (§6 defaults); a setting left out keeps its
/// default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default, deny_unknown_fields)]
pub struct FollowUpSettings {
    /// Working days without a sign of life before a deal is flagged stale.
    pub stale_flag_days: u32,
    /// Working days without a sign of life before the owner's manager is alerted.
    pub stale_alert_days: u32,
    /// A deal is at dwell risk past this multiple of its stage's expected dwell.
    pub dwell_factor: f64,
    /// Closed passages through a stage needed before its historical p90 replaces the
    /// expected dwell as the limit.
    pub dwell_history_min: usize,
    /// Hours an overdue task may stay open before the assignee's manager is told.
    pub task_grace_hours: u32,
}

impl Default for FollowUpSettings {
    fn default() -> Self {
        FollowUpSettings { stale_flag_days: 3, stale_alert_days: 7, dwell_factor: 1.5, dwell_history_min: 20, task_grace_hours: 24 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "level", rename_all = "snake_case")]
pub enum Staleness {
    Fresh,
    /// Flagged on the card and in the risk list.
    Flagged { idle_days: f64 },
    /// Flagged, and the owner's manager is alerted.
    Alert { idle_days: f64 },
}

/// Stale (僵尸商机): no update and no touch for a while, counted in working days so that a
/// holiday week does not make every deal stale. A next step already scheduled is a sign of
/// life: a deal with a committed meeting next week is not stale.
pub fn staleness(cal: &WorkCalendar, facts: &DealFacts<'_>, settings: &FollowUpSettings) -> Staleness {
    if facts.next_step_at.is_some_and(|t| t > facts.now) {
        return Staleness::Fresh;
    }
    let alive = facts.last_touch().map_or(facts.last_update, |t| t.max(facts.last_update));
    let idle_days = cal.working_days_between(alive, facts.now);
    if idle_days >= f64::from(settings.stale_alert_days) {
        Staleness::Alert { idle_days }
    } else if idle_days >= f64::from(settings.stale_flag_days) {
        Staleness::Flagged { idle_days }
    } else {
        Staleness::Fresh
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum CadenceCheck {
    OnTrack,
    /// The owner owes a touch: a cadence task is due at `due`. `since` is the last touch in
    /// the stage (or the entry into it): the touch owed is the one after it.
    Short { touches_in_window: u32, required: u32, due: DateTime<Utc>, since: DateTime<Utc> },
}

/// Cadence (跟进频率): "at least N touches every M days" holds when no gap between touches
/// exceeds M/N days, and a deal that has been in the stage for M days has N touches in the
/// last M. Entering a stage starts its cadence afresh. Calendar days, as the seeds state
/// cadences ("twice a week").
pub fn cadence(cadence: &Cadence, facts: &DealFacts<'_>) -> CadenceCheck {
    if cadence.touches == 0 || cadence.per_days == 0 {
        return CadenceCheck::OnTrack;
    }
    let window = Duration::days(i64::from(cadence.per_days));
    let gap = window / cadence.touches as i32;
    let since = facts.last_touch().filter(|t| *t >= facts.stage_entered_at).unwrap_or(facts.stage_entered_at);
    let in_window = facts.touches.iter().filter(|t| **t > facts.now - window && **t <= facts.now && **t >= facts.stage_entered_at).count() as u32;
    let gap_exceeded = facts.now - since >= gap;
    let window_short = facts.now - facts.stage_entered_at >= window && in_window < cadence.touches;
    if gap_exceeded || window_short {
        CadenceCheck::Short { touches_in_window: in_window, required: cadence.touches, due: (since + gap).min(facts.now), since }
    } else {
        CadenceCheck::OnTrack
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "basis", rename_all = "snake_case")]
pub enum DwellLimit {
    /// `dwell_factor` × the stage's expected dwell.
    Expected { limit_days: f64 },
    /// The 90th percentile of the deals that passed through the stage before.
    HistoricalP90 { limit_days: f64, samples: usize },
}

impl DwellLimit {
    pub fn days(&self) -> f64 {
        match self {
            DwellLimit::Expected { limit_days } | DwellLimit::HistoricalP90 { limit_days, .. } => *limit_days,
        }
    }
}

/// A stage's past passages, as much as its dwell limit needs: how many there were, and the
/// 90th percentile of their days. The scanner has the database pick the percentile (only one
/// row per stage then leaves it), with the same nearest rank as [`p90_rank`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DwellHistory {
    pub samples: usize,
    pub p90_days: f64,
}

impl DwellHistory {
    /// From the passages themselves.
    pub fn of(days: &[f64]) -> Option<DwellHistory> {
        let mut sorted: Vec<f64> = days.iter().copied().filter(|d| d.is_finite()).collect();
        sorted.sort_by(f64::total_cmp);
        let rank = p90_rank(sorted.len())?;
        Some(DwellHistory { samples: sorted.len(), p90_days: sorted[rank - 1] })
    }
}

/// The 1-based nearest rank of the 90th percentile among `n` sorted values, ⌈0.9·n⌉, in whole
/// numbers so that SQL can compute the same rank (`(9 * n + 9) / 10`).
pub fn p90_rank(n: usize) -> Option<usize> {
    (n > 0).then(|| (9 * n).div_ceil(10))
}

/// The dwell limit of a stage: its history's p90 once there is enough of it (the stage's
/// real pace), else the expected dwell times the factor; none when neither is known.
pub fn dwell_limit(expected_dwell_days: u32, history: Option<DwellHistory>, settings: &FollowUpSettings) -> Option<DwellLimit> {
    if let Some(h) = history.filter(|h| h.samples >= settings.dwell_history_min.max(1)) {
        return Some(DwellLimit::HistoricalP90 { limit_days: h.p90_days, samples: h.samples });
    }
    (expected_dwell_days > 0).then(|| DwellLimit::Expected { limit_days: f64::from(expected_dwell_days) * settings.dwell_factor })
}

/// Dwell risk (停留超期): the days in the current stage past its limit.
pub fn dwell_risk(days_in_stage: f64, limit: Option<DwellLimit>) -> Option<DwellLimit> {
    limit.filter(|l| days_in_stage > l.days())
}

/// What to do about a deal at risk, most pressing first; the card and the risk list show it
/// beside the stage's own guidance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecommendedAction {
    /// Stuck well past the stage's pace: review with the manager whether it can advance,
    /// needs help (a support request), or should be closed.
    ReviewWithManager,
    /// Idle: contact the decision maker and schedule a next step.
    ScheduleNextStep,
    /// Short of cadence: log the touch that is owed.
    TouchNow,
}

pub fn recommend(stale: Staleness, dwell: Option<DwellLimit>, cadence: CadenceCheck) -> Option<RecommendedAction> {
    if dwell.is_some() {
        Some(RecommendedAction::ReviewWithManager)
    } else if !matches!(stale, Staleness::Fresh) {
        Some(RecommendedAction::ScheduleNextStep)
    } else if matches!(cadence, CadenceCheck::Short { .. }) {
        Some(RecommendedAction::TouchNow)
    } else {
        None
    }
}

/// The close-date reminder is due from `days_before` days ahead of the expected close up to
/// the day itself (a deal already past its date is overdue, which the risk list shows).
pub fn close_reminder_due(expected_close: Option<NaiveDate>, today: NaiveDate, days_before: u32) -> bool {
    expected_close.is_some_and(|close| today <= close && today + Duration::days(i64::from(days_before)) >= close)
}

/// An open task past its due time by more than the grace period goes up to the manager.
pub fn escalation_due(due_at: DateTime<Utc>, now: DateTime<Utc>, settings: &FollowUpSettings) -> bool {
    now - due_at > Duration::hours(i64::from(settings.task_grace_hours))
}

/// Everything the rules say about one open deal: what the scanner stores as its risk, turns
/// into tasks and notifications, and what the card and the risk list show.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Assessment {
    pub staleness: Staleness,
    pub cadence: CadenceCheck,
    /// Calendar days since the deal entered its stage.
    pub days_in_stage: f64,
    pub dwell_limit: Option<DwellLimit>,
    /// In its stage past the limit: high risk.
    pub dwell_over: bool,
    /// The close-date reminder is due today.
    pub close_reminder: bool,
    /// The expected close date has passed with the deal still open.
    pub close_overdue: bool,
    pub recommended: Option<RecommendedAction>,
}

impl Assessment {
    /// Whether the deal belongs in the risk list.
    pub fn at_risk(&self) -> bool {
        !matches!(self.staleness, Staleness::Fresh) || self.dwell_over || matches!(self.cadence, CadenceCheck::Short { .. }) || self.close_overdue
    }
}

/// The stage's rules a deal is held to.
#[derive(Debug, Clone)]
pub struct StageRules<'a> {
    pub cadence: &'a Cadence,
    pub dwell_limit: Option<DwellLimit>,
    pub close_reminder_days: u32,
}

pub fn assess(cal: &WorkCalendar, facts: &DealFacts<'_>, rules: &StageRules<'_>, expected_close: Option<NaiveDate>, settings: &FollowUpSettings) -> Assessment {
    let staleness = staleness(cal, facts, settings);
    let cadence = cadence(rules.cadence, facts);
    let days_in_stage = (facts.now - facts.stage_entered_at).num_seconds().max(0) as f64 / 86_400.0;
    let over = dwell_risk(days_in_stage, rules.dwell_limit);
    let today = cal.local_date(facts.now);
    Assessment {
        staleness,
        cadence,
        days_in_stage,
        dwell_limit: rules.dwell_limit,
        dwell_over: over.is_some(),
        close_reminder: close_reminder_due(expected_close, today, rules.close_reminder_days),
        close_overdue: expected_close.is_some_and(|d| d < today),
        recommended: recommend(staleness, over, cadence),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// Monday 2026-11-23 10:00 in China (02:00 UTC).
    fn monday() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap()
    }

    fn days(n: f64) -> Duration {
        Duration::seconds((n * 86_400.0) as i64)
    }

    fn facts<'a>(touches: &'a [DateTime<Utc>], entered_ago: f64, updated_ago: f64, next_step_in: Option<f64>) -> DealFacts<'a> {
        let now = monday();
        DealFacts { now, stage_entered_at: now - days(entered_ago), last_update: now - days(updated_ago), touches, next_step_at: next_step_in.map(|d| now + days(d)) }
    }

    #[test]
    fn staleness_counts_working_days_and_a_scheduled_next_step_is_life() {
        let cal = WorkCalendar::china_default();
        let s = FollowUpSettings::default();
        let now = monday();
        let cases: &[(&str, f64, &[f64], Option<f64>, &str)] = &[
            // name, updated days ago, touches days ago, next step in days, expected level
            ("updated yesterday", 1.0, &[], None, "fresh"),
            // Friday 10:00 → Monday 10:00 is one working day: the weekend does not count.
            ("idle over a weekend", 3.0, &[], None, "fresh"),
            ("idle three working days (Wed)", 5.0, &[], None, "flagged"),
            ("a touch is a sign of life", 12.0, &[1.0], None, "fresh"),
            ("the later of update and touch counts", 12.0, &[5.0], None, "flagged"),
            ("idle twelve calendar days, eight working", 12.0, &[], None, "alert"),
            ("idle nine calendar days is five working: flagged only", 9.0, &[], None, "flagged"),
            ("a meeting next week keeps it alive", 30.0, &[], Some(6.0), "fresh"),
            ("an overdue next step is no life", 30.0, &[], Some(-1.0), "alert"),
        ];
        for (name, updated, touches, next, want) in cases {
            let t: Vec<DateTime<Utc>> = touches.iter().map(|d| now - days(*d)).collect();
            let got = match staleness(&cal, &facts(&t, 40.0, *updated, *next), &s) {
                Staleness::Fresh => "fresh",
                Staleness::Flagged { .. } => "flagged",
                Staleness::Alert { .. } => "alert",
            };
            assert_eq!(got, *want, "{name}");
        }
    }

    #[test]
    fn cadence_owes_a_touch_after_the_gap_or_when_the_window_is_short() {
        let weekly = Cadence { touches: 1, per_days: 7, channels: vec![] };
        let twice_a_week = Cadence { touches: 2, per_days: 7, channels: vec![] };
        let every_two_days = Cadence { touches: 1, per_days: 2, channels: vec![] };
        let none = Cadence { touches: 0, per_days: 7, channels: vec![] };
        let now = monday();
        let cases: &[(&str, &Cadence, f64, &[f64], bool)] = &[
            // name, cadence, in stage for days, touches days ago, short?
            ("weekly, touched 3 days ago", &weekly, 30.0, &[3.0], false),
            ("weekly, touched 8 days ago", &weekly, 30.0, &[8.0], true),
            ("weekly, new in stage, no touch yet", &weekly, 2.0, &[], false),
            ("weekly, a week in stage without a touch", &weekly, 7.0, &[], true),
            ("twice a week: 3 days since the last touch", &twice_a_week, 30.0, &[3.0, 6.0], false),
            ("twice a week: 4 days since the last touch", &twice_a_week, 30.0, &[4.0], true),
            ("twice a week: gap fine but one touch in the week", &twice_a_week, 30.0, &[1.0], true),
            ("every two days, touched today", &every_two_days, 10.0, &[0.1], false),
            ("every two days, touched 2.5 days ago", &every_two_days, 10.0, &[2.5], true),
            ("touches before entering the stage do not count", &weekly, 7.5, &[7.6], true),
            ("no cadence", &none, 99.0, &[], false),
        ];
        for (name, c, entered, touches, short) in cases {
            let t: Vec<DateTime<Utc>> = touches.iter().map(|d| now - days(*d)).collect();
            let got = cadence(c, &facts(&t, *entered, 0.0, None));
            assert_eq!(matches!(got, CadenceCheck::Short { .. }), *short, "{name}: {got:?}");
            if let CadenceCheck::Short { due, .. } = got {
                assert!(due <= now, "{name}: the task is due now at the latest");
            }
        }
        // The task is due when the gap ran out: 8 days after a weekly touch, due a day ago.
        let t = [now - days(8.0)];
        assert_eq!(cadence(&weekly, &facts(&t, 30.0, 0.0, None)), CadenceCheck::Short { touches_in_window: 0, required: 1, due: now - days(1.0), since: now - days(8.0) });
    }

    #[test]
    fn dwell_limit_is_history_p90_when_there_is_enough_else_expected_times_factor() {
        let s = FollowUpSettings::default();
        let limit = |expected, days: &[f64]| dwell_limit(expected, DwellHistory::of(days), &s);
        assert_eq!(limit(10, &[]), Some(DwellLimit::Expected { limit_days: 15.0 }));
        assert_eq!(limit(0, &[]), None, "nothing to compare with");
        let few: Vec<f64> = (1..=19).map(f64::from).collect();
        assert_eq!(limit(10, &few), Some(DwellLimit::Expected { limit_days: 15.0 }), "19 samples are not enough");
        let history: Vec<f64> = (1..=20).map(f64::from).rev().collect();
        assert_eq!(limit(10, &history), Some(DwellLimit::HistoricalP90 { limit_days: 18.0, samples: 20 }));
        let cases: &[(f64, Option<DwellLimit>, bool)] = &[
            (15.0, Some(DwellLimit::Expected { limit_days: 15.0 }), false),
            (15.1, Some(DwellLimit::Expected { limit_days: 15.0 }), true),
            (19.0, Some(DwellLimit::HistoricalP90 { limit_days: 18.0, samples: 20 }), true),
            (400.0, None, false),
        ];
        for (in_stage, limit, risky) in cases {
            assert_eq!(dwell_risk(*in_stage, *limit).is_some(), *risky, "{in_stage} days against {limit:?}");
        }
    }

    #[test]
    fn the_p90_rank_is_the_nearest_rank_in_whole_numbers() {
        assert_eq!(p90_rank(0), None);
        for n in 1..=10_000usize {
            let exact = (0.9 * n as f64 - 1e-9).ceil() as usize;
            assert_eq!(p90_rank(n), Some(exact.max(1)), "n = {n}");
            assert_eq!(p90_rank(n), Some((9 * n + 9) / 10), "the SQL form, n = {n}");
        }
        assert_eq!(DwellHistory::of(&[3.0, f64::NAN, 1.0, 2.0]), Some(DwellHistory { samples: 3, p90_days: 3.0 }));
    }

    #[test]
    fn the_most_pressing_action_is_recommended() {
        let dwell = Some(DwellLimit::Expected { limit_days: 15.0 });
        let short = CadenceCheck::Short { touches_in_window: 0, required: 1, due: monday(), since: monday() };
        let stale = Staleness::Flagged { idle_days: 4.0 };
        assert_eq!(recommend(stale, dwell, short), Some(RecommendedAction::ReviewWithManager));
        assert_eq!(recommend(stale, None, short), Some(RecommendedAction::ScheduleNextStep));
        assert_eq!(recommend(Staleness::Fresh, None, short), Some(RecommendedAction::TouchNow));
        assert_eq!(recommend(Staleness::Fresh, None, CadenceCheck::OnTrack), None);
    }

    #[test]
    fn close_reminders_and_escalations_fall_on_their_days() {
        let close = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        let day = |d: u32| NaiveDate::from_ymd_opt(2026, 11, d).unwrap();
        assert!(!close_reminder_due(Some(close), day(23), 7), "8 days ahead");
        assert!(close_reminder_due(Some(close), day(24), 7), "7 days ahead");
        assert!(close_reminder_due(Some(close), close, 7), "on the day");
        assert!(!close_reminder_due(Some(close), NaiveDate::from_ymd_opt(2026, 12, 2).unwrap(), 7), "past: overdue, not a reminder");
        assert!(!close_reminder_due(None, day(23), 7));
        let s = FollowUpSettings::default();
        assert!(!escalation_due(monday() - Duration::hours(24), monday(), &s), "exactly the grace period");
        assert!(escalation_due(monday() - Duration::hours(25), monday(), &s));
    }
    #[test]
    fn an_assessment_puts_the_rules_together() {
        let cal = WorkCalendar::china_default();
        let s = FollowUpSettings::default();
        let weekly = Cadence { touches: 1, per_days: 7, channels: vec![] };
        let rules = StageRules { cadence: &weekly, dwell_limit: Some(DwellLimit::Expected { limit_days: 15.0 }), close_reminder_days: 7 };
        let now = monday();
        // In the stage for 20 days, touched 2 days ago, closing in 3 days.
        let touched = [now - days(2.0)];
        let a = assess(&cal, &facts(&touched, 20.0, 10.0, None), &rules, Some(NaiveDate::from_ymd_opt(2026, 11, 26).unwrap()), &s);
        assert!((a.days_in_stage - 20.0).abs() < 1e-9);
        assert!(a.dwell_over && a.close_reminder && !a.close_overdue && a.at_risk());
        assert_eq!(a.staleness, Staleness::Fresh);
        assert_eq!(a.recommended, Some(RecommendedAction::ReviewWithManager));
        // A fresh deal inside its limits, closing next month, is not at risk.
        let a = assess(&cal, &facts(&touched, 3.0, 1.0, None), &rules, Some(NaiveDate::from_ymd_opt(2026, 12, 31).unwrap()), &s);
        assert!(!a.at_risk() && !a.close_reminder && a.recommended.is_none(), "{a:?}");
        // Past its close date: overdue, in the risk list.
        let a = assess(&cal, &facts(&touched, 3.0, 1.0, None), &rules, Some(NaiveDate::from_ymd_opt(2026, 11, 20).unwrap()), &s);
        assert!(a.close_overdue && a.at_risk());
    }
}

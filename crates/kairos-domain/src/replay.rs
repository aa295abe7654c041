//! Replaying a deal's history: its state at any past instant (stage, status, amount,
//! probability, expected close), so that the pipeline as it stood on any date can be
//! rebuilt without snapshot tables that could miss a day.

use chrono::{DateTime, NaiveDate, Utc};

#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub at: DateTime<Utc>,
    /// created, moved, closed, reopened, field
    pub kind: String,
    pub to_stage: Option<String>,
    pub to_status: Option<String>,
    /// The amount after the event.
    pub amount: i64,
    pub probability: u8,
    pub field: Option<String>,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DealState {
    /// open, won, lost, invalid
    pub status: String,
    pub stage: String,
    pub amount: i64,
    pub probability: u8,
    pub expected_close: Option<NaiveDate>,
}

impl DealState {
    pub fn is_open(&self) -> bool {
        self.status == "open"
    }
}

/// The state after every event up to and including `t`; `None` before the deal existed.
/// `events` are in time order; `current_close` is today's expected close, used when the
/// close date never changed.
pub fn state_at(events: &[Event], current_close: Option<NaiveDate>, t: DateTime<Utc>) -> Option<DealState> {
    let upto = events.partition_point(|e| e.at <= t);
    let past = &events[..upto];
    let last = past.last()?;
    // The latest stage and status any event gave. Trend replays every deal at every point,
    // so the strings are cloned once here rather than once per event.
    let stage = past.iter().rev().find_map(|e| e.to_stage.as_deref()).unwrap_or_default();
    let status = past.iter().rev().find_map(|e| e.to_status.as_deref()).unwrap_or("open");
    let parse = |v: &Option<String>| v.as_deref().and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
    let is_close = |e: &&Event| e.field.as_deref() == Some("expected_close_date");
    let expected_close = match (past.iter().rev().find(is_close), events[upto..].iter().find(is_close)) {
        (Some(change), _) => parse(&change.new_value),
        (None, Some(next)) => parse(&next.old_value),
        (None, None) => current_close,
    };
    Some(DealState { status: status.into(), stage: stage.into(), amount: last.amount, probability: last.probability, expected_close })
}

/// The state after `e`, given the state before it: `None` for a deal's first event, whose
/// expected close is then `close_at_creation`. The history stores this with every event, by
/// the same rules as `state_at`, so that the pipeline of a past instant sums in the database.
pub fn state_after(before: Option<&DealState>, e: &Event, close_at_creation: Option<NaiveDate>) -> DealState {
    let expected_close = if e.field.as_deref() == Some("expected_close_date") {
        e.new_value.as_deref().and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
    } else {
        before.map_or(close_at_creation, |b| b.expected_close)
    };
    DealState {
        status: e.to_status.clone().or_else(|| before.map(|b| b.status.clone())).unwrap_or_else(|| "open".into()),
        stage: e.to_stage.clone().or_else(|| before.map(|b| b.stage.clone())).unwrap_or_default(),
        amount: e.amount,
        probability: e.probability,
        expected_close,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn ev(t: &str, kind: &str, stage: Option<&str>, status: Option<&str>, amount: i64) -> Event {
        Event { at: at(t), kind: kind.into(), to_stage: stage.map(Into::into), to_status: status.map(Into::into), amount, probability: 10, field: None, old_value: None, new_value: None }
    }

    #[test]
    fn a_deal_replays_to_any_instant() {
        let mut events = vec![
            ev("2026-01-05T00:00:00Z", "created", Some("s1"), Some("open"), 100),
            ev("2026-02-01T00:00:00Z", "moved", Some("s2"), Some("open"), 100),
            Event { field: Some("expected_close_date".into()), old_value: Some("2026-03-31".into()), new_value: Some("2026-05-31".into()), ..ev("2026-02-10T00:00:00Z", "field", Some("s2"), Some("open"), 150) },
            ev("2026-03-01T00:00:00Z", "closed", Some("s2"), Some("lost"), 150),
        ];
        events.sort_by_key(|e| e.at);
        let close = NaiveDate::from_ymd_opt(2026, 5, 31);
        assert_eq!(state_at(&events, close, at("2026-01-01T00:00:00Z")), None);
        let jan = state_at(&events, close, at("2026-01-20T00:00:00Z")).unwrap();
        assert_eq!((jan.stage.as_str(), jan.amount, jan.is_open()), ("s1", 100, true));
        assert_eq!(jan.expected_close, NaiveDate::from_ymd_opt(2026, 3, 31), "before the change: its old value");
        let feb = state_at(&events, close, at("2026-02-15T00:00:00Z")).unwrap();
        assert_eq!((feb.stage.as_str(), feb.amount, feb.expected_close), ("s2", 150, close));
        let mar = state_at(&events, close, at("2026-03-02T00:00:00Z")).unwrap();
        assert_eq!(mar.status, "lost");
    }

    #[test]
    fn the_state_after_each_event_is_the_replay_at_its_instant() {
        let events = vec![
            ev("2026-01-05T00:00:00Z", "created", Some("s1"), Some("open"), 100),
            Event { field: Some("amount".into()), ..ev("2026-01-20T00:00:00Z", "field", None, None, 120) },
            ev("2026-02-01T00:00:00Z", "moved", Some("s2"), Some("open"), 120),
            Event { field: Some("expected_close_date".into()), old_value: Some("2026-03-31".into()), new_value: Some("2026-05-31".into()), ..ev("2026-02-10T00:00:00Z", "field", None, None, 150) },
            ev("2026-03-01T00:00:00Z", "closed", Some("s2"), Some("lost"), 150),
            ev("2026-03-05T00:00:00Z", "reopened", None, Some("open"), 150),
        ];
        let now = NaiveDate::from_ymd_opt(2026, 5, 31);
        let mut before: Option<DealState> = None;
        for e in &events {
            let after = state_after(before.as_ref(), e, NaiveDate::from_ymd_opt(2026, 3, 31));
            assert_eq!(Some(&after), state_at(&events, now, e.at).as_ref(), "after the {} event", e.kind);
            before = Some(after);
        }
        assert_eq!(before.map(|s| (s.stage, s.status)), Some(("s2".into(), "open".into())));
    }
}

//! Conversion cohorts (PRODUCT.md §8): what became of each entry of a deal into a stage.
//!
//! The conversion report counts, per stage, the deals that entered it in a period, those that
//! later reached a stage further on (or were won) and those later won. A deal that entered a
//! stage twice in the period counts once, from its first entry in the period: every later
//! entry's future is part of the first's. So each entry carries when the deal last entered
//! the same stage before it: the entry is the deal's first in a period exactly when that was
//! before the period (or never).

use chrono::{DateTime, Utc};

/// How far one event of a deal's history took it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach<'a> {
    /// Created in, or moved into, a stage at this position of its process.
    Stage { id: &'a str, position: i32 },
    /// Closed as won: beyond every stage.
    Won,
    /// Anything else (closed as lost or invalid): no stage reached.
    Nowhere,
}

/// One entry of a deal into a stage, with what became of the deal after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageEntry<'a> {
    pub stage: &'a str,
    pub at: DateTime<Utc>,
    /// The deal's previous entry into the same stage.
    pub previous: Option<DateTime<Utc>>,
    /// A later event reached a stage further on, or won.
    pub advanced: bool,
    pub won: bool,
}

/// The entries of one deal's history, given its events in order (time, then id).
pub fn stage_entries<'a>(events: &[(DateTime<Utc>, Reach<'a>)]) -> Vec<StageEntry<'a>> {
    let rank = |r: &Reach<'_>| match r {
        Reach::Stage { position, .. } => Some(*position),
        Reach::Won => Some(i32::MAX),
        Reach::Nowhere => None,
    };
    // The furthest any event after each index reached, and whether one of them won.
    let mut furthest_after = vec![None; events.len()];
    let mut won_after = vec![false; events.len()];
    for i in (0..events.len().saturating_sub(1)).rev() {
        let next = &events[i + 1].1;
        furthest_after[i] = furthest_after[i + 1].max(rank(next));
        won_after[i] = won_after[i + 1] || *next == Reach::Won;
    }
    let mut entries: Vec<StageEntry<'a>> = Vec::new();
    for (i, (at, reach)) in events.iter().enumerate() {
        let Reach::Stage { id, position } = *reach else { continue };
        let previous = entries.iter().rev().find(|e| e.stage == id).map(|e| e.at);
        entries.push(StageEntry { stage: id, at: *at, previous, advanced: furthest_after[i].is_some_and(|f| f > position), won: won_after[i] });
    }
    entries
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, day, 9, 0, 0).unwrap()
    }

    fn stage(id: &str, position: i32) -> Reach<'_> {
        Reach::Stage { id, position }
    }

    #[test]
    fn an_entry_advanced_when_a_later_event_went_further_or_won() {
        let events = [(at(1), stage("a", 1)), (at(2), stage("b", 2)), (at(3), stage("a", 1)), (at(4), Reach::Nowhere)];
        let e = stage_entries(&events);
        assert_eq!(e.len(), 3);
        assert_eq!((e[0].stage, e[0].advanced, e[0].won, e[0].previous), ("a", true, false, None));
        assert_eq!((e[1].stage, e[1].advanced, e[1].won), ("b", false, false));
        // Back in a after b: nothing went further afterwards, and it remembers its first entry.
        assert_eq!((e[2].stage, e[2].advanced, e[2].previous), ("a", false, Some(at(1))));
    }

    #[test]
    fn a_won_close_advances_and_wins_every_entry_before_it() {
        let events = [(at(1), stage("a", 1)), (at(2), stage("c", 3)), (at(3), stage("b", 2)), (at(4), Reach::Won)];
        let e = stage_entries(&events);
        assert!(e.iter().all(|e| e.advanced && e.won));
        // A lost close reaches nowhere: the last stage entered did not advance.
        let lost = [(at(1), stage("a", 1)), (at(2), Reach::Nowhere)];
        assert!(!stage_entries(&lost)[0].advanced);
        assert!(stage_entries(&[]).is_empty());
    }
}

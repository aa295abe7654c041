//! Lead assignment (线索分配), PRODUCT.md §3: ordered rules send a lead to a named user, to
//! a team in turn (round-robin), or to the team's least-loaded rep (fewest open leads).
//! A lead no rule can place goes to the workspace pool (公海) for reps to claim.
//!
//! Fairness: in a team, the rep assigned longest ago goes next; reps never assigned yet are
//! ordered by a hash of the lead and the rep, so neither creation order nor an id decides
//! who gets the first leads of a new team.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::ids::{OrgUnitId, UserId};
use crate::lead_rules::{Condition, Facts, all_match};
use crate::validation::FieldErrors;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "strategy", rename_all = "snake_case", deny_unknown_fields)]
pub enum AssignTo {
    User {
        #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
        user_id: UserId,
    },
    /// Active members of the org unit in turn.
    RoundRobin {
        #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
        org_unit_id: OrgUnitId,
    },
    /// The active member of the org unit with the fewest open leads.
    LeastLoaded {
        #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
        org_unit_id: OrgUnitId,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AssignmentRule {
    pub name: String,
    #[serde(default)]
    pub when: Vec<Condition>,
    pub assign_to: AssignTo,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AssignmentConfig {
    /// Tried in order; the first that matches and has someone to give the lead to wins.
    #[serde(default)]
    pub rules: Vec<AssignmentRule>,
}

impl AssignmentConfig {
    /// Checks the shape of the rules; whether the users and units exist is the caller's
    /// check, since it needs the database.
    pub fn check(&self, errors: &mut FieldErrors) {
        if self.rules.len() > 200 {
            errors.add("rules", "at most 200 assignment rules");
        }
        for (i, rule) in self.rules.iter().enumerate() {
            let path = format!("rules[{i}]");
            let name = rule.name.trim();
            if name.is_empty() || name.chars().count() > 100 {
                errors.add(format!("{path}.name"), "must be 1 to 100 characters");
            }
            for (j, c) in rule.when.iter().enumerate() {
                c.check(errors, &format!("{path}.when[{j}]"), true);
            }
        }
    }

    /// The org units the rules name, to load their members.
    pub fn units(&self) -> Vec<OrgUnitId> {
        let mut units: Vec<OrgUnitId> = self
            .rules
            .iter()
            .filter_map(|r| match r.assign_to {
                AssignTo::RoundRobin { org_unit_id } | AssignTo::LeastLoaded { org_unit_id } => Some(org_unit_id),
                AssignTo::User { .. } => None,
            })
            .collect();
        units.sort();
        units.dedup();
        units
    }
}

/// How much a rep has: open leads, and when (as a sequence number) the last one came.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Load {
    pub open_leads: i64,
    /// 0: never assigned by a rule.
    pub last_assigned: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Owner { user: UserId, rule: String, seq: i64 },
    Pool { reason: String },
}

/// The rules and what they need to know about the reps, loaded once; an import assigns a
/// whole file against one `Assigner`, which keeps the loads current as it goes.
#[derive(Debug, Clone)]
pub struct Assigner {
    rules: Vec<AssignmentRule>,
    /// Active members of each unit the rules name.
    teams: HashMap<OrgUnitId, Vec<UserId>>,
    loads: HashMap<UserId, Load>,
    /// Users who may receive leads (active).
    active: std::collections::HashSet<UserId>,
    next_seq: i64,
}

impl Assigner {
    /// `last_seq` is the highest sequence number handed out so far in the workspace.
    pub fn new(
        config: AssignmentConfig,
        teams: HashMap<OrgUnitId, Vec<UserId>>,
        loads: HashMap<UserId, Load>,
        active: impl IntoIterator<Item = UserId>,
        last_seq: i64,
    ) -> Self {
        Assigner { rules: config.rules, teams, loads, active: active.into_iter().collect(), next_seq: last_seq + 1 }
    }

    /// Chooses the owner of one lead and counts it against them. `tie_seed` comes from the
    /// lead (its id) and only orders reps who are otherwise equal.
    pub fn assign(&mut self, facts: &Facts<'_>, tie_seed: u64) -> Decision {
        let mut skipped = Vec::new();
        let mut chosen = None;
        for rule in self.rules.iter().filter(|r| all_match(&r.when, facts)) {
            let pick = match &rule.assign_to {
                AssignTo::User { user_id } => self.active.contains(user_id).then_some(*user_id),
                AssignTo::RoundRobin { org_unit_id } => self.pick(*org_unit_id, false, tie_seed),
                AssignTo::LeastLoaded { org_unit_id } => self.pick(*org_unit_id, true, tie_seed),
            };
            match pick {
                Some(user) => {
                    chosen = Some((user, rule.name.trim().to_string()));
                    break;
                }
                None => skipped.push(rule.name.trim().to_string()),
            }
        }
        let Some((user, rule)) = chosen else {
            let reason = if skipped.is_empty() {
                "no assignment rule matched".to_string()
            } else {
                format!("no active rep for rule(s): {}", skipped.join(", "))
            };
            return Decision::Pool { reason };
        };
        let seq = self.next_seq;
        self.next_seq += 1;
        let load = self.loads.entry(user).or_default();
        load.open_leads += 1;
        load.last_assigned = seq;
        Decision::Owner { user, rule, seq }
    }

    /// A lead of `user` closed or moved away: least-loaded must see it.
    pub fn released(&mut self, user: UserId) {
        if let Some(l) = self.loads.get_mut(&user) {
            l.open_leads = (l.open_leads - 1).max(0);
        }
    }

    fn pick(&self, unit: OrgUnitId, least_loaded: bool, tie_seed: u64) -> Option<UserId> {
        let members = self.teams.get(&unit)?;
        members.iter().filter(|u| self.active.contains(u)).copied().min_by_key(|u| {
            let load = self.loads.get(u).copied().unwrap_or_default();
            let turn = (load.last_assigned, tie_hash(tie_seed, *u));
            if least_loaded { (load.open_leads, turn) } else { (0, turn) }
        })
    }
}

/// A stable, well-mixed number from the lead and the rep (FNV-1a then a final mix), so that
/// ties fall differently for different leads.
fn tie_hash(seed: u64, user: UserId) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    for b in user.uuid().as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^ (h >> 33)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lead_rules::tests::{cond, lead};
    use chrono::NaiveDate;
    use uuid::Uuid;

    fn user(n: u128) -> UserId {
        UserId::from_uuid(Uuid::from_u128(n))
    }

    fn unit(n: u128) -> OrgUnitId {
        OrgUnitId::from_uuid(Uuid::from_u128(n))
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, 1).unwrap()
    }

    fn assigner(rules: Vec<AssignmentRule>, loads: &[(u128, i64)], inactive: &[u128]) -> Assigner {
        let team: Vec<UserId> = (1..=4).map(user).collect();
        let active: Vec<UserId> = (1..=9).filter(|n| !inactive.contains(n)).map(user).collect();
        let loads = loads.iter().map(|(u, open)| (user(*u), Load { open_leads: *open, last_assigned: 0 })).collect();
        Assigner::new(AssignmentConfig { rules }, HashMap::from([(unit(100), team)]), loads, active, 0)
    }

    fn rule(name: &str, when: &[&str], to: AssignTo) -> AssignmentRule {
        AssignmentRule { name: name.into(), when: when.iter().map(|c| cond(c)).collect(), assign_to: to }
    }

    #[test]
    fn the_first_matching_rule_with_someone_to_take_it_wins() {
        let rules = vec![
            rule("East big deals", &["region = 华东", "budget >= 100000000"], AssignTo::User { user_id: user(7) }),
            rule("Exhibition", &["source = exhibition"], AssignTo::User { user_id: user(8) }),
            rule("Hot leads", &["score >= 60"], AssignTo::User { user_id: user(9) }),
        ];
        struct Case {
            name: &'static str,
            edit: fn(&mut crate::lead::Lead),
            score: i64,
            inactive: &'static [u128],
            expected: Result<u128, &'static str>,
        }
        let cases = [
            Case { name: "exhibition", edit: |_| {}, score: 0, inactive: &[], expected: Ok(8) },
            Case { name: "big eastern budget first", edit: |l| l.bant.budget_amount = Some(100_000_000), score: 0, inactive: &[], expected: Ok(7) },
            Case { name: "web lead by score", edit: |l| l.source = crate::lead::LeadSource::Web, score: 60, inactive: &[], expected: Ok(9) },
            Case { name: "no rule matches", edit: |l| l.source = crate::lead::LeadSource::Web, score: 59, inactive: &[], expected: Err("no assignment rule matched") },
            Case { name: "inactive user falls through", edit: |_| {}, score: 70, inactive: &[8], expected: Ok(9) },
            Case { name: "all targets inactive", edit: |_| {}, score: 0, inactive: &[8], expected: Err("no active rep for rule(s): Exhibition") },
        ];
        for case in cases {
            let mut l = lead();
            (case.edit)(&mut l);
            let mut a = assigner(rules.clone(), &[], case.inactive);
            let got = a.assign(&Facts { lead: &l, today: today(), score: Some(case.score) }, 1);
            let got = match got {
                Decision::Owner { user: u, .. } => Ok(u),
                Decision::Pool { reason } => Err(reason),
            };
            assert_eq!(got, case.expected.map(user).map_err(String::from), "{}", case.name);
        }
    }

    fn deal_out(to: AssignTo, loads: &[(u128, i64)], n: u64) -> HashMap<UserId, i64> {
        let mut a = assigner(vec![rule("Team", &[], to)], loads, &[]);
        let l = lead();
        let mut counts = HashMap::new();
        for i in 0..n {
            match a.assign(&Facts { lead: &l, today: today(), score: None }, i) {
                Decision::Owner { user, .. } => *counts.entry(user).or_insert(0) += 1,
                Decision::Pool { reason } => panic!("pooled: {reason}"),
            }
        }
        counts
    }

    #[test]
    fn round_robin_over_four_equal_reps_differs_by_at_most_one() {
        let counts = deal_out(AssignTo::RoundRobin { org_unit_id: unit(100) }, &[], 1000);
        assert_eq!(counts.len(), 4);
        let (min, max) = (counts.values().min().unwrap(), counts.values().max().unwrap());
        assert!(max - min <= 1, "{counts:?}");
        assert_eq!(counts.values().sum::<i64>(), 1000);
        let counts = deal_out(AssignTo::RoundRobin { org_unit_id: unit(100) }, &[], 1003);
        let (min, max) = (counts.values().min().unwrap(), counts.values().max().unwrap());
        assert!(max - min <= 1, "{counts:?}");
    }

    #[test]
    fn least_loaded_fills_the_emptiest_first_then_stays_even() {
        // Rep 1 already has 30 open leads, rep 2 has 10: they get nothing until the others
        // catch up, then all four take turns.
        let counts = deal_out(AssignTo::LeastLoaded { org_unit_id: unit(100) }, &[(1, 30), (2, 10)], 1000);
        let totals: Vec<i64> = (1..=4).map(|u| counts.get(&user(u)).copied().unwrap_or(0) + [30, 10, 0, 0][u as usize - 1]).collect();
        let (min, max) = (totals.iter().min().unwrap(), totals.iter().max().unwrap());
        assert!(max - min <= 1, "{totals:?}");
        let equal = deal_out(AssignTo::LeastLoaded { org_unit_id: unit(100) }, &[], 1000);
        let (min, max) = (equal.values().min().unwrap(), equal.values().max().unwrap());
        assert!(max - min <= 1, "{equal:?}");
    }

    #[test]
    fn who_goes_first_in_a_new_team_is_not_decided_by_id() {
        // Over many fresh teams, each of the four reps is first sometimes.
        let mut firsts = HashMap::new();
        for seed in 0..200u64 {
            let mut a = assigner(vec![rule("Team", &[], AssignTo::RoundRobin { org_unit_id: unit(100) })], &[], &[]);
            if let Decision::Owner { user, .. } = a.assign(&Facts { lead: &lead(), today: today(), score: None }, seed) {
                *firsts.entry(user).or_insert(0) += 1;
            }
        }
        assert_eq!(firsts.len(), 4, "{firsts:?}");
        assert!(firsts.values().all(|n| *n >= 20), "{firsts:?}");
    }

    #[test]
    fn an_inactive_member_is_skipped_and_an_empty_team_pools() {
        let mut a = assigner(vec![rule("Team", &[], AssignTo::RoundRobin { org_unit_id: unit(100) })], &[], &[1, 2, 3]);
        for seed in 0..5 {
            assert!(matches!(a.assign(&Facts { lead: &lead(), today: today(), score: None }, seed), Decision::Owner { user: u, .. } if u == user(4)));
        }
        let mut a = assigner(vec![rule("Other team", &[], AssignTo::LeastLoaded { org_unit_id: unit(5) })], &[], &[]);
        assert!(matches!(a.assign(&Facts { lead: &lead(), today: today(), score: None }, 0), Decision::Pool { .. }));
    }
}

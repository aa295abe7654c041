//! The organisation tree: headquarters › branch › team (PRODUCT.md §1).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

use crate::audit::Audited;
use crate::ids::{OrgUnitId, UserId, WorkspaceId};
use crate::Problem;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrgUnit {
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub id: OrgUnitId,
    #[serde(skip)]
    pub workspace_id: WorkspaceId,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Uuid))]
    pub parent_id: Option<OrgUnitId>,
    pub name: String,
    /// Short code, the region part of opportunity numbers (2026-SH-001).
    pub code: String,
    pub kind: OrgUnitKind,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Uuid))]
    pub manager_id: Option<UserId>,
    pub archived: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

impl Audited for OrgUnit {
    const ENTITY: &'static str = "org_unit";
    fn audit_fields(&self) -> Vec<(&'static str, Option<String>)> {
        vec![
            ("parent_id", self.parent_id.map(|p| p.to_string())),
            ("name", Some(self.name.clone())),
            ("code", Some(self.code.clone())),
            ("kind", Some(self.kind.as_str().to_string())),
            ("manager_id", self.manager_id.map(|m| m.to_string())),
            ("archived", Some(self.archived.to_string())),
        ]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum OrgUnitKind {
    Headquarters,
    Branch,
    Team,
}

impl OrgUnitKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OrgUnitKind::Headquarters => "headquarters",
            OrgUnitKind::Branch => "branch",
            OrgUnitKind::Team => "team",
        }
    }

    pub fn parse(text: &str) -> Result<Self, Problem> {
        match text {
            "headquarters" => Ok(OrgUnitKind::Headquarters),
            "branch" => Ok(OrgUnitKind::Branch),
            "team" => Ok(OrgUnitKind::Team),
            other => Err(Problem::new(format!(
                "unknown kind {other:?}; expected one of headquarters, branch, team"
            ))),
        }
    }
}

/// The short code of an org unit, used as the region part of opportunity numbers
/// (2026-SH-001): 1 to 10 upper-case ASCII letters or digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OrgUnitCode(String);

impl OrgUnitCode {
    pub fn parse(text: &str) -> Result<Self, Problem> {
        let code = text.trim().to_ascii_uppercase();
        if code.is_empty() || code.len() > 10 || !code.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(Problem::new("must be 1 to 10 letters or digits (A-Z, 0-9)"));
        }
        Ok(OrgUnitCode(code))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The parent links of a workspace's org units, small enough to hold in memory.
#[derive(Debug, Clone, Default)]
pub struct OrgTree {
    parent: HashMap<OrgUnitId, Option<OrgUnitId>>,
    children: HashMap<OrgUnitId, Vec<OrgUnitId>>,
}

impl OrgTree {
    pub fn new(links: Vec<(OrgUnitId, Option<OrgUnitId>)>) -> OrgTree {
        let mut tree = OrgTree::default();
        for (unit, parent) in links {
            tree.parent.insert(unit, parent);
            if let Some(p) = parent {
                tree.children.entry(p).or_default().push(unit);
            }
        }
        for kids in tree.children.values_mut() {
            kids.sort();
        }
        tree
    }

    pub fn contains(&self, unit: OrgUnitId) -> bool {
        self.parent.contains_key(&unit)
    }

    /// The unit and every unit below it; empty when the unit is unknown.
    pub fn subtree(&self, root: OrgUnitId) -> Vec<OrgUnitId> {
        if !self.contains(root) {
            return Vec::new();
        }
        let mut out = vec![root];
        let mut i = 0;
        while i < out.len() {
            if let Some(kids) = self.children.get(&out[i]) {
                for k in kids {
                    // A corrupt cycle must not loop forever.
                    if !out.contains(k) {
                        out.push(*k);
                    }
                }
            }
            i += 1;
        }
        out
    }

    /// The chain from the unit up to the root, the unit first.
    pub fn ancestors(&self, unit: OrgUnitId) -> Vec<OrgUnitId> {
        let mut out = Vec::new();
        let mut cur = Some(unit);
        while let Some(u) = cur {
            if out.contains(&u) || !self.contains(u) {
                break;
            }
            out.push(u);
            cur = self.parent.get(&u).copied().flatten();
        }
        out
    }

    /// Refuses a new parent that would put a unit below itself.
    pub fn check_reparent(&self, unit: OrgUnitId, new_parent: Option<OrgUnitId>) -> Result<(), Problem> {
        let Some(p) = new_parent else { return Ok(()) };
        if !self.contains(p) {
            return Err(Problem::new("does not name an org unit of this workspace"));
        }
        if self.subtree(unit).contains(&p) {
            return Err(Problem::new("would make the unit its own ancestor"));
        }
        Ok(())
    }
}

/// The manager a person answers to: the manager of the nearest unit at or above theirs who
/// is not the person themselves (a unit's manager answers to the unit above).
pub fn manager_of(tree: &OrgTree, managers: &HashMap<OrgUnitId, UserId>, user: UserId, unit: Option<OrgUnitId>) -> Option<UserId> {
    tree.ancestors(unit?).into_iter().filter_map(|u| managers.get(&u).copied()).find(|m| *m != user)
}

/// Who meets the customer on a priority deal (PRODUCT.md §5: a director, within 7 working
/// days): the nearest unit manager above the deal's unit who is a director, so the meeting
/// stays in the deal's line; else the first of the workspace's directors (ordered by the
/// caller), so that a priority deal outside any director's line is not left without one.
pub fn director_for(tree: &OrgTree, managers: &HashMap<OrgUnitId, UserId>, unit: Option<OrgUnitId>, directors: &[UserId]) -> Option<UserId> {
    let in_line = unit.map(|u| tree.ancestors(u)).unwrap_or_default().into_iter().filter_map(|u| managers.get(&u).copied()).find(|m| directors.contains(m));
    in_line.or_else(|| directors.first().copied())
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn u(n: u128) -> OrgUnitId {
        OrgUnitId::from_uuid(Uuid::from_u128(n))
    }

    #[test]
    fn a_person_answers_to_the_nearest_manager_above_who_is_not_themselves() {
        let t = OrgTree::new(vec![(u(1), None), (u(2), Some(u(1))), (u(3), Some(u(2)))]);
        let person = |n: u128| UserId::from_uuid(Uuid::from_u128(100 + n));
        let managers: HashMap<OrgUnitId, UserId> = [(u(1), person(1)), (u(2), person(2))].into();
        assert_eq!(manager_of(&t, &managers, person(9), Some(u(3))), Some(person(2)), "team without a manager: the branch's");
        assert_eq!(manager_of(&t, &managers, person(2), Some(u(2))), Some(person(1)), "the branch manager answers to HQ");
        assert_eq!(manager_of(&t, &managers, person(1), Some(u(1))), None, "the top has nobody above");
        assert_eq!(manager_of(&t, &managers, person(9), None), None, "no unit, no manager");
    }

    #[test]
    fn a_priority_deal_meets_the_director_in_its_line_else_the_first_director() {
        let t = OrgTree::new(vec![(u(1), None), (u(2), Some(u(1))), (u(3), Some(u(2))), (u(4), Some(u(1)))]);
        let person = |n: u128| UserId::from_uuid(Uuid::from_u128(100 + n));
        // Unit 2's manager is a director, unit 1's (HQ) another; unit 3's manager is a manager.
        let managers: HashMap<OrgUnitId, UserId> = [(u(1), person(1)), (u(2), person(2)), (u(3), person(3))].into();
        let directors = [person(1), person(2)];
        assert_eq!(director_for(&t, &managers, Some(u(3)), &directors), Some(person(2)), "the nearest director above");
        assert_eq!(director_for(&t, &managers, Some(u(4)), &directors), Some(person(1)), "unit 4 has only HQ above");
        assert_eq!(director_for(&t, &managers, None, &directors), Some(person(1)), "no unit: the first director");
        let elsewhere = [person(7)];
        assert_eq!(director_for(&t, &managers, Some(u(3)), &elsewhere), Some(person(7)), "no director in the line");
        assert_eq!(director_for(&t, &managers, Some(u(3)), &[]), None, "a workspace without directors");
    }

    #[test]
    fn subtree_and_ancestors() {
        let t = OrgTree::new(vec![(u(1), None), (u(2), Some(u(1))), (u(3), Some(u(2))), (u(4), Some(u(1)))]);
        assert_eq!(t.subtree(u(2)), vec![u(2), u(3)]);
        assert_eq!(t.subtree(u(1)).len(), 4);
        assert_eq!(t.ancestors(u(3)), vec![u(3), u(2), u(1)]);
        assert!(t.subtree(u(99)).is_empty());
    }

    #[test]
    fn reparenting_below_oneself_is_refused() {
        let t = OrgTree::new(vec![(u(1), None), (u(2), Some(u(1))), (u(3), Some(u(2)))]);
        assert!(t.check_reparent(u(2), Some(u(3))).is_err());
        assert!(t.check_reparent(u(2), Some(u(2))).is_err());
        assert!(t.check_reparent(u(3), Some(u(1))).is_ok());
        assert!(t.check_reparent(u(3), Some(u(42))).is_err());
    }

    #[test]
    fn codes_are_upper_case_alphanumerics() {
        assert_eq!(OrgUnitCode::parse(" sh ").unwrap().as_str(), "SH");
        for bad in ["", "S-H", "上海", "ABCDEFGHIJK"] {
            assert!(OrgUnitCode::parse(bad).is_err(), "{bad}");
        }
    }
}

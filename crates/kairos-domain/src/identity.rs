//! Roles and data scopes (PRODUCT.md §1).
//!
//! A scope is decided once per request from the caller's roles and place in the org tree;
//! every read and write of a business record is then filtered by it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::audit::Audited;
use crate::ids::{OrgUnitId, UserId, WorkspaceId};
use crate::org::OrgTree;
use crate::Problem;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Director,
    Manager,
    SalesRep,
    Presales,
    CustomerSuccess,
    Finance,
    Legal,
}

impl Role {
    pub const ALL: [Role; 8] = [
        Role::Admin,
        Role::Director,
        Role::Manager,
        Role::SalesRep,
        Role::Presales,
        Role::CustomerSuccess,
        Role::Finance,
        Role::Legal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Director => "director",
            Role::Manager => "manager",
            Role::SalesRep => "sales_rep",
            Role::Presales => "presales",
            Role::CustomerSuccess => "customer_success",
            Role::Finance => "finance",
            Role::Legal => "legal",
        }
    }

    pub fn parse(text: &str) -> Result<Role, Problem> {
        Role::ALL.into_iter().find(|r| r.as_str() == text).ok_or_else(|| {
            let known: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
            Problem::new(format!("unknown role {text:?}; expected one of {}", known.join(", ")))
        })
    }
}

/// A user's roles: never empty, no duplicates, in a stable order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roles(Vec<Role>);

impl Roles {
    pub fn parse(items: &[String]) -> Result<Roles, Problem> {
        let mut roles = Vec::new();
        for item in items {
            roles.push(Role::parse(item.trim())?);
        }
        Roles::new(roles)
    }

    pub fn new(mut roles: Vec<Role>) -> Result<Roles, Problem> {
        roles.sort();
        roles.dedup();
        if roles.is_empty() {
            return Err(Problem::new("must name at least one role"));
        }
        Ok(Roles(roles))
    }

    /// Reads the comma-separated form kept in the database.
    pub fn from_stored(text: &str) -> Result<Roles, Problem> {
        let items: Vec<String> = text.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect();
        Roles::parse(&items)
    }

    pub fn to_stored(&self) -> String {
        self.0.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(",")
    }

    pub fn contains(&self, role: Role) -> bool {
        self.0.contains(&role)
    }

    pub fn iter(&self) -> impl Iterator<Item = Role> + '_ {
        self.0.iter().copied()
    }

    pub fn is_admin(&self) -> bool {
        self.contains(Role::Admin)
    }

    pub fn names(&self) -> Vec<String> {
        self.0.iter().map(|r| r.as_str().to_string()).collect()
    }
}

/// Interface language of a user or workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Locale {
    #[serde(rename = "zh-CN")]
    ZhCn,
    #[serde(rename = "en")]
    En,
}

impl Locale {
    pub fn as_str(self) -> &'static str {
        match self {
            Locale::ZhCn => "zh-CN",
            Locale::En => "en",
        }
    }

    pub fn parse(text: &str) -> Result<Locale, Problem> {
        match text {
            "zh-CN" | "zh" | "zh-cn" => Ok(Locale::ZhCn),
            "en" | "en-US" | "en-GB" => Ok(Locale::En),
            other => Err(Problem::new(format!("unknown locale {other:?}; expected zh-CN or en"))),
        }
    }
}

/// A person who logs in. The password hash never leaves the store layer.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct User {
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub id: UserId,
    #[serde(skip)]
    pub workspace_id: WorkspaceId,
    pub email: String,
    pub display_name: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Uuid))]
    pub org_unit_id: Option<OrgUnitId>,
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Role>))]
    #[serde(serialize_with = "serialize_roles")]
    pub roles: Roles,
    pub active: bool,
    pub locale: Option<Locale>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

fn serialize_roles<S: serde::Serializer>(roles: &Roles, s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(roles.iter())
}

impl Audited for User {
    const ENTITY: &'static str = "user";
    fn audit_fields(&self) -> Vec<(&'static str, Option<String>)> {
        vec![
            ("email", Some(self.email.clone())),
            ("display_name", Some(self.display_name.clone())),
            ("org_unit_id", self.org_unit_id.map(|u| u.to_string())),
            ("roles", Some(self.roles.to_stored())),
            ("active", Some(self.active.to_string())),
            ("locale", self.locale.map(|l| l.as_str().to_string())),
        ]
    }
}

/// Which business records a user may see and change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataScope {
    /// Directors and admins see the whole workspace.
    All,
    /// Managers see their unit and every unit below it, plus their own records anywhere.
    Subtree { user: UserId, units: Vec<OrgUnitId> },
    /// Everyone else sees the records they own or whose team they are on.
    Own { user: UserId },
}

impl DataScope {
    /// The widest scope any of the roles grants. A manager without a unit (or with a unit
    /// that no longer exists) falls back to their own records rather than to nothing.
    pub fn for_user(user: UserId, roles: &Roles, unit: Option<OrgUnitId>, tree: &OrgTree) -> DataScope {
        if roles.contains(Role::Admin) || roles.contains(Role::Director) {
            return DataScope::All;
        }
        if roles.contains(Role::Manager) {
            if let Some(unit) = unit {
                let units = tree.subtree(unit);
                if !units.is_empty() {
                    return DataScope::Subtree { user, units };
                }
            }
        }
        DataScope::Own { user }
    }

    /// Whether a record owned by `owner` in `unit`, with `members` on its team, is visible.
    /// The store applies the same rule in SQL; this form serves single-record checks and
    /// the tests that pin the rule down.
    pub fn allows(&self, owner: UserId, unit: Option<OrgUnitId>, members: &[UserId]) -> bool {
        match self {
            DataScope::All => true,
            DataScope::Subtree { user, units } => {
                owner == *user || members.contains(user) || unit.is_some_and(|u| units.contains(&u))
            }
            DataScope::Own { user } => owner == *user || members.contains(user),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn unit(n: u128) -> OrgUnitId {
        OrgUnitId::from_uuid(Uuid::from_u128(n))
    }
    fn user(n: u128) -> UserId {
        UserId::from_uuid(Uuid::from_u128(n))
    }

    fn tree() -> OrgTree {
        // 1 HQ › 2 North › 4 Team A, 5 Team B; 1 › 3 South › 6 Team C
        OrgTree::new(vec![
            (unit(1), None),
            (unit(2), Some(unit(1))),
            (unit(3), Some(unit(1))),
            (unit(4), Some(unit(2))),
            (unit(5), Some(unit(2))),
            (unit(6), Some(unit(3))),
        ])
    }

    #[test]
    fn scope_follows_the_widest_role() {
        let t = tree();
        let cases: Vec<(Vec<Role>, Option<OrgUnitId>, &str)> = vec![
            (vec![Role::Admin], Some(unit(4)), "all"),
            (vec![Role::Director], None, "all"),
            (vec![Role::SalesRep, Role::Director], Some(unit(4)), "all"),
            (vec![Role::Manager], Some(unit(2)), "subtree"),
            (vec![Role::Manager], None, "own"),
            (vec![Role::SalesRep], Some(unit(4)), "own"),
            (vec![Role::Presales, Role::Finance], Some(unit(4)), "own"),
        ];
        for (roles, home, expected) in cases {
            let scope = DataScope::for_user(user(9), &Roles::new(roles.clone()).unwrap(), home, &t);
            let kind = match scope {
                DataScope::All => "all",
                DataScope::Subtree { .. } => "subtree",
                DataScope::Own { .. } => "own",
            };
            assert_eq!(kind, expected, "{roles:?}");
        }
    }

    #[test]
    fn a_manager_sees_the_subtree_and_nothing_beside_it() {
        let t = tree();
        let scope = DataScope::for_user(user(9), &Roles::new(vec![Role::Manager]).unwrap(), Some(unit(2)), &t);
        assert!(scope.allows(user(1), Some(unit(2)), &[]));
        assert!(scope.allows(user(1), Some(unit(4)), &[]));
        assert!(scope.allows(user(1), Some(unit(5)), &[]));
        assert!(!scope.allows(user(1), Some(unit(1)), &[]), "the parent is not below the manager");
        assert!(!scope.allows(user(1), Some(unit(3)), &[]), "a sibling branch is not visible");
        assert!(!scope.allows(user(1), Some(unit(6)), &[]));
        assert!(scope.allows(user(9), Some(unit(6)), &[]), "own records stay visible anywhere");
    }

    #[test]
    fn a_rep_sees_own_and_team_records_only() {
        let scope = DataScope::Own { user: user(7) };
        assert!(scope.allows(user(7), Some(unit(4)), &[]));
        assert!(scope.allows(user(1), Some(unit(4)), &[user(7)]));
        assert!(!scope.allows(user(1), Some(unit(4)), &[user(8)]));
    }

    #[test]
    fn roles_round_trip_and_refuse_unknown_names() {
        let roles = Roles::parse(&["sales_rep".into(), "admin".into(), "admin".into()]).unwrap();
        assert_eq!(roles.to_stored(), "admin,sales_rep");
        assert_eq!(Roles::from_stored("admin,sales_rep").unwrap(), roles);
        assert!(Roles::parse(&["boss".into()]).is_err());
        assert!(Roles::parse(&[]).is_err());
    }
}

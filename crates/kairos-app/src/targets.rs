//! Sales targets (`/api/v1/targets`): quotas per user or org unit per month, quarter or
//! year. Directors and admins set any; managers set those inside their subtree.

use kairos_domain::analytics::{Period, PeriodKind, TargetLine};
use kairos_domain::identity::DataScope;
use kairos_domain::ids::{OrgUnitId, UserId, WorkspaceId};
use kairos_domain::org::OrgTree;
use kairos_store::target::{self as store, Target};
use kairos_store::{Conn, StoreError, org_unit, user};
use serde::Deserialize;
use serde_json::json;

use crate::actor::Actor;
use crate::app::App;
use crate::error::{AppError, AppResult};

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTarget {
    /// user or org_unit
    pub subject_kind: String,
    #[schema(format = Uuid)]
    pub subject_id: String,
    /// `2026`, `2026-Q1` or `2026-03`.
    pub period: String,
    /// Minor units of the base currency.
    pub amount: i64,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetPatch {
    pub version: Option<i64>,
    pub amount: i64,
}

/// Who a target is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    User(UserId),
    Unit(OrgUnitId),
}

impl App {
    pub async fn list_targets(&self, actor: &Actor) -> AppResult<Vec<Target>> {
        let mut conn = self.store.read().await?;
        let mut c = conn.conn();
        let all = store::list_targets(&mut c, actor.workspace()).await?;
        if matches!(actor.scope, DataScope::All) {
            return Ok(all);
        }
        // Everyone's unit in one read, rather than a look-up per target.
        let units: std::collections::HashMap<UserId, Option<OrgUnitId>> = kairos_store::followup::user_units(&mut c, actor.workspace()).await?.into_iter().collect();
        let mut out = Vec::new();
        for t in all {
            let subject = subject_of(&t)?;
            let unit = match subject {
                Subject::Unit(u) => Some(u),
                Subject::User(u) => units.get(&u).copied().flatten(),
            };
            if visible_given(actor, subject, unit) {
                out.push(t);
            }
        }
        Ok(out)
    }

    pub async fn create_target(&self, actor: &Actor, input: NewTarget) -> AppResult<Target> {
        let ws = actor.workspace();
        let mut errors = kairos_domain::FieldErrors::new();
        let period = errors.check("period", Period::parse(&input.period));
        if !(0..=kairos_domain::opportunity::MAX_AMOUNT).contains(&input.amount) {
            errors.add("amount", "must be between 0 and 1,000,000,000,000,000 minor units");
        }
        let mut tx = self.begin().await?;
        let mut c = tx.conn();
        let subject = match input.subject_kind.as_str() {
            "user" => match UserId::parse(&input.subject_id) {
                Ok(u) if user::find_user(&mut c, ws, u).await?.is_some() => Some(Subject::User(u)),
                _ => {
                    errors.add("subject_id", "does not name a user of this workspace");
                    None
                }
            },
            "org_unit" => match OrgUnitId::parse(&input.subject_id) {
                Ok(u) if org_unit::find_org_unit(&mut c, ws, u).await?.is_some() => Some(Subject::Unit(u)),
                _ => {
                    errors.add("subject_id", "does not name an org unit of this workspace");
                    None
                }
            },
            _ => {
                errors.add("subject_kind", "must be user or org_unit");
                None
            }
        };
        errors.finish()?;
        let (Some(period), Some(subject)) = (period, subject) else { return Err(AppError::internal("validated input lost a value")) };
        if !may_set(&mut c, actor, subject).await? {
            return Err(AppError::Forbidden("only directors, admins and the managers above a person or unit may set their target".into()));
        }
        let kind = PeriodKind::of(&input.period).unwrap_or(PeriodKind::Month);
        let now = self.now();
        let target = Target {
            id: uuid_text(self.mint()),
            subject_kind: input.subject_kind.clone(),
            subject_id: input.subject_id.trim().to_string(),
            period_kind: kind.as_str().into(),
            period_start: period.from,
            amount: input.amount,
            updated_at: now,
            version: 1,
        };
        match store::insert_target(&mut c, ws, &target).await {
            Err(StoreError::Unique { .. }) => {
                return Err(AppError::Conflict { code: "duplicate", message: "this subject already has a target for this period; change it instead".into(), details: json!({}) });
            }
            other => other?,
        }
        let change = [kairos_domain::audit::FieldChange { field: "amount".into(), old_value: None, new_value: Some(target.amount.to_string()) }];
        self.audit(&mut c, Some(actor), "target", target.id.clone(), "create", &change).await?;
        drop(c);
        tx.commit().await?;
        Ok(target)
    }

    pub async fn update_target(&self, actor: &Actor, id: &str, input: TargetPatch) -> AppResult<Target> {
        let ws = actor.workspace();
        let version = input.version.ok_or_else(|| AppError::field("version", "is required: send the version you read"))?;
        if !(0..=kairos_domain::opportunity::MAX_AMOUNT).contains(&input.amount) {
            return Err(AppError::field("amount", "must be between 0 and 1,000,000,000,000,000 minor units"));
        }
        let mut tx = self.begin().await?;
        let mut c = tx.conn();
        let old = store::find_target(&mut c, ws, id).await?.ok_or(AppError::NotFound { entity: "target" })?;
        if !visible(&mut c, actor, &old).await? {
            return Err(AppError::NotFound { entity: "target" });
        }
        if !may_set(&mut c, actor, subject_of(&old)?).await? {
            return Err(AppError::Forbidden("you may not change this target".into()));
        }
        if old.version != version {
            return Err(AppError::StaleVersion { current_version: Some(old.version) });
        }
        let now = self.now();
        store::update_target_amount(&mut c, ws, id, input.amount, now, version).await?;
        let change = [kairos_domain::audit::FieldChange { field: "amount".into(), old_value: Some(old.amount.to_string()), new_value: Some(input.amount.to_string()) }];
        self.audit(&mut c, Some(actor), "target", id.to_string(), "update", &change).await?;
        drop(c);
        tx.commit().await?;
        Ok(Target { amount: input.amount, updated_at: now, version: version + 1, ..old })
    }

    pub async fn delete_target(&self, actor: &Actor, id: &str) -> AppResult<()> {
        let ws = actor.workspace();
        let mut tx = self.begin().await?;
        let mut c = tx.conn();
        let old = store::find_target(&mut c, ws, id).await?.ok_or(AppError::NotFound { entity: "target" })?;
        if !visible(&mut c, actor, &old).await? {
            return Err(AppError::NotFound { entity: "target" });
        }
        if !may_set(&mut c, actor, subject_of(&old)?).await? {
            return Err(AppError::Forbidden("you may not delete this target".into()));
        }
        store::delete_target(&mut c, ws, id).await?;
        let change = [kairos_domain::audit::FieldChange { field: "amount".into(), old_value: Some(old.amount.to_string()), new_value: None }];
        self.audit(&mut c, Some(actor), "target", id.to_string(), "delete", &change).await?;
        drop(c);
        tx.commit().await?;
        Ok(())
    }
}

fn uuid_text(u: uuid::Uuid) -> String {
    u.hyphenated().to_string()
}

fn subject_of(t: &Target) -> AppResult<Subject> {
    match t.subject_kind.as_str() {
        "user" => UserId::parse(&t.subject_id).map(Subject::User).map_err(|p| AppError::internal(p.0)),
        _ => OrgUnitId::parse(&t.subject_id).map(Subject::Unit).map_err(|p| AppError::internal(p.0)),
    }
}

async fn unit_of(c: &mut Conn<'_>, ws: WorkspaceId, subject: Subject) -> AppResult<Option<OrgUnitId>> {
    Ok(match subject {
        Subject::Unit(u) => Some(u),
        Subject::User(u) => user::find_user(c, ws, u).await?.and_then(|u| u.org_unit_id),
    })
}

async fn may_set(c: &mut Conn<'_>, actor: &Actor, subject: Subject) -> AppResult<bool> {
    match &actor.scope {
        DataScope::All => Ok(actor.user.roles.is_admin() || actor.has_role(kairos_domain::identity::Role::Director)),
        DataScope::Subtree { units, .. } => {
            // A manager sets targets for the people and units below their own unit.
            let own = actor.user.org_unit_id;
            let unit = unit_of(c, actor.workspace(), subject).await?;
            Ok(unit.is_some_and(|u| units.contains(&u)) && subject != Subject::User(actor.id()) && own.is_none_or(|o| subject != Subject::Unit(o)))
        }
        DataScope::Own { .. } => Ok(false),
    }
}

async fn visible(c: &mut Conn<'_>, actor: &Actor, t: &Target) -> AppResult<bool> {
    let subject = subject_of(t)?;
    let unit = match actor.scope {
        DataScope::All => None,
        _ => unit_of(c, actor.workspace(), subject).await?,
    };
    Ok(visible_given(actor, subject, unit))
}

/// Whether the caller sees a target of `subject`, whose unit (its own, or its person's) is
/// `unit`: all of them for admins and directors; a manager's subtree and their own; a rep's
/// own and their unit's.
fn visible_given(actor: &Actor, subject: Subject, unit: Option<OrgUnitId>) -> bool {
    match &actor.scope {
        DataScope::All => true,
        DataScope::Subtree { units, user } => subject == Subject::User(*user) || unit.is_some_and(|u| units.contains(&u)),
        DataScope::Own { user } => subject == Subject::User(*user) || actor.user.org_unit_id.is_some_and(|own| subject == Subject::Unit(own)),
    }
}

/// The target lines of a subject. A unit with no targets of its own takes the sum of its
/// sub-units' and its people's, period by period.
pub(crate) fn target_of(subject: Subject, period: &Period, all: &[Target], tree: &OrgTree, people: &[(UserId, Option<OrgUnitId>)], depth: u32) -> Option<i64> {
    let lines_of = |kind: &str, id: String| -> Vec<TargetLine> {
        all.iter()
            .filter(|t| t.subject_kind == kind && t.subject_id == id)
            .filter_map(|t| PeriodKind::from_stored(&t.period_kind).map(|k| TargetLine { kind: k, start: t.period_start, amount: t.amount }))
            .collect()
    };
    match subject {
        Subject::User(u) => kairos_domain::analytics::target_in(period, &lines_of("user", u.to_string())),
        Subject::Unit(unit) => {
            if let Some(own) = kairos_domain::analytics::target_in(period, &lines_of("org_unit", unit.to_string())) {
                return Some(own);
            }
            if depth > 20 {
                return None;
            }
            let children = tree.subtree(unit).into_iter().filter(|c| *c != unit && tree.ancestors(*c).get(1) == Some(&unit));
            let mut sum: Option<i64> = None;
            for child in children {
                if let Some(t) = target_of(Subject::Unit(child), period, all, tree, people, depth + 1) {
                    sum = Some(sum.unwrap_or(0).saturating_add(t));
                }
            }
            for (person, _) in people.iter().filter(|(_, u)| *u == Some(unit)) {
                if let Some(t) = target_of(Subject::User(*person), period, all, tree, people, depth + 1) {
                    sum = Some(sum.unwrap_or(0).saturating_add(t));
                }
            }
            sum
        }
    }
}

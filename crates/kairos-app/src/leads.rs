//! Leads (线索), PRODUCT.md §3: create, read, list, change, work through their statuses,
//! claim from the pool, hand over, archive. Capture (dedup, scoring, assignment) lives in
//! `lead_capture`, conversion in `lead_convert`.

use chrono::NaiveDate;
use kairos_domain::audit::changed;
use kairos_domain::ids::{LeadId, OrgUnitId, UserId, WorkspaceId};
use kairos_domain::lead::{self as domain, Bant, Lead, LeadSource, LeadStatus};
use kairos_domain::lead_scoring::score;
use kairos_domain::opportunity as opp;
use kairos_domain::{FieldErrors, text};
use kairos_store::lead::{self as store, LeadFilter};
use kairos_store::page::Sort;
use kairos_store::{StoreError, org_unit};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::actor::Actor;
use crate::app::App;
use crate::outbox::Tell;
use kairos_domain::notice::Notice;
use crate::error::{AppError, AppResult};
use crate::input::{patch, patched_text, required_version};
use crate::lead_capture::{Capture, Captured, OnDuplicate, load_rules};
use crate::listing::{self, ListPage};
use crate::ownership::resolve_owner;

#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewLead {
    /// exhibition, web, ad, social, partner, referral, inbound_call, other (or 展会, 官网, …).
    /// Default: other.
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub campaign: Option<String>,
    #[serde(default)]
    pub company: Option<String>,
    #[serde(default)]
    pub contact_name: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub industry: Option<String>,
    #[serde(default)]
    pub notes: Option<String>,
    /// Integer minor units of the base currency.
    #[serde(default)]
    pub budget_amount: Option<i64>,
    #[serde(default)]
    pub budget_approved: Option<bool>,
    #[serde(default)]
    pub is_decision_maker: Option<bool>,
    #[serde(default)]
    pub need_description: Option<String>,
    /// 0–100.
    #[serde(default)]
    pub need_match: Option<i64>,
    #[serde(default)]
    pub expected_purchase_date: Option<NaiveDate>,
    /// Default: the assignment rules choose (or the pool).
    #[serde(default)]
    #[schema(format = Uuid)]
    pub owner_id: Option<String>,
    /// Default: refuse.
    #[serde(default)]
    pub on_duplicate: Option<OnDuplicate>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeadPatch {
    #[serde(default)]
    pub version: Option<i64>,
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>)]
    pub campaign: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>)]
    pub company: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>)]
    pub contact_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>)]
    pub title: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>)]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>)]
    pub region: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>)]
    pub industry: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>)]
    pub notes: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<i64>)]
    pub budget_amount: Option<Option<i64>>,
    #[serde(default)]
    pub budget_approved: Option<bool>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<bool>)]
    pub is_decision_maker: Option<Option<bool>>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>)]
    pub need_description: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<i64>)]
    pub need_match: Option<Option<i64>>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<NaiveDate>)]
    pub expected_purchase_date: Option<Option<NaiveDate>>,
    /// new, working, qualified, disqualified (needs `disqualify_reason`).
    #[serde(default)]
    pub status: Option<LeadStatus>,
    #[serde(default)]
    pub disqualify_reason: Option<String>,
    /// Hands the lead over (notifies the new owner); `null` returns it to the pool.
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub owner_id: Option<Option<String>>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LeadQuery {
    /// Text search on company, contact name, phone and e-mail.
    pub q: Option<String>,
    /// One or several statuses, comma-separated.
    pub status: Option<String>,
    pub source: Option<String>,
    /// A user id, or `pool` for unowned leads.
    pub owner_id: Option<String>,
    /// Includes the unit's subtree.
    pub org_unit_id: Option<String>,
    pub region: Option<String>,
    pub industry: Option<String>,
    pub campaign: Option<String>,
    pub score_min: Option<String>,
    /// Created on or after (YYYY-MM-DD).
    pub created_from: Option<String>,
    pub created_to: Option<String>,
    pub archived: Option<String>,
    /// created_at, updated_at, score, company; `-` for descending. Default -created_at.
    pub sort: Option<String>,
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

const SORTS: &[(&str, &str)] = &[("created_at", "created_at"), ("updated_at", "updated_at"), ("score", "score"), ("company", "company")];

/// The answer to a capture: the lead, and whether it was new or merged into an existing one.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CaptureOutcome {
    #[serde(flatten)]
    pub lead: Lead,
    /// `created`, or `merged` when the capture was folded into an existing lead.
    pub outcome: &'static str,
}

/// Parses a lead as captured; the id, time and default source come from the caller.
pub(crate) fn parse_new_lead(
    errors: &mut FieldErrors,
    input: &NewLead,
    ws: WorkspaceId,
    id: LeadId,
    now: chrono::DateTime<chrono::Utc>,
    default_source: LeadSource,
) -> Option<Lead> {
    let source = match input.source.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => errors.check("source", LeadSource::parse(s)),
        None => Some(default_source),
    };
    let opt = |errors: &mut FieldErrors, field: &str, value: &Option<String>, max: usize| errors.check(field, text::optional_text(value.as_deref(), max)).flatten();
    let campaign = opt(errors, "campaign", &input.campaign, 100);
    let company = opt(errors, "company", &input.company, 200);
    let contact_name = opt(errors, "contact_name", &input.contact_name, 100);
    let title = opt(errors, "title", &input.title, 100);
    let region = opt(errors, "region", &input.region, 100);
    let industry = opt(errors, "industry", &input.industry, 100);
    let notes = opt(errors, "notes", &input.notes, 10_000);
    let need_description = opt(errors, "need_description", &input.need_description, 2_000);
    let phone = opt(errors, "phone", &input.phone, 40);
    let phone_key = phone.as_deref().and_then(|p| errors.check("phone", text::phone_key(p)));
    let email = opt(errors, "email", &input.email, 254);
    let email_key = email.as_deref().and_then(|e| errors.check("email", text::email_key(e)));
    let company_key = company.as_deref().map(text::company_key).filter(|k| !k.is_empty());
    let budget_amount = errors.check_opt("budget_amount", input.budget_amount.map(opp::amount));
    let need_match = errors.check_opt("need_match", input.need_match.map(domain::need_match));
    if company.is_none() && contact_name.is_none() {
        errors.add("company", "a lead needs a company or a contact name");
    }
    if input.phone.as_deref().is_none_or(|p| p.trim().is_empty()) && input.email.as_deref().is_none_or(|e| e.trim().is_empty()) {
        errors.add("phone", "a lead needs a phone number or an e-mail address to be followed up");
    }
    if !errors.is_empty() {
        return None;
    }
    Some(Lead {
        id,
        workspace_id: ws,
        source: source?,
        campaign,
        company,
        company_key,
        contact_name,
        title,
        phone,
        phone_key,
        email,
        email_key,
        region,
        industry,
        notes,
        bant: Bant {
            budget_amount,
            budget_approved: input.budget_approved.unwrap_or(false),
            is_decision_maker: input.is_decision_maker,
            need_description,
            need_match,
            expected_purchase_date: input.expected_purchase_date,
        },
        status: LeadStatus::New,
        disqualify_reason: None,
        score: 0,
        score_hits: Vec::new(),
        owner_id: None,
        org_unit_id: None,
        assigned_at: None,
        assigned_by_rule: None,
        account_id: None,
        contact_id: None,
        opportunity_id: None,
        converted_at: None,
        archived: false,
        archived_at: None,
        created_at: now,
        updated_at: now,
        version: 1,
    })
}

impl App {
    /// `POST /api/v1/leads`: one lead through the shared capture path.
    pub async fn create_lead(&self, actor: &Actor, input: NewLead) -> AppResult<CaptureOutcome> {
        let ws = actor.workspace();
        let mut errors = FieldErrors::new();
        let draft = parse_new_lead(&mut errors, &input, ws, LeadId::from_uuid(self.mint()), self.now(), LeadSource::Other);
        let mut tx = self.begin().await?;
        let owner = match input.owner_id.as_deref() {
            Some(o) => resolve_owner(&mut tx.conn(), actor, &mut errors, Some(o)).await?,
            None => None,
        };
        errors.finish()?;
        let draft = draft.ok_or_else(|| AppError::internal("validated input lost a value"))?;
        let mut ctx = self.capture_context(&mut tx.conn(), ws, Some(actor.id()), "create").await?;
        let capture = Capture { draft, owner, on_duplicate: input.on_duplicate.unwrap_or_default() };
        let answer = self.capture_batch(&mut tx.conn(), &mut ctx, vec![capture]).await?.pop();
        let outcome = match answer {
            Some(Captured::Created(lead)) => CaptureOutcome { lead, outcome: "created" },
            Some(Captured::Merged(lead)) => CaptureOutcome { lead, outcome: "merged" },
            Some(Captured::Refused(e)) => return Err(e),
            None => return Err(AppError::internal("capture answered nothing")),
        };
        self.notify_new_owners(&mut tx.conn(), &mut ctx).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    pub async fn get_lead(&self, actor: &Actor, id: &str) -> AppResult<Lead> {
        let id = parse_lead_id(id)?;
        let mut conn = self.store.read().await?;
        store::find_lead(&mut conn.conn(), actor.workspace(), &actor.scope, id).await?.ok_or(AppError::NotFound { entity: "lead" })
    }

    pub async fn list_leads(&self, actor: &Actor, query: &LeadQuery) -> AppResult<ListPage<Lead>> {
        let ws = actor.workspace();
        let mut errors = FieldErrors::new();
        let mut status = Vec::new();
        for s in query.status.as_deref().unwrap_or("").split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match LeadStatus::from_stored(s) {
                Some(st) => status.push(st),
                None => errors.add("status", format!("unknown status {s:?}; expected new, working, qualified, disqualified or converted")),
            }
        }
        let source = listing::given(&query.source).and_then(|s| errors.check("source", LeadSource::parse(&s)));
        let owner = match listing::given(&query.owner_id).as_deref() {
            None => None,
            Some("pool") => Some(None),
            Some(u) => errors.check("owner_id", UserId::parse(u)).map(Some),
        };
        let unit = listing::given(&query.org_unit_id).and_then(|u| errors.check("org_unit_id", OrgUnitId::parse(&u)));
        let score_min = listing::given(&query.score_min).and_then(|s| match s.parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => {
                errors.add("score_min", "must be a whole number");
                None
            }
        });
        let created_from = listing::date(&mut errors, "created_from", &query.created_from);
        let created_to = listing::date(&mut errors, "created_to", &query.created_to);
        let archived = listing::flag(&mut errors, "archived", query.archived.as_deref());
        let sort = listing::sort(&mut errors, query.sort.as_deref(), SORTS, Sort { column: "created_at", descending: true });
        let page = listing::page_request(&mut errors, query.limit.as_deref(), query.cursor.as_deref());
        errors.finish()?;
        let mut conn = self.store.read().await?;
        let mut c = conn.conn();
        let units = match unit {
            Some(u) => Some(org_unit::subtree_ids(&mut c, ws, u).await?),
            None => None,
        };
        let calendar = crate::calendar::load_calendar(&mut c, ws).await?;
        let day_start = |d: NaiveDate| calendar.start_of_day(d);
        let filter = LeadFilter {
            q: query.q.clone(),
            status,
            source,
            owner,
            units,
            region: listing::given(&query.region),
            industry: listing::given(&query.industry),
            campaign: listing::given(&query.campaign),
            score_min,
            created_from: created_from.map(day_start),
            created_to: created_to.and_then(|d| d.succ_opt()).map(day_start),
            archived,
        };
        let found = store::list_leads(&mut c, ws, &actor.scope, &filter, sort, page).await?;
        Ok(ListPage::from_page(found))
    }

    /// `PATCH /api/v1/leads/{id}`: facts, status, owner. Scores again on every change.
    pub async fn update_lead(&self, actor: &Actor, id: &str, input: LeadPatch) -> AppResult<Lead> {
        let id = parse_lead_id(id)?;
        let ws = actor.workspace();
        let mut errors = FieldErrors::new();
        let version = required_version(&mut errors, input.version);
        let mut tx = self.begin().await?;
        let mut c = tx.conn();
        let old = store::find_lead(&mut c, ws, &actor.scope, id).await?.ok_or(AppError::NotFound { entity: "lead" })?;
        let mut new = old.clone();
        if let Some(s) = &input.source {
            if let Some(s) = errors.check("source", LeadSource::parse(s)) {
                new.source = s;
            }
        }
        new.campaign = patched_text(&mut errors, "campaign", old.campaign.clone(), input.campaign, 100);
        new.contact_name = patched_text(&mut errors, "contact_name", old.contact_name.clone(), input.contact_name, 100);
        new.title = patched_text(&mut errors, "title", old.title.clone(), input.title, 100);
        new.region = patched_text(&mut errors, "region", old.region.clone(), input.region, 100);
        new.industry = patched_text(&mut errors, "industry", old.industry.clone(), input.industry, 100);
        new.notes = patched_text(&mut errors, "notes", old.notes.clone(), input.notes, 10_000);
        new.bant.need_description = patched_text(&mut errors, "need_description", old.bant.need_description.clone(), input.need_description, 2_000);
        if input.company.is_some() {
            new.company = patched_text(&mut errors, "company", old.company.clone(), input.company, 200);
            new.company_key = new.company.as_deref().map(text::company_key).filter(|k| !k.is_empty());
        }
        if input.phone.is_some() {
            new.phone = patched_text(&mut errors, "phone", old.phone.clone(), input.phone, 40);
            new.phone_key = new.phone.as_deref().and_then(|p| errors.check("phone", text::phone_key(p)));
        }
        if input.email.is_some() {
            new.email = patched_text(&mut errors, "email", old.email.clone(), input.email, 254);
            new.email_key = new.email.as_deref().and_then(|e| errors.check("email", text::email_key(e)));
        }
        if let Some(b) = input.budget_amount {
            new.bant.budget_amount = b.and_then(|a| errors.check("budget_amount", opp::amount(a)));
        }
        if let Some(a) = input.budget_approved {
            new.bant.budget_approved = a;
        }
        if let Some(d) = input.is_decision_maker {
            new.bant.is_decision_maker = d;
        }
        if let Some(m) = input.need_match {
            new.bant.need_match = m.and_then(|m| errors.check("need_match", domain::need_match(m)));
        }
        if let Some(d) = input.expected_purchase_date {
            new.bant.expected_purchase_date = d;
        }
        if new.company.is_none() && new.contact_name.is_none() {
            errors.add("company", "a lead needs a company or a contact name");
        }
        if new.phone.is_none() && new.email.is_none() {
            errors.add("phone", "a lead needs a phone number or an e-mail address to be followed up");
        }
        if let Some(to) = input.status {
            if let Err(p) = old.status.may_become(to) {
                errors.add("status", p.0);
            }
            new.status = to;
        }
        let reason = errors.check("disqualify_reason", text::optional_text(input.disqualify_reason.as_deref(), 500)).flatten();
        if new.status == LeadStatus::Disqualified {
            if old.status != LeadStatus::Disqualified && reason.is_none() {
                errors.add("disqualify_reason", "is required to disqualify a lead");
            }
            new.disqualify_reason = reason.or(old.disqualify_reason.clone());
        } else {
            if reason.is_some() {
                errors.add("disqualify_reason", "only applies when the status is disqualified");
            }
            new.disqualify_reason = None;
        }
        let mut handed_to = None;
        match &input.owner_id {
            None => {}
            Some(None) => {
                new.owner_id = None;
                new.org_unit_id = None;
                new.assigned_by_rule = Some("returned to the pool".into());
            }
            Some(Some(o)) => {
                if let Some((user, unit)) = resolve_owner(&mut c, actor, &mut errors, Some(o)).await? {
                    if Some(user) != old.owner_id {
                        handed_to = Some(user);
                    }
                    new.owner_id = Some(user);
                    new.org_unit_id = unit;
                    new.assigned_at = Some(self.now());
                    new.assigned_by_rule = None;
                }
            }
        }
        errors.finish()?;
        if old.is_read_only() {
            return Err(converted_refusal());
        }
        if old.archived {
            return Err(crate::accounts::archived_refusal("lead"));
        }
        if version != old.version {
            return Err(AppError::StaleVersion { current_version: Some(old.version) });
        }
        let (scoring, _, _) = load_rules(&mut c, ws).await?;
        let today = crate::calendar::load_calendar(&mut c, ws).await?.local_date(self.now());
        let s = score(&new, &scoring, today);
        new.score = s.points;
        new.score_hits = s.hits;
        if s.qualified && input.status.is_none() && matches!(new.status, LeadStatus::New | LeadStatus::Working) {
            new.status = LeadStatus::Qualified;
        }
        let changes = changed(&old, &new);
        if changes.is_empty() {
            return Ok(old);
        }
        new.version = old.version + 1;
        new.updated_at = self.now();
        match store::update_lead(&mut c, &new, old.version).await {
            Err(StoreError::Unique { .. }) => {
                return Err(AppError::Conflict {
                    code: "duplicate",
                    message: "another lead already has this phone or e-mail".into(),
                    details: json!({ "field": if new.phone_key != old.phone_key { "phone" } else { "email" } }),
                });
            }
            other => other?,
        }
        self.audit(&mut c, Some(actor), "lead", id.to_string(), "update", &changes).await?;
        if let Some(user) = handed_to.filter(|u| *u != actor.id()) {
            self.notify(&mut c, ws, vec![Tell::new(user, Notice::LeadHandedOver, Some(("lead", id.to_string())))]).await?;
        }
        drop(c);
        tx.commit().await?;
        Ok(new)
    }

    /// `POST /api/v1/leads/{id}/claim`: a rep takes a lead from the pool.
    pub async fn claim_lead(&self, actor: &Actor, id: &str) -> AppResult<Lead> {
        let id = parse_lead_id(id)?;
        let ws = actor.workspace();
        let mut tx = self.begin().await?;
        let mut c = tx.conn();
        let old = store::find_lead(&mut c, ws, &actor.scope, id).await?.ok_or(AppError::NotFound { entity: "lead" })?;
        if old.is_read_only() {
            return Err(converted_refusal());
        }
        if old.owner_id.is_some() {
            return Err(AppError::Refused {
                code: "not_in_pool",
                message: "the lead already has an owner; only leads in the pool can be claimed".into(),
                details: json!({ "owner_id": old.owner_id.map(|u| u.to_string()) }),
            });
        }
        let mut new = old.clone();
        new.owner_id = Some(actor.id());
        new.org_unit_id = actor.user.org_unit_id;
        new.assigned_at = Some(self.now());
        new.assigned_by_rule = Some("claimed from the pool".into());
        new.version = old.version + 1;
        new.updated_at = self.now();
        // The version check makes two simultaneous claims end with one owner and one 409.
        store::update_lead(&mut c, &new, old.version).await.map_err(|e| match e {
            StoreError::StaleVersion => AppError::Conflict {
                code: "already_claimed",
                message: "someone claimed this lead a moment ago".into(),
                details: json!({}),
            },
            other => other.into(),
        })?;
        self.audit(&mut c, Some(actor), "lead", id.to_string(), "claim", &changed(&old, &new)).await?;
        drop(c);
        tx.commit().await?;
        Ok(new)
    }

    pub async fn archive_lead(&self, actor: &Actor, id: &str, version: Option<i64>) -> AppResult<Lead> {
        self.set_lead_archived(actor, id, version, true).await
    }

    pub async fn restore_lead(&self, actor: &Actor, id: &str, version: Option<i64>) -> AppResult<Lead> {
        self.set_lead_archived(actor, id, version, false).await
    }

    async fn set_lead_archived(&self, actor: &Actor, id: &str, version: Option<i64>, archive: bool) -> AppResult<Lead> {
        let id = parse_lead_id(id)?;
        let mut tx = self.begin().await?;
        let mut c = tx.conn();
        let old = store::find_lead(&mut c, actor.workspace(), &actor.scope, id).await?.ok_or(AppError::NotFound { entity: "lead" })?;
        if version.is_some_and(|v| v != old.version) {
            return Err(AppError::StaleVersion { current_version: Some(old.version) });
        }
        if old.archived == archive {
            return Ok(old);
        }
        if old.is_read_only() {
            return Err(converted_refusal());
        }
        let now = self.now();
        let mut new = old.clone();
        new.archived = archive;
        new.archived_at = archive.then_some(now);
        new.updated_at = now;
        new.version = old.version + 1;
        store::update_lead(&mut c, &new, old.version).await.map_err(|e| match e {
            StoreError::Unique { .. } => AppError::Conflict {
                code: "duplicate",
                message: "a live lead with the same phone or e-mail exists; merge or archive it first".into(),
                details: json!({}),
            },
            other => other.into(),
        })?;
        let action = if archive { "delete" } else { "restore" };
        self.audit(&mut c, Some(actor), "lead", id.to_string(), action, &changed(&old, &new)).await?;
        drop(c);
        tx.commit().await?;
        Ok(new)
    }

}

pub(crate) fn parse_lead_id(id: &str) -> AppResult<LeadId> {
    LeadId::parse(id).map_err(|_| AppError::NotFound { entity: "lead" })
}

pub(crate) fn converted_refusal() -> AppError {
    AppError::Refused {
        code: "lead_converted",
        message: "a converted lead is read-only; change the account, contact or opportunity it became".into(),
        details: json!({}),
    }
}

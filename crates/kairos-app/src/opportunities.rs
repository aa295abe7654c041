//! Opportunities (商机), PRODUCT.md §5: create (with numbering and process choice), read,
//! list, change. Stage and status changes live in `stage_engine`.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use kairos_domain::account::AccountType;
use kairos_domain::audit::{changed, created};
use kairos_domain::contact::DecisionRole;
use kairos_domain::gate::{self, GateFacts};
use kairos_domain::health::{health, parse_need_items};
use kairos_domain::ids::{AccountId, ContactId, OpportunityId, OrgUnitId, ProcessId, StageId, UserId};
use kairos_domain::numbering::NumberPattern;
use kairos_domain::opportunity::{self as opp, OppContact, OppStatus, Opportunity};
use kairos_domain::process::{ProcessFacts, SalesProcess, matching_processes};
use kairos_domain::{FieldErrors, text};
use kairos_store::opportunity::{self as store, HistoryEntry, OppFilter};
use kairos_store::page::Sort;
use kairos_store::{Conn, account, contact, org_unit, process as process_store, settings, workspace};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::accounts::{Member, MemberInput, parse_members};
use crate::actor::Actor;
use crate::app::App;
use crate::outbox::DealEvent;
use crate::error::{AppError, AppResult};
use crate::input::{patch, patched_text, required_version};
use crate::listing::{self, ListPage};
use crate::ownership::resolve_owner;

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactLink {
    #[schema(format = Uuid)]
    pub contact_id: String,
    /// Default: the contact's own decision role.
    #[serde(default)]
    pub role: Option<DecisionRole>,
    #[serde(default)]
    pub reached: bool,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOpportunity {
    pub name: String,
    #[schema(format = Uuid)]
    pub account_id: String,
    #[serde(default)]
    #[schema(format = Uuid)]
    pub primary_contact_id: Option<String>,
    /// Default: the caller.
    #[serde(default)]
    #[schema(format = Uuid)]
    pub owner_id: Option<String>,
    /// Default: the process that applies (422 `process_ambiguous` lists the choices when
    /// several apply equally).
    #[serde(default)]
    #[schema(format = Uuid)]
    pub process_id: Option<String>,
    /// Default: the first stage. A later stage must pass the gates of the stages before it.
    #[serde(default)]
    #[schema(format = Uuid)]
    pub stage_id: Option<String>,
    /// Integer minor units.
    #[serde(default)]
    pub amount: Option<i64>,
    /// Default: the workspace's base currency.
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub expected_close_date: Option<NaiveDate>,
    /// Overrides the stage's probability; needs `probability_reason`.
    #[serde(default)]
    pub probability: Option<u8>,
    #[serde(default)]
    pub probability_reason: Option<String>,
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub business_type: Option<String>,
    #[serde(default)]
    pub product_category: Option<String>,
    #[serde(default)]
    pub competitors: Option<Vec<String>>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// Ten need-confirmation scores, 0–10 each.
    #[serde(default)]
    pub need_items: Option<Vec<i64>>,
    #[serde(default)]
    pub budget_approved: Option<bool>,
    #[serde(default)]
    pub in_annual_plan: Option<bool>,
    #[serde(default)]
    pub contract_number: Option<String>,
    #[serde(default)]
    pub contract_signed_on: Option<NaiveDate>,
    #[serde(default)]
    pub members: Option<Vec<MemberInput>>,
    #[serde(default)]
    pub contacts: Option<Vec<ContactLink>>,
    /// Backfill (admin): when the deal was really created; never in the future.
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    /// Admin only: create at a later stage even though its gates refuse; kept in history.
    #[serde(default)]
    pub override_reason: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpportunityPatch {
    #[serde(default)]
    pub version: Option<i64>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub primary_contact_id: Option<Option<String>>,
    #[serde(default)]
    #[schema(format = Uuid)]
    pub owner_id: Option<String>,
    #[serde(default)]
    pub amount: Option<i64>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<NaiveDate>)]
    pub expected_close_date: Option<Option<NaiveDate>>,
    /// A probability other than the stage's needs `probability_reason`; `null` returns to
    /// the stage's.
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<u8>)]
    pub probability: Option<Option<u8>>,
    #[serde(default)]
    pub probability_reason: Option<String>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>)]
    pub source: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>)]
    pub business_type: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>)]
    pub product_category: Option<Option<String>>,
    #[serde(default)]
    pub competitors: Option<Vec<String>>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    pub need_items: Option<Vec<i64>>,
    #[serde(default)]
    pub budget_approved: Option<bool>,
    #[serde(default)]
    pub in_annual_plan: Option<bool>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>)]
    pub contract_number: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<NaiveDate>)]
    pub contract_signed_on: Option<Option<NaiveDate>>,
    #[serde(default)]
    pub members: Option<Vec<MemberInput>>,
    /// The full list of linked contacts (decision chain).
    #[serde(default)]
    pub contacts: Option<Vec<ContactLink>>,
}

/// An opportunity with its team and decision chain.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OpportunityView {
    #[serde(flatten)]
    pub opportunity: Opportunity,
    pub members: Vec<Member>,
    pub contacts: Vec<OppContact>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OpportunityQuery {
    /// Text search on name, number and account name.
    pub q: Option<String>,
    pub stage_id: Option<String>,
    /// open, won, lost, invalid
    pub status: Option<String>,
    pub owner_id: Option<String>,
    /// Includes the unit's subtree.
    pub org_unit_id: Option<String>,
    pub process_id: Option<String>,
    pub account_id: Option<String>,
    /// Expected close on or after (YYYY-MM-DD).
    pub close_from: Option<String>,
    pub close_to: Option<String>,
    pub amount_min: Option<String>,
    pub amount_max: Option<String>,
    pub health_min: Option<String>,
    pub health_max: Option<String>,
    pub tag: Option<String>,
    pub priority: Option<String>,
    /// name, number, amount, expected_close_date, health, created_at, updated_at, stage_entered_at; `-` for descending.
    pub sort: Option<String>,
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

const SORTS: &[(&str, &str)] = &[
    ("name", "name"),
    ("number", "number"),
    ("amount", "amount"),
    ("expected_close_date", "expected_close_date"),
    ("health", "health_score"),
    ("created_at", "created_at"),
    ("updated_at", "updated_at"),
    ("stage_entered_at", "stage_entered_at"),
];

impl App {
    pub async fn create_opportunity(&self, actor: &Actor, input: NewOpportunity) -> AppResult<OpportunityView> {
        let mut tx = self.begin().await?;
        let view = self.create_opportunity_in(&mut tx.conn(), actor, input).await?;
        tx.commit().await?;
        Ok(view)
    }

    /// Creates an opportunity inside the caller's transaction (lead conversion creates the
    /// account, contact and opportunity all or nothing).
    pub(crate) async fn create_opportunity_in(&self, c: &mut Conn<'_>, actor: &Actor, input: NewOpportunity) -> AppResult<OpportunityView> {
        let ws = actor.workspace();
        let now = self.now();
        let mut errors = FieldErrors::new();
        let name = errors.check("name", text::required_text(&input.name, 200));
        let account_id = errors.check("account_id", AccountId::parse(&input.account_id));
        let primary = errors.check_opt("primary_contact_id", input.primary_contact_id.as_deref().map(ContactId::parse));
        let process_id = errors.check_opt("process_id", input.process_id.as_deref().map(ProcessId::parse));
        let stage_id = errors.check_opt("stage_id", input.stage_id.as_deref().map(StageId::parse));
        let amount = errors.check("amount", opp::amount(input.amount.unwrap_or(0))).unwrap_or(0);
        let currency_given = errors.check_opt("currency", input.currency.as_deref().map(opp::currency));
        let need_items = errors.check("need_items", parse_need_items(&input.need_items.clone().unwrap_or_else(|| vec![0; 10]))).unwrap_or_default();
        let source = errors.check("source", text::optional_text(input.source.as_deref(), 50)).flatten();
        let business_type = errors.check("business_type", text::optional_text(input.business_type.as_deref(), 50)).flatten();
        let product_category = errors.check("product_category", text::optional_text(input.product_category.as_deref(), 50)).flatten();
        let competitors = errors.check("competitors", text::tags(input.competitors.as_deref().unwrap_or_default())).unwrap_or_default();
        let tags = errors.check("tags", text::tags(input.tags.as_deref().unwrap_or_default())).unwrap_or_default();
        let contract_number = errors.check("contract_number", text::optional_text(input.contract_number.as_deref(), 50)).flatten();
        let probability_reason = errors.check("probability_reason", text::optional_text(input.probability_reason.as_deref(), 500)).flatten();
        let override_reason = errors.check("override_reason", text::optional_text(input.override_reason.as_deref(), 500)).flatten();
        if input.probability.is_some_and(|p| p > 100) {
            errors.add("probability", "must be between 0 and 100");
        }
        let created_at = match input.created_at {
            Some(at) => {
                if !actor.user.roles.is_admin() {
                    errors.add("created_at", "only an admin may backfill a past creation time");
                }
                if at > now {
                    errors.add("created_at", "must not be in the future");
                }
                at
            }
            None => now,
        };
        if override_reason.is_some() && !actor.user.roles.is_admin() {
            errors.add("override_reason", "only an admin may override a stage gate");
        }

        let account = match account_id {
            Some(a) => match account::find_account(c, ws, &actor.scope, a).await? {
                Some(acc) if !acc.archived => Some(acc),
                Some(_) => {
                    errors.add("account_id", "names an archived account");
                    None
                }
                None => {
                    errors.add("account_id", "does not name an account you can see");
                    None
                }
            },
            None => None,
        };
        let owner = resolve_owner(c, actor, &mut errors, input.owner_id.as_deref()).await?;
        let members = match &input.members {
            Some(m) => parse_members(c, actor, &mut errors, m).await?,
            None => Vec::new(),
        };
        let contacts = match (&input.contacts, account_id) {
            (Some(list), Some(a)) => parse_contact_links(c, actor, &mut errors, a, list).await?,
            _ => Vec::new(),
        };
        if let (Some(p), Some(a)) = (primary, account_id) {
            check_contact_of(c, actor, &mut errors, "primary_contact_id", a, p).await?;
        }
        let processes = process_store::list_processes(c, ws).await?;
        let owner_units = match owner.and_then(|o| o.1) {
            Some(u) => unit_and_ancestors(c, ws, u).await?,
            None => Vec::new(),
        };
        let process = choose_process(
            &mut errors,
            &processes,
            process_id,
            &ProcessFacts {
                business_type: business_type.as_deref(),
                customer_type: account.as_ref().map(|a| a.account_type).or(Some(AccountType::Enterprise)),
                industry: account.as_ref().and_then(|a| a.industry.as_deref()),
                product_category: product_category.as_deref(),
                org_units: &owner_units,
            },
        )?;
        let first_stage = process.and_then(|p| p.stages.iter().find(|s| !s.retired));
        let stage = match (stage_id, process) {
            (Some(s), Some(p)) => match p.stages.iter().find(|st| st.id == s) {
                Some(st) if !st.retired => Some(st),
                Some(_) => {
                    errors.add("stage_id", "names a retired stage");
                    None
                }
                None => {
                    errors.add("stage_id", "is not a stage of the opportunity's process");
                    None
                }
            },
            _ => first_stage,
        };
        if let (Some(p), Some(stage)) = (input.probability, stage) {
            if p != stage.probability && probability_reason.is_none() {
                errors.add("probability_reason", "is required when the probability differs from the stage's");
            }
        }
        errors.finish()?;
        let (Some(name), Some(account), Some((owner_id, owner_unit)), Some(process), Some(stage), Some(first_stage)) =
            (name, account, owner, process, stage, first_stage)
        else {
            return Err(AppError::internal("validated input lost a value"));
        };
        let ws_row = workspace::get_workspace(c, ws).await?;
        let currency = currency_given.unwrap_or_else(|| ws_row.base_currency.clone());

        // The number: pattern, year in the workspace's time zone, region = owner's unit code.
        let pattern = NumberPattern::parse(&ws_row.number_pattern).unwrap_or_default();
        let calendar = crate::calendar::load_calendar(c, ws).await?;
        let local = calendar.local_date(created_at);
        let region = match owner_unit {
            Some(u) => org_unit::find_org_unit(c, ws, u).await?.map(|u| u.code).unwrap_or_else(|| "HQ".into()),
            None => "HQ".into(),
        };
        let seq = store::next_sequence(c, ws, &pattern.sequence_key(local.year(), &region)).await?;
        let number = pattern.render(local.year(), local.month(), &region, seq);

        let mut opportunity = Opportunity {
            id: OpportunityId::from_uuid(self.mint()),
            workspace_id: ws,
            number,
            name,
            account_id: account.id,
            primary_contact_id: primary,
            owner_id,
            org_unit_id: owner_unit,
            process_id: process.id,
            stage_id: first_stage.id,
            status: OppStatus::Open,
            amount,
            currency,
            expected_close_date: input.expected_close_date,
            probability: input.probability.unwrap_or(stage.probability),
            probability_reason: input.probability.filter(|p| *p != stage.probability).and(probability_reason),
            forecast_category: stage.forecast_category,
            source,
            business_type,
            product_category,
            competitors,
            tags,
            priority: false,
            need_items,
            budget_approved: input.budget_approved.unwrap_or(false),
            in_annual_plan: input.in_annual_plan.unwrap_or(false),
            health: health(&Default::default()),
            contract_number,
            contract_signed_on: input.contract_signed_on,
            stage_entered_at: created_at,
            closed_at: None,
            close_reason_id: None,
            close_competitor: None,
            close_note: None,
            review_due_on: None,
            imported: input.created_at.is_some(),
            created_at,
            updated_at: now,
            version: 1,
        };
        opportunity.health = health(&opportunity.health_inputs(&contacts));
        opportunity.priority = self.priority_of(c, &opportunity).await?;
        // Entering at a later stage passes through the gates of every stage before it.
        let mut override_used = None;
        if stage.id != first_stage.id {
            let ticked = Default::default();
            let documents = Default::default();
            let verdict = gate::evaluate(process, &opportunity, stage.id, &GateFacts { contacts: &contacts, ticked: &ticked, documents: &documents });
            if !verdict.passes() {
                if override_reason.is_none() {
                    let mut missing = verdict.missing.clone();
                    missing.extend(verdict.approvals.iter().map(|a| gate::approval_as_missing(process, a)));
                    return Err(crate::stage_engine::gate_refused(missing));
                }
                override_used = override_reason.clone();
            }
            opportunity.stage_id = stage.id;
            opportunity.forecast_category = stage.forecast_category;
            if input.probability.is_none() {
                opportunity.probability = stage.probability;
            }
        }
        store::insert_opportunity(c, &opportunity, actor.id()).await?;
        if !members.is_empty() {
            store::replace_members(c, ws, opportunity.id, &members, now).await?;
        }
        if !contacts.is_empty() {
            store::replace_contacts(c, ws, opportunity.id, &contacts, now).await?;
        }
        let history = HistoryEntry {
            to_stage_id: Some(stage.id.to_string()),
            to_stage_name: Some(stage.name.clone()),
            to_status: Some("open".into()),
            override_reason: override_used,
            imported: opportunity.imported,
            ..HistoryEntry::of(self.mint(), created_at, Some(actor.id()), "created", &opportunity)
        };
        store::insert_history(c, ws, opportunity.id, &[history]).await?;
        self.audit(c, Some(actor), "opportunity", opportunity.id.to_string(), "create", &created(&opportunity)).await?;
        self.on_priority(c, false, &opportunity).await?;
        let event = DealEvent { event: "opportunity.created", opportunity: &opportunity, stage_name: Some(&stage.name), from_stage_name: None, actor: Some(actor.id()), at: created_at };
        self.emit_opportunity_event(c, event).await?;
        Ok(OpportunityView { opportunity, members: to_members(members), contacts })
    }

    pub async fn get_opportunity(&self, actor: &Actor, id: &str) -> AppResult<OpportunityView> {
        let id = parse_opportunity_id(id)?;
        let ws = actor.workspace();
        let mut conn = self.store.read().await?;
        let mut c = conn.conn();
        let opportunity = store::find_opportunity(&mut c, ws, &actor.scope, id).await?.ok_or(AppError::NotFound { entity: "opportunity" })?;
        let members = store::list_members(&mut c, ws, id).await?;
        let contacts = store::list_contacts(&mut c, ws, id).await?;
        Ok(OpportunityView { opportunity, members: to_members(members), contacts })
    }

    /// The deals among `ids` the caller may see, in one read (an inbox's worth; ids that do
    /// not parse or are out of scope are left out).
    pub async fn opportunities_by_id(&self, actor: &Actor, ids: &[&str]) -> AppResult<Vec<Opportunity>> {
        let ids: Vec<OpportunityId> = ids.iter().filter_map(|i| OpportunityId::parse(i).ok()).collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let limit = ids.len() as u64;
        let filter = OppFilter { ids: Some(ids), ..Default::default() };
        let mut conn = self.store.read().await?;
        let page = kairos_store::page::PageRequest { limit, offset: 0 };
        let found = store::list_opportunities(&mut conn.conn(), actor.workspace(), &actor.scope, &filter, Sort { column: "updated_at", descending: true }, page).await?;
        Ok(found.items)
    }

    /// Whether `query` is a filter the list accepts, without running it (a saved view must be).
    pub(crate) fn check_opportunity_query(query: &OpportunityQuery) -> AppResult<()> {
        let mut errors = FieldErrors::new();
        parse_filter(&mut errors, query);
        listing::sort(&mut errors, query.sort.as_deref(), SORTS, Sort { column: "updated_at", descending: true });
        listing::page_request(&mut errors, query.limit.as_deref(), query.cursor.as_deref());
        Ok(errors.finish()?)
    }

    pub async fn list_opportunities(&self, actor: &Actor, query: &OpportunityQuery) -> AppResult<ListPage<Opportunity>> {
        let mut errors = FieldErrors::new();
        let filter_units;
        let mut filter = parse_filter(&mut errors, query);
        let sort = listing::sort(&mut errors, query.sort.as_deref(), SORTS, Sort { column: "updated_at", descending: true });
        let page = listing::page_request(&mut errors, query.limit.as_deref(), query.cursor.as_deref());
        errors.finish()?;
        let mut conn = self.store.read().await?;
        if let Some(u) = filter.1 {
            filter_units = org_unit::subtree_ids(&mut conn.conn(), actor.workspace(), u).await?;
            filter.0.org_units = Some(filter_units);
        }
        let found = store::list_opportunities(&mut conn.conn(), actor.workspace(), &actor.scope, &filter.0, sort, page).await?;
        Ok(ListPage::from_page(found))
    }

    pub async fn update_opportunity(&self, actor: &Actor, id: &str, input: OpportunityPatch) -> AppResult<OpportunityView> {
        let id = parse_opportunity_id(id)?;
        let ws = actor.workspace();
        let now = self.now();
        let mut errors = FieldErrors::new();
        let version = required_version(&mut errors, input.version);
        let name = errors.check_opt("name", input.name.as_deref().map(|n| text::required_text(n, 200)));
        let amount = errors.check_opt("amount", input.amount.map(opp::amount));
        let currency = errors.check_opt("currency", input.currency.as_deref().map(opp::currency));
        let need_items = errors.check_opt("need_items", input.need_items.as_deref().map(parse_need_items));
        let competitors = errors.check_opt("competitors", input.competitors.as_deref().map(text::tags));
        let tags = errors.check_opt("tags", input.tags.as_deref().map(text::tags));
        let probability_reason = errors.check("probability_reason", text::optional_text(input.probability_reason.as_deref(), 500)).flatten();

        let mut tx = self.begin().await?;
        let mut c = tx.conn();
        let old = store::find_opportunity(&mut c, ws, &actor.scope, id).await?.ok_or(AppError::NotFound { entity: "opportunity" })?;
        let mut new = old.clone();
        new.source = patched_text(&mut errors, "source", old.source.clone(), input.source, 50);
        new.business_type = patched_text(&mut errors, "business_type", old.business_type.clone(), input.business_type, 50);
        new.product_category = patched_text(&mut errors, "product_category", old.product_category.clone(), input.product_category, 50);
        new.contract_number = patched_text(&mut errors, "contract_number", old.contract_number.clone(), input.contract_number, 50);
        if let Some(d) = input.contract_signed_on {
            new.contract_signed_on = d;
        }
        if let Some(d) = input.expected_close_date {
            new.expected_close_date = d;
        }
        match input.primary_contact_id {
            None => {}
            Some(None) => new.primary_contact_id = None,
            Some(Some(text)) => {
                if let Some(k) = errors.check("primary_contact_id", ContactId::parse(&text)) {
                    check_contact_of(&mut c, actor, &mut errors, "primary_contact_id", old.account_id, k).await?;
                    new.primary_contact_id = Some(k);
                }
            }
        }
        if let Some(owner) = input.owner_id.as_deref() {
            if let Some((o, unit)) = resolve_owner(&mut c, actor, &mut errors, Some(owner)).await? {
                new.owner_id = o;
                new.org_unit_id = unit;
            }
        }
        let members = match &input.members {
            Some(m) => Some(parse_members(&mut c, actor, &mut errors, m).await?),
            None => None,
        };
        let contacts = match &input.contacts {
            Some(list) => Some(parse_contact_links(&mut c, actor, &mut errors, old.account_id, list).await?),
            None => None,
        };
        let process = process_store::find_process(&mut c, ws, old.process_id).await?.ok_or_else(|| AppError::internal("process of a deal is gone"))?;
        let stage_probability = process.stages.iter().find(|s| s.id == old.stage_id).map(|s| s.probability).unwrap_or(old.probability);
        match input.probability {
            None => {}
            Some(None) => {
                new.probability = stage_probability;
                new.probability_reason = None;
            }
            Some(Some(p)) if p > 100 => errors.add("probability", "must be between 0 and 100"),
            Some(Some(p)) => {
                if p != stage_probability && probability_reason.is_none() {
                    errors.add("probability_reason", "is required when the probability differs from the stage's");
                }
                new.probability = p;
                new.probability_reason = if p == stage_probability { None } else { probability_reason };
            }
        }
        errors.finish()?;
        if !old.is_open() {
            return Err(AppError::Refused {
                code: "closed",
                message: "this opportunity is closed; reopen it to change it".into(),
                details: json!({ "status": old.status.as_str() }),
            });
        }
        if version != old.version {
            return Err(AppError::StaleVersion { current_version: Some(old.version) });
        }
        if let Some(n) = name {
            new.name = n;
        }
        if let Some(a) = amount {
            new.amount = a;
        }
        if let Some(cur) = currency {
            new.currency = cur;
        }
        if let Some(n) = need_items {
            new.need_items = n;
        }
        if let Some(t) = competitors {
            new.competitors = t;
        }
        if let Some(t) = tags {
            new.tags = t;
        }
        if let Some(b) = input.budget_approved {
            new.budget_approved = b;
        }
        if let Some(b) = input.in_annual_plan {
            new.in_annual_plan = b;
        }
        let old_contacts = store::list_contacts(&mut c, ws, id).await?;
        let links = contacts.clone().unwrap_or_else(|| old_contacts.clone());
        new.health = health(&new.health_inputs(&links));
        new.priority = self.priority_of(&mut c, &new).await?;
        let mut changes = changed(&old, &new);
        let old_members = store::list_members(&mut c, ws, id).await?;
        if members.as_ref().is_some_and(|m| *m != old_members) {
            changes.push(kairos_domain::audit::FieldChange { field: "members".into(), old_value: Some(format!("{old_members:?}")), new_value: Some(format!("{members:?}")) });
        }
        if contacts.as_ref().is_some_and(|k| *k != old_contacts) {
            changes.push(kairos_domain::audit::FieldChange { field: "contacts".into(), old_value: Some(format!("{} linked", old_contacts.len())), new_value: Some(format!("{} linked", links.len())) });
        }
        if changes.is_empty() && new.health == old.health {
            drop(c);
            tx.rollback().await?;
            return Ok(OpportunityView { opportunity: old, members: to_members(old_members), contacts: old_contacts });
        }
        new.version = old.version + 1;
        new.updated_at = now;
        store::update_opportunity(&mut c, &new, old.version).await?;
        self.on_priority(&mut c, old.priority, &new).await?;
        if let Some(m) = &members {
            store::replace_members(&mut c, ws, id, m, now).await?;
        }
        if let Some(k) = &contacts {
            store::replace_contacts(&mut c, ws, id, k, now).await?;
        }
        let history = self.field_history(actor, &old, &new, now);
        store::insert_history(&mut c, ws, id, &history).await?;
        self.audit(&mut c, Some(actor), "opportunity", id.to_string(), "update", &changes).await?;
        drop(c);
        tx.commit().await?;
        Ok(OpportunityView { opportunity: new, members: to_members(members.unwrap_or(old_members)), contacts: links })
    }

    /// History rows for the fields the pipeline is replayed from.
    fn field_history(&self, actor: &Actor, old: &Opportunity, new: &Opportunity, at: DateTime<Utc>) -> Vec<HistoryEntry> {
        let mut rows = Vec::new();
        let tracked = [
            ("amount", old.amount.to_string() + " " + &old.currency, new.amount.to_string() + " " + &new.currency),
            ("expected_close_date", fmt_date(old.expected_close_date), fmt_date(new.expected_close_date)),
            ("probability", old.probability.to_string(), new.probability.to_string()),
            ("owner_id", old.owner_id.to_string(), new.owner_id.to_string()),
        ];
        for (field, a, b) in tracked {
            if a != b {
                rows.push(HistoryEntry {
                    from_stage_id: Some(new.stage_id.to_string()),
                    to_stage_id: Some(new.stage_id.to_string()),
                    from_status: Some(new.status.as_str().into()),
                    to_status: Some(new.status.as_str().into()),
                    field: Some(field.into()),
                    old_value: Some(a),
                    new_value: Some(b),
                    reason: new.probability_reason.clone().filter(|_| field == "probability"),
                    ..HistoryEntry::of(self.mint(), at, Some(actor.id()), "field", new)
                });
            }
        }
        rows
    }

    /// Priority (资源优先): health and amount in base currency above the workspace's
    /// thresholds. An amount in a currency without a rate cannot be compared and does not
    /// make a deal a priority.
    pub(crate) async fn priority_of(&self, c: &mut Conn<'_>, o: &Opportunity) -> AppResult<bool> {
        // One read for the thresholds and the base currency; rates only for foreign amounts.
        let ws = settings::get_settings(c, o.workspace_id).await?;
        let base = if o.currency == ws.base_currency {
            Some(o.amount)
        } else {
            let today = crate::calendar::load_calendar(c, o.workspace_id).await?.local_date(self.now());
            let rates = crate::pipeline::latest_rates(c, o.workspace_id, today).await?;
            crate::pipeline::to_base(&ws.base_currency, &rates, &o.currency, o.amount)
        };
        let Some(base) = base else { return Ok(false) };
        Ok(opp::is_priority(o.health.score, base, ws.priority_health_above.clamp(0, 100) as u8, ws.priority_amount_above))
    }
}

pub(crate) fn fmt_date(d: Option<NaiveDate>) -> String {
    d.map(|d| d.to_string()).unwrap_or_default()
}

pub(crate) fn parse_opportunity_id(id: &str) -> AppResult<OpportunityId> {
    OpportunityId::parse(id).map_err(|_| AppError::NotFound { entity: "opportunity" })
}

/// The query as a store filter, plus the org unit whose subtree the caller asked for.
pub(crate) fn parse_filter(errors: &mut FieldErrors, q: &OpportunityQuery) -> (OppFilter, Option<OrgUnitId>) {
    let nonempty = |s: &Option<String>| s.clone().filter(|v| !v.trim().is_empty());
    let int = |errors: &mut FieldErrors, field: &str, v: &Option<String>| -> Option<i64> {
        nonempty(v).and_then(|t| match t.trim().parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => {
                errors.add(field, "must be a whole number");
                None
            }
        })
    };
    let date = listing::date;
    let status = nonempty(&q.status).and_then(|s| {
        let parsed = OppStatus::from_stored(s.trim());
        if parsed.is_none() {
            errors.add("status", "must be open, won, lost or invalid");
        }
        parsed
    });
    let filter = OppFilter {
        q: nonempty(&q.q),
        stage: errors.check_opt("stage_id", nonempty(&q.stage_id).as_deref().map(StageId::parse)),
        status,
        owner: errors.check_opt("owner_id", nonempty(&q.owner_id).as_deref().map(UserId::parse)),
        org_units: None,
        process: errors.check_opt("process_id", nonempty(&q.process_id).as_deref().map(ProcessId::parse)),
        account: errors.check_opt("account_id", nonempty(&q.account_id).as_deref().map(AccountId::parse)),
        close_from: date(errors, "close_from", &q.close_from),
        close_to: date(errors, "close_to", &q.close_to),
        amount_min: int(errors, "amount_min", &q.amount_min),
        amount_max: int(errors, "amount_max", &q.amount_max),
        health_min: int(errors, "health_min", &q.health_min),
        health_max: int(errors, "health_max", &q.health_max),
        tag: nonempty(&q.tag),
        priority: listing::flag(errors, "priority", q.priority.as_deref()),
        ids: None,
    };
    let unit = errors.check_opt("org_unit_id", nonempty(&q.org_unit_id).as_deref().map(OrgUnitId::parse));
    (filter, unit)
}

/// Picks the process: the one asked for (if it applies), else the most specific one that
/// applies; several equally specific ones are for the caller to choose between.
fn choose_process<'a>(
    errors: &mut FieldErrors,
    all: &'a [SalesProcess],
    asked: Option<ProcessId>,
    facts: &ProcessFacts<'_>,
) -> AppResult<Option<&'a SalesProcess>> {
    let matching = matching_processes(all, facts);
    if let Some(id) = asked {
        return Ok(match all.iter().find(|p| p.id == id && !p.archived) {
            Some(p) if p.is_default || matching.iter().any(|m| m.id == id) => Some(p),
            Some(_) => {
                errors.add("process_id", "this process does not apply to this opportunity (business type, customer type, industry, product category or org unit)");
                None
            }
            None => {
                errors.add("process_id", "does not name a process of this workspace");
                None
            }
        });
    }
    match matching.as_slice() {
        [] => {
            errors.add("process_id", "no sales process applies; ask an admin to set up a default process");
            Ok(None)
        }
        [first, rest @ ..] => {
            let tied: Vec<&&SalesProcess> = rest.iter().filter(|p| p.applicability.specificity() == first.applicability.specificity()).collect();
            if tied.is_empty() {
                Ok(Some(*first))
            } else {
                let candidates: Vec<serde_json::Value> = std::iter::once(first)
                    .chain(tied)
                    .map(|p| json!({ "id": p.id.to_string(), "name": p.name }))
                    .collect();
                Err(AppError::Refused {
                    code: "process_ambiguous",
                    message: "several sales processes apply; choose one with process_id".into(),
                    details: json!({ "field": "process_id", "candidates": candidates }),
                })
            }
        }
    }
}

async fn unit_and_ancestors(c: &mut Conn<'_>, ws: kairos_domain::ids::WorkspaceId, unit: OrgUnitId) -> AppResult<Vec<OrgUnitId>> {
    let units = org_unit::list_org_units(c, ws).await?;
    let tree = kairos_domain::org::OrgTree::new(units.iter().map(|u| (u.id, u.parent_id)).collect());
    Ok(tree.ancestors(unit))
}

async fn check_contact_of(c: &mut Conn<'_>, actor: &Actor, errors: &mut FieldErrors, field: &str, account: AccountId, id: ContactId) -> AppResult<()> {
    match contact::find_contact(c, actor.workspace(), &actor.scope, id).await? {
        Some(k) if k.account_id == account => {}
        Some(_) => errors.add(field, "must be a contact of the opportunity's account"),
        None => errors.add(field, "does not name a contact you can see"),
    }
    Ok(())
}

async fn parse_contact_links(c: &mut Conn<'_>, actor: &Actor, errors: &mut FieldErrors, account: AccountId, input: &[ContactLink]) -> AppResult<Vec<OppContact>> {
    let mut out: Vec<OppContact> = Vec::new();
    if input.len() > 100 {
        errors.add("contacts", "may list at most 100 contacts");
        return Ok(out);
    }
    for (i, link) in input.iter().enumerate() {
        let field = format!("contacts[{i}].contact_id");
        let Some(id) = errors.check(&field, ContactId::parse(&link.contact_id)) else { continue };
        if out.iter().any(|o| o.contact_id == id) {
            errors.add(field, "lists the same contact twice");
            continue;
        }
        match contact::find_contact(c, actor.workspace(), &actor.scope, id).await? {
            Some(k) if k.account_id == account => out.push(OppContact { contact_id: id, role: link.role.unwrap_or(k.decision_role), reached: link.reached }),
            Some(_) => errors.add(field, "must be a contact of the opportunity's account"),
            None => errors.add(field, "does not name a contact you can see"),
        }
    }
    Ok(out)
}

fn to_members(members: Vec<(UserId, String)>) -> Vec<Member> {
    members.into_iter().map(|(user_id, role)| Member { user_id, role }).collect()
}

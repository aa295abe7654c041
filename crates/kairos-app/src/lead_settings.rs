//! The workspace's lead rules (scoring, assignment) and public web forms: admins change
//! them, everyone may read the rules (a rep should know why a lead scored what it did).

use chrono::Duration;
use kairos_domain::ids::LeadFormId;
use kairos_domain::lead::LeadSource;
use kairos_domain::lead_assignment::{AssignTo, AssignmentConfig};
use kairos_domain::lead_form::{self as form_rules, LeadForm};
use kairos_domain::lead_scoring::ScoringConfig;
use kairos_domain::{FieldErrors, text};
use kairos_store::{StoreError, lead as store, lead_form as forms, org_unit, user};
use serde::{Deserialize, Serialize};

use crate::actor::{Actor, AdminCap};
use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::input::required_version;
use crate::lead_capture::{Capture, Captured, OnDuplicate, load_rules};
use crate::leads::{NewLead, parse_new_lead};

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeadRules {
    pub scoring: ScoringConfig,
    pub assignment: AssignmentConfig,
    /// 0 while the defaults apply; send the version you read when saving.
    #[serde(default)]
    pub version: i64,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewLeadForm {
    pub name: String,
    /// The source its leads carry. Default: web.
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub campaign: Option<String>,
    /// Origins allowed to post from a browser (`https://www.example.com`, or `*`).
    #[serde(default)]
    pub allowed_origins: Option<Vec<String>>,
    /// Default 20.
    #[serde(default)]
    pub per_address_per_hour: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeadFormPatch {
    #[serde(default)]
    pub version: Option<i64>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub campaign: Option<String>,
    #[serde(default)]
    pub allowed_origins: Option<Vec<String>>,
    #[serde(default)]
    pub per_address_per_hour: Option<i64>,
    #[serde(default)]
    pub active: Option<bool>,
}

/// What a visitor may send through a public form. Unknown fields are ignored (site
/// builders add their own), and `website` is the honeypot: people never see it, bots fill it.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct PublicLead {
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
    /// The visitor's message.
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub need_description: Option<String>,
    /// The honeypot; must stay empty.
    #[serde(default)]
    pub website: Option<String>,
}

/// How a public submission ended, as the visitor's page may learn it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PublicReceipt {
    pub received: bool,
}

impl App {
    pub async fn lead_rules(&self, actor: &Actor) -> AppResult<LeadRules> {
        let mut conn = self.store.read().await?;
        let (scoring, assignment, version) = load_rules(&mut conn.conn(), actor.workspace()).await?;
        Ok(LeadRules { scoring, assignment, version: version.unwrap_or(0) })
    }

    /// `PUT /api/v1/lead-rules` (admin): replaces both rule sets. Existing leads keep their
    /// score until they next change; new captures use the new rules at once.
    pub async fn set_lead_rules(&self, admin: AdminCap<'_>, input: LeadRules) -> AppResult<LeadRules> {
        let actor = admin.actor();
        let ws = actor.workspace();
        let mut errors = FieldErrors::new();
        let mut scoring_errors = FieldErrors::new();
        input.scoring.check(&mut scoring_errors);
        for e in scoring_errors.into_vec() {
            errors.add(format!("scoring.{}", e.field), e.problem);
        }
        let mut assignment_errors = FieldErrors::new();
        input.assignment.check(&mut assignment_errors);
        for e in assignment_errors.into_vec() {
            errors.add(format!("assignment.{}", e.field), e.problem);
        }
        let mut tx = self.begin().await?;
        let mut c = tx.conn();
        for (i, rule) in input.assignment.rules.iter().enumerate() {
            let field = format!("assignment.rules[{i}].assign_to");
            match rule.assign_to {
                AssignTo::User { user_id } => {
                    if !user::find_user(&mut c, ws, user_id).await?.is_some_and(|u| u.active) {
                        errors.add(format!("{field}.user_id"), "does not name an active user of this workspace");
                    }
                }
                AssignTo::RoundRobin { org_unit_id } | AssignTo::LeastLoaded { org_unit_id } => {
                    if org_unit::find_org_unit(&mut c, ws, org_unit_id).await?.is_none_or(|u| u.archived) {
                        errors.add(format!("{field}.org_unit_id"), "does not name a live org unit of this workspace");
                    }
                }
            }
        }
        errors.finish()?;
        let (_, _, current) = load_rules(&mut c, ws).await?;
        if current.unwrap_or(0) != input.version {
            return Err(AppError::StaleVersion { current_version: Some(current.unwrap_or(0)) });
        }
        let scoring = serde_json::to_string(&input.scoring).map_err(AppError::unexpected)?;
        let assignment = serde_json::to_string(&input.assignment).map_err(AppError::unexpected)?;
        store::save_lead_settings(&mut c, ws, &scoring, &assignment, self.now(), current).await.map_err(|e| match e {
            StoreError::StaleVersion => AppError::StaleVersion { current_version: None },
            other => other.into(),
        })?;
        let changes = [
            kairos_domain::audit::FieldChange { field: "scoring".into(), old_value: None, new_value: Some(scoring) },
            kairos_domain::audit::FieldChange { field: "assignment".into(), old_value: None, new_value: Some(assignment) },
        ];
        self.audit(&mut c, Some(actor), "lead_rules", ws.to_string(), "update", &changes).await?;
        drop(c);
        tx.commit().await?;
        Ok(LeadRules { scoring: input.scoring, assignment: input.assignment, version: current.unwrap_or(0) + 1 })
    }

    pub async fn list_lead_forms(&self, admin: AdminCap<'_>) -> AppResult<Vec<LeadForm>> {
        let mut conn = self.store.read().await?;
        Ok(forms::list_forms(&mut conn.conn(), admin.actor().workspace()).await?)
    }

    pub async fn create_lead_form(&self, admin: AdminCap<'_>, input: NewLeadForm) -> AppResult<LeadForm> {
        let actor = admin.actor();
        let mut errors = FieldErrors::new();
        let name = errors.check("name", text::required_text(&input.name, 100));
        let source = match input.source.as_deref() {
            Some(s) => errors.check("source", LeadSource::parse(s)),
            None => Some(LeadSource::Web),
        };
        let campaign = errors.check("campaign", text::optional_text(input.campaign.as_deref(), 100)).flatten();
        let origins = parse_origins(&mut errors, input.allowed_origins.as_deref().unwrap_or_default());
        let per_hour = parse_rate(&mut errors, input.per_address_per_hour.unwrap_or(20));
        errors.finish()?;
        let (Some(name), Some(source)) = (name, source) else {
            return Err(AppError::internal("validated input lost a value"));
        };
        let now = self.now();
        let form = LeadForm {
            id: LeadFormId::from_uuid(self.mint()),
            workspace_id: actor.workspace(),
            form_key: crate::password::random_secret(),
            name,
            source,
            campaign,
            allowed_origins: origins,
            per_address_per_hour: per_hour,
            active: true,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        let mut tx = self.begin().await?;
        forms::insert_form(&mut tx.conn(), &form).await?;
        self.audit(&mut tx.conn(), Some(actor), "lead_form", form.id.to_string(), "create", &[]).await?;
        tx.commit().await?;
        Ok(form)
    }

    pub async fn update_lead_form(&self, admin: AdminCap<'_>, id: &str, input: LeadFormPatch) -> AppResult<LeadForm> {
        let actor = admin.actor();
        let id = LeadFormId::parse(id).map_err(|_| AppError::NotFound { entity: "lead form" })?;
        let mut errors = FieldErrors::new();
        let version = required_version(&mut errors, input.version);
        let mut tx = self.begin().await?;
        let old = forms::find_form(&mut tx.conn(), actor.workspace(), id).await?.ok_or(AppError::NotFound { entity: "lead form" })?;
        let mut new = old.clone();
        if let Some(n) = &input.name {
            new.name = errors.check("name", text::required_text(n, 100)).unwrap_or_default();
        }
        if let Some(s) = &input.source {
            new.source = errors.check("source", LeadSource::parse(s)).unwrap_or(old.source);
        }
        if let Some(cpg) = &input.campaign {
            new.campaign = errors.check("campaign", text::optional_text(Some(cpg), 100)).flatten();
        }
        if let Some(o) = &input.allowed_origins {
            new.allowed_origins = parse_origins(&mut errors, o);
        }
        if let Some(r) = input.per_address_per_hour {
            new.per_address_per_hour = parse_rate(&mut errors, r);
        }
        if let Some(a) = input.active {
            new.active = a;
        }
        errors.finish()?;
        if version != old.version {
            return Err(AppError::StaleVersion { current_version: Some(old.version) });
        }
        new.version = old.version + 1;
        new.updated_at = self.now();
        forms::update_form(&mut tx.conn(), &new, old.version).await?;
        self.audit(&mut tx.conn(), Some(actor), "lead_form", id.to_string(), "update", &[]).await?;
        tx.commit().await?;
        Ok(new)
    }

    /// The form a public URL names, if it exists and takes submissions (for CORS answers).
    pub async fn public_form(&self, key: &str) -> AppResult<LeadForm> {
        let mut conn = self.store.read().await?;
        forms::find_form_by_key(&mut conn.conn(), key).await?.filter(|f| f.active).ok_or(AppError::NotFound { entity: "form" })
    }

    /// `POST /api/v1/public/leads/{form_key}`: a visitor's submission. No login; the key
    /// names the form, the address is rate-limited per form, a filled honeypot is accepted
    /// and dropped (a bot must not learn that it was caught), a repeat visitor is merged
    /// into their existing lead instead of refused.
    pub async fn submit_public_lead(&self, key: &str, address: &str, input: PublicLead) -> AppResult<PublicReceipt> {
        let form = self.public_form(key).await?;
        if input.website.as_deref().is_some_and(|w| !w.trim().is_empty()) {
            tracing::info!(form = %form.id, "honeypot filled; submission dropped");
            return Ok(PublicReceipt { received: true });
        }
        let now = self.now();
        let ws = form.workspace_id;
        let mut tx = self.begin().await?;
        let mut c = tx.conn();
        let recent = forms::count_submissions(&mut c, form.id, address, now - Duration::hours(1)).await?;
        if recent >= form.per_address_per_hour {
            return Err(AppError::RateLimited { retry_after_secs: 3600 });
        }
        let notes = match (&input.message, &form.campaign) {
            (Some(m), _) if !m.trim().is_empty() => Some(format!("{} ({}): {}", form.name, address, m.trim())),
            _ => Some(format!("{} ({address})", form.name)),
        };
        let lead_input = NewLead {
            source: None,
            campaign: form.campaign.clone(),
            company: input.company,
            contact_name: input.contact_name,
            title: input.title,
            phone: input.phone,
            email: input.email,
            region: input.region,
            industry: input.industry,
            notes,
            need_description: input.need_description,
            ..NewLead::default()
        };
        let mut errors = FieldErrors::new();
        let draft = parse_new_lead(&mut errors, &lead_input, ws, kairos_domain::ids::LeadId::from_uuid(self.mint()), now, form.source);
        errors.finish()?;
        let draft = draft.ok_or_else(|| AppError::internal("validated input lost a value"))?;
        let mut ctx = self.capture_context(&mut c, ws, None, "form").await?;
        let answer = self.capture_batch(&mut c, &mut ctx, vec![Capture { draft, owner: None, on_duplicate: OnDuplicate::Merge }]).await?.pop();
        match answer {
            Some(Captured::Created(_) | Captured::Merged(_)) => {}
            Some(Captured::Refused(e)) => return Err(e),
            None => return Err(AppError::internal("capture answered nothing")),
        }
        self.notify_new_owners(&mut c, &mut ctx).await?;
        forms::record_submission(&mut c, form.id, address, now, now - Duration::hours(2)).await?;
        drop(c);
        tx.commit().await?;
        Ok(PublicReceipt { received: true })
    }
}

fn parse_origins(errors: &mut FieldErrors, input: &[String]) -> Vec<String> {
    if input.len() > 50 {
        errors.add("allowed_origins", "at most 50 origins");
        return Vec::new();
    }
    input.iter().enumerate().filter_map(|(i, o)| errors.check(&format!("allowed_origins[{i}]"), form_rules::origin(o))).collect()
}

fn parse_rate(errors: &mut FieldErrors, n: i64) -> i64 {
    if (1..=10_000).contains(&n) {
        n
    } else {
        errors.add("per_address_per_hour", "must be between 1 and 10000");
        1
    }
}

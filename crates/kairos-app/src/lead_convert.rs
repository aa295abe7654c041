//! Lead conversion (线索转化), PRODUCT.md §3: one action turns a lead into an account (new or
//! matched), a contact (new or matched) and, optionally, an opportunity that keeps the
//! lead's source, takes its budget as amount and its timeline as expected close. All in one
//! transaction: if any part is refused, nothing is created and the lead is unchanged.

use chrono::NaiveDate;
use kairos_domain::account::{Account, AccountName, AccountType};
use kairos_domain::audit::{changed, created};
use kairos_domain::contact::{Attitude, Contact, DecisionRole};
use kairos_domain::identity::DataScope;
use kairos_domain::ids::{AccountId, ContactId, UserId};
use kairos_domain::lead::{Lead, LeadStatus};
use kairos_domain::FieldErrors;
use kairos_store::contact::{self as contact_store, ContactKey};
use kairos_store::lead as store;
use kairos_store::{Conn, account as account_store, user};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::actor::Actor;
use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::leads::{converted_refusal, parse_lead_id};
use crate::opportunities::{ContactLink, NewOpportunity, OpportunityView};

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConvertLead {
    /// The version of the lead you read.
    #[serde(default)]
    pub version: Option<i64>,
    /// Use this account. Default: the account the lead matched, else the account with the
    /// same company name, else a new one.
    #[serde(default)]
    #[schema(format = Uuid)]
    pub account_id: Option<String>,
    /// The name of a new account. Default: the lead's company (or contact name).
    #[serde(default)]
    pub account_name: Option<String>,
    /// Default: enterprise, or individual for a lead without a company.
    #[serde(default)]
    pub account_type: Option<AccountType>,
    /// Use this contact of the account. Default: the contact with the lead's phone or
    /// e-mail, else a new one.
    #[serde(default)]
    #[schema(format = Uuid)]
    pub contact_id: Option<String>,
    /// Default true.
    #[serde(default)]
    pub create_opportunity: Option<bool>,
    /// Default: "<company> · <campaign or source>".
    #[serde(default)]
    pub opportunity_name: Option<String>,
    /// Default: the process that applies.
    #[serde(default)]
    #[schema(format = Uuid)]
    pub process_id: Option<String>,
    /// Default: the lead's budget.
    #[serde(default)]
    pub amount: Option<i64>,
    /// Default: the lead's expected purchase date.
    #[serde(default)]
    pub expected_close_date: Option<NaiveDate>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Conversion {
    pub lead: Lead,
    pub account: Account,
    pub account_created: bool,
    pub contact: Contact,
    pub contact_created: bool,
    pub opportunity: Option<OpportunityView>,
}

impl App {
    /// `POST /api/v1/leads/{id}/convert`.
    pub async fn convert_lead(&self, actor: &Actor, id: &str, input: ConvertLead) -> AppResult<Conversion> {
        let id = parse_lead_id(id)?;
        let ws = actor.workspace();
        let mut errors = FieldErrors::new();
        let account_id = errors.check_opt("account_id", input.account_id.as_deref().map(AccountId::parse));
        let contact_id = errors.check_opt("contact_id", input.contact_id.as_deref().map(ContactId::parse));
        let account_name = errors.check_opt("account_name", input.account_name.as_deref().map(AccountName::parse));
        errors.finish()?;

        let mut tx = self.begin().await?;
        let mut c = tx.conn();
        let old = store::find_lead(&mut c, ws, &actor.scope, id).await?.ok_or(AppError::NotFound { entity: "lead" })?;
        if old.is_read_only() {
            return Err(converted_refusal());
        }
        if old.archived {
            return Err(crate::accounts::archived_refusal("lead"));
        }
        if input.version.is_some_and(|v| v != old.version) {
            return Err(AppError::StaleVersion { current_version: Some(old.version) });
        }
        if old.status == LeadStatus::Disqualified {
            return Err(AppError::Refused {
                code: "lead_disqualified",
                message: "a disqualified lead cannot be converted; set it back to working first".into(),
                details: json!({}),
            });
        }
        // The records belong to the lead's owner; a pool lead to whoever converts it.
        let owner = match old.owner_id {
            Some(u) if u != actor.id() => match user::find_user(&mut c, ws, u).await? {
                Some(o) if o.active => (o.id, o.org_unit_id),
                _ => (actor.id(), actor.user.org_unit_id),
            },
            _ => (actor.id(), actor.user.org_unit_id),
        };

        let (account, account_created) = self.account_for(&mut c, actor, &old, account_id, account_name, input.account_type, owner).await?;
        let (contact, contact_created) = self.contact_for(&mut c, actor, &old, &account, contact_id).await?;

        let opportunity = if input.create_opportunity.unwrap_or(true) {
            let company = old.company.clone().unwrap_or_else(|| account.name.clone());
            let label = old.campaign.clone().unwrap_or_else(|| old.source.as_str().replace('_', " "));
            let name = input.opportunity_name.clone().unwrap_or_else(|| format!("{company} · {label}"));
            let new = NewOpportunity {
                name,
                account_id: account.id.to_string(),
                primary_contact_id: Some(contact.id.to_string()),
                owner_id: Some(owner.0.to_string()),
                process_id: input.process_id.clone(),
                stage_id: None,
                amount: input.amount.or(old.bant.budget_amount),
                currency: None,
                expected_close_date: input.expected_close_date.or(old.bant.expected_purchase_date),
                probability: None,
                probability_reason: None,
                source: Some(old.source.as_str().to_string()),
                business_type: None,
                product_category: None,
                competitors: None,
                tags: None,
                need_items: None,
                budget_approved: Some(old.bant.budget_approved),
                in_annual_plan: None,
                contract_number: None,
                contract_signed_on: None,
                members: None,
                contacts: Some(vec![ContactLink { contact_id: contact.id.to_string(), role: None, reached: true }]),
                created_at: None,
                override_reason: None,
            };
            Some(self.create_opportunity_in(&mut c, actor, new).await?)
        } else {
            None
        };

        let now = self.now();
        let mut lead = old.clone();
        lead.status = LeadStatus::Converted;
        lead.account_id = Some(account.id);
        lead.contact_id = Some(contact.id);
        lead.opportunity_id = opportunity.as_ref().map(|o| o.opportunity.id);
        lead.converted_at = Some(now);
        lead.updated_at = now;
        lead.version = old.version + 1;
        store::update_lead(&mut c, &lead, old.version).await?;
        self.audit(&mut c, Some(actor), "lead", id.to_string(), "convert", &changed(&old, &lead)).await?;
        drop(c);
        tx.commit().await?;
        Ok(Conversion { lead, account, account_created, contact, contact_created, opportunity })
    }

    /// The account a lead becomes: the one named, the one it matched, the one with its
    /// company's name, or a new one. An existing account outside the caller's scope is
    /// refused with its owner named, never duplicated.
    #[allow(clippy::too_many_arguments)]
    async fn account_for(
        &self,
        c: &mut Conn<'_>,
        actor: &Actor,
        lead: &Lead,
        named: Option<AccountId>,
        name: Option<AccountName>,
        account_type: Option<AccountType>,
        owner: (UserId, Option<kairos_domain::ids::OrgUnitId>),
    ) -> AppResult<(Account, bool)> {
        let ws = actor.workspace();
        let name = match name {
            Some(n) => Some(n),
            None => lead.company.as_deref().or(lead.contact_name.as_deref()).and_then(|n| AccountName::parse(n).ok()),
        };
        let existing = match (named, lead.account_id) {
            (Some(a), _) | (None, Some(a)) => Some(a),
            (None, None) => match &name {
                Some(n) => account_store::find_account_by_name_key(c, ws, n.key()).await?.map(|(a, _)| a),
                None => None,
            },
        };
        if let Some(existing) = existing {
            return match account_store::find_account(c, ws, &actor.scope, existing).await? {
                Some(a) if a.archived => Err(AppError::Refused {
                    code: "archived",
                    message: "the lead's account is archived; restore it before converting".into(),
                    details: json!({ "account_id": a.id.to_string() }),
                }),
                Some(a) => Ok((a, false)),
                None if named.is_some() => Err(AppError::field("account_id", "does not name an account you can see")),
                None => {
                    let owner_id = account_store::find_account(c, ws, &DataScope::All, existing).await?.map(|a| a.owner_id.to_string());
                    Err(AppError::Conflict {
                        code: "account_outside_scope",
                        message: "the lead's company is an existing account you cannot see; ask its owner or a manager to convert".into(),
                        details: json!({ "existing_id": existing.to_string(), "owner_id": owner_id }),
                    })
                }
            };
        }
        let Some(name) = name else {
            return Err(AppError::field("account_name", "the lead has no company or contact name to name the account; send account_name"));
        };
        let now = self.now();
        let account = Account {
            id: AccountId::from_uuid(self.mint()),
            workspace_id: ws,
            name: name.as_str().to_string(),
            name_key: name.key().to_string(),
            account_type: account_type.unwrap_or(if lead.company.is_some() { AccountType::Enterprise } else { AccountType::Individual }),
            industry: lead.industry.clone(),
            size: None,
            region: lead.region.clone(),
            address: None,
            credit_rating: None,
            owner_id: owner.0,
            org_unit_id: owner.1,
            tags: Vec::new(),
            notes: None,
            archived: false,
            archived_at: None,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        account_store::insert_account(c, &account, actor.id()).await?;
        self.audit(c, Some(actor), "account", account.id.to_string(), "create", &created(&account)).await?;
        Ok((account, true))
    }

    /// The contact a lead becomes: the one named, the one it matched, the one with its
    /// phone or e-mail, or a new one; always a contact of `account`.
    async fn contact_for(&self, c: &mut Conn<'_>, actor: &Actor, lead: &Lead, account: &Account, named: Option<ContactId>) -> AppResult<(Contact, bool)> {
        let ws = actor.workspace();
        let mut candidate = named.or(lead.contact_id);
        if candidate.is_none() {
            for (column, key) in [(ContactKey::Phone, &lead.phone_key), (ContactKey::Email, &lead.email_key)] {
                if let Some(k) = key {
                    if let Some(found) = contact_store::find_contact_by_key(c, ws, column, k).await? {
                        candidate = Some(found);
                        break;
                    }
                }
            }
        }
        if let Some(existing) = candidate {
            return match contact_store::find_contact(c, ws, &actor.scope, existing).await? {
                Some(k) if k.account_id == account.id => Ok((k, false)),
                Some(k) => Err(AppError::Conflict {
                    code: "contact_of_another_account",
                    message: "the lead's phone or e-mail belongs to a contact of another account; convert into that account or change the lead".into(),
                    details: json!({ "contact_id": k.id.to_string(), "account_id": k.account_id.to_string() }),
                }),
                None if named.is_some() => Err(AppError::field("contact_id", "does not name a contact you can see")),
                None => Err(AppError::Conflict {
                    code: "contact_outside_scope",
                    message: "the lead's phone or e-mail belongs to a contact you cannot see".into(),
                    details: json!({ "contact_id": existing.to_string() }),
                }),
            };
        }
        let Some(name) = lead.contact_name.clone() else {
            return Err(AppError::field("contact_name", "the lead has no contact name; add one before converting"));
        };
        let now = self.now();
        let contact = Contact {
            id: ContactId::from_uuid(self.mint()),
            workspace_id: ws,
            account_id: account.id,
            name,
            title: lead.title.clone(),
            phone: lead.phone.clone(),
            phone_key: lead.phone_key.clone(),
            email: lead.email.clone(),
            email_key: lead.email_key.clone(),
            wechat: None,
            decision_role: match lead.bant.is_decision_maker {
                Some(true) => DecisionRole::DecisionMaker,
                Some(false) => DecisionRole::Influencer,
                None => DecisionRole::Other,
            },
            attitude: Attitude::Neutral,
            reports_to_id: None,
            notes: lead.bant.need_description.clone().map(|n| format!("Need (from lead): {n}")),
            archived: false,
            archived_at: None,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        contact_store::insert_contact(c, &contact, actor.id()).await?;
        self.audit(c, Some(actor), "contact", contact.id.to_string(), "create", &created(&contact)).await?;
        Ok((contact, true))
    }
}

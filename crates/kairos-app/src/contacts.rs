//! Contacts (联系人), PRODUCT.md §2: people at an account, with their place in the decision
//! chain. A contact is visible to whoever sees its account.

use kairos_domain::audit::{changed, created};
use kairos_domain::contact::{Attitude, Contact, DecisionRole};
use kairos_domain::ids::{AccountId, ContactId};
use kairos_domain::{FieldErrors, text};
use kairos_store::contact::{self as store, ContactFilter, ContactKey};
use kairos_store::page::Sort;
use kairos_store::{Conn, StoreError, account};
use serde::Deserialize;
use serde_json::json;

use crate::accounts::archived_refusal;
use crate::actor::Actor;
use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::input::{patch, patched_text, required_version};
use crate::listing::{self, ListPage};

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewContact {
    #[schema(format = Uuid)]
    pub account_id: String,
    pub name: String,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub wechat: Option<String>,
    /// Default: other.
    #[serde(default)]
    pub decision_role: Option<DecisionRole>,
    /// Default: neutral.
    #[serde(default)]
    pub attitude: Option<Attitude>,
    /// A contact of the same account.
    #[serde(default)]
    #[schema(format = Uuid)]
    pub reports_to_id: Option<String>,
    #[serde(default)]
    pub notes: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactPatch {
    #[serde(default)]
    pub version: Option<i64>,
    #[serde(default)]
    pub name: Option<String>,
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
    pub wechat: Option<Option<String>>,
    #[serde(default)]
    pub decision_role: Option<DecisionRole>,
    #[serde(default)]
    pub attitude: Option<Attitude>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub reports_to_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>)]
    pub notes: Option<Option<String>>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ContactQuery {
    /// Text search on name, title, e-mail and phone.
    pub q: Option<String>,
    pub account_id: Option<String>,
    pub decision_role: Option<String>,
    pub attitude: Option<String>,
    pub archived: Option<String>,
    /// `name`, `created_at`, `updated_at`; prefix `-` for descending.
    pub sort: Option<String>,
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

const SORTS: &[(&str, &str)] = &[("name", "name"), ("created_at", "created_at"), ("updated_at", "updated_at")];

/// Phone and e-mail as typed, with their duplicate keys.
struct Reach {
    phone: Option<(String, String)>,
    email: Option<(String, String)>,
}

fn parse_phone(errors: &mut FieldErrors, raw: Option<&str>) -> Option<(String, String)> {
    let shown = errors.check("phone", text::optional_text(raw, 40)).flatten()?;
    let key = errors.check("phone", text::phone_key(&shown))?;
    Some((shown, key))
}

fn parse_email(errors: &mut FieldErrors, raw: Option<&str>) -> Option<(String, String)> {
    let shown = errors.check("email", text::optional_text(raw, 254)).flatten()?;
    let key = errors.check("email", text::email_key(&shown))?;
    Some((shown, key))
}

impl App {
    pub async fn create_contact(&self, actor: &Actor, input: NewContact) -> AppResult<Contact> {
        let ws = actor.workspace();
        let mut errors = FieldErrors::new();
        let account_id = errors.check("account_id", AccountId::parse(&input.account_id));
        let name = errors.check("name", text::required_text(&input.name, 100));
        let title = errors.check("title", text::optional_text(input.title.as_deref(), 100)).flatten();
        let wechat = errors.check("wechat", text::optional_text(input.wechat.as_deref(), 100)).flatten();
        let notes = errors.check("notes", text::optional_text(input.notes.as_deref(), 10_000)).flatten();
        let reach = Reach { phone: parse_phone(&mut errors, input.phone.as_deref()), email: parse_email(&mut errors, input.email.as_deref()) };
        let reports_to = errors.check_opt("reports_to_id", input.reports_to_id.as_deref().map(ContactId::parse));

        let mut tx = self.begin().await?;
        if let Some(a) = account_id {
            match account::find_account(&mut tx.conn(), ws, &actor.scope, a).await? {
                None => errors.add("account_id", "does not name an account you can see"),
                Some(acc) if acc.archived => errors.add("account_id", "names an archived account"),
                Some(_) => {}
            }
        }
        let id = ContactId::from_uuid(self.mint());
        if let (Some(boss), Some(a)) = (reports_to, account_id) {
            check_reports_to(&mut tx.conn(), actor, &mut errors, id, a, boss).await?;
        }
        errors.finish()?;
        let (Some(account_id), Some(name)) = (account_id, name) else {
            return Err(AppError::internal("validated input lost a value"));
        };
        if let Some(dup) = duplicate_of(&mut tx.conn(), actor, &reach, None).await? {
            return Err(dup);
        }
        let now = self.now();
        let contact = Contact {
            id,
            workspace_id: ws,
            account_id,
            name,
            title,
            phone: reach.phone.as_ref().map(|p| p.0.clone()),
            phone_key: reach.phone.as_ref().map(|p| p.1.clone()),
            email: reach.email.as_ref().map(|e| e.0.clone()),
            email_key: reach.email.as_ref().map(|e| e.1.clone()),
            wechat,
            decision_role: input.decision_role.unwrap_or(DecisionRole::Other),
            attitude: input.attitude.unwrap_or(Attitude::Neutral),
            reports_to_id: reports_to,
            notes,
            archived: false,
            archived_at: None,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        match store::insert_contact(&mut tx.conn(), &contact, actor.id()).await {
            Err(StoreError::Unique { .. }) => {
                drop(tx);
                let mut conn = self.store.read().await?;
                return Err(duplicate_of(&mut conn.conn(), actor, &reach, None)
                    .await?
                    .unwrap_or_else(|| AppError::internal("unique contact conflict without a holder")));
            }
            other => other?,
        }
        self.audit(&mut tx.conn(), Some(actor), "contact", id.to_string(), "create", &created(&contact)).await?;
        tx.commit().await?;
        Ok(contact)
    }

    pub async fn get_contact(&self, actor: &Actor, id: &str) -> AppResult<Contact> {
        let id = parse_contact_id(id)?;
        let mut conn = self.store.read().await?;
        store::find_contact(&mut conn.conn(), actor.workspace(), &actor.scope, id)
            .await?
            .ok_or(AppError::NotFound { entity: "contact" })
    }

    pub async fn list_contacts(&self, actor: &Actor, query: &ContactQuery) -> AppResult<ListPage<Contact>> {
        let mut errors = FieldErrors::new();
        let account = errors.check_opt("account_id", query.account_id.as_deref().filter(|s| !s.is_empty()).map(AccountId::parse));
        let decision_role = query.decision_role.as_deref().filter(|s| !s.is_empty()).and_then(|r| {
            let parsed = DecisionRole::from_stored(r);
            if parsed.is_none() {
                errors.add("decision_role", format!("unknown decision role {r:?}; expected decision_maker, influencer, user, gatekeeper or other"));
            }
            parsed
        });
        let attitude = query.attitude.as_deref().filter(|s| !s.is_empty()).and_then(|a| {
            let parsed = Attitude::from_stored(a);
            if parsed.is_none() {
                errors.add("attitude", format!("unknown attitude {a:?}; expected champion, supporter, neutral or opponent"));
            }
            parsed
        });
        let archived = listing::flag(&mut errors, "archived", query.archived.as_deref());
        let sort = listing::sort(&mut errors, query.sort.as_deref(), SORTS, Sort { column: "name", descending: false });
        let page = listing::page_request(&mut errors, query.limit.as_deref(), query.cursor.as_deref());
        errors.finish()?;
        let filter = ContactFilter { q: query.q.clone(), account, decision_role, attitude, archived };
        let mut conn = self.store.read().await?;
        let found = store::list_contacts(&mut conn.conn(), actor.workspace(), &actor.scope, &filter, sort, page).await?;
        Ok(ListPage::from_page(found))
    }

    /// The account names of contacts the caller listed (a contact is visible through its
    /// account, so its account's name is too), in one read.
    pub async fn account_names_of(&self, actor: &Actor, contacts: &[Contact]) -> AppResult<std::collections::HashMap<String, String>> {
        let mut ids: Vec<_> = contacts.iter().map(|c| c.account_id).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut conn = self.store.read().await?;
        let names = kairos_store::account::names_of(&mut conn.conn(), actor.workspace(), &ids).await?;
        Ok(names.into_iter().map(|(id, name)| (id.to_string(), name)).collect())
    }

    pub async fn update_contact(&self, actor: &Actor, id: &str, input: ContactPatch) -> AppResult<Contact> {
        let id = parse_contact_id(id)?;
        let ws = actor.workspace();
        let mut errors = FieldErrors::new();
        let version = required_version(&mut errors, input.version);
        let name = errors.check_opt("name", input.name.as_deref().map(|n| text::required_text(n, 100)));

        let mut tx = self.begin().await?;
        let old = store::find_contact(&mut tx.conn(), ws, &actor.scope, id)
            .await?
            .ok_or(AppError::NotFound { entity: "contact" })?;
        let mut new = old.clone();
        new.title = patched_text(&mut errors, "title", old.title.clone(), input.title, 100);
        new.wechat = patched_text(&mut errors, "wechat", old.wechat.clone(), input.wechat, 100);
        new.notes = patched_text(&mut errors, "notes", old.notes.clone(), input.notes, 10_000);
        let mut reach = Reach { phone: None, email: None };
        match input.phone {
            None => reach.phone = old.phone.clone().zip(old.phone_key.clone()),
            Some(p) => reach.phone = parse_phone(&mut errors, p.as_deref()),
        }
        match input.email {
            None => reach.email = old.email.clone().zip(old.email_key.clone()),
            Some(e) => reach.email = parse_email(&mut errors, e.as_deref()),
        }
        match input.reports_to_id {
            None => {}
            Some(None) => new.reports_to_id = None,
            Some(Some(text)) => {
                if let Some(boss) = errors.check("reports_to_id", ContactId::parse(&text)) {
                    check_reports_to(&mut tx.conn(), actor, &mut errors, id, old.account_id, boss).await?;
                    new.reports_to_id = Some(boss);
                }
            }
        }
        errors.finish()?;
        if old.archived {
            return Err(archived_refusal("contact"));
        }
        if version != old.version {
            return Err(AppError::StaleVersion { current_version: Some(old.version) });
        }
        if let Some(name) = name {
            new.name = name;
        }
        if let Some(r) = input.decision_role {
            new.decision_role = r;
        }
        if let Some(a) = input.attitude {
            new.attitude = a;
        }
        new.phone = reach.phone.as_ref().map(|p| p.0.clone());
        new.phone_key = reach.phone.as_ref().map(|p| p.1.clone());
        new.email = reach.email.as_ref().map(|e| e.0.clone());
        new.email_key = reach.email.as_ref().map(|e| e.1.clone());
        let changes = changed(&old, &new);
        if changes.is_empty() {
            tx.rollback().await?;
            return Ok(old);
        }
        let only_new = Reach {
            phone: reach.phone.clone().filter(|p| Some(&p.1) != old.phone_key.as_ref()),
            email: reach.email.clone().filter(|e| Some(&e.1) != old.email_key.as_ref()),
        };
        if let Some(dup) = duplicate_of(&mut tx.conn(), actor, &only_new, Some(id)).await? {
            return Err(dup);
        }
        new.version = old.version + 1;
        new.updated_at = self.now();
        match store::update_contact(&mut tx.conn(), &new, old.version).await {
            Err(StoreError::Unique { .. }) => {
                drop(tx);
                let mut conn = self.store.read().await?;
                return Err(duplicate_of(&mut conn.conn(), actor, &only_new, Some(id))
                    .await?
                    .unwrap_or_else(|| AppError::internal("unique contact conflict without a holder")));
            }
            other => other?,
        }
        self.audit(&mut tx.conn(), Some(actor), "contact", id.to_string(), "update", &changes).await?;
        tx.commit().await?;
        Ok(new)
    }

    pub async fn archive_contact(&self, actor: &Actor, id: &str, version: Option<i64>) -> AppResult<Contact> {
        self.set_contact_archived(actor, id, version, true).await
    }

    pub async fn restore_contact(&self, actor: &Actor, id: &str, version: Option<i64>) -> AppResult<Contact> {
        self.set_contact_archived(actor, id, version, false).await
    }

    async fn set_contact_archived(&self, actor: &Actor, id: &str, version: Option<i64>, archive: bool) -> AppResult<Contact> {
        let id = parse_contact_id(id)?;
        let mut tx = self.begin().await?;
        let old = store::find_contact(&mut tx.conn(), actor.workspace(), &actor.scope, id)
            .await?
            .ok_or(AppError::NotFound { entity: "contact" })?;
        if version.is_some_and(|v| v != old.version) {
            return Err(AppError::StaleVersion { current_version: Some(old.version) });
        }
        if old.archived == archive {
            return Ok(old);
        }
        let now = self.now();
        let mut new = old.clone();
        new.archived = archive;
        new.archived_at = archive.then_some(now);
        new.updated_at = now;
        new.version = old.version + 1;
        store::update_contact(&mut tx.conn(), &new, old.version).await?;
        let action = if archive { "delete" } else { "restore" };
        self.audit(&mut tx.conn(), Some(actor), "contact", id.to_string(), action, &changed(&old, &new)).await?;
        tx.commit().await?;
        Ok(new)
    }
}

fn parse_contact_id(id: &str) -> AppResult<ContactId> {
    ContactId::parse(id).map_err(|_| AppError::NotFound { entity: "contact" })
}

/// The boss must be a visible contact of the same account, and the link must not close a
/// loop (A reports to B reports to A).
async fn check_reports_to(
    c: &mut Conn<'_>,
    actor: &Actor,
    errors: &mut FieldErrors,
    me: ContactId,
    account: AccountId,
    boss: ContactId,
) -> AppResult<()> {
    if boss == me {
        errors.add("reports_to_id", "a contact cannot report to themselves");
        return Ok(());
    }
    match store::find_contact(c, actor.workspace(), &actor.scope, boss).await? {
        Some(b) if b.account_id == account => {
            let chain = store::reports_to_chain(c, actor.workspace(), boss).await?;
            if chain.contains(&me) {
                errors.add("reports_to_id", "would make a reporting loop");
            }
        }
        Some(_) => errors.add("reports_to_id", "must be a contact of the same account"),
        None => errors.add("reports_to_id", "does not name a contact you can see"),
    }
    Ok(())
}

async fn duplicate_of(c: &mut Conn<'_>, actor: &Actor, reach: &Reach, except: Option<ContactId>) -> AppResult<Option<AppError>> {
    for (field, column, key) in [
        ("phone", ContactKey::Phone, reach.phone.as_ref().map(|p| &p.1)),
        ("email", ContactKey::Email, reach.email.as_ref().map(|e| &e.1)),
    ] {
        let Some(key) = key else { continue };
        if let Some(existing) = store::find_contact_by_key(c, actor.workspace(), column, key).await? {
            if Some(existing) != except {
                return Ok(Some(AppError::Conflict {
                    code: "duplicate",
                    message: format!("a contact with the same {field} already exists"),
                    details: json!({ "field": field, "existing_id": existing.to_string() }),
                }));
            }
        }
    }
    Ok(None)
}

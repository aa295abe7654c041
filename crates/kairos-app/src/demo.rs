//! `kairos demo`: a workspace of realistic Chinese B2B data — org tree, people in every
//! role, accounts, contacts with decision roles, and opportunities spread over every stage
//! and outcome with 18 months of history, ticked checklists and approvals.
//!
//! The data is generated with the domain's own rules (numbering, health, working days) and
//! written through the store in large transactions, because pushing 100,000 deals one
//! request at a time through the engine would take an hour. Everything written here is
//! something the engine could have written.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};

use crate::opportunities::fmt_date;
use kairos_domain::activity::{Activity, ActivityKind, RecordKind, Task, TaskDraft, TaskOrigin};
use kairos_domain::contact::{Attitude, Contact, DecisionRole};
use kairos_domain::health::health;
use kairos_domain::identity::Role;
use kairos_domain::ids::{AccountId, ActivityId, ApprovalId, CloseReasonId, ContactId, OpportunityId, OrgUnitId, TaskId, UserId, WorkspaceId};
use kairos_domain::numbering::NumberPattern;
use kairos_domain::opportunity::{OppContact, OppStatus, Opportunity};
use kairos_domain::org::{OrgUnit, OrgUnitKind};
use kairos_domain::process::{ForecastCategory, SalesProcess};
use kairos_store::approval::{self, Approval};
use kairos_store::opportunity::{self as opp_store, HistoryEntry};
use kairos_store::{account, contact, org_unit, process as process_store, settings};

use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::users::UserSpec;
use crate::workspaces::WorkspaceSpec;

pub const DEMO_PASSWORD: &str = "kairos-demo-2026";

#[derive(Debug, Clone)]
pub struct DemoSpec {
    /// Multiplies accounts, contacts and opportunities (1 = 300 / 600 / 1,500).
    pub scale: u32,
    pub seed: u64,
    /// At most this many more revisions of each deal's amount or expected close while it is
    /// open (as many as 0 to this, evenly), for a denser history than the one a deal's moves
    /// and single slip give (about 3.6 events a deal). 0: none, and the same data as before
    /// the option.
    pub revisions: u32,
}

#[derive(Debug, Clone)]
pub struct DemoSummary {
    pub workspace: WorkspaceId,
    /// (e-mail, roles) of every demo user; all share [`DEMO_PASSWORD`].
    pub logins: Vec<(String, String)>,
    pub accounts: usize,
    pub contacts: usize,
    pub opportunities: usize,
}

const CITIES: &[&str] = &["上海", "北京", "深圳", "杭州", "南京", "苏州", "成都", "武汉", "天津", "广州", "西安", "青岛", "宁波", "厦门", "合肥", "长沙"];
const WORDS: &[&str] = &["华信", "博远", "中科", "天成", "恒通", "金桥", "新能", "瑞达", "汇智", "东方", "长城", "海纳", "卓越", "启明", "盛世", "远景", "联创", "中正", "明德", "众合"];
const INDUSTRIES: &[(&str, &str)] = &[("制造", "智能制造"), ("金融", "金融科技"), ("医疗", "医疗器械"), ("零售", "商贸"), ("能源", "能源"), ("汽车", "汽车零部件"), ("教育", "教育科技"), ("物流", "供应链"), ("政府", "信息中心"), ("互联网", "网络科技")];
const SUFFIXES: &[&str] = &["有限公司", "股份有限公司", "集团有限公司", "科技有限公司"];
const SURNAMES: &[&str] = &["王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "胡", "朱", "高", "林", "何", "郭", "马", "罗"];
const GIVEN: &[&str] = &["伟", "芳", "娜", "敏", "静", "磊", "洋", "勇", "军", "杰", "娟", "涛", "明", "超", "霞", "平", "刚", "桂英", "建华", "志强"];
const TITLES: &[(&str, DecisionRole)] = &[
    ("总经理", DecisionRole::DecisionMaker),
    ("CIO", DecisionRole::DecisionMaker),
    ("IT总监", DecisionRole::Influencer),
    ("采购经理", DecisionRole::Gatekeeper),
    ("财务总监", DecisionRole::Influencer),
    ("业务主管", DecisionRole::User),
    ("系统管理员", DecisionRole::User),
];
const PRODUCTS: &[&str] = &["ERP", "CRM", "数据平台", "云服务", "安全", "物联网"];
const SOURCES: &[&str] = &["referral", "inbound", "exhibition", "lead", "partner", "cold_call"];
const COMPETITORS: &[&str] = &["用友", "金蝶", "Salesforce", "SAP", "纷享销客", "Oracle"];

struct Person {
    id: UserId,
    unit: Option<OrgUnitId>,
    region: String,
}

impl App {
    /// Builds the demo workspace. Refuses when the database already holds one named like it.
    pub async fn build_demo(&self, spec: DemoSpec) -> AppResult<DemoSummary> {
        let scale = spec.scale.clamp(1, 1000) as usize;
        let mut rng = fastrand::Rng::with_seed(spec.seed);
        let created = self
            .init_workspace(WorkspaceSpec {
                name: "凯洛斯演示科技有限公司".into(),
                admin_email: "admin@demo.kairos".into(),
                admin_password: DEMO_PASSWORD.into(),
                admin_name: Some("系统管理员".into()),
                locale: Some("zh-CN".into()),
            })
            .await?;
        let ws = created.workspace.id;
        let hq = created.headquarters.id;
        let now = self.now();
        let mut logins = vec![("admin@demo.kairos".to_string(), "admin".to_string())];

        // Org tree: HQ › 华东 (SH) › SH1, SH2; HQ › 华北 (BJ) › BJ1, BJ2.
        let mut units: Vec<(OrgUnitId, &str)> = Vec::new();
        let mut tx = self.begin().await?;
        for (branch, bcode, teams) in [("华东分公司", "SH", [("上海一组", "SH1"), ("杭州组", "SH2")]), ("华北分公司", "BJ", [("北京一组", "BJ1"), ("天津组", "BJ2")])] {
            let b = self.demo_unit(&mut tx.conn(), ws, Some(hq), branch, bcode, OrgUnitKind::Branch, now).await?;
            units.push((b, bcode));
            for (team, tcode) in teams {
                let t = self.demo_unit(&mut tx.conn(), ws, Some(b), team, tcode, OrgUnitKind::Team, now).await?;
                units.push((t, tcode));
            }
        }
        tx.commit().await?;
        let unit = |code: &str| units.iter().find(|(_, c)| *c == code).map(|(id, _)| *id);

        // People: a director, branch and team managers, three reps per team, and the
        // supporting roles.
        let mut reps: Vec<Person> = Vec::new();
        let mut managers: HashMap<OrgUnitId, UserId> = HashMap::new();
        let add = |email: String, name: String, code: &str, role: Role| (email, name, code.to_string(), role);
        let mut people = vec![add("director@demo.kairos".into(), "赵总监".into(), "HQ", Role::Director)];
        for code in ["SH", "BJ", "SH1", "SH2", "BJ1", "BJ2"] {
            people.push(add(format!("manager.{}@demo.kairos", code.to_lowercase()), format!("{code}经理"), code, Role::Manager));
        }
        for code in ["SH1", "SH2", "BJ1", "BJ2"] {
            for i in 1..=3 {
                let name = format!("{}{}", SURNAMES[rng.usize(..SURNAMES.len())], GIVEN[rng.usize(..GIVEN.len())]);
                people.push(add(format!("rep.{}.{i}@demo.kairos", code.to_lowercase()), name, code, Role::SalesRep));
            }
        }
        for (email, name, role) in [
            ("presales@demo.kairos", "售前工程师", Role::Presales),
            ("csm@demo.kairos", "客户成功经理", Role::CustomerSuccess),
            ("finance@demo.kairos", "财务", Role::Finance),
            ("legal@demo.kairos", "法务", Role::Legal),
        ] {
            people.push(add(email.into(), name.into(), "HQ", role));
        }
        for (email, name, code, role) in people {
            let org = if code == "HQ" { Some(hq) } else { unit(&code) };
            let user = self
                .add_user(ws, None, UserSpec { email: email.clone(), display_name: name, password: DEMO_PASSWORD.into(), org_unit_id: org.map(|u| u.to_string()), roles: vec![role], locale: Some("zh-CN".into()) })
                .await?;
            logins.push((email, role.as_str().to_string()));
            match role {
                Role::Manager => {
                    if let Some(u) = org {
                        managers.insert(u, user.id);
                    }
                }
                Role::SalesRep => reps.push(Person { id: user.id, unit: org, region: code.clone() }),
                _ => {}
            }
        }
        let mut tx = self.begin().await?;
        for (u, m) in &managers {
            let mut ou = org_unit::find_org_unit(&mut tx.conn(), ws, *u).await?.ok_or_else(|| AppError::internal("unit vanished"))?;
            let v = ou.version;
            ou.manager_id = Some(*m);
            ou.version += 1;
            org_unit::update_org_unit(&mut tx.conn(), &ou, v).await?;
        }
        // 2026 public holidays and make-up days, so working-day counts are realistic.
        let holidays = [
            ("2026-01-01", "holiday"), ("2026-02-16", "holiday"), ("2026-02-17", "holiday"), ("2026-02-18", "holiday"), ("2026-02-19", "holiday"),
            ("2026-02-20", "holiday"), ("2026-02-14", "workday"), ("2026-02-28", "workday"), ("2026-04-06", "holiday"), ("2026-05-01", "holiday"),
            ("2026-05-04", "holiday"), ("2026-05-05", "holiday"), ("2026-06-19", "holiday"), ("2026-09-25", "holiday"), ("2026-10-01", "holiday"),
            ("2026-10-02", "holiday"), ("2026-10-05", "holiday"), ("2026-10-06", "holiday"), ("2026-10-07", "holiday"), ("2026-09-27", "workday"), ("2026-10-10", "workday"),
        ];
        let days: Vec<settings::CalendarDay> = holidays
            .iter()
            .filter_map(|(d, k)| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok().map(|day| settings::CalendarDay { day, kind: k.to_string(), name: None }))
            .collect();
        settings::replace_calendar_days(&mut tx.conn(), ws, &days).await?;
        settings::upsert_fx_rate(&mut tx.conn(), ws, &settings::FxRate { currency: "USD".into(), valid_on: now.date_naive() - Duration::days(600), rate_micros: 7_150_000 }, now).await?;
        tx.commit().await?;

        // Accounts and contacts, in batches.
        let n_accounts = 300 * scale;
        let mut names = HashSet::new();
        let mut accounts: Vec<(AccountId, UserId, Option<OrgUnitId>, Vec<(ContactId, DecisionRole)>)> = Vec::with_capacity(n_accounts);
        let mut phone = 13_800_000_000u64;
        let mut contacts_written = 0usize;
        for chunk in (0..n_accounts).collect::<Vec<_>>().chunks(500) {
            let mut tx = self.begin().await?;
            for _ in chunk {
                let (industry, word) = INDUSTRIES[rng.usize(..INDUSTRIES.len())];
                let mut name = format!("{}{}{}{}", CITIES[rng.usize(..CITIES.len())], WORDS[rng.usize(..WORDS.len())], word, SUFFIXES[rng.usize(..SUFFIXES.len())]);
                let mut key = kairos_domain::text::company_key(&name);
                let mut n = 2;
                while !names.insert(key.clone()) {
                    name = format!("{}{}{}第{n}分公司", CITIES[rng.usize(..CITIES.len())], WORDS[rng.usize(..WORDS.len())], word);
                    key = kairos_domain::text::company_key(&name);
                    n += 1;
                }
                let owner = &reps[rng.usize(..reps.len())];
                let created_at = now - Duration::days(rng.i64(400..600));
                let a = kairos_domain::account::Account {
                    id: AccountId::from_uuid(self.mint()),
                    workspace_id: ws,
                    name,
                    name_key: key,
                    account_type: if industry == "政府" { kairos_domain::account::AccountType::Government } else { kairos_domain::account::AccountType::Enterprise },
                    industry: Some(industry.to_string()),
                    size: Some(["50-200", "200-1000", "1000+"][rng.usize(..3)].to_string()),
                    region: Some(owner.region.clone()),
                    address: None,
                    credit_rating: Some(["A", "B", "C"][rng.usize(..3)].to_string()),
                    owner_id: owner.id,
                    org_unit_id: owner.unit,
                    tags: vec![],
                    notes: None,
                    archived: false,
                    archived_at: None,
                    created_at,
                    updated_at: created_at,
                    version: 1,
                };
                account::insert_account(&mut tx.conn(), &a, owner.id).await?;
                let mut people = Vec::new();
                for k in 0..2 {
                    let (title, role) = if k == 0 { TITLES[rng.usize(..2)] } else { TITLES[rng.usize(2..TITLES.len())] };
                    phone += 1 + rng.u64(..7);
                    let shown = phone.to_string();
                    let kid = ContactId::from_uuid(self.mint());
                    let ct = Contact {
                        id: kid,
                        workspace_id: ws,
                        account_id: a.id,
                        name: format!("{}{}", SURNAMES[rng.usize(..SURNAMES.len())], GIVEN[rng.usize(..GIVEN.len())]),
                        title: Some(title.to_string()),
                        phone: Some(shown.clone()),
                        phone_key: Some(shown),
                        email: None,
                        email_key: None,
                        wechat: None,
                        decision_role: role,
                        attitude: [Attitude::Champion, Attitude::Supporter, Attitude::Neutral, Attitude::Opponent][rng.usize(..4)],
                        reports_to_id: people.first().map(|(id, _)| *id),
                        notes: None,
                        archived: false,
                        archived_at: None,
                        created_at,
                        updated_at: created_at,
                        version: 1,
                    };
                    contact::insert_contact(&mut tx.conn(), &ct, owner.id).await?;
                    people.push((kid, role));
                    contacts_written += 1;
                }
                accounts.push((a.id, owner.id, owner.unit, people));
            }
            tx.commit().await?;
        }

        // Opportunities with their history.
        let process = process_store::list_processes(&mut self.store.read().await?.conn(), ws).await?.into_iter().find(|p| p.is_default).ok_or_else(|| AppError::internal("no default process"))?;
        let reasons = settings::list_close_reasons(&mut self.store.read().await?.conn(), ws).await?;
        let lost_reasons: Vec<CloseReasonId> = reasons.iter().filter(|r| r.outcome == "lost").filter_map(|r| CloseReasonId::parse(&r.id).ok()).collect();
        let invalid_reasons: Vec<CloseReasonId> = reasons.iter().filter(|r| r.outcome == "invalid").filter_map(|r| CloseReasonId::parse(&r.id).ok()).collect();
        let calendar = {
            let mut conn = self.store.read().await?;
            crate::calendar::load_calendar(&mut conn.conn(), ws).await?
        };
        let pattern = NumberPattern::default();
        let mut sequences: HashMap<String, u64> = HashMap::new();
        let n_opps = 1500 * scale;
        let region_of: HashMap<UserId, String> = reps.iter().map(|r| (r.id, r.region.clone())).collect();
        let mut pending_approvals = 0;
        for chunk in (0..n_opps).collect::<Vec<_>>().chunks(500) {
            let mut tx = self.begin().await?;
            for _ in chunk {
                let (account_id, owner, unit, people) = &accounts[rng.usize(..accounts.len())];
                let created_at = now - Duration::minutes(rng.i64(60 * 24 * 3..60 * 24 * 540));
                let local = calendar.local_date(created_at);
                let region = region_of.get(owner).cloned().unwrap_or_else(|| "HQ".into());
                let key = pattern.sequence_key(local.year(), &region);
                let seq = sequences.entry(key).and_modify(|s| *s += 1).or_insert(1);
                self.demo_opportunity(&mut tx.conn(), &mut rng, &process, &calendar, ws, *account_id, *owner, *unit, people, created_at, pattern.render(local.year(), local.month(), &region, *seq), &lost_reasons, &invalid_reasons, &managers, &mut pending_approvals, spec.revisions)
                    .await?;
            }
            tx.commit().await?;
            if chunk[0] % 10_000 == 0 {
                // Folded as the jobs would fold them while a real team works: every history
                // write adds rows to each rollup, some millions at a million deals.
                self.fold_rollups().await?;
                self.store.checkpoint().await?;
            }
        }
        let mut tx = self.begin().await?;
        for (key, last) in &sequences {
            tx.conn()
                .execute(
                    &kairos_store::sql("INSERT INTO number_sequence (workspace_id, scope_key, last_value) VALUES ($1, $2, $3)")
                        .bind(ws.to_string())
                        .bind(key.clone())
                        .bind(*last as i64),
                )
                .await?;
        }
        tx.commit().await?;
        // Every event and activity wrote its own rollup rows; folded, the whole workspace's
        // pipeline changes are a few thousand rows per year, its activity counts one per day
        // and owner.
        self.fold_rollups().await?;
        // Bulk loads leave the planner's statistics stale (autovacuum may be off).
        self.store.analyze().await?;
        // The risk flags, cadence tasks and alerts a day of work would have produced.
        self.scan_followups().await?;
        Ok(DemoSummary { workspace: ws, logins, accounts: accounts.len(), contacts: contacts_written, opportunities: n_opps })
    }

    #[allow(clippy::too_many_arguments)]
    async fn demo_unit(&self, c: &mut kairos_store::Conn<'_>, ws: WorkspaceId, parent: Option<OrgUnitId>, name: &str, code: &str, kind: OrgUnitKind, now: DateTime<Utc>) -> AppResult<OrgUnitId> {
        let unit = OrgUnit { id: OrgUnitId::from_uuid(self.mint()), workspace_id: ws, parent_id: parent, name: name.into(), code: code.into(), kind, manager_id: None, archived: false, created_at: now, updated_at: now, version: 1 };
        org_unit::insert_org_unit(c, &unit).await?;
        Ok(unit.id)
    }

    /// One deal: created at `created_at`, moved forward stage by stage with realistic dwell
    /// times, then left open, won, lost or made invalid.
    #[allow(clippy::too_many_arguments)]
    async fn demo_opportunity(
        &self,
        c: &mut kairos_store::Conn<'_>,
        rng: &mut fastrand::Rng,
        process: &SalesProcess,
        calendar: &kairos_domain::calendar::WorkCalendar,
        ws: WorkspaceId,
        account_id: AccountId,
        owner: UserId,
        unit: Option<OrgUnitId>,
        people: &[(ContactId, DecisionRole)],
        created_at: DateTime<Utc>,
        number: String,
        lost_reasons: &[CloseReasonId],
        invalid_reasons: &[CloseReasonId],
        managers: &HashMap<OrgUnitId, UserId>,
        pending_approvals: &mut usize,
        revisions: u32,
    ) -> AppResult<()> {
        let now = self.now();
        let stages: Vec<_> = process.stages.iter().filter(|s| !s.retired).collect();
        // How far the deal got, and how it ended.
        let reached = {
            let r = rng.f64();
            if r < 0.30 { 0 } else if r < 0.52 { 1 } else if r < 0.70 { 2 } else if r < 0.85 { 3 } else { 4 }
        };
        let age_days = (now - created_at).num_days();
        let outcome = match rng.f64() {
            x if age_days < 60 || x < 0.30 => OppStatus::Open,
            x if x < 0.30 + 0.12 * (reached as f64 + 1.0) / 2.5 => OppStatus::Won,
            x if x < 0.90 => OppStatus::Lost,
            _ => OppStatus::Invalid,
        };
        let reached = if outcome == OppStatus::Won { 4.max(reached) } else { reached };
        let amount = (rng.i64(5..300) * 10_000 + rng.i64(0..10_000)) * 100 * if rng.f64() < 0.1 { 10 } else { 1 };
        let currency = if rng.f64() < 0.05 { "USD" } else { "CNY" };
        let mut need = [0u8; 10];
        for n in need.iter_mut() {
            *n = (rng.u8(3..=10)).min(10);
        }
        let contacts: Vec<OppContact> = people.iter().map(|(id, role)| OppContact { contact_id: *id, role: *role, reached: rng.f64() < 0.7 }).collect();
        let mut o = Opportunity {
            id: OpportunityId::from_uuid(self.mint()),
            workspace_id: ws,
            number,
            name: format!("{}项目", PRODUCTS[rng.usize(..PRODUCTS.len())]),
            account_id,
            primary_contact_id: people.first().map(|p| p.0),
            owner_id: owner,
            org_unit_id: unit,
            process_id: process.id,
            stage_id: stages[0].id,
            status: OppStatus::Open,
            amount,
            currency: currency.into(),
            expected_close_date: Some((created_at + Duration::days(rng.i64(60..240))).date_naive()),
            probability: stages[0].probability,
            probability_reason: None,
            forecast_category: stages[0].forecast_category,
            source: Some(SOURCES[rng.usize(..SOURCES.len())].to_string()),
            business_type: Some(["new", "expansion", "renewal"][rng.usize(..3)].to_string()),
            product_category: Some(PRODUCTS[rng.usize(..PRODUCTS.len())].to_string()),
            competitors: if rng.f64() < 0.6 { vec![COMPETITORS[rng.usize(..COMPETITORS.len())].to_string()] } else { vec![] },
            tags: vec![],
            priority: false,
            need_items: need,
            budget_approved: rng.f64() < 0.6,
            in_annual_plan: rng.f64() < 0.5,
            health: health(&Default::default()),
            contract_number: None,
            contract_signed_on: None,
            stage_entered_at: created_at,
            closed_at: None,
            close_reason_id: None,
            close_competitor: None,
            close_note: None,
            review_due_on: None,
            imported: false,
            created_at,
            updated_at: created_at,
            version: 1,
        };
        o.health = health(&o.health_inputs(&contacts));
        let entry = |id: uuid::Uuid, at: DateTime<Utc>, kind: &str, o: &Opportunity| HistoryEntry::of(id, at, Some(owner), kind, o);
        // A field of an open deal changed, as the product's own edits record it (`field_history`).
        let field_change = |id: uuid::Uuid, at: DateTime<Utc>, field: &str, old_value: Option<String>, new_value: Option<String>, o: &Opportunity| HistoryEntry {
            field: Some(field.into()),
            old_value,
            new_value,
            from_stage_id: Some(o.stage_id.to_string()),
            to_stage_id: Some(o.stage_id.to_string()),
            from_status: Some("open".into()),
            to_status: Some("open".into()),
            ..entry(id, at, "field", o)
        };
        let mut history = vec![HistoryEntry {
            to_stage_id: Some(stages[0].id.to_string()),
            to_stage_name: Some(stages[0].name.clone()),
            to_status: Some("open".into()),
            ..entry(self.mint(), created_at, "created", &o)
        }];
        let mut at = created_at;
        let mut ticks = Vec::new();
        for next in stages.iter().skip(1).take(reached) {
            let dwell = (next.expected_dwell_days.max(3) as f64 * (0.4 + rng.f64() * 1.4) * 86_400.0) as i64;
            let later = at + Duration::seconds(dwell);
            if later >= now - Duration::hours(1) {
                break;
            }
            for item in &next.criteria.checklist {
                ticks.push((next.id, item.key.clone(), later - Duration::hours(2)));
            }
            let from = stages.iter().find(|s| s.id == o.stage_id).map(|s| s.name.clone());
            history.push(HistoryEntry {
                from_stage_id: Some(o.stage_id.to_string()),
                from_stage_name: from,
                to_stage_id: Some(next.id.to_string()),
                to_stage_name: Some(next.name.clone()),
                from_status: Some("open".into()),
                to_status: Some("open".into()),
                days_in_stage: Some((later - o.stage_entered_at).num_seconds() as f64 / 86_400.0),
                working_days_in_stage: Some(calendar.working_days_between(o.stage_entered_at, later)),
                probability: next.probability as i64,
                ..entry(self.mint(), later, "moved", &o)
            });
            o.stage_id = next.id;
            o.probability = next.probability;
            o.forecast_category = next.forecast_category;
            o.stage_entered_at = later;
            at = later;
        }
        // Some deals slipped: their expected close moved out once.
        if rng.f64() < 0.25 {
            let slip_at = at + Duration::days(rng.i64(1..10));
            if slip_at < now {
                let old = o.expected_close_date;
                o.expected_close_date = old.map(|d| d + Duration::days(rng.i64(14..60)));
                let new = o.expected_close_date.map(|d| d.to_string());
                history.push(field_change(self.mint(), slip_at, "expected_close_date", old.map(|d| d.to_string()), new, &o));
                at = slip_at;
            }
        }
        // A denser history on request: the amount or the expected close revised again, a few
        // days apart, as the product's own edits record them (`field_history`). No draw is
        // made without it, so the data are otherwise the same.
        if revisions > 0 {
            for _ in 0..rng.u32(0..=revisions) {
                let when = at + Duration::days(rng.i64(1..8));
                if when >= now {
                    break;
                }
                let (field, old_value, new_value) = if rng.bool() {
                    let old = format!("{} {}", o.amount, o.currency);
                    o.amount = (o.amount / 100 * rng.i64(85..=115) / 100).max(1) * 100;
                    ("amount", old, format!("{} {}", o.amount, o.currency))
                } else {
                    let old = o.expected_close_date;
                    o.expected_close_date = old.map(|d| d + Duration::days(rng.i64(-20..40)));
                    ("expected_close_date", fmt_date(old), fmt_date(o.expected_close_date))
                };
                history.push(field_change(self.mint(), when, field, Some(old_value), Some(new_value), &o));
                at = when;
            }
        }
        if outcome != OppStatus::Open {
            let closed_at = at + Duration::seconds((rng.f64() * 20.0 * 86_400.0) as i64 + 3600);
            if closed_at < now {
                let stage_name = stages.iter().find(|s| s.id == o.stage_id).map(|s| s.name.clone());
                o.status = outcome;
                o.closed_at = Some(closed_at);
                o.forecast_category = ForecastCategory::Closed;
                o.probability = if outcome == OppStatus::Won { 100 } else { 0 };
                match outcome {
                    OppStatus::Won => {
                        o.contract_number = Some(format!("HT-{}", o.number));
                        o.contract_signed_on = Some(closed_at.date_naive());
                    }
                    OppStatus::Lost => {
                        o.close_reason_id = Some(lost_reasons[rng.usize(..lost_reasons.len())]);
                        o.close_competitor = o.competitors.first().cloned();
                    }
                    _ => o.close_reason_id = Some(invalid_reasons[rng.usize(..invalid_reasons.len())]),
                }
                if matches!(outcome, OppStatus::Won | OppStatus::Lost) {
                    o.review_due_on = Some(calendar.add_working_days(calendar.local_date(closed_at), 7));
                }
                history.push(HistoryEntry {
                    from_stage_id: Some(o.stage_id.to_string()),
                    from_stage_name: stage_name.clone(),
                    to_stage_id: Some(o.stage_id.to_string()),
                    to_stage_name: stage_name,
                    from_status: Some("open".into()),
                    to_status: Some(outcome.as_str().into()),
                    days_in_stage: Some((closed_at - o.stage_entered_at).num_seconds() as f64 / 86_400.0),
                    working_days_in_stage: Some(calendar.working_days_between(o.stage_entered_at, closed_at)),
                    probability: o.probability as i64,
                    ..entry(self.mint(), closed_at, "closed", &o)
                });
                at = closed_at;
            }
        }
        o.updated_at = at;
        o.priority = o.is_open() && o.currency == "CNY" && kairos_domain::opportunity::is_priority(o.health.score, o.amount, 85, 50_000_000);
        opp_store::insert_opportunity(c, &o, owner).await?;
        opp_store::replace_contacts(c, ws, o.id, &contacts, created_at).await?;
        opp_store::insert_history(c, ws, o.id, &history).await?;
        for (stage, key, when) in ticks {
            opp_store::set_tick(c, ws, o.id, stage, &key, Some((owner, when, None))).await?;
        }
        self.demo_activities(c, rng, &o, people, unit, at).await?;
        // A few open deals wait for their manager's approval to enter the next stage.
        if o.is_open() && *pending_approvals < 40 && rng.f64() < 0.05 {
            let pos = stages.iter().position(|s| s.id == o.stage_id).unwrap_or(0);
            if let (Some(next), Some(manager)) = (stages.get(pos + 1), unit.and_then(|u| managers.get(&u))) {
                let a = Approval {
                    id: ApprovalId::from_uuid(self.mint()).to_string(),
                    opportunity_id: o.id.to_string(),
                    from_stage_id: o.stage_id.to_string(),
                    to_stage_id: next.id.to_string(),
                    reason: format!("health {} is between 60 and 80", o.health.score),
                    note: Some("客户口头确认预算，附会议纪要".into()),
                    requested_by: owner.to_string(),
                    requested_at: at,
                    approver_id: Some(manager.to_string()),
                    approver_role: None,
                    status: "pending".into(),
                    decided_by: None,
                    decided_at: None,
                    comment: None,
                    version: 1,
                    need_stage_id: Some(next.id.to_string()),
                };
                approval::insert_approval(c, ws, &a).await?;
                *pending_approvals += 1;
            }
        }
        Ok(())
    }

    /// The touches of a deal's life: a call, visit or meeting every 2 to 14 days from its
    /// creation to its close (or now), with a contact of the account; an open deal's last
    /// one sometimes books a next step, which becomes a task.
    async fn demo_activities(
        &self,
        c: &mut kairos_store::Conn<'_>,
        rng: &mut fastrand::Rng,
        o: &Opportunity,
        people: &[(ContactId, DecisionRole)],
        unit: Option<OrgUnitId>,
        last_event: DateTime<Utc>,
    ) -> AppResult<()> {
        const KINDS: &[(ActivityKind, &str)] = &[
            (ActivityKind::Call, "电话沟通项目进展"),
            (ActivityKind::Visit, "上门拜访，了解现场需求"),
            (ActivityKind::Meeting, "与客户技术团队开会讨论方案"),
            (ActivityKind::Im, "微信确认下次沟通时间"),
            (ActivityKind::Email, "发送方案与报价说明"),
            (ActivityKind::Demo, "产品演示"),
        ];
        let now = self.now();
        let end = o.closed_at.unwrap_or(now).max(last_event.min(now));
        let mut at = o.created_at + Duration::hours(rng.i64(1..48));
        let mut times = Vec::new();
        while at < end && times.len() < 8 {
            times.push(at);
            at += Duration::hours(rng.i64(48..24 * 14));
        }
        let count = times.len();
        for (i, when) in times.into_iter().enumerate() {
            let (kind, summary) = KINDS[rng.usize(..KINDS.len())];
            let books_next = o.is_open() && i + 1 == count && rng.f64() < 0.4;
            let next = books_next.then(|| ("安排下一次拜访".to_string(), now + Duration::hours(rng.i64(2..24 * 10))));
            let mut a = Activity {
                id: ActivityId::from_uuid(self.mint()),
                workspace_id: o.workspace_id,
                kind,
                occurred_at: when,
                duration_minutes: Some(rng.u32(10..120)),
                opportunity_id: Some(o.id),
                account_id: Some(o.account_id),
                lead_id: None,
                contact_ids: people.get(rng.usize(..people.len().max(1))).map(|p| vec![p.0]).unwrap_or_default(),
                summary: summary.into(),
                outcome: None,
                next_step: next.as_ref().map(|n| n.0.clone()),
                next_step_at: next.as_ref().map(|n| n.1),
                next_task_id: None,
                owner_id: o.owner_id,
                org_unit_id: unit,
                created_at: when,
                updated_at: when,
                version: 1,
            };
            if let Some((title, due)) = next {
                let draft = TaskDraft {
                    title,
                    due_at: due,
                    assignee_id: o.owner_id,
                    org_unit_id: unit,
                    record: Some((RecordKind::Opportunity, o.id.to_string())),
                    origin: TaskOrigin::Activity,
                    origin_key: None,
                    created_by: Some(o.owner_id),
                };
                let t = Task::open(TaskId::from_uuid(self.mint()), o.workspace_id, draft, when);
                kairos_store::task::insert_task(c, &t).await?;
                a.next_task_id = Some(t.id);
            }
            kairos_store::activity::insert_activity(c, &a).await?;
        }
        Ok(())
    }

}

//! Template render tests: every template renders in both languages with representative
//! data, and every label a template or handler names exists in both catalogs.

use super::*;

#[test]
fn every_label_key_used_anywhere_exists_in_both_catalogs() {
    let mut sources: Vec<&str> = TEMPLATE_SOURCES.iter().map(|(_, s)| *s).collect();
    let rust = [
        include_str!("pipeline.rs"),
        include_str!("opportunity.rs"),
        include_str!("reports.rs"),
        include_str!("home.rs"),
        include_str!("approvals.rs"),
        include_str!("accounts.rs"),
        include_str!("leads.rs"),
        include_str!("session.rs"),
        include_str!("mod.rs"),
        include_str!("settings.rs"),
        include_str!("targets.rs"),
        include_str!("org.rs"),
        include_str!("process_designer.rs"),
        include_str!("contacts.rs"),
        include_str!("webhooks.rs"),
    ];
    sources.extend(rust);
    let mut keys = std::collections::BTreeSet::new();
    for source in &sources {
        // t["a.b"], t['a.b'], label("a.b"), l("a.b") and "a.b"|label.
        for (open, close) in [("t[\"", "\"]"), ("t['", "']"), ("label(\"", "\")"), ("l(\"", "\")"), ("(\"", "\"|label")] {
            let mut rest = *source;
            while let Some(i) = rest.find(open) {
                rest = &rest[i + open.len()..];
                if let Some(j) = rest.find(close) {
                    let key = &rest[..j];
                    if key.contains('.') && key.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) {
                        keys.insert(key.to_string());
                    }
                }
            }
        }
    }
    // Keys built from values (status.{s}, report.{r}, …): every value they can take.
    let families: [(&str, &[&str]); 22] = [
        ("forecast_category", &["pipeline", "best_case", "commit", "closed", "omitted"]),
        ("settings.outcome", &["lost", "invalid"]),
        ("settings.weekday", &["1", "2", "3", "4", "5", "6", "7"]),
        ("settings.kind", &["headquarters", "branch", "team"]),
        ("settings.subject", &["user", "org_unit"]),
        ("lead_status", &["new", "working", "qualified", "disqualified", "converted"]),
        ("source", &["exhibition", "web", "ad", "social", "partner", "referral", "inbound_call", "other"]),
        ("account_type", &["enterprise", "government", "institution", "individual"]),
        ("status", &["open", "won", "lost", "invalid"]),
        ("flag", &["priority", "overdue", "pending_approval"]),
        ("report", &["funnel", "conversion", "dwell", "cycle", "win_rate", "loss_reasons", "forecast", "movement", "trend", "team", "forecast_accuracy"]),
        ("explain", &["funnel", "conversion", "dwell", "cycle", "win_rate", "loss_reasons", "forecast", "movement", "trend", "team", "forecast_accuracy"]),
        ("group", &["owner", "org_unit", "product_category", "industry", "customer_type", "source", "process", "month", "quarter"]),
        ("interval", &["month", "quarter", "week"]),
        ("role", &["decision_maker", "influencer", "user", "gatekeeper", "other"]),
        ("attitude", &["champion", "supporter", "neutral", "opponent"]),
        ("approval", &["pending", "approved", "rejected", "cancelled"]),
        ("history", &["created", "moved", "closed", "reopened", "field"]),
        ("movement", &["new", "won", "lost", "pushed_out", "pulled_in", "value_up", "value_down", "advanced", "regressed"]),
        ("sort", &["-updated_at", "-amount", "amount", "expected_close_date", "-health_score", "name"]),
        ("risk", &["overdue", "low_health"]),
        ("field", &["amount", "expected_close_date", "primary_contact", "decision_maker", "source", "competitors", "product_category", "business_type", "need_items", "budget_approved", "contract_number", "contract_signed_on"]),
    ];
    for (prefix, values) in families {
        for v in values {
            keys.insert(format!("{prefix}.{v}"));
        }
    }
    // The report tabs and the movement categories come from the app; both must be covered.
    for (name, _) in super::reports::REPORTS {
        keys.insert(format!("report.{name}"));
        keys.insert(format!("explain.{name}"));
    }
    for r in kairos_domain::identity::Role::ALL {
        keys.insert(format!("user_role.{}", r.as_str()));
        keys.insert(format!("approval_rule.role:{}", r.as_str()));
    }
    keys.insert("approval_rule.none".into());
    keys.insert("approval_rule.direct_manager".into());
    for k in kairos_domain::process::OppField::ALL {
        keys.insert(format!("field.{}", k.as_str()));
    }
    assert!(keys.len() > 150, "the key scan found only {} keys; is it still reading the templates?", keys.len());
    for (lang, catalog) in [("en", &*i18n::EN), ("zh-CN", &*i18n::ZH_CN)] {
        let missing: Vec<&String> = keys.iter().filter(|k| !catalog.contains_key(k.as_str())).collect();
        assert!(missing.is_empty(), "{lang} lacks labels for {missing:?}");
    }
}

fn base(lang: Lang) -> Value {
    context! {
        lang => lang.code(), t => i18n::catalog(lang), csrf_token => "tok<en>",
        me => context! { id => "u1", name => "王<b>", email => "w@x", admin => true, manager => true }, nav => "home",
    }
}

fn render_ok(name: &str, ctx: Value) -> String {
    TEMPLATES.get_template(name).and_then(|t| t.render(ctx)).unwrap_or_else(|e| panic!("{name}: {e:#}"))
}

#[test]
fn login_and_error_pages_render_in_both_languages_and_escape_input() {
    for lang in [Lang::ZhCn, Lang::En] {
        let html = render_ok("login.html", context! { lang => lang.code(), t => i18n::catalog(lang), csrf_token => "x", error => "<script>", email => "\"><img>" });
        assert!(html.contains("&lt;script&gt;") && !html.contains("<script>alert"), "{html}");
        assert!(!html.contains("\"><img>"), "the e-mail must be escaped");
        let err = render_ok("error.html", context! { status => 404, message => i18n::label(lang, "error.not_found"), detail => "<x>", fields => Vec::<Value>::new(), ..base(lang) });
        assert!(err.contains(&i18n::label(lang, "error.not_found")) && err.contains("&lt;x&gt;"));
    }
}

#[test]
fn the_board_renders_columns_totals_cards_and_flags() {
    let board = serde_json::json!({
        "process_id": "p1", "base_currency": "CNY", "as_of": "2026-11-23",
        "columns": [{"stage_id": "s1", "name": "初步接洽", "probability": 10, "forecast_category": "pipeline", "count": 65, "amount": 3_250_000_000i64,
            "weighted_amount": 325_000_000, "unconverted_currencies": [], "next_cursor": "abc",
            "cards": [{"id": "o1", "number": "2026-001", "name": "ERP <升级>", "account_id": "a", "account_name": "华为", "owner_id": "u", "owner_name": "李雷",
                "amount": 50_000_000, "currency": "CNY", "expected_close_date": "2026-12-01", "health_score": 72, "probability": 10, "priority": true,
                "stage_entered_at": "2026-11-01T00:00:00Z", "version": 3, "days_in_stage": 22.0, "flags": ["priority", "pending_approval"]}]}]
    });
    for lang in [Lang::ZhCn, Lang::En] {
        let html = render_ok("pipeline.html", context! { processes => vec![context! { id => "p1", name => "默认" }], board => board.clone(), qs => "process_id=p1", query => context! {}, more => false, ..base(lang) });
        assert!(html.contains("ERP &lt;升级&gt;"), "card names are escaped");
        assert!(html.contains("data-stage=\"s1\"") && html.contains("data-id=\"o1\""));
        assert!(html.contains(&i18n::label(lang, "flag.pending_approval")));
        let total = if lang == Lang::ZhCn { "¥3250万" } else { "¥32.5M" };
        assert!(html.contains(total), "{lang:?} column amount {total} in {html}");
        assert!(html.contains("stage_id=s1&amp;cursor=abc") || html.contains("stage_id=s1&cursor=abc"));
    }
}

#[test]
fn the_gate_form_offers_an_input_for_every_missing_criterion() {
    let items = vec![
        context! { kind => "field", name => "amount", stage => "需求调研", input => "money", value => "", label => "金额", message => "" },
        context! { kind => "checklist", name => "needs_survey", stage => "需求调研", input => "tick", value => "s2:needs_survey", label => "完成需求调研", message => "" },
        context! { kind => "document", name => "需求确认单", stage => "方案呈现", input => "file", value => "", label => "需求确认单", message => "" },
        context! { kind => "field", name => "decision_maker", stage => "方案呈现", input => "card", value => "", label => "决策者", message => "" },
    ];
    let html = render_ok(
        "_gate.html",
        context! { id => "o1", to => "s3", target => "方案呈现", name => "n", number => "1", items, need_reason => false, errors => Vec::<Value>::new(), ..base(Lang::ZhCn) },
    );
    assert!(html.contains("name=\"f_amount\""));
    assert!(html.contains("name=\"tick\" value=\"s2:needs_survey\""));
    assert!(html.contains("name=\"doc:需求确认单\" type=\"file\""));
    assert!(html.contains("href=\"/opportunities/o1\""), "criteria without an inline input link to the card");
}

#[test]
fn lead_pages_render_scores_statuses_and_the_import_report() {
    let lead = serde_json::json!({
        "id": "l1", "source": "exhibition", "campaign": "CIIF <2026>", "company": "华东<精密>", "company_key": null, "contact_name": "王经理", "title": null,
        "phone": "139", "email": null, "region": "华东", "industry": null, "notes": "line1\nline2", "budget_amount": 50_000_000, "budget_approved": true,
        "is_decision_maker": null, "need_description": null, "need_match": 80, "expected_purchase_date": "2027-03-01", "status": "qualified",
        "disqualify_reason": null, "score": 65, "score_hits": [{"rule": "Exhibition", "points": 10}, {"rule": "Cold", "points": -5}, {"rule": "BANT: need", "points": 10}], "owner_id": null,
        "org_unit_id": null, "assigned_at": null, "assigned_by_rule": "no assignment rule matched", "account_id": null, "contact_id": null,
        "opportunity_id": null, "converted_at": null, "archived": false, "archived_at": null, "created_at": "2026-11-23T01:00:00Z",
        "updated_at": "2026-11-23T01:00:00Z", "version": 2
    });
    for lang in [Lang::ZhCn, Lang::En] {
        let statuses = vec!["new", "working", "qualified", "disqualified"];
        let html = render_ok("lead.html", context! { l => lead.clone(), owner => "", statuses, read_only => false, ..base(lang) });
        assert!(html.contains("华东&lt;精密&gt;") && html.contains("CIIF &lt;2026&gt;"), "escaped");
        assert!(html.contains("hx-post=\"/leads/l1/claim\""), "a pool lead offers the claim");
        assert!(html.contains("-5") && html.contains("+10"));
        assert!(html.contains(&i18n::label(lang, "leads.bant_need")) && html.contains(&i18n::label(lang, "leads.by_no_rule")), "BANT and pool reasons are translated");
        assert!(html.contains(&i18n::label(lang, "lead_status.qualified")));
        let rows = vec![lead.clone()];
        let owners: HashMap<String, String> = HashMap::new();
        let query = serde_json::json!({"q": null, "status": "qualified", "source": null, "owner_id": "pool"});
        let html = render_ok("leads.html", context! { rows, total => 1, next => (), query, owners, sources => ["exhibition", "web"], my_id => "u1",
            views => vec![context! { id => "v1", name => "<我的>", query => "status=new" }], current => "status=new", ..base(lang) });
        assert!(html.contains("href=\"/leads/l1\"") && html.contains(&i18n::label(lang, "leads.pool")));
        assert!(html.contains("href=\"/leads?status=new\" aria-current=\"true\">&lt;我的&gt;"), "a saved view, escaped and marked as showing");
        let report = serde_json::json!({"rows": 3, "created": 1, "merged": 1, "refused": 1, "committed": false, "outcomes": []});
        let refused = vec![serde_json::json!({"row": 4, "outcome": "refused", "lead_id": null, "problems": [{"field": "phone", "problem": "<dup>"}]})];
        let html = render_ok("_import_report.html", context! { r => report, refused, ..base(lang) });
        assert!(html.contains("&lt;dup&gt;") && html.contains(&i18n::label(lang, "leads.not_committed")));
        // A background import: progress that asks again, then the report, or why it failed.
        let job = |status: &str, percent: Option<i64>, error: Option<&str>| {
            serde_json::json!({"id": "j1", "status": status, "file_name": "<leads>.csv", "rows_done": 12_000, "rows_estimated": 48_000, "percent": percent, "error": error})
        };
        let html = render_ok("_import_progress.html", context! { job => job("running", Some(25), None), r => (), refused => Vec::<u8>::new(), ..base(lang) });
        assert!(html.contains("hx-get=\"/leads/imports/j1\"") && html.contains("value=\"25\"") && html.contains("&lt;leads&gt;.csv"), "{html}");
        assert!(html.contains("12,000"), "rows done, grouped: {html}");
        let html = render_ok("_import_progress.html", context! { job => job("done", Some(100), None), r => report.clone(), refused => Vec::<u8>::new(), ..base(lang) });
        assert!(!html.contains("hx-get") && html.contains(&i18n::label(lang, "leads.not_committed")));
        for status in ["failed", "interrupted"] {
            let html = render_ok("_import_progress.html", context! { job => job(status, None, Some("file: <empty>")), r => (), refused => Vec::<u8>::new(), ..base(lang) });
            assert!(!html.contains("hx-get") && html.contains(&i18n::label(lang, &format!("leads.import_{status}"))) && html.contains("&lt;empty&gt;"), "{html}");
        }
    }
}

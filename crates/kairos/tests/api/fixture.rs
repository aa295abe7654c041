//! A small organisation: HQ › Shanghai branch › Shanghai team 1, and a Beijing branch, with
//! an admin, a director, a Shanghai manager and reps in Shanghai and Beijing.

use kairos_testkit::{Client, PASSWORD, TestApp};
use serde_json::json;

#[allow(dead_code)] // not every test uses every person
pub struct Org {
    pub admin: Client,
    pub director: Client,
    pub manager_sh: Client,
    pub rep_sh: Client,
    pub rep_bj: Client,
    pub hq: String,
    pub sh: String,
    pub sh1: String,
    pub bj: String,
    pub rep_sh_id: String,
    pub rep_bj_id: String,
    pub manager_sh_id: String,
}

pub async fn org(app: &TestApp) -> Org {
    let ws = app.workspace("Acme").await;
    let admin = ws.admin;
    let sh = admin.create("/api/v1/org-units", json!({"name": "上海分公司", "code": "SH", "kind": "branch", "parent_id": ws.hq})).await;
    let sh1 = admin.create("/api/v1/org-units", json!({"name": "上海一组", "code": "SH1", "kind": "team", "parent_id": sh})).await;
    let bj = admin.create("/api/v1/org-units", json!({"name": "北京分公司", "code": "BJ", "kind": "branch", "parent_id": ws.hq})).await;
    let user = |email: &str, unit: &str, role: &str| {
        json!({"email": email, "display_name": email.split('@').next().unwrap(), "password": PASSWORD, "org_unit_id": unit, "roles": [role]})
    };
    admin.create("/api/v1/users", user("director@acme.test", &ws.hq, "director")).await;
    let manager_sh_id = admin.create("/api/v1/users", user("manager.sh@acme.test", &sh, "manager")).await;
    let rep_sh_id = admin.create("/api/v1/users", user("rep.sh@acme.test", &sh1, "sales_rep")).await;
    let rep_bj_id = admin.create("/api/v1/users", user("rep.bj@acme.test", &bj, "sales_rep")).await;
    Org {
        director: app.login("director@acme.test", PASSWORD).await,
        manager_sh: app.login("manager.sh@acme.test", PASSWORD).await,
        rep_sh: app.login("rep.sh@acme.test", PASSWORD).await,
        rep_bj: app.login("rep.bj@acme.test", PASSWORD).await,
        admin,
        hq: ws.hq,
        sh,
        sh1,
        bj,
        rep_sh_id,
        rep_bj_id,
        manager_sh_id,
    }
}

/// Sends `deals` open deals of the first stage of the default process to the second, back and
/// to the second again, now, as an admin may (gates overridden): stages entered twice, which
/// the demo never does. Deals waiting for an approval are passed over.
pub async fn back_and_forth(admin: &Client, deals: usize) {
    let processes = admin.get("/api/v1/processes").await.body;
    let process = processes.as_array().unwrap().iter().find(|p| p["is_default"] == true).unwrap();
    let (first, second) = (process["stages"][0]["id"].as_str().unwrap(), process["stages"][1]["id"].as_str().unwrap());
    let open = admin.get(&format!("/api/v1/opportunities?status=open&stage_id={first}&limit=100")).await.body;
    let mut done = 0;
    for d in open["items"].as_array().unwrap() {
        let id = d["id"].as_str().unwrap();
        for (i, to) in [second, first, second].into_iter().enumerate() {
            let version = admin.get(&format!("/api/v1/opportunities/{id}")).await.body["version"].clone();
            let r = admin.post(&format!("/api/v1/opportunities/{id}/move"), json!({"stage_id": to, "version": version, "reason": "re-entry", "override_reason": "re-entry"})).await;
            if i == 0 && r.status == reqwest::StatusCode::CONFLICT {
                break;
            }
            assert_eq!(r.status, reqwest::StatusCode::OK, "{}", r.body);
            done += (i == 2) as usize;
        }
        if done == deals {
            return;
        }
    }
    panic!("only {done} of {deals} deals went back and forth");
}

/// Closes and reopens beside the demo's: open deals won, lost to named competitors and
/// found invalid today; a demo loss reopened and closed again as won, another reopened and
/// left open, which takes them from the days and months they had closed in.
pub async fn close_and_reopen(admin: &Client) {
    let reasons = admin.get("/api/v1/close-reasons").await.body;
    let reason = |outcome: &str| reasons.as_array().unwrap().iter().find(|r| r["outcome"] == outcome).unwrap()["id"].clone();
    let lost = admin.get("/api/v1/opportunities?status=lost&limit=2").await.body["items"].as_array().unwrap().clone();
    assert_eq!(lost.len(), 2, "the demo has lost deals to reopen");
    for (i, d) in lost.iter().enumerate() {
        let id = d["id"].as_str().unwrap();
        let r = admin.post(&format!("/api/v1/opportunities/{id}/reopen"), json!({"version": d["version"], "reason": "客户回来了"})).await;
        assert_eq!(r.status, reqwest::StatusCode::OK, "{}", r.body);
        if i == 0 {
            let r = admin.post(&format!("/api/v1/opportunities/{id}/close"), json!({"outcome": "won", "version": r.body["version"], "override_reason": "test data"})).await;
            assert_eq!(r.status, reqwest::StatusCode::OK, "{}", r.body);
        }
    }
    let open = admin.get("/api/v1/opportunities?status=open&limit=6").await.body["items"].as_array().unwrap().clone();
    assert_eq!(open.len(), 6, "the demo leaves open deals to close");
    let closes = [("won", None), ("won", Some("友商甲")), ("lost", Some("友商甲")), ("lost", Some("新对手")), ("invalid", None), ("lost", Some("新对手"))];
    for (d, (outcome, competitor)) in open.iter().zip(closes) {
        let reason_id = if outcome == "won" { serde_json::Value::Null } else { reason(outcome) };
        let body = json!({"outcome": outcome, "version": d["version"], "reason_id": reason_id, "competitor": competitor, "override_reason": "test data"});
        let r = admin.post(&format!("/api/v1/opportunities/{}/close", d["id"].as_str().unwrap()), body).await;
        assert_eq!(r.status, reqwest::StatusCode::OK, "{outcome}: {}", r.body);
    }
}

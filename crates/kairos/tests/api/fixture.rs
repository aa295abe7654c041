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

//! Data scopes (PRODUCT.md §1): own, subtree, all — on read, list, count, search, patch,
//! delete and audit.

use kairos_testkit::TestApp;
use reqwest::StatusCode;
use serde_json::json;

use crate::fixture::org;

#[tokio::test]
async fn reps_see_only_their_own_and_their_teams_accounts() {
    let app = TestApp::spawn().await;
    let o = org(&app).await;
    let sh_acct = o.rep_sh.create("/api/v1/accounts", json!({"name": "上海汽车集团股份有限公司", "industry": "auto"})).await;
    let bj_acct = o.rep_bj.create("/api/v1/accounts", json!({"name": "北京银行", "industry": "bank"})).await;

    // The Beijing rep cannot read, list, count, search, patch, delete or audit the Shanghai account.
    let path = format!("/api/v1/accounts/{sh_acct}");
    assert_eq!(o.rep_bj.get(&path).await.status, StatusCode::NOT_FOUND);
    let list = o.rep_bj.get("/api/v1/accounts").await;
    assert_eq!(list.body["total"], 1);
    assert_eq!(list.body["items"][0]["id"], bj_acct.as_str());
    let search = o.rep_bj.get("/api/v1/accounts?q=上海汽车").await;
    assert_eq!(search.body["total"], 0, "search must not find records outside the scope");
    let patch = o.rep_bj.patch(&path, json!({"version": 1, "industry": "stolen"})).await;
    assert_eq!(patch.status, StatusCode::NOT_FOUND);
    assert_eq!(o.rep_bj.delete(&path).await.status, StatusCode::NOT_FOUND);
    assert_eq!(o.rep_bj.get(&format!("/api/v1/audit?entity=account&id={sh_acct}")).await.status, StatusCode::NOT_FOUND);
    // ...and nothing changed.
    let still = o.rep_sh.get(&path).await;
    assert_eq!(still.body["industry"], "auto");
    assert_eq!(still.body["version"], 1);
    assert_eq!(still.body["archived"], false);

    // Put the Beijing rep on the account team: now they see it.
    let r = o.rep_sh.patch(&path, json!({"version": 1, "members": [{"user_id": o.rep_bj_id, "role": "presales"}]})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(o.rep_bj.get(&path).await.status, StatusCode::OK);
    assert_eq!(o.rep_bj.get("/api/v1/accounts").await.body["total"], 2);
}

#[tokio::test]
async fn managers_see_their_subtree_and_nothing_beside_it_directors_see_all() {
    let app = TestApp::spawn().await;
    let o = org(&app).await;
    let sh_acct = o.rep_sh.create("/api/v1/accounts", json!({"name": "Shanghai Motors Co., Ltd."})).await;
    let bj_acct = o.rep_bj.create("/api/v1/accounts", json!({"name": "Beijing Bank"})).await;

    let m = o.manager_sh.get("/api/v1/accounts").await;
    assert_eq!(m.body["total"], 1);
    assert_eq!(m.body["items"][0]["id"], sh_acct.as_str());
    assert_eq!(o.manager_sh.get(&format!("/api/v1/accounts/{bj_acct}")).await.status, StatusCode::NOT_FOUND);
    // A manager can change what their team owns.
    let r = o.manager_sh.patch(&format!("/api/v1/accounts/{sh_acct}"), json!({"version": 1, "region": "华东"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // ...and cannot hand a record to someone outside the subtree.
    let r = o.manager_sh.patch(&format!("/api/v1/accounts/{sh_acct}"), json!({"version": 2, "owner_id": o.rep_bj_id})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.error_fields(), vec!["owner_id"]);

    let d = o.director.get("/api/v1/accounts").await;
    assert_eq!(d.body["total"], 2);
    assert_eq!(o.director.get(&format!("/api/v1/accounts/{bj_acct}")).await.status, StatusCode::OK);
    // Filtering by org unit includes the subtree.
    let by_unit = o.director.get(&format!("/api/v1/accounts?org_unit_id={}", o.sh)).await;
    assert_eq!(by_unit.body["total"], 1);
    assert_eq!(by_unit.body["items"][0]["id"], sh_acct.as_str());
}

#[tokio::test]
async fn contacts_follow_their_account_scope() {
    let app = TestApp::spawn().await;
    let o = org(&app).await;
    let sh_acct = o.rep_sh.create("/api/v1/accounts", json!({"name": "上汽"})).await;
    let c = o.rep_sh.create("/api/v1/contacts", json!({"account_id": sh_acct, "name": "王总", "phone": "138 0013 8000"})).await;
    assert_eq!(o.rep_bj.get(&format!("/api/v1/contacts/{c}")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(o.rep_bj.get("/api/v1/contacts").await.body["total"], 0);
    assert_eq!(o.rep_bj.get("/api/v1/contacts?q=13800138000").await.body["total"], 0);
    // Nor can they attach a contact to an account they cannot see.
    let r = o.rep_bj.post("/api/v1/contacts", json!({"account_id": sh_acct, "name": "Spy"})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.error_fields(), vec!["account_id"]);
    assert_eq!(o.manager_sh.get(&format!("/api/v1/contacts/{c}")).await.status, StatusCode::OK);
}

#[tokio::test]
async fn admin_endpoints_refuse_everyone_else_with_403() {
    let app = TestApp::spawn().await;
    let o = org(&app).await;
    for client in [&o.rep_sh, &o.manager_sh, &o.director] {
        let r = client.post("/api/v1/org-units", json!({"name": "X", "code": "X", "kind": "team", "parent_id": o.sh})).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert_eq!(r.code(), "forbidden");
        let r = client
            .post("/api/v1/users", json!({"email": "x@acme.test", "display_name": "X", "password": "long enough password"}))
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let r = client.patch(&format!("/api/v1/users/{}", o.rep_sh_id), json!({"version": 1, "roles": ["admin"]})).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
    }
    // Reading the directory is allowed (owner pickers need it).
    assert_eq!(o.rep_sh.get("/api/v1/users").await.status, StatusCode::OK);
    assert_eq!(o.rep_sh.get("/api/v1/org-units").await.body.as_array().map(|a| a.len()), Some(4));
    let _ = (&o.hq, &o.sh1, &o.bj, &o.manager_sh_id);
}

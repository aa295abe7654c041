//! Lead import from CSV and XLSX, through the API and the command line: per-row reports,
//! column mapping, encodings, bad cells, duplicates, all-or-nothing, size limits.

use std::io::Write;
use std::process::Command;

use kairos_testkit::{Client, TestApp};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn upload(c: &Client, app: &TestApp, name: &str, bytes: Vec<u8>, mapping: Option<Value>) -> (StatusCode, Value) {
    let mut form = reqwest::multipart::Form::new().part("file", reqwest::multipart::Part::bytes(bytes).file_name(name.to_string()));
    if let Some(m) = mapping {
        form = form.text("mapping", m.to_string());
    }
    let resp = reqwest::Client::new()
        .post(format!("{}/api/v1/leads/import", app.address))
        .bearer_auth(c.token().unwrap())
        .multipart(form)
        .send()
        .await
        .expect("request reaches the server");
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

fn outcome(report: &Value, row: u64) -> &Value {
    report["outcomes"].as_array().unwrap().iter().find(|o| o["row"] == row).unwrap_or_else(|| panic!("no row {row} in {report}"))
}

async fn lead_total(c: &Client) -> i64 {
    c.get("/api/v1/leads").await.body["total"].as_i64().unwrap()
}

const CSV: &str = "\u{feff}公司名称,联系人,手机,邮箱,来源,预算,预计采购时间,决策人,备注\n\
    上海云帆科技有限公司,李雷,13800000001,lilei@yunfan.example,展会,50万,2027/3/1,是,\"booth 12, hall 3\"\n\
    杭州青禾软件,韩梅梅,13800000002,,官网,\"120,000.00\",2027-04-15,否,\n\
    苏州远景,张三,13800000003,,广告,lots,2027-13-01,maybe,\n\
    ,,13800000004,,,,,,\n\
    \n\
    南京启明,王五,138-0000-0001,,展会,,,,repeat of row 2\n\
    宁波海天,赵六,13800000006,zhao@,carrier pigeon,,,,\n";

#[tokio::test]
async fn a_csv_import_reports_every_row_and_imports_the_valid_ones() {
    let app = TestApp::spawn().await;
    let ws = app.workspace("Import").await;
    let admin = &ws.admin;
    let (status, report) = upload(admin, &app, "leads.csv", CSV.as_bytes().to_vec(), None).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["rows"], 6, "blank lines are not rows: {report}");
    assert_eq!(report["created"], 2);
    assert_eq!(report["refused"], 4);
    assert_eq!(report["committed"], true);
    let first = outcome(&report, 2);
    assert_eq!(first["outcome"], "created");
    let l = admin.get(&format!("/api/v1/leads/{}", first["lead_id"].as_str().unwrap())).await.body;
    assert_eq!(l["company"], "上海云帆科技有限公司");
    assert_eq!(l["source"], "exhibition");
    assert_eq!(l["budget_amount"], 50_000_000);
    assert_eq!(l["expected_purchase_date"], "2027-03-01");
    assert_eq!(l["is_decision_maker"], true);
    assert_eq!(l["notes"], "booth 12, hall 3");
    assert_eq!(outcome(&report, 3)["outcome"], "created");
    // Bad cells name their fields.
    let fields = |row: u64| -> Vec<String> {
        let mut f: Vec<String> = outcome(&report, row)["problems"].as_array().unwrap().iter().map(|p| p["field"].as_str().unwrap().to_string()).collect();
        f.sort();
        f
    };
    assert_eq!(fields(4), ["budget_amount", "expected_purchase_date", "is_decision_maker"]);
    assert_eq!(fields(5), ["company"]);
    // Row 7 repeats row 2's phone in another spelling: a duplicate, refused by default.
    assert_eq!(outcome(&report, 7)["outcome"], "refused");
    assert_eq!(fields(7), ["phone"]);
    assert_eq!(fields(8), ["email", "source"]);
    assert_eq!(lead_total(admin).await, 2);

    // The same file again with merge: the two are merged, the repeat row merges too.
    let (_, report) = upload(admin, &app, "leads.csv", CSV.as_bytes().to_vec(), Some(json!({"on_duplicate": "merge"}))).await;
    assert_eq!(report["merged"], 3, "{report}");
    assert_eq!(report["created"], 0);
    assert_eq!(lead_total(admin).await, 2);

    // All or nothing: one bad row and nothing goes in.
    let file = "company,phone\nAlpha Ltd,13900000001\nBeta Ltd,12\n";
    let (_, report) = upload(admin, &app, "x.csv", file.as_bytes().to_vec(), Some(json!({"all_or_nothing": true}))).await;
    assert_eq!(report["committed"], false, "{report}");
    assert_eq!(outcome(&report, 2)["outcome"], "not_imported");
    assert_eq!(outcome(&report, 3)["outcome"], "refused");
    assert_eq!(lead_total(admin).await, 2);

    // A mapping for unusual headers; a mapping naming a missing column refuses the file.
    let file = "Firma;Telefon\nGamma GmbH;+49 30 1234567\n".replace(';', ",");
    let mapping = json!({"columns": {"company": "Firma", "phone": "Telefon"}, "source": "partner", "campaign": "DACH"});
    let (status, report) = upload(admin, &app, "de.csv", file.as_bytes().to_vec(), Some(mapping)).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["created"], 1);
    let l = admin.get(&format!("/api/v1/leads/{}", outcome(&report, 2)["lead_id"].as_str().unwrap())).await.body;
    assert_eq!((l["source"].as_str(), l["campaign"].as_str()), (Some("partner"), Some("DACH")));
    let (status, report) = upload(admin, &app, "de.csv", file.as_bytes().to_vec(), Some(json!({"columns": {"company": "Firma", "phone": "Handy"}}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(report["error"]["message"].as_str().unwrap().contains("Handy"), "{report}");
    let (status, report) = upload(admin, &app, "x.csv", b"company,city\nDelta,Paris\n".to_vec(), None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(report["error"]["details"]["fields"][0]["problem"].as_str().unwrap().contains("phone"), "{report}");
    let (status, _) = upload(admin, &app, "x.csv", Vec::new(), None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    app.stop().await;
}

#[tokio::test]
async fn gbk_files_xlsx_workbooks_and_oversized_uploads() {
    let app = TestApp::spawn().await;
    let ws = app.workspace("Encodings").await;
    let admin = &ws.admin;
    // Excel in China saves CSV as GBK: detected and read as such.
    let text = "公司名称,联系人,手机\n广州南粤物流,陈小姐,13600000001\n";
    let (gbk, _, _) = encoding_rs::GBK.encode(text);
    let (status, report) = upload(admin, &app, "gbk.csv", gbk.to_vec(), None).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["created"], 1, "{report}");
    let l = admin.get(&format!("/api/v1/leads/{}", outcome(&report, 2)["lead_id"].as_str().unwrap())).await.body;
    assert_eq!(l["company"], "广州南粤物流");
    // Forced to read it as UTF-8, the row is refused with a hint instead of imported garbled.
    let (status, report) = upload(admin, &app, "gbk.csv", gbk.to_vec(), Some(json!({"encoding": "utf8", "columns": {"phone": "手机"}}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "the header itself is unreadable: {report}");

    // XLSX, dates as Excel serial numbers.
    let xlsx = workbook(&[
        &["公司名称", "联系人", "手机", "预计采购时间", "预算"],
        &["深圳星河电子", "周先生", "13500000001", "#46447", "#300000"],
        &["东莞宏达", "", "", "", ""],
    ]);
    let (status, report) = upload(admin, &app, "leads.xlsx", xlsx, None).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["created"], 1, "{report}");
    assert_eq!(report["refused"], 1);
    let l = admin.get(&format!("/api/v1/leads/{}", outcome(&report, 2)["lead_id"].as_str().unwrap())).await.body;
    assert_eq!(l["expected_purchase_date"], "2027-03-01");
    assert_eq!(l["budget_amount"], 30_000_000);
    let (status, report) = upload(admin, &app, "broken.xlsx", b"PK\x03\x04 not really a zip".to_vec(), None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{report}");

    // 50 MB is past the upload limit: 413 naming the way that works, nothing imported.
    let before = lead_total(admin).await;
    let mut big = b"company,phone\n".to_vec();
    let line = b"Some Company With A Long Name,13700000000\n";
    while big.len() < 50 * 1024 * 1024 {
        big.extend_from_slice(line);
    }
    let (status, report) = upload(admin, &app, "big.csv", big, None).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{report}");
    assert!(report["error"]["message"].as_str().unwrap().contains("kairos import leads"));
    assert_eq!(lead_total(admin).await, before);
    app.stop().await;
}

/// `kairos import leads FILE` with options (flag, path) against the test's database: the
/// exit code and everything it printed.
fn cli_import(app: &TestApp, file: &std::path::Path, options: &[(&str, &std::path::Path)]) -> (Option<i32>, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kairos"));
    command.args(["import", "leads"]).arg(file);
    for (flag, path) in options {
        command.arg(flag).arg(path);
    }
    let o = command.env("DATABASE_URL", &app.database_url).env("KAIROS_LOG", "warn").output().expect("kairos runs");
    (o.status.code(), format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)))
}

#[tokio::test]
async fn the_command_line_imports_a_file_with_a_mapping_and_writes_a_report() {
    let app = TestApp::spawn().await;
    let ws = app.workspace("Cli Import").await;
    let dir = std::env::temp_dir().join(format!("kairos-import-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("leads.csv");
    let mut f = std::fs::File::create(&file).unwrap();
    writeln!(f, "Org,Person,Mobile,Budget").unwrap();
    for i in 0..1200 {
        writeln!(f, "Company {i},Person {i},1390000{i:04},{}", if i == 7 { "n/a".to_string() } else { format!("{}", i * 1000) }).unwrap();
    }
    drop(f);
    let mapping = dir.join("mapping.json");
    std::fs::write(&mapping, r#"{"columns": {"company": "Org", "contact_name": "Person", "phone": "Mobile", "budget_amount": "Budget"}, "source": "exhibition"}"#).unwrap();
    let report = dir.join("report.csv");
    let (code, out) = cli_import(&app, &file, &[("--mapping", &mapping), ("--report", &report)]);
    assert_eq!(code, Some(2), "some rows were refused: {out}");
    assert!(out.contains("1200 rows"), "{out}");
    assert!(out.contains("1199 created"), "{out}");
    assert!(out.contains("row 9: budget_amount"), "{out}");
    let written = std::fs::read_to_string(&report).unwrap();
    assert_eq!(written.lines().count(), 1201, "one line per row and a header");
    assert!(written.lines().any(|l| l.starts_with("9,refused,,\"budget_amount\"")), "{written}");
    assert_eq!(ws.admin.get("/api/v1/leads?source=exhibition").await.body["total"], 1199);

    // All or nothing: one bad row, nothing imported, and the report says so for every row.
    std::fs::write(&file, "Org,Mobile,Budget\nNew A,13800000001,100\nNew B,13800000002,lots\nNew C,13800000003,300\n").unwrap();
    std::fs::write(&mapping, r#"{"columns": {"company": "Org", "phone": "Mobile", "budget_amount": "Budget"}, "all_or_nothing": true}"#).unwrap();
    let (code, out) = cli_import(&app, &file, &[("--mapping", &mapping), ("--report", &report)]);
    assert_eq!(code, Some(2), "a row was refused: {out}");
    assert!(out.contains("nothing imported"), "{out}");
    let written = std::fs::read_to_string(&report).unwrap();
    let lines: Vec<&str> = written.lines().collect();
    assert_eq!(lines[1], "2,not_imported,,,", "{written}");
    assert!(lines[2].starts_with("3,refused,,\"budget_amount\""), "{written}");
    assert_eq!(lines[3], "4,not_imported,,,", "{written}");
    assert_eq!(lines.len(), 4);
    assert_eq!(ws.admin.get("/api/v1/leads?q=New").await.body["total"], 0);
    let _ = std::fs::remove_dir_all(&dir);
    app.stop().await;
}

/// A merge can bring a phone the lead it went into does not hold (it has another): a row
/// with that phone repeats the same person, whether it comes in the same batch of the
/// import or 1,000 rows later.
#[tokio::test]
async fn a_phone_brought_by_a_merge_is_a_duplicate_in_every_later_batch() {
    let app = TestApp::spawn().await;
    let ws = app.workspace("Merge Keys").await;
    let admin = &ws.admin;
    let mut csv = String::from("公司名称,手机,邮箱\n");
    csv.push_str("甲公司,13911110001,jia@merge.example\n"); // line 2: created
    csv.push_str("甲公司,13922220002,jia@merge.example\n"); // line 3: same e-mail, another phone: merged
    csv.push_str("甲公司,13922220002,\n"); // line 4: that phone, same batch: merged
    for i in 0..1100 {
        csv.push_str(&format!("填充{i},1370000{i:04},\n"));
    }
    csv.push_str("甲公司,13922220002,\n"); // line 1105: that phone, a later batch: merged
    let (status, report) = upload(admin, &app, "merge.csv", csv.into_bytes(), Some(json!({"on_duplicate": "merge"}))).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let first = outcome(&report, 2)["lead_id"].clone();
    for line in [3, 4, 1105] {
        assert_eq!(outcome(&report, line)["outcome"], "merged", "line {line}");
        assert_eq!(outcome(&report, line)["lead_id"], first, "line {line}");
    }
    assert_eq!((report["created"].as_i64(), report["merged"].as_i64()), (Some(1101), Some(3)), "{}", report["rows"]);
    app.stop().await;
}

/// The upload limit sends a 50 MB file to the command line, which streams it: every row is
/// read, and a duplicate far into the file is still caught.
#[tokio::test]
async fn a_50_mb_file_streams_through_the_command_line() {
    let app = TestApp::spawn().await;
    let ws = app.workspace("Big File").await;
    let dir = std::env::temp_dir().join(format!("kairos-import-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("big.csv");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&file).unwrap());
    writeln!(f, "公司名称,手机,备注").unwrap();
    // Long notes (the most a lead holds is 10,000 characters) make a big file of few rows.
    let notes = "跟进记录".repeat(700) + &"x".repeat(100); // 8,500 bytes in UTF-8
    let mut rows = 0;
    let mut written = 0usize;
    while written < 50 * 1024 * 1024 {
        rows += 1;
        // The last row repeats the first one's phone.
        let line = format!("公司{rows},1390{rows:07},{notes}\n");
        written += line.len();
        f.write_all(line.as_bytes()).unwrap();
    }
    writeln!(f, "重复公司,13900000001,{notes}").unwrap();
    drop(f);
    assert!(std::fs::metadata(&file).unwrap().len() > 50 * 1024 * 1024);
    let (code, out) = cli_import(&app, &file, &[]);
    assert_eq!(code, Some(2), "the repeated row was refused: {out}");
    assert!(out.contains(&format!("{} rows", rows + 1)) && out.contains(&format!("{rows} created")), "{out}");
    assert!(out.contains(&format!("row {}: phone", rows + 2)), "the duplicate is named by its line: {out}");
    assert_eq!(ws.admin.get("/api/v1/leads?limit=1").await.body["total"], rows);
    let _ = std::fs::remove_dir_all(&dir);
    app.stop().await;
}

/// A minimal XLSX workbook: one sheet, inline strings, numbers for cells written `#n`.
fn workbook(rows: &[&[&str]]) -> Vec<u8> {
    use zip::write::SimpleFileOptions;
    let mut sheet = String::from(r#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>"#);
    for (r, row) in rows.iter().enumerate() {
        sheet.push_str(&format!(r#"<row r="{}">"#, r + 1));
        for (c, cell) in row.iter().enumerate() {
            let col = (b'A' + c as u8) as char;
            if cell.is_empty() {
                continue;
            }
            match cell.strip_prefix('#') {
                Some(n) => sheet.push_str(&format!(r#"<c r="{col}{}"><v>{n}</v></c>"#, r + 1)),
                None => sheet.push_str(&format!(r#"<c r="{col}{}" t="inlineStr"><is><t>{cell}</t></is></c>"#, r + 1)),
            }
        }
        sheet.push_str("</row>");
    }
    sheet.push_str("</sheetData></worksheet>");
    let files = [
        ("[Content_Types].xml", r#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#.to_string()),
        ("_rels/.rels", r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#.to_string()),
        ("xl/workbook.xml", r#"<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Leads" sheetId="1" r:id="rId1"/></sheets></workbook>"#.to_string()),
        ("xl/_rels/workbook.xml.rels", r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#.to_string()),
        ("xl/worksheets/sheet1.xml", sheet),
    ];
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, body) in files {
        out.start_file(name, SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored)).unwrap();
        out.write_all(body.as_bytes()).unwrap();
    }
    out.finish().unwrap().into_inner()
}

async fn start_import(c: &Client, app: &TestApp, name: &str, bytes: Vec<u8>, mapping: Value) -> (StatusCode, Value) {
    let form = reqwest::multipart::Form::new()
        .part("file", reqwest::multipart::Part::bytes(bytes).file_name(name.to_string()))
        .text("mapping", mapping.to_string());
    let resp = reqwest::Client::new()
        .post(format!("{}/api/v1/lead-imports", app.address))
        .bearer_auth(c.token().unwrap())
        .multipart(form)
        .send()
        .await
        .expect("request reaches the server");
    (resp.status(), resp.json().await.unwrap_or(Value::Null))
}

/// Polls a background import until it leaves `running`; rows done never go backwards.
async fn finished(c: &Client, id: &str) -> Value {
    let mut last = -1;
    for _ in 0..600 {
        let job = c.get(&format!("/api/v1/lead-imports/{id}")).await;
        assert_eq!(job.status, StatusCode::OK, "{}", job.body);
        let rows = job.body["rows_done"].as_i64().unwrap();
        assert!(rows >= last, "progress went back from {last} to {rows}");
        last = rows;
        if job.body["status"] != "running" {
            return job.body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the import of job {id} did not finish");
}

#[tokio::test]
async fn a_background_import_reports_progress_and_merges_repeats_across_batches() {
    let app = TestApp::spawn().await;
    let ws = app.workspace("Background").await;
    let admin = &ws.admin;
    // 1,300 rows, more than two of the importer's batches of 500; rows 1,001–1,100 repeat
    // the phones of rows 1–100 (another batch, decided while an earlier one is written),
    // rows 1,201–1,300 the e-mails of rows 501–600.
    let mut csv = String::from("公司名称,手机,邮箱,备注\n");
    for i in 1..=1300 {
        let (phone, email) = match i {
            1001..=1100 => (format!("139{:08}", i - 1000), String::new()),
            1201..=1300 => (String::new(), format!("p{}@bg.example", i - 700)),
            _ => (format!("139{i:08}"), format!("p{i}@bg.example")),
        };
        csv.push_str(&format!("公司{i},{phone},{email},note {i}\n"));
    }
    let (status, job) = start_import(admin, &app, "many.csv", csv.into_bytes(), json!({"on_duplicate": "merge"})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    assert_eq!(job["status"], "running");
    assert_eq!(job["rows_estimated"], 1300);
    let id = job["id"].as_str().unwrap().to_string();
    let done = finished(admin, &id).await;
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(done["percent"], 100);
    assert_eq!(done["rows_done"], 1300);
    let report = &done["report"];
    assert_eq!((report["rows"].as_i64(), report["created"].as_i64(), report["merged"].as_i64()), (Some(1300), Some(1100), Some(200)), "{report}");
    assert_eq!(report["refused"], 0);
    // The job's report lists the rows that were not created: the 200 merges.
    assert_eq!(report["outcomes"].as_array().unwrap().len(), 200);
    let merged_into_1 = outcome(report, 1002)["lead_id"].as_str().unwrap().to_string();
    let lead = admin.get(&format!("/api/v1/leads/{merged_into_1}")).await.body;
    assert_eq!(lead["phone"], "13900000001", "{lead}");
    let notes = lead["notes"].as_str().unwrap();
    assert!(notes.contains("note 1") && notes.contains("note 1001"), "{notes}");
    let lead = admin.get(&format!("/api/v1/leads/{}", outcome(report, 1202)["lead_id"].as_str().unwrap())).await.body;
    assert_eq!(lead["email"], "p501@bg.example");
    assert!(lead["notes"].as_str().unwrap().contains("note 1201"));
    assert_eq!(lead_total(admin).await, 1100);

    // A file that cannot be used fails the job with the reason; nothing is imported.
    let (status, job) = start_import(admin, &app, "empty.csv", Vec::new(), json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    let failed = finished(admin, job["id"].as_str().unwrap()).await;
    assert_eq!(failed["status"], "failed");
    assert!(failed["error"].as_str().unwrap().starts_with("file: "), "{failed}");
    assert_eq!(lead_total(admin).await, 1100);

    // Only the person who started an import (or an admin) follows it.
    admin.post("/api/v1/users", json!({"email": "rep@bg.test", "display_name": "Rep", "password": kairos_testkit::PASSWORD, "org_unit_id": ws.hq})).await;
    let rep = app.login("rep@bg.test", kairos_testkit::PASSWORD).await;
    assert_eq!(rep.get(&format!("/api/v1/lead-imports/{id}")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(rep.get("/api/v1/lead-imports/not-an-id").await.status, StatusCode::NOT_FOUND);
    app.stop().await;
}

//! Importing leads from CSV or XLSX (PRODUCT.md §3): every row goes through the same capture
//! path as a lead typed in (dedup, scoring, assignment); the report says per row what was
//! imported, merged or refused and why. The file is read as a stream in a blocking thread
//! and handed over a few hundred rows at a time, so memory stays flat however large the
//! file is. All rows go in one transaction: the valid rows together, or (when the caller
//! chooses all-or-nothing) nothing at all if any row is refused; never half a row.

use std::collections::HashMap;
use std::io::{Read, Seek};

use calamine::{DataRef, Reader, Xlsx};
use encoding_rs::{Encoding, GB18030, UTF_8};
use chrono::{DateTime, Utc};
use kairos_domain::ids::{LeadId, UserId, WorkspaceId};
use kairos_domain::lead::Lead;
use kairos_domain::lead::LeadSource;
use kairos_domain::lead_import::{self as cells, column_map};
use kairos_domain::{FieldError, FieldErrors, text};
use kairos_store::user;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::actor::Actor;
use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::lead_capture::{Capture, Captured, OnDuplicate};
use crate::leads::{NewLead, parse_new_lead};
use crate::ownership::resolve_owner;

/// Rows handed from the reader thread to the importer at a time.
const BATCH: usize = 500;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TextEncoding {
    /// UTF-8, unless the start of the file is not valid UTF-8; then GB18030 (which reads GBK
    /// and GB2312, what Excel in China saves CSV as).
    #[default]
    Auto,
    Utf8,
    Gbk,
}

/// How a file's columns become lead fields, and what to do with duplicates. Sent as JSON
/// (the `--mapping` file of `kairos import leads`, or the `mapping` part of an upload).
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportMapping {
    /// Lead field → column header. Default: headers are recognised by their usual Chinese
    /// or English names (公司名称, 联系人, 手机, company, phone, …).
    #[serde(default)]
    pub columns: Option<HashMap<String, String>>,
    /// The source of rows without one. Default: other.
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub campaign: Option<String>,
    /// Default: refuse (the row is reported, the lead it repeats stays as it was).
    #[serde(default)]
    pub on_duplicate: Option<OnDuplicate>,
    /// true: if any row is refused, nothing is imported. Default false: the valid rows are.
    #[serde(default)]
    pub all_or_nothing: Option<bool>,
    #[serde(default)]
    pub encoding: Option<TextEncoding>,
    /// XLSX: the sheet to read. Default: the first.
    #[serde(default)]
    pub sheet: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RowOutcome {
    /// The row's number in the file as a spreadsheet shows it (the header is row 1).
    pub row: usize,
    /// created, merged or refused
    pub outcome: &'static str,
    pub lead_id: Option<String>,
    pub problems: Vec<RowProblem>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RowProblem {
    pub field: String,
    pub problem: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ImportReport {
    pub rows: usize,
    pub created: usize,
    pub merged: usize,
    pub refused: usize,
    /// false when all-or-nothing was asked and a row was refused: nothing was imported.
    pub committed: bool,
    /// The rows' outcomes the caller asked to keep (all, for an upload), in row order.
    pub outcomes: Vec<RowOutcome>,
}

/// Which row outcomes the returned report holds. Every outcome also goes to the caller's
/// `on_row` as it is decided, so a file of a million rows can be reported (to a file, as
/// counts) without holding a million outcomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepOutcomes {
    /// Every row (an upload, which the upload limit keeps small).
    All,
    /// The first N rows that were not simply created (merged or refused).
    NotCreated(usize),
    /// None: the caller takes them from `on_row`.
    Nothing,
}

/// Where the file comes from.
pub enum ImportFile {
    Path(std::path::PathBuf),
    Bytes { name: String, bytes: Vec<u8> },
}

pub(crate) fn is_xlsx(name: &str, head: &[u8]) -> bool {
    name.ends_with(".xlsx") || (head.starts_with(b"PK\x03\x04") && !name.ends_with(".csv"))
}

/// What the reader thread hands over: the header first, then parsed rows.
enum Msg {
    Header(Vec<String>),
    Rows(Vec<(usize, Parsed)>),
}

/// A row after parsing, done on the reader thread so that it overlaps the database work.
enum Parsed {
    Blank,
    Unreadable(String),
    Lead { draft: Option<Lead>, owner_email: Option<String>, problems: Vec<FieldError> },
}

/// How rows become lead drafts, known once the header has been mapped.
struct RowParser {
    columns: Vec<(&'static str, usize)>,
    ws: WorkspaceId,
    now: DateTime<Utc>,
    default_source: LeadSource,
    campaign: Option<String>,
}

impl RowParser {
    fn parse(&self, read: Result<Vec<String>, String>) -> Parsed {
        let cells = match read {
            Ok(cells) => cells,
            Err(e) => return Parsed::Unreadable(e),
        };
        if cells.iter().all(|c| c.trim().is_empty()) {
            return Parsed::Blank;
        }
        let mut errors = FieldErrors::new();
        let (mut input, owner_email) = row_input(&mut errors, &self.columns, &cells);
        if input.campaign.is_none() {
            input.campaign.clone_from(&self.campaign);
        }
        let draft = parse_new_lead(&mut errors, &input, self.ws, LeadId::from_uuid(uuid::Uuid::now_v7()), self.now, self.default_source);
        Parsed::Lead { draft, owner_email, problems: errors.into_vec() }
    }
}

/// The reader thread's side: sends the header, waits for the parser, then parses and sends
/// rows in batches. `false` from `push` means the importer stopped listening.
struct Sink<'a> {
    out: &'a mpsc::Sender<Msg>,
    plan: std::sync::mpsc::Receiver<Option<std::sync::Arc<RowParser>>>,
    parser: Option<std::sync::Arc<RowParser>>,
    batch: Vec<(usize, Parsed)>,
}

impl Sink<'_> {
    fn push(&mut self, line: usize, read: Result<Vec<String>, String>) -> Result<bool, String> {
        let Some(parser) = &self.parser else {
            let header = read.map_err(|e| format!("the header row cannot be read: {e}"))?;
            if self.out.blocking_send(Msg::Header(header)).is_err() {
                return Ok(false);
            }
            match self.plan.recv() {
                Ok(Some(p)) => self.parser = Some(p),
                _ => return Ok(false),
            }
            return Ok(true);
        };
        self.batch.push((line, parser.parse(read)));
        if self.batch.len() == BATCH {
            return Ok(self.out.blocking_send(Msg::Rows(std::mem::take(&mut self.batch))).is_ok());
        }
        Ok(true)
    }

    fn finish(self) -> Result<(), String> {
        if self.parser.is_none() {
            return Err("the file is empty".into());
        }
        if !self.batch.is_empty() {
            let _ = self.out.blocking_send(Msg::Rows(self.batch));
        }
        Ok(())
    }
}

impl App {
    /// `kairos import leads` and `POST /api/v1/leads/import`. `progress` hears the number of
    /// rows done after every batch.
    pub async fn import_leads(
        &self,
        actor: &Actor,
        file: ImportFile,
        mapping: ImportMapping,
        progress: &(dyn Fn(usize) + Send + Sync),
        keep: KeepOutcomes,
        on_row: &mut (dyn FnMut(&RowOutcome) + Send),
    ) -> AppResult<ImportReport> {
        let ws = actor.workspace();
        let mut errors = FieldErrors::new();
        let default_source = match mapping.source.as_deref() {
            Some(s) => errors.check("mapping.source", LeadSource::parse(s)),
            None => Some(LeadSource::Other),
        };
        let campaign = errors.check("mapping.campaign", text::optional_text(mapping.campaign.as_deref(), 100)).flatten();
        errors.finish()?;
        let default_source = default_source.unwrap_or(LeadSource::Other);
        let on_duplicate = mapping.on_duplicate.unwrap_or_default();

        let (tx_rows, mut rx) = mpsc::channel::<Msg>(4);
        let (tx_plan, rx_plan) = std::sync::mpsc::channel();
        let encoding = mapping.encoding.unwrap_or_default();
        let sheet = mapping.sheet.clone();
        let reader = tokio::task::spawn_blocking(move || {
            let sink = Sink { out: &tx_rows, plan: rx_plan, parser: None, batch: Vec::with_capacity(BATCH) };
            read_rows(file, encoding, sheet.as_deref(), sink)
        });

        // The header comes first; without a usable one nothing is imported.
        let headers = match rx.recv().await {
            Some(Msg::Header(h)) => h,
            _ => {
                let why = reader.await.map_err(AppError::unexpected)?.err().unwrap_or_else(|| "the file is empty".into());
                return Err(AppError::field("file", why));
            }
        };
        let given: Option<Vec<(String, String)>> = mapping.columns.as_ref().map(|m| {
            let mut pairs: Vec<(String, String)> = m.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            pairs.sort();
            pairs
        });
        let columns = match column_map(&headers, given.as_deref()) {
            Ok(c) => c,
            Err(problems) => {
                let _ = tx_plan.send(None);
                return Err(AppError::Validation(problems.into_iter().map(|p| FieldError { field: "mapping".into(), problem: p }).collect()));
            }
        };

        let mut tx = self.begin().await?;
        let mut c = tx.conn();
        // PostgreSQL plans the duplicate look-ups from statistics, and a table that grows by
        // thousands of rows inside this transaction outgrows them: a plan made for an empty
        // table scans the whole workspace per batch (measured: 240 rows/s at 100,000 rows).
        // Fresh statistics now and every 20,000 rows, and plans made for each query's values.
        let postgres = c.backend() == kairos_store::Backend::Postgres;
        if postgres {
            c.execute_script("SET LOCAL plan_cache_mode = force_custom_plan; ANALYZE lead, contact, account").await?;
        }
        let mut analyzed_at = 0usize;
        let mut ctx = self.capture_context(&mut c, ws, Some(actor.id()), "import").await?;
        let parser = RowParser { columns, ws, now: ctx.now, default_source, campaign };
        if tx_plan.send(Some(std::sync::Arc::new(parser))).is_err() {
            return Err(AppError::internal("the file reader stopped"));
        }
        let mut owners: HashMap<String, Result<(UserId, Option<kairos_domain::ids::OrgUnitId>), String>> = HashMap::new();
        let mut report = ImportReport { rows: 0, created: 0, merged: 0, refused: 0, committed: false, outcomes: Vec::new() };
        while let Some(msg) = rx.recv().await {
            let Msg::Rows(batch) = msg else { continue };
            // This batch's outcomes: refusals while reading it, then the capture's answers.
            let mut outcomes = Vec::with_capacity(batch.len());
            let mut captures = Vec::with_capacity(batch.len());
            let mut rows_of_captures = Vec::with_capacity(batch.len());
            for (row, parsed) in batch {
                let (draft, owner_email, problems) = match parsed {
                    Parsed::Blank => continue, // blank lines are not rows
                    Parsed::Unreadable(e) => {
                        report.rows += 1;
                        outcomes.push(refused(row, vec![RowProblem { field: "row".into(), problem: e }]));
                        continue;
                    }
                    Parsed::Lead { draft, owner_email, problems } => (draft, owner_email, problems),
                };
                report.rows += 1;
                let mut problems = problems_of(problems);
                let owner = match owner_email {
                    Some(email) => {
                        if !owners.contains_key(&email) {
                            let found = self.import_owner(&mut c, actor, &email).await?;
                            owners.insert(email.clone(), found);
                        }
                        match &owners[&email] {
                            Ok(o) => Some(*o),
                            Err(p) => {
                                problems.push(RowProblem { field: "owner_email".into(), problem: p.clone() });
                                None
                            }
                        }
                    }
                    None => None,
                };
                match draft {
                    Some(draft) if problems.is_empty() => {
                        captures.push(Capture { draft, owner, on_duplicate });
                        rows_of_captures.push(row);
                    }
                    _ => outcomes.push(refused(row, problems)),
                }
            }
            record(&mut outcomes, rows_of_captures, self.capture_batch(&mut c, &mut ctx, captures).await?);
            // Batches arrive in file order, so sorting each keeps the whole in row order.
            outcomes.sort_by_key(|o| o.row);
            for o in outcomes {
                report.count(&o);
                on_row(&o);
                if keep.keeps(&report, &o) {
                    report.outcomes.push(o);
                }
            }
            progress(report.rows);
            if postgres && report.rows - analyzed_at >= 20_000 {
                c.execute_script("ANALYZE lead").await?;
                analyzed_at = report.rows;
            }
        }
        // A reader that stopped early (unreadable file) fails the import as a whole.
        if let Err(e) = reader.await.map_err(AppError::unexpected)? {
            return Err(AppError::field("file", e));
        }
        if mapping.all_or_nothing.unwrap_or(false) && report.refused > 0 {
            drop(c);
            tx.rollback().await?;
            for o in report.outcomes.iter_mut().filter(|o| o.outcome != "refused") {
                o.outcome = "not_imported";
                o.lead_id = None;
            }
            report.created = 0;
            report.merged = 0;
            return Ok(report);
        }
        self.notify_new_owners(&mut c, &mut ctx).await?;
        drop(c);
        tx.commit().await?;
        report.committed = true;
        if report.created > 1000 {
            // Fresh statistics, or PostgreSQL plans the next lead queries for an empty table.
            self.store.analyze().await?;
        }
        Ok(report)
    }

    /// The owner a row names by e-mail, if the importer may give them leads.
    async fn import_owner(&self, c: &mut kairos_store::Conn<'_>, actor: &Actor, email: &str) -> AppResult<Result<(UserId, Option<kairos_domain::ids::OrgUnitId>), String>> {
        let Ok(key) = text::email_key(email) else { return Ok(Err(format!("{email:?} is not an e-mail address"))) };
        let found = user::find_user_by_email_key(c, &key).await?.filter(|u| u.workspace_id == actor.workspace());
        let Some(u) = found else { return Ok(Err(format!("no user of this workspace has the e-mail {email}"))) };
        let mut errors = FieldErrors::new();
        let owner = resolve_owner(c, actor, &mut errors, Some(&u.id.to_string())).await?;
        Ok(owner.ok_or_else(|| errors.into_vec().into_iter().map(|e| e.problem).collect::<Vec<_>>().join("; ")))
    }
}

impl ImportReport {
    fn count(&mut self, o: &RowOutcome) {
        match o.outcome {
            "created" => self.created += 1,
            "merged" => self.merged += 1,
            _ => self.refused += 1,
        }
    }
}

impl KeepOutcomes {
    /// Whether the report keeps this outcome (already counted in `report`).
    fn keeps(self, report: &ImportReport, o: &RowOutcome) -> bool {
        match self {
            KeepOutcomes::All => true,
            KeepOutcomes::NotCreated(most) => o.outcome != "created" && report.outcomes.len() < most,
            KeepOutcomes::Nothing => false,
        }
    }
}

/// The answers of a written batch as outcomes, by row.
fn record(outcomes: &mut Vec<RowOutcome>, rows: Vec<usize>, answers: Vec<Captured>) {
    for (row, answer) in rows.into_iter().zip(answers) {
        outcomes.push(match answer {
            Captured::Created(l) => RowOutcome { row, outcome: "created", lead_id: Some(l.id.to_string()), problems: vec![] },
            Captured::Merged(l) => RowOutcome { row, outcome: "merged", lead_id: Some(l.id.to_string()), problems: vec![] },
            Captured::Refused(e) => refused(row, vec![RowProblem { field: problem_field(&e), problem: e.to_string() }]),
        });
    }
}

fn refused(row: usize, problems: Vec<RowProblem>) -> RowOutcome {
    RowOutcome { row, outcome: "refused", lead_id: None, problems }
}

fn problems_of(errors: Vec<FieldError>) -> Vec<RowProblem> {
    errors.into_iter().map(|e| RowProblem { field: e.field, problem: e.problem }).collect()
}

fn problem_field(e: &AppError) -> String {
    match e {
        AppError::Conflict { details, .. } => details["field"].as_str().unwrap_or("row").to_string(),
        _ => "row".into(),
    }
}

/// The cells of a row as a lead input; typed cells (money, dates, yes/no) are parsed here
/// so that their problems name the field.
fn row_input(errors: &mut FieldErrors, columns: &[(&'static str, usize)], cells: &[String]) -> (NewLead, Option<String>) {
    let mut input = NewLead::default();
    let mut owner = None;
    for (field, i) in columns {
        let Some(value) = cells.get(*i).map(|v| v.trim()).filter(|v| !v.is_empty()) else { continue };
        let text = Some(value.to_string());
        match *field {
            "source" => input.source = text,
            "campaign" => input.campaign = text,
            "company" => input.company = text,
            "contact_name" => input.contact_name = text,
            "title" => input.title = text,
            "phone" => input.phone = text,
            "email" => input.email = text,
            "region" => input.region = text,
            "industry" => input.industry = text,
            "notes" => input.notes = text,
            "need_description" => input.need_description = text,
            "owner_email" => owner = text,
            "budget_amount" => input.budget_amount = errors.check(field, cells::money_cell(value)),
            "budget_approved" => input.budget_approved = errors.check(field, cells::bool_cell(value)),
            "is_decision_maker" => input.is_decision_maker = errors.check(field, cells::bool_cell(value)),
            "need_match" => match value.parse::<f64>() {
                Ok(n) if n.fract() == 0.0 => input.need_match = Some(n as i64),
                _ => errors.add(*field, format!("{value:?} is not a whole number from 0 to 100")),
            },
            "expected_purchase_date" => input.expected_purchase_date = errors.check(field, cells::date_cell(value)),
            _ => {}
        }
    }
    (input, owner)
}

/// Reads the file on a blocking thread, sending the header then batches of rows. Answers
/// why it stopped when the file cannot be read at all.
fn read_rows(file: ImportFile, encoding: TextEncoding, sheet: Option<&str>, sink: Sink<'_>) -> Result<(), String> {
    let (name, mut source): (String, Box<dyn ReadSeek>) = match file {
        ImportFile::Path(p) => {
            let f = std::fs::File::open(&p).map_err(|e| format!("cannot open {}: {e}", p.display()))?;
            (p.to_string_lossy().to_lowercase(), Box::new(f))
        }
        ImportFile::Bytes { name, bytes } => (name.to_lowercase(), Box::new(std::io::Cursor::new(bytes))),
    };
    let mut head = vec![0u8; 64 * 1024];
    let n = read_up_to(&mut source, &mut head).map_err(|e| format!("cannot read the file: {e}"))?;
    head.truncate(n);
    source.seek(std::io::SeekFrom::Start(0)).map_err(|e| format!("cannot read the file: {e}"))?;
    if is_xlsx(&name, &head) {
        read_xlsx(source, sheet, sink)
    } else {
        read_csv(source, choose_encoding(encoding, &head), sink)
    }
}

trait ReadSeek: Read + Seek + Send {}
impl<T: Read + Seek + Send> ReadSeek for T {}

fn read_up_to(r: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

fn choose_encoding(asked: TextEncoding, head: &[u8]) -> &'static Encoding {
    match asked {
        TextEncoding::Utf8 => UTF_8,
        TextEncoding::Gbk => GB18030,
        TextEncoding::Auto => match std::str::from_utf8(head) {
            Ok(_) => UTF_8,
            // Cut in the middle of a character at the end of the sample: still UTF-8.
            Err(e) if e.error_len().is_none() => UTF_8,
            Err(_) => GB18030,
        },
    }
}

fn read_csv(source: Box<dyn ReadSeek>, encoding: &'static Encoding, mut sink: Sink<'_>) -> Result<(), String> {
    let decoded = encoding_rs_io::DecodeReaderBytesBuilder::new().encoding(Some(encoding)).strip_bom(true).build(source);
    let mut csv = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(decoded);
    let mut record = csv::StringRecord::new();
    loop {
        let mut line = csv.position().line() as usize;
        let row: Result<Vec<String>, String> = match csv.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                // The file's own line number, so that a report matches what the user's
                // editor shows. The reader reports where it started looking (before skipped
                // blank lines) and, after the record, where the next one starts; the later
                // of "start" and "end minus the record's own lines" is its first line.
                let inner_newlines: usize = record.iter().map(|f| f.matches('\n').count()).sum();
                let from_end = (csv.position().line() as usize).saturating_sub(1 + inner_newlines);
                line = record.position().map_or(line, |p| p.line() as usize).max(from_end);
                let cells: Vec<String> = record.iter().map(str::to_string).collect();
                if cells.iter().any(|c| c.contains('\u{fffd}')) {
                    Err(format!("the row is not valid {} text; is the file saved in another encoding (try encoding gbk or utf8)?", encoding.name()))
                } else {
                    Ok(cells)
                }
            }
            Err(e) => match e.kind() {
                csv::ErrorKind::Io(_) => return Err(format!("cannot read the file: {e}")),
                _ => Err(format!("the row is not well-formed CSV: {e}")),
            },
        };
        if !sink.push(line, row)? {
            return Ok(());
        }
    }
    sink.finish()
}

fn read_xlsx(source: Box<dyn ReadSeek>, sheet: Option<&str>, mut sink: Sink<'_>) -> Result<(), String> {
    let mut book: Xlsx<_> = Xlsx::new(source).map_err(|e| format!("the file is not a readable XLSX workbook: {e}"))?;
    let name = match sheet {
        Some(s) => s.to_string(),
        None => book.sheet_names().first().cloned().ok_or("the workbook has no sheet")?,
    };
    let mut cells = book.worksheet_cells_reader(&name).map_err(|e| format!("cannot read sheet {name:?}: {e}"))?;
    let mut current: Option<(u32, Vec<String>)> = None;
    loop {
        let cell = cells.next_cell().map_err(|e| format!("the sheet cannot be read: {e}"))?;
        let Some(cell) = cell else { break };
        let (row, col) = cell.get_position();
        if current.as_ref().is_some_and(|(r, _)| *r != row) {
            if let Some((r, values)) = current.take() {
                if !sink.push(r as usize + 1, Ok(values))? {
                    return Ok(());
                }
            }
        }
        let entry = current.get_or_insert_with(|| (row, Vec::new()));
        let col = col as usize;
        if entry.1.len() <= col {
            entry.1.resize(col + 1, String::new());
        }
        entry.1[col] = cell_text(cell.get_value());
    }
    if let Some((r, values)) = current.take() {
        if !sink.push(r as usize + 1, Ok(values))? {
            return Ok(());
        }
    }
    sink.finish().map_err(|_| "the sheet is empty".to_string())
}

/// A cell as the text a person would have typed; dates as their serial day, which the
/// date reader understands.
fn cell_text(value: &DataRef<'_>) -> String {
    match value {
        DataRef::Int(i) => i.to_string(),
        DataRef::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        DataRef::Float(f) => f.to_string(),
        DataRef::String(s) => s.clone(),
        DataRef::SharedString(s) => s.to_string(),
        DataRef::Bool(b) => b.to_string(),
        DataRef::DateTime(d) => d.as_f64().to_string(),
        DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => s.clone(),
        DataRef::Error(_) | DataRef::Empty => String::new(),
    }
}

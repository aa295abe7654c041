//! Support requests (跨部门协作, PRODUCT.md §6): a deal's people ask presales, customer
//! success, finance or legal for help. The team accepts or rejects (with a reason) before a
//! deadline, finishes the work, and both sides rate the collaboration 1–10. Here: who may
//! do what in which state; the app layer loads, asks, and writes.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::identity::Role;
use crate::ids::{OpportunityId, SupportRequestId, UserId, WorkspaceId};

/// Hours a team has to accept or reject a request typed in by a person (§6).
pub const ANSWER_HOURS: i64 = 24;
/// Hours presales has for a request opened because a deal became a priority deal (§5).
pub const PRIORITY_ANSWER_HOURS: i64 = 48;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SupportTeam {
    Presales,
    CustomerSuccess,
    Finance,
    Legal,
}

impl SupportTeam {
    pub fn as_str(self) -> &'static str {
        match self {
            SupportTeam::Presales => "presales",
            SupportTeam::CustomerSuccess => "customer_success",
            SupportTeam::Finance => "finance",
            SupportTeam::Legal => "legal",
        }
    }

    pub fn from_stored(s: &str) -> Option<SupportTeam> {
        Some(match s {
            "presales" => SupportTeam::Presales,
            "customer_success" => SupportTeam::CustomerSuccess,
            "finance" => SupportTeam::Finance,
            "legal" => SupportTeam::Legal,
            _ => return None,
        })
    }

    /// The role whose holders answer this team's requests.
    pub fn role(self) -> Role {
        match self {
            SupportTeam::Presales => Role::Presales,
            SupportTeam::CustomerSuccess => Role::CustomerSuccess,
            SupportTeam::Finance => Role::Finance,
            SupportTeam::Legal => Role::Legal,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SupportStatus {
    Open,
    Accepted,
    Rejected,
    Done,
    Cancelled,
}

impl SupportStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SupportStatus::Open => "open",
            SupportStatus::Accepted => "accepted",
            SupportStatus::Rejected => "rejected",
            SupportStatus::Done => "done",
            SupportStatus::Cancelled => "cancelled",
        }
    }

    pub fn from_stored(s: &str) -> Option<SupportStatus> {
        Some(match s {
            "open" => SupportStatus::Open,
            "accepted" => SupportStatus::Accepted,
            "rejected" => SupportStatus::Rejected,
            "done" => SupportStatus::Done,
            "cancelled" => SupportStatus::Cancelled,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SupportRequest {
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub id: SupportRequestId,
    #[serde(skip)]
    pub workspace_id: WorkspaceId,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub opportunity_id: OpportunityId,
    pub team: SupportTeam,
    /// What kind of help: solution demo, technical exchange, pricing review, contract review…
    pub kind: String,
    pub description: String,
    pub expected_output: Option<String>,
    pub due_on: Option<NaiveDate>,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub requester_id: UserId,
    /// A named supporter; when absent anyone of the team may answer.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Uuid))]
    pub assignee_id: Option<UserId>,
    pub status: SupportStatus,
    /// Accept or reject before this time; past it the requester's manager hears of it.
    pub accept_by: DateTime<Utc>,
    pub responded_at: Option<DateTime<Utc>>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Uuid))]
    pub responder_id: Option<UserId>,
    pub reject_reason: Option<String>,
    pub done_at: Option<DateTime<Utc>>,
    pub done_note: Option<String>,
    pub requester_rating: Option<u8>,
    pub requester_comment: Option<String>,
    pub supporter_rating: Option<u8>,
    pub supporter_comment: Option<String>,
    #[serde(skip)]
    pub overdue_notified_at: Option<DateTime<Utc>>,
    /// `manual`, or `priority` (opened when the deal became a priority deal).
    pub origin: String,
    #[serde(skip)]
    pub origin_key: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

/// What a new request says; the rest starts empty.
#[derive(Debug, Clone)]
pub struct SupportDraft {
    pub id: SupportRequestId,
    pub workspace_id: WorkspaceId,
    pub opportunity_id: OpportunityId,
    pub team: SupportTeam,
    pub kind: String,
    pub description: String,
    pub expected_output: Option<String>,
    pub due_on: Option<NaiveDate>,
    pub requester_id: UserId,
    pub assignee_id: Option<UserId>,
    /// Opened by itself because the deal became a priority deal (48 hours to answer, one
    /// per deal) rather than by a person (24 hours).
    pub priority: bool,
}

impl SupportRequest {
    pub fn open(d: SupportDraft, now: DateTime<Utc>) -> SupportRequest {
        SupportRequest {
            id: d.id,
            workspace_id: d.workspace_id,
            opportunity_id: d.opportunity_id,
            team: d.team,
            kind: d.kind,
            description: d.description,
            expected_output: d.expected_output,
            due_on: d.due_on,
            requester_id: d.requester_id,
            assignee_id: d.assignee_id,
            status: SupportStatus::Open,
            accept_by: answer_due(now, d.priority),
            responded_at: None,
            responder_id: None,
            reject_reason: None,
            done_at: None,
            done_note: None,
            requester_rating: None,
            requester_comment: None,
            supporter_rating: None,
            supporter_comment: None,
            overdue_notified_at: None,
            origin: if d.priority { "priority" } else { "manual" }.into(),
            origin_key: d.priority.then(|| format!("priority:{}", d.opportunity_id)),
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }
}

/// What someone does to a request.
#[derive(Debug, Clone, PartialEq)]
pub enum SupportAction {
    Accept,
    Reject { reason: String },
    Done { note: Option<String> },
    Cancel,
    Rate { rating: u8, comment: Option<String> },
}

/// How the person acting stands to the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    pub requester: bool,
    /// The named assignee, or (with none named) a holder of the team's role.
    pub supporter: bool,
}

/// Why an action is refused: a code a client can match, and words a person can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: &'static str,
    pub message: String,
}

fn refuse(code: &'static str, message: impl Into<String>) -> Refusal {
    Refusal { code, message: message.into() }
}

/// Applies `action` by someone of `standing` at `now`; the request as it is afterwards.
pub fn apply(r: &SupportRequest, action: SupportAction, standing: Standing, actor: UserId, now: DateTime<Utc>) -> Result<SupportRequest, Refusal> {
    let mut next = r.clone();
    let state = r.status;
    match action {
        SupportAction::Accept | SupportAction::Reject { .. } => {
            if !standing.supporter {
                return Err(refuse("not_supporter", format!("only the {} team (or the named supporter) answers this request", r.team.as_str())));
            }
            if state != SupportStatus::Open {
                return Err(refuse("not_open", format!("the request is {}; only an open request can be accepted or rejected", state.as_str())));
            }
            next.responded_at = Some(now);
            next.responder_id = Some(actor);
            if let SupportAction::Reject { reason } = action {
                next.status = SupportStatus::Rejected;
                next.reject_reason = Some(reason);
            } else {
                next.status = SupportStatus::Accepted;
                // Whoever accepts owns the work from now on.
                next.assignee_id = Some(actor);
            }
        }
        SupportAction::Done { note } => {
            if !standing.supporter {
                return Err(refuse("not_supporter", "only the supporter who accepted the request marks it done"));
            }
            if state != SupportStatus::Accepted {
                return Err(refuse("not_accepted", format!("the request is {}; accept it before marking it done", state.as_str())));
            }
            next.status = SupportStatus::Done;
            next.done_at = Some(now);
            next.done_note = note;
        }
        SupportAction::Cancel => {
            if !standing.requester {
                return Err(refuse("not_requester", "only the requester cancels a request"));
            }
            if !matches!(state, SupportStatus::Open | SupportStatus::Accepted) {
                return Err(refuse("closed", format!("the request is {} already", state.as_str())));
            }
            next.status = SupportStatus::Cancelled;
        }
        SupportAction::Rate { rating, comment } => {
            if state != SupportStatus::Done {
                return Err(refuse("not_done", format!("the request is {}; rate it once it is done", state.as_str())));
            }
            // The requester rates the help; the supporter rates the collaboration.
            if standing.requester && r.requester_rating.is_none() {
                next.requester_rating = Some(rating);
                next.requester_comment = comment;
            } else if standing.supporter && r.supporter_rating.is_none() {
                next.supporter_rating = Some(rating);
                next.supporter_comment = comment;
            } else if standing.requester || standing.supporter {
                return Err(refuse("rated", "you have rated this request already"));
            } else {
                return Err(refuse("not_party", "only the requester and the supporter rate a request"));
            }
        }
    }
    next.updated_at = now;
    next.version = r.version + 1;
    Ok(next)
}

/// When an answer is due for a request opened at `at` by a person or, with `priority`,
/// because its deal became a priority deal.
pub fn answer_due(at: DateTime<Utc>, priority: bool) -> DateTime<Utc> {
    at + Duration::hours(if priority { PRIORITY_ANSWER_HOURS } else { ANSWER_HOURS })
}

/// Whether the requester's manager should now hear that nobody answered.
pub fn unanswered(r: &SupportRequest, now: DateTime<Utc>) -> bool {
    r.status == SupportStatus::Open && now > r.accept_by && r.overdue_notified_at.is_none()
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn t(h: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-23T02:00:00Z").unwrap().with_timezone(&Utc) + Duration::hours(h)
    }

    fn request() -> SupportRequest {
        let draft = SupportDraft {
            id: SupportRequestId::from_uuid(Uuid::from_u128(1)),
            workspace_id: WorkspaceId::from_uuid(Uuid::from_u128(2)),
            opportunity_id: OpportunityId::from_uuid(Uuid::from_u128(3)),
            team: SupportTeam::Presales,
            kind: "方案演示".into(),
            description: "客户要看 PoC".into(),
            expected_output: None,
            due_on: None,
            requester_id: UserId::from_uuid(Uuid::from_u128(4)),
            assignee_id: None,
            priority: false,
        };
        SupportRequest::open(draft, t(0))
    }

    const REQUESTER: Standing = Standing { requester: true, supporter: false };
    const SUPPORTER: Standing = Standing { requester: false, supporter: true };
    const BYSTANDER: Standing = Standing { requester: false, supporter: false };

    #[test]
    fn a_request_goes_open_accepted_done_and_both_sides_rate_it_once() {
        let sup = UserId::from_uuid(Uuid::from_u128(9));
        let r = request();
        assert_eq!(apply(&r, SupportAction::Accept, REQUESTER, r.requester_id, t(1)).unwrap_err().code, "not_supporter");
        let a = apply(&r, SupportAction::Accept, SUPPORTER, sup, t(1)).unwrap();
        assert_eq!((a.status, a.assignee_id, a.version), (SupportStatus::Accepted, Some(sup), 2));
        assert_eq!(apply(&a, SupportAction::Rate { rating: 9, comment: None }, REQUESTER, r.requester_id, t(2)).unwrap_err().code, "not_done");
        let d = apply(&a, SupportAction::Done { note: Some("PoC 已完成".into()) }, SUPPORTER, sup, t(30)).unwrap();
        assert_eq!(d.status, SupportStatus::Done);
        let r1 = apply(&d, SupportAction::Rate { rating: 9, comment: None }, REQUESTER, r.requester_id, t(31)).unwrap();
        let r2 = apply(&r1, SupportAction::Rate { rating: 7, comment: Some("需求描述清楚".into()) }, SUPPORTER, sup, t(31)).unwrap();
        assert_eq!((r2.requester_rating, r2.supporter_rating), (Some(9), Some(7)));
        assert_eq!(apply(&r2, SupportAction::Rate { rating: 1, comment: None }, REQUESTER, r.requester_id, t(32)).unwrap_err().code, "rated");
        assert_eq!(apply(&r2, SupportAction::Rate { rating: 1, comment: None }, BYSTANDER, sup, t(32)).unwrap_err().code, "not_party");
    }

    #[test]
    fn only_open_requests_are_answered_and_only_the_requester_cancels() {
        let sup = UserId::from_uuid(Uuid::from_u128(9));
        let r = request();
        let rej = apply(&r, SupportAction::Reject { reason: "排期已满".into() }, SUPPORTER, sup, t(2)).unwrap();
        assert_eq!((rej.status, rej.reject_reason.as_deref()), (SupportStatus::Rejected, Some("排期已满")));
        assert_eq!(apply(&rej, SupportAction::Accept, SUPPORTER, sup, t(3)).unwrap_err().code, "not_open");
        assert_eq!(apply(&rej, SupportAction::Cancel, REQUESTER, r.requester_id, t(3)).unwrap_err().code, "closed");
        assert_eq!(apply(&r, SupportAction::Cancel, SUPPORTER, sup, t(3)).unwrap_err().code, "not_requester");
        assert_eq!(apply(&r, SupportAction::Cancel, REQUESTER, r.requester_id, t(3)).unwrap().status, SupportStatus::Cancelled);
        assert_eq!(apply(&r, SupportAction::Done { note: None }, SUPPORTER, sup, t(3)).unwrap_err().code, "not_accepted");
    }

    #[test]
    fn an_unanswered_request_is_reported_once_after_its_deadline() {
        let r = request();
        assert_eq!(r.accept_by, t(24));
        assert!(!unanswered(&r, t(24)));
        assert!(unanswered(&r, t(25)));
        assert!(!unanswered(&SupportRequest { overdue_notified_at: Some(t(25)), ..r.clone() }, t(26)));
        assert!(!unanswered(&SupportRequest { status: SupportStatus::Accepted, ..r.clone() }, t(26)));
        assert_eq!(answer_due(t(0), true), t(48), "a priority deal's presales request has 48 hours");
    }
}

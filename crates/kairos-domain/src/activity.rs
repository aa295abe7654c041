//! Activities (跟进记录) and tasks (待办), PRODUCT.md §6: what a rep did with a customer, and
//! what someone still has to do. An activity that has happened is a touch: it feeds cadence,
//! staleness and decision-chain coverage.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{AccountId, ActivityId, ContactId, LeadId, OpportunityId, OrgUnitId, TaskId, UserId, WorkspaceId};
use crate::validation::Problem;

macro_rules! stored_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn from_stored(text: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|k| k.as_str() == text)
            }

            /// Reads what a client sent, naming the accepted values when it is none of them.
            pub fn parse(text: &str) -> Result<Self, Problem> {
                Self::from_stored(text.trim()).ok_or_else(|| {
                    let names: Vec<&str> = Self::ALL.iter().map(|k| k.as_str()).collect();
                    Problem::new(format!("must be one of {}", names.join(", ")))
                })
            }
        }
    };
}

stored_enum!(
    /// How the customer was reached.
    ActivityKind { Call = "call", Email = "email", Meeting = "meeting", Visit = "visit", Im = "im", Demo = "demo", Other = "other" }
);

stored_enum!(
    /// Why a task exists: typed in, or made by a rule (cadence, a checklist item, an
    /// approval, an escalation, the close-date reminder, a support request, the next step of
    /// an activity).
    TaskOrigin {
        Manual = "manual",
        Activity = "activity",
        Cadence = "cadence",
        Checklist = "checklist",
        Approval = "approval",
        Escalation = "escalation",
        CloseDate = "close_date",
        SupportRequest = "support_request",
        PriorityMeeting = "priority_meeting",
    }
);

stored_enum!(
    /// Stored status; "overdue" is an open task past its due time, worked out when read.
    TaskStatus { Open = "open", Done = "done", Cancelled = "cancelled" }
);

stored_enum!(
    /// The kinds of record an activity or a task can be about.
    RecordKind { Opportunity = "opportunity", Account = "account", Lead = "lead" }
);

/// Longest duration an activity may claim: a week-long on-site visit.
pub const MAX_DURATION_MINUTES: u32 = 7 * 24 * 60;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Activity {
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub id: ActivityId,
    #[serde(skip)]
    pub workspace_id: WorkspaceId,
    pub kind: ActivityKind,
    /// When it happened; a time ahead is a planned activity (a booked meeting), which counts
    /// as a next step rather than a touch until it has happened.
    pub occurred_at: DateTime<Utc>,
    pub duration_minutes: Option<u32>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Uuid))]
    pub opportunity_id: Option<OpportunityId>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Uuid))]
    pub account_id: Option<AccountId>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Uuid))]
    pub lead_id: Option<LeadId>,
    /// Contacts who took part; on a deal they count as reached for its decision chain.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub contact_ids: Vec<ContactId>,
    pub summary: String,
    pub outcome: Option<String>,
    pub next_step: Option<String>,
    pub next_step_at: Option<DateTime<Utc>>,
    /// The task the next step became.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Uuid))]
    pub next_task_id: Option<TaskId>,
    /// Who did it (and logged it).
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub owner_id: UserId,
    #[serde(skip)]
    pub org_unit_id: Option<OrgUnitId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

impl Activity {
    /// A touch is an activity that has happened by `now`.
    pub fn is_touch(&self, now: DateTime<Utc>) -> bool {
        self.occurred_at <= now
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Task {
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub id: TaskId,
    #[serde(skip)]
    pub workspace_id: WorkspaceId,
    pub title: String,
    pub notes: Option<String>,
    pub due_at: DateTime<Utc>,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub assignee_id: UserId,
    #[serde(skip)]
    pub org_unit_id: Option<OrgUnitId>,
    /// The record it is about (`opportunity`, `account`, `lead`) and its id.
    pub entity: Option<RecordKind>,
    pub entity_id: Option<String>,
    pub origin: TaskOrigin,
    /// What a generated task stands for; it is made once per key.
    #[serde(skip)]
    pub origin_key: Option<String>,
    pub status: TaskStatus,
    pub done_at: Option<DateTime<Utc>>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Uuid))]
    pub done_by: Option<UserId>,
    /// When the assignee's manager was told that it is overdue.
    pub escalated_at: Option<DateTime<Utc>>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Uuid))]
    pub created_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

/// What a person sees of a task's state: open tasks past their due time are overdue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    Open,
    Overdue,
    Done,
    Cancelled,
}

/// What a new task is: the parts every path that makes one (a person, an activity's next
/// step, a scanner, the demo) decides; [`Task::open`] fills in the rest.
#[derive(Debug, Clone)]
pub struct TaskDraft {
    pub title: String,
    pub due_at: DateTime<Utc>,
    pub assignee_id: UserId,
    pub org_unit_id: Option<OrgUnitId>,
    /// The record it is about and its id.
    pub record: Option<(RecordKind, String)>,
    pub origin: TaskOrigin,
    pub origin_key: Option<String>,
    /// None for tasks the rules made.
    pub created_by: Option<UserId>,
}

impl Task {
    /// A new open task, created at `now`.
    pub fn open(id: TaskId, workspace_id: WorkspaceId, d: TaskDraft, now: DateTime<Utc>) -> Task {
        let (entity, entity_id) = d.record.map_or((None, None), |(k, id)| (Some(k), Some(id)));
        Task {
            id,
            workspace_id,
            title: d.title,
            notes: None,
            due_at: d.due_at,
            assignee_id: d.assignee_id,
            org_unit_id: d.org_unit_id,
            entity,
            entity_id,
            origin: d.origin,
            origin_key: d.origin_key,
            status: TaskStatus::Open,
            done_at: None,
            done_by: None,
            escalated_at: None,
            created_by: d.created_by,
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }

    pub fn state(&self, now: DateTime<Utc>) -> TaskState {
        match self.status {
            TaskStatus::Open if self.due_at < now => TaskState::Overdue,
            TaskStatus::Open => TaskState::Open,
            TaskStatus::Done => TaskState::Done,
            TaskStatus::Cancelled => TaskState::Cancelled,
        }
    }
}

/// A next step needs both what and when: a next step without a date is a wish, and a date
/// without a step tells the task list nothing.
pub fn next_step(step: Option<String>, at: Option<DateTime<Utc>>) -> Result<Option<(String, DateTime<Utc>)>, (&'static str, Problem)> {
    match (step, at) {
        (Some(s), Some(t)) => Ok(Some((s, t))),
        (None, None) => Ok(None),
        (Some(_), None) => Err(("next_step_at", Problem::new("is required with a next step: say when it is due"))),
        (None, Some(_)) => Err(("next_step", Problem::new("is required with next_step_at: say what the next step is"))),
    }
}

pub fn duration(minutes: u32) -> Result<u32, Problem> {
    if minutes > MAX_DURATION_MINUTES {
        Err(Problem::new(format!("must be at most {MAX_DURATION_MINUTES} minutes (a week)")))
    } else {
        Ok(minutes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn kinds_read_back_what_they_store_and_name_the_choices_otherwise() {
        for k in ActivityKind::ALL {
            assert_eq!(ActivityKind::parse(k.as_str()), Ok(*k));
        }
        let err = ActivityKind::parse("fax").unwrap_err();
        assert_eq!(err.0, "must be one of call, email, meeting, visit, im, demo, other");
        assert_eq!(TaskOrigin::from_stored("close_date"), Some(TaskOrigin::CloseDate));
    }

    #[test]
    fn an_open_task_past_due_is_overdue_and_a_done_one_never_is() {
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap();
        let draft = TaskDraft {
            title: "call".into(),
            due_at: now - chrono::Duration::minutes(1),
            assignee_id: UserId::from_uuid(uuid::Uuid::from_u128(3)),
            org_unit_id: None,
            record: None,
            origin: TaskOrigin::Manual,
            origin_key: None,
            created_by: None,
        };
        let mut t = Task::open(TaskId::from_uuid(uuid::Uuid::from_u128(1)), WorkspaceId::from_uuid(uuid::Uuid::from_u128(2)), draft, now);
        assert_eq!(t.state(now), TaskState::Overdue);
        t.due_at = now + chrono::Duration::minutes(1);
        assert_eq!(t.state(now), TaskState::Open);
        t.due_at = now - chrono::Duration::days(3);
        t.status = TaskStatus::Done;
        assert_eq!(t.state(now), TaskState::Done);
    }

    #[test]
    fn a_next_step_needs_what_and_when() {
        let at = Utc.with_ymd_and_hms(2026, 11, 30, 2, 0, 0).unwrap();
        assert_eq!(next_step(Some("demo".into()), Some(at)), Ok(Some(("demo".into(), at))));
        assert_eq!(next_step(None, None), Ok(None));
        assert_eq!(next_step(Some("demo".into()), None).unwrap_err().0, "next_step_at");
        assert_eq!(next_step(None, Some(at)).unwrap_err().0, "next_step");
    }
}

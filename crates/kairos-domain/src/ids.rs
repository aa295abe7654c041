//! Typed identifiers. Ids are UUIDv7 (time-ordered, so inserts stay index-friendly); they
//! are minted by the caller, never here, because the domain draws no randomness.

use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

use crate::Problem;

macro_rules! id_type {
    ($($name:ident),* $(,)?) => {$(
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            pub fn from_uuid(uuid: Uuid) -> Self { Self(uuid) }
            pub fn uuid(&self) -> Uuid { self.0 }
            /// Parses an id as a client sends it; a malformed id is a client error.
            pub fn parse(text: &str) -> Result<Self, Problem> {
                Uuid::parse_str(text.trim())
                    .map(Self)
                    .map_err(|_| Problem::new("is not a valid id (expected a UUID)"))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }
    )*};
}

id_type!(
    WorkspaceId,
    OrgUnitId,
    UserId,
    AccountId,
    ContactId,
    TokenId,
    AuditId,
    ProcessId,
    StageId,
    OpportunityId,
    ApprovalId,
    HistoryId,
    DocumentId,
    CloseReasonId,
    LeadId,
    LeadFormId,
    NotificationId,
    ImportJobId,
    ActivityId,
    TaskId,
    DeliveryId,
    EndpointId,
    SupportRequestId,
);

//! Audit trail (PRODUCT.md §1): which fields a change touched, with old and new values.

use serde::Serialize;

/// A record that can list its audited fields as text, so that any two versions of it can
/// be compared field by field.
pub trait Audited {
    /// The entity name written to the audit log (`account`, `contact`, …).
    const ENTITY: &'static str;
    fn audit_fields(&self) -> Vec<(&'static str, Option<String>)>;
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldChange {
    pub field: String,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
}

/// Every field of a new record, as changes from nothing.
pub fn created<T: Audited>(new: &T) -> Vec<FieldChange> {
    new.audit_fields()
        .into_iter()
        .filter(|(_, v)| v.is_some())
        .map(|(field, v)| FieldChange { field: field.to_string(), old_value: None, new_value: v })
        .collect()
}

/// The fields whose values differ between two versions of a record.
pub fn changed<T: Audited>(old: &T, new: &T) -> Vec<FieldChange> {
    old.audit_fields()
        .into_iter()
        .zip(new.audit_fields())
        .filter(|((_, a), (_, b))| a != b)
        .map(|((field, a), (_, b))| FieldChange { field: field.to_string(), old_value: a, new_value: b })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Thing {
        a: String,
        b: Option<i64>,
    }

    impl Audited for Thing {
        const ENTITY: &'static str = "thing";
        fn audit_fields(&self) -> Vec<(&'static str, Option<String>)> {
            vec![("a", Some(self.a.clone())), ("b", self.b.map(|b| b.to_string()))]
        }
    }

    #[test]
    fn only_changed_fields_are_reported() {
        let old = Thing { a: "x".into(), b: None };
        let new = Thing { a: "x".into(), b: Some(3) };
        assert_eq!(
            changed(&old, &new),
            vec![FieldChange { field: "b".into(), old_value: None, new_value: Some("3".into()) }]
        );
        assert_eq!(created(&old).len(), 1, "absent values are not written on create");
    }
}

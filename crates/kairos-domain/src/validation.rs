//! Field-level validation results, collected so that a client hears about every bad field
//! at once instead of fixing them one round-trip at a time.

use serde::Serialize;

/// Why one value was refused, in words a person can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem(pub String);

impl Problem {
    pub fn new(message: impl Into<String>) -> Self {
        Problem(message.into())
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub problem: String,
}

/// Accumulates field errors while an input is parsed into domain values.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FieldErrors(Vec<FieldError>);

impl FieldErrors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, field: impl Into<String>, problem: impl Into<String>) {
        self.0.push(FieldError { field: field.into(), problem: problem.into() });
    }

    /// Records the problem of a failed parse under `field` and hands back the value if any.
    pub fn check<T>(&mut self, field: &str, parsed: Result<T, Problem>) -> Option<T> {
        match parsed {
            Ok(value) => Some(value),
            Err(problem) => {
                self.add(field, problem.0);
                None
            }
        }
    }

    /// Like [`check`](Self::check) for an optional input: absent stays absent.
    pub fn check_opt<T>(&mut self, field: &str, parsed: Option<Result<T, Problem>>) -> Option<T> {
        parsed.and_then(|p| self.check(field, p))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_vec(self) -> Vec<FieldError> {
        self.0
    }

    /// `Ok(())` when nothing was recorded, otherwise every recorded error.
    pub fn finish(self) -> Result<(), Vec<FieldError>> {
        if self.0.is_empty() { Ok(()) } else { Err(self.0) }
    }
}

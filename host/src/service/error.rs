//! Why a use case failed: one error type for the services, each variant
//! with a stable, HTTP-independent code. The API maps variants to statuses
//! (`api/error.rs`); the services never speak HTTP.

use crate::domain::FieldError;
use crate::domain::vulnerability::Finding;
use crate::runtime::Invalid;
use crate::store::StoreError;

/// Why a use case failed. Each variant's doc names the HTTP status the API
/// answers it with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 401 `unauthorized`: no valid credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// 403 `policy_denied`: the policy said no.
    #[error("{0}")]
    Forbidden(String),
    /// 403 `policy_denied` too, because a policy guest failed (timed out,
    /// trapped, passed a limit) and so denied: which guest, and how.
    #[error("{reason}")]
    GuestFailed {
        reason: String,
        guest: crate::service::decisions::GuestFailure,
    },
    /// 404: the resource does not exist, or the caller may not know it does.
    #[error("{detail}")]
    NotFound { code: &'static str, detail: String },
    /// 400: a malformed request (not a field problem).
    #[error("{detail}")]
    BadRequest { code: &'static str, detail: String },
    /// 422 `validation_failed`.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// 422 with its own code: a well-formed request the platform refuses
    /// (an invalid component, a kind that cannot run yet).
    #[error("{detail}")]
    Unprocessable { code: &'static str, detail: String },
    /// 422 with its own code and the fields at fault: a well-formed value
    /// the platform will not act on (`url_not_allowed`: a WordPress URL
    /// whose address bbws does not connect to).
    #[error("{detail}")]
    FieldRefused {
        code: &'static str,
        detail: String,
        errors: Vec<FieldError>,
    },
    /// 409: the request conflicts with the current state.
    #[error("{detail}")]
    Conflict { code: &'static str, detail: String },
    /// 412 `version_conflict`: If-Match did not match.
    #[error("{0}")]
    VersionConflict(String),
    /// 410: the resource existed but is no longer usable.
    #[error("{detail}")]
    Gone { code: &'static str, detail: String },
    /// 422 `security_scan_failed`: a plugin has findings at or above the
    /// tenant's threshold.
    #[error("{detail}")]
    ScanFailed {
        detail: String,
        findings: Vec<Finding>,
    },
    /// 503 `not_ready`: a backend the request needs does not answer.
    #[error("{0}")]
    Unavailable(String),
    /// 500 `internal`: a fault, logged with its detail and answered without it.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn not_found(code: &'static str, detail: impl Into<String>) -> Self {
        Error::NotFound {
            code,
            detail: detail.into(),
        }
    }

    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Error::Conflict {
            code,
            detail: detail.into(),
        }
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Validation(vec![FieldError {
            field: field.into(),
            message: message.into(),
        }])
    }

    /// 422 `code` naming `field` as the one at fault.
    pub fn field_refused(
        code: &'static str,
        field: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        let detail = detail.into();
        Error::FieldRefused {
            code,
            errors: vec![FieldError {
                field: field.into(),
                message: detail.clone(),
            }],
            detail,
        }
    }

    /// The stable machine code clients branch on (`tenant_not_found`,
    /// `version_conflict`, ...).
    pub fn code(&self) -> &'static str {
        match self {
            Error::Unauthorized(_) => "unauthorized",
            Error::Forbidden(_) | Error::GuestFailed { .. } => "policy_denied",
            Error::NotFound { code, .. }
            | Error::BadRequest { code, .. }
            | Error::Unprocessable { code, .. }
            | Error::FieldRefused { code, .. }
            | Error::Conflict { code, .. }
            | Error::Gone { code, .. } => code,
            Error::Validation(_) => "validation_failed",
            Error::VersionConflict(_) => "version_conflict",
            Error::ScanFailed { .. } => "security_scan_failed",
            Error::Unavailable(_) => "not_ready",
            Error::Internal(_) => "internal",
        }
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            // A condition that fails here was not anticipated by the caller
            // (anticipated ones are matched where they happen): someone
            // else wrote first.
            StoreError::ConditionFailed { .. } | StoreError::TransactionCancelled { .. } => {
                Error::conflict(
                    "concurrent_modification",
                    "the resource changed while this request ran; retry it",
                )
            }
            other => Error::Internal(other.into()),
        }
    }
}

impl From<Invalid> for Error {
    fn from(e: Invalid) -> Self {
        Error::Unprocessable {
            code: e.code(),
            detail: e.to_string(),
        }
    }
}

impl From<crate::jobs::QueueError> for Error {
    fn from(e: crate::jobs::QueueError) -> Self {
        Error::Internal(e.into())
    }
}

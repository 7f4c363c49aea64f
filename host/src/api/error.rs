//! Errors as RFC 9457 problem+json, with a stable machine `code`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::FieldError;
use crate::service::Error;

/// An error answer. `code` is stable; `title` and `detail` are for people.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the problem type (`urn:bbws:problem:{code}`).
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable machine-readable code, such as `tenant_not_found`.
    pub code: String,
    /// Per-field problems (with `validation_failed`, and `url_not_allowed`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// The vulnerabilities found (with `security_scan_failed`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<crate::domain::vulnerability::Finding>,
    /// With `policy_denied` when a policy guest failed rather than decided:
    /// its error code (`guest_timeout`, `guest_limit`, `guest_trap`, ...)
    /// and the component's hash.
    #[serde(rename = "guestError", skip_serializing_if = "Option::is_none")]
    pub guest_error: Option<crate::service::decisions::GuestFailure>,
}

impl Problem {
    pub fn new(status: StatusCode, code: &str, detail: impl Into<String>) -> Self {
        Self {
            kind: format!("urn:bbws:problem:{code}"),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail: detail.into(),
            code: code.to_string(),
            errors: Vec::new(),
            findings: Vec::new(),
            guest_error: None,
        }
    }

    pub fn validation(errors: Vec<FieldError>) -> Self {
        let detail = errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ");
        Self {
            errors,
            ..Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                detail,
            )
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut res = (status, axum::Json(&self)).into_response();
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if status == StatusCode::UNAUTHORIZED {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        res
    }
}

/// The HTTP status each service error is answered with.
pub fn status_of(e: &Error) -> StatusCode {
    match e {
        Error::Unauthorized(_) => StatusCode::UNAUTHORIZED,
        Error::Forbidden(_) | Error::GuestFailed { .. } => StatusCode::FORBIDDEN,
        Error::NotFound { .. } => StatusCode::NOT_FOUND,
        Error::BadRequest { .. } => StatusCode::BAD_REQUEST,
        Error::Validation(_)
        | Error::Unprocessable { .. }
        | Error::FieldRefused { .. }
        | Error::ScanFailed { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        Error::Conflict { .. } => StatusCode::CONFLICT,
        Error::VersionConflict(_) => StatusCode::PRECONDITION_FAILED,
        Error::Gone { .. } => StatusCode::GONE,
        Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<Error> for Problem {
    fn from(e: Error) -> Self {
        let (status, code) = (status_of(&e), e.code());
        match e {
            Error::Validation(errors) => Problem::validation(errors),
            Error::FieldRefused { detail, errors, .. } => Problem {
                errors,
                ..Problem::new(status, code, detail)
            },
            Error::ScanFailed { detail, findings } => Problem {
                findings,
                ..Problem::new(status, code, detail)
            },
            Error::GuestFailed { reason, guest } => Problem {
                guest_error: Some(guest),
                ..Problem::new(status, code, reason)
            },
            Error::Internal(e) => {
                tracing::error!(error = ?e, "internal error");
                Problem::new(
                    status,
                    code,
                    "an internal error occurred; it has been logged",
                )
            }
            e => Problem::new(status, code, e.to_string()),
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        Problem::from(self).into_response()
    }
}

/// What handlers return.
pub type ApiResult<T> = Result<T, Error>;

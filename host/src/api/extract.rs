//! Request extractors that answer problem+json when the request is wrong:
//! the caller ([`Auth`]), a JSON body ([`Body`]), `If-Match` ([`IfMatch`])
//! and paging ([`PageQuery`]).

// A rejection is built once per failed request and answered at once;
// boxing it would only add an allocation.
#![allow(clippy::result_large_err)]

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{StatusCode, header, request::Parts};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use utoipa::IntoParams;

use super::AppState;
use super::error::Problem;
use crate::domain::FieldError;
use crate::service::{Caller, Error, PageRequest};

/// The authenticated caller of a request. The idempotency layer, which
/// authenticates before it keeps anything, leaves it in the request's
/// extensions so the token is looked up once.
#[derive(Clone)]
pub struct Auth(pub std::sync::Arc<Caller>);

impl FromRequestParts<AppState> for Auth {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        if let Some(auth) = parts.extensions.get::<Auth>() {
            return Ok(auth.clone());
        }
        let bearer = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                Problem::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "send Authorization: Bearer <token>",
                )
            })?;
        state
            .services
            .identity()
            .authenticate(bearer)
            .await
            .map(Auth)
            .map_err(Problem::from)
    }
}

/// A JSON body, decoded strictly: a syntax error is 400 `malformed_json`;
/// a wrong type, missing or unknown field or unknown enum value is 422
/// `validation_failed` naming the field.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        require_json(req.headers())?;
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| Problem::new(e.status(), "body_unreadable", e.body_text()))?;
        parse_json(&bytes).map(Body)
    }
}

/// 415 `unsupported_media_type` unless the body is declared JSON.
pub fn require_json(headers: &axum::http::HeaderMap) -> Result<(), Problem> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            let mime = v.split(';').next().unwrap_or("").trim();
            mime == "application/json" || mime.ends_with("+json")
        });
    if json {
        Ok(())
    } else {
        Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as Content-Type: application/json",
        ))
    }
}

/// Decodes JSON the way [`Body`] does.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut *de).map_err(|e| {
        let inner = e.inner();
        // serde_json reports some type mismatches (an array or a number where
        // an enum goes) as syntax errors: only a body that does not parse as
        // JSON at all is malformed.
        let valid = serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok();
        if (inner.is_syntax() || inner.is_eof()) && !valid {
            return Problem::new(
                StatusCode::BAD_REQUEST,
                "malformed_json",
                format!("the body is not valid JSON: {inner}"),
            );
        }
        let path = e.path().to_string();
        let message = if inner.is_syntax() {
            "has the wrong type".to_string()
        } else {
            inner.to_string()
        };
        // serde names a missing field in the message, at its parent's path.
        let field = match message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next())
        {
            Some(name) if path == "." => name.to_string(),
            Some(name) => format!("{path}.{name}"),
            None if path == "." => "body".to_string(),
            None => path,
        };
        let message = message
            .split(" at line ")
            .next()
            .unwrap_or_default()
            .to_string();
        Problem::validation(vec![FieldError { field, message }])
    })?;
    de.end().map_err(|e| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("the body is not valid JSON: {e}"),
        )
    })?;
    Ok(value)
}

/// The version an `If-Match` header names, if any. Accepts `"3"`, `W/"3"`
/// and `3`; `*` means "any version".
pub struct IfMatch(pub Option<u64>);

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Problem> {
        let Some(value) = parts.headers.get(header::IF_MATCH) else {
            return Ok(IfMatch(None));
        };
        let text = value.to_str().unwrap_or("").trim();
        if text == "*" {
            return Ok(IfMatch(None));
        }
        let bare = text.trim_start_matches("W/").trim_matches('"');
        bare.parse::<u64>().map(|v| IfMatch(Some(v))).map_err(|_| {
            Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid_if_match",
                "If-Match must be an ETag this API handed out, such as \"3\"",
            )
        })
    }
}

/// `?limit=&cursor=`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1..100, default 20.
    pub limit: Option<usize>,
    /// `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

impl PageQuery {
    pub fn request(&self) -> Result<PageRequest, Error> {
        PageRequest::parse(self.limit, self.cursor.as_deref())
    }
}

/// Query strings decoded like bodies: an unknown enum value is a 422 naming the parameter.
pub struct Params<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Problem> {
        let query = parts.uri.query().unwrap_or("");
        let de = serde_urlencoded_de(query);
        de.map(Params)
    }
}

fn serde_urlencoded_de<T: DeserializeOwned>(query: &str) -> Result<T, Problem> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        Problem::validation(vec![FieldError {
            field: if path == "." { "query".into() } else { path },
            message: e.inner().to_string(),
        }])
    })
}

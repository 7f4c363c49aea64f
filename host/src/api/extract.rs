//! Request extractors that answer problem+json when the request is wrong:
//! the caller ([`Auth`]), path parameters ([`Path`]), a JSON body
//! ([`Body`]), a body of another type ([`RawBody`]), `If-Match`
//! ([`IfMatch`]), query strings ([`Params`]) and paging ([`PageQuery`]).
//! Handlers take these rather than axum's own extractors, whose rejections
//! are text/plain.

// A rejection is built once per failed request and answered at once;
// boxing it would only add an allocation.
#![allow(clippy::result_large_err)]

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
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

/// Path parameters, as axum's `Path` decodes them; a parameter that does
/// not decode (not UTF-8 once percent-decoded, or not of its type) is 400
/// `invalid_path`.
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            // A route whose parameters do not fit its handler: a bug here.
            Err(e) if e.status().is_server_error() => {
                tracing::error!(error = %e.body_text(), "path parameters do not fit the handler");
                Err(Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "an internal error occurred; it has been logged",
                ))
            }
            Err(e) => Err(Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid_path",
                e.body_text(),
            )),
        }
    }
}

/// A JSON body, decoded strictly: a syntax error is 400 `malformed_json`;
/// a wrong type, missing or unknown field or unknown enum value is 422
/// `validation_failed` naming the field. Every body is a JSON object: an
/// array is 422 too (serde would read one as the struct's fields in order).
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        require_json(req.headers())?;
        let RawBody(bytes) = RawBody::from_request(req, state).await?;
        if bytes.trim_ascii_start().first() != Some(&b'{') {
            // Not JSON at all is 400; JSON of another type 422.
            parse_json::<serde::de::IgnoredAny>(&bytes)?;
            return Err(Problem::validation(vec![FieldError {
                field: "body".into(),
                message: "must be a JSON object".into(),
            }]));
        }
        parse_json(&bytes).map(Body)
    }
}

/// The body's bytes, whatever its type: a body over the route's limit is
/// 413 `body_too_large` (as the idempotency layer answers one), one that
/// could not be read 400 `body_unreadable`.
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        Bytes::from_request(req, state)
            .await
            .map(RawBody)
            .map_err(body_rejection)
    }
}

fn body_rejection(e: BytesRejection) -> Problem {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            "the body exceeds this route's limit",
        )
    } else {
        Problem::new(StatusCode::BAD_REQUEST, "body_unreadable", e.body_text())
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
    // JSON is UTF-8 (RFC 8259), and serde_json reads a string it skips
    // (an unknown field's, say) without checking that.
    let text = std::str::from_utf8(bytes).map_err(|e| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("the body is not valid JSON: it is not UTF-8 ({e})"),
        )
    })?;
    let de = &mut serde_json::Deserializer::from_str(text);
    let value = serde_path_to_error::deserialize(&mut *de).map_err(|e| {
        let inner = e.inner();
        // A body that does not parse as JSON at all (a syntax error, or
        // nesting past serde_json's recursion limit) is malformed, whatever
        // error decoding it into `T` met first: a type can refuse the first
        // `[` of a body nested too deep before the parser gets to the depth.
        // serde_json also reports some type mismatches (an array or a number
        // where an enum goes) as syntax errors: those are the field's.
        if let Err(syntax) = serde_json::from_str::<Syntax>(text) {
            return Problem::new(
                StatusCode::BAD_REQUEST,
                "malformed_json",
                format!("the body is not valid JSON: {syntax}"),
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

/// Any JSON value, read as serde_json reads a value into a type, keeping
/// nothing: unlike `serde::de::IgnoredAny` (which serde_json skips without
/// counting depth), each array and object counts against serde_json's
/// recursion limit, so a body nested deeper than any type can be read fails
/// here too.
struct Syntax;

impl<'de> Deserialize<'de> for Syntax {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(Syntax)
    }
}

impl<'de> serde::de::Visitor<'de> for Syntax {
    type Value = Syntax;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Syntax, E> {
        Ok(Syntax)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Syntax, E> {
        Ok(Syntax)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Syntax, E> {
        Ok(Syntax)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Syntax, E> {
        Ok(Syntax)
    }
    fn visit_str<E>(self, _: &str) -> Result<Syntax, E> {
        Ok(Syntax)
    }
    fn visit_unit<E>(self) -> Result<Syntax, E> {
        Ok(Syntax)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Syntax, A::Error> {
        while seq.next_element::<Syntax>()?.is_some() {}
        Ok(Syntax)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Syntax, A::Error> {
        while map.next_entry::<Syntax, Syntax>()?.is_some() {}
        Ok(Syntax)
    }
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

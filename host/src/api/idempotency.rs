//! `Idempotency-Key` on POST: the same key from the same caller on the same
//! route within 24 hours answers the first answer again, and does nothing
//! twice.
//!
//! The first request claims the key with a conditional write (so two
//! concurrent requests with one key cannot both run), runs, and stores its
//! answer. A replay with a different body is refused: the key names one
//! request, not a slot to reuse.
//!
//! Only an authenticated caller's requests are kept (an anonymous request
//! or a bad token runs as if it had no key, so nobody without a token can
//! write records), and only answers a retry should see again: a 2xx, or a
//! refusal of the request's form (400, 413, 415). An answer that may
//! change with the platform's state (401, 403, 404, 409, 412, 429, and 422,
//! which also says "no such parent" to a caller who may see it later) or a
//! fault gives the key back. An answer holding a secret (a new token) is
//! never stored: its retry is refused with 409 `idempotency_secret_not_kept`.

use axum::body::{Body, Bytes, to_bytes};
use axum::extract::{FromRequestParts as _, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::Problem;
use super::extract::Auth;
use crate::service::idempotency::{Answer, Claim};

const HEADER: &str = "idempotency-key";
const MAX_BODY: usize = 1024 * 1024;

fn problem(status: StatusCode, code: &str, detail: &str) -> Response {
    Problem::new(status, code, detail).into_response()
}

pub async fn layer(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if req.method() != Method::POST {
        return next.run(req).await;
    }
    let Some(key) = req.headers().get(HEADER).cloned() else {
        return next.run(req).await;
    };
    let key = match key.to_str() {
        Ok(k) if !k.is_empty() && k.len() <= 255 => k.to_string(),
        _ => {
            return problem(
                StatusCode::BAD_REQUEST,
                "invalid_idempotency_key",
                "Idempotency-Key must be 1..255 visible ASCII characters",
            );
        }
    };
    let (mut parts, body) = req.into_parts();
    match Auth::from_request_parts(&mut parts, &state).await {
        Ok(auth) => {
            parts.extensions.insert(auth);
        }
        // The handler answers the 401 (or serves an anonymous route).
        Err(_) => return next.run(Request::from_parts(parts, body)).await,
    }
    let Ok(bytes) = to_bytes(body, MAX_BODY).await else {
        return problem(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            "the body exceeds 1 MiB",
        );
    };
    // Scoped to the caller (its credential), the route and the key.
    let caller = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let scope = format!("{caller}\n{}\n{key}", parts.uri.path());
    let request = format!("{}\n{}", parts.uri, String::from_utf8_lossy(&bytes));
    let idempotency = state.services.idempotency();
    let ticket = match idempotency.claim(&scope, &request).await {
        Ok(Claim::First(ticket)) => ticket,
        Ok(Claim::Replay(answer)) => return replay(answer),
        Ok(Claim::InProgress) => {
            return problem(
                StatusCode::CONFLICT,
                "idempotency_in_progress",
                "a request with this Idempotency-Key is still running; retry shortly",
            );
        }
        Ok(Claim::ClaimedMeanwhile) => {
            return problem(
                StatusCode::CONFLICT,
                "idempotency_in_progress",
                "a request with this Idempotency-Key is running; retry shortly",
            );
        }
        Ok(Claim::Reused) => {
            return problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "this Idempotency-Key was used for a different request",
            );
        }
        Err(e) => return e.into_response(),
    };

    let res = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    let (parts, body) = res.into_parts();
    let Ok(body) = to_bytes(body, usize::MAX).await else {
        return problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the answer could not be buffered",
        );
    };
    let status = parts.status;
    if !worth_keeping(status) {
        idempotency.release(ticket).await;
    } else if parts.extensions.get::<SecretAnswer>().is_some() {
        idempotency
            .answer(ticket, Answer::secret(status.as_u16()))
            .await;
    } else {
        let answer = Answer {
            status: status.as_u16(),
            headers: kept_headers(&parts.headers),
            body: body.to_vec(),
            secret: false,
        };
        idempotency.answer(ticket, answer).await;
    }
    Response::from_parts(parts, Body::from(body))
}

/// Marks an answer holding a secret (a token): a handler returns it as
/// `Extension(SecretAnswer)`, and the answer is not stored for a retry.
#[derive(Clone, Copy, Debug)]
pub struct SecretAnswer;

/// A retry should get this answer again: a success, or a refusal of the
/// request's form. Anything that may change with the platform's state
/// (401, 403, 404, 409, 412, 422, 429) or a fault releases the key instead.
fn worth_keeping(status: StatusCode) -> bool {
    status.is_success()
        || matches!(
            status,
            StatusCode::BAD_REQUEST
                | StatusCode::PAYLOAD_TOO_LARGE
                | StatusCode::UNSUPPORTED_MEDIA_TYPE
        )
}

fn kept_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    [header::CONTENT_TYPE, header::ETAG, header::LOCATION]
        .iter()
        .filter_map(|name| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|v| (name.to_string(), v.to_string()))
        })
        .collect()
}

fn replay(answer: Answer) -> Response {
    if answer.secret {
        return problem(
            StatusCode::CONFLICT,
            "idempotency_secret_not_kept",
            "the request with this Idempotency-Key succeeded already; its answer held a secret, which bbws does not keep: list the resource to see what it made",
        );
    }
    let mut res = Response::new(Body::from(Bytes::from(answer.body)));
    *res.status_mut() = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
    for (name, value) in answer.headers {
        if let (Ok(name), Ok(value)) = (
            header::HeaderName::try_from(name),
            HeaderValue::from_str(&value),
        ) {
            res.headers_mut().insert(name, value);
        }
    }
    res.headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    res
}

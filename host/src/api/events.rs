//! `/v1/events`: ECS events from EventBridge (an API destination posts
//! here with the events secret), the events that routed to no tenant, and
//! `/v1/tenants/{tenantId}/events`: a tenant's processed events and its
//! event pattern.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiResult, Problem};
use super::extract::{Auth, Body, PageQuery, Params, Path, RawBody, parse_json, require_json};
use super::{AppState, PageBody};
use crate::domain::Tenant;
use crate::jobs::DeadLetter;
use crate::service::PageRequest;
use crate::service::events::{Arrived, EventFilter, EventRecord, EventResult, MAX_BATCH, Outcome};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(ingest, platform_events))
        .routes(routes!(dead_letters))
        .routes(routes!(tenant_events))
        .routes(routes!(get_pattern, put_pattern, delete_pattern))
}

/// The header an EventBridge API destination sends the secret in.
pub const SECRET_HEADER: &str = "x-bbws-events-secret";

/// `POST /v1/events`'s answer: one result per event, in the order sent.
#[derive(Debug, Serialize, ToSchema)]
pub struct IngestResults {
    pub results: Vec<EventResult>,
}

/// ECS events from EventBridge: one event, or `{"events": [...]}` of at
/// most 100. Authenticated by `X-Bbws-Events-Secret` (not a bearer token).
/// Every event gets a result: `applied`, `duplicate`, `stale`,
/// `filtered`, `rejected` or `unmatched`; a malformed event is
/// `rejected`, never an error.
#[utoipa::path(post, path = "/v1/events", tag = "events",
    security(("eventsSecret" = [])),
    request_body(content = Object, description = "an EventBridge event, or {\"events\": [...]}"),
    responses((status = 200, body = IngestResults), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 413, body = Problem)))]
async fn ingest(
    State(s): State<AppState>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Json<IngestResults>, Problem> {
    // An EventBridge API destination sends application/json.
    require_json(&headers)?;
    let events = s.services.events();
    events.authenticate(headers.get(SECRET_HEADER).and_then(|v| v.to_str().ok()))?;
    // Each event is kept as the text it arrived as (the gate judges that
    // text): the body is only scanned here, and each event parsed once.
    let whole: Box<RawValue> = parse_json(&body)?;
    let batch: Vec<Arrived> = match serde_json::from_str::<Wrapper>(whole.get()) {
        Ok(Wrapper {
            events: Some(list),
            detail: None,
        }) => serde_json::from_str::<Vec<&RawValue>>(list.get())
            .map_err(|_| {
                Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "validation_failed",
                    "events must be a list of EventBridge events",
                )
            })?
            .into_iter()
            .map(|e| Arrived::from_text(e.get().to_string()))
            .collect(),
        _ => vec![Arrived::from_text(whole.get().to_string())],
    };
    if batch.len() > MAX_BATCH {
        return Err(Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_many_events",
            format!(
                "{} events in one request; the limit is {MAX_BATCH}",
                batch.len()
            ),
        ));
    }
    let results = events.ingest(batch, "http").await?;
    Ok(Json(IngestResults { results }))
}

/// What tells a batch from one event: an object with `events` and no
/// `detail` is a batch. Other fields are skipped, not parsed.
#[derive(Deserialize)]
struct Wrapper<'a> {
    #[serde(borrow)]
    events: Option<&'a RawValue>,
    #[serde(borrow)]
    detail: Option<&'a RawValue>,
}

/// `?outcome=&limit=&cursor=`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListPlatformEvents {
    pub outcome: Option<Outcome>,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

/// Events that routed to no tenant (`unmatched`, `rejected`), newest
/// first: for platform administrators.
#[utoipa::path(get, path = "/v1/events", tag = "events",
    params(ListPlatformEvents),
    responses((status = 200, body = PageBody<EventRecord>), (status = 403, body = Problem)))]
async fn platform_events(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Params(q): Params<ListPlatformEvents>,
) -> ApiResult<Json<PageBody<EventRecord>>> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    Ok(Json(
        s.services
            .events()
            .list_platform(&caller, q.outcome, &page)
            .await?
            .into(),
    ))
}

/// Events the queue (`--events-queue`) gave up on after repeated failed
/// attempts, oldest first: for platform administrators.
#[utoipa::path(get, path = "/v1/events/dead-letters", tag = "events", params(PageQuery),
    responses((status = 200, body = PageBody<DeadLetter>), (status = 403, body = Problem)))]
async fn dead_letters(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Params(q): Params<PageQuery>,
) -> ApiResult<Json<PageBody<DeadLetter>>> {
    let page = q.request()?;
    let items = s
        .services
        .events()
        .dead_letters(&caller, page.limit)
        .await?;
    Ok(Json(PageBody {
        items,
        next_cursor: None,
    }))
}

/// `?instanceId=&outcome=&limit=&cursor=`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListEvents {
    pub instance_id: Option<String>,
    pub outcome: Option<Outcome>,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

/// The tenant's processed events, newest first, each with its outcome,
/// the filters' verdict and the instance's version before and after.
#[utoipa::path(get, path = "/v1/tenants/{tenantId}/events", tag = "events",
    params(("tenantId" = String, Path), ListEvents),
    responses((status = 200, body = PageBody<EventRecord>), (status = 404, body = Problem)))]
async fn tenant_events(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path(tenant_id): Path<String>,
    Params(q): Params<ListEvents>,
) -> ApiResult<Json<PageBody<EventRecord>>> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    let filter = EventFilter {
        instance_id: q.instance_id,
        outcome: q.outcome,
    };
    Ok(Json(
        s.services
            .events()
            .list(&caller, &tenant_id, &filter, &page)
            .await?
            .into(),
    ))
}

/// A tenant's EventBridge event pattern.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventPattern {
    /// An EventBridge event pattern (exact values, `prefix`, `suffix`,
    /// `anything-but`, `numeric`, `exists`, `equals-ignore-case`,
    /// `wildcard`, `$or`).
    #[schema(value_type = Object)]
    pub pattern: Value,
}

/// The tenant's event pattern: only its events that match it are synced.
#[utoipa::path(get, path = "/v1/tenants/{tenantId}/events/pattern", tag = "events",
    params(("tenantId" = String, Path)),
    responses((status = 200, body = EventPattern), (status = 404, body = Problem)))]
async fn get_pattern(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path(tenant_id): Path<String>,
) -> ApiResult<Json<EventPattern>> {
    let pattern = s.services.events().pattern(&caller, &tenant_id).await?;
    Ok(Json(EventPattern { pattern }))
}

/// Sets the tenant's event pattern (checked by the platform's event
/// filter, which applies it); a pattern EventBridge would refuse is 422.
#[utoipa::path(put, path = "/v1/tenants/{tenantId}/events/pattern", tag = "events",
    params(("tenantId" = String, Path)),
    request_body = EventPattern,
    responses((status = 200, body = EventPattern), (status = 404, body = Problem),
        (status = 422, body = Problem)))]
async fn put_pattern(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path(tenant_id): Path<String>,
    Body(input): Body<EventPattern>,
) -> ApiResult<Json<EventPattern>> {
    let t: Tenant = s
        .services
        .events()
        .set_pattern(&caller, &tenant_id, Some(input.pattern))
        .await?;
    Ok(Json(EventPattern {
        pattern: t.event_pattern.unwrap_or_default(),
    }))
}

/// Clears the tenant's event pattern: every event the platform accepts
/// is synced again.
#[utoipa::path(delete, path = "/v1/tenants/{tenantId}/events/pattern", tag = "events",
    params(("tenantId" = String, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
async fn delete_pattern(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path(tenant_id): Path<String>,
) -> ApiResult<Response> {
    s.services
        .events()
        .set_pattern(&caller, &tenant_id, None)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

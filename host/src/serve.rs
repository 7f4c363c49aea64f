//! The HTTP listener: hyper connections under limits a slow or greedy
//! client cannot outlast.
//!
//! - A request's head must arrive within [`HttpSpec::header_read_timeout`],
//!   and the same timer closes a keep-alive connection that stays idle that
//!   long (hyper starts it whenever it waits for a head).
//! - A request, its body read included, is answered within
//!   [`HttpSpec::request_timeout`], or gets 503 `request_timeout`.
//! - At most [`HttpSpec::max_connections`] connections are served at once;
//!   past that, new ones wait in the kernel's backlog.
//! - At most [`HttpSpec::max_concurrent_requests`] requests run at once;
//!   past that, a request is shed at once with 503 `overloaded` and
//!   `Retry-After`, rather than queued behind the others.
//! - On shutdown the listener stops accepting, and in-flight requests are
//!   drained for up to [`HttpSpec::drain_timeout`].

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt as _;

use crate::api::error::Problem;

/// The listener's limits.
#[derive(Clone, Debug)]
pub struct HttpSpec {
    /// How long a request's head (or an idle keep-alive connection) may take.
    pub header_read_timeout: Duration,
    /// How long a request may take, body and handler included.
    pub request_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
    /// Requests running at once; more are shed with 503.
    pub max_concurrent_requests: usize,
    /// How long shutdown waits for in-flight requests.
    pub drain_timeout: Duration,
}

impl Default for HttpSpec {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            max_connections: 4096,
            max_concurrent_requests: 1024,
            drain_timeout: Duration::from_secs(30),
        }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then drains.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    spec: HttpSpec,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let app = limited(app, &spec);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(spec.header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(spec.header_read_timeout))
        .keep_alive_timeout(spec.header_read_timeout)
        .max_concurrent_streams(256);
    let connections = Arc::new(Semaphore::new(spec.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = connections.clone().acquire_owned() => permit.expect("never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // Out of descriptors, or a connection reset before accept:
                // wait a little rather than spin, and go on.
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
            app.clone().oneshot(req.map(axum::body::Body::new))
        });
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%peer, error = %e, "a connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(spec.drain_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            seconds = spec.drain_timeout.as_secs(),
            "in-flight requests did not finish in time; closing their connections"
        );
    }
    Ok(())
}

/// `app` under the request timeout and the concurrency limit.
fn limited(app: Router, spec: &HttpSpec) -> Router {
    let running = Arc::new(Semaphore::new(spec.max_concurrent_requests.max(1)));
    let timeout = spec.request_timeout;
    app.layer(axum::middleware::from_fn(
        move |req: Request, next: Next| {
            let running = running.clone();
            async move {
                let Ok(_permit) = running.try_acquire_owned() else {
                    return overloaded();
                };
                match tokio::time::timeout(timeout, next.run(req)).await {
                    Ok(response) => response,
                    Err(_) => Problem::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "request_timeout",
                        format!(
                            "the request was not answered within {} s (a body sent too slowly, or work that took too long)",
                            timeout.as_secs()
                        ),
                    )
                    .into_response(),
                }
            }
        },
    ))
}

fn overloaded() -> Response {
    let mut res = Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "overloaded",
        "the server is answering as many requests as it can; retry in a second",
    )
    .into_response();
    res.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    res
}

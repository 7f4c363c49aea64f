//! A slow or greedy client cannot hold the server: a head sent too slowly
//! or an idle keep-alive connection is closed, a trickled body is cut off
//! with 503 `request_timeout`, and requests past the concurrency limit are
//! shed with 503 `overloaded` and `Retry-After`. Each speaks over a real
//! socket, byte by byte where that is the point.

use std::time::Duration;

use bbws_host::serve::HttpSpec;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;

/// A server whose limits are short enough to watch.
async fn strict_app(max_concurrent_requests: usize) -> TestApp {
    spawn_app_with(|c| {
        c.http = HttpSpec {
            header_read_timeout: Duration::from_millis(500),
            request_timeout: Duration::from_secs(1),
            max_concurrent_requests,
            ..HttpSpec::default()
        }
    })
    .await
}

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.base.trim_start_matches("http://"))
        .await
        .expect("the server accepts")
}

/// Reads until the server closes the connection (or 10 s pass, which
/// fails): what it sent before closing.
async fn until_closed(stream: &mut TcpStream) -> String {
    let mut seen = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut seen)).await;
    assert!(
        read.is_ok(),
        "the connection is still open after 10 s; it sent {:?}",
        String::from_utf8_lossy(&seen)
    );
    String::from_utf8_lossy(&seen).into_owned()
}

/// The status and problem body of a raw HTTP/1.1 answer.
fn parse_answer(raw: &str) -> (u16, String, Value) {
    let status = raw
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {raw:?}"));
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((raw, ""));
    let body = serde_json::from_str(body).unwrap_or(Value::Null);
    (status, head.to_ascii_lowercase(), body)
}

#[tokio::test]
async fn a_request_head_sent_too_slowly_is_closed() {
    let app = strict_app(64).await;
    let mut slow = connect(&app).await;
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: bbws\r\n")
        .await
        .unwrap();
    // The rest of the head never comes; the server hangs up.
    until_closed(&mut slow).await;
    // And goes on serving everyone else.
    app.request("GET", "/healthz", None, None, &[])
        .await
        .ok(200);
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let app = strict_app(64).await;
    let mut idle = connect(&app).await;
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: bbws\r\n\r\n")
        .await
        .unwrap();
    // One answer, then nothing more is asked: the connection is ended.
    let seen = until_closed(&mut idle).await;
    assert!(seen.starts_with("HTTP/1.1 200"), "{seen:?}");
}

#[tokio::test]
async fn a_body_trickled_past_the_request_timeout_is_refused_and_changes_nothing() {
    let app = strict_app(64).await;
    let body = br#"{"organisationName": "Trickled"}"#;
    let mut slow = connect(&app).await;
    slow.write_all(
        format!(
            "POST /v1/tenants HTTP/1.1\r\nHost: bbws\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    // A byte every 200 ms: the whole body would take over 6 s.
    let mut answer = String::new();
    for byte in body {
        if slow.write_all(&[*byte]).await.is_err() {
            break;
        }
        let mut buf = [0u8; 4096];
        if let Ok(Ok(n)) =
            tokio::time::timeout(Duration::from_millis(200), slow.read(&mut buf)).await
        {
            answer.push_str(&String::from_utf8_lossy(&buf[..n]));
            if n == 0 || answer.contains("\r\n\r\n") {
                break;
            }
        }
    }
    answer.push_str(&until_closed(&mut slow).await);
    let (status, _, problem) = parse_answer(&answer);
    assert_eq!(status, 503, "{answer}");
    assert_eq!(problem["code"], "request_timeout", "{answer}");
    assert!(app.all_tenants().await.is_empty());
}

#[tokio::test]
async fn requests_past_the_concurrency_limit_are_shed_with_retry_after() {
    let app = strict_app(1).await;
    // One request holds the only slot: its body is still on its way.
    let mut holder = connect(&app).await;
    holder
        .write_all(
            format!(
                "POST /v1/tenants HTTP/1.1\r\nHost: bbws\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let shed = app.request("GET", "/healthz", None, None, &[]).await;
    shed.assert_problem(503, "overloaded");
    assert_eq!(
        shed.headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    // Once the slot is free (the holder timed out), requests are served.
    until_closed(&mut holder).await;
    app.request("GET", "/healthz", None, None, &[])
        .await
        .ok(200);
}

//! Loading the vulnerability feed the plugin security scan uses: the I/O
//! half of the feed, the pure half (format, parsing, scans) being
//! [`crate::domain::vulnerability`].
//!
//! A source is an `http://` or `https://` URL (fetched with a 10 s timeout;
//! an answer other than 2xx is an error) or else a file path. The text is
//! parsed by [`Feed::parse`]; the format is described in
//! `examples/vulnerability-feed.md`.

use std::time::Duration;

use anyhow::{Context, anyhow, bail};

use crate::domain::vulnerability::Feed;

/// How long fetching a feed over HTTP may take, connection included.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// Loads and parses the feed at `source`. Every error names the source.
pub async fn load(source: &str) -> anyhow::Result<Feed> {
    let text = if is_url(source) {
        fetch(source).await?
    } else {
        tokio::fs::read_to_string(source)
            .await
            .with_context(|| format!("reading vulnerability feed {source}"))?
    };
    Feed::parse(&text).map_err(|e| anyhow!("vulnerability feed {source}: {e}"))
}

fn is_url(source: &str) -> bool {
    let lower = source.get(..8).unwrap_or(source).to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

async fn fetch(url: &str) -> anyhow::Result<String> {
    let client = reqwest::Client::builder()
        .timeout(FETCH_TIMEOUT)
        .user_agent(concat!("bbws/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("building the HTTP client for the vulnerability feed")?;
    let response = client
        .get(url)
        .send()
        .await
        .with_context(|| format!("fetching vulnerability feed {url}"))?;
    let status = response.status();
    if !status.is_success() {
        bail!("fetching vulnerability feed {url}: the server answered HTTP {status}");
    }
    response
        .text()
        .await
        .with_context(|| format!("reading vulnerability feed {url}"))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;
    use crate::domain::vulnerability::Severity;

    const FEED: &str = r#"{
      "format": "bbws-vulnerability-feed/1",
      "vulnerabilities": [{
        "id": "cf7", "plugin": "contact-form-7", "cve": "CVE-2020-35489",
        "title": "Unrestricted file upload", "severity": "critical", "cvss": 10.0,
        "affected": {"introduced": "0", "fixedIn": "5.3.2"}
      }]
    }"#;

    /// Serves one HTTP request with this status line and body, then closes.
    /// Answers the URL to fetch.
    async fn serve_once(status: &'static str, body: &'static str) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            // Read the request head (a GET has no body).
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = socket.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                request.extend_from_slice(&buf[..n]);
            }
            assert!(request.starts_with(b"GET /feed.json HTTP/1.1\r\n"));
            let answer = format!(
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\n\
                 content-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            socket.write_all(answer.as_bytes()).await.unwrap();
            socket.shutdown().await.unwrap();
        });
        format!("http://{addr}/feed.json")
    }

    #[tokio::test]
    async fn loads_a_file() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(FEED.as_bytes()).unwrap();
        let feed = load(file.path().to_str().unwrap()).await.unwrap();
        assert_eq!(feed.len(), 1);
        let found = feed.scan("contact-form-7", Some("5.3.1"));
        assert_eq!(found[0].severity, Severity::Critical);
        assert!(feed.scan("contact-form-7", Some("5.3.2")).is_empty());
    }

    #[tokio::test]
    async fn a_missing_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nowhere.json");
        let path = path.to_str().unwrap();
        let e = format!("{:#}", load(path).await.unwrap_err());
        assert!(e.contains(path), "{e}");
    }

    #[tokio::test]
    async fn an_invalid_file_is_an_error_naming_it_and_the_problem() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(br#"{"format": "something-else/1", "vulnerabilities": []}"#)
            .unwrap();
        let path = file.path().to_str().unwrap();
        let e = format!("{:#}", load(path).await.unwrap_err());
        assert!(e.contains(path), "{e}");
        assert!(e.contains("unsupported feed format"), "{e}");
    }

    #[tokio::test]
    async fn loads_over_http() {
        let url = serve_once("200 OK", FEED).await;
        let feed = load(&url).await.unwrap();
        assert_eq!(feed.len(), 1);
        assert_eq!(
            feed.scan("contact-form-7", Some("5.0"))[0].cve.as_deref(),
            Some("CVE-2020-35489")
        );
    }

    #[tokio::test]
    async fn a_non_2xx_answer_is_an_error_naming_the_status() {
        let url = serve_once("404 Not Found", "no such feed").await;
        let e = format!("{:#}", load(&url).await.unwrap_err());
        assert!(e.contains(&url), "{e}");
        assert!(e.contains("404"), "{e}");
    }

    #[tokio::test]
    async fn an_invalid_answer_is_an_error_naming_the_url() {
        let url = serve_once("200 OK", "<html>not json</html>").await;
        let e = format!("{:#}", load(&url).await.unwrap_err());
        assert!(e.contains(&url), "{e}");
    }

    #[tokio::test]
    async fn an_unreachable_server_is_an_error_naming_the_url() {
        // Bind, then drop: the port is (almost certainly) closed.
        let addr = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap();
        let url = format!("http://{addr}/feed.json");
        let e = format!("{:#}", load(&url).await.unwrap_err());
        assert!(e.contains(&url), "{e}");
    }

    #[test]
    fn urls_are_told_from_paths() {
        assert!(is_url("http://feeds.example/v.json"));
        assert!(is_url("HTTPS://feeds.example/v.json"));
        assert!(!is_url("/etc/bbws/feed.json"));
        assert!(!is_url("feed.json"));
        assert!(!is_url("httpfeed.json"));
        assert!(!is_url("é"));
    }
}

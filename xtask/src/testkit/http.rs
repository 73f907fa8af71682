//! The tests' HTTP client: `crate::http` aimed at the address where the engine under test
//! publishes ports ([`published_ip`]: 127.0.0.1 unless the engine lives in a network namespace
//! of its own), plus polling.

use std::net::{IpAddr, SocketAddr};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use crate::signals::{self, Interrupted};

pub use crate::http::{multipart_file, Response};

/// One request to `port` on [`published_ip`].
pub fn request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Response> {
    crate::http::request(
        SocketAddr::from((published_ip(), port)),
        method,
        path,
        headers,
        body,
    )
}

pub fn get(port: u16, path: &str) -> std::io::Result<Response> {
    request(port, "GET", path, &[], &[])
}

/// `GET path` as `(status, body text)`.
pub fn get_text(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    get(port, path).map(|r| (r.status, r.text()))
}

/// The body of `GET path` if it answered 200, else `None` (not up yet, restarting, an error).
pub fn get_ok(port: u16, path: &str) -> Option<String> {
    get(port, path)
        .ok()
        .filter(|r| r.status == 200)
        .map(|r| r.text())
}

/// Polls `GET path` every 20 ms until `accept` takes a 200 body; returns the seconds since
/// `since`. Ctrl-C ends the wait.
pub fn wait_for_answer(
    port: u16,
    path: &str,
    since: Instant,
    timeout: Duration,
    accept: impl Fn(&str) -> bool,
) -> Result<f64> {
    loop {
        if signals::interrupted() {
            return Err(Interrupted.into());
        }
        if get_ok(port, path).is_some_and(|body| accept(&body)) {
            return Ok(since.elapsed().as_secs_f64());
        }
        if since.elapsed() > timeout {
            bail!(
                "no expected answer on http://{}:{port}{path} within {}s",
                published_ip(),
                timeout.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Where the host reaches ports the engine publishes on its 127.0.0.1: that address itself,
/// unless the engine runs in a network namespace of its own (engine B on our CI machines is
/// reached at `PIXIE_ENGINE_B_ADDR`), named by `PIXIE_TEST_PUBLISHED_ADDR`.
pub fn published_ip() -> IpAddr {
    static IP: OnceLock<IpAddr> = OnceLock::new();
    *IP.get_or_init(|| match std::env::var("PIXIE_TEST_PUBLISHED_ADDR") {
        Ok(addr) if !addr.is_empty() => addr
            .parse()
            .unwrap_or_else(|e| panic!("PIXIE_TEST_PUBLISHED_ADDR={addr}: {e}")),
        _ => IpAddr::from([127, 0, 0, 1]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn reads_status_headers_and_bodies_in_one_request_write() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            for reply in [
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"version\":\"bench-1\"}",
                "HTTP/1.1 503 Service Unavailable\r\n\r\nno",
            ] {
                let (mut conn, _) = listener.accept().unwrap();
                // Read the whole request first: closing with unread bytes resets the connection.
                let mut request = Vec::new();
                let mut buf = [0u8; 512];
                while !request.ends_with(b"\r\n\r\n") {
                    let n = conn.read(&mut buf).unwrap();
                    assert!(n > 0, "client closed before finishing its request");
                    request.extend_from_slice(&buf[..n]);
                }
                conn.write_all(reply.as_bytes()).unwrap();
            }
        });
        let ok = get(port, "/version").unwrap();
        assert_eq!(ok.header("Content-Type"), Some("application/json"));
        assert_eq!(ok.text(), "{\"version\":\"bench-1\"}");
        assert_eq!(get_ok(port, "/version"), None);
        server.join().unwrap();
    }
}

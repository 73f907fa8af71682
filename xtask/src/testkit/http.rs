//! A minimal HTTP/1.0 client for the address where the engine under test publishes ports
//! ([`published_ip`]: 127.0.0.1 unless the engine lives in a network namespace of
//! its own), binary-safe, plus multipart bodies and polling. The service closes the connection
//! after each response.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use crate::signals::{self, Interrupted};

/// An HTTP response with its raw body (thumbnails and originals are binary).
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    /// Header names lower-cased, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One request; `headers` are sent as given. Head and body go in one write: a request split
/// over several segments can be answered and reset half-read.
pub fn request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Response> {
    let ip = published_ip();
    let address = SocketAddr::from((ip, port));
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut head = format!("{method} {path} HTTP/1.0\r\nHost: {address}\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" || method == "PUT" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let mut message = head.into_bytes();
    message.extend_from_slice(body);
    stream.write_all(&message)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| {
            std::io::Error::other(format!(
                "not an HTTP response: {:?}",
                String::from_utf8_lossy(&raw)
            ))
        })?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line in {head:?}")))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Ok(Response {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    })
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

/// A multipart/form-data body with one file field: `(content-type header, body)`.
pub fn multipart_file(
    field: &str,
    filename: &str,
    content_type: &str,
    data: &[u8],
) -> (String, Vec<u8>) {
    let boundary = format!("pixie-e2e-boundary-{}", std::process::id());
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\nContent-Type: {content_type}\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(data);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
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

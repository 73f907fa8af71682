//! "Is the service up?": a GET of its health path until it answers 200, for `run-*` to say
//! `ready on http://… in N s` (the foreground run probes beside compose, `--detach` waits here).

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Where a running service answers its health probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ready {
    /// The host to connect to: the published bind, or loopback when it binds every address.
    pub host: String,
    pub port: u16,
    pub path: &'static str,
}

/// How often a probe is sent while waiting: a tenth of a second keeps "ready in N s" honest.
pub const PROBE_INTERVAL: Duration = Duration::from_millis(100);

impl Ready {
    /// The probe for a service published on `bind:port`.
    pub fn on(bind: &str, port: u16, path: &'static str) -> Ready {
        let bind = bind.trim_start_matches('[').trim_end_matches(']');
        let host = match bind {
            "" | "0.0.0.0" => "127.0.0.1",
            "::" => "::1",
            other => other,
        };
        Ready {
            host: host.to_string(),
            port,
            path,
        }
    }

    /// `host:port` as URLs and the Host header spell it (`[::1]:8080`).
    fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The service's base URL (`http://127.0.0.1:8080`, `http://[::1]:8080`).
    pub fn url(&self) -> String {
        format!("http://{}", self.authority())
    }

    /// One probe: true when the path answers 200.
    pub fn answers(&self) -> bool {
        let Ok(addresses) = (self.host.as_str(), self.port).to_socket_addrs() else {
            return false;
        };
        addresses.into_iter().any(|address| {
            let Ok(mut stream) = TcpStream::connect_timeout(&address, Duration::from_millis(300))
            else {
                return false;
            };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
            let request = format!(
                "GET {} HTTP/1.0\r\nHost: {}\r\n\r\n",
                self.path,
                self.authority()
            );
            let mut head = [0u8; 12];
            stream.write_all(request.as_bytes()).is_ok()
                && stream.read_exact(&mut head).is_ok()
                && head.starts_with(b"HTTP/1.")
                && &head[9..12] == b"200"
        })
    }

    /// The line `run-*` print once the service answers.
    pub fn message(&self, since: Instant) -> String {
        format!(
            "ready on {} in {:.1} s",
            self.url(),
            since.elapsed().as_secs_f64()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_binds_are_probed_on_loopback_and_v6_urls_get_brackets() {
        assert_eq!(
            Ready::on("0.0.0.0", 8080, "/healthz").url(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(Ready::on("::", 8080, "/healthz").url(), "http://[::1]:8080");
        assert_eq!(Ready::on("[::1]", 1, "/healthz").url(), "http://[::1]:1");
        assert_eq!(
            Ready::on("127.0.0.2", 9, "/healthz").url(),
            "http://127.0.0.2:9"
        );
    }

    #[test]
    fn answers_only_on_200() {
        let serve = |status: &'static str| {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let port = listener.local_addr().unwrap().port();
            std::thread::spawn(move || {
                let (mut stream, _) = listener.accept().unwrap();
                let mut buffer = [0u8; 256];
                let n = stream.read(&mut buffer).unwrap();
                let request = String::from_utf8_lossy(&buffer[..n]).to_string();
                assert!(
                    request.contains(&format!("Host: 127.0.0.1:{port}\r\n")),
                    "{request}"
                );
                let _ = stream.write_all(format!("HTTP/1.0 {status}\r\n\r\n").as_bytes());
            });
            Ready::on("127.0.0.1", port, "/healthz")
        };
        assert!(serve("200 OK").answers());
        assert!(!serve("503 Service Unavailable").answers());
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        assert!(!Ready::on("127.0.0.1", port, "/healthz").answers());
    }
}

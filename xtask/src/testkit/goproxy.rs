//! A private Go module behind basic auth, served with the GOPROXY protocol over https: a small
//! HTTP server here on loopback, and socat terminating TLS in front of it on a given address (Go
//! sends netrc credentials over https only). Its certificate is a throwaway one made by openssl;
//! whoever fetches must trust [`PrivateProxy::ca_file`].

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{ensure, Context, Result};

use super::{free_port, png::crc32, unique_name};

/// One request the server answered: its path and whether it carried the right credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub path: String,
    pub authorized: bool,
}

/// A running proxy for one module version; stopped (socat, our child) and its folder removed
/// when dropped.
pub struct PrivateProxy {
    pub module: String,
    pub version: String,
    /// `host:port` of the https side.
    pub address: String,
    pub user: String,
    pub password: String,
    dir: PathBuf,
    tls: Child,
    requests: Arc<Mutex<Vec<Request>>>,
}

impl PrivateProxy {
    /// Serves `module@version` (a go.mod and one Go file) on https://`host`:free-port.
    pub fn start(host: &str, module: &str, version: &str) -> Result<PrivateProxy> {
        let dir = std::env::temp_dir().join(unique_name("pixie-goproxy"));
        std::fs::create_dir_all(&dir)?;
        let (user, password) = ("pixie-ci".to_string(), unique_name("netrc-secret"));
        let cert = dir.join("server.pem");
        let out = Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            ])
            .args(["-subj", "/CN=pixie private proxy"])
            .args(["-addext", &format!("subjectAltName=IP:{host}")])
            .arg("-keyout")
            .arg(dir.join("server.key"))
            .arg("-out")
            .arg(dir.join("server.crt"))
            .output()
            .context("cannot run openssl; run `sudo bash .ci/provision-builders` first")?;
        ensure!(
            out.status.success(),
            "openssl: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let pem = [
            std::fs::read(dir.join("server.crt"))?,
            std::fs::read(dir.join("server.key"))?,
        ]
        .concat();
        std::fs::write(&cert, pem)?;

        let listener = TcpListener::bind("127.0.0.1:0")?;
        let inner = listener.local_addr()?.port();
        let files = module_files(module, version);
        let auth = format!("Basic {}", base64(format!("{user}:{password}").as_bytes()));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = requests.clone();
        let prefix = format!("/{module}/@v/");
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let _ = answer(stream, &prefix, &files, &auth, &log);
            }
        });
        let port = free_port();
        let tls = Command::new("socat")
            .arg(format!(
                "OPENSSL-LISTEN:{port},bind={host},reuseaddr,fork,verify=0,cert={}",
                cert.display()
            ))
            .arg(format!("TCP:127.0.0.1:{inner}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start socat; run `sudo bash .ci/provision-builders` first")?;
        let proxy = PrivateProxy {
            module: module.into(),
            version: version.into(),
            address: format!("{host}:{port}"),
            user,
            password,
            dir,
            tls,
            requests,
        };
        let up = super::wait_for(Duration::from_secs(10), || {
            TcpStream::connect(&proxy.address).ok()
        });
        ensure!(up.is_some(), "socat never listened on {}", proxy.address);
        Ok(proxy)
    }

    pub fn url(&self) -> String {
        format!("https://{}", self.address)
    }

    /// The certificate to trust (PEM).
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("server.crt")
    }

    /// A netrc with this proxy's credentials. Go (1.24+) matches `machine` against the URL's
    /// host *with* its port.
    pub fn netrc(&self) -> String {
        format!(
            "machine {} login {} password {}\n",
            self.address, self.user, self.password
        )
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for PrivateProxy {
    fn drop(&mut self) {
        let _ = self.tls.kill();
        let _ = self.tls.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `list`, `VERSION.info`, `.mod` and `.zip` of the module, by the name after `/@v/`.
fn module_files(module: &str, version: &str) -> Vec<(String, Vec<u8>)> {
    let go_mod = format!("module {module}\n\ngo 1.22\n");
    let source = "// Package secretlib stands for a private dependency.\npackage secretlib\n\n\
                  // Answer is what the private module knows.\nconst Answer = 42\n";
    let zip = stored_zip(&[
        (format!("{module}@{version}/go.mod"), go_mod.as_bytes()),
        (format!("{module}@{version}/lib.go"), source.as_bytes()),
    ]);
    vec![
        ("list".into(), format!("{version}\n").into_bytes()),
        (
            format!("{version}.info"),
            format!("{{\"Version\":\"{version}\",\"Time\":\"2026-01-01T00:00:00Z\"}}").into_bytes(),
        ),
        (format!("{version}.mod"), go_mod.into_bytes()),
        (format!("{version}.zip"), zip),
    ]
}

/// Answers one HTTP/1.x request: 401 without the credentials, 404 for other modules (so the
/// next proxy in GOPROXY is asked), the file otherwise.
fn answer(
    mut stream: TcpStream,
    prefix: &str,
    files: &[(String, Vec<u8>)],
    auth: &str,
    log: &Mutex<Vec<Request>>,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte)? == 1 {
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
    let authorized = head.lines().any(|line| {
        line.split_once(':')
            .is_some_and(|(k, v)| k.eq_ignore_ascii_case("authorization") && v.trim() == auth)
    });
    let (status, body): (&str, &[u8]) = match path.strip_prefix(prefix) {
        None => ("404 Not Found", b"not here\n"),
        Some(_) if !authorized => ("401 Unauthorized", b"credentials required\n"),
        Some(name) => match files.iter().find(|(n, _)| n == name) {
            Some((_, content)) => ("200 OK", content),
            None => ("404 Not Found", b"no such version\n"),
        },
    };
    log.lock().unwrap().push(Request { path, authorized });
    let mut response = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if status.starts_with("401") {
        response.push_str("WWW-Authenticate: Basic realm=\"pixie\"\r\n");
    }
    response.push_str("\r\n");
    stream.write_all(response.as_bytes())?;
    stream.write_all(body)
}

/// A zip archive of uncompressed ("stored") entries: what `go mod download` unpacks.
fn stored_zip(entries: &[(String, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in entries {
        let offset = out.len() as u32;
        let crc = crc32(data);
        let fixed = |sig: u32, out: &mut Vec<u8>| {
            out.extend(sig.to_le_bytes());
            if sig == 0x0201_4b50 {
                out.extend(20u16.to_le_bytes()); // made by
            }
            out.extend(20u16.to_le_bytes()); // version needed
            out.extend(0u16.to_le_bytes()); // flags
            out.extend(0u16.to_le_bytes()); // stored
            out.extend(0u32.to_le_bytes()); // time, date
            out.extend(crc.to_le_bytes());
            out.extend((data.len() as u32).to_le_bytes());
            out.extend((data.len() as u32).to_le_bytes());
            out.extend((name.len() as u16).to_le_bytes());
            out.extend(0u16.to_le_bytes()); // extra
        };
        fixed(0x0403_4b50, &mut out);
        out.extend(name.as_bytes());
        out.extend(*data);
        fixed(0x0201_4b50, &mut central);
        central.extend([0u8; 8]); // comment length, disk, internal and (first half of) external attributes
        central.extend(0u16.to_le_bytes()); // rest of external attributes
        central.extend(offset.to_le_bytes());
        central.extend(name.as_bytes());
    }
    let start = out.len() as u32;
    out.extend(&central);
    out.extend(0x0605_4b50u32.to_le_bytes());
    out.extend([0u8; 4]); // disk numbers
    out.extend((entries.len() as u16).to_le_bytes());
    out.extend((entries.len() as u16).to_le_bytes());
    out.extend((central.len() as u32).to_le_bytes());
    out.extend(start.to_le_bytes());
    out.extend(0u16.to_le_bytes());
    out
}

/// Standard base64 with padding (for the Authorization header).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
    }
}

//! `seed [--count N]`: uploads N photos, generated here (a gradient and a band that differ per photo,
//! so none is a duplicate of another or of an earlier seed), through the running service's API,
//! for a dev loop with something to look at. Embedded or stack alike: it talks to the published
//! HTTP port, with the API token when one is configured.

use std::net::ToSocketAddrs;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use clap::{value_parser, Arg, ArgMatches};

use super::common::{Command, Live, Parsed, Registration};
use super::run::{published, token_source};
use crate::ctx::{Ctx, Needs};
use crate::http::{multipart_file, request};
use crate::plan::{action, Action, ActionCx, Plan};
use crate::png::png_rgb;
use crate::ready::Ready;
use crate::secret::{read_token, TokenFrom};
use crate::settings::FlagOf;

pub const COMMAND: Registration = Registration {
    name: "seed",
    about: "Upload N generated photos (made here, no downloads) through the running service's API: something to look at in a dev loop.",
    example: "cargo xtask seed --count 50",
    settings: &[FlagOf::Run],
    arguments: |command| {
        command.arg(
            Arg::new("count")
                .short('c')
                .long("count")
                .value_name("N")
                .value_parser(value_parser!(u32).range(1..=10_000))
                .default_value("20")
                .help("How many photos to upload (-n is the dry run of every command)."),
        )
    },
    parse: |matches: &ArgMatches| {
        Parsed::Plan(Box::new(Seed {
            count: *matches.get_one::<u32>("count").expect("has a default"),
        }))
    },
};

#[derive(Debug)]
pub struct Seed {
    pub count: u32,
}

impl Command for Seed {
    fn needs(&self) -> Needs {
        Needs::Nothing
    }

    fn plan(&self, ctx: &Ctx, _live: &Live) -> Result<Plan> {
        let target = published(ctx, "/api/photos");
        let mut plan = Plan::default();
        plan.push(action(
            format!("upload {} generated photos to {}", self.count, target.url()),
            Upload {
                target,
                count: self.count,
                token: token_source(ctx)?,
            },
        ));
        Ok(plan)
    }
}

/// Uploads `count` generated PNGs to `target` (`POST /api/photos`, multipart field `file`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    pub target: Ready,
    pub count: u32,
    pub token: Option<TokenFrom>,
}

impl Action for Upload {
    fn shell_line(&self) -> String {
        let auth = match &self.token {
            Some(from) => format!(" with the API token from {from}"),
            None => String::new(),
        };
        format!(
            "# (xtask) POST {} generated PNGs as multipart field `file` to {}{}{auth}",
            self.count,
            self.target.url(),
            self.target.path
        )
    }

    fn run(&self, cx: &ActionCx) -> Result<()> {
        let address = (self.target.host.as_str(), self.target.port)
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .with_context(|| format!("cannot resolve {}", self.target.url()))?;
        let bearer = match &self.token {
            Some(from) => Some(format!("Bearer {}", read_token(from)?)),
            None => None,
        };
        // Per run, so a second seed adds photos rather than finding duplicates.
        let run = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u32);
        let started = Instant::now();
        for n in 0..self.count {
            let (content_type, body) =
                multipart_file("file", &format!("seed-{n:04}.png"), "image/png", &photo(run, n));
            let mut headers = vec![("Content-Type", content_type.as_str())];
            if let Some(bearer) = &bearer {
                headers.push(("Authorization", bearer));
            }
            let response = request(address, "POST", self.target.path, &headers, &body).map_err(
                |e| {
                    anyhow::anyhow!(
                        "cannot reach {}: {e}; start the service first (`cargo xtask run-prod --detach`)",
                        self.target.url()
                    )
                },
            )?;
            if !matches!(response.status, 200 | 201) {
                bail!(
                    "upload {} of {} answered {}: {}",
                    n + 1,
                    self.count,
                    response.status,
                    response.text().trim()
                );
            }
        }
        cx.ui.info(format_args!(
            "seeded {} photos in {:.1} s",
            self.count,
            started.elapsed().as_secs_f64()
        ));
        Ok(())
    }
}

/// Photo `n` of seed run `run`: 320×240, a diagonal gradient in a hue of its own and a band
/// whose place encodes both numbers, so every photo has bytes of its own.
fn photo(run: u32, n: u32) -> Vec<u8> {
    let hue = run.wrapping_add(n.wrapping_mul(2_654_435_761));
    let [r, g, b, _] = hue.to_le_bytes();
    let band = n % 240;
    png_rgb(320, 240, |x, y| {
        if y == band || x == run % 320 {
            [255, 255, 255]
        } else {
            let t = ((x + y) * 255 / 560) as u8;
            [r ^ t, g.wrapping_add(t / 2), b.wrapping_sub(t)]
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    use crate::ui::Ui;

    #[test]
    fn photos_differ_within_a_run_and_across_runs() {
        let a = photo(1, 0);
        assert!(a.starts_with(b"\x89PNG\r\n\x1a\n"));
        assert_ne!(a, photo(1, 1));
        assert_ne!(a, photo(2, 0));
    }

    /// Serves `answers.len()` requests, each answered with its status; returns each request's
    /// bytes.
    fn server(answers: Vec<u16>) -> (u16, std::thread::JoinHandle<Vec<Vec<u8>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let serve = std::thread::spawn(move || {
            answers
                .into_iter()
                .map(|status| {
                    let (mut stream, _) = listener.accept().unwrap();
                    let mut request = Vec::new();
                    let mut buf = [0; 65536];
                    // Read the head, then as many body bytes as it announces.
                    loop {
                        let n = stream.read(&mut buf).unwrap();
                        request.extend_from_slice(&buf[..n]);
                        let text = String::from_utf8_lossy(&request).to_string();
                        if let Some(end) = text.find("\r\n\r\n") {
                            let length: usize = text[..end]
                                .lines()
                                .find_map(|l| l.strip_prefix("Content-Length: "))
                                .map_or(0, |v| v.trim().parse().unwrap());
                            if request.len() >= end + 4 + length {
                                break;
                            }
                        }
                    }
                    let answer = format!("HTTP/1.0 {status} X\r\n\r\n{{\"error\": \"full\"}}");
                    stream.write_all(answer.as_bytes()).unwrap();
                    request
                })
                .collect()
        });
        (port, serve)
    }

    fn upload(port: u16, count: u32, token: Option<TokenFrom>) -> Upload {
        Upload {
            target: Ready::on("127.0.0.1", port, "/api/photos"),
            count,
            token,
        }
    }

    fn cx() -> ActionCx {
        ActionCx {
            ui: Ui {
                quiet: true,
                verbose: false,
            },
            since: Instant::now(),
        }
    }

    #[test]
    fn uploads_each_generated_png_as_a_multipart_post_with_the_token() {
        let dir = std::env::temp_dir().join(format!("xtask-seed-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let token = dir.join("token");
        std::fs::write(&token, "seed-token-0123456789\n").unwrap();
        let (port, serve) = server(vec![201, 200, 201]);
        upload(port, 3, Some(TokenFrom::File(token))).run(&cx()).unwrap();
        let requests = serve.join().unwrap();
        for (n, request) in requests.iter().enumerate() {
            let text = String::from_utf8_lossy(request);
            assert!(text.starts_with("POST /api/photos HTTP/1.0\r\n"), "{text}");
            assert!(text.contains("Authorization: Bearer seed-token-0123456789\r\n"));
            assert!(text.contains(&format!("filename=\"seed-{n:04}.png\"")));
            assert!(request.windows(8).any(|w| w == b"\x89PNG\r\n\x1a\n"));
        }
        assert_ne!(requests[0], requests[1]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_refused_upload_or_no_service_is_one_line_naming_the_fix() {
        let (port, serve) = server(vec![201, 413]);
        let message = upload(port, 5, None).run(&cx()).unwrap_err().to_string();
        assert_eq!(message, "upload 2 of 5 answered 413: {\"error\": \"full\"}");
        serve.join().unwrap();
        let closed = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let message = upload(port, 1, None).run(&cx()).unwrap_err().to_string();
        assert!(
            message.starts_with(&format!("cannot reach http://127.0.0.1:{port}: "))
                && message.ends_with("; start the service first (`cargo xtask run-prod --detach`)"),
            "{message}"
        );
    }
}

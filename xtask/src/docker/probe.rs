//! Which CLIs engine detection considers, each probed (its version, whether it has buildx)
//! side by side: each probe is two process starts, tens of milliseconds that every command
//! would otherwise pay once per CLI on PATH.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// Every candidate CLI, in order, through `probe`; and whether the user named one with `DOCKER`.
pub(super) fn probe_all<T: Send>(probe: fn(&Path) -> T) -> Result<(Vec<T>, bool)> {
    let (candidates, overridden) = candidates()?;
    let probes = std::thread::scope(|scope| {
        let running: Vec<_> = candidates
            .iter()
            .map(|path| scope.spawn(move || probe(path)))
            .collect();
        running
            .into_iter()
            .map(|probe| probe.join().expect("a CLI probe panicked"))
            .collect()
    });
    Ok((probes, overridden))
}

/// The CLIs to consider, in order, and whether the user named one with `DOCKER`.
fn candidates() -> Result<(Vec<PathBuf>, bool)> {
    if let Some(named) = std::env::var_os("DOCKER").filter(|v| !v.is_empty()) {
        let path = which::which(&named).with_context(|| {
            format!(
                "DOCKER={} is not an executable; fix the path or unset DOCKER",
                named.to_string_lossy()
            )
        })?;
        return Ok((vec![path], true));
    }
    let mut seen = Vec::new();
    let mut found = Vec::new();
    // Podman last: it is the choice when no docker CLI can build.
    let on_path = ["docker", "podman"]
        .into_iter()
        .flat_map(|name| which::which_all(name).into_iter().flatten());
    for path in on_path {
        // /bin and /usr/bin are often one folder: probe each real binary once.
        let real = path.canonicalize().unwrap_or_else(|_| path.clone());
        if !seen.contains(&real) {
            seen.push(real);
            found.push(path);
        }
    }
    Ok((found, false))
}

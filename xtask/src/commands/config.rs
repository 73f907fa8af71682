//! `config`: the effective settings and where each came from (a report, not a plan); `--get`
//! one value for scripts; `--settings-table` the README's table; `--set-machine` writes this
//! machine's settings file (what `.ci/provision` calls). Derived values show what will be used:
//! an empty `run.project` shows the names made from the checkout.

use anyhow::{Context, Result};
use clap::{Arg, ArgAction, ArgMatches};

use super::common::{json_switch, switch, Parsed, Registration, Report, ReportCx};
use crate::plan::shell::quote;
use crate::stack::{self, Stack};
use crate::settings::{self, Config, FlagOf, Source, Spec, Value};
use crate::ui::{self, json_string};
use crate::workspace::Workspace;

pub const COMMAND: Registration = Registration {
    name: "config",
    about: "Print the effective configuration and where each value came from; takes the commands' setting flags.",
    example: "cargo xtask config --http-port 18080",
    settings: &[FlagOf::BuildProd, FlagOf::Run],
    arguments: |command| {
        command.args([
            json_switch(),
            Arg::new("get")
                .long("get")
                .value_name("KEY")
                .value_parser(|key: &str| settings::spec_of(key))
                .conflicts_with_all(["json", "set-machine"])
                .help("Print only KEY's effective value (as written in a settings file), for scripts."),
            switch(
                "settings-table",
                "Print every setting as the markdown table README.md shows.",
            )
            .exclusive(true),
            Arg::new("set-machine")
                .long("set-machine")
                .value_name("KEY=VALUE")
                .action(ArgAction::Append)
                .value_parser(assignment)
                .conflicts_with("json")
                .help("Write KEY=VALUE into this machine's settings file (every checkout of this user reads it; repeatable)."),
        ])
    },
    parse,
};

fn parse(matches: &ArgMatches) -> Parsed {
    Parsed::Report(Box::new(ConfigReport {
        json: matches.get_flag("json"),
        get: matches.get_one::<&'static Spec>("get").copied(),
        settings_table: matches.get_flag("settings-table"),
        set_machine: matches
            .get_many::<(&'static Spec, Value)>("set-machine")
            .map(|values| values.cloned().collect())
            .unwrap_or_default(),
    }))
}

/// `KEY=VALUE`, checked against the table.
fn assignment(text: &str) -> Result<(&'static Spec, Value), String> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}` is not KEY=VALUE, such as base_images.go=pixie-base/go:1.26.8"))?;
    let spec = settings::spec_of(key)?;
    let value = Value::parse(spec.kind, value).map_err(|e| format!("{key}: {e}"))?;
    Ok((spec, value))
}

#[derive(Debug)]
struct ConfigReport {
    json: bool,
    get: Option<&'static Spec>,
    settings_table: bool,
    set_machine: Vec<(&'static Spec, Value)>,
}

impl Report for ConfigReport {
    fn report(&self, cx: ReportCx) -> Result<()> {
        if self.settings_table {
            return Ok(ui::print(&settings::markdown_table())?);
        }
        if !self.set_machine.is_empty() {
            return self.set_machine(&cx);
        }
        let config = cx.config?;
        if let Some(spec) = self.get {
            return Ok(ui::print(&format!("{}\n", config.raw(spec)))?);
        }
        let rows = rows(&cx.ws, &config, self.json);
        let text = if self.json {
            json(&rows)
        } else {
            // Aligned on the longest key (service_images.postgres).
            let width = rows.iter().map(|(key, ..)| key.len()).max().unwrap_or(0);
            rows.iter()
                .map(|(key, value, source)| format!("{key:<width$} {value:<44} # {source}\n"))
                .collect()
        };
        // A dry run changes nothing either way; as shell, the report is comments.
        let text = if cx.dry_run {
            text.lines().map(|l| format!("# {l}\n")).collect()
        } else {
            text
        };
        Ok(ui::print(&text)?)
    }
}

impl ConfigReport {
    fn set_machine(&self, cx: &ReportCx) -> Result<()> {
        let path = settings::machine_file().context(
            "neither XDG_CONFIG_HOME nor HOME is set, so this machine has no settings file; set HOME",
        )?;
        let text = settings::machine_text(&path, &self.set_machine)?;
        if cx.dry_run {
            let path = quote(&path.to_string_lossy());
            return Ok(ui::print(&format!(
                "# write this machine's settings file\ncat > {path} <<'EOF'\n{text}EOF\n"
            ))?);
        }
        settings::write_machine(&path, &text)?;
        let keys: Vec<&str> = self.set_machine.iter().map(|(s, _)| s.key).collect();
        cx.ui
            .info(format_args!("{} set in {}", keys.join(", "), path.display()));
        Ok(())
    }
}

/// `(key, value, source)` for each setting, as the commands will use them; `raw` keeps an empty
/// value empty instead of showing `(empty)`.
fn rows(ws: &Workspace, config: &Config, raw: bool) -> Vec<(&'static str, String, String)> {
    let mut rows = config.rows();
    for row in &mut rows {
        let spec = settings::spec_of(row.0).expect("rows come from settings::ALL");
        if raw {
            row.1 = config.raw(spec);
        }
        if row.0 == settings::PROJECT.key && config.text(&settings::PROJECT).is_empty() {
            row.1 = format!(
                "{} / {}",
                ws.project_name("", "prod"),
                ws.project_name("", "dev")
            );
            row.2 = "derived from the checkout path".to_string();
        } else if *config.source(spec) == Source::Flag {
            row.2 = format!("flag --{}", spec.flag);
        }
        // Where the stack's generated secrets live (never their values).
        if row.0 == settings::STACK.key && Stack::of(config) == Stack::Full {
            let prefix = config.text(&settings::PROJECT);
            let home = crate::host::state_home();
            let dir = |kind: &str| {
                stack::state_dir_in(home.as_deref(), &ws.project_name(prefix, kind))
                    .map_or_else(|e| e.to_string(), |d| d.join("secrets").display().to_string())
            };
            row.2 = format!("{}; secrets in {} / {}", row.2, dir("prod-stack"), dir("dev-stack"));
        }
    }
    rows
}

fn json(rows: &[(&'static str, String, String)]) -> String {
    let items: Vec<String> = rows
        .iter()
        .map(|(key, value, source)| {
            format!(
                "  {{\"key\": {}, \"value\": {}, \"source\": {}}}",
                json_string(key),
                json_string(value),
                json_string(source)
            )
        })
        .collect();
    format!("[\n{}\n]\n", items.join(",\n"))
}

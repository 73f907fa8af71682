//! `config`: the effective settings and where each came from (a report, not a plan). Derived
//! values show what will be used: an empty `run.project` shows the names made from the checkout.

use anyhow::Result;

use crate::settings::{self, Config, Source};
use crate::ui::{self, json_string};
use crate::workspace::Workspace;

/// `(key, value, source)` for each setting, as the commands will use them; `raw` keeps an empty
/// value empty instead of showing `(empty)`.
pub fn rows(ws: &Workspace, config: &Config, raw: bool) -> Vec<(&'static str, String, String)> {
    let mut rows = config.rows();
    for row in &mut rows {
        if raw {
            row.1 = config.raw(settings_spec(row.0));
        }
        if row.0 == settings::PROJECT.key && config.text(&settings::PROJECT).is_empty() {
            row.1 = format!(
                "{} / {}",
                ws.project_name("", "prod"),
                ws.project_name("", "dev")
            );
            row.2 = "derived from the checkout path".to_string();
        } else if *config.source(settings_spec(row.0)) == Source::Flag {
            row.2 = format!("flag --{}", settings_spec(row.0).flag);
        }
    }
    rows
}

fn settings_spec(key: &str) -> &'static settings::Spec {
    settings::ALL
        .into_iter()
        .find(|s| s.key == key)
        .expect("rows come from settings::ALL")
}

pub fn print(ws: &Workspace, config: &Config, json: bool) -> Result<()> {
    let rows = rows(ws, config, json);
    let text = if json {
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
    } else {
        rows.iter()
            .map(|(key, value, source)| format!("{key:<22} {value:<44} # {source}\n"))
            .collect()
    };
    Ok(ui::print(&text)?)
}

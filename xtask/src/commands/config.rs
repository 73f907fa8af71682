//! `config`: the effective settings and where each came from (a report, not a plan).

use crate::settings::Config;

pub fn print(config: &Config) {
    for (key, value, source) in config.rows() {
        println!("{key:<22} {value:<44} # {source}");
    }
}

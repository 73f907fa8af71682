//! The settings a command takes as flags (`FlagOf` in the table): their clap arguments, help
//! from the table, and their values read back as the flag layer.

use clap::{Arg, ArgAction, ArgMatches};

use super::{parse_port, FlagOf, Flags, Gogc, Kind, Value, ALL};

/// The flags of the settings `of` names, from the table; each help names the setting's
/// variable and key.
pub fn args(of: FlagOf) -> Vec<Arg> {
    ALL.into_iter()
        .filter(|spec| spec.flag_of == of)
        .map(|spec| {
            let help = format!("{} [env: {}] [config: {}]", spec.help, spec.env, spec.key);
            let arg = Arg::new(spec.key).long(spec.flag).help(help);
            let text = |v: &str| Value::parse(Kind::Text, v).map(|_| v.to_string());
            match spec.kind {
                Kind::Bool => arg.action(ArgAction::SetTrue),
                Kind::Port => arg.value_parser(parse_port).value_name("PORT"),
                Kind::Gogc => arg
                    .value_parser(|v: &str| v.parse::<Gogc>())
                    .value_name("GOGC"),
                Kind::Words => arg
                    .action(ArgAction::Append)
                    .value_parser(text)
                    .value_name("SPEC"),
                Kind::Text | Kind::Addr => arg.value_parser(text).value_name("VALUE"),
                Kind::Stack => arg.value_parser(["embedded", "full"]).value_name("STACK"),
            }
        })
        .collect()
}

/// The settings given as flags on `matches` (a subcommand's), for the settings `of` names.
pub fn from_matches(matches: &ArgMatches, of: &[FlagOf]) -> Flags {
    let mut flags = Flags::new();
    for spec in ALL.into_iter().filter(|s| of.contains(&s.flag_of)) {
        let value = match spec.kind {
            Kind::Bool => matches.get_flag(spec.key).then_some(Value::Bool(true)),
            Kind::Port => matches.get_one::<u16>(spec.key).map(|p| Value::Port(*p)),
            Kind::Gogc => matches
                .get_one::<Gogc>(spec.key)
                .map(|g| Value::Gogc(g.clone())),
            Kind::Words => matches
                .get_many::<String>(spec.key)
                .map(|w| Value::Words(w.cloned().collect())),
            Kind::Text | Kind::Addr | Kind::Stack => matches
                .get_one::<String>(spec.key)
                .map(|t| Value::Text(t.clone())),
        };
        flags.extend(value.map(|v| (spec, v)));
    }
    flags
}

//! Reads a settings file against the table: sections and keys come from [`ALL`], unknown ones
//! (and ones given twice) are rejected while they are read, so serde_yaml adds the path and line
//! to the error.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};

use super::{Kind, Spec, Value, ALL};

pub struct FileLayer(pub Vec<(&'static Spec, Value)>);

/// Brackets the `section.name` of a value error inside serde_yaml's message.
pub const KEY_MARK: char = '\u{1}';
/// Brackets a section or `section.name` given twice.
const TWICE_MARK: char = '\u{2}';

/// A section or key given twice in one file (YAML keeps the last one silently).
pub struct Twice(String);

impl Twice {
    /// The duplicate named in serde_yaml's message, if that is what it is about.
    pub fn from_message(message: &str) -> Option<Twice> {
        let mut parts = message.split(TWICE_MARK);
        parts.next()?;
        parts.next().map(|name| Twice(name.to_string()))
    }

    /// One line naming both places in `text` and the fix.
    pub fn explain(&self, text: &str) -> String {
        let name = &self.0;
        let lines = match name.split_once('.') {
            Some(_) => key_lines(text, name),
            None => section_lines(text, name),
        };
        let at = match lines[..] {
            [first, second, ..] => format!(" (lines {first} and {second})"),
            _ => String::new(),
        };
        match name.split_once('.') {
            Some(_) => format!("{name} is set twice{at}; keep one"),
            None => format!("section {name} appears twice{at}; merge them into one"),
        }
    }
}

/// The 1-based lines where section `name` starts (`name:` at the start of a line).
fn section_lines(text: &str, name: &str) -> Vec<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.trim_start().starts_with(':'))
        })
        .map(|(index, _)| index + 1)
        .collect()
}

/// The 1-based lines where `section.name` is set: an indented `name:` inside a `section:` block.
pub fn key_lines(text: &str, key: &str) -> Vec<usize> {
    let (section, name) = key.split_once('.').unwrap_or(("", key));
    let mut inside = false;
    let mut found = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let indented = line.starts_with([' ', '\t']);
        if !indented && !line.trim().is_empty() && !line.starts_with('#') {
            inside = !section_lines(line, section).is_empty();
        }
        let sets_it = line
            .trim_start()
            .strip_prefix(name)
            .is_some_and(|rest| rest.trim_start().starts_with(':'));
        if inside && indented && sets_it {
            found.push(index + 1);
        }
    }
    found
}

fn leak(names: Vec<&'static str>) -> &'static [&'static str] {
    Box::leak(names.into_boxed_slice())
}

fn sections() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = Vec::new();
    for spec in ALL {
        let section = spec.key.split_once('.').expect("section.name").0;
        if !names.contains(&section) {
            names.push(section);
        }
    }
    names
}

impl<'de> serde::Deserialize<'de> for FileLayer {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<FileLayer, D::Error> {
        d.deserialize_map(FileVisitor)
    }
}

struct FileVisitor;

impl<'de> Visitor<'de> for FileVisitor {
    type Value = FileLayer;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map of sections")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FileLayer, A::Error> {
        let mut values = Vec::new();
        let mut seen = Vec::new();
        while let Some(section) = map.next_key_seed(KeySeed(sections()))? {
            if seen.contains(&section) {
                return Err(twice(section));
            }
            seen.push(section);
            values.extend(map.next_value_seed(SectionSeed(section))?);
        }
        Ok(FileLayer(values))
    }
}

/// A key that must be one of these; rejected while it is read, so the error cites its line.
struct KeySeed(Vec<&'static str>);

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = &'static str;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<&'static str, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = &'static str;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a settings key")
    }
    fn visit_str<E: de::Error>(self, key: &str) -> Result<&'static str, E> {
        match self.0.iter().find(|k| **k == key) {
            Some(known) => Ok(known),
            None => Err(E::unknown_field(key, leak(self.0))),
        }
    }
}

struct SectionSeed(&'static str);

impl<'de> DeserializeSeed<'de> for SectionSeed {
    type Value = Vec<(&'static Spec, Value)>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(SectionVisitor(self.0))
    }
}

struct SectionVisitor(&'static str);

impl<'de> Visitor<'de> for SectionVisitor {
    type Value = Vec<(&'static Spec, Value)>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the keys of section {}", self.0)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let specs: Vec<&'static Spec> = ALL
            .into_iter()
            .filter(|s| s.key.split_once('.').is_some_and(|(sec, _)| sec == self.0))
            .collect();
        let mut values = Vec::new();
        let names = specs.iter().map(|s| s.key.split_once('.').unwrap().1);
        let names: Vec<&'static str> = names.collect();
        while let Some(name) = map.next_key_seed(KeySeed(names.clone()))? {
            let spec = specs
                .iter()
                .find(|s| s.key.split_once('.').unwrap().1 == name)
                .expect("KeySeed accepts table keys only");
            if values.iter().any(|(s, _)| s == spec) {
                return Err(twice(spec.key));
            }
            // serde_yaml places errors raised here at the section's start; the key rides along
            // (between KEY_MARK) so that `parse_file` can cite the bad key's own line.
            let value = map
                .next_value_seed(ValueSeed(spec.kind))
                .map_err(|e| de::Error::custom(format!("{KEY_MARK}{}{KEY_MARK}{e}", spec.key)))?;
            values.push((*spec, value));
        }
        Ok(values)
    }
}

fn twice<E: de::Error>(name: &str) -> E {
    E::custom(format!("{TWICE_MARK}{name}{TWICE_MARK}"))
}

struct ValueSeed(Kind);

impl<'de> DeserializeSeed<'de> for ValueSeed {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        use serde::Deserialize;
        // Every kind is read as YAML text first, so the message is ours ("expected a port
        // 1-65535") rather than serde's ("expected u16"), and is raised while the value is read,
        // so serde_yaml cites the line of the bad key.
        let text = match serde_yaml::Value::deserialize(d)? {
            serde_yaml::Value::Number(n) => n.to_string(),
            serde_yaml::Value::String(s) => s,
            serde_yaml::Value::Bool(b) => b.to_string(),
            serde_yaml::Value::Null => String::new(),
            _ => {
                return Err(de::Error::custom(match self.0 {
                    Kind::Words => "expected one line of words, not a list or a map",
                    _ => "expected a single value, not a list or a map",
                }))
            }
        };
        Value::parse(self.0, &text).map_err(de::Error::custom)
    }
}

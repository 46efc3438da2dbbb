//! Event files: JSON Lines of `{"name": ..., "data": ..., "after_ms": N,
//! "session": K}`, read one line at a time (the format of
//! `shared/bench/README.md`, "Event file format").
//!
//! `data` is decoded straight into [`Data`] without an intermediate
//! `serde_json::Value`, because reading the file is inside the timed loop of
//! the benchmarks. A missing `data` is `undefined`, `null` is `null`.

use std::fmt;
use std::io::BufRead;

use scxml::{Data, Event};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// One line of an event file.
#[derive(Clone, Debug, PartialEq)]
pub struct EventLine {
    /// The event name.
    pub name: String,
    /// The payload (`_event.data`); `undefined` when the line has none.
    pub data: Data,
    /// Milliseconds of session time to let pass before delivering.
    pub after_ms: Option<u64>,
    /// The session the event belongs to (`sessions` benchmark).
    pub session: Option<u64>,
}

impl EventLine {
    /// The external event this line delivers.
    pub fn into_event(self) -> Event {
        Event::external(self.name, self.data)
    }
}

/// A line of an event file that cannot be used, or a read failure.
#[derive(Debug, thiserror::Error)]
pub enum EventFileError {
    /// The line is not a valid event object.
    #[error("line {line}: {message}")]
    Syntax {
        /// 1-based line number.
        line: u64,
        /// What is wrong.
        message: String,
    },
    /// Reading failed.
    #[error("line {line}: cannot read: {source}")]
    Io {
        /// 1-based number of the line being read.
        line: u64,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Parses one line. Blank lines carry nothing and give `Ok(None)`.
pub fn parse_event_line(text: &str) -> Result<Option<EventLine>, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    // serde would also accept a struct written as an array.
    if !trimmed.starts_with('{') {
        return Err("expected a JSON object".to_owned());
    }
    let raw: RawLine = serde_json::from_str(text).map_err(|e| e.to_string())?;
    if raw.name.is_empty() {
        return Err("`name` is empty".to_owned());
    }
    if raw.name.chars().any(char::is_whitespace) {
        return Err(format!("event name {:?} contains whitespace", raw.name));
    }
    Ok(Some(EventLine {
        name: raw.name,
        data: raw.data.0,
        after_ms: raw.after_ms,
        session: raw.session,
    }))
}

/// Reads an event file line by line, reusing one buffer.
pub struct EventReader<R> {
    reader: R,
    buffer: String,
    line: u64,
}

impl<R: BufRead> EventReader<R> {
    /// Reads from `reader`.
    pub fn new(reader: R) -> Self {
        EventReader {
            reader,
            buffer: String::new(),
            line: 0,
        }
    }

    /// The number of the last line read.
    pub fn line(&self) -> u64 {
        self.line
    }
}

impl<R: BufRead> Iterator for EventReader<R> {
    /// The 1-based line number and the event of each non-blank line.
    type Item = Result<(u64, EventLine), EventFileError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            self.buffer.clear();
            self.line += 1;
            match self.reader.read_line(&mut self.buffer) {
                Ok(0) => {
                    self.line -= 1;
                    return None;
                }
                Ok(_) => {}
                Err(source) => {
                    return Some(Err(EventFileError::Io {
                        line: self.line,
                        source,
                    }))
                }
            }
            match parse_event_line(&self.buffer) {
                Ok(Some(event)) => return Some(Ok((self.line, event))),
                Ok(None) => continue,
                Err(message) => {
                    return Some(Err(EventFileError::Syntax {
                        line: self.line,
                        message,
                    }))
                }
            }
        }
    }
}

/// The line as written; unknown fields are errors, so that a misspelt
/// `after_ms` is not silently ignored.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLine {
    name: String,
    #[serde(default)]
    data: DataField,
    #[serde(default)]
    after_ms: Option<u64>,
    #[serde(default)]
    session: Option<u64>,
}

/// A JSON value decoded as [`Data`]; `Default` (field absent) is `undefined`
/// while an explicit `null` stays `null`.
#[derive(Default)]
struct DataField(Data);

impl<'de> Deserialize<'de> for DataField {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(DataVisitor).map(DataField)
    }
}

struct DataVisitor;

impl<'de> Visitor<'de> for DataVisitor {
    type Value = Data;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Data, E> {
        Ok(Data::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Data, E> {
        Ok(Data::Null)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Data, E> {
        Ok(Data::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Data, E> {
        Ok(Data::Number(v as f64))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Data, E> {
        Ok(Data::Number(v as f64))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Data, E> {
        Ok(Data::Number(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Data, E> {
        Ok(Data::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Data, E> {
        Ok(Data::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Data, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(DataField(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Data::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Data, A::Error> {
        let mut entries: Vec<(String, Data)> = Vec::with_capacity(map.size_hint().unwrap_or(0));
        while let Some((key, DataField(value))) = map.next_entry::<String, DataField>()? {
            // JSON.parse keeps the last of duplicate keys, in the first one's place.
            match entries.iter_mut().find(|(k, _)| *k == key) {
                Some(entry) => entry.1 = value,
                None => entries.push((key, value)),
            }
        }
        Ok(Data::Object(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(text: &str) -> EventLine {
        match parse_event_line(text) {
            Ok(Some(line)) => line,
            other => panic!("{text}: {other:?}"),
        }
    }

    #[test]
    fn full_line_with_nested_data() {
        let l = line(
            r#"{"name":"call.offered","data":{"b":1,"a":[true,null,"x",1.5]},"after_ms":250}"#,
        );
        assert_eq!(l.name, "call.offered");
        assert_eq!(l.after_ms, Some(250));
        assert_eq!(l.session, None);
        assert_eq!(
            l.data,
            Data::Object(vec![
                ("b".into(), Data::Number(1.0)),
                (
                    "a".into(),
                    Data::Array(vec![
                        Data::Bool(true),
                        Data::Null,
                        Data::String("x".into()),
                        Data::Number(1.5)
                    ])
                ),
            ])
        );
    }

    #[test]
    fn missing_data_is_undefined_and_null_is_null() {
        assert_eq!(line(r#"{"name":"end"}"#).data, Data::Undefined);
        assert_eq!(line(r#"{"name":"end","data":null}"#).data, Data::Null);
        assert_eq!(line(r#"{"name":"n","data":-3}"#).data, Data::Number(-3.0));
        assert_eq!(line(r#"{"session":4,"name":"x"}"#).session, Some(4));
    }

    #[test]
    fn duplicate_keys_keep_the_last_value_in_first_place() {
        let l = line(r#"{"name":"e","data":{"a":1,"b":2,"a":3}}"#);
        assert_eq!(
            l.data,
            Data::Object(vec![
                ("a".into(), Data::Number(3.0)),
                ("b".into(), Data::Number(2.0))
            ])
        );
    }

    #[test]
    fn blank_lines_are_skipped() {
        assert_eq!(parse_event_line(""), Ok(None));
        assert_eq!(parse_event_line("  \t\n"), Ok(None));
    }

    #[test]
    fn bad_lines_are_errors() {
        for bad in [
            r#"{"data":1}"#,
            r#"{"name":""}"#,
            r#"{"name":"a b"}"#,
            r#"{"name":7}"#,
            r#"{"name":"x","after_ms":-1}"#,
            r#"{"name":"x","afterms":5}"#,
            r#"{"name":"x"} trailing"#,
            r#"["x"]"#,
            "not json",
        ] {
            assert!(parse_event_line(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn reader_numbers_lines_and_reports_the_bad_one() {
        let text =
            "{\"name\":\"a\"}\n\n{\"name\":\"b\",\"after_ms\":10}\n{\"name\":\n{\"name\":\"c\"}";
        let mut reader = EventReader::new(text.as_bytes());
        let first = reader.next();
        assert!(matches!(first, Some(Ok((1, ref l))) if l.name == "a"));
        let second = reader.next();
        assert!(matches!(second, Some(Ok((3, ref l))) if l.name == "b" && l.after_ms == Some(10)));
        match reader.next() {
            Some(Err(EventFileError::Syntax { line, .. })) => assert_eq!(line, 4),
            other => panic!("expected a syntax error on line 4, got {other:?}"),
        }
        // Reading goes on after a bad line; the last line needs no newline.
        assert!(matches!(reader.next(), Some(Ok((5, ref l))) if l.name == "c"));
        assert!(reader.next().is_none());
        assert_eq!(reader.line(), 5);
    }

    #[test]
    fn into_event_is_external() {
        let event = line(r#"{"name":"go","data":{"x":1}}"#).into_event();
        assert_eq!(event.name, "go");
        assert_eq!(event.kind, scxml::EventKind::External);
        assert_eq!(event.data.get("x"), Some(&Data::Number(1.0)));
    }
}

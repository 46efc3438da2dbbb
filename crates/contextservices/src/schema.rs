//! Extension schemas and identification keys: what they are, how a request
//! body becomes one (and is refused), and how a value is checked against
//! one. Pure: storage is in `metadata`.
//!
//! An extension (ors-dialect.md §6) is a named group of attributes attached
//! to a profile, a service, a state or a task; it can be used only after
//! its schema was created (`POST /metadata/{kind}/extensions`).
//! Single-valued extensions hold one record, multi-valued ones an array;
//! `unique` lists attributes no two records of one owner may share.
//! An identification key names the attributes (of the profile, or of one
//! profile extension) that identify a customer; a unique key gives each
//! value to at most one customer.

use std::collections::HashSet;

use serde_json::{json, Map, Value};

use crate::time::is_iso8601;

/// The resources extensions attach to, as they appear in the metadata paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Customer profiles (`/metadata/profiles/extensions`).
    Profiles,
    /// Services (`/metadata/services/extensions`).
    Services,
    /// States (`/metadata/states/extensions`).
    States,
    /// Tasks (`/metadata/tasks/extensions`).
    Tasks,
}

impl Kind {
    /// Every kind, in path order.
    pub const ALL: [Kind; 4] = [Kind::Profiles, Kind::Services, Kind::States, Kind::Tasks];

    /// The path segment and stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Profiles => "profiles",
            Kind::Services => "services",
            Kind::States => "states",
            Kind::Tasks => "tasks",
        }
    }

    /// The kind named by a path segment.
    pub fn parse(segment: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == segment)
    }
}

/// Longest extension or key name: "Maximum RDBMS shared limit on creation
/// of index" (the public schema pages).
pub(crate) const MAX_NAME_CHARS: usize = 26;

/// Whether `name` is a valid extension or key name: a letter, then letters,
/// digits or underscores, at most [`MAX_NAME_CHARS`].
pub(crate) fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= MAX_NAME_CHARS
}

/// The type of an attribute's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AttrType {
    String,
    Integer,
    Long,
    Double,
    Boolean,
    Datetime,
}

impl AttrType {
    fn parse(name: &str) -> Option<AttrType> {
        Some(match name.to_ascii_lowercase().as_str() {
            "string" => AttrType::String,
            "integer" | "int" => AttrType::Integer,
            "long" => AttrType::Long,
            "double" | "float" => AttrType::Double,
            "boolean" | "bool" => AttrType::Boolean,
            "datetime" | "date" => AttrType::Datetime,
            _ => return None,
        })
    }

    fn as_str(self) -> &'static str {
        match self {
            AttrType::String => "string",
            AttrType::Integer => "integer",
            AttrType::Long => "long",
            AttrType::Double => "double",
            AttrType::Boolean => "boolean",
            AttrType::Datetime => "datetime",
        }
    }

    /// Whether `value` is of this type (`length` bounds strings when > 0).
    fn accepts(self, value: &Value, length: u64) -> bool {
        match (self, value) {
            (AttrType::String, Value::String(s)) => {
                length == 0 || s.chars().count() as u64 <= length
            }
            (AttrType::Integer, Value::Number(n)) => {
                n.as_i64().is_some_and(|i| i32::try_from(i).is_ok())
            }
            (AttrType::Long, Value::Number(n)) => n.as_i64().is_some(),
            (AttrType::Double, Value::Number(_)) => true,
            (AttrType::Boolean, Value::Bool(_)) => true,
            (AttrType::Datetime, Value::String(s)) => is_iso8601(s),
            _ => false,
        }
    }
}

/// One attribute of an extension schema.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AttributeSchema {
    pub(crate) name: String,
    ty: AttrType,
    /// Longest string, 0 for no limit.
    length: u64,
    mandatory: bool,
    default: Option<Value>,
    unique: bool,
    encrypt: bool,
}

/// An extension schema.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ExtensionSchema {
    /// The name as created (lookups ignore case).
    pub(crate) name: String,
    pub(crate) multi_valued: bool,
    pub(crate) attributes: Vec<AttributeSchema>,
    /// Attributes whose combined values differ between records of one owner.
    pub(crate) unique: Vec<String>,
}

/// The documented examples write booleans and numbers as strings too
/// (`"mandatory":"true"`, `"length":"10"`); both forms are accepted.
fn loose_bool(value: &Value, what: &str) -> Result<bool, String> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        _ => Err(format!("{what} must be true or false")),
    }
}

fn loose_u64(value: &Value, what: &str) -> Result<u64, String> {
    match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .ok_or_else(|| format!("{what} must be a non-negative integer"))
}

fn string_list(value: Option<&Value>, what: &str) -> Result<Vec<String>, String> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| format!("{what} must be an array of strings"))
            })
            .collect(),
        // "Lists attributes (separated by commas)": a string is accepted.
        Some(Value::String(s)) => Ok(s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()),
        Some(_) => Err(format!("{what} must be an array of strings")),
    }
}

impl AttributeSchema {
    fn parse(value: &Value) -> Result<AttributeSchema, String> {
        let Value::Object(fields) = value else {
            return Err("each attribute schema must be an object".to_owned());
        };
        let name = fields
            .get("name")
            .and_then(Value::as_str)
            .ok_or("an attribute schema needs a name")?;
        if name.is_empty() || name.chars().any(|c| c.is_control()) || name.contains('.') {
            return Err(format!("invalid attribute name {name:?}"));
        }
        let type_name = fields
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("string");
        let ty = AttrType::parse(type_name)
            .ok_or_else(|| format!("attribute {name}: unknown type {type_name:?}"))?;
        let length = match fields.get("length") {
            None | Some(Value::Null) => 0,
            Some(v) => loose_u64(v, &format!("attribute {name}: length"))?,
        };
        let flag = |key: &str| match fields.get(key) {
            None | Some(Value::Null) => Ok(false),
            Some(v) => loose_bool(v, &format!("attribute {name}: {key}")),
        };
        let schema = AttributeSchema {
            name: name.to_owned(),
            ty,
            length,
            mandatory: flag("mandatory")?,
            default: fields.get("default").filter(|v| !v.is_null()).cloned(),
            unique: flag("unique")?,
            encrypt: flag("encrypt")?,
        };
        if let Some(default) = &schema.default {
            if !schema.ty.accepts(default, schema.length) {
                return Err(format!(
                    "attribute {name}: the default is not of type {}",
                    schema.ty.as_str()
                ));
            }
        }
        Ok(schema)
    }

    fn to_json(&self) -> Value {
        let mut out = json!({
            "name": self.name,
            "type": self.ty.as_str(),
            "length": self.length,
            "mandatory": self.mandatory,
            "unique": self.unique,
            "encrypt": self.encrypt,
        });
        if let (Some(default), Value::Object(map)) = (&self.default, &mut out) {
            map.insert("default".to_owned(), default.clone());
        }
        out
    }
}

impl ExtensionSchema {
    /// The schema a creation body describes (`name`, `type`, `attributes`,
    /// `unique`), or why it is refused.
    pub(crate) fn parse(body: &Map<String, Value>) -> Result<ExtensionSchema, String> {
        let name = body
            .get("name")
            .and_then(Value::as_str)
            .ok_or("the extension schema needs a name")?;
        if !is_valid_name(name) {
            return Err(format!(
                "invalid extension name {name:?}: a letter, then letters, digits or \
                 underscores, at most {MAX_NAME_CHARS} characters"
            ));
        }
        let multi_valued = match body.get("type").and_then(Value::as_str) {
            Some("single-valued") => false,
            Some("multi-valued") => true,
            _ => return Err("type must be \"single-valued\" or \"multi-valued\"".to_owned()),
        };
        let attributes = match body.get("attributes") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(AttributeSchema::parse)
                .collect::<Result<Vec<_>, _>>()?,
            Some(_) => return Err("attributes must be an array of attribute schemas".to_owned()),
        };
        let mut seen = HashSet::new();
        for attribute in &attributes {
            if !seen.insert(attribute.name.as_str()) {
                return Err(format!("attribute {} is defined twice", attribute.name));
            }
        }
        let unique = string_list(body.get("unique"), "unique")?;
        for name in &unique {
            if !seen.contains(name.as_str()) {
                return Err(format!("unique names {name}, which is not an attribute"));
            }
        }
        for key in body.keys() {
            if !matches!(key.as_str(), "name" | "type" | "attributes" | "unique") {
                return Err(format!("unknown field {key:?} in an extension schema"));
            }
        }
        Ok(ExtensionSchema {
            name: name.to_owned(),
            multi_valued,
            attributes,
            unique,
        })
    }

    /// The schema as the API shows (and the store keeps) it.
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "type": if self.multi_valued { "multi-valued" } else { "single-valued" },
            "attributes": self.attributes.iter().map(AttributeSchema::to_json).collect::<Vec<_>>(),
            "unique": self.unique,
        })
    }

    /// Whether the schema has an attribute called `name`.
    pub(crate) fn has_attribute(&self, name: &str) -> bool {
        self.attributes.iter().any(|a| a.name == name)
    }

    /// The records `value` holds, checked and completed with defaults: one
    /// object for a single-valued extension, an array of objects (or one
    /// object) for a multi-valued one.
    pub(crate) fn records(&self, value: &Value) -> Result<Vec<Map<String, Value>>, String> {
        let items: Vec<&Value> = match (value, self.multi_valued) {
            (Value::Object(_), _) => vec![value],
            (Value::Array(items), true) => items.iter().collect(),
            (Value::Array(_), false) => {
                return Err(format!(
                    "extension {} is single-valued: give one object, not an array",
                    self.name
                ))
            }
            _ => {
                return Err(format!(
                    "extension {} must be an object{}",
                    self.name,
                    if self.multi_valued {
                        " or an array of objects"
                    } else {
                        ""
                    }
                ))
            }
        };
        let records = items
            .into_iter()
            .map(|item| self.record(item))
            .collect::<Result<Vec<_>, _>>()?;
        self.check_unique(&records)?;
        Ok(records)
    }

    fn record(&self, value: &Value) -> Result<Map<String, Value>, String> {
        let Value::Object(fields) = value else {
            return Err(format!(
                "a record of extension {} must be an object",
                self.name
            ));
        };
        for key in fields.keys() {
            if !self.has_attribute(key) {
                return Err(format!("extension {} has no attribute {key:?}", self.name));
            }
        }
        let mut record = Map::new();
        for attribute in &self.attributes {
            match fields.get(&attribute.name).filter(|v| !v.is_null()) {
                Some(v) if attribute.ty.accepts(v, attribute.length) => {
                    record.insert(attribute.name.clone(), v.clone());
                }
                Some(_) => {
                    let limit = match (attribute.ty, attribute.length) {
                        (AttrType::String, n) if n > 0 => format!(" of at most {n} characters"),
                        _ => String::new(),
                    };
                    return Err(format!(
                        "extension {}: attribute {} must be of type {}{limit}",
                        self.name,
                        attribute.name,
                        attribute.ty.as_str()
                    ));
                }
                None => match &attribute.default {
                    Some(default) => {
                        record.insert(attribute.name.clone(), default.clone());
                    }
                    None if attribute.mandatory => {
                        return Err(format!(
                            "extension {}: attribute {} is mandatory",
                            self.name, attribute.name
                        ))
                    }
                    None => {}
                },
            }
        }
        Ok(record)
    }

    /// No two records share the values of the `unique` attributes (all
    /// together), nor the value of an attribute marked unique by itself.
    pub(crate) fn check_unique(&self, records: &[Map<String, Value>]) -> Result<(), String> {
        let mut groups: Vec<Vec<&str>> = Vec::new();
        if !self.unique.is_empty() {
            groups.push(self.unique.iter().map(String::as_str).collect());
        }
        for attribute in self.attributes.iter().filter(|a| a.unique) {
            groups.push(vec![attribute.name.as_str()]);
        }
        for group in groups {
            let mut seen = HashSet::new();
            for record in records {
                let values: Vec<String> = group
                    .iter()
                    .map(|name| {
                        record
                            .get(*name)
                            .map_or("null".to_owned(), Value::to_string)
                    })
                    .collect();
                if !seen.insert(values) {
                    return Err(format!(
                        "extension {}: two records have the same {}",
                        self.name,
                        group.join(", ")
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Where the attributes of an identification key are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeySource {
    /// The profile's own attributes.
    Profile,
    /// The records of a profile extension (its lowercase name).
    Extension(String),
}

/// An identification key.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct IdKey {
    /// Assigned by the store; the identification algorithm prefers lower ids.
    pub(crate) id: i64,
    /// The name as created.
    pub(crate) name: String,
    pub(crate) source: KeySource,
    /// The extension's name as created, for display.
    pub(crate) source_name: Option<String>,
    pub(crate) attributes: Vec<String>,
    pub(crate) unique: bool,
}

impl IdKey {
    /// The key a creation body describes (`name`, `source`, `attributes`,
    /// `unique`); `id` is 0 until stored. An extension source is returned
    /// as given, to be checked against the extension schemas.
    pub(crate) fn parse(body: &Map<String, Value>) -> Result<IdKey, String> {
        let name = body
            .get("name")
            .and_then(Value::as_str)
            .ok_or("the identification key needs a name")?;
        if !is_valid_name(name) {
            return Err(format!(
                "invalid key name {name:?}: a letter, then letters, digits or underscores, \
                 at most {MAX_NAME_CHARS} characters"
            ));
        }
        let (source, source_name) = match body.get("source") {
            None | Some(Value::Null) => (KeySource::Profile, None),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("profile") => {
                (KeySource::Profile, None)
            }
            Some(Value::String(s)) if is_valid_name(s) => (
                KeySource::Extension(s.to_ascii_lowercase()),
                Some(s.clone()),
            ),
            Some(_) => {
                return Err(
                    "source must be \"profile\" or the name of a profile extension".to_owned(),
                )
            }
        };
        let attributes = string_list(body.get("attributes"), "attributes")?;
        if attributes.is_empty() {
            return Err("an identification key needs at least one attribute".to_owned());
        }
        let mut seen = HashSet::new();
        for attribute in &attributes {
            if attribute.is_empty() || attribute.contains('.') {
                return Err(format!("invalid attribute name {attribute:?}"));
            }
            if !seen.insert(attribute) {
                return Err(format!("attribute {attribute} is named twice"));
            }
        }
        let unique = match body.get("unique") {
            None | Some(Value::Null) => false,
            Some(v) => loose_bool(v, "unique")?,
        };
        for key in body.keys() {
            if !matches!(key.as_str(), "name" | "source" | "attributes" | "unique") {
                return Err(format!("unknown field {key:?} in an identification key"));
            }
        }
        Ok(IdKey {
            id: 0,
            name: name.to_owned(),
            source,
            source_name,
            attributes,
            unique,
        })
    }

    /// The key as the API shows (and the store keeps) it.
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "source": self.source_name.as_deref().unwrap_or("profile"),
            "attributes": self.attributes,
            "unique": self.unique,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => panic!("not an object"),
        }
    }

    fn feedback() -> ExtensionSchema {
        // The documented Feedback state extension, with its string flags.
        ExtensionSchema::parse(&object(json!({
            "name": "Feedback",
            "type": "single-valued",
            "attributes": [
                {"name": "FeedbackType", "type": "string", "length": "10", "mandatory": "true"},
                {"name": "rating", "type": "integer", "mandatory": "true"},
                {"name": "notes", "type": "string", "length": 256, "mandatory": "false"}
            ]
        })))
        .unwrap()
    }

    #[test]
    fn schemas_parse_with_loose_flags_and_round_trip() {
        let schema = feedback();
        assert!(!schema.multi_valued);
        assert_eq!(schema.attributes.len(), 3);
        let stored = schema.to_json();
        assert_eq!(ExtensionSchema::parse(&object(stored)).unwrap(), schema);
    }

    #[test]
    fn bad_schemas_are_refused_with_a_reason() {
        for (body, needle) in [
            (json!({"type": "single-valued"}), "needs a name"),
            (
                json!({"name": "9lives", "type": "single-valued"}),
                "invalid extension name",
            ),
            (
                json!({"name": "a_very_long_extension_name_x", "type": "single-valued"}),
                "at most 26",
            ),
            (
                json!({"name": "X", "type": "double-valued"}),
                "type must be",
            ),
            (
                json!({"name": "X", "type": "multi-valued", "attributes": [{"name": "a", "type": "blob"}]}),
                "unknown type",
            ),
            (
                json!({"name": "X", "type": "multi-valued", "attributes": [{"name": "a"}], "unique": ["b"]}),
                "not an attribute",
            ),
        ] {
            let error = ExtensionSchema::parse(&object(body)).unwrap_err();
            assert!(error.contains(needle), "{error}");
        }
    }

    #[test]
    fn records_are_checked_against_the_schema() {
        let schema = feedback();
        let records = schema
            .records(&json!({"FeedbackType": "survey", "rating": 7}))
            .unwrap();
        assert_eq!(records[0]["rating"], 7);
        for (value, needle) in [
            (json!({"FeedbackType": "survey"}), "rating is mandatory"),
            (
                json!({"FeedbackType": "a much too long type", "rating": 1}),
                "at most 10",
            ),
            (
                json!({"FeedbackType": "survey", "rating": "7"}),
                "must be of type integer",
            ),
            (
                json!({"FeedbackType": "survey", "rating": 7, "extra": 1}),
                "no attribute \"extra\"",
            ),
            (
                json!([{"FeedbackType": "survey", "rating": 7}]),
                "single-valued",
            ),
        ] {
            let error = schema.records(&value).unwrap_err();
            assert!(error.contains(needle), "{needle}: {error}");
        }
    }

    #[test]
    fn multi_valued_records_keep_unique_attributes_apart() {
        let schema = ExtensionSchema::parse(&object(json!({
            "name": "Phone",
            "type": "multi-valued",
            "attributes": [{"name": "number", "type": "string"}, {"name": "kind", "type": "string", "default": "home"}],
            "unique": ["number"]
        })))
        .unwrap();
        let records = schema
            .records(&json!([{"number": "1"}, {"number": "2", "kind": "work"}]))
            .unwrap();
        assert_eq!(records[0]["kind"], "home");
        let error = schema
            .records(&json!([{"number": "1"}, {"number": "1"}]))
            .unwrap_err();
        assert!(error.contains("same number"), "{error}");
    }

    #[test]
    fn identification_keys_parse() {
        let key = IdKey::parse(&object(
            json!({"name": "idPhone", "source": "Contacts", "attributes": ["phone_number"], "unique": "true"}),
        ))
        .unwrap();
        assert_eq!(key.source, KeySource::Extension("contacts".to_owned()));
        assert!(key.unique);
        assert_eq!(key.to_json()["source"], "Contacts");
        let profile = IdKey::parse(&object(
            json!({"name": "idName", "attributes": ["LastName", "FirstName"]}),
        ))
        .unwrap();
        assert_eq!(profile.source, KeySource::Profile);
        assert!(IdKey::parse(&object(json!({"name": "k", "attributes": []}))).is_err());
        assert!(IdKey::parse(&object(json!({"name": "k", "attributes": ["a", "a"]}))).is_err());
    }
}

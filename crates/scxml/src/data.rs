//! `Data`: the values that cross the boundary between the interpreter, its data
//! model and the host — event payloads, `<param>` values, `<donedata>`, logs.
//!
//! It is JSON plus `undefined` and XML (which the ECMAScript data model exposes
//! as a DOM, SCXML 1.0 App. B.2). Objects keep their key order.

use std::fmt;

/// A value passed between sessions, hosts and data models.
#[derive(Clone, Debug, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub enum Data {
    /// No value (ECMAScript `undefined`).
    #[default]
    Undefined,
    /// ECMAScript `null`.
    Null,
    /// A boolean.
    Bool(bool),
    /// A number.
    Number(f64),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<Data>),
    /// An object with its keys in insertion order.
    Object(Vec<(String, Data)>),
    /// An XML fragment (serialized), shown to ECMAScript as a DOM node.
    Xml(String),
}

impl Data {
    /// Looks a key up in an object; `None` for anything else.
    pub fn get(&self, key: &str) -> Option<&Data> {
        match self {
            Data::Object(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Whether this is [`Data::Undefined`].
    pub fn is_undefined(&self) -> bool {
        matches!(self, Data::Undefined)
    }

    /// Converts to JSON: `undefined` becomes `null`, XML its text.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            Data::Undefined | Data::Null => Value::Null,
            Data::Bool(b) => Value::Bool(*b),
            Data::Number(n) => number_to_json(*n),
            Data::String(s) | Data::Xml(s) => Value::String(s.clone()),
            Data::Array(items) => Value::Array(items.iter().map(Data::to_json).collect()),
            Data::Object(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_json()))
                    .collect(),
            ),
        }
    }
}

/// Integers print without a fraction, as ECMAScript prints them.
fn number_to_json(n: f64) -> serde_json::Value {
    if n.fract() == 0.0 && n.abs() < 9.007_199_254_740_992e15 {
        serde_json::Value::from(n as i64)
    } else {
        serde_json::Number::from_f64(n)
            .map(serde_json::Value::Number)
            .unwrap_or(serde_json::Value::Null)
    }
}

impl From<serde_json::Value> for Data {
    fn from(value: serde_json::Value) -> Self {
        use serde_json::Value;
        match value {
            Value::Null => Data::Null,
            Value::Bool(b) => Data::Bool(b),
            Value::Number(n) => Data::Number(n.as_f64().unwrap_or(f64::NAN)),
            Value::String(s) => Data::String(s),
            Value::Array(items) => Data::Array(items.into_iter().map(Data::from).collect()),
            Value::Object(map) => {
                Data::Object(map.into_iter().map(|(k, v)| (k, v.into())).collect())
            }
        }
    }
}

impl From<&str> for Data {
    fn from(s: &str) -> Self {
        Data::String(s.to_owned())
    }
}

impl From<String> for Data {
    fn from(s: String) -> Self {
        Data::String(s)
    }
}

impl fmt::Display for Data {
    /// Strings and XML print as they are, everything else as JSON.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Data::String(s) | Data::Xml(s) => f.write_str(s),
            Data::Undefined => f.write_str("undefined"),
            other => write!(f, "{}", other.to_json()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_keeps_key_order_and_integers() {
        let json: serde_json::Value =
            serde_json::from_str(r#"{"b":1,"a":[true,null,"x",1.5]}"#).unwrap();
        let data = Data::from(json.clone());
        assert_eq!(data.get("b"), Some(&Data::Number(1.0)));
        assert_eq!(data.to_json(), json);
        assert_eq!(data.to_string(), r#"{"b":1,"a":[true,null,"x",1.5]}"#);
    }
}

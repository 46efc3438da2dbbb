//! Identification: which identification key answers a query, and the index
//! values a profile has under a key. Pure: storage is in `profiles`.
//!
//! Every profile has, for each key, the values of the key's attributes
//! joined by [`SEPARATOR`] — one value per combination when attributes are
//! multi-valued (arrays) or the key's source is a multi-valued extension.
//! The store indexes `(tenant, key, value)`, so that identifying a caller
//! among millions of profiles is one index probe.
//!
//! Choosing the key follows the public Identify Customer page: with no
//! `id_key`, take the key of lowest id whose attributes the query all
//! gives; failing that, the key with the most leading attributes given
//! (ties: lowest id), which is then a prefix search.

use std::collections::{BTreeSet, HashMap};

use serde_json::{Map, Value};

use crate::schema::{IdKey, KeySource};

/// Joins the values of a key's attributes. A control character no
/// attribute value is expected to hold; values holding it are not indexed.
pub(crate) const SEPARATOR: char = '\u{1f}';

/// The character after [`SEPARATOR`], which ends a prefix range.
const AFTER_SEPARATOR: char = '\u{20}';

/// Most index values one profile gets under one key, so that a profile with
/// many multi-valued attributes cannot blow up the index.
pub(crate) const MAX_VALUES_PER_KEY: usize = 64;

/// The text of a scalar as indexed and as compared with query strings:
/// strings as they are, numbers and booleans as JSON writes them.
pub(crate) fn scalar_text(value: &Value) -> Option<String> {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return None,
    };
    (!text.contains(SEPARATOR)).then_some(text)
}

/// The texts of an attribute value: a scalar's, or each scalar of an array.
fn texts(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::Array(items)) => items.iter().filter_map(scalar_text).collect(),
        Some(value) => scalar_text(value).into_iter().collect(),
        None => Vec::new(),
    }
}

/// The index values of a profile under `key`, sorted and distinct.
/// `extensions` holds the profile's records by lowercase extension name.
pub(crate) fn key_values(
    key: &IdKey,
    attributes: &Map<String, Value>,
    extensions: &HashMap<String, Vec<Map<String, Value>>>,
) -> Vec<String> {
    let mut values = BTreeSet::new();
    match &key.source {
        KeySource::Profile => combine(&key.attributes, attributes, &mut values),
        KeySource::Extension(name) => {
            for record in extensions.get(name).into_iter().flatten() {
                combine(&key.attributes, record, &mut values);
            }
        }
    }
    values.into_iter().take(MAX_VALUES_PER_KEY).collect()
}

/// Adds every combination of the values of `names` in `fields`; nothing
/// when one of them has no value.
fn combine(names: &[String], fields: &Map<String, Value>, out: &mut BTreeSet<String>) {
    let mut partial = vec![String::new()];
    for (i, name) in names.iter().enumerate() {
        let options = texts(fields.get(name));
        if options.is_empty() {
            return;
        }
        let mut next = Vec::new();
        'build: for prefix in &partial {
            for option in &options {
                if next.len() >= MAX_VALUES_PER_KEY {
                    break 'build;
                }
                let mut value = prefix.clone();
                if i > 0 {
                    value.push(SEPARATOR);
                }
                value.push_str(option);
                next.push(value);
            }
        }
        partial = next;
    }
    out.extend(partial);
}

/// One criterion of an identification query: `attr=value` (a profile
/// attribute) or `ext.attr=value` (an attribute of a profile extension).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Criterion {
    pub(crate) source: KeySource,
    pub(crate) attribute: String,
    pub(crate) value: String,
}

impl Criterion {
    /// The criterion a query parameter states.
    pub(crate) fn parse(name: &str, value: &str) -> Criterion {
        match name.split_once('.') {
            Some((extension, attribute)) => Criterion {
                source: KeySource::Extension(extension.to_ascii_lowercase()),
                attribute: attribute.to_owned(),
                value: value.to_owned(),
            },
            None => Criterion {
                source: KeySource::Profile,
                attribute: name.to_owned(),
                value: value.to_owned(),
            },
        }
    }
}

/// What to look up in the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Probe {
    /// The value of every attribute of the key.
    Exact(String),
    /// The values of the key's leading attributes: every value in
    /// `[low, high)`.
    Prefix { low: String, high: String },
}

/// Why no key answers a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NoKey {
    /// `id_key` names no key.
    Unknown(String),
    /// The query does not give the first attribute of any (or of the
    /// named) key.
    NotCovered,
    /// A criterion value holds the separator.
    BadValue,
}

/// The key answering `criteria` (the one named `id_key`, if given) and the
/// probe into its index. `keys` are the tenant's keys, in id order.
pub(crate) fn choose<'k>(
    keys: &'k [IdKey],
    criteria: &[Criterion],
    id_key: Option<&str>,
) -> Result<(&'k IdKey, Probe), NoKey> {
    let score = |key: &IdKey| {
        key.attributes
            .iter()
            .take_while(|attribute| find(criteria, &key.source, attribute).is_some())
            .count()
    };
    let (key, covered) = match id_key {
        Some(name) => {
            let key = keys
                .iter()
                .find(|k| k.name.eq_ignore_ascii_case(name))
                .ok_or_else(|| NoKey::Unknown(name.to_owned()))?;
            (key, score(key))
        }
        None => {
            let full = keys.iter().find(|k| score(k) == k.attributes.len());
            match full {
                Some(key) => (key, key.attributes.len()),
                None => {
                    let mut best: Option<(&IdKey, usize)> = None;
                    for key in keys {
                        let s = score(key);
                        if s > best.map_or(0, |(_, b)| b) {
                            best = Some((key, s));
                        }
                    }
                    best.ok_or(NoKey::NotCovered)?
                }
            }
        }
    };
    if covered == 0 {
        return Err(NoKey::NotCovered);
    }
    let mut value = String::new();
    for (i, attribute) in key.attributes.iter().take(covered).enumerate() {
        let given = find(criteria, &key.source, attribute).ok_or(NoKey::NotCovered)?;
        if given.contains(SEPARATOR) {
            return Err(NoKey::BadValue);
        }
        if i > 0 {
            value.push(SEPARATOR);
        }
        value.push_str(given);
    }
    if covered == key.attributes.len() {
        return Ok((key, Probe::Exact(value)));
    }
    let mut low = value.clone();
    low.push(SEPARATOR);
    let mut high = value;
    high.push(AFTER_SEPARATOR);
    Ok((key, Probe::Prefix { low, high }))
}

fn find<'c>(criteria: &'c [Criterion], source: &KeySource, attribute: &str) -> Option<&'c str> {
    criteria
        .iter()
        .find(|c| &c.source == source && c.attribute == attribute)
        .map(|c| c.value.as_str())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn key(id: i64, name: &str, source: KeySource, attributes: &[&str]) -> IdKey {
        IdKey {
            id,
            name: name.to_owned(),
            source_name: match &source {
                KeySource::Profile => None,
                KeySource::Extension(n) => Some(n.clone()),
            },
            source,
            attributes: attributes.iter().map(|a| (*a).to_owned()).collect(),
            unique: false,
        }
    }

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn profile_values_combine_multi_valued_attributes() {
        let k = key(1, "k", KeySource::Profile, &["LastName", "EmailAddress"]);
        let attributes =
            object(json!({"LastName": "Banner", "EmailAddress": ["b@x", "h@y"], "Age": 40}));
        let values = key_values(&k, &attributes, &HashMap::new());
        assert_eq!(values, ["Banner\u{1f}b@x", "Banner\u{1f}h@y"]);
        let numbers = key(2, "n", KeySource::Profile, &["Age"]);
        assert_eq!(key_values(&numbers, &attributes, &HashMap::new()), ["40"]);
        let missing = key(3, "m", KeySource::Profile, &["LastName", "Phone"]);
        assert!(key_values(&missing, &attributes, &HashMap::new()).is_empty());
    }

    #[test]
    fn extension_values_come_from_each_record() {
        let k = key(
            1,
            "k",
            KeySource::Extension("phone".to_owned()),
            &["PhoneNumber"],
        );
        let records = vec![
            object(json!({"PhoneNumber": "555"})),
            object(json!({"PhoneNumber": "777"})),
            object(json!({"PhoneNumber": "555"})),
        ];
        let extensions = HashMap::from([("phone".to_owned(), records)]);
        assert_eq!(key_values(&k, &Map::new(), &extensions), ["555", "777"]);
    }

    #[test]
    fn the_first_fully_covered_key_wins_then_the_longest_prefix() {
        let keys = [
            key(1, "byName", KeySource::Profile, &["LastName", "FirstName"]),
            key(2, "byPhone", KeySource::Profile, &["PhoneNumber"]),
            key(
                3,
                "byContact",
                KeySource::Extension("contacts".to_owned()),
                &["phone_number"],
            ),
        ];
        let phone = [Criterion::parse("PhoneNumber", "555")];
        let (chosen, probe) = choose(&keys, &phone, None).unwrap();
        assert_eq!(chosen.name, "byPhone");
        assert_eq!(probe, Probe::Exact("555".to_owned()));

        let contact = [Criterion::parse("Contacts.phone_number", "408")];
        assert_eq!(choose(&keys, &contact, None).unwrap().0.name, "byContact");

        let last_name = [Criterion::parse("LastName", "Doe")];
        let (chosen, probe) = choose(&keys, &last_name, None).unwrap();
        assert_eq!(chosen.name, "byName");
        assert_eq!(
            probe,
            Probe::Prefix {
                low: "Doe\u{1f}".to_owned(),
                high: "Doe ".to_owned()
            }
        );

        let first_name = [Criterion::parse("FirstName", "Jane")];
        assert_eq!(choose(&keys, &first_name, None), Err(NoKey::NotCovered));
        assert_eq!(
            choose(&keys, &phone, Some("nope")),
            Err(NoKey::Unknown("nope".to_owned()))
        );
        assert_eq!(
            choose(&keys, &phone, Some("BYNAME")),
            Err(NoKey::NotCovered)
        );
    }
}

//! Calling-list records: the stored [`Record`], its JSON form, and the
//! [`Fields`] a request's `record` parameter carries, parsed and checked
//! before anything touches the database.
//!
//! JSON names are those of the Genesys Web Services outbound API
//! (ors-dialect.md §7): `phoneNumber`, `phoneType`, `timeZone`, `from`,
//! `until`, `chainId`, `otherFields`, `callingList`, `campaignName`,
//! `callResult`, `callbackType`, `timestamp`, `chainAttribute`.

use serde_json::{json, Map, Value};

use crate::codes::{code, Enumeration, CALL_RESULT, PHONE_TYPE, RECORD_STATUS, RECORD_TYPE};
use crate::error::Error;

/// Longest name of a campaign or calling list, in characters. Bounded so
/// that unique indexes stay within every backend's key size.
pub(crate) const MAX_NAME: usize = 255;
/// Longest phone number, customer id or time-zone name, in characters.
pub(crate) const MAX_CONTACT: usize = 128;
/// Longest reference id, in characters.
pub(crate) const MAX_REFERENCE: usize = 255;
/// Most custom fields on one record.
pub(crate) const MAX_OTHER_FIELDS: usize = 100;
/// Longest custom-field name, in characters.
pub(crate) const MAX_FIELD_NAME: usize = 64;
/// Longest custom-field text value, in characters.
pub(crate) const MAX_FIELD_TEXT: usize = 4096;
/// Seconds in a day: `from` and `until` are seconds after local midnight.
pub(crate) const DAY_SECONDS: i64 = 86_400;
/// `from` of a record that does not say (08:00, the usual calling-list
/// default).
pub(crate) const DEFAULT_FROM: i64 = 8 * 3600;
/// `until` of a record that does not say (18:00).
pub(crate) const DEFAULT_UNTIL: i64 = 18 * 3600;
/// Latest `timestamp` accepted: the end of year 9999, in Unix seconds.
const MAX_TIMESTAMP: i64 = 253_402_300_799;

/// A record as stored, with the names of its calling list and campaign.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Record {
    /// The record handle (OCS `GSW_RECORD_HANDLE`), assigned by Orca.
    pub(crate) handle: i64,
    /// The calling list's id.
    pub(crate) list_id: i64,
    /// The calling list's name.
    pub(crate) calling_list: String,
    /// The campaign's name.
    pub(crate) campaign_name: String,
    /// The caller's reference for the record.
    pub(crate) reference_id: Option<String>,
    /// The number (or address) to contact, as given.
    pub(crate) phone_number: String,
    /// Contact-info type code.
    pub(crate) phone_type: i64,
    /// Time-zone name, as given.
    pub(crate) time_zone: Option<String>,
    /// Earliest local time of day to call, seconds after midnight.
    pub(crate) from: i64,
    /// Latest local time of day to call, seconds after midnight.
    pub(crate) until: i64,
    /// The chain: the handle of the chain's first record.
    pub(crate) chain_id: i64,
    /// Position in the chain, from 1.
    pub(crate) chain_n: i64,
    /// The customer the record belongs to.
    pub(crate) customer_id: Option<String>,
    /// Record type code.
    pub(crate) record_type: i64,
    /// Record status code.
    pub(crate) record_status: i64,
    /// Call result code.
    pub(crate) call_result: i64,
    /// When to dial (Unix seconds), once rescheduled.
    pub(crate) dial_time: Option<i64>,
    /// Custom fields.
    pub(crate) other_fields: Map<String, Value>,
    /// Bumped by every change.
    pub(crate) version: i64,
    /// Creation time, Unix milliseconds.
    pub(crate) created: i64,
    /// Time of the last change, Unix milliseconds.
    pub(crate) updated: i64,
}

impl Record {
    /// Whether the record is done with: processed (`Updated`) or
    /// `Cancelled`. Only DoNotCall still applies to it.
    pub(crate) fn is_final(&self) -> bool {
        self.record_status == code::UPDATED || self.record_status == code::CANCELLED
    }

    /// The JSON form (schema `OcsRecord`).
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "recordHandle": self.handle,
            "callingList": self.calling_list,
            "campaignName": self.campaign_name,
            "referenceId": self.reference_id,
            "phoneNumber": self.phone_number,
            "phoneType": PHONE_TYPE.name(self.phone_type),
            "timeZone": self.time_zone,
            "from": self.from,
            "until": self.until,
            "chainId": self.chain_id,
            "chainN": self.chain_n,
            "customerId": self.customer_id,
            "recordType": RECORD_TYPE.name(self.record_type),
            "recordStatus": RECORD_STATUS.name(self.record_status),
            "callResult": CALL_RESULT.name(self.call_result),
            "dialTime": self.dial_time,
            "otherFields": self.other_fields,
            "version": self.version,
            "created": self.created,
            "updated": self.updated,
        })
    }
}

/// Which calling list a request names: by id or by name.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ListRef {
    /// Its id.
    Id(i64),
    /// Its name.
    Name(String),
}

/// `callbackType` of RecordReschedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallbackType {
    /// Any agent of the campaign may take the call.
    Campaign,
    /// The agent who asked for it takes the call.
    Personal,
}

/// `chainAttribute` of DoNotCall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChainAttribute {
    /// Only the record named.
    RecordOnly,
    /// Every record of its chain.
    AllChain,
}

/// The fields of a request's `record` parameter, checked. Absent and `null`
/// are the same: the field is not given.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Fields {
    pub(crate) calling_list: Option<ListRef>,
    pub(crate) campaign_name: Option<String>,
    pub(crate) reference_id: Option<String>,
    pub(crate) phone_number: Option<String>,
    pub(crate) phone_type: Option<i64>,
    pub(crate) time_zone: Option<String>,
    pub(crate) from: Option<i64>,
    pub(crate) until: Option<i64>,
    pub(crate) chain_id: Option<i64>,
    pub(crate) customer_id: Option<String>,
    pub(crate) call_result: Option<i64>,
    pub(crate) timestamp: Option<i64>,
    pub(crate) callback_type: Option<CallbackType>,
    pub(crate) chain_attribute: Option<ChainAttribute>,
    /// Custom fields to set; a `null` value removes the field.
    pub(crate) other_fields: Option<Map<String, Value>>,
}

/// Web Services fields that address the OCS application or the agent's
/// device; Orca has neither, so they are accepted and not used.
const IGNORED: &[&str] = &["applicationId", "devicePath", "operationName"];

impl Fields {
    /// Parses a `record` object, naming the first field that is wrong.
    pub(crate) fn parse(object: &Map<String, Value>) -> Result<Fields, Error> {
        let mut fields = Fields::default();
        for (name, value) in object {
            if value.is_null() || IGNORED.contains(&name.as_str()) {
                continue;
            }
            let field = name.as_str();
            match field {
                "callingList" => {
                    fields.calling_list = Some(match value {
                        Value::String(s) => ListRef::Name(text(field, s, MAX_NAME)?),
                        _ => ListRef::Id(positive(field, value)?),
                    })
                }
                "campaignName" => fields.campaign_name = Some(string(field, value, MAX_NAME)?),
                "referenceId" => fields.reference_id = Some(string(field, value, MAX_REFERENCE)?),
                "phoneNumber" => {
                    let phone = string(field, value, MAX_CONTACT)?;
                    contact_key(&phone).ok_or_else(|| {
                        Error::field(field, "a phone number needs a digit or a letter")
                    })?;
                    fields.phone_number = Some(phone);
                }
                "phoneType" => fields.phone_type = Some(enumerated(&PHONE_TYPE, value)?),
                "timeZone" => fields.time_zone = Some(string(field, value, MAX_CONTACT)?),
                "from" => fields.from = Some(time_of_day(field, value)?),
                "until" => fields.until = Some(time_of_day(field, value)?),
                "chainId" => fields.chain_id = Some(positive(field, value)?),
                "customerId" => fields.customer_id = Some(string(field, value, MAX_CONTACT)?),
                "callResult" => fields.call_result = Some(enumerated(&CALL_RESULT, value)?),
                "timestamp" => {
                    let seconds = integer(field, value)?;
                    if !(0..=MAX_TIMESTAMP).contains(&seconds) {
                        return Err(Error::field(
                            field,
                            "Unix seconds between 0 and the end of year 9999",
                        ));
                    }
                    fields.timestamp = Some(seconds);
                }
                "callbackType" => {
                    fields.callback_type = Some(match value.as_str() {
                        Some(s) if s.eq_ignore_ascii_case("Campaign") => CallbackType::Campaign,
                        Some(s) if s.eq_ignore_ascii_case("Personal") => CallbackType::Personal,
                        _ => return Err(Error::field(field, "Campaign or Personal")),
                    })
                }
                "chainAttribute" => {
                    fields.chain_attribute = Some(match value.as_str() {
                        Some(s) if s.eq_ignore_ascii_case("RecordOnly") => {
                            ChainAttribute::RecordOnly
                        }
                        Some(s) if s.eq_ignore_ascii_case("AllChain") => ChainAttribute::AllChain,
                        _ => return Err(Error::field(field, "RecordOnly or AllChain")),
                    })
                }
                "otherFields" => fields.other_fields = Some(other_fields(value)?),
                _ => return Err(Error::field(field, "not a field of an outbound record")),
            }
        }
        Ok(fields)
    }
}

/// The form of a contact address used to match it against the do-not-call
/// list: an address with letters in it (e-mail, chat) in lower case; a
/// phone number by its digits only, so that `+1 (555) 010-0100` and
/// `15550100100` are the same number. `None` when nothing is left.
pub(crate) fn contact_key(contact: &str) -> Option<String> {
    let contact = contact.trim();
    let key: String = if contact.chars().any(|c| c.is_alphabetic() || c == '@') {
        contact.to_lowercase()
    } else {
        contact.chars().filter(char::is_ascii_digit).collect()
    };
    (!key.is_empty()).then_some(key)
}

/// Checks a text a client gives: not empty, at most `max` characters, no
/// NUL (which PostgreSQL cannot store).
pub(crate) fn text(field: &str, value: &str, max: usize) -> Result<String, Error> {
    if value.trim().is_empty() {
        return Err(Error::field(field, "must not be empty"));
    }
    if value.chars().count() > max {
        return Err(Error::field(field, format!("longer than {max} characters")));
    }
    if value.contains('\0') {
        return Err(Error::field(field, "must not contain NUL"));
    }
    Ok(value.to_owned())
}

/// A string field, or a number given for one (JavaScript callers often
/// hold ids and numbers as either).
fn string(field: &str, value: &Value, max: usize) -> Result<String, Error> {
    match value {
        Value::String(s) => text(field, s, max),
        Value::Number(n) => text(field, &n.to_string(), max),
        _ => Err(Error::field(field, "must be a string")),
    }
}

/// An integer field: a JSON integer, a float without fraction (what a
/// JavaScript number may serialize as) or a numeric string.
pub(crate) fn integer(field: &str, value: &Value) -> Result<i64, Error> {
    let wrong = || Error::field(field, "must be an integer");
    match value {
        Value::Number(n) => match n.as_i64() {
            Some(i) => Ok(i),
            None => match n.as_f64() {
                // 2^53: beyond it a float no longer holds every integer.
                Some(f) if f.fract() == 0.0 && f.abs() <= 9_007_199_254_740_992.0 => Ok(f as i64),
                _ => Err(wrong()),
            },
        },
        Value::String(s) => s.trim().parse::<i64>().map_err(|_| wrong()),
        _ => Err(wrong()),
    }
}

/// An integer of at least 1 (ids, handles).
fn positive(field: &str, value: &Value) -> Result<i64, Error> {
    let n = integer(field, value)?;
    if n < 1 {
        return Err(Error::field(field, "must be a positive integer"));
    }
    Ok(n)
}

/// Seconds after midnight, 0..=86400.
fn time_of_day(field: &str, value: &Value) -> Result<i64, Error> {
    let n = integer(field, value)?;
    if !(0..=DAY_SECONDS).contains(&n) {
        return Err(Error::field(
            field,
            "seconds after local midnight, 0 to 86400",
        ));
    }
    Ok(n)
}

fn enumerated(enumeration: &Enumeration, value: &Value) -> Result<i64, Error> {
    enumeration
        .parse(value)
        .map_err(|reason| Error::field(enumeration.field, reason))
}

/// Custom fields: an object of at most [`MAX_OTHER_FIELDS`] scalar values
/// (calling-list columns hold scalars); `null` removes a field.
fn other_fields(value: &Value) -> Result<Map<String, Value>, Error> {
    const FIELD: &str = "otherFields";
    let Value::Object(object) = value else {
        return Err(Error::field(FIELD, "must be an object"));
    };
    if object.len() > MAX_OTHER_FIELDS {
        return Err(Error::field(
            FIELD,
            format!("more than {MAX_OTHER_FIELDS} fields"),
        ));
    }
    for (name, value) in object {
        let path = format!("{FIELD}.{name}");
        text(&path, name, MAX_FIELD_NAME)?;
        match value {
            Value::String(s) if s.contains('\0') => {
                return Err(Error::field(path, "must not contain NUL"))
            }
            Value::String(s) if s.chars().count() > MAX_FIELD_TEXT => {
                return Err(Error::field(
                    path,
                    format!("longer than {MAX_FIELD_TEXT} characters"),
                ))
            }
            Value::String(_) | Value::Number(_) | Value::Bool(_) | Value::Null => {}
            Value::Array(_) | Value::Object(_) => {
                return Err(Error::field(path, "must be a string, number or boolean"))
            }
        }
    }
    Ok(object.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(value: Value) -> Result<Fields, Error> {
        match value {
            Value::Object(object) => Fields::parse(&object),
            _ => unreachable!("tests pass objects"),
        }
    }

    #[test]
    fn an_add_record_body_in_web_services_form_parses() {
        let fields = parse(json!({
            "callingList": "Spring", "campaignName": "Renewals",
            "phoneNumber": "+1 555 0100", "phoneType": "Mobile", "timeZone": "EST",
            "from": 32400, "until": 61200.0, "chainId": "7",
            "otherFields": {"Amount": 120.5, "Name": "Okafor"},
            "applicationId": 134, "devicePath": "/devices/x", "referenceId": null,
        }))
        .unwrap();
        assert_eq!(fields.calling_list, Some(ListRef::Name("Spring".into())));
        assert_eq!(fields.campaign_name.as_deref(), Some("Renewals"));
        assert_eq!(fields.phone_type, Some(4));
        assert_eq!((fields.from, fields.until), (Some(32400), Some(61200)));
        assert_eq!(fields.chain_id, Some(7));
        assert_eq!(fields.reference_id, None);
        assert_eq!(fields.other_fields.unwrap()["Name"], "Okafor");
    }

    #[test]
    fn a_calling_list_may_be_named_by_id() {
        let fields = parse(json!({"callingList": 3})).unwrap();
        assert_eq!(fields.calling_list, Some(ListRef::Id(3)));
    }

    #[test]
    fn wrong_fields_are_named() {
        let cases = [
            (json!({"phone": "1"}), "phone"),
            (json!({"from": 90000}), "from"),
            (json!({"until": "noon"}), "until"),
            (json!({"chainId": 0}), "chainId"),
            (json!({"phoneType": "Fax"}), "phoneType"),
            (json!({"callResult": 99}), "callResult"),
            (json!({"callbackType": "Group"}), "callbackType"),
            (json!({"timestamp": -1}), "timestamp"),
            (json!({"phoneNumber": "   "}), "phoneNumber"),
            (json!({"phoneNumber": "--"}), "phoneNumber"),
            (json!({"phoneNumber": "55\u{0}5"}), "phoneNumber"),
            (json!({"otherFields": {"a": [1]}}), "otherFields.a"),
            (json!({"otherFields": {"": 1}}), "otherFields."),
            (json!({"otherFields": 3}), "otherFields"),
            (json!({"campaignName": "x".repeat(256)}), "campaignName"),
        ];
        for (body, field) in cases {
            match parse(body.clone()) {
                Err(Error::InvalidField { field: f, .. }) => assert_eq!(f, field, "{body}"),
                other => panic!("{body}: {other:?}"),
            }
        }
    }

    #[test]
    fn contact_keys_match_numbers_however_written() {
        assert_eq!(
            contact_key("+1 (555) 010-0100").as_deref(),
            Some("15550100100")
        );
        assert_eq!(contact_key("15550100100").as_deref(), Some("15550100100"));
        assert_eq!(
            contact_key(" Jo@Example.com ").as_deref(),
            Some("jo@example.com")
        );
        assert_eq!(contact_key("-- --"), None);
    }

    #[test]
    fn a_record_reads_back_with_names() {
        let record = Record {
            handle: 9,
            list_id: 1,
            calling_list: "Spring".into(),
            campaign_name: "Renewals".into(),
            reference_id: None,
            phone_number: "5550100".into(),
            phone_type: 1,
            time_zone: Some("EST".into()),
            from: DEFAULT_FROM,
            until: DEFAULT_UNTIL,
            chain_id: 9,
            chain_n: 1,
            customer_id: None,
            record_type: code::GENERAL,
            record_status: code::READY,
            call_result: code::UNKNOWN_RESULT,
            dial_time: None,
            other_fields: Map::new(),
            version: 1,
            created: 0,
            updated: 0,
        };
        let json = record.to_json();
        assert_eq!(json["phoneType"], "HomePhone");
        assert_eq!(json["recordStatus"], "Ready");
        assert_eq!(json["recordType"], "General");
        assert_eq!(json["callResult"], "Unknown");
        assert!(!record.is_final());
    }
}

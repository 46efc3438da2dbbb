//! The OCS requests (`req=` of the OCS HTTP interface, seed 003) and what
//! each does to a record, as pure functions of the record and the request's
//! fields: the storage layer reads the record under a lock, calls
//! [`update`], and writes back what it returns.
//!
//! Record life (Orca's reading of the Outbound Contact protocol; see
//! docs/design/outbound.md): AddRecord makes a `Ready` `General` record;
//! UpdateCallCompletionStats changes fields only; RecordReschedule puts the
//! record back to `Ready` with a dial time; RecordReject returns it to
//! `Ready`; RecordProcessed makes it `Updated` (final); RequestRecordCancel
//! makes it `Cancelled` (final); DoNotCall completes it as `NoCall` and
//! puts its number on the do-not-call list.

use serde_json::Value;

use crate::codes::{code, RECORD_STATUS};
use crate::error::Error;
use crate::record::{CallbackType, Fields, ListRef, Record};

/// An OCS request, as named by `req`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Req {
    /// Add a record to a calling list.
    AddRecord,
    /// Schedule the record's next call.
    RecordReschedule,
    /// Update the record's call result and fields.
    UpdateCallCompletionStats,
    /// The agent rejects the (preview) record; it goes back to the list.
    RecordReject,
    /// Cancel the record: it is not to be called.
    RequestRecordCancel,
    /// The record is done with.
    RecordProcessed,
    /// Do not call this number (customer) again.
    DoNotCall,
}

impl Req {
    /// Every request, in the order of the documentation.
    pub const ALL: [Req; 7] = [
        Req::AddRecord,
        Req::RecordReschedule,
        Req::UpdateCallCompletionStats,
        Req::RecordReject,
        Req::RequestRecordCancel,
        Req::RecordProcessed,
        Req::DoNotCall,
    ];

    /// The request named `name` (exact OCS spelling, any letter case).
    pub fn parse(name: &str) -> Option<Req> {
        Req::ALL
            .into_iter()
            .find(|r| r.name().eq_ignore_ascii_case(name))
    }

    /// The OCS name.
    pub fn name(self) -> &'static str {
        match self {
            Req::AddRecord => "AddRecord",
            Req::RecordReschedule => "RecordReschedule",
            Req::UpdateCallCompletionStats => "UpdateCallCompletionStats",
            Req::RecordReject => "RecordReject",
            Req::RequestRecordCancel => "RequestRecordCancel",
            Req::RecordProcessed => "RecordProcessed",
            Req::DoNotCall => "DoNotCall",
        }
    }

    /// The OCS user event that acknowledges the request
    /// (`GSW_USER_EVENT` / Web Services `notificationType`).
    pub fn acknowledgement(self) -> &'static str {
        match self {
            Req::AddRecord => "AddRecordAcknowledge",
            Req::RecordReschedule => "RecordRescheduleAcknowledge",
            Req::UpdateCallCompletionStats => "UpdateCallCompletionStatsAcknowledge",
            Req::RecordReject => "RecordRejectAcknowledge",
            Req::RequestRecordCancel => "RecordCancelAcknowledge",
            Req::RecordProcessed => "RecordProcessedAcknowledge",
            Req::DoNotCall => "DoNotCallAcknowledge",
        }
    }
}

/// The record after `req` with `fields`, or why `req` does not apply.
/// `now_ms` stamps the change. Not for AddRecord (a new record, see
/// [`crate::storage`]).
pub(crate) fn update(
    req: Req,
    fields: &Fields,
    record: &Record,
    now_ms: i64,
) -> Result<Record, Error> {
    check_fields_fit(req, fields, record)?;
    let mut next = record.clone();
    let refused = || Error::RecordFinal {
        handle: record.handle,
        status: RECORD_STATUS.name(record.record_status),
        req: req.name(),
    };
    match req {
        Req::AddRecord => {
            return Err(Error::RequestNotForResource {
                req: req.name(),
                resource: "records/{handle}",
            })
        }
        Req::UpdateCallCompletionStats | Req::RecordReject | Req::RecordProcessed
            if record.is_final() =>
        {
            return Err(refused())
        }
        Req::RecordReschedule if record.is_final() => return Err(refused()),
        Req::UpdateCallCompletionStats => {}
        Req::RecordReschedule => {
            let Some(timestamp) = fields.timestamp else {
                return Err(Error::field(
                    "timestamp",
                    "RecordReschedule needs the time of the next call (Unix seconds)",
                ));
            };
            next.dial_time = Some(timestamp);
            next.record_type = match fields.callback_type.unwrap_or(CallbackType::Campaign) {
                CallbackType::Campaign => code::CAMPAIGN_RESCHEDULED,
                CallbackType::Personal => code::PERSONAL_RESCHEDULED,
            };
            next.record_status = code::READY;
        }
        Req::RecordReject => next.record_status = code::READY,
        Req::RecordProcessed => next.record_status = code::UPDATED,
        Req::RequestRecordCancel => match record.record_status {
            // Cancelling twice is what a retried request looks like.
            code::CANCELLED => {}
            code::UPDATED => return Err(refused()),
            _ => {
                next.record_status = code::CANCELLED;
                next.call_result = code::CANCEL_RECORD;
            }
        },
        Req::DoNotCall => {
            if !record.is_final() {
                complete_as_do_not_call(&mut next);
            }
        }
    }
    apply_fields(fields, &mut next);
    other_fields_fit(&next)?;
    if next != *record {
        next.version = record.version + 1;
        next.updated = now_ms;
    }
    Ok(next)
}

/// Marks a record as completed by a do-not-call request.
pub(crate) fn complete_as_do_not_call(record: &mut Record) {
    record.record_status = code::UPDATED;
    record.record_type = code::NO_CALL;
    record.call_result = code::DO_NOT_CALL;
}

/// Fields that name the record's list or chain must agree with it; fields
/// that belong to another request are refused rather than ignored.
fn check_fields_fit(req: Req, fields: &Fields, record: &Record) -> Result<(), Error> {
    match &fields.calling_list {
        Some(ListRef::Name(name)) if *name != record.calling_list => {
            return Err(Error::field(
                "callingList",
                format!(
                    "record {} is in calling list {:?}",
                    record.handle, record.calling_list
                ),
            ))
        }
        Some(ListRef::Id(id)) if *id != record.list_id => {
            return Err(Error::field(
                "callingList",
                format!(
                    "record {} is in calling list {}",
                    record.handle, record.list_id
                ),
            ))
        }
        _ => {}
    }
    if let Some(name) = &fields.campaign_name {
        if *name != record.campaign_name {
            return Err(Error::field(
                "campaignName",
                format!(
                    "record {} is in campaign {:?}",
                    record.handle, record.campaign_name
                ),
            ));
        }
    }
    if fields.chain_id.is_some_and(|c| c != record.chain_id) {
        return Err(Error::field("chainId", "a record's chain does not change"));
    }
    if req != Req::RecordReschedule {
        if fields.timestamp.is_some() {
            return Err(Error::field("timestamp", "only for RecordReschedule"));
        }
        if fields.callback_type.is_some() {
            return Err(Error::field("callbackType", "only for RecordReschedule"));
        }
    }
    if req != Req::DoNotCall && fields.chain_attribute.is_some() {
        return Err(Error::field("chainAttribute", "only for DoNotCall"));
    }
    Ok(())
}

/// Copies the record fields a request carries onto the record.
fn apply_fields(fields: &Fields, record: &mut Record) {
    if let Some(v) = &fields.reference_id {
        record.reference_id = Some(v.clone());
    }
    if let Some(v) = &fields.phone_number {
        record.phone_number = v.clone();
    }
    if let Some(v) = fields.phone_type {
        record.phone_type = v;
    }
    if let Some(v) = &fields.time_zone {
        record.time_zone = Some(v.clone());
    }
    if let Some(v) = fields.from {
        record.from = v;
    }
    if let Some(v) = fields.until {
        record.until = v;
    }
    if let Some(v) = &fields.customer_id {
        record.customer_id = Some(v.clone());
    }
    if let Some(v) = fields.call_result {
        record.call_result = v;
    }
    if let Some(other) = &fields.other_fields {
        for (name, value) in other {
            if value.is_null() {
                record.other_fields.remove(name);
            } else {
                record.other_fields.insert(name.clone(), value.clone());
            }
        }
    }
}

/// Whether custom fields after a merge stay within the limit.
fn other_fields_fit(record: &Record) -> Result<(), Error> {
    if record.other_fields.len() > crate::record::MAX_OTHER_FIELDS {
        return Err(Error::field(
            "otherFields",
            format!(
                "a record holds at most {} custom fields",
                crate::record::MAX_OTHER_FIELDS
            ),
        ));
    }
    Ok(())
}

/// The `otherFields` value of a fresh record.
pub(crate) fn initial_other_fields(fields: &Fields) -> serde_json::Map<String, Value> {
    fields
        .other_fields
        .iter()
        .flatten()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::code;
    use crate::record::{DEFAULT_FROM, DEFAULT_UNTIL};
    use serde_json::{json, Map};

    fn ready() -> Record {
        Record {
            handle: 5,
            list_id: 2,
            calling_list: "Spring".into(),
            campaign_name: "Renewals".into(),
            reference_id: None,
            phone_number: "5550100".into(),
            phone_type: 1,
            time_zone: None,
            from: DEFAULT_FROM,
            until: DEFAULT_UNTIL,
            chain_id: 5,
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
        }
    }

    fn fields(value: Value) -> Fields {
        match value {
            Value::Object(o) => Fields::parse(&o).unwrap(),
            _ => unreachable!(),
        }
    }

    #[test]
    fn requests_round_trip_through_their_names() {
        for req in Req::ALL {
            assert_eq!(Req::parse(req.name()), Some(req));
            assert!(req.acknowledgement().ends_with("Acknowledge"));
        }
        assert_eq!(Req::parse("recordprocessed"), Some(Req::RecordProcessed));
        assert_eq!(Req::parse("Processed"), None);
    }

    #[test]
    fn reschedule_sets_the_dial_time_and_type() {
        let f = fields(
            json!({"timestamp": 1_900_000_000, "callbackType": "Personal", "callResult": "NoAnswer"}),
        );
        let next = update(Req::RecordReschedule, &f, &ready(), 42).unwrap();
        assert_eq!(next.dial_time, Some(1_900_000_000));
        assert_eq!(next.record_type, code::PERSONAL_RESCHEDULED);
        assert_eq!(next.record_status, code::READY);
        assert_eq!(next.call_result, 7);
        assert_eq!((next.version, next.updated), (2, 42));
        let missing = update(Req::RecordReschedule, &Fields::default(), &ready(), 42);
        assert!(matches!(missing, Err(Error::InvalidField { field, .. }) if field == "timestamp"));
    }

    #[test]
    fn processed_and_cancelled_records_are_final() {
        let done = update(Req::RecordProcessed, &Fields::default(), &ready(), 1).unwrap();
        assert_eq!(done.record_status, code::UPDATED);
        for req in [
            Req::RecordProcessed,
            Req::RecordReschedule,
            Req::UpdateCallCompletionStats,
            Req::RecordReject,
            Req::RequestRecordCancel,
        ] {
            let f = fields(json!({"timestamp": 1}));
            let f = if req == Req::RecordReschedule {
                f
            } else {
                Fields::default()
            };
            assert!(
                matches!(update(req, &f, &done, 2), Err(Error::RecordFinal { .. })),
                "{req:?}"
            );
        }
        let cancelled = update(Req::RequestRecordCancel, &Fields::default(), &ready(), 1).unwrap();
        assert_eq!(cancelled.record_status, code::CANCELLED);
        assert_eq!(cancelled.call_result, code::CANCEL_RECORD);
        // A retried cancel changes nothing and succeeds.
        let again = update(Req::RequestRecordCancel, &Fields::default(), &cancelled, 2).unwrap();
        assert_eq!(again, cancelled);
    }

    #[test]
    fn do_not_call_completes_a_live_record_and_leaves_a_final_one() {
        let next = update(Req::DoNotCall, &Fields::default(), &ready(), 1).unwrap();
        assert_eq!(next.record_status, code::UPDATED);
        assert_eq!(next.record_type, code::NO_CALL);
        assert_eq!(next.call_result, code::DO_NOT_CALL);
        let mut processed = ready();
        processed.record_status = code::UPDATED;
        processed.call_result = 33;
        let unchanged = update(Req::DoNotCall, &Fields::default(), &processed, 1).unwrap();
        assert_eq!(unchanged, processed);
    }

    #[test]
    fn custom_fields_merge_and_null_removes() {
        let mut record = ready();
        record.other_fields.insert("A".into(), json!(1));
        record.other_fields.insert("B".into(), json!(2));
        let f = fields(json!({"otherFields": {"B": null, "C": "x"}}));
        let next = update(Req::UpdateCallCompletionStats, &f, &record, 1).unwrap();
        assert_eq!(Value::Object(next.other_fields), json!({"A": 1, "C": "x"}));
    }

    #[test]
    fn fields_of_another_list_or_request_are_refused() {
        let cases = [
            (
                Req::RecordProcessed,
                json!({"callingList": "Autumn"}),
                "callingList",
            ),
            (
                Req::RecordProcessed,
                json!({"callingList": 3}),
                "callingList",
            ),
            (
                Req::RecordProcessed,
                json!({"campaignName": "Other"}),
                "campaignName",
            ),
            (Req::RecordProcessed, json!({"chainId": 6}), "chainId"),
            (Req::RecordProcessed, json!({"timestamp": 5}), "timestamp"),
            (
                Req::RecordReject,
                json!({"callbackType": "Personal"}),
                "callbackType",
            ),
            (
                Req::RecordReject,
                json!({"chainAttribute": "AllChain"}),
                "chainAttribute",
            ),
        ];
        for (req, body, field) in cases {
            match update(req, &fields(body.clone()), &ready(), 1) {
                Err(Error::InvalidField { field: f, .. }) => assert_eq!(f, field, "{body}"),
                other => panic!("{body}: {other:?}"),
            }
        }
        let same =
            fields(json!({"callingList": "Spring", "campaignName": "Renewals", "chainId": 5}));
        assert!(update(Req::RecordReject, &same, &ready(), 1).is_ok());
    }
}

//! The Outbound Contact enumerations a record carries: contact-info (phone)
//! type, record type, record status and call result. The database keeps the
//! numeric codes of the Genesys calling-list columns (`contact_info_type`,
//! `record_type`, `record_status`, `call_result`); the JSON API speaks their
//! names, and takes either on input.

use serde_json::Value;

/// One enumeration: its field name (for messages) and its names by code.
#[derive(Debug)]
pub(crate) struct Enumeration {
    /// The JSON field that carries it.
    pub(crate) field: &'static str,
    /// Names indexed by code.
    pub(crate) names: &'static [&'static str],
}

impl Enumeration {
    /// The name of `code`; codes outside the table (a database written by
    /// something else) read as the table's first name.
    pub(crate) fn name(&self, code: i64) -> &'static str {
        usize::try_from(code)
            .ok()
            .and_then(|i| self.names.get(i))
            .copied()
            .unwrap_or(self.names[0])
    }

    /// The code of a name (any letter case) or of an integer code, given as
    /// a JSON number or a numeric string.
    pub(crate) fn parse(&self, value: &Value) -> Result<i64, String> {
        let known = || {
            format!(
                "{} must be one of {} (or its code 0..={})",
                self.field,
                self.names.join(", "),
                self.names.len() - 1
            )
        };
        let code = match value {
            Value::String(s) => match self.names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
                Some(i) => return Ok(i as i64),
                None => s.trim().parse::<i64>().map_err(|_| known())?,
            },
            Value::Number(n) => match n.as_i64() {
                Some(i) => i,
                None => match n.as_f64() {
                    Some(f) if f.fract() == 0.0 && f.abs() < 1e6 => f as i64,
                    _ => return Err(known()),
                },
            },
            _ => return Err(known()),
        };
        if usize::try_from(code).is_ok_and(|i| i < self.names.len()) {
            Ok(code)
        } else {
            Err(known())
        }
    }
}

/// Contact-info types, in the order of the Web Services `phoneType` values
/// (ors-dialect.md §7), which is the order of their codes.
pub(crate) const PHONE_TYPE: Enumeration = Enumeration {
    field: "phoneType",
    names: &[
        "NoContactType",
        "HomePhone",
        "DirectBusinessPhone",
        "BusinessWithExt",
        "Mobile",
        "VacationPhone",
        "Pager",
        "Modem",
        "VoiceMail",
        "PinPager",
        "EmailAddress",
        "InstantMessaging",
    ],
};

/// Record types (the calling list's `record_type`).
pub(crate) const RECORD_TYPE: Enumeration = Enumeration {
    field: "recordType",
    names: &[
        "NoRecordType",
        "Unknown",
        "General",
        "CampaignRescheduled",
        "PersonalRescheduled",
        "PersonalCallback",
        "CampaignCallback",
        "NoCall",
    ],
};

/// Record statuses (the calling list's `record_status`).
pub(crate) const RECORD_STATUS: Enumeration = Enumeration {
    field: "recordStatus",
    names: &[
        "NoRecordStatus",
        "Ready",
        "Retrieved",
        "Updated",
        "Stale",
        "Cancelled",
        "AgentError",
        "ChainUpdated",
        "MissedCallback",
        "ChainReady",
    ],
};

/// Call results, by their OCS enumeration values (0 Ok … 53 Wrong Number).
pub(crate) const CALL_RESULT: Enumeration = Enumeration {
    field: "callResult",
    names: &[
        "Ok",
        "Transferred",
        "Conferenced",
        "GeneralError",
        "SystemError",
        "RemoteRelease",
        "Busy",
        "NoAnswer",
        "SitDetected",
        "AnsweringMachineDetected",
        "AllTrunksBusy",
        "SitInvalidNum",
        "SitVacant",
        "SitIntercept",
        "SitUnknown",
        "SitNoCircuit",
        "SitReorder",
        "FaxDetected",
        "QueueFull",
        "Cleared",
        "Overflowed",
        "Abandoned",
        "Redirected",
        "Forwarded",
        "Consult",
        "PickedUp",
        "Dropped",
        "DroppedNoAnswer",
        "Unknown",
        "Covered",
        "ConverseOn",
        "Bridged",
        "Silence",
        "Answer",
        "NuTone",
        "NoDialTone",
        "NoProgress",
        "NoRingBack",
        "NoEstablished",
        "PagerDetected",
        "WrongParty",
        "DialError",
        "CallDropError",
        "SwitchError",
        "NoPortAvailable",
        "TransferError",
        "Stale",
        "AgentCallbackError",
        "GroupCallbackError",
        "Deafened",
        "Held",
        "DoNotCall",
        "CancelRecord",
        "WrongNumber",
    ],
};

/// Codes the operations set.
pub(crate) mod code {
    /// `recordType` General: a record as added.
    pub(crate) const GENERAL: i64 = 2;
    /// `recordType` CampaignRescheduled.
    pub(crate) const CAMPAIGN_RESCHEDULED: i64 = 3;
    /// `recordType` PersonalRescheduled.
    pub(crate) const PERSONAL_RESCHEDULED: i64 = 4;
    /// `recordType` NoCall.
    pub(crate) const NO_CALL: i64 = 7;
    /// `recordStatus` Ready: to be dialed.
    pub(crate) const READY: i64 = 1;
    /// `recordStatus` Updated: processed, final.
    pub(crate) const UPDATED: i64 = 3;
    /// `recordStatus` Cancelled: final.
    pub(crate) const CANCELLED: i64 = 5;
    /// `callResult` Unknown, the value of a record never called.
    pub(crate) const UNKNOWN_RESULT: i64 = 28;
    /// `callResult` DoNotCall.
    pub(crate) const DO_NOT_CALL: i64 = 51;
    /// `callResult` CancelRecord.
    pub(crate) const CANCEL_RECORD: i64 = 52;
    /// `phoneType` NoContactType.
    pub(crate) const NO_CONTACT_TYPE: i64 = 0;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_codes_operations_use_name_what_they_mean() {
        assert_eq!(RECORD_TYPE.name(code::GENERAL), "General");
        assert_eq!(
            RECORD_TYPE.name(code::CAMPAIGN_RESCHEDULED),
            "CampaignRescheduled"
        );
        assert_eq!(
            RECORD_TYPE.name(code::PERSONAL_RESCHEDULED),
            "PersonalRescheduled"
        );
        assert_eq!(RECORD_TYPE.name(code::NO_CALL), "NoCall");
        assert_eq!(RECORD_STATUS.name(code::READY), "Ready");
        assert_eq!(RECORD_STATUS.name(code::UPDATED), "Updated");
        assert_eq!(RECORD_STATUS.name(code::CANCELLED), "Cancelled");
        assert_eq!(CALL_RESULT.name(code::UNKNOWN_RESULT), "Unknown");
        assert_eq!(CALL_RESULT.name(code::DO_NOT_CALL), "DoNotCall");
        assert_eq!(CALL_RESULT.name(code::CANCEL_RECORD), "CancelRecord");
        assert_eq!(CALL_RESULT.name(33), "Answer");
        assert_eq!(CALL_RESULT.name(6), "Busy");
        assert_eq!(PHONE_TYPE.name(code::NO_CONTACT_TYPE), "NoContactType");
        assert_eq!(PHONE_TYPE.name(11), "InstantMessaging");
    }

    #[test]
    fn names_codes_and_numeric_strings_parse() {
        assert_eq!(PHONE_TYPE.parse(&json!("Mobile")), Ok(4));
        assert_eq!(PHONE_TYPE.parse(&json!("mobile")), Ok(4));
        assert_eq!(PHONE_TYPE.parse(&json!(4)), Ok(4));
        assert_eq!(PHONE_TYPE.parse(&json!(4.0)), Ok(4));
        assert_eq!(CALL_RESULT.parse(&json!("33")), Ok(33));
        assert!(PHONE_TYPE.parse(&json!(12)).is_err());
        assert!(PHONE_TYPE.parse(&json!(-1)).is_err());
        assert!(PHONE_TYPE.parse(&json!(4.5)).is_err());
        assert!(PHONE_TYPE.parse(&json!("Fax")).is_err());
        assert!(PHONE_TYPE.parse(&json!(null)).is_err());
        let message = CALL_RESULT.parse(&json!(true)).unwrap_err();
        assert!(message.starts_with("callResult must be one of Ok, "));
    }

    #[test]
    fn unknown_codes_read_as_the_first_name() {
        assert_eq!(RECORD_STATUS.name(99), "NoRecordStatus");
        assert_eq!(RECORD_STATUS.name(-3), "NoRecordStatus");
    }
}

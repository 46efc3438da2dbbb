//! The payload format of records and snapshots: one format byte, then the
//! value in postcard (a compact, documented, stable binary serde format).
//!
//! Why binary and not JSON: JSON cannot carry NaN or infinities (the
//! ECMAScript data model produces them, and replay must give them back),
//! and postcard payloads are about half the size and several times faster
//! to encode and decode (numbers in `docs/design/journal.md`), which means
//! fewer WAL pages to fsync per batch. The leading byte names the format so
//! that a later change of the record types can keep reading old journals:
//! postcard is not self-describing, so a changed type gets a new format
//! byte and the old decoder stays.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Format byte of the current payloads: postcard of the types in
/// [`crate::record`] as of schema version 1.
pub(crate) const FORMAT_V1: u8 = 1;

/// Encodes `value` with the current format byte in front.
pub(crate) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, String> {
    let mut out = vec![FORMAT_V1];
    out = postcard::to_extend(value, out).map_err(|e| e.to_string())?;
    Ok(out)
}

/// Decodes a payload written by [`encode`].
pub(crate) fn decode<T: DeserializeOwned>(payload: &[u8]) -> Result<T, String> {
    match payload.split_first() {
        Some((&FORMAT_V1, body)) => postcard::from_bytes(body).map_err(|e| e.to_string()),
        Some((format, _)) => Err(format!("unknown payload format {format}")),
        None => Err("empty payload".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Entry, EventKindRecord, EventRecord, Value};
    use scxml::Timestamp;

    #[test]
    fn entries_round_trip_and_name_their_format() {
        let entry = Entry::Event {
            event: EventRecord {
                name: "e".into(),
                kind: EventKindRecord::External,
                sendid: None,
                origin: None,
                origintype: None,
                invokeid: None,
                raw: None,
                data: Value::Number(f64::INFINITY),
            },
            at: Timestamp::from_millis(7),
        };
        let bytes = encode(&entry).unwrap();
        assert_eq!(bytes[0], FORMAT_V1);
        assert_eq!(decode::<Entry>(&bytes).unwrap(), entry);
        assert!(decode::<Entry>(&[9, 0]).unwrap_err().contains("format 9"));
        assert!(decode::<Entry>(&[]).is_err());
    }
}

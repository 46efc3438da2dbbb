//! The per-document script of the ORS built-ins and the settings it reads.

use std::collections::BTreeMap;
use std::sync::Arc;

use scxml::datamodel::ecmascript::Prelude;
use scxml::Document;
use serde_json::{json, Value};

/// Names whose use in a document's code installs the built-ins.
pub const TRIGGERS: [&str; 8] = [
    "_genesys",
    "_data",
    "uneval",
    "toSource",
    "__GetDocumentURL",
    "__Log",
    "__Raise",
    "__GetCurrentStates",
];

const SOURCE: &str = include_str!("prelude.js");

/// Host settings the built-ins expose.
#[derive(Clone, Debug, Default)]
pub struct OrsConfig {
    /// `_genesys.session.tenant`.
    pub tenant: Option<String>,
    /// `_genesys.session.tenantid`.
    pub tenant_id: Option<String>,
    /// `_genesys.session.server.url` (the HTTP API base URL), if any.
    pub server_url: Option<String>,
    /// `_genesys.session.server.name`.
    pub server_name: Option<String>,
    /// `_genesys.session.server.cluster`.
    pub cluster: Option<String>,
    /// Configuration lists for `getListItemValue(list, item[, key])`:
    /// list name → item name → object of key/value pairs.
    pub lists: BTreeMap<String, Value>,
    /// Named time zones (e.g. `"Europe/Paris"`) to their offset from UTC in
    /// minutes, for `dayInZone` and friends; offsets such as `"+02:00"` and
    /// `"UTC"` need no entry. There is no time-zone database: daylight
    /// saving is the table's business.
    pub zones: BTreeMap<String, i32>,
}

/// The built-ins of `document`, as a [`Prelude`] for
/// [`EcmaScriptOptions::prelude`](scxml::datamodel::ecmascript::EcmaScriptOptions).
/// `document_url` is what `__GetDocumentURL()` returns.
pub fn prelude(document: &Document, document_url: &str, config: &OrsConfig) -> Arc<Prelude> {
    let mut data_ids: Vec<&str> = Vec::new();
    for item in document.states.iter().flat_map(|s| &s.data) {
        if !data_ids.contains(&item.id.as_str()) {
            data_ids.push(&item.id);
        }
    }
    let state_ids: Vec<&str> = document
        .states
        .iter()
        .skip(1)
        .map(|s| s.id.as_str())
        .collect();
    let settings = json!({
        "documentUrl": document_url,
        "tenant": config.tenant,
        "tenantid": config.tenant_id,
        "serverUrl": config.server_url,
        "serverName": config.server_name,
        "cluster": config.cluster,
        "lists": config.lists,
        "zones": config.zones,
    });
    let source = SOURCE
        .replace("__CONFIG__", &settings.to_string())
        .replace("__DATA_IDS__", &json!(data_ids).to_string())
        .replace("__STATE_IDS__", &json!(state_ids).to_string());
    Arc::new(Prelude {
        triggers: TRIGGERS.iter().map(|t| (*t).to_owned()).collect(),
        source,
    })
}

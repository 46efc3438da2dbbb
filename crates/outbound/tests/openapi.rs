//! The OpenAPI fragment: its shape, its references, and that it documents
//! exactly the routes the router serves.

mod util;

use std::collections::BTreeSet;

use axum::http::StatusCode;
use serde_json::Value;

/// Every route of the router, as (method, path) in OpenAPI form.
const ROUTES: &[(&str, &str)] = &[
    ("get", "/campaigns"),
    ("post", "/campaigns"),
    ("get", "/campaigns/{id}"),
    ("get", "/callinglists"),
    ("post", "/callinglists"),
    ("get", "/callinglists/{id}"),
    ("get", "/callinglists/{id}/records"),
    ("get", "/records/{id}"),
    ("post", "/records/{id}"),
    ("get", "/phones/{phone}"),
    ("post", "/phones/{phone}"),
    ("get", "/customer_ids/{id}"),
    ("post", "/customer_ids/{id}"),
];

#[test]
fn the_fragment_documents_every_route_and_only_those() {
    let doc = outbound::openapi();
    let paths = doc["paths"].as_object().expect("paths");
    let documented: BTreeSet<(String, String)> = paths
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .expect("path item")
                .keys()
                .map(move |method| (method.clone(), path.clone()))
        })
        .collect();
    let served: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(documented, served);
    for (path, item) in paths {
        for (method, operation) in item.as_object().unwrap() {
            let id = operation["operationId"].as_str().unwrap_or("");
            assert!(id.starts_with("ocs"), "{method} {path}: operationId {id:?}");
            let responses = operation["responses"].as_object().unwrap();
            assert!(responses.contains_key("400") || method == "get" && !path.contains('{'));
            assert!(responses.contains_key("503"), "{method} {path}");
        }
    }
}

#[test]
fn every_reference_resolves_and_every_schema_is_prefixed() {
    let doc = outbound::openapi();
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    assert!(schemas.keys().all(|name| name.starts_with("Ocs")));
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(refs.len() > 20);
    for reference in refs {
        let name = reference
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("{reference} is not a component schema"));
        assert!(schemas.contains_key(name), "{reference} is not defined");
    }
}

fn collect_refs(value: &Value, refs: &mut Vec<String>) {
    match value {
        Value::Object(object) => {
            for (key, value) in object {
                match (key.as_str(), value) {
                    ("$ref", Value::String(r)) => refs.push(r.clone()),
                    _ => collect_refs(value, refs),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, refs)),
        _ => {}
    }
}

/// The error codes the documentation lists are the ones answered.
#[tokio::test]
async fn documented_error_codes_include_those_answered() {
    let doc = outbound::openapi();
    let codes: BTreeSet<&str> = doc["components"]["schemas"]["OcsError"]["properties"]["error"]
        ["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    for app in util::apps().await {
        for uri in ["/nowhere", "/records/x", "/campaigns/9"] {
            let (status, body) = app.get(uri).await;
            assert!(status.is_client_error());
            assert!(codes.contains(body["error"].as_str().unwrap()), "{body}");
        }
        let (status, body) = app.post("/records/1?req=Nope", Value::Null).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(codes.contains(body["error"].as_str().unwrap()), "{body}");
        app.cleanup().await;
    }
}

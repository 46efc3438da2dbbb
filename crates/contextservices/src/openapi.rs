//! The OpenAPI 3.1 fragment of Context Services: `paths` relative to the
//! mount point and `components.schemas`, every name prefixed `Cs`, for the
//! server to merge into its document under its mount point.

use serde_json::{json, Map, Value};

fn schema(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn tenant_header() -> Value {
    json!({
        "name": "ContactCenterId",
        "in": "header",
        "required": false,
        "description": "The tenant (its DBID or name). Without it the deployment is single-tenant; every resource belongs to one tenant.",
        "schema": {"type": "string", "maxLength": 64}
    })
}

fn path_param(name: &str, description: &str, integer: bool) -> Value {
    let ty = if integer {
        json!({"type": "integer", "format": "int64"})
    } else {
        json!({"type": "string"})
    };
    json!({"name": name, "in": "path", "required": true, "description": description, "schema": ty})
}

fn query_param(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "query", "required": false, "description": description, "schema": {"type": "string"}})
}

fn flag(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "query", "required": false, "description": description, "schema": {"type": "boolean", "default": false}})
}

fn error_response(code: u16) -> (String, Value) {
    let description = match code {
        400 => "A missing or malformed parameter or body field, or an invalid ContactCenterId; the message names it.",
        403 => "Refused for the reason the message gives: an extension used before its schema exists, a unique value already taken, a completed service or state, a name already used.",
        404 => "No such resource in this tenant.",
        _ => "Error.",
    };
    (
        code.to_string(),
        json!({"description": description, "content": {"application/json": {"schema": schema("CsError")}}}),
    )
}

/// One operation. `body` names the request schema; `ok` is the success
/// code, its description and its schema (`None`: no body); `errors` the
/// 4xx codes it can answer.
fn op(
    summary: &str,
    params: Vec<Value>,
    body: Option<(&str, bool)>,
    ok: (u16, &str, Option<Value>),
    errors: &[u16],
) -> Value {
    let mut parameters = vec![tenant_header()];
    parameters.extend(params);
    let mut responses = Map::new();
    let (code, description, content) = ok;
    let mut success = json!({"description": description});
    if let Some(content) = content {
        success["content"] = json!({"application/json": {"schema": content}});
    }
    if code == 201 {
        success["headers"] = json!({"Location": {"description": "The created resource.", "schema": {"type": "string"}}});
    }
    responses.insert(code.to_string(), success);
    for code in errors {
        let (code, response) = error_response(*code);
        responses.insert(code, response);
    }
    let mut operation =
        json!({"summary": summary, "parameters": parameters, "responses": responses});
    if let Some((name, required)) = body {
        operation["requestBody"] = json!({
            "required": required,
            "content": {"application/json": {"schema": schema(name)}}
        });
    }
    operation
}

fn array_of(name: &str) -> Value {
    json!({"type": "array", "items": schema(name)})
}

fn view_params() -> Vec<Value> {
    vec![
        flag("active_states", "Include the active states."),
        flag("completed_states", "Include the completed states."),
        flag("active_tasks", "Include the active tasks."),
        flag("completed_tasks", "Include the completed tasks."),
        query_param(
            "extensions",
            "Comma-separated extension names to show (none by default).",
        ),
    ]
}

fn service_param() -> Value {
    path_param("service_id", "The service's 64-bit id.", true)
}

fn paths() -> Value {
    let customer = || path_param("customer_id", "The customer's id.", false);
    let contact = || {
        path_param(
            "contact_key",
            "The contact key the anonymous service was started with.",
            false,
        )
    };
    let state = || path_param("state_id", "The state's 32-bit id.", true);
    let task = || path_param("task_id", "The task's 32-bit id.", true);
    let kind = || json!({"name": "kind", "in": "path", "required": true, "description": "The resource the extension attaches to.", "schema": {"type": "string", "enum": ["profiles", "services", "states", "tasks"]}});
    let name = |what: &str| path_param("name", &format!("The {what}'s name (any case)."), false);
    let mut paths = Map::new();
    let mut add = |path: &str, item: Value| {
        paths.insert(path.to_owned(), item);
    };
    add(
        "/profiles",
        json!({
            "post": op("Create Customer Profile", vec![], Some(("CsProfile", true)),
                (201, "Created.", Some(schema("CsCustomerId"))), &[400, 403]),
            "get": op("Identify Customer: every other query parameter is an attribute to match, `name=value` for a profile attribute, `extension.name=value` for an extension's",
                vec![
                    query_param("include_profile", "yes: return the profiles' attributes; no (default): only the customer ids."),
                    query_param("include_extensions", "always (default): return the extensions named in `extensions`; unique: only when one customer is identified."),
                    query_param("extensions", "Comma-separated profile extension names to return."),
                    query_param("id_key", "The identification key to use; by default the first key (in creation order) whose attributes are all given, else the one with most leading attributes given."),
                ],
                None,
                (200, "The customers identified (at most 1000, by customer_id). When none is, 204 with an empty body.", Some(array_of("CsProfile"))),
                &[400, 403]),
        }),
    );
    add(
        "/profiles/{customer_id}",
        json!({
            "get": op("Query Customer Profile", vec![customer(), query_param("extensions", "Comma-separated extension names to return.")],
                None, (200, "The profile.", Some(schema("CsProfile"))), &[400, 403, 404]),
            "put": op("Update Customer Profile: replaces the attributes, and each extension the body names (null removes one)",
                vec![customer()], Some(("CsProfile", true)), (204, "Updated.", None), &[400, 403, 404]),
        }),
    );
    add(
        "/profiles/{customer_id}/merge/{source_id}",
        json!({
            "put": op("Merge Profiles: folds the source profile (and its services) into customer_id, then deletes it",
                vec![customer(), path_param("source_id", "The profile merged and deleted.", false)],
                Some(("CsMergeRequest", false)), (204, "Merged.", None), &[400, 403, 404]),
        }),
    );
    add(
        "/metadata/identification-keys",
        json!({
            "post": op("Create Identification Key: existing profiles are indexed under it", vec![], Some(("CsIdentificationKey", true)),
                (201, "Created.", Some(schema("CsName"))), &[400, 403]),
            "get": op("Query Identification Keys", vec![], None, (200, "Every key, oldest first.", Some(array_of("CsIdentificationKey"))), &[400]),
        }),
    );
    add(
        "/metadata/identification-keys/{name}",
        json!({
            "get": op("Query Identification Key", vec![name("key")], None, (200, "The key.", Some(schema("CsIdentificationKey"))), &[400, 404]),
        }),
    );
    add(
        "/metadata/{kind}/extensions",
        json!({
            "post": op("Create Extension Schema (profile, service, state or task)", vec![kind()], Some(("CsExtensionSchema", true)),
                (201, "Created.", Some(schema("CsName"))), &[400, 403, 404]),
            "get": op("Query Extension Schemas", vec![kind()], None, (200, "Every schema of the kind.", Some(array_of("CsExtensionSchema"))), &[400, 404]),
        }),
    );
    add(
        "/metadata/{kind}/extensions/{name}",
        json!({
            "get": op("Query Extension Schema", vec![kind(), name("extension")], None, (200, "The schema.", Some(schema("CsExtensionSchema"))), &[400, 404]),
        }),
    );
    add(
        "/services/start",
        json!({
            "post": op("Start Service", vec![], Some(("CsServiceStartEvent", true)),
                (201, "Started.", Some(schema("CsServiceId"))), &[400, 403]),
        }),
    );
    add(
        "/services/{service_id}",
        json!({
            "get": op("Query Service by ID", {
                let mut p = vec![service_param()];
                p.extend(view_params());
                p
            }, None, (200, "The service.", Some(schema("CsService"))), &[400, 404]),
        }),
    );
    add(
        "/services/{service_id}/end",
        json!({
            "post": op("Complete Service: its active states and tasks are completed with it", vec![service_param()],
                Some(("CsEndEvent", false)), (204, "Completed.", None), &[400, 403, 404]),
        }),
    );
    for (suffix, what) in [
        ("", "every"),
        ("/active", "the active"),
        ("/completed", "the completed"),
    ] {
        let mut params = vec![contact()];
        params.extend(view_params());
        add(
            &format!("/services/anonymous/{{contact_key}}{suffix}"),
            json!({
                "get": op(&format!("Query Services: {what} anonymous services of a contact key"), params, None,
                    (200, "The services, by id.", Some(array_of("CsService"))), &[400]),
            }),
        );
        let mut params = vec![customer()];
        params.extend(view_params());
        add(
            &format!("/customers/{{customer_id}}/services{suffix}"),
            json!({
                "get": op(&format!("Query Services: {what} services of a customer"), params, None,
                    (200, "The services, by id.", Some(array_of("CsService"))), &[400]),
            }),
        );
        let mut params = vec![
            service_param(),
            query_param("state_types", "Comma-separated state types to keep."),
        ];
        params.extend(view_params().into_iter().skip(2));
        add(
            &format!("/services/{{service_id}}/states{suffix}"),
            json!({
                "get": op(&format!("Query States: {what} states of a service"), params, None,
                    (200, "The states, by id.", Some(array_of("CsState"))), &[400, 404]),
            }),
        );
    }
    add(
        "/customers/{customer_id}/services/{service_id}",
        json!({
            "post": op("Associate Service: gives the service (e.g. an anonymous one) to the customer, replacing an earlier association",
                vec![customer(), service_param()], Some(("CsServiceUpdateEvent", false)), (204, "Associated.", None), &[400, 403, 404]),
        }),
    );
    add(
        "/services/{service_id}/states/start",
        json!({
            "post": op("Start State", vec![service_param()], Some(("CsStateStartEvent", true)),
                (201, "Started; Location: /service/{service_id}/states/{state_id}.", Some(schema("CsStateId"))), &[400, 403, 404]),
        }),
    );
    add(
        "/services/{service_id}/states/transition",
        json!({
            "post": op("Perform State Transition (seed 001): completes `from`, starts `to`", vec![service_param()],
                Some(("CsStateTransition", true)),
                (201, "Created; Location: /service/{service_id}/states/{state_id}.", Some(schema("CsStateId"))), &[400, 403, 404]),
        }),
    );
    let state_view = || {
        let mut p = vec![service_param(), state()];
        p.extend(view_params().into_iter().skip(2));
        p
    };
    add(
        "/services/{service_id}/states/{state_id}",
        json!({
            "get": op("Query State", state_view(), None, (200, "The state.", Some(schema("CsState"))), &[400, 404]),
        }),
    );
    add(
        "/service/{service_id}/states/{state_id}",
        json!({
            "get": op("Query State (the Location form of seed 001)", state_view(), None, (200, "The state.", Some(schema("CsState"))), &[400, 404]),
        }),
    );
    add(
        "/services/{service_id}/states/{state_id}/end",
        json!({
            "post": op("Complete State", vec![service_param(), state()], Some(("CsEndEvent", false)),
                (204, "Completed.", None), &[400, 403, 404]),
        }),
    );
    add(
        "/services/{service_id}/tasks/start",
        json!({
            "post": op("Start Task", vec![service_param()], Some(("CsTaskStartEvent", true)),
                (201, "Started.", Some(schema("CsTaskId"))), &[400, 403, 404]),
        }),
    );
    add(
        "/services/{service_id}/tasks/{task_id}",
        json!({
            "get": op("Query Task", vec![service_param(), task(), query_param("extensions", "Comma-separated extension names to show.")],
                None, (200, "The task.", Some(schema("CsTask"))), &[400, 404]),
        }),
    );
    add(
        "/services/{service_id}/tasks/{task_id}/end",
        json!({
            "post": op("Complete Task", vec![service_param(), task()], Some(("CsEndEvent", false)),
                (204, "Completed.", None), &[400, 403, 404]),
        }),
    );
    Value::Object(paths)
}

/// The common event fields, plus `extra` properties.
fn event(description: &str, extra: Value, required: &[&str]) -> Value {
    let mut properties = json!({
        "session_id": {"type": "string", "maxLength": 32},
        "interaction_id": {"type": "string", "maxLength": 50},
        "application_type": schema("CsIdOrText"),
        "application_id": {"type": "integer"},
        "resource_type": schema("CsIdOrText"),
        "resource_id": {"type": "integer"},
        "media_type": schema("CsIdOrText"),
        "timestamp": {"type": "string", "description": "ISO 8601, e.g. 2009-05-07T12:05:20.157Z; the server's time when absent."},
    });
    if let (Value::Object(map), Value::Object(extra)) = (&mut properties, extra) {
        map.extend(extra);
    }
    json!({
        "type": "object",
        "description": format!("{description} Any other member whose value is an object (single-valued) or an array of objects (multi-valued) is an extension and needs its schema; other unknown members are refused."),
        "properties": properties,
        "required": required,
        "additionalProperties": {"oneOf": [{"type": "object"}, {"type": "array", "items": {"type": "object"}}]},
    })
}

fn resource(id: &str, type_field: &str, extra: Value) -> Value {
    let mut properties = json!({
        id: {"type": "integer"},
        type_field: schema("CsIdOrText"),
        "est_duration": {"type": "integer"},
        "started": schema("CsEvent"),
        "completed": schema("CsEvent"),
    });
    if let (Value::Object(map), Value::Object(extra)) = (&mut properties, extra) {
        map.extend(extra);
    }
    json!({"type": "object", "properties": properties, "required": [id, "started"]})
}

fn schemas() -> Value {
    let end = json!({"disposition": schema("CsIdOrText"), "disposition_desc": {"type": "string", "maxLength": 256}});
    json!({
        "CsError": {
            "type": "object",
            "properties": {
                "error": {"type": "string", "description": "Stable code: bad_request, invalid_tenant, forbidden, not_found, method_not_allowed, body_too_large, busy, internal."},
                "message": {"type": "string"}
            },
            "required": ["error", "message"]
        },
        "CsIdOrText": {"description": "An integer (a business attribute's DBID) or a string.", "oneOf": [{"type": "integer"}, {"type": "string"}]},
        "CsCustomerId": {"type": "object", "properties": {"customer_id": {"type": "string"}}, "required": ["customer_id"]},
        "CsName": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
        "CsServiceId": {"type": "object", "properties": {"service_id": {"type": "integer", "format": "int64"}}, "required": ["service_id"]},
        "CsStateId": {"type": "object", "properties": {"state_id": {"type": "integer", "format": "int32"}}, "required": ["state_id"]},
        "CsTaskId": {"type": "object", "properties": {"task_id": {"type": "integer", "format": "int32"}}, "required": ["task_id"]},
        "CsProfile": {
            "type": "object",
            "description": "customer_id, then the attributes at top level (a scalar, or an array of scalars for a multi-valued attribute, the first being primary), then the extensions by name: an object (single-valued) or an array of objects (multi-valued).",
            "properties": {"customer_id": {"type": "string", "maxLength": 16, "description": "Made by the server (16 hex digits) when a created profile has none."}},
            "additionalProperties": true
        },
        "CsMergeRequest": {
            "type": "object",
            "properties": {
                "agent_id": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
                "force_merge": {"type": "boolean", "description": "Resolve conflicting attributes and single-valued extensions by keeping the target's (without it they refuse the merge, 403)."},
                "reason": {"type": "string"},
                "description": {"type": "string"}
            }
        },
        "CsAttributeSchema": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "type": {"type": "string", "enum": ["string", "integer", "long", "double", "boolean", "datetime"]},
                "length": {"type": "integer", "description": "Longest string; 0 for no limit."},
                "mandatory": {"type": "boolean"},
                "default": {},
                "unique": {"type": "boolean"},
                "encrypt": {"type": "boolean", "description": "Kept, not acted on."}
            },
            "required": ["name"]
        },
        "CsExtensionSchema": {
            "type": "object",
            "properties": {
                "name": {"type": "string", "maxLength": 26, "pattern": "^[A-Za-z][A-Za-z0-9_]*$"},
                "type": {"type": "string", "enum": ["single-valued", "multi-valued"]},
                "attributes": {"type": "array", "items": schema("CsAttributeSchema")},
                "unique": {"type": "array", "items": {"type": "string"}, "description": "Attributes whose values, together, differ between the records of one owner."}
            },
            "required": ["name", "type"]
        },
        "CsIdentificationKey": {
            "type": "object",
            "properties": {
                "name": {"type": "string", "maxLength": 26},
                "source": {"type": "string", "description": "profile (default) or a profile extension's name."},
                "attributes": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                "unique": {"type": "boolean", "description": "Each value identifies at most one customer."}
            },
            "required": ["name", "attributes"]
        },
        "CsServiceStartEvent": event("A Service Start Event: customer_id, or contact_key for an anonymous service.", json!({
            "customer_id": {"type": "string", "maxLength": 16},
            "contact_key": {"type": "string", "maxLength": 256},
            "service_type": schema("CsIdOrText"),
            "est_duration": {"type": "integer"},
        }), &[]),
        "CsServiceUpdateEvent": event("The fields of a Service Start Event to update when associating; extensions named replace the earlier ones.", json!({
            "service_type": schema("CsIdOrText"),
            "est_duration": {"type": "integer"},
        }), &[]),
        "CsEndEvent": event("A Service, State or Task End Event.", end.clone(), &[]),
        "CsStateStartEvent": event("A State Start Event.", json!({
            "state_type": schema("CsIdOrText"),
            "previous_state_id": {"type": "integer"},
            "est_duration": {"type": "integer"},
        }), &["state_type"]),
        "CsTaskStartEvent": event("A Task Start Event; state_id names a state of the service.", json!({
            "task_type": schema("CsIdOrText"),
            "state_id": {"type": "integer"},
            "est_duration": {"type": "integer"},
        }), &["task_type"]),
        "CsStateTransition": event("A State Transition Event: the top-level fields apply to both states.", json!({
            "from": {
                "type": "object",
                "description": "The state to complete: state_id, disposition, disposition_desc, extensions.",
                "properties": {"state_id": {"type": "integer"}, "disposition": schema("CsIdOrText"), "disposition_desc": {"type": "string"}},
                "required": ["state_id"]
            },
            "to": {
                "type": "object",
                "description": "The state to start: state_type, est_duration, extensions.",
                "properties": {"state_type": schema("CsIdOrText"), "est_duration": {"type": "integer"}},
                "required": ["state_type"]
            },
        }), &["from", "to"]),
        "CsEvent": {
            "type": "object",
            "description": "An event as given (the server's timestamp when it had none), with the extensions the query's `extensions` names.",
            "additionalProperties": true
        },
        "CsTask": resource("task_id", "task_type", json!({"service_id": {"type": "integer"}, "state_id": {"type": "integer"}})),
        "CsState": resource("state_id", "state_type", json!({
            "service_id": {"type": "integer", "description": "On top-level states only."},
            "previous_state_id": {"type": "integer"},
            "active_tasks": array_of("CsTask"),
            "completed_tasks": array_of("CsTask"),
        })),
        "CsService": resource("service_id", "service_type", json!({
            "customer_id": {"type": "string"},
            "contact_key": {"type": "string"},
            "active_states": array_of("CsState"),
            "completed_states": array_of("CsState"),
            "active_tasks": array_of("CsTask"),
            "completed_tasks": array_of("CsTask"),
        })),
    })
}

/// `{"paths": {…}, "components": {"schemas": {…}}}`.
pub(crate) fn fragment() -> Value {
    json!({"paths": paths(), "components": {"schemas": schemas()}})
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `$ref` of the fragment names a schema it defines, and every
    /// schema is prefixed `Cs`.
    #[test]
    fn references_resolve_and_names_are_prefixed() {
        let document = fragment();
        let schemas = document["components"]["schemas"].as_object().unwrap();
        assert!(schemas.keys().all(|k| k.starts_with("Cs")));
        let mut refs = Vec::new();
        fn walk(value: &Value, refs: &mut Vec<String>) {
            match value {
                Value::Object(map) => {
                    if let Some(Value::String(r)) = map.get("$ref") {
                        refs.push(r.clone());
                    }
                    map.values().for_each(|v| walk(v, refs));
                }
                Value::Array(items) => items.iter().for_each(|v| walk(v, refs)),
                _ => {}
            }
        }
        walk(&document, &mut refs);
        assert!(refs.len() > 50);
        for r in refs {
            let name = r.strip_prefix("#/components/schemas/").unwrap();
            assert!(schemas.contains_key(name), "{r}");
        }
        assert!(document["paths"]["/services/{service_id}/states/transition"]["post"].is_object());
    }
}

//! The Outbound HTTP API through its router (no socket), every test on
//! every backend `store::testing::all()` gives: SQLite always, PostgreSQL
//! when `ORCA_TEST_POSTGRES_URL` is set.

mod util;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use serde_json::{json, Value};

#[tokio::test]
async fn campaigns_and_calling_lists_are_created_listed_and_read() {
    for app in util::apps().await {
        let (status, campaign) = app
            .post(
                "/campaigns",
                json!({"name": "Renewals", "description": "spring renewals"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{campaign}");
        assert_eq!(campaign["name"], "Renewals");
        let id = campaign["id"].as_i64().unwrap();
        let (status, again) = app.post("/campaigns", json!({"name": "Renewals"})).await;
        assert_eq!(status, StatusCode::CONFLICT, "{again}");
        assert_eq!(again["error"], "name_taken");

        let (status, by_id) = app
            .post("/callinglists", json!({"name": "Spring", "campaignId": id}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{by_id}");
        assert_eq!(by_id["campaignName"], "Renewals");
        let (status, by_name) = app
            .post(
                "/callinglists",
                json!({"name": "Autumn", "campaignName": "Renewals"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{by_name}");
        assert_eq!(by_name["campaignId"], id);

        let (status, lists) = app.get(&format!("/callinglists?campaignId={id}")).await;
        assert_eq!(status, StatusCode::OK);
        let names: Vec<&str> = lists["callingLists"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["Spring", "Autumn"]);
        let (_, campaigns) = app.get("/campaigns").await;
        assert_eq!(campaigns["campaigns"][0], campaign);
        assert_eq!(app.get(&format!("/campaigns/{id}")).await.1, campaign);
        let list_id = by_id["id"].as_i64().unwrap();
        assert_eq!(app.get(&format!("/callinglists/{list_id}")).await.1, by_id);

        let cases = [
            (
                "/campaigns/999",
                StatusCode::NOT_FOUND,
                "campaign_not_found",
            ),
            (
                "/callinglists/999",
                StatusCode::NOT_FOUND,
                "calling_list_not_found",
            ),
            ("/campaigns/x", StatusCode::BAD_REQUEST, "invalid_parameter"),
            (
                "/callinglists?campaignId=-2",
                StatusCode::BAD_REQUEST,
                "invalid_parameter",
            ),
        ];
        for (uri, expected, code) in cases {
            let (status, body) = app.get(uri).await;
            assert_eq!(
                (status, body["error"].as_str()),
                (expected, Some(code)),
                "{uri}"
            );
        }
        let bad_bodies = [
            ("/campaigns", json!({}), "invalid_field"),
            ("/campaigns", json!({"name": ""}), "invalid_field"),
            (
                "/campaigns",
                json!({"name": "A", "colour": 1}),
                "invalid_field",
            ),
            ("/campaigns", json!([1]), "invalid_body"),
            ("/callinglists", json!({"name": "L"}), "invalid_field"),
            (
                "/callinglists",
                json!({"name": "L", "campaignId": id, "campaignName": "Renewals"}),
                "invalid_field",
            ),
        ];
        for (uri, body, code) in bad_bodies {
            let (status, answer) = app.post(uri, body.clone()).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
            assert_eq!(answer["error"], code, "{body}");
        }
        let (status, answer) = app
            .post(
                "/callinglists",
                json!({"name": "L", "campaignName": "None"}),
            )
            .await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (StatusCode::NOT_FOUND, Some("campaign_not_found"))
        );
        app.cleanup().await;
    }
}

#[tokio::test]
async fn add_record_keeps_every_field_the_docs_name() {
    for app in util::apps().await {
        let list_id = app.campaign_with_list("Renewals", "Spring").await;
        let (status, answer) = app
            .ocs(
                "/records/crm-4711?req=AddRecord",
                json!({
                    "callingList": "Spring", "campaignName": "Renewals",
                    "phoneNumber": "+1 555 0100", "phoneType": "Mobile", "timeZone": "EST",
                    "from": 32400, "until": 72000, "customerId": "cust-7",
                    "otherFields": {"Amount": 120.5, "Name": "Okafor", "Gold": true},
                }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{}: {answer}", app.name());
        assert_eq!(answer["statusCode"], 0);
        assert_eq!(answer["notificationType"], "AddRecordAcknowledge");
        assert_eq!(answer["GSW_USER_EVENT"], "AddRecordAcknowledge");
        let record = &answer["record"];
        let handle = record["recordHandle"].as_i64().unwrap();
        assert_eq!(answer["GSW_RECORD_HANDLE"], handle);
        assert_eq!(record["referenceId"], "crm-4711");
        assert_eq!(record["callingList"], "Spring");
        assert_eq!(record["campaignName"], "Renewals");
        assert_eq!(record["phoneNumber"], "+1 555 0100");
        assert_eq!(record["phoneType"], "Mobile");
        assert_eq!(record["timeZone"], "EST");
        assert_eq!(
            (record["from"].as_i64(), record["until"].as_i64()),
            (Some(32400), Some(72000))
        );
        assert_eq!(record["chainId"], handle);
        assert_eq!(record["chainN"], 1);
        assert_eq!(record["customerId"], "cust-7");
        assert_eq!(record["recordType"], "General");
        assert_eq!(record["recordStatus"], "Ready");
        assert_eq!(record["callResult"], "Unknown");
        assert_eq!(record["dialTime"], Value::Null);
        assert_eq!(
            record["otherFields"],
            json!({"Amount": 120.5, "Name": "Okafor", "Gold": true})
        );
        // The stored record reads back the same, alone and in its list.
        assert_eq!(app.get(&format!("/records/{handle}")).await.1, *record);
        let (_, page) = app.get(&format!("/callinglists/{list_id}/records")).await;
        assert_eq!(page["records"], json!([record]));
        assert_eq!(page["next"], Value::Null);

        // Defaults, a list named by id, a second record in the chain.
        let second = app
            .add(json!({"callingList": list_id, "phoneNumber": "5550101", "chainId": handle}))
            .await;
        assert_eq!(second["chainId"], handle);
        assert_eq!(second["chainN"], 2);
        assert_eq!(second["phoneType"], "NoContactType");
        assert_eq!(
            (second["from"].as_i64(), second["until"].as_i64()),
            (Some(28800), Some(64800))
        );
        assert_eq!(second["referenceId"], "0");
        app.cleanup().await;
    }
}

#[tokio::test]
async fn every_ocs_request_changes_the_record_as_documented() {
    for app in util::apps().await {
        app.campaign_with_list("Renewals", "Spring").await;
        let record = app
            .add(json!({"callingList": "Spring", "phoneNumber": "5550100"}))
            .await;
        let uri = |req: &str| format!("/records/{}?req={req}", record["recordHandle"]);

        let (status, answer) = app
            .ocs(
                &uri("UpdateCallCompletionStats"),
                json!({"callResult": "NoAnswer", "otherFields": {"Note": "left message"}}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{}: {answer}", app.name());
        assert_eq!(
            answer["notificationType"],
            "UpdateCallCompletionStatsAcknowledge"
        );
        let updated = &answer["record"];
        assert_eq!(updated["callResult"], "NoAnswer");
        assert_eq!(updated["otherFields"]["Note"], "left message");
        assert_eq!(updated["recordStatus"], "Ready");
        assert_eq!(updated["version"], 2);

        let (status, answer) = app
            .ocs(
                &uri("RecordReschedule"),
                json!({"timestamp": 1_900_000_000, "callbackType": "Personal", "callResult": 33}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["notificationType"], "RecordRescheduleAcknowledge");
        assert_eq!(answer["record"]["dialTime"], 1_900_000_000_i64);
        assert_eq!(answer["record"]["recordType"], "PersonalRescheduled");
        assert_eq!(answer["record"]["callResult"], "Answer");

        let (status, answer) = app.ocs(&uri("RecordReject"), json!({})).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["notificationType"], "RecordRejectAcknowledge");
        assert_eq!(answer["record"]["recordStatus"], "Ready");

        let (status, answer) = app
            .ocs(&uri("RecordProcessed"), json!({"callResult": "Answer"}))
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["notificationType"], "RecordProcessedAcknowledge");
        assert_eq!(answer["record"]["recordStatus"], "Updated");

        // A processed record is final.
        for req in ["RecordProcessed", "RequestRecordCancel", "RecordReject"] {
            let (status, answer) = app.ocs(&uri(req), json!({})).await;
            assert_eq!(status, StatusCode::CONFLICT, "{req}: {answer}");
            assert_eq!(answer["error"], "record_final");
        }
        let (_, stored) = app
            .get(&format!("/records/{}", record["recordHandle"]))
            .await;
        assert_eq!(stored["recordStatus"], "Updated");
        assert_eq!(stored["callResult"], "Answer");
        assert_eq!(stored["dialTime"], 1_900_000_000_i64);
        // Added, updated, rescheduled, processed: the reject found the
        // record Ready already and changed nothing.
        assert_eq!(stored["version"], 4);

        // Cancel, twice (a retry), on another record.
        let other = app
            .add(json!({"callingList": "Spring", "phoneNumber": "5550102"}))
            .await;
        let cancel = format!("/records/{}?req=RequestRecordCancel", other["recordHandle"]);
        for _ in 0..2 {
            let (status, answer) = app.ocs(&cancel, json!({})).await;
            assert_eq!(status, StatusCode::OK, "{answer}");
            assert_eq!(answer["notificationType"], "RecordCancelAcknowledge");
            assert_eq!(answer["record"]["recordStatus"], "Cancelled");
            assert_eq!(answer["record"]["callResult"], "CancelRecord");
        }
        app.cleanup().await;
    }
}

#[tokio::test]
async fn add_record_honours_the_do_not_call_list() {
    for app in util::apps().await {
        app.campaign_with_list("Renewals", "Spring").await;
        let record = app
            .add(json!({"callingList": "Spring", "phoneNumber": "+1 (555) 010-0100", "customerId": "c-1"}))
            .await;
        let (status, answer) = app
            .ocs(
                &format!("/records/{}?req=DoNotCall", record["recordHandle"]),
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{}: {answer}", app.name());
        assert_eq!(answer["notificationType"], "DoNotCallAcknowledge");
        assert_eq!(answer["record"]["recordType"], "NoCall");
        assert_eq!(answer["record"]["recordStatus"], "Updated");
        assert_eq!(answer["record"]["callResult"], "DoNotCall");

        // The number, however written, and the customer are barred.
        for fields in [
            json!({"callingList": "Spring", "phoneNumber": "15550100100"}),
            json!({"callingList": "Spring", "phoneNumber": "1-555-010-0100"}),
            json!({"callingList": "Spring", "phoneNumber": "5550199", "customerId": "c-1"}),
        ] {
            let (status, answer) = app.ocs("/records/0?req=AddRecord", fields.clone()).await;
            assert_eq!(status, StatusCode::CONFLICT, "{fields}: {answer}");
            assert_eq!(answer["error"], "do_not_call");
        }
        assert_eq!(app.get("/phones/15550100100").await.1["doNotCall"], true);
        assert_eq!(app.get("/customer_ids/c-1").await.1["doNotCall"], true);

        // DoNotCall straight on a number and on a customer.
        assert_eq!(app.get("/phones/5550177").await.1["doNotCall"], false);
        let (status, answer) = app.ocs("/phones/555-0177?req=DoNotCall", Value::Null).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["phoneNumber"], "555-0177");
        let (status, _) = app.ocs("/phones/555-0177?req=DoNotCall", Value::Null).await;
        assert_eq!(status, StatusCode::OK, "DoNotCall again is fine");
        let (status, _) = app
            .ocs("/customer_ids/c-2?req=DoNotCall", Value::Null)
            .await;
        assert_eq!(status, StatusCode::OK);
        for fields in [
            json!({"callingList": "Spring", "phoneNumber": "5550177"}),
            json!({"callingList": "Spring", "phoneNumber": "5550178", "customerId": "c-2"}),
        ] {
            let (status, answer) = app.ocs("/records/0?req=AddRecord", fields).await;
            assert_eq!(
                (status, answer["error"].as_str()),
                (StatusCode::CONFLICT, Some("do_not_call"))
            );
        }
        // Other numbers still go in.
        app.add(json!({"callingList": "Spring", "phoneNumber": "5550178"}))
            .await;
        let (status, answer) = app.ocs("/phones/5550177?req=AddRecord", Value::Null).await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("request_not_for_resource"))
        );
        let (status, answer) = app
            .ocs("/phones/5550177?req=DoNotCall", json!({"phoneNumber": "1"}))
            .await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_body"))
        );
        app.cleanup().await;
    }
}

#[tokio::test]
async fn chains_grow_in_order_and_do_not_call_can_take_a_whole_chain() {
    for app in util::apps().await {
        app.campaign_with_list("Renewals", "Spring").await;
        app.campaign_with_list("Other", "Elsewhere").await;
        let head = app
            .add(json!({"callingList": "Spring", "phoneNumber": "5550100"}))
            .await;
        let chain = head["chainId"].clone();
        let mut handles = vec![head["recordHandle"].clone()];
        for (n, phone) in [(2, "5550101"), (3, "5550102")] {
            let record = app
                .add(json!({"callingList": "Spring", "phoneNumber": phone, "chainId": chain}))
                .await;
            assert_eq!(record["chainN"], n);
            handles.push(record["recordHandle"].clone());
        }
        // A chain belongs to its list; a non-head record names no chain.
        for (list, chain_id) in [
            ("Elsewhere", chain.clone()),
            ("Spring", handles[1].clone()),
            ("Spring", json!(999)),
        ] {
            let (status, answer) = app
                .ocs(
                    "/records/0?req=AddRecord",
                    json!({"callingList": list, "phoneNumber": "5550109", "chainId": chain_id}),
                )
                .await;
            assert_eq!(
                (status, answer["error"].as_str()),
                (StatusCode::NOT_FOUND, Some("chain_not_found")),
                "{list}"
            );
        }
        let (status, answer) = app
            .ocs(
                &format!("/records/{}?req=DoNotCall", handles[1]),
                json!({"chainAttribute": "AllChain"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{}: {answer}", app.name());
        for handle in &handles {
            let (_, record) = app.get(&format!("/records/{handle}")).await;
            assert_eq!(record["recordType"], "NoCall", "{record}");
            assert_eq!(record["callResult"], "DoNotCall");
        }
        for phone in ["5550100", "5550101", "5550102"] {
            assert_eq!(
                app.get(&format!("/phones/{phone}")).await.1["doNotCall"],
                true,
                "{phone}"
            );
        }
        app.cleanup().await;
    }
}

#[tokio::test]
async fn records_are_paged_and_filtered() {
    for app in util::apps().await {
        let list = app.campaign_with_list("Renewals", "Spring").await;
        let mut handles = Vec::new();
        for i in 0..7 {
            let record = app
                .add(json!({"callingList": "Spring", "phoneNumber": format!("555010{i}")}))
                .await;
            handles.push(record["recordHandle"].as_i64().unwrap());
        }
        app.ocs(
            &format!("/records/{}?req=RecordProcessed", handles[2]),
            json!({}),
        )
        .await;
        let mut seen = Vec::new();
        let mut after = 0;
        loop {
            let (status, page) = app
                .get(&format!(
                    "/callinglists/{list}/records?limit=3&after={after}"
                ))
                .await;
            assert_eq!(status, StatusCode::OK, "{page}");
            seen.extend(
                page["records"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r["recordHandle"].as_i64().unwrap()),
            );
            match page["next"].as_i64() {
                Some(next) => after = next,
                None => break,
            }
        }
        assert_eq!(seen, handles);
        let (_, ready) = app
            .get(&format!("/callinglists/{list}/records?status=Ready"))
            .await;
        assert_eq!(ready["records"].as_array().unwrap().len(), 6);
        let (_, updated) = app
            .get(&format!("/callinglists/{list}/records?status=updated"))
            .await;
        assert_eq!(updated["records"][0]["recordHandle"], handles[2]);
        let (_, by_phone) = app
            .get(&format!("/callinglists/{list}/records?phone=555-0104"))
            .await;
        assert_eq!(by_phone["records"][0]["recordHandle"], handles[4]);
        let (_, both) = app
            .get(&format!(
                "/callinglists/{list}/records?phone=5550102&status=Ready"
            ))
            .await;
        assert_eq!(both["records"], json!([]));
        for query in [
            "limit=0",
            "limit=1001",
            "after=-1",
            "status=Lost",
            "phone=--",
        ] {
            let (status, answer) = app
                .get(&format!("/callinglists/{list}/records?{query}"))
                .await;
            assert_eq!(
                (status, answer["error"].as_str()),
                (StatusCode::BAD_REQUEST, Some("invalid_parameter")),
                "{query}"
            );
        }
        let (status, _) = app.get("/callinglists/999/records").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        app.cleanup().await;
    }
}

#[tokio::test]
async fn bad_requests_get_a_4xx_with_a_json_message() {
    for app in util::apps().await {
        app.campaign_with_list("Renewals", "Spring").await;
        let record = app
            .add(json!({"callingList": "Spring", "phoneNumber": "5550100"}))
            .await;
        let handle = record["recordHandle"].clone();
        let cases: Vec<(String, Value, StatusCode, &str)> = vec![
            (
                format!("/records/{handle}"),
                json!({}),
                StatusCode::BAD_REQUEST,
                "missing_parameter",
            ),
            (
                format!("/records/{handle}?req=Dial"),
                json!({}),
                StatusCode::BAD_REQUEST,
                "unknown_request",
            ),
            (
                "/records/99999?req=RecordProcessed".into(),
                json!({}),
                StatusCode::NOT_FOUND,
                "record_not_found",
            ),
            (
                "/records/abc?req=RecordProcessed".into(),
                json!({}),
                StatusCode::NOT_FOUND,
                "record_not_found",
            ),
            (
                "/records/0?req=RecordProcessed".into(),
                json!({}),
                StatusCode::NOT_FOUND,
                "record_not_found",
            ),
            (
                format!("/records/{handle}?req=RecordReschedule"),
                json!({}),
                StatusCode::BAD_REQUEST,
                "invalid_field",
            ),
            (
                format!("/records/{handle}?req=RecordProcessed"),
                json!({"dial": 1}),
                StatusCode::BAD_REQUEST,
                "invalid_field",
            ),
            (
                format!("/records/{handle}?req=RecordProcessed"),
                json!({"callResult": "Great"}),
                StatusCode::BAD_REQUEST,
                "invalid_field",
            ),
            (
                format!("/records/{handle}?req=RecordProcessed"),
                json!({"callingList": "Autumn"}),
                StatusCode::BAD_REQUEST,
                "invalid_field",
            ),
            (
                "/records/0?req=AddRecord".into(),
                json!({"phoneNumber": "1"}),
                StatusCode::BAD_REQUEST,
                "invalid_field",
            ),
            (
                "/records/0?req=AddRecord".into(),
                json!({"callingList": "Spring"}),
                StatusCode::BAD_REQUEST,
                "invalid_field",
            ),
            (
                "/records/0?req=AddRecord".into(),
                json!({"callingList": "Spring", "phoneNumber": "1", "campaignName": "Other"}),
                StatusCode::BAD_REQUEST,
                "invalid_field",
            ),
            (
                "/records/0?req=AddRecord".into(),
                json!({"callingList": "Autumn", "phoneNumber": "1"}),
                StatusCode::NOT_FOUND,
                "calling_list_not_found",
            ),
            (
                "/records/0?req=AddRecord".into(),
                json!({"callingList": "Spring", "phoneNumber": "1\u{0}"}),
                StatusCode::BAD_REQUEST,
                "invalid_field",
            ),
            (
                "/records/0?req=AddRecord".into(),
                json!({"callingList": "Spring", "phoneNumber": "1", "timestamp": 5}),
                StatusCode::BAD_REQUEST,
                "invalid_field",
            ),
            (
                "/records/%00?req=AddRecord".into(),
                json!({"callingList": "Spring", "phoneNumber": "1"}),
                StatusCode::BAD_REQUEST,
                "invalid_parameter",
            ),
            (
                "/nowhere".into(),
                json!({}),
                StatusCode::NOT_FOUND,
                "not_found",
            ),
        ];
        for (uri, fields, expected, code) in cases {
            let (status, answer) = app.ocs(&uri, fields.clone()).await;
            assert_eq!(status, expected, "{} {uri} {fields}: {answer}", app.name());
            assert_eq!(answer["error"], code, "{uri} {fields}");
            assert!(answer["message"].is_string());
        }
        // Bodies that are not what they say.
        for (content_type, body) in [
            ("application/json", "{\"record\":"),
            ("application/json", "[]"),
            ("application/x-www-form-urlencoded", "phone=1"),
        ] {
            let request = Request::builder()
                .method(Method::POST)
                .uri(format!("/records/{handle}?req=RecordProcessed"))
                .header(header::CONTENT_TYPE, content_type)
                .body(Body::from(body))
                .unwrap();
            let (status, answer) = app.send(request).await;
            assert_eq!(
                (status, answer["error"].as_str()),
                (StatusCode::BAD_REQUEST, Some("invalid_body")),
                "{body}"
            );
        }
        let too_large = Request::builder()
            .method(Method::POST)
            .uri(format!("/records/{handle}?req=RecordProcessed"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(vec![b' '; 3 * 1024 * 1024]))
            .unwrap();
        let (status, answer) = app.send(too_large).await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (StatusCode::PAYLOAD_TOO_LARGE, Some("body_too_large"))
        );
        let delete = Request::builder()
            .method(Method::DELETE)
            .uri("/campaigns")
            .body(Body::empty())
            .unwrap();
        let (status, answer) = app.send(delete).await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (StatusCode::METHOD_NOT_ALLOWED, Some("method_not_allowed"))
        );
        // Nothing above changed the record.
        assert_eq!(app.get(&format!("/records/{handle}")).await.1, record);
        app.cleanup().await;
    }
}

#[tokio::test]
async fn a_form_encoded_record_parameter_works_too() {
    for app in util::apps().await {
        app.campaign_with_list("Renewals", "Spring").await;
        let fields = json!({"callingList": "Spring", "phoneNumber": "5550100"}).to_string();
        let body = format!("record={}", form_urlencoded(&fields));
        let request = Request::builder()
            .method(Method::POST)
            .uri("/records/ref-1?req=AddRecord")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap();
        let (status, answer) = app.send(request).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["record"]["referenceId"], "ref-1");
        app.cleanup().await;
    }
}

/// Percent-encodes everything but unreserved characters.
fn form_urlencoded(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

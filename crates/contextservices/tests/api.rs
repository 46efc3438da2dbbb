//! Every operation of the Context Services API and its status codes,
//! through HTTP, on every backend (SQLite, and PostgreSQL when
//! `ORCA_TEST_POSTGRES_URL` is set).

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::{apis, Api};
use serde_json::{json, Value};

const GET: Method = Method::GET;
const POST: Method = Method::POST;
const PUT: Method = Method::PUT;

/// The extension schemas the examples use: a multi-valued profile
/// extension `Phone`, and seed 001's state extensions.
async fn schemas(api: &Api) {
    api.expect(
        201,
        POST,
        "/metadata/profiles/extensions",
        Some(json!({
            "name": "Phone",
            "type": "multi-valued",
            "attributes": [
                {"name": "PhoneType", "type": "integer", "default": 0},
                {"name": "PhoneNumber", "type": "string", "length": 20, "mandatory": "true"},
                {"name": "description", "type": "string", "length": 32}
            ],
            "unique": ["PhoneNumber"]
        })),
    )
    .await;
    api.expect(201, POST, "/metadata/profiles/extensions", Some(json!({
        "name": "Address", "type": "single-valued",
        "attributes": [{"name": "City", "type": "string"}, {"name": "PostCode", "type": "string"}]
    })))
    .await;
    for schema in [
        json!({"name": "Feedback", "type": "single-valued", "attributes": [
            {"name": "FeedbackType", "type": "string", "length": "10", "mandatory": "true"},
            {"name": "rating", "type": "integer", "mandatory": "true"},
            {"name": "notes", "type": "string", "length": 256, "mandatory": "false"}]}),
        json!({"name": "Satisfaction", "type": "multi-valued", "attributes": [
            {"name": "rating", "type": "integer"}, {"name": "pertinence", "type": "integer"},
            {"name": "usefull", "type": "boolean"}, {"name": "place", "type": "string"}]}),
        json!({"name": "Sponsoring", "type": "single-valued", "attributes": [
            {"name": "Rank", "type": "string"}, {"name": "expire", "type": "integer"}, {"name": "notes", "type": "string"}]}),
    ] {
        api.expect(201, POST, "/metadata/states/extensions", Some(schema))
            .await;
    }
}

fn bruce() -> Value {
    json!({
        "customer_id": "bb1962",
        "FirstName": "Bruce",
        "LastName": "Banner",
        "PhoneNumber": "5551234",
        "EmailAddress": ["bruce.banner@marvelous.com", "b.banner@hulk.dom"],
        "Phone": [
            {"PhoneType": 0, "PhoneNumber": "3145926535", "description": "family phone"},
            {"PhoneNumber": "2718281828"}
        ],
        "Address": {"City": "Dayton"}
    })
}

#[tokio::test]
async fn profiles_are_created_read_and_replaced() {
    for api in apis().await {
        // An extension before its schema exists: 403.
        let early = api.expect(403, POST, "/profiles", Some(bruce())).await;
        assert!(
            early.body["message"].as_str().unwrap().contains("Phone"),
            "{}",
            early.text
        );
        schemas(&api).await;

        let created = api.expect(201, POST, "/profiles", Some(bruce())).await;
        assert_eq!(created.location(), "/cs/profiles/bb1962");
        assert_eq!(created.body, json!({"customer_id": "bb1962"}));
        api.expect(403, POST, "/profiles", Some(bruce())).await;

        // Without an id the server makes one.
        let anonymous = api
            .expect(201, POST, "/profiles", Some(json!({"LastName": "Doe"})))
            .await;
        let made = anonymous.body["customer_id"].as_str().unwrap().to_owned();
        assert_eq!(made.len(), 16);
        assert_eq!(anonymous.location(), format!("/cs/profiles/{made}"));

        let plain = api.expect(200, GET, "/profiles/bb1962", None).await;
        assert_eq!(plain.body["LastName"], "Banner");
        assert_eq!(plain.body["EmailAddress"][1], "b.banner@hulk.dom");
        assert!(
            plain.body.get("Phone").is_none(),
            "extensions only when asked"
        );
        let full = api
            .expect(200, GET, "/profiles/bb1962?extensions=phone,Address", None)
            .await;
        assert_eq!(full.body["Phone"].as_array().unwrap().len(), 2);
        assert_eq!(full.body["Phone"][1]["PhoneType"], 0, "default applied");
        assert_eq!(full.body["Address"], json!({"City": "Dayton"}));

        for (body, needle) in [
            (json!({"customer_id": "x".repeat(17)}), "customer_id"),
            (
                json!({"Phone": [{"PhoneNumber": "1"}, {"PhoneNumber": "1"}], "customer_id": "dup"}),
                "same PhoneNumber",
            ),
            (
                json!({"Phone": [{"Colour": "red"}], "customer_id": "bad"}),
                "no attribute",
            ),
            (
                json!({"Address": [{"City": "A"}], "customer_id": "bad2"}),
                "single-valued",
            ),
        ] {
            let answer = api.expect(400, POST, "/profiles", Some(body)).await;
            assert!(
                answer.body["message"].as_str().unwrap().contains(needle),
                "{}",
                answer.text
            );
        }
        api.expect(404, GET, "/profiles/nobody", None).await;
        api.expect(403, GET, "/profiles/bb1962?extensions=Nope", None)
            .await;

        // Update: attributes replaced, named extensions replaced, others kept.
        api.expect(
            204,
            PUT,
            "/profiles/bb1962",
            Some(json!({
                "FirstName": "Robert", "LastName": "Banner",
                "Phone": [{"PhoneNumber": "1111111"}]
            })),
        )
        .await;
        let after = api
            .expect(200, GET, "/profiles/bb1962?extensions=Phone,Address", None)
            .await;
        assert_eq!(after.body["FirstName"], "Robert");
        assert!(after.body.get("EmailAddress").is_none());
        assert_eq!(
            after.body["Phone"],
            json!([{"PhoneNumber": "1111111", "PhoneType": 0}])
        );
        assert_eq!(after.body["Address"], json!({"City": "Dayton"}));
        api.expect(
            204,
            PUT,
            "/profiles/bb1962",
            Some(json!({"LastName": "Banner", "Address": null})),
        )
        .await;
        let removed = api
            .expect(200, GET, "/profiles/bb1962?extensions=Address", None)
            .await;
        assert!(removed.body.get("Address").is_none());
        api.expect(404, PUT, "/profiles/nobody", Some(json!({"a": 1})))
            .await;
        api.expect(
            400,
            PUT,
            "/profiles/bb1962",
            Some(json!({"customer_id": "other"})),
        )
        .await;
        api.cleanup().await;
    }
}

#[tokio::test]
async fn schemas_and_keys_have_their_own_resources() {
    for api in apis().await {
        schemas(&api).await;
        let created = api
            .expect(201, POST, "/metadata/services/extensions/", Some(json!({
                "name": "couponExtension", "type": "single-valued",
                "attributes": [{"name": "coupon", "type": "string", "length": 100, "default": "no discount"}]
            })))
            .await;
        assert_eq!(
            created.location(),
            "/cs/metadata/services/extensions/couponExtension"
        );
        assert_eq!(created.body, json!({"name": "couponExtension"}));
        // Names ignore case.
        api.expect(
            403,
            POST,
            "/metadata/services/extensions",
            Some(json!({"name": "COUPONextension", "type": "single-valued"})),
        )
        .await;
        let one = api
            .expect(
                200,
                GET,
                "/metadata/services/extensions/COUPONEXTENSION",
                None,
            )
            .await;
        assert_eq!(one.body["attributes"][0]["default"], "no discount");
        let states = api
            .expect(200, GET, "/metadata/states/extensions", None)
            .await;
        let names: Vec<&str> = states
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["Feedback", "Satisfaction", "Sponsoring"]);
        api.expect(404, GET, "/metadata/tasks/extensions/none", None)
            .await;
        api.expect(404, GET, "/metadata/widgets/extensions", None)
            .await;
        api.expect(
            400,
            POST,
            "/metadata/tasks/extensions",
            Some(json!({"name": "x y", "type": "single-valued"})),
        )
        .await;
        api.expect(400, POST, "/metadata/tasks/extensions", Some(json!({"name": "T", "type": "multi-valued", "attributes": [{"name": "a", "type": "blob"}]}))).await;

        let key = api
            .expect(201, POST, "/metadata/identification-keys/", Some(json!({"name": "idPhone", "source": "phone", "attributes": ["PhoneNumber"], "unique": true})))
            .await;
        assert_eq!(key.location(), "/cs/metadata/identification-keys/idPhone");
        let shown = api
            .expect(200, GET, "/metadata/identification-keys/IDPHONE", None)
            .await;
        assert_eq!(
            shown.body,
            json!({"name": "idPhone", "source": "Phone", "attributes": ["PhoneNumber"], "unique": true})
        );
        api.expect(
            403,
            POST,
            "/metadata/identification-keys",
            Some(json!({"name": "idphone", "attributes": ["x"]})),
        )
        .await;
        api.expect(
            403,
            POST,
            "/metadata/identification-keys",
            Some(json!({"name": "idMail", "source": "Mail", "attributes": ["address"]})),
        )
        .await;
        api.expect(
            400,
            POST,
            "/metadata/identification-keys",
            Some(json!({"name": "idBad", "source": "Phone", "attributes": ["Colour"]})),
        )
        .await;
        api.expect(
            400,
            POST,
            "/metadata/identification-keys",
            Some(json!({"name": "idNone", "attributes": []})),
        )
        .await;
        api.expect(404, GET, "/metadata/identification-keys/none", None)
            .await;
        let all = api
            .expect(200, GET, "/metadata/identification-keys", None)
            .await;
        assert_eq!(all.body.as_array().unwrap().len(), 1);
        api.cleanup().await;
    }
}

#[tokio::test]
async fn customers_are_identified_by_attributes_and_extension_attributes() {
    for api in apis().await {
        schemas(&api).await;
        // Before any identification key: 403.
        api.expect(403, GET, "/profiles?PhoneNumber=5551234", None)
            .await;
        api.expect(
            201,
            POST,
            "/metadata/identification-keys",
            Some(json!({"name": "idPhone", "attributes": ["PhoneNumber"]})),
        )
        .await;
        api.expect(201, POST, "/profiles", Some(bruce())).await;
        api.expect(201, POST, "/profiles", Some(json!({
            "customer_id": "bb-twin", "FirstName": "Brian", "LastName": "Banner", "PhoneNumber": "5551234",
            "Phone": [{"PhoneNumber": "999"}]
        })))
        .await;
        api.expect(201, POST, "/profiles", Some(json!({"customer_id": "jd", "FirstName": "Jane", "LastName": "Doe", "PhoneNumber": "5550000"}))).await;

        // Seed 003's request.
        let seed = api
            .expect(
                200,
                GET,
                "/profiles?include_profile=no&include_extensions=unique&PhoneNumber=5550000",
                None,
            )
            .await;
        assert_eq!(seed.body, json!([{"customer_id": "jd"}]));
        let profile = api
            .expect(
                200,
                GET,
                "/profiles?include_profile=yes&PhoneNumber=5550000",
                None,
            )
            .await;
        assert_eq!(profile.body[0]["FirstName"], "Jane");
        // No match: 204, no body (what the seed's strategy tests for).
        let none = api
            .expect(204, GET, "/profiles?PhoneNumber=0000", None)
            .await;
        assert!(none.text.is_empty());

        // Two customers share a phone: extensions with `always` only.
        let both = api
            .expect(
                200,
                GET,
                "/profiles?PhoneNumber=5551234&extensions=Phone",
                None,
            )
            .await;
        assert_eq!(both.body.as_array().unwrap().len(), 2);
        assert_eq!(both.body[0]["customer_id"], "bb-twin");
        assert_eq!(both.body[0]["Phone"][0]["PhoneNumber"], "999");
        let unique = api
            .expect(
                200,
                GET,
                "/profiles?PhoneNumber=5551234&extensions=Phone&include_extensions=unique",
                None,
            )
            .await;
        assert!(unique.body[0].get("Phone").is_none(), "{}", unique.text);
        let single = api
            .expect(
                200,
                GET,
                "/profiles?PhoneNumber=5550000&extensions=Phone&include_extensions=unique",
                None,
            )
            .await;
        assert_eq!(single.body[0]["Phone"], json!([]));

        // A key on an extension attribute, created after the profiles:
        // they are indexed at once.
        api.expect(201, POST, "/metadata/identification-keys", Some(json!({"name": "idExtPhone", "source": "Phone", "attributes": ["PhoneNumber"], "unique": true}))).await;
        let by_ext = api
            .expect(
                200,
                GET,
                "/profiles?Phone.PhoneNumber=2718281828&include_profile=yes",
                None,
            )
            .await;
        assert_eq!(by_ext.body[0]["customer_id"], "bb1962");
        assert_eq!(by_ext.body[0]["LastName"], "Banner");
        // The unique key holds on create and on update.
        let taken = api
            .expect(
                403,
                POST,
                "/profiles",
                Some(json!({"customer_id": "thief", "Phone": [{"PhoneNumber": "999"}]})),
            )
            .await;
        assert!(
            taken.body["message"]
                .as_str()
                .unwrap()
                .contains("idExtPhone"),
            "{}",
            taken.text
        );
        api.expect(404, GET, "/profiles/thief", None).await;
        api.expect(
            403,
            PUT,
            "/profiles/jd",
            Some(json!({"Phone": [{"PhoneNumber": "2718281828"}]})),
        )
        .await;

        // A composite key: all attributes, or a leading prefix.
        api.expect(
            201,
            POST,
            "/metadata/identification-keys",
            Some(json!({"name": "idName", "attributes": ["LastName", "FirstName"]})),
        )
        .await;
        let exact = api
            .expect(200, GET, "/profiles?LastName=Banner&FirstName=Bruce", None)
            .await;
        assert_eq!(exact.body, json!([{"customer_id": "bb1962"}]));
        let prefix = api
            .expect(200, GET, "/profiles?LastName=Banner", None)
            .await;
        assert_eq!(
            prefix.body,
            json!([{"customer_id": "bb-twin"}, {"customer_id": "bb1962"}])
        );
        // An explicit key; criteria no key starts with; an unknown key.
        let named = api
            .expect(
                200,
                GET,
                "/profiles?id_key=idName&LastName=Doe&PhoneNumber=5551234",
                None,
            )
            .await;
        assert_eq!(named.body, json!([{"customer_id": "jd"}]));
        api.expect(400, GET, "/profiles?FirstName=Bruce", None)
            .await;
        api.expect(400, GET, "/profiles?id_key=idNope&PhoneNumber=1", None)
            .await;
        api.expect(
            400,
            GET,
            "/profiles?include_profile=sometimes&PhoneNumber=1",
            None,
        )
        .await;
        api.expect(400, GET, "/profiles", None).await;
        // Updates move the index entries.
        api.expect(
            204,
            PUT,
            "/profiles/jd",
            Some(json!({"FirstName": "Jane", "LastName": "Doe", "PhoneNumber": "5557777"})),
        )
        .await;
        api.expect(204, GET, "/profiles?PhoneNumber=5550000", None)
            .await;
        let moved = api
            .expect(200, GET, "/profiles?PhoneNumber=5557777", None)
            .await;
        assert_eq!(moved.body, json!([{"customer_id": "jd"}]));
        api.cleanup().await;
    }
}

#[tokio::test]
async fn profiles_merge_into_one() {
    for api in apis().await {
        schemas(&api).await;
        api.expect(201, POST, "/metadata/identification-keys", Some(json!({"name": "idPhone", "source": "Phone", "attributes": ["PhoneNumber"], "unique": true}))).await;
        api.expect(201, POST, "/profiles", Some(json!({"customer_id": "keep", "LastName": "Smith", "Phone": [{"PhoneNumber": "1"}]}))).await;
        api.expect(201, POST, "/profiles", Some(json!({"customer_id": "fold", "LastName": "Smyth", "Email": "s@x", "Phone": [{"PhoneNumber": "2"}], "Address": {"City": "Leeds"}}))).await;
        let service = api
            .expect(
                201,
                POST,
                "/services/start",
                Some(json!({"customer_id": "fold", "service_type": 1})),
            )
            .await;
        let service_id = service.body["service_id"].as_i64().unwrap();

        // Conflicting attributes need force_merge.
        api.expect(403, PUT, "/profiles/keep/merge/fold", Some(json!({})))
            .await;
        api.expect(400, PUT, "/profiles/keep/merge/keep", None)
            .await;
        api.expect(404, PUT, "/profiles/keep/merge/ghost", None)
            .await;
        api.expect(
            400,
            PUT,
            "/profiles/keep/merge/fold",
            Some(json!({"force_merge": "maybe"})),
        )
        .await;
        api.expect(204, PUT, "/profiles/keep/merge/fold", Some(json!({"agent_id": "agent7", "force_merge": true, "reason": "duplicate", "description": "same person"}))).await;

        api.expect(404, GET, "/profiles/fold", None).await;
        let kept = api
            .expect(200, GET, "/profiles/keep?extensions=Phone,Address", None)
            .await;
        assert_eq!(kept.body["LastName"], "Smith");
        assert_eq!(kept.body["Email"], "s@x");
        assert_eq!(kept.body["Address"]["City"], "Leeds");
        assert_eq!(kept.body["Phone"].as_array().unwrap().len(), 2);
        let found = api
            .expect(200, GET, "/profiles?Phone.PhoneNumber=2", None)
            .await;
        assert_eq!(found.body, json!([{"customer_id": "keep"}]));
        let services = api.expect(200, GET, "/customers/keep/services", None).await;
        assert_eq!(services.body[0]["service_id"], service_id);
        api.cleanup().await;
    }
}

#[tokio::test]
async fn services_start_complete_and_are_associated() {
    for api in apis().await {
        let started = api
            .expect(201, POST, "/services/start", Some(json!({
                "customer_id": "c1", "service_type": 100, "session_id": "11000ABC-80236C1A-1010",
                "interaction_id": "123ABC908ABFFD8080", "media_type": "voice", "timestamp": "2009-05-07T12:05:20.157"
            })))
            .await;
        let id = started.body["service_id"].as_i64().unwrap();
        assert_eq!(started.location(), format!("/cs/services/{id}"));
        let anonymous = api
            .expect(
                201,
                POST,
                "/services/start",
                Some(json!({"contact_key": "+15551230000", "service_type": "billing"})),
            )
            .await;
        let anon_id = anonymous.body["service_id"].as_i64().unwrap();
        assert!(anon_id > id);
        api.expect(
            400,
            POST,
            "/services/start",
            Some(json!({"service_type": 1})),
        )
        .await;
        api.expect(
            400,
            POST,
            "/services/start",
            Some(json!({"customer_id": "c1", "session_id": "x".repeat(33)})),
        )
        .await;
        api.expect(
            400,
            POST,
            "/services/start",
            Some(json!({"customer_id": "c1", "colour": "red"})),
        )
        .await;
        api.expect(
            403,
            POST,
            "/services/start",
            Some(json!({"customer_id": "c1", "Offer": {"code": "X"}})),
        )
        .await;

        let service = api.expect(200, GET, &format!("/services/{id}"), None).await;
        assert_eq!(service.body["service_type"], 100);
        assert_eq!(service.body["customer_id"], "c1");
        assert_eq!(service.body["started"]["media_type"], "voice");
        assert_eq!(
            service.body["started"]["timestamp"],
            "2009-05-07T12:05:20.157"
        );
        assert!(service.body.get("completed").is_none());
        let stamped = api
            .expect(200, GET, &format!("/services/{anon_id}"), None)
            .await;
        assert!(stamped.body["started"]["timestamp"]
            .as_str()
            .unwrap()
            .ends_with('Z'));

        let anonymous_list = api
            .expect(200, GET, "/services/anonymous/%2B15551230000/active", None)
            .await;
        assert_eq!(anonymous_list.body.as_array().unwrap().len(), 1);
        api.expect(
            204,
            POST,
            &format!("/customers/c2/services/{anon_id}"),
            Some(json!({"interaction_id": "IX2", "est_duration": 30})),
        )
        .await;
        let after = api
            .expect(200, GET, "/services/anonymous/%2B15551230000", None)
            .await;
        assert_eq!(after.body, json!([]));
        let associated = api
            .expect(200, GET, "/customers/c2/services/active", None)
            .await;
        assert_eq!(associated.body[0]["service_id"], anon_id);
        assert_eq!(associated.body[0]["started"]["interaction_id"], "IX2");
        assert_eq!(associated.body[0]["est_duration"], 30);
        assert_eq!(associated.body[0]["contact_key"], "+15551230000");
        api.expect(404, POST, "/customers/c2/services/999999", None)
            .await;
        api.expect(
            400,
            POST,
            &format!("/customers/{}/services/{anon_id}", "x".repeat(17)),
            None,
        )
        .await;

        api.expect(
            204,
            POST,
            &format!("/services/{id}/end"),
            Some(json!({"disposition": 1, "disposition_desc": "SUCCESS"})),
        )
        .await;
        api.expect(403, POST, &format!("/services/{id}/end"), None)
            .await;
        api.expect(404, POST, "/services/999999/end", None).await;
        let done = api.expect(200, GET, &format!("/services/{id}"), None).await;
        assert_eq!(done.body["completed"]["disposition_desc"], "SUCCESS");
        let completed = api
            .expect(200, GET, "/customers/c1/services/completed", None)
            .await;
        assert_eq!(completed.body.as_array().unwrap().len(), 1);
        let active = api
            .expect(200, GET, "/customers/c1/services/active", None)
            .await;
        assert_eq!(active.body, json!([]));
        api.expect(404, GET, "/services/999999", None).await;
        api.expect(400, GET, "/services/abc", None).await;
        api.cleanup().await;
    }
}

/// Seed 001's two transition bodies, for `from_state`.
fn seed_transitions(from_state: i64, then: i64) -> [Value; 2] {
    [
        json!({ "timestamp": "2009-05-07T12:05:20.157", "session_id": "11000ABC-80236C1A-1010", "interaction_id": "123ABC908ABFFD8080", "from": { "state_id": from_state, "disposition": 1, "disposition_desc": "SUCCESS", "Feedback": { "FeedbackType":"survey","rating":7, "notes":"warm welcome at frontdesk, thanks for the nice trip" }, "Satisfaction": [ { "rating":2, "pertinence":8, "usefull":true, "place":"Terranova mexico resort" }, { "rating":8, "pertinence":4, "usefull":false, "place":"Fancy resort Paris" } ] }, "to": { "state_type": 8, "est_duration": 500, "Sponsoring": { "Rank":"first","expire":7, "notes":"give customer free meal" } } }),
        json!({ "timestamp": "2009-05-07T12:05:20.157", "session_id": "11000ABC-80236C1A-1010", "interaction_id": "123ABC908ABFFD8080", "from": { "state_id": then, "disposition": 1, "disposition_desc": "SUCCESS", "Feedback": { "FeedbackType":"survey","rating":7, "notes":"warm welcome at frontdesk, thanks for the nice trip" }, "Sponsoring": { "Rank":"first","expire":7, "notes":"give customer free meal" } }, "to": { "state_type": 8, "est_duration": 500, "Satisfaction": [ { "rating":7, "pertinence":3, "usefull":false, "place":"Australian beach resort complex" }, { "rating":9, "pertinence":8, "usefull":true, "place":"Caribbean beach complex" } ] } }),
    ]
}

#[tokio::test]
async fn the_seed_transition_answers_201_location_and_state_id() {
    for api in apis().await {
        let service = api
            .expect(
                201,
                POST,
                "/services/start",
                Some(json!({"customer_id": "c1", "service_type": 1})),
            )
            .await;
        let id = service.body["service_id"].as_i64().unwrap();
        let first = api
            .expect(
                201,
                POST,
                &format!("/services/{id}/states/start"),
                Some(json!({"state_type": 1, "est_duration": 60})),
            )
            .await;
        let first_id = first.body["state_id"].as_i64().unwrap();
        assert_eq!(
            first.location(),
            format!("/cs/service/{id}/states/{first_id}")
        );

        // Extensions need their state schemas: 403 before them.
        let [body, _] = seed_transitions(first_id, 0);
        let early = api
            .expect(
                403,
                POST,
                &format!("/services/{id}/states/transition"),
                Some(body.clone()),
            )
            .await;
        assert!(
            early.body["message"].as_str().unwrap().contains("Feedback"),
            "{}",
            early.text
        );
        schemas(&api).await;

        let answer = api
            .expect(
                201,
                POST,
                &format!("/services/{id}/states/transition"),
                Some(body),
            )
            .await;
        let second_id = answer.body["state_id"].as_i64().unwrap();
        assert_eq!(answer.body, json!({"state_id": second_id}));
        assert_eq!(
            answer.location(),
            format!("/cs/service/{id}/states/{second_id}")
        );
        assert!(second_id > first_id);
        let [_, body] = seed_transitions(0, second_id);
        let third = api
            .expect(
                201,
                POST,
                &format!("/services/{id}/states/transition"),
                Some(body),
            )
            .await;
        let third_id = third.body["state_id"].as_i64().unwrap();

        // The Location answers; extensions show when named.
        let shown = api
            .expect(
                200,
                GET,
                &format!(
                    "{}?extensions=Sponsoring,Satisfaction",
                    answer.location().trim_start_matches("/cs")
                ),
                None,
            )
            .await;
        assert_eq!(shown.body["service_id"], id);
        assert_eq!(shown.body["state_type"], 8);
        assert_eq!(shown.body["est_duration"], 500);
        assert_eq!(shown.body["previous_state_id"], first_id);
        assert_eq!(
            shown.body["started"]["session_id"],
            "11000ABC-80236C1A-1010"
        );
        assert_eq!(shown.body["started"]["Sponsoring"]["Rank"], "first");
        assert_eq!(shown.body["completed"]["disposition_desc"], "SUCCESS");
        assert_eq!(shown.body["completed"]["Sponsoring"]["expire"], 7);
        assert!(
            shown.body["completed"].get("Feedback").is_none(),
            "only the named extensions"
        );
        let first_state = api
            .expect(
                200,
                GET,
                &format!("/services/{id}/states/{first_id}?extensions=Feedback,Satisfaction"),
                None,
            )
            .await;
        assert_eq!(first_state.body["completed"]["Feedback"]["rating"], 7);
        assert_eq!(
            first_state.body["completed"]["Satisfaction"][1]["place"],
            "Fancy resort Paris"
        );

        // Refusals.
        let [again, _] = seed_transitions(first_id, 0);
        api.expect(
            403,
            POST,
            &format!("/services/{id}/states/transition"),
            Some(again),
        )
        .await;
        let [unknown_state, _] = seed_transitions(424_242, 0);
        api.expect(
            404,
            POST,
            &format!("/services/{id}/states/transition"),
            Some(unknown_state),
        )
        .await;
        let [unknown_service, _] = seed_transitions(third_id, 0);
        api.expect(
            404,
            POST,
            "/services/999999/states/transition",
            Some(unknown_service),
        )
        .await;
        let mut bad_rating = seed_transitions(third_id, 0)[0].clone();
        bad_rating["from"]["Feedback"]["rating"] = json!("seven");
        api.expect(
            400,
            POST,
            &format!("/services/{id}/states/transition"),
            Some(bad_rating),
        )
        .await;
        let mut no_type = seed_transitions(third_id, 0)[0].clone();
        no_type["to"].as_object_mut().unwrap().remove("state_type");
        api.expect(
            400,
            POST,
            &format!("/services/{id}/states/transition"),
            Some(no_type),
        )
        .await;
        api.expect(
            400,
            POST,
            &format!("/services/{id}/states/transition"),
            Some(json!({"from": 1, "to": {}})),
        )
        .await;
        api.expect(
            400,
            POST,
            &format!("/services/{id}/states/transition"),
            Some(json!({"to": {"state_type": 1}})),
        )
        .await;

        // Start, complete, list.
        api.expect(
            204,
            POST,
            &format!("/services/{id}/states/{third_id}/end"),
            Some(json!({"disposition": "done"})),
        )
        .await;
        api.expect(
            403,
            POST,
            &format!("/services/{id}/states/{third_id}/end"),
            None,
        )
        .await;
        api.expect(
            404,
            POST,
            &format!("/services/{id}/states/424242/end"),
            None,
        )
        .await;
        api.expect(
            400,
            POST,
            &format!("/services/{id}/states/start"),
            Some(json!({"est_duration": 5})),
        )
        .await;
        let fourth = api
            .expect(
                201,
                POST,
                &format!("/services/{id}/states/start"),
                Some(json!({"state_type": "wrap-up"})),
            )
            .await;
        let active = api
            .expect(200, GET, &format!("/services/{id}/states/active"), None)
            .await;
        assert_eq!(active.body.as_array().unwrap().len(), 1);
        assert_eq!(active.body[0]["state_id"], fourth.body["state_id"]);
        let completed = api
            .expect(200, GET, &format!("/services/{id}/states/completed"), None)
            .await;
        assert_eq!(completed.body.as_array().unwrap().len(), 3);
        let typed = api
            .expect(
                200,
                GET,
                &format!("/services/{id}/states?state_types=8"),
                None,
            )
            .await;
        assert_eq!(typed.body.as_array().unwrap().len(), 2);
        let with_states = api
            .expect(
                200,
                GET,
                &format!("/services/{id}?active_states=true&completed_states=true"),
                None,
            )
            .await;
        assert_eq!(
            with_states.body["active_states"].as_array().unwrap().len(),
            1
        );
        assert_eq!(
            with_states.body["completed_states"]
                .as_array()
                .unwrap()
                .len(),
            3
        );

        // A completed service takes no more states.
        api.expect(204, POST, &format!("/services/{id}/end"), None)
            .await;
        api.expect(
            403,
            POST,
            &format!("/services/{id}/states/start"),
            Some(json!({"state_type": 1})),
        )
        .await;
        let closed = api
            .expect(200, GET, &format!("/services/{id}/states/active"), None)
            .await;
        assert_eq!(
            closed.body,
            json!([]),
            "completing the service completes its states"
        );
        api.cleanup().await;
    }
}

#[tokio::test]
async fn tasks_start_and_complete() {
    for api in apis().await {
        let service = api
            .expect(
                201,
                POST,
                "/services/start",
                Some(json!({"contact_key": "k"})),
            )
            .await;
        let id = service.body["service_id"].as_i64().unwrap();
        let state = api
            .expect(
                201,
                POST,
                &format!("/services/{id}/states/start"),
                Some(json!({"state_type": 2})),
            )
            .await;
        let state_id = state.body["state_id"].as_i64().unwrap();
        let task = api
            .expect(
                201,
                POST,
                &format!("/services/{id}/tasks/start"),
                Some(json!({"task_type": 5, "state_id": state_id, "resource_id": 20})),
            )
            .await;
        let task_id = task.body["task_id"].as_i64().unwrap();
        assert_eq!(
            task.location(),
            format!("/cs/services/{id}/tasks/{task_id}")
        );
        api.expect(
            400,
            POST,
            &format!("/services/{id}/tasks/start"),
            Some(json!({"state_id": state_id})),
        )
        .await;
        api.expect(
            404,
            POST,
            &format!("/services/{id}/tasks/start"),
            Some(json!({"task_type": 1, "state_id": 424242})),
        )
        .await;
        api.expect(
            404,
            POST,
            "/services/999999/tasks/start",
            Some(json!({"task_type": 1})),
        )
        .await;

        let shown = api
            .expect(200, GET, &format!("/services/{id}/tasks/{task_id}"), None)
            .await;
        assert_eq!(shown.body["task_type"], 5);
        assert_eq!(shown.body["state_id"], state_id);
        assert_eq!(shown.body["started"]["resource_id"], 20);
        let with_tasks = api
            .expect(
                200,
                GET,
                &format!("/services/{id}?active_tasks=true&active_states=true"),
                None,
            )
            .await;
        assert_eq!(with_tasks.body["active_tasks"][0]["task_id"], task_id);
        assert_eq!(
            with_tasks.body["active_states"][0]["active_tasks"][0]["task_id"],
            task_id
        );

        api.expect(
            204,
            POST,
            &format!("/services/{id}/tasks/{task_id}/end"),
            Some(json!({"disposition": 3})),
        )
        .await;
        api.expect(
            403,
            POST,
            &format!("/services/{id}/tasks/{task_id}/end"),
            None,
        )
        .await;
        api.expect(404, POST, &format!("/services/{id}/tasks/424242/end"), None)
            .await;
        api.expect(404, GET, &format!("/services/{id}/tasks/424242"), None)
            .await;
        let completed = api
            .expect(
                200,
                GET,
                &format!("/services/{id}?completed_tasks=true"),
                None,
            )
            .await;
        assert_eq!(
            completed.body["completed_tasks"][0]["completed"]["disposition"],
            3
        );
        api.cleanup().await;
    }
}

#[tokio::test]
async fn tenants_do_not_see_each_other() {
    for api in apis().await {
        let acme = api.in_tenant("101");
        let globex = api.in_tenant("Globex Corp");
        schemas(&acme).await;
        acme.expect(
            201,
            POST,
            "/profiles",
            Some(json!({"customer_id": "c1", "LastName": "A"})),
        )
        .await;
        globex.expect(404, GET, "/profiles/c1", None).await;
        api.expect(404, GET, "/profiles/c1", None).await;
        // Schemas are per tenant too: Globex has none.
        globex
            .expect(
                403,
                POST,
                "/profiles",
                Some(json!({"customer_id": "c1", "Address": {"City": "X"}})),
            )
            .await;
        globex
            .expect(
                201,
                POST,
                "/profiles",
                Some(json!({"customer_id": "c1", "LastName": "G"})),
            )
            .await;
        let mine = acme.expect(200, GET, "/profiles/c1", None).await;
        assert_eq!(mine.body["LastName"], "A");
        let service = acme
            .expect(
                201,
                POST,
                "/services/start",
                Some(json!({"customer_id": "c1"})),
            )
            .await;
        let id = service.body["service_id"].as_i64().unwrap();
        globex
            .expect(404, GET, &format!("/services/{id}"), None)
            .await;
        globex
            .expect(404, POST, &format!("/services/{id}/end"), None)
            .await;
        globex
            .expect(
                404,
                POST,
                &format!("/services/{id}/states/start"),
                Some(json!({"state_type": 1})),
            )
            .await;
        let listed = globex
            .expect(200, GET, "/customers/c1/services", None)
            .await;
        assert_eq!(listed.body, json!([]));

        let long = api.in_tenant(&"t".repeat(65));
        let refused = long.expect(400, GET, "/profiles/c1", None).await;
        assert!(
            refused.body["message"]
                .as_str()
                .unwrap()
                .starts_with("Invalid tenant specified"),
            "{}",
            refused.text
        );
        api.cleanup().await;
    }
}

#[tokio::test]
async fn every_error_is_json_with_a_message() {
    for api in apis().await {
        let unknown = api.expect(404, GET, "/nowhere", None).await;
        assert_eq!(unknown.body["error"], "not_found");
        let method = api.expect(405, Method::DELETE, "/profiles/x", None).await;
        assert_eq!(method.body["error"], "method_not_allowed");
        let request = Request::builder()
            .method("POST")
            .uri("/cs/profiles")
            .header("content-type", "application/json")
            .body(Body::from("{not json"))
            .unwrap();
        let malformed = api.send(request).await;
        assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
        assert!(malformed.body["message"]
            .as_str()
            .unwrap()
            .contains("malformed JSON"));
        let array = api.expect(400, POST, "/profiles", Some(json!([1]))).await;
        assert!(array.body["message"]
            .as_str()
            .unwrap()
            .contains("JSON object"));
        assert_eq!(array.headers["content-type"], "application/json");
        api.cleanup().await;
    }
}

#[tokio::test]
async fn profiles_load_in_bulk() {
    for api in apis().await {
        schemas(&api).await;
        api.expect(201, POST, "/metadata/identification-keys", Some(json!({"name": "idPhone", "source": "Phone", "attributes": ["PhoneNumber"], "unique": true}))).await;
        let profiles: Vec<_> = (0..1000)
            .map(|i| match json!({"customer_id": format!("c{i}"), "LastName": format!("N{i}"), "Phone": [{"PhoneNumber": format!("555{i:04}")}]}) {
                Value::Object(map) => map,
                _ => unreachable!(),
            })
            .collect();
        let loaded = contextservices::import_profiles(api.store(), "", profiles.clone())
            .await
            .unwrap();
        assert_eq!(loaded, 1000);
        let found = api
            .expect(
                200,
                GET,
                "/profiles?Phone.PhoneNumber=5550999&include_profile=yes",
                None,
            )
            .await;
        assert_eq!(found.body[0]["LastName"], "N999");
        // A second load of the same ids is refused whole.
        let again = contextservices::import_profiles(api.store(), "", profiles[..1].to_vec()).await;
        assert!(
            matches!(again, Err(contextservices::CsError::Forbidden(_))),
            "{again:?}"
        );
        api.cleanup().await;
    }
}

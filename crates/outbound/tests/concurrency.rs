//! Many writers at once on one calling list, on every backend: records
//! added concurrently are all there, once each, with distinct handles and
//! chain positions; concurrent updates of one record all take effect.

mod util;

use std::collections::BTreeSet;

use axum::http::StatusCode;
use serde_json::{json, Value};

/// Writer tasks.
const WRITERS: usize = 8;
/// Records each writer adds.
const ADDS: usize = 15;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_lose_and_duplicate_nothing() {
    for app in util::apps().await {
        let list = app.campaign_with_list("Renewals", "Spring").await;
        let shared = app
            .add(json!({"callingList": "Spring", "phoneNumber": "5550000"}))
            .await;
        let shared_handle = shared["recordHandle"].as_i64().unwrap();
        let chain = shared["chainId"].clone();

        let mut tasks = Vec::new();
        for writer in 0..WRITERS {
            let router = app.router.clone();
            let chain = chain.clone();
            tasks.push(tokio::spawn(async move {
                let app = Client { router };
                let mut added = Vec::new();
                for i in 0..ADDS {
                    // Every third record joins the shared chain, so that
                    // writers race for chain positions too.
                    let mut fields = json!({
                        "callingList": "Spring",
                        "phoneNumber": format!("555{writer:02}{i:03}"),
                        "otherFields": {"writer": writer, "i": i},
                    });
                    if i % 3 == 0 {
                        fields["chainId"] = chain.clone();
                    }
                    let (status, answer) = app.ocs("/records/0?req=AddRecord", fields).await;
                    assert_eq!(status, StatusCode::OK, "{answer}");
                    added.push(answer["record"]["recordHandle"].as_i64().unwrap());
                    // Each writer also sets a field of its own on the shared
                    // record (read-modify-write under contention): the
                    // record's version counts every update, so one lost
                    // update shows.
                    let (status, answer) = app
                        .ocs(
                            &format!("/records/{shared_handle}?req=UpdateCallCompletionStats"),
                            json!({"otherFields": {format!("w{writer}"): i}}),
                        )
                        .await;
                    assert_eq!(status, StatusCode::OK, "{answer}");
                }
                added
            }));
        }
        let mut handles = BTreeSet::new();
        for task in tasks {
            for handle in task.await.expect("writer") {
                assert!(handles.insert(handle), "handle {handle} given twice");
            }
        }
        assert_eq!(handles.len(), WRITERS * ADDS);

        // Every record is stored once, as written.
        let mut stored = Vec::new();
        let mut after = 0;
        loop {
            let (_, page) = app
                .get(&format!(
                    "/callinglists/{list}/records?limit=1000&after={after}"
                ))
                .await;
            stored.extend(page["records"].as_array().unwrap().iter().cloned());
            match page["next"].as_i64() {
                Some(next) => after = next,
                None => break,
            }
        }
        assert_eq!(stored.len(), WRITERS * ADDS + 1, "{}", app.name());
        let mut phones = BTreeSet::new();
        for record in &stored {
            let handle = record["recordHandle"].as_i64().unwrap();
            if handle == shared_handle {
                continue;
            }
            assert!(handles.contains(&handle));
            let (writer, i) = (
                &record["otherFields"]["writer"],
                &record["otherFields"]["i"],
            );
            let phone = format!(
                "555{:02}{:03}",
                writer.as_u64().unwrap(),
                i.as_u64().unwrap()
            );
            assert_eq!(record["phoneNumber"], phone.as_str());
            assert!(phones.insert(phone));
        }

        // The shared chain: its head and every third record, positions
        // 1..=n each once.
        let in_chain: Vec<&Value> = stored.iter().filter(|r| r["chainId"] == chain).collect();
        assert_eq!(in_chain.len(), 1 + WRITERS * ADDS.div_ceil(3));
        let positions: BTreeSet<i64> = in_chain
            .iter()
            .map(|r| r["chainN"].as_i64().unwrap())
            .collect();
        assert_eq!(positions, (1..=in_chain.len() as i64).collect());

        // Every update of the shared record took effect.
        let (_, shared) = app.get(&format!("/records/{shared_handle}")).await;
        let fields = shared["otherFields"].as_object().unwrap();
        assert_eq!(fields.len(), WRITERS, "{}: {shared}", app.name());
        for writer in 0..WRITERS {
            assert_eq!(fields[&format!("w{writer}")], ADDS - 1, "{shared}");
        }
        assert_eq!(shared["version"], 1 + (WRITERS * ADDS) as i64, "{shared}");
        app.cleanup().await;
    }
}

/// The router alone, for a task.
struct Client {
    router: axum::Router,
}

impl Client {
    async fn ocs(&self, uri: &str, fields: Value) -> (StatusCode, Value) {
        use axum::body::Body;
        use axum::http::{header, Method, Request};
        use http_body_util::BodyExt;
        use tower::ServiceExt;
        let request = Request::builder()
            .method(Method::POST)
            .uri(uri)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(json!({ "record": fields }).to_string()))
            .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap())
    }
}

//! Many writers at once, on every backend: nothing lost, nothing
//! duplicated, unique keys hold, a state is completed once.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use axum::http::{Method, StatusCode};
use common::{apis, Api};
use serde_json::json;

/// Runs `count` calls at once, each built by `request(i)`; the statuses
/// and bodies, in `i` order.
async fn at_once<F>(
    api: &Arc<Api>,
    count: usize,
    request: F,
) -> Vec<(StatusCode, serde_json::Value)>
where
    F: Fn(usize) -> (Method, String, Option<serde_json::Value>),
{
    let mut tasks = Vec::new();
    for i in 0..count {
        let api = Arc::clone(api);
        let (method, uri, body) = request(i);
        tasks.push(tokio::spawn(async move {
            let answer = api.call(method, &uri, body).await;
            (answer.status, answer.body)
        }));
    }
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.expect("task"));
    }
    results
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_lose_nothing_and_unique_keys_hold() {
    for api in apis().await {
        let api = Arc::new(api);
        api.expect(201, Method::POST, "/metadata/profiles/extensions", Some(json!({
            "name": "Phone", "type": "multi-valued", "attributes": [{"name": "number", "type": "string"}]
        })))
        .await;
        api.expect(
            201,
            Method::POST,
            "/metadata/identification-keys",
            Some(json!({
                "name": "idPhone", "source": "Phone", "attributes": ["number"], "unique": true
            })),
        )
        .await;

        // 64 profiles, two per phone number: one of each pair wins.
        let created = at_once(&api, 64, |i| {
            (
                Method::POST,
                "/profiles".to_owned(),
                Some(json!({"customer_id": format!("c{i}"), "Phone": [{"number": format!("n{}", i / 2)}]})),
            )
        })
        .await;
        let mut winners = BTreeMap::new();
        for (i, (status, body)) in created.iter().enumerate() {
            match status.as_u16() {
                201 => {
                    assert!(
                        winners.insert(i / 2, body["customer_id"].clone()).is_none(),
                        "two winners for n{}",
                        i / 2
                    );
                }
                403 => {}
                other => panic!("{:?}: unexpected {other}: {body}", api.backend()),
            }
        }
        assert_eq!(
            winners.len(),
            32,
            "{:?}: every number taken once",
            api.backend()
        );
        for (pair, customer) in &winners {
            let found = api
                .expect(
                    200,
                    Method::GET,
                    &format!("/profiles?Phone.number=n{pair}"),
                    None,
                )
                .await;
            assert_eq!(found.body, json!([{"customer_id": customer}]));
            api.expect(
                200,
                Method::GET,
                &format!("/profiles/{}", customer.as_str().unwrap()),
                None,
            )
            .await;
        }

        // 48 services started at once: 48 distinct ids, all listed.
        let started = at_once(&api, 48, |i| {
            (
                Method::POST,
                "/services/start".to_owned(),
                Some(json!({"customer_id": "busy", "service_type": i})),
            )
        })
        .await;
        let ids: HashSet<i64> = started
            .iter()
            .map(|(status, body)| {
                assert_eq!(*status, StatusCode::CREATED, "{body}");
                body["service_id"].as_i64().unwrap()
            })
            .collect();
        assert_eq!(ids.len(), 48);
        let listed = api
            .expect(200, Method::GET, "/customers/busy/services/active", None)
            .await;
        assert_eq!(listed.body.as_array().unwrap().len(), 48);

        // 16 transitions from one state at once: exactly one is made.
        let service = *ids.iter().next().unwrap();
        let first = api
            .expect(
                201,
                Method::POST,
                &format!("/services/{service}/states/start"),
                Some(json!({"state_type": 1})),
            )
            .await;
        let from = first.body["state_id"].as_i64().unwrap();
        let raced = at_once(&api, 16, |_| {
            (
                Method::POST,
                format!("/services/{service}/states/transition"),
                Some(json!({"from": {"state_id": from}, "to": {"state_type": 2}})),
            )
        })
        .await;
        let made = raced
            .iter()
            .filter(|(s, _)| *s == StatusCode::CREATED)
            .count();
        let refused = raced
            .iter()
            .filter(|(s, _)| *s == StatusCode::FORBIDDEN)
            .count();
        assert_eq!((made, refused), (1, 15), "{:?}: {raced:?}", api.backend());
        let states = api
            .expect(
                200,
                Method::GET,
                &format!("/services/{service}/states"),
                None,
            )
            .await;
        assert_eq!(states.body.as_array().unwrap().len(), 2);

        // Chains of transitions on 8 services at once: each keeps every
        // state and ends with exactly one active.
        let chains: Vec<i64> = ids
            .iter()
            .copied()
            .filter(|id| *id != service)
            .take(8)
            .collect();
        let mut tasks = Vec::new();
        for id in chains.clone() {
            let api = Arc::clone(&api);
            tasks.push(tokio::spawn(async move {
                let answer = api
                    .call(
                        Method::POST,
                        &format!("/services/{id}/states/start"),
                        Some(json!({"state_type": 0})),
                    )
                    .await;
                let mut state = answer.body["state_id"].as_i64().unwrap();
                for step in 1..=10 {
                    let answer = api
                        .call(
                            Method::POST,
                            &format!("/services/{id}/states/transition"),
                            Some(json!({"from": {"state_id": state}, "to": {"state_type": step}})),
                        )
                        .await;
                    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
                    state = answer.body["state_id"].as_i64().unwrap();
                }
            }));
        }
        for task in tasks {
            task.await.expect("chain");
        }
        for id in chains {
            let all = api
                .expect(200, Method::GET, &format!("/services/{id}/states"), None)
                .await;
            assert_eq!(all.body.as_array().unwrap().len(), 11);
            let active = api
                .expect(
                    200,
                    Method::GET,
                    &format!("/services/{id}/states/active"),
                    None,
                )
                .await;
            assert_eq!(active.body[0]["state_type"], 10);
            assert_eq!(active.body.as_array().unwrap().len(), 1);
        }
        match Arc::try_unwrap(api) {
            Ok(api) => api.cleanup().await,
            Err(_) => panic!("the API is still shared"),
        }
    }
}

#![allow(dead_code)] // each test binary uses its own part of these helpers

//! Shared by the HTTP tests: the router on a fresh store of each backend,
//! and one-call helpers.

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use store::testing::{self, TestStore};
use tower::ServiceExt;

/// The router over a migrated store.
pub struct App {
    pub router: Router,
    pub test: TestStore,
}

/// One [`App`] per available backend.
pub async fn apps() -> Vec<App> {
    let mut apps = Vec::new();
    for test in testing::all().await.expect("test stores") {
        test.store
            .migrate(&outbound::SCHEMA)
            .await
            .expect("migrate");
        apps.push(App {
            router: outbound::router(test.store.clone()),
            test,
        });
    }
    apps
}

impl App {
    /// Which backend, for assertion messages.
    pub fn name(&self) -> String {
        format!("{:?}", self.test.backend())
    }

    /// Sends a request; the status and the JSON body (`null` when empty).
    pub async fn send(&self, request: Request<Body>) -> (StatusCode, Value) {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("infallible");
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                panic!(
                    "{status}: not JSON ({e}): {}",
                    String::from_utf8_lossy(&bytes)
                )
            })
        };
        (status, body)
    }

    pub async fn get(&self, uri: &str) -> (StatusCode, Value) {
        self.send(Request::get(uri).body(Body::empty()).unwrap())
            .await
    }

    pub async fn post(&self, uri: &str, body: Value) -> (StatusCode, Value) {
        self.send(
            Request::builder()
                .method(Method::POST)
                .uri(uri)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string()))
                .unwrap(),
        )
        .await
    }

    /// An OCS request as `<session:fetch>` sends it: `{"record": fields}`.
    pub async fn ocs(&self, uri: &str, fields: Value) -> (StatusCode, Value) {
        self.post(uri, json!({ "record": fields })).await
    }

    /// A campaign and a calling list of it; the list's id.
    pub async fn campaign_with_list(&self, campaign: &str, list: &str) -> i64 {
        let (status, body) = self.post("/campaigns", json!({"name": campaign})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (status, body) = self
            .post(
                "/callinglists",
                json!({"name": list, "campaignName": campaign}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["id"].as_i64().expect("list id")
    }

    /// AddRecord; the new record.
    pub async fn add(&self, fields: Value) -> Value {
        let (status, body) = self.ocs("/records/0?req=AddRecord", fields).await;
        assert_eq!(status, StatusCode::OK, "{}: {body}", self.name());
        body["record"].clone()
    }

    pub async fn cleanup(self) {
        self.test.cleanup().await;
    }
}

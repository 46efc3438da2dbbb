//! The API under test: the router mounted at `/cs` (as `orca serve` mounts
//! it) on a fresh store of each backend `store::testing::all()` gives.

#![allow(dead_code)]

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::Value;
use store::testing::{self, TestStore};
use tower::ServiceExt;

/// One backend's API.
pub struct Api {
    pub app: Router,
    /// The store (`None` in a tenant view of another `Api`).
    pub test: Option<TestStore>,
    pub backend: store::Backend,
    pub tenant: Option<String>,
}

/// An answer.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// The JSON body, `Value::Null` when empty.
    pub body: Value,
    pub text: String,
}

impl Answer {
    pub fn location(&self) -> &str {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// The API on every backend, migrated.
pub async fn apis() -> Vec<Api> {
    let mut apis = Vec::new();
    for test in testing::all().await.expect("test stores") {
        test.store
            .migrate(&contextservices::SCHEMA)
            .await
            .expect("migrate");
        let app = Router::new().nest_service("/cs", contextservices::router(test.store.clone()));
        apis.push(Api {
            app,
            backend: test.backend(),
            test: Some(test),
            tenant: None,
        });
    }
    apis
}

impl Api {
    pub fn backend(&self) -> store::Backend {
        self.backend
    }

    /// The store.
    pub fn store(&self) -> &store::Store {
        &self.test.as_ref().expect("not a tenant view").store
    }

    /// The same API in another tenant (`ContactCenterId`).
    pub fn in_tenant(&self, tenant: &str) -> Api {
        Api {
            app: self.app.clone(),
            test: None,
            backend: self.backend,
            tenant: Some(tenant.to_owned()),
        }
    }

    pub async fn call(&self, method: Method, uri: &str, body: Option<Value>) -> Answer {
        let mut request = Request::builder().method(method).uri(format!("/cs{uri}"));
        if let Some(tenant) = &self.tenant {
            request = request.header("ContactCenterId", tenant);
        }
        let request = match body {
            Some(body) => request
                .header("content-type", "application/json")
                .body(Body::from(body.to_string())),
            None => request.body(Body::empty()),
        }
        .unwrap();
        self.send(request).await
    }

    pub async fn send(&self, request: Request<Body>) -> Answer {
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
        };
        Answer {
            status,
            headers,
            body,
            text,
        }
    }

    pub async fn get(&self, uri: &str) -> Answer {
        self.call(Method::GET, uri, None).await
    }

    pub async fn post(&self, uri: &str, body: Value) -> Answer {
        self.call(Method::POST, uri, Some(body)).await
    }

    pub async fn put(&self, uri: &str, body: Value) -> Answer {
        self.call(Method::PUT, uri, Some(body)).await
    }

    /// Posts and expects `status`.
    pub async fn expect(
        &self,
        status: u16,
        method: Method,
        uri: &str,
        body: Option<Value>,
    ) -> Answer {
        let answer = self.call(method.clone(), uri, body).await;
        assert_eq!(
            answer.status.as_u16(),
            status,
            "{:?}: {method} {uri}: {}",
            self.backend(),
            answer.text
        );
        if status >= 400 {
            assert!(
                answer.body["message"]
                    .as_str()
                    .is_some_and(|m| !m.is_empty()),
                "{method} {uri}: an error without a message: {}",
                answer.text
            );
        }
        answer
    }

    pub async fn cleanup(self) {
        if let Some(test) = self.test {
            test.cleanup().await;
        }
    }
}

//! The enterprise services inside the server: Context Services under
//! `/cs` on every backend, behind the same bearer token and body limit as
//! every route, documented in `/openapi.json`; the default store in the
//! data directory.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use server::{app, AppState, Config};
use tower::ServiceExt;

const TOKEN: &str = "s3cret";

fn config() -> Config {
    let mut config = Config {
        workers: 1,
        journal: false,
        auth_token: Some(TOKEN.to_owned()),
        ..Config::default()
    };
    config.limits.max_body_bytes = 4096;
    config
}

async fn call(
    app: &Router,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: Option<String>,
) -> (StatusCode, Option<String>, Value) {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let request = match body {
        Some(body) => request
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body)),
        None => request.body(Body::empty()),
    }
    .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let location = response
        .headers()
        .get(header::LOCATION)
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    (status, location, body)
}

#[tokio::test]
async fn context_services_are_served_under_cs_behind_the_server_layers() {
    for test in store::testing::all().await.unwrap() {
        server::migrate_services(&test.store).await.unwrap();
        let app_state = AppState::new(config())
            .unwrap()
            .with_store(test.store.clone());
        let app = app(app_state.clone());
        let profile = json!({"customer_id": "c1", "LastName": "Okafor", "PhoneNumber": "5551234"})
            .to_string();

        let (status, _, body) =
            call(&app, "POST", "/cs/profiles", None, Some(profile.clone())).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body["error"], "unauthorized");
        let (status, location, body) =
            call(&app, "POST", "/cs/profiles", Some(TOKEN), Some(profile)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(location.as_deref(), Some("/cs/profiles/c1"));

        let big = json!({"customer_id": "c2", "Notes": "x".repeat(5000)}).to_string();
        let (status, _, body) = call(&app, "POST", "/cs/profiles", Some(TOKEN), Some(big)).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(body["message"].is_string());

        let (status, location, body) = call(
            &app,
            "POST",
            "/cs/services/start",
            Some(TOKEN),
            Some(json!({"customer_id": "c1"}).to_string()),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let service = body["service_id"].as_i64().unwrap();
        assert_eq!(location, Some(format!("/cs/services/{service}")));
        let (_, _, body) = call(
            &app,
            "POST",
            &format!("/cs/services/{service}/states/start"),
            Some(TOKEN),
            Some(json!({"state_type": 1}).to_string()),
        )
        .await;
        let from = body["state_id"].as_i64().unwrap();
        let transition = json!({"from": {"state_id": from, "disposition": 1}, "to": {"state_type": 8, "est_duration": 500}});
        let (status, location, body) = call(
            &app,
            "POST",
            &format!("/cs/services/{service}/states/transition"),
            Some(TOKEN),
            Some(transition.to_string()),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let state = body["state_id"].as_i64().unwrap();
        assert_eq!(body, json!({"state_id": state}));
        let location = location.unwrap();
        assert_eq!(location, format!("/cs/service/{service}/states/{state}"));
        let (status, _, shown) = call(&app, "GET", &location, Some(TOKEN), None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(shown["previous_state_id"], from);

        // The ORS API is still there, and the document has both.
        let (status, _, _) = call(&app, "GET", "/sessions", Some(TOKEN), None).await;
        assert_eq!(status, StatusCode::OK);
        let (_, _, document) = call(&app, "GET", "/openapi.json", Some(TOKEN), None).await;
        assert!(document["paths"]["/scxml/session/start"].is_object());
        assert!(
            document["paths"]["/cs/services/{service_id}/states/transition"]["post"].is_object()
        );
        assert!(document["paths"]["/cs/profiles"]["get"].is_object());
        assert!(document["components"]["schemas"]["Error"].is_object());
        assert!(document["components"]["schemas"]["CsStateTransition"].is_object());
        let text = document.to_string();
        for reference in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = &reference[..reference.find('"').unwrap()];
            assert!(
                document["components"]["schemas"][name].is_object(),
                "{name}"
            );
        }
        app_state
            .runtime()
            .shutdown(std::time::Duration::from_secs(5))
            .await;
        test.cleanup().await;
    }
}

#[tokio::test]
async fn the_default_store_is_sqlite_in_the_data_directory() {
    let dir = std::env::temp_dir().join(format!("orca-services-default-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = Config {
        data_dir: dir.clone(),
        ..Config::default()
    };
    let store = server::open_store(&config).await.unwrap();
    assert_eq!(store.backend(), store::Backend::Sqlite);
    assert!(dir.join(store::SQLITE_FILE).exists());
    store.close().await;
    // Opening again finds the migrations applied.
    let again = server::open_store(&config).await.unwrap();
    again.close().await;
    let bad = Config {
        database_url: Some("mysql://nope".to_owned()),
        ..Config::default()
    };
    let error = server::open_store(&bad).await.unwrap_err();
    assert!(
        error.to_string().contains("unsupported database URL"),
        "{error}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

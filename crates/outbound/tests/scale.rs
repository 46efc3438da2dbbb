//! Look-ups at scale: fills one calling list with many records (default a
//! million; `ORCA_OCS_SCALE_ROWS` to change) and prints how long the
//! router takes per request for each kind of look-up. A measurement, not a
//! check: it is ignored by default, asserts only that answers are right,
//! and is run by hand:
//!
//! ```text
//! cargo test -p outbound --test scale -- --ignored --nocapture
//! ```

mod util;

use std::time::Instant;

use axum::http::StatusCode;
use serde_json::json;
use store::sqlx;
use store::Backend;

/// Requests timed per kind of look-up.
const SAMPLES: i64 = 500;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement; run by hand with --ignored --nocapture"]
async fn lookups_stay_fast_at_a_million_records() {
    let rows: i64 = std::env::var("ORCA_OCS_SCALE_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let apps = util::apps().await;
    for app in &apps {
        let list = app.campaign_with_list("Scale", "Big").await;
        let started = Instant::now();
        fill(app, list, rows).await;
        println!(
            "{}: {rows} records inserted in {:.1} s",
            app.name(),
            started.elapsed().as_secs_f64()
        );

        let step = rows / SAMPLES;
        time(app, "GET /records/{handle}", |i| async move {
            let (status, record) = app.get(&format!("/records/{}", 1 + i * step)).await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(record["recordHandle"], 1 + i * step);
        })
        .await;
        time(app, "page of 100 by status", |i| async move {
            let uri = format!(
                "/callinglists/{list}/records?status=Updated&after={}",
                i * step
            );
            let (status, page) = app.get(&uri).await;
            assert_eq!(status, StatusCode::OK);
            for record in page["records"].as_array().unwrap() {
                assert_eq!(record["recordStatus"], "Updated");
            }
        })
        .await;
        time(app, "records of a phone number", |i| async move {
            let phone = format!("+1 555 {:07}", 1 + i * step);
            let uri = format!("/callinglists/{list}/records?phone={}", urlencode(&phone));
            let (status, page) = app.get(&uri).await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(page["records"].as_array().unwrap().len(), 1, "{page}");
        })
        .await;
        time(app, "AddRecord into an existing chain", |i| async move {
            let fields = json!({"callingList": "Big", "phoneNumber": format!("999{i:07}"),
                "chainId": 1 + i * step});
            let (status, answer) = app.ocs("/records/0?req=AddRecord", fields).await;
            assert_eq!(status, StatusCode::OK, "{answer}");
            assert_eq!(answer["record"]["chainN"], 2);
        })
        .await;
        time(app, "UpdateCallCompletionStats", |i| async move {
            // Handles divisible by 3 are Ready.
            let handle = (i * step / 3) * 3 + 3;
            let uri = format!("/records/{handle}?req=UpdateCallCompletionStats");
            let (status, answer) = app.ocs(&uri, json!({"callResult": "Busy"})).await;
            assert_eq!(status, StatusCode::OK, "{answer}");
        })
        .await;
    }
    for app in apps {
        app.cleanup().await;
    }
}

/// Inserts `rows` records into `list` in one statement: handles 1..=rows,
/// each its own chain, phone `+1 555 NNNNNNN`, statuses Ready, Updated and
/// Cancelled in turn.
async fn fill(app: &util::App, list: i64, rows: i64) {
    let pool = app.test.store.pool();
    let columns = "record_handle, list_id, contact_info, contact_key, contact_info_type, \
        daily_from, daily_till, chain_id, chain_n, record_type, record_status, call_result, \
        other_fields, version, created, updated";
    let sql = match app.test.backend() {
        Backend::Sqlite => format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $2) \
             INSERT INTO ocs_records ({columns}) \
             SELECT i, $1, '+1 555 ' || printf('%07d', i), '1555' || printf('%07d', i), 1, \
             28800, 64800, i, 1, 2, 1 + 2 * (i % 3), 28, '{{}}', 1, 0, 0 FROM n"
        ),
        Backend::Postgres => format!(
            "INSERT INTO ocs_records ({columns}) \
             SELECT i, $1, '+1 555 ' || lpad(i::text, 7, '0'), '1555' || lpad(i::text, 7, '0'), \
             1, 28800, 64800, i, 1, 2, 1 + 2 * (i % 3), 28, '{{}}', 1, 0, 0 \
             FROM generate_series(1, $2::bigint) AS i"
        ),
    };
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(list)
        .bind(rows)
        .execute(pool)
        .await
        .unwrap();
    if app.test.backend() == Backend::Postgres {
        // Explicit handles leave the identity behind; AddRecord needs it
        // past them.
        sqlx::query(
            "SELECT setval(pg_get_serial_sequence('ocs_records', 'record_handle'), \
             (SELECT MAX(record_handle) FROM ocs_records))",
        )
        .execute(pool)
        .await
        .unwrap();
        sqlx::query("ANALYZE ocs_records")
            .execute(pool)
            .await
            .unwrap();
    } else {
        sqlx::query("ANALYZE").execute(pool).await.unwrap();
    }
}

/// Runs `request` for 0..SAMPLES one after the other and prints the mean.
async fn time<F, Fut>(app: &util::App, what: &str, request: F)
where
    F: Fn(i64) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let started = Instant::now();
    for i in 0..SAMPLES {
        request(i).await;
    }
    let mean = started.elapsed().as_secs_f64() * 1e6 / SAMPLES as f64;
    println!("{}: {what}: {mean:.0} µs per request", app.name());
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

//! The same SQL on both backends: migrations, `$n` placeholders (also
//! repeated and out of order), the shared column types, conflicts.

use store::sqlx::{self, Row};
use store::{testing, Schema, Step};

const SCHEMA: Schema = Schema {
    name: "probe",
    steps: &[
        Step {
            version: 1,
            description: "items",
            sqlite: "CREATE TABLE items (id TEXT PRIMARY KEY, n BIGINT NOT NULL, x DOUBLE PRECISION, body TEXT)",
            postgres: "CREATE TABLE items (id TEXT PRIMARY KEY, n BIGINT NOT NULL, x DOUBLE PRECISION, body TEXT)",
        },
        Step {
            version: 2,
            description: "index on n",
            sqlite: "CREATE INDEX items_n ON items (n)",
            postgres: "CREATE INDEX items_n ON items (n)",
        },
    ],
};

#[tokio::test]
async fn same_sql_runs_on_every_backend() {
    for test in testing::all().await.expect("test stores") {
        let store = &test.store;
        store.migrate(&SCHEMA).await.expect("migrate");
        // A second run applies nothing and does not fail.
        store.migrate(&SCHEMA).await.expect("migrate again");
        sqlx::query("INSERT INTO items (id, n, x, body) VALUES ($1, $2, $3, $4)")
            .bind("a")
            .bind(1_i64 << 40)
            .bind(2.5_f64)
            .bind(Option::<String>::None)
            .execute(store.pool())
            .await
            .expect("insert");
        let duplicate = sqlx::query("INSERT INTO items (id, n) VALUES ($1, $2)")
            .bind("a")
            .bind(0_i64)
            .execute(store.pool())
            .await;
        let Err(sqlx::Error::Database(error)) = duplicate else {
            panic!("{:?}: duplicate key accepted", test.backend());
        };
        assert!(error.is_unique_violation(), "{:?}: {error}", test.backend());
        // Parameters used twice and out of order.
        let row =
            sqlx::query("SELECT id, n, x, body FROM items WHERE n = $2 AND id = $1 AND n > $2 - 1")
                .bind("a")
                .bind(1_i64 << 40)
                .fetch_one(store.pool())
                .await
                .expect("select");
        assert_eq!(row.get::<String, _>(0), "a");
        assert_eq!(row.get::<i64, _>(1), 1 << 40);
        assert_eq!(row.get::<f64, _>(2), 2.5);
        assert_eq!(row.get::<Option<String>, _>(3), None);
        test.cleanup().await;
    }
}

/// The SQLite settings reach every connection of the pool (the Any driver
/// connects from a URL, which cannot carry them).
#[tokio::test]
async fn sqlite_connections_use_wal_and_wait_for_the_lock() {
    let test = testing::sqlite().await.expect("sqlite");
    let mut connections = Vec::new();
    for _ in 0..3 {
        connections.push(test.store.pool().acquire().await.expect("connection"));
    }
    for conn in &mut connections {
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&mut **conn)
            .await
            .expect("journal_mode");
        assert_eq!(mode, "wal");
        let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&mut **conn)
            .await
            .expect("synchronous");
        assert_eq!(synchronous, 1, "NORMAL");
        let timeout: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
            .fetch_one(&mut **conn)
            .await
            .expect("busy_timeout");
        assert_eq!(timeout, 10_000);
        let foreign_keys: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(&mut **conn)
            .await
            .expect("foreign_keys");
        assert_eq!(foreign_keys, 1);
    }
    drop(connections);
    test.cleanup().await;
}

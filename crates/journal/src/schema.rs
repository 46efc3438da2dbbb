//! The database layout, connection settings and migrations.
//!
//! Migrations are a list of SQL scripts; `schema_version` holds how many
//! have run. Opening a database applies the missing ones in one transaction
//! and refuses a database from a newer build (its version is past the list).

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};

use crate::error::Error;

/// Migration scripts; entry `i` brings the schema from version `i` to `i+1`.
/// Never edit a released entry: append a new one.
const MIGRATIONS: &[&str] = &[
    // Version 1.
    //
    // `sessions`: one row per journaled session; `ended_at` is NULL while it
    // lives, which is what recovery lists (partial index). `documents`: each
    // distinct source once, by SHA-256, referenced by the sessions that run
    // it. `records` and `snapshots` are keyed (session, seq) WITHOUT ROWID:
    // one B-tree insert per record, and a session's records are contiguous,
    // so reading a session or all live sessions in order is a range scan.
    // Foreign keys cascade, so deleting a session row compacts it whole.
    r#"
    CREATE TABLE documents (
        hash      BLOB PRIMARY KEY,
        url       TEXT,
        source    BLOB NOT NULL,
        stored_at INTEGER NOT NULL
    );
    CREATE TABLE sessions (
        id            TEXT PRIMARY KEY,
        document_hash BLOB NOT NULL REFERENCES documents(hash),
        document_url  TEXT,
        started_at    INTEGER NOT NULL,
        ended_at      INTEGER
    ) WITHOUT ROWID;
    CREATE INDEX sessions_live ON sessions(id) WHERE ended_at IS NULL;
    CREATE INDEX sessions_ended ON sessions(ended_at) WHERE ended_at IS NOT NULL;
    CREATE INDEX sessions_document ON sessions(document_hash);
    CREATE TABLE records (
        session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        seq        INTEGER NOT NULL,
        kind       INTEGER NOT NULL,
        at         INTEGER NOT NULL,
        payload    BLOB NOT NULL,
        PRIMARY KEY (session_id, seq)
    ) WITHOUT ROWID;
    CREATE TABLE snapshots (
        session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        seq        INTEGER NOT NULL,
        at         INTEGER NOT NULL,
        payload    BLOB NOT NULL,
        PRIMARY KEY (session_id, seq)
    ) WITHOUT ROWID;
    "#,
];

/// The schema version this build writes.
pub(crate) const VERSION: i64 = MIGRATIONS.len() as i64;

/// How long a connection waits for a lock before SQLITE_BUSY. Only the
/// writer writes, so waits are short (a checkpoint, a reader starting).
const BUSY_TIMEOUT_MS: u32 = 5_000;

/// Opens the writer's connection, sets the durable WAL mode and migrates.
///
/// `synchronous=FULL` in WAL mode fsyncs the WAL at every commit, so a
/// committed batch survives power loss, not only a process crash (NORMAL
/// would fsync only at checkpoints). `wal_autocheckpoint` is 0 when a
/// background thread checkpoints, so that commits never pay for copying
/// the WAL into the database.
pub(crate) fn open_writer(
    path: &std::path::Path,
    auto_checkpoint: bool,
) -> Result<Connection, Error> {
    let mut conn = Connection::open(path)?;
    configure(&conn)?;
    // journal_mode returns the mode it set; WAL is refused on some file
    // systems, and then durability arguments would not hold.
    let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::WalUnavailable { mode });
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(
        None,
        "wal_autocheckpoint",
        if auto_checkpoint { 1000 } else { 0 },
    )?;
    migrate(&mut conn)?;
    Ok(conn)
}

/// Opens a connection for reads or checkpoints (the schema must exist).
pub(crate) fn open_reader(path: &std::path::Path) -> Result<Connection, Error> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    configure(&conn)?;
    Ok(conn)
}

fn configure(conn: &Connection) -> Result<(), Error> {
    conn.busy_timeout(std::time::Duration::from_millis(BUSY_TIMEOUT_MS.into()))?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

/// Applies the missing migrations in one transaction.
fn migrate(conn: &mut Connection) -> Result<(), Error> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")?;
    let found: Option<i64> =
        tx.query_row("SELECT max(version) FROM schema_version", [], |row| {
            row.get(0)
        })?;
    let found = found.unwrap_or(0);
    if found > VERSION {
        return Err(Error::UnsupportedSchema {
            found,
            supported: VERSION,
        });
    }
    for (from, script) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        apply(&tx, script, from as i64 + 1)?;
    }
    tx.commit()?;
    Ok(())
}

fn apply(tx: &Transaction<'_>, script: &str, version: i64) -> Result<(), Error> {
    tx.execute_batch(script)?;
    tx.execute("DELETE FROM schema_version", [])?;
    tx.execute(
        "INSERT INTO schema_version (version) VALUES (?1)",
        [version],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrating_twice_is_a_no_op_and_newer_schemas_are_refused() {
        let dir = std::env::temp_dir().join(format!("journal-schema-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("j.db");
        let _ = std::fs::remove_file(&path);
        drop(open_writer(&path, true).unwrap());
        let conn = open_writer(&path, true).unwrap();
        let version: i64 = conn
            .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, VERSION);
        conn.execute("UPDATE schema_version SET version = 99", [])
            .unwrap();
        drop(conn);
        assert!(matches!(
            open_writer(&path, true),
            Err(Error::UnsupportedSchema { found: 99, .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

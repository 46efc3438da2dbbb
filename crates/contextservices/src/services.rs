//! Services, states and tasks: the customer journey records
//! (ors-dialect.md §6 and seed 001). A service is started for a customer
//! or, anonymously, for a contact key, later associated with a customer and
//! completed; within it, states follow one another (start, complete, or
//! both at once with a transition) and tasks run.
//!
//! Ids are server-assigned and increasing: services 64-bit, states and
//! tasks 32-bit, as the public pages say. Each start or end carries an
//! event: the common fields (`session_id`, `interaction_id`,
//! `application_type`, `application_id`, `resource_type`, `resource_id`,
//! `media_type`, `timestamp` — set by the server when absent) plus the
//! operation's own, and extensions (objects or arrays of objects) that must
//! match a schema of the resource's kind. The event is kept as it was given
//! and shown under `started` / `completed` in the resource.
//!
//! Consistency under concurrent writers comes from the rows themselves:
//! completing is `UPDATE … WHERE completed_ms IS NULL` (of two concurrent
//! completions one changes the row, the other gets 403), and operations on
//! a service lock its row first on PostgreSQL (`FOR UPDATE`; SQLite
//! serializes writers).

use serde_json::{json, Map, Value};
use store::sqlx::{self, AnyConnection, Row};
use store::Backend;

use crate::db::{parse_json, singular, Db, WriteTx};
use crate::error::CsError;
use crate::profiles::check_customer_id;
use crate::schema::Kind;
use crate::time::{is_iso8601, iso8601, now_ms};

/// Longest `contact_key`.
const MAX_CONTACT_KEY_CHARS: usize = 256;

/// How a field of an event is checked.
#[derive(Debug, Clone, Copy)]
enum Field {
    /// A string of at most this many characters.
    Text(usize),
    /// "long or string": an integer or a string (business attribute ids
    /// or names).
    IdOrText,
    /// An integer.
    Int,
    /// An ISO 8601 date/time.
    Timestamp,
    /// A customer id.
    CustomerId,
}

/// The fields every event may carry (public Start Service / Transition
/// pages; the 32- and 50-character limits are the documented ones).
const COMMON: &[(&str, Field)] = &[
    ("session_id", Field::Text(32)),
    ("interaction_id", Field::Text(50)),
    ("application_type", Field::IdOrText),
    ("application_id", Field::Int),
    ("resource_type", Field::IdOrText),
    ("resource_id", Field::Int),
    ("media_type", Field::IdOrText),
    ("timestamp", Field::Timestamp),
];

const SERVICE_START: &[(&str, Field)] = &[
    ("customer_id", Field::CustomerId),
    ("contact_key", Field::Text(MAX_CONTACT_KEY_CHARS)),
    ("service_type", Field::IdOrText),
    ("est_duration", Field::Int),
];

/// Associate takes the Service Start Event's fields but the owner's.
const SERVICE_UPDATE: &[(&str, Field)] = &[
    ("service_type", Field::IdOrText),
    ("est_duration", Field::Int),
];

/// Every end event.
const END: &[(&str, Field)] = &[
    ("disposition", Field::IdOrText),
    ("disposition_desc", Field::Text(256)),
];

const STATE_START: &[(&str, Field)] = &[
    ("state_type", Field::IdOrText),
    ("previous_state_id", Field::Int),
    ("est_duration", Field::Int),
];

/// The `from` hash of a transition: the state to complete.
const TRANSITION_FROM: &[(&str, Field)] = &[
    ("state_id", Field::Int),
    ("disposition", Field::IdOrText),
    ("disposition_desc", Field::Text(256)),
];

/// The `to` hash of a transition: the state to start.
const TRANSITION_TO: &[(&str, Field)] = &[
    ("state_type", Field::IdOrText),
    ("est_duration", Field::Int),
];

const TASK_START: &[(&str, Field)] = &[
    ("task_type", Field::IdOrText),
    ("state_id", Field::Int),
    ("est_duration", Field::Int),
];

/// An event body taken apart: its checked fields and its extensions (by
/// the name given, not yet checked against the schemas).
#[derive(Debug, Default)]
struct Event {
    fields: Map<String, Value>,
    extensions: Vec<(String, Value)>,
}

impl Event {
    /// Reads `body`: the common fields, `own` fields, and extensions; any
    /// other scalar is refused, so that a misspelt field is not lost.
    fn parse(
        body: Map<String, Value>,
        own: &[(&str, Field)],
        what: &str,
    ) -> Result<Event, CsError> {
        let mut event = Event::default();
        for (name, value) in body {
            let spec = COMMON
                .iter()
                .chain(own)
                .find(|(n, _)| *n == name)
                .map(|(_, f)| *f);
            match spec {
                Some(_) if value.is_null() => {}
                Some(field) => {
                    check_field(&name, &value, field)?;
                    event.fields.insert(name, value);
                }
                None if value.is_object()
                    || value.as_array().is_some_and(|a| !a.is_empty() && a.iter().all(Value::is_object)) =>
                {
                    event.extensions.push((name, value));
                }
                None => {
                    return Err(CsError::BadRequest(format!(
                        "unknown field {name:?} in {what} (extensions are objects or arrays of objects)"
                    )))
                }
            }
        }
        Ok(event)
    }

    /// Removes and returns a field.
    fn take(&mut self, name: &str) -> Option<Value> {
        self.fields.remove(name)
    }

    /// Checks the extensions against the schemas of `kind` and returns the
    /// event as stored: `{"fields": {…, "timestamp"}, "extensions": {…}}`.
    async fn stored(self, db: &Db, tenant: &str, kind: Kind, now: i64) -> Result<String, CsError> {
        let mut fields = self.fields;
        fields
            .entry("timestamp".to_owned())
            .or_insert_with(|| Value::String(iso8601(now)));
        let mut extensions = Map::new();
        for (name, value) in &self.extensions {
            let schema = db.require_schema(tenant, kind, name).await?;
            let records = schema.records(value).map_err(CsError::BadRequest)?;
            let value = if schema.multi_valued {
                Value::Array(records.into_iter().map(Value::Object).collect())
            } else {
                records
                    .into_iter()
                    .next()
                    .map(Value::Object)
                    .unwrap_or(Value::Null)
            };
            if extensions.insert(schema.name.clone(), value).is_some() {
                return Err(CsError::BadRequest(format!(
                    "extension {name} is given twice"
                )));
            }
        }
        Ok(json!({"fields": fields, "extensions": extensions}).to_string())
    }
}

fn check_field(name: &str, value: &Value, field: Field) -> Result<(), CsError> {
    let ok = match (field, value) {
        (Field::Text(max), Value::String(s)) => s.chars().count() <= max,
        (Field::IdOrText, Value::String(_)) => true,
        (Field::IdOrText | Field::Int, Value::Number(n)) => n.as_i64().is_some(),
        (Field::Timestamp, Value::String(s)) => is_iso8601(s),
        (Field::CustomerId, Value::String(s)) => return check_customer_id(s),
        _ => false,
    };
    if ok {
        return Ok(());
    }
    let expected = match field {
        Field::Text(max) => format!("a string of at most {max} characters"),
        Field::IdOrText => "an integer or a string".to_owned(),
        Field::Int => "an integer".to_owned(),
        Field::Timestamp => "an ISO 8601 date/time, e.g. 2009-05-07T12:05:20.157Z".to_owned(),
        Field::CustomerId => "a customer id".to_owned(),
    };
    Err(CsError::BadRequest(format!("{name} must be {expected}")))
}

/// A field's value as stored in its own column (JSON text: keeps an
/// integer apart from a string).
fn column(value: Option<Value>) -> Option<String> {
    value.map(|v| v.to_string())
}

fn int_column(value: Option<Value>) -> Option<i64> {
    value.and_then(|v| v.as_i64())
}

/// Which services, states or tasks a query wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Filter {
    All,
    Active,
    Completed,
}

impl Filter {
    fn keeps(self, completed: bool) -> bool {
        match self {
            Filter::All => true,
            Filter::Active => !completed,
            Filter::Completed => completed,
        }
    }
}

/// What a service or state view includes (the public query parameters
/// `active_states`, `completed_states`, `active_tasks`, `completed_tasks`,
/// `extensions`, `state_types`).
#[derive(Debug, Clone, Default)]
pub(crate) struct View {
    pub(crate) active_states: bool,
    pub(crate) completed_states: bool,
    pub(crate) active_tasks: bool,
    pub(crate) completed_tasks: bool,
    /// Extension names to show (lowercase); none by default.
    pub(crate) extensions: Vec<String>,
    /// State types to keep (as given); all when empty.
    pub(crate) state_types: Vec<String>,
}

/// Whose services a query lists.
pub(crate) enum Owner<'a> {
    Customer(&'a str),
    /// Anonymous services started with this contact key.
    Contact(&'a str),
}

/// Parses a path id (`service_id`, `state_id`, `task_id`).
pub(crate) fn parse_id(text: &str, what: &str) -> Result<i64, CsError> {
    text.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| {
            CsError::BadRequest(format!("{what} must be a positive integer, not {text:?}"))
        })
}

fn no_service(service_id: i64) -> CsError {
    CsError::NotFound(format!("no service {service_id}"))
}

/// On PostgreSQL, locks the service's row for the transaction and checks
/// it (see [`active_service`]). On SQLite the writer holds the database's
/// write lock already, and the statements that follow check the service
/// themselves: a statement less on the hot path (a round trip to SQLite's
/// thread costs more than the statement).
async fn lock_service(
    tx: &mut WriteTx,
    backend: Backend,
    tenant: &str,
    service_id: i64,
) -> Result<(), CsError> {
    match backend {
        Backend::Sqlite => Ok(()),
        Backend::Postgres => active_service(tx, backend, tenant, service_id).await,
    }
}

/// Locks (PostgreSQL) and checks the service: 404 when it does not exist in
/// the tenant, 403 when it is completed.
async fn active_service(
    tx: &mut WriteTx,
    backend: Backend,
    tenant: &str,
    service_id: i64,
) -> Result<(), CsError> {
    let sql = match backend {
        Backend::Sqlite => {
            "SELECT completed_ms FROM cs_services WHERE service_id = $1 AND tenant = $2"
        }
        Backend::Postgres => {
            "SELECT completed_ms FROM cs_services WHERE service_id = $1 AND tenant = $2 FOR UPDATE"
        }
    };
    let row = sqlx::query(sql)
        .bind(service_id)
        .bind(tenant)
        .fetch_optional(tx.conn())
        .await?
        .ok_or_else(|| no_service(service_id))?;
    if row.try_get::<Option<i64>, _>(0)?.is_some() {
        return Err(CsError::Forbidden(format!(
            "service {service_id} is completed"
        )));
    }
    Ok(())
}

/// `POST /services/start`: the new service's id.
pub(crate) async fn start_service(
    db: &Db,
    tenant: &str,
    body: Map<String, Value>,
) -> Result<i64, CsError> {
    let mut event = Event::parse(body, SERVICE_START, "a Service Start Event")?;
    let customer_id = event.take("customer_id");
    let contact_key = event.take("contact_key");
    if customer_id.is_none() && contact_key.is_none() {
        return Err(CsError::BadRequest(
            "a service needs a customer_id or, when anonymous, a contact_key".to_owned(),
        ));
    }
    let service_type = column(event.take("service_type"));
    let est_duration = int_column(event.take("est_duration"));
    let now = now_ms();
    let started = event.stored(db, tenant, Kind::Services, now).await?;
    let mut tx = db.write().await?;
    let row = sqlx::query(
        "INSERT INTO cs_services (tenant, customer_id, contact_key, service_type, est_duration, started, started_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING service_id",
    )
    .bind(tenant)
    .bind(customer_id.as_ref().and_then(Value::as_str))
    .bind(contact_key.as_ref().and_then(Value::as_str))
    .bind(service_type)
    .bind(est_duration)
    .bind(started)
    .bind(now)
    .fetch_one(tx.conn())
    .await?;
    let service_id: i64 = row.try_get(0)?;
    tx.commit().await?;
    Ok(service_id)
}

/// `POST /services/{id}/end`: completes the service, and with it its
/// states and tasks still active.
pub(crate) async fn complete_service(
    db: &Db,
    tenant: &str,
    service_id: i64,
    body: Map<String, Value>,
) -> Result<(), CsError> {
    let event = Event::parse(body, END, "a Service End Event")?;
    let now = now_ms();
    let completed = event.stored(db, tenant, Kind::Services, now).await?;
    let mut tx = db.write().await?;
    let changed = sqlx::query(
        "UPDATE cs_services SET completed = $3, completed_ms = $4 \
         WHERE service_id = $1 AND tenant = $2 AND completed_ms IS NULL",
    )
    .bind(service_id)
    .bind(tenant)
    .bind(completed)
    .bind(now)
    .execute(tx.conn())
    .await?;
    if changed.rows_affected() == 0 {
        return Err(explain_unchanged_service(tx.conn(), tenant, service_id).await);
    }
    let closing = json!({"fields": {"timestamp": iso8601(now)}, "extensions": {}}).to_string();
    for sql in [
        "UPDATE cs_states SET completed = $2, completed_ms = $3 WHERE service_id = $1 AND completed_ms IS NULL",
        "UPDATE cs_tasks SET completed = $2, completed_ms = $3 WHERE service_id = $1 AND completed_ms IS NULL",
    ] {
        sqlx::query(sql)
            .bind(service_id)
            .bind(&closing)
            .bind(now)
            .execute(tx.conn())
            .await?;
    }
    tx.commit().await
}

/// Why an update of an active service changed nothing: 404 or 403.
async fn explain_unchanged_service(
    conn: &mut AnyConnection,
    tenant: &str,
    service_id: i64,
) -> CsError {
    let exists = sqlx::query("SELECT 1 FROM cs_services WHERE service_id = $1 AND tenant = $2")
        .bind(service_id)
        .bind(tenant)
        .fetch_optional(conn)
        .await;
    match exists {
        Ok(Some(_)) => CsError::Forbidden(format!("service {service_id} is already completed")),
        Ok(None) => no_service(service_id),
        Err(e) => e.into(),
    }
}

/// `POST /customers/{customer_id}/services/{id}`: gives the service to the
/// customer (replacing any earlier association); the optional body updates
/// the Service Start Event's fields and replaces the extensions it names.
pub(crate) async fn associate(
    db: &Db,
    tenant: &str,
    customer_id: &str,
    service_id: i64,
    body: Map<String, Value>,
) -> Result<(), CsError> {
    check_customer_id(customer_id)?;
    let mut event = Event::parse(body, SERVICE_UPDATE, "an association")?;
    let service_type = column(event.take("service_type"));
    let est_duration = int_column(event.take("est_duration"));
    let timestamp_given = event.fields.contains_key("timestamp");
    let now = now_ms();
    // Checked before the transaction; merged into the stored event below.
    let update = parse_json(
        &event.stored(db, tenant, Kind::Services, now).await?,
        "event",
    )?;
    let mut tx = db.write().await?;
    let sql = match db.backend() {
        Backend::Sqlite => "SELECT started FROM cs_services WHERE service_id = $1 AND tenant = $2",
        Backend::Postgres => {
            "SELECT started FROM cs_services WHERE service_id = $1 AND tenant = $2 FOR UPDATE"
        }
    };
    let row = sqlx::query(sql)
        .bind(service_id)
        .bind(tenant)
        .fetch_optional(tx.conn())
        .await?
        .ok_or_else(|| no_service(service_id))?;
    let mut started = parse_json(&row.try_get::<String, _>(0)?, "service event")?;
    for part in ["fields", "extensions"] {
        if let (Some(Value::Object(into)), Some(Value::Object(from))) =
            (started.get_mut(part), update.get(part))
        {
            for (name, value) in from {
                // `stored` stamps the server's time on a body without a
                // timestamp; the service keeps its start time then.
                if part == "fields" && name == "timestamp" && !timestamp_given {
                    continue;
                }
                into.insert(name.clone(), value.clone());
            }
        }
    }
    sqlx::query(
        "UPDATE cs_services SET customer_id = $3, service_type = COALESCE($4, service_type), \
         est_duration = COALESCE($5, est_duration), started = $6 WHERE service_id = $1 AND tenant = $2",
    )
    .bind(service_id)
    .bind(tenant)
    .bind(customer_id)
    .bind(service_type)
    .bind(est_duration)
    .bind(started.to_string())
    .execute(tx.conn())
    .await?;
    tx.commit().await
}

/// `POST /services/{id}/states/start`: the new state's id.
pub(crate) async fn start_state(
    db: &Db,
    tenant: &str,
    service_id: i64,
    body: Map<String, Value>,
) -> Result<i64, CsError> {
    let mut event = Event::parse(body, STATE_START, "a State Start Event")?;
    let state_type = event
        .take("state_type")
        .ok_or_else(|| CsError::BadRequest("state_type is mandatory".to_owned()))?;
    let previous = int_column(event.take("previous_state_id"));
    let est_duration = int_column(event.take("est_duration"));
    let now = now_ms();
    let started = event.stored(db, tenant, Kind::States, now).await?;
    let mut tx = db.write().await?;
    lock_service(&mut tx, db.backend(), tenant, service_id).await?;
    let state_id = insert_state(
        &mut tx,
        db.backend(),
        tenant,
        service_id,
        &state_type,
        previous,
        est_duration,
        &started,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(state_id)
}

/// Adds a state to the service, if it is active in the tenant (else the
/// 404 or 403 of [`active_service`]); its id.
#[allow(clippy::too_many_arguments)]
async fn insert_state(
    tx: &mut WriteTx,
    backend: Backend,
    tenant: &str,
    service_id: i64,
    state_type: &Value,
    previous: Option<i64>,
    est_duration: Option<i64>,
    started: &str,
    now: i64,
) -> Result<i64, CsError> {
    let row = sqlx::query(
        "INSERT INTO cs_states (service_id, state_type, previous_state_id, est_duration, started, started_ms) \
         SELECT $1, $2, $3, $4, $5, $6 WHERE EXISTS \
         (SELECT 1 FROM cs_services WHERE service_id = $1 AND tenant = $7 AND completed_ms IS NULL) \
         RETURNING state_id",
    )
    .bind(service_id)
    .bind(state_type.to_string())
    .bind(previous)
    .bind(est_duration)
    .bind(started)
    .bind(now)
    .bind(tenant)
    .fetch_optional(tx.conn())
    .await?;
    match row {
        Some(row) => Ok(row.try_get(0)?),
        None => {
            active_service(tx, backend, tenant, service_id).await?;
            Err(CsError::Corrupt(format!(
                "service {service_id} refused a state"
            )))
        }
    }
}

/// Completes an active state or task of an active service of the tenant;
/// else the 404 or 403 of [`active_service`], or 404 when the service has
/// no such state or task, 403 when it is already completed.
#[allow(clippy::too_many_arguments)]
async fn complete_child(
    tx: &mut WriteTx,
    backend: Backend,
    tenant: &str,
    kind: Kind,
    service_id: i64,
    id: i64,
    completed: &str,
    now: i64,
) -> Result<(), CsError> {
    let (update, exists) = match kind {
        Kind::Tasks => (
            "UPDATE cs_tasks SET completed = $3, completed_ms = $4 \
             WHERE task_id = $1 AND service_id = $2 AND completed_ms IS NULL AND EXISTS \
             (SELECT 1 FROM cs_services s WHERE s.service_id = $2 AND s.tenant = $5 AND s.completed_ms IS NULL)",
            "SELECT 1 FROM cs_tasks WHERE task_id = $1 AND service_id = $2",
        ),
        _ => (
            "UPDATE cs_states SET completed = $3, completed_ms = $4 \
             WHERE state_id = $1 AND service_id = $2 AND completed_ms IS NULL AND EXISTS \
             (SELECT 1 FROM cs_services s WHERE s.service_id = $2 AND s.tenant = $5 AND s.completed_ms IS NULL)",
            "SELECT 1 FROM cs_states WHERE state_id = $1 AND service_id = $2",
        ),
    };
    let changed = sqlx::query(update)
        .bind(id)
        .bind(service_id)
        .bind(completed)
        .bind(now)
        .bind(tenant)
        .execute(tx.conn())
        .await?;
    if changed.rows_affected() == 1 {
        return Ok(());
    }
    active_service(tx, backend, tenant, service_id).await?;
    let found = sqlx::query(exists)
        .bind(id)
        .bind(service_id)
        .fetch_optional(tx.conn())
        .await?;
    let what = singular(kind);
    Err(match found {
        Some(_) => CsError::Forbidden(format!(
            "{what} {id} of service {service_id} is already completed"
        )),
        None => CsError::NotFound(format!("service {service_id} has no {what} {id}")),
    })
}

/// `POST /services/{id}/states/{state_id}/end`.
pub(crate) async fn complete_state(
    db: &Db,
    tenant: &str,
    service_id: i64,
    state_id: i64,
    body: Map<String, Value>,
) -> Result<(), CsError> {
    let event = Event::parse(body, END, "a State End Event")?;
    let now = now_ms();
    let completed = event.stored(db, tenant, Kind::States, now).await?;
    let mut tx = db.write().await?;
    lock_service(&mut tx, db.backend(), tenant, service_id).await?;
    complete_child(
        &mut tx,
        db.backend(),
        tenant,
        Kind::States,
        service_id,
        state_id,
        &completed,
        now,
    )
    .await?;
    tx.commit().await
}

/// `POST /services/{id}/states/transition` (seed 001): completes the
/// `from` state and starts the `to` state in one transaction; the top-level
/// fields apply to both. The new state's id.
pub(crate) async fn transition(
    db: &Db,
    tenant: &str,
    service_id: i64,
    mut body: Map<String, Value>,
) -> Result<i64, CsError> {
    let hash = |body: &mut Map<String, Value>, name: &str| match body.remove(name) {
        Some(Value::Object(map)) => Ok(map),
        Some(_) => Err(CsError::BadRequest(format!(
            "{name} must be a hash (a JSON object)"
        ))),
        None => Err(CsError::BadRequest(format!("{name} is mandatory"))),
    };
    let from = hash(&mut body, "from")?;
    let to = hash(&mut body, "to")?;
    let common = Event::parse(body, &[], "a State Transition Event")?;
    let mut from = Event::parse(from, TRANSITION_FROM, "the from hash")?;
    let mut to = Event::parse(to, TRANSITION_TO, "the to hash")?;
    let from_id = from
        .take("state_id")
        .and_then(|v| v.as_i64())
        .ok_or_else(|| CsError::BadRequest("from.state_id is mandatory".to_owned()))?;
    let state_type = to
        .take("state_type")
        .ok_or_else(|| CsError::BadRequest("to.state_type is mandatory".to_owned()))?;
    let est_duration = int_column(to.take("est_duration"));
    for event in [&mut from, &mut to] {
        for (name, value) in &common.fields {
            event
                .fields
                .entry(name.clone())
                .or_insert_with(|| value.clone());
        }
        event.extensions.extend(common.extensions.iter().cloned());
    }
    let now = now_ms();
    let completed = from.stored(db, tenant, Kind::States, now).await?;
    let started = to.stored(db, tenant, Kind::States, now).await?;
    let mut tx = db.write().await?;
    lock_service(&mut tx, db.backend(), tenant, service_id).await?;
    complete_child(
        &mut tx,
        db.backend(),
        tenant,
        Kind::States,
        service_id,
        from_id,
        &completed,
        now,
    )
    .await?;
    let state_id = insert_state(
        &mut tx,
        db.backend(),
        tenant,
        service_id,
        &state_type,
        Some(from_id),
        est_duration,
        &started,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(state_id)
}

/// `POST /services/{id}/tasks/start`: the new task's id. A `state_id`
/// must name a state of the service.
pub(crate) async fn start_task(
    db: &Db,
    tenant: &str,
    service_id: i64,
    body: Map<String, Value>,
) -> Result<i64, CsError> {
    let mut event = Event::parse(body, TASK_START, "a Task Start Event")?;
    let task_type = event
        .take("task_type")
        .ok_or_else(|| CsError::BadRequest("task_type is mandatory".to_owned()))?;
    let state_id = int_column(event.take("state_id"));
    let est_duration = int_column(event.take("est_duration"));
    let now = now_ms();
    let started = event.stored(db, tenant, Kind::Tasks, now).await?;
    let mut tx = db.write().await?;
    active_service(&mut tx, db.backend(), tenant, service_id).await?;
    if let Some(state_id) = state_id {
        let found = sqlx::query("SELECT 1 FROM cs_states WHERE state_id = $1 AND service_id = $2")
            .bind(state_id)
            .bind(service_id)
            .fetch_optional(tx.conn())
            .await?;
        if found.is_none() {
            return Err(CsError::NotFound(format!(
                "service {service_id} has no state {state_id}"
            )));
        }
    }
    let row = sqlx::query(
        "INSERT INTO cs_tasks (service_id, state_id, task_type, est_duration, started, started_ms) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING task_id",
    )
    .bind(service_id)
    .bind(state_id)
    .bind(task_type.to_string())
    .bind(est_duration)
    .bind(started)
    .bind(now)
    .fetch_one(tx.conn())
    .await?;
    let task_id: i64 = row.try_get(0)?;
    tx.commit().await?;
    Ok(task_id)
}

/// `POST /services/{id}/tasks/{task_id}/end`.
pub(crate) async fn complete_task(
    db: &Db,
    tenant: &str,
    service_id: i64,
    task_id: i64,
    body: Map<String, Value>,
) -> Result<(), CsError> {
    let event = Event::parse(body, END, "a Task End Event")?;
    let now = now_ms();
    let completed = event.stored(db, tenant, Kind::Tasks, now).await?;
    let mut tx = db.write().await?;
    lock_service(&mut tx, db.backend(), tenant, service_id).await?;
    complete_child(
        &mut tx,
        db.backend(),
        tenant,
        Kind::Tasks,
        service_id,
        task_id,
        &completed,
        now,
    )
    .await?;
    tx.commit().await
}

// ---- reading ----

/// A stored event as shown: its fields and the extensions the view names.
fn show_event(stored: &str, view: &View) -> Result<Value, CsError> {
    let stored = parse_json(stored, "event")?;
    let mut shown = match stored.get("fields") {
        Some(Value::Object(fields)) => fields.clone(),
        _ => Map::new(),
    };
    if let Some(Value::Object(extensions)) = stored.get("extensions") {
        for (name, value) in extensions {
            if view.extensions.iter().any(|e| e.eq_ignore_ascii_case(name)) {
                shown.insert(name.clone(), value.clone());
            }
        }
    }
    Ok(Value::Object(shown))
}

/// A JSON column back to its value.
fn from_column(text: Option<String>) -> Result<Option<Value>, CsError> {
    text.map(|t| parse_json(&t, "column")).transpose()
}

/// Puts `value` under `name` when there is one.
fn put(object: &mut Map<String, Value>, name: &str, value: Option<Value>) {
    if let Some(value) = value {
        object.insert(name.to_owned(), value);
    }
}

const SERVICE_COLUMNS: &str =
    "service_id, customer_id, contact_key, service_type, est_duration, started, completed";

async fn show_service(
    conn: &mut AnyConnection,
    row: &store::sqlx::any::AnyRow,
    view: &View,
) -> Result<Value, CsError> {
    let service_id: i64 = row.try_get(0)?;
    let mut service = Map::new();
    service.insert("service_id".to_owned(), json!(service_id));
    put(
        &mut service,
        "customer_id",
        row.try_get::<Option<String>, _>(1)?.map(Value::String),
    );
    put(
        &mut service,
        "contact_key",
        row.try_get::<Option<String>, _>(2)?.map(Value::String),
    );
    put(&mut service, "service_type", from_column(row.try_get(3)?)?);
    put(
        &mut service,
        "est_duration",
        row.try_get::<Option<i64>, _>(4)?.map(Value::from),
    );
    service.insert(
        "started".to_owned(),
        show_event(&row.try_get::<String, _>(5)?, view)?,
    );
    let completed: Option<String> = row.try_get(6)?;
    if let Some(completed) = &completed {
        service.insert("completed".to_owned(), show_event(completed, view)?);
    }
    if view.active_states || view.completed_states {
        let states = load_states(conn, service_id, None, view).await?;
        for (name, wanted, done) in [
            ("active_states", view.active_states, false),
            ("completed_states", view.completed_states, true),
        ] {
            if wanted {
                let list = states
                    .iter()
                    .filter(|(completed, _)| *completed == done)
                    .map(|(_, s)| s.clone())
                    .collect();
                service.insert(name.to_owned(), Value::Array(list));
            }
        }
    }
    add_tasks(conn, &mut service, service_id, None, view).await?;
    Ok(Value::Object(service))
}

/// Adds `active_tasks` / `completed_tasks` (of the service, or of one of its
/// states) as the view asks.
async fn add_tasks(
    conn: &mut AnyConnection,
    into: &mut Map<String, Value>,
    service_id: i64,
    state_id: Option<i64>,
    view: &View,
) -> Result<(), CsError> {
    if !(view.active_tasks || view.completed_tasks) {
        return Ok(());
    }
    let rows = sqlx::query(
        "SELECT task_id, task_type, state_id, est_duration, started, completed FROM cs_tasks \
         WHERE service_id = $1 ORDER BY task_id",
    )
    .bind(service_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut active = Vec::new();
    let mut completed = Vec::new();
    for row in &rows {
        let task_state: Option<i64> = row.try_get(2)?;
        if state_id.is_some() && task_state != state_id {
            continue;
        }
        let (done, task) = show_task(row, view)?;
        if done {
            completed.push(task)
        } else {
            active.push(task)
        }
    }
    if view.active_tasks {
        into.insert("active_tasks".to_owned(), Value::Array(active));
    }
    if view.completed_tasks {
        into.insert("completed_tasks".to_owned(), Value::Array(completed));
    }
    Ok(())
}

fn show_task(row: &store::sqlx::any::AnyRow, view: &View) -> Result<(bool, Value), CsError> {
    let mut task = Map::new();
    task.insert("task_id".to_owned(), json!(row.try_get::<i64, _>(0)?));
    put(&mut task, "task_type", from_column(row.try_get(1)?)?);
    put(
        &mut task,
        "state_id",
        row.try_get::<Option<i64>, _>(2)?.map(Value::from),
    );
    put(
        &mut task,
        "est_duration",
        row.try_get::<Option<i64>, _>(3)?.map(Value::from),
    );
    task.insert(
        "started".to_owned(),
        show_event(&row.try_get::<String, _>(4)?, view)?,
    );
    let completed: Option<String> = row.try_get(5)?;
    if let Some(completed) = &completed {
        task.insert("completed".to_owned(), show_event(completed, view)?);
    }
    Ok((completed.is_some(), Value::Object(task)))
}

/// The states of a service (or the one `only`), each with whether it is
/// completed, filtered by the view's state types, tasks added as asked.
async fn load_states(
    conn: &mut AnyConnection,
    service_id: i64,
    only: Option<i64>,
    view: &View,
) -> Result<Vec<(bool, Value)>, CsError> {
    let rows =
        match only {
            Some(state_id) => sqlx::query(
                "SELECT state_id, state_type, previous_state_id, est_duration, started, completed \
                 FROM cs_states WHERE service_id = $1 AND state_id = $2",
            )
            .bind(service_id)
            .bind(state_id)
            .fetch_all(&mut *conn)
            .await?,
            None => sqlx::query(
                "SELECT state_id, state_type, previous_state_id, est_duration, started, completed \
                 FROM cs_states WHERE service_id = $1 ORDER BY state_id",
            )
            .bind(service_id)
            .fetch_all(&mut *conn)
            .await?,
        };
    let mut states = Vec::with_capacity(rows.len());
    for row in &rows {
        let state_id: i64 = row.try_get(0)?;
        let state_type = from_column(row.try_get(1)?)?;
        if !view.state_types.is_empty() {
            let text = match &state_type {
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => String::new(),
            };
            if !view.state_types.contains(&text) {
                continue;
            }
        }
        let mut state = Map::new();
        state.insert("state_id".to_owned(), json!(state_id));
        put(&mut state, "state_type", state_type);
        put(
            &mut state,
            "previous_state_id",
            row.try_get::<Option<i64>, _>(2)?.map(Value::from),
        );
        put(
            &mut state,
            "est_duration",
            row.try_get::<Option<i64>, _>(3)?.map(Value::from),
        );
        state.insert(
            "started".to_owned(),
            show_event(&row.try_get::<String, _>(4)?, view)?,
        );
        let completed: Option<String> = row.try_get(5)?;
        if let Some(completed) = &completed {
            state.insert("completed".to_owned(), show_event(completed, view)?);
        }
        add_tasks(conn, &mut state, service_id, Some(state_id), view).await?;
        states.push((completed.is_some(), Value::Object(state)));
    }
    Ok(states)
}

/// Checks that the service exists in the tenant.
async fn require_service(
    conn: &mut AnyConnection,
    tenant: &str,
    service_id: i64,
) -> Result<(), CsError> {
    sqlx::query("SELECT 1 FROM cs_services WHERE service_id = $1 AND tenant = $2")
        .bind(service_id)
        .bind(tenant)
        .fetch_optional(conn)
        .await?
        .map(|_| ())
        .ok_or_else(|| no_service(service_id))
}

/// `GET /services/{id}`.
pub(crate) async fn get_service(
    db: &Db,
    tenant: &str,
    service_id: i64,
    view: &View,
) -> Result<Value, CsError> {
    let mut conn = db.pool().acquire().await?;
    let sql =
        format!("SELECT {SERVICE_COLUMNS} FROM cs_services WHERE service_id = $1 AND tenant = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(service_id)
        .bind(tenant)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| no_service(service_id))?;
    show_service(&mut conn, &row, view).await
}

/// `GET /customers/{customer_id}/services[/active|/completed]` and
/// `GET /services/anonymous/{contact_key}[/active|/completed]` (anonymous:
/// not associated with a customer yet), in id order.
pub(crate) async fn list_services(
    db: &Db,
    tenant: &str,
    owner: Owner<'_>,
    filter: Filter,
    view: &View,
) -> Result<Vec<Value>, CsError> {
    let (condition, key) = match owner {
        Owner::Customer(id) => ("customer_id = $2", id),
        Owner::Contact(key) => ("contact_key = $2 AND customer_id IS NULL", key),
    };
    let state = match filter {
        Filter::All => "",
        Filter::Active => " AND completed_ms IS NULL",
        Filter::Completed => " AND completed_ms IS NOT NULL",
    };
    let sql = format!(
        "SELECT {SERVICE_COLUMNS} FROM cs_services WHERE tenant = $1 AND {condition}{state} ORDER BY service_id"
    );
    let mut conn = db.pool().acquire().await?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant)
        .bind(key)
        .fetch_all(&mut *conn)
        .await?;
    let mut services = Vec::with_capacity(rows.len());
    for row in &rows {
        services.push(show_service(&mut conn, row, view).await?);
    }
    Ok(services)
}

/// `GET /services/{id}/states[/active|/completed]`: the states, each with
/// its `service_id`.
pub(crate) async fn list_states(
    db: &Db,
    tenant: &str,
    service_id: i64,
    filter: Filter,
    view: &View,
) -> Result<Vec<Value>, CsError> {
    let mut conn = db.pool().acquire().await?;
    require_service(&mut conn, tenant, service_id).await?;
    let states = load_states(&mut conn, service_id, None, view).await?;
    Ok(states
        .into_iter()
        .filter(|(completed, _)| filter.keeps(*completed))
        .map(|(_, state)| with_service_id(state, service_id))
        .collect())
}

/// `GET /services/{id}/states/{state_id}` (also under `/service/`, the form
/// of the `Location` seed 001 answers).
pub(crate) async fn get_state(
    db: &Db,
    tenant: &str,
    service_id: i64,
    state_id: i64,
    view: &View,
) -> Result<Value, CsError> {
    let mut conn = db.pool().acquire().await?;
    require_service(&mut conn, tenant, service_id).await?;
    let (_, state) = load_states(
        &mut conn,
        service_id,
        Some(state_id),
        &View {
            state_types: Vec::new(),
            ..view.clone()
        },
    )
    .await?
    .pop()
    .ok_or_else(|| CsError::NotFound(format!("service {service_id} has no state {state_id}")))?;
    Ok(with_service_id(state, service_id))
}

/// `GET /services/{id}/tasks/{task_id}`.
pub(crate) async fn get_task(
    db: &Db,
    tenant: &str,
    service_id: i64,
    task_id: i64,
    view: &View,
) -> Result<Value, CsError> {
    let mut conn = db.pool().acquire().await?;
    require_service(&mut conn, tenant, service_id).await?;
    let row = sqlx::query(
        "SELECT task_id, task_type, state_id, est_duration, started, completed FROM cs_tasks \
         WHERE task_id = $1 AND service_id = $2",
    )
    .bind(task_id)
    .bind(service_id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| CsError::NotFound(format!("service {service_id} has no task {task_id}")))?;
    let (_, task) = show_task(&row, view)?;
    Ok(with_service_id(task, service_id))
}

/// Top-level states and tasks name their service (nested ones do not).
fn with_service_id(value: Value, service_id: i64) -> Value {
    match value {
        Value::Object(fields) => {
            let mut out = Map::new();
            out.insert("service_id".to_owned(), json!(service_id));
            out.extend(fields);
            Value::Object(out)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn events_keep_fields_and_set_extensions_apart() {
        // The `from` hash of seed 001's first example.
        let event = Event::parse(
            object(json!({
                "state_id": 1001, "disposition": 1, "disposition_desc": "SUCCESS",
                "Feedback": {"FeedbackType": "survey", "rating": 7},
                "Satisfaction": [{"rating": 2}, {"rating": 8}]
            })),
            TRANSITION_FROM,
            "the from hash",
        )
        .unwrap();
        assert_eq!(event.fields.len(), 3);
        let names: Vec<&str> = event.extensions.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["Feedback", "Satisfaction"]);
    }

    #[test]
    fn event_fields_are_checked() {
        for (body, needle) in [
            (
                json!({"session_id": "x".repeat(33)}),
                "session_id must be a string of at most 32",
            ),
            (
                json!({"interaction_id": 5}),
                "interaction_id must be a string",
            ),
            (
                json!({"application_id": "A"}),
                "application_id must be an integer",
            ),
            (json!({"timestamp": "noon"}), "ISO 8601"),
            (json!({"media_type": true}), "integer or a string"),
            (json!({"colour": "red"}), "unknown field \"colour\""),
        ] {
            let error = Event::parse(object(body), &[], "an event").unwrap_err();
            assert!(error.to_string().contains(needle), "{error}");
        }
        let ok = Event::parse(
            object(json!({"timestamp": "2009-05-07T12:05:20.157", "media_type": "voice", "resource_id": 20})),
            &[],
            "an event",
        )
        .unwrap();
        assert_eq!(ok.fields.len(), 3);
    }

    #[test]
    fn path_ids_are_positive_integers() {
        assert_eq!(parse_id("735692", "service_id").unwrap(), 735_692);
        assert!(parse_id("0", "service_id").is_err());
        assert!(parse_id("abc", "service_id").is_err());
    }
}

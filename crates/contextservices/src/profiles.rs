//! Customer profiles: create, read, replace, merge, identify, and loading
//! many at once; each with its extension records and its entries in the
//! identification index.
//!
//! A profile body (ors-dialect.md §6, Create Customer Profile) is one JSON
//! object: `customer_id`, the attributes at top level (scalars, or arrays
//! of scalars for multi-valued attributes, the first being the primary
//! one), and the extensions by name (an object, or an array of objects for
//! a multi-valued extension). The value's shape tells them apart: an object
//! or an array of objects is an extension and needs its schema (else 403).
//!
//! Every write of a profile first writes the profile's row (which orders
//! it after any identification key being created, see `metadata`), then
//! reads the keys and rewrites the profile's index entries in the same
//! transaction; a unique key is enforced by a unique index, so concurrent
//! writers cannot both take one value.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{json, Map, Value};
use store::sqlx::{self, AnyConnection, AssertSqlSafe, Row};

use crate::db::{load_keys, parse_json, singular, Db};
use crate::error::{is_unique_violation, CsError};
use crate::identity::{self, Criterion, NoKey, Probe};
use crate::schema::{ExtensionSchema, IdKey, Kind};
use crate::time::now_ms;

/// Longest customer id: "Limited to 16 characters" (public profile pages).
pub(crate) const MAX_CUSTOMER_ID_CHARS: usize = 16;

/// Most customers one identification answers (in `customer_id` order).
pub(crate) const MAX_IDENTIFIED: i64 = 1000;

/// Rows per multi-row `INSERT` when loading profiles in bulk (5 parameters
/// each, well under SQLite's and PostgreSQL's parameter limits).
const BULK_ROWS: usize = 400;

/// Records by lowercase extension name.
type Records = HashMap<String, Vec<Map<String, Value>>>;

/// A profile body, taken apart.
struct ProfileInput {
    customer_id: Option<String>,
    attributes: Map<String, Value>,
    /// Extension values by the name given, not yet checked.
    extensions: Vec<(String, Value)>,
}

/// The records of one extension; `None` removes the extension (update).
type Checked = (Arc<ExtensionSchema>, Option<Vec<Map<String, Value>>>);

/// A profile's extensions, checked against their schemas.
struct CheckedExtensions(Vec<Checked>);

/// Checks a customer id: 1 to 16 characters that need no escaping in a
/// URL path (the id goes into `Location` headers as it is).
pub(crate) fn check_customer_id(id: &str) -> Result<(), CsError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "-._~:@!$&'()*+,;=".contains(c);
    if id.is_empty() || id.chars().count() > MAX_CUSTOMER_ID_CHARS || !id.chars().all(allowed) {
        return Err(CsError::BadRequest(format!(
            "invalid customer_id {id:?}: 1 to {MAX_CUSTOMER_ID_CHARS} letters, digits or -._~:@!$&'()*+,;="
        )));
    }
    Ok(())
}

/// Whether a value is an extension's (an object, or an array of objects)
/// rather than an attribute's.
fn is_extension_value(value: &Value) -> bool {
    match value {
        Value::Object(_) => true,
        Value::Array(items) => !items.is_empty() && items.iter().all(Value::is_object),
        _ => false,
    }
}

fn parse_profile(body: Map<String, Value>) -> Result<ProfileInput, CsError> {
    let mut input = ProfileInput {
        customer_id: None,
        attributes: Map::new(),
        extensions: Vec::new(),
    };
    for (name, value) in body {
        if name == "customer_id" {
            let Value::String(id) = value else {
                return Err(CsError::BadRequest(
                    "customer_id must be a string".to_owned(),
                ));
            };
            check_customer_id(&id)?;
            input.customer_id = Some(id);
        } else if is_extension_value(&value) {
            input.extensions.push((name, value));
        } else {
            if name.is_empty() || name.contains('.') || name.chars().any(char::is_control) {
                return Err(CsError::BadRequest(format!(
                    "invalid attribute name {name:?} (names cannot contain '.')"
                )));
            }
            match &value {
                Value::Array(items) if items.iter().any(|v| v.is_object() || v.is_array()) => {
                    return Err(CsError::BadRequest(format!(
                        "attribute {name}: an array of values holds scalars only"
                    )))
                }
                _ => {}
            }
            input.attributes.insert(name, value);
        }
    }
    Ok(input)
}

/// Settles the `null` members of a body: one naming a profile extension
/// means "no records" (on update: remove the extension), any other is an
/// absent attribute.
async fn settle_nulls(db: &Db, tenant: &str, input: &mut ProfileInput) -> Result<(), CsError> {
    let nulls: Vec<String> = input
        .attributes
        .iter()
        .filter(|(_, v)| v.is_null())
        .map(|(k, _)| k.clone())
        .collect();
    for name in nulls {
        input.attributes.remove(&name);
        if db.schema(tenant, Kind::Profiles, &name).await?.is_some() {
            input.extensions.push((name, Value::Null));
        }
    }
    Ok(())
}

/// Checks each extension value against its schema; `null` (allowed on
/// update) removes the extension.
async fn check_extensions(
    db: &Db,
    tenant: &str,
    extensions: &[(String, Value)],
) -> Result<CheckedExtensions, CsError> {
    let mut checked = Vec::new();
    for (name, value) in extensions {
        let schema = db.require_schema(tenant, Kind::Profiles, name).await?;
        if checked.iter().any(|(s, _): &Checked| s.name == schema.name) {
            return Err(CsError::BadRequest(format!(
                "extension {name} is given twice"
            )));
        }
        let records = match value {
            Value::Null => None,
            value => Some(schema.records(value).map_err(CsError::BadRequest)?),
        };
        checked.push((schema, records));
    }
    Ok(CheckedExtensions(checked))
}

/// `POST /profiles`: creates a profile; its customer id.
pub(crate) async fn create(
    db: &Db,
    tenant: &str,
    body: Map<String, Value>,
) -> Result<String, CsError> {
    let mut input = parse_profile(body)?;
    settle_nulls(db, tenant, &mut input).await?;
    let extensions = check_extensions(db, tenant, &input.extensions).await?;
    // "Creates a Customer Profile and returns the ID created": an id is
    // made when the body has none.
    let customer_id = match input.customer_id {
        Some(id) => id,
        None => store::new_id()[..MAX_CUSTOMER_ID_CHARS].to_owned(),
    };
    let mut records = Records::new();
    for (schema, list) in extensions.0 {
        records.insert(schema.name.to_ascii_lowercase(), list.unwrap_or_default());
    }
    let mut tx = db.write().await?;
    let now = now_ms();
    let inserted = sqlx::query(
        "INSERT INTO cs_profiles (tenant, customer_id, attributes, created_ms, updated_ms) \
         VALUES ($1, $2, $3, $4, $4)",
    )
    .bind(tenant)
    .bind(&customer_id)
    .bind(Value::Object(input.attributes.clone()).to_string())
    .bind(now)
    .execute(tx.conn())
    .await;
    match inserted {
        Err(e) if is_unique_violation(&e) => {
            return Err(CsError::Forbidden(format!(
                "a profile with customer_id {customer_id:?} already exists"
            )))
        }
        Err(e) => return Err(e.into()),
        Ok(_) => {}
    }
    for (extension, list) in &records {
        insert_records(tx.conn(), tenant, &customer_id, extension, list).await?;
    }
    let keys = load_keys(tx.conn(), tenant).await?;
    index(
        tx.conn(),
        tenant,
        &customer_id,
        &input.attributes,
        &records,
        &keys,
        false,
    )
    .await?;
    tx.commit().await?;
    Ok(customer_id)
}

/// `GET /profiles/{customer_id}`: the profile with the extensions named.
pub(crate) async fn get(
    db: &Db,
    tenant: &str,
    customer_id: &str,
    extensions: &[String],
) -> Result<Value, CsError> {
    let schemas = requested_schemas(db, tenant, extensions).await?;
    let mut conn = db.pool().acquire().await?;
    let row =
        sqlx::query("SELECT attributes FROM cs_profiles WHERE tenant = $1 AND customer_id = $2")
            .bind(tenant)
            .bind(customer_id)
            .fetch_optional(&mut *conn)
            .await?
            .ok_or_else(|| no_profile(customer_id))?;
    let attributes = parse_object(&row.try_get::<String, _>(0)?, "profile attributes")?;
    let mut profile = render(customer_id, Some(attributes));
    if !schemas.is_empty() {
        let records = load_records(&mut conn, tenant, customer_id).await?;
        add_extensions(&mut profile, &schemas, &records);
    }
    Ok(Value::Object(profile))
}

/// `PUT /profiles/{customer_id}`: replaces the attributes, and each
/// extension the body names (`null` removes one).
pub(crate) async fn update(
    db: &Db,
    tenant: &str,
    customer_id: &str,
    body: Map<String, Value>,
) -> Result<(), CsError> {
    let mut input = parse_profile(body)?;
    settle_nulls(db, tenant, &mut input).await?;
    if input
        .customer_id
        .as_deref()
        .is_some_and(|id| id != customer_id)
    {
        return Err(CsError::BadRequest(
            "the body's customer_id differs from the one in the path".to_owned(),
        ));
    }
    let extensions = check_extensions(db, tenant, &input.extensions).await?;
    let mut tx = db.write().await?;
    let updated = sqlx::query(
        "UPDATE cs_profiles SET attributes = $3, updated_ms = $4 WHERE tenant = $1 AND customer_id = $2",
    )
    .bind(tenant)
    .bind(customer_id)
    .bind(Value::Object(input.attributes.clone()).to_string())
    .bind(now_ms())
    .execute(tx.conn())
    .await?;
    if updated.rows_affected() == 0 {
        return Err(no_profile(customer_id));
    }
    for (schema, list) in &extensions.0 {
        let extension = schema.name.to_ascii_lowercase();
        delete_records(tx.conn(), tenant, customer_id, &extension).await?;
        if let Some(list) = list {
            insert_records(tx.conn(), tenant, customer_id, &extension, list).await?;
        }
    }
    let records = load_records(tx.conn(), tenant, customer_id).await?;
    let keys = load_keys(tx.conn(), tenant).await?;
    index(
        tx.conn(),
        tenant,
        customer_id,
        &input.attributes,
        &records,
        &keys,
        true,
    )
    .await?;
    tx.commit().await
}

/// The optional body of a merge (public Merge Profiles page): who asked
/// and why (logged), and whether conflicts may be resolved.
struct MergeRequest {
    force: bool,
    agent_id: Option<Value>,
    reason: Option<String>,
    description: Option<String>,
}

fn parse_merge(body: &Map<String, Value>) -> Result<MergeRequest, CsError> {
    let text = |name: &str| match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(CsError::BadRequest(format!("{name} must be a string"))),
    };
    let force = match body.get("force_merge") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => true,
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => false,
        Some(_) => {
            return Err(CsError::BadRequest(
                "force_merge must be true or false".to_owned(),
            ))
        }
    };
    let agent_id = match body.get("agent_id") {
        None | Some(Value::Null) => None,
        Some(v @ (Value::String(_) | Value::Number(_))) => Some(v.clone()),
        Some(_) => {
            return Err(CsError::BadRequest(
                "agent_id must be a string or a number".to_owned(),
            ))
        }
    };
    for key in body.keys() {
        if !matches!(
            key.as_str(),
            "agent_id" | "force_merge" | "reason" | "description"
        ) {
            return Err(CsError::BadRequest(format!(
                "unknown field {key:?} in a merge request"
            )));
        }
    }
    Ok(MergeRequest {
        force,
        agent_id,
        reason: text("reason")?,
        description: text("description")?,
    })
}

/// `PUT /profiles/{target}/merge/{source}`: folds the source profile into
/// the target and deletes the source. The target keeps its attributes and
/// single-valued extensions and gains those only the source has; the
/// source's multi-valued records are added (but for those a unique
/// attribute already gives the target); the source's services move to the
/// target. Without `force_merge`, attributes or single-valued extensions
/// both profiles have with different values refuse the merge (403).
pub(crate) async fn merge(
    db: &Db,
    tenant: &str,
    target: &str,
    source: &str,
    body: Map<String, Value>,
) -> Result<(), CsError> {
    let request = parse_merge(&body)?;
    if target == source {
        return Err(CsError::BadRequest(
            "a profile cannot be merged into itself".to_owned(),
        ));
    }
    let mut tx = db.write().await?;
    let now = now_ms();
    // Lock both rows in one order, so that two merges cannot deadlock.
    let (first, second) = if target < source {
        (target, source)
    } else {
        (source, target)
    };
    let mut attributes = HashMap::new();
    for id in [first, second] {
        let row = sqlx::query(
            "UPDATE cs_profiles SET updated_ms = $3 WHERE tenant = $1 AND customer_id = $2 RETURNING attributes",
        )
        .bind(tenant)
        .bind(id)
        .bind(now)
        .fetch_optional(tx.conn())
        .await?
        .ok_or_else(|| no_profile(id))?;
        attributes.insert(
            id,
            parse_object(&row.try_get::<String, _>(0)?, "profile attributes")?,
        );
    }
    let mut merged = attributes.remove(target).unwrap_or_default();
    let source_attributes = attributes.remove(source).unwrap_or_default();
    for (name, value) in source_attributes {
        match merged.get(&name) {
            None => {
                merged.insert(name, value);
            }
            Some(existing) if *existing == value || request.force => {}
            Some(_) => {
                return Err(CsError::Forbidden(format!(
                    "the profiles differ on attribute {name:?}: merge with force_merge to keep the target's"
                )))
            }
        }
    }
    let mut records = load_records(tx.conn(), tenant, target).await?;
    let source_records = load_records(tx.conn(), tenant, source).await?;
    let mut changed = Vec::new();
    for (extension, list) in source_records {
        let schema = db
            .require_schema(tenant, Kind::Profiles, &extension)
            .await?;
        let mine = records.entry(extension.clone()).or_default();
        if schema.multi_valued {
            let before = mine.len();
            for record in list {
                let mut candidate = mine.clone();
                candidate.push(record);
                if schema.check_unique(&candidate).is_ok() {
                    *mine = candidate;
                }
            }
            if mine.len() != before {
                changed.push(extension);
            }
        } else if mine.is_empty() {
            *mine = list;
            changed.push(extension);
        } else if *mine != list && !request.force {
            return Err(CsError::Forbidden(format!(
                "the profiles differ on extension {}: merge with force_merge to keep the target's",
                schema.name
            )));
        }
    }
    sqlx::query("UPDATE cs_services SET customer_id = $3 WHERE tenant = $1 AND customer_id = $2")
        .bind(tenant)
        .bind(source)
        .bind(target)
        .execute(tx.conn())
        .await?;
    delete_profile(tx.conn(), tenant, source).await?;
    sqlx::query("UPDATE cs_profiles SET attributes = $3 WHERE tenant = $1 AND customer_id = $2")
        .bind(tenant)
        .bind(target)
        .bind(Value::Object(merged.clone()).to_string())
        .execute(tx.conn())
        .await?;
    for extension in &changed {
        delete_records(tx.conn(), tenant, target, extension).await?;
        let list = records
            .get(extension)
            .map(Vec::as_slice)
            .unwrap_or_default();
        insert_records(tx.conn(), tenant, target, extension, list).await?;
    }
    let keys = load_keys(tx.conn(), tenant).await?;
    index(tx.conn(), tenant, target, &merged, &records, &keys, true).await?;
    tx.commit().await?;
    tracing::info!(
        tenant,
        target,
        source,
        force = request.force,
        agent_id = ?request.agent_id,
        reason = request.reason.as_deref().unwrap_or(""),
        description = request.description.as_deref().unwrap_or(""),
        "profiles merged"
    );
    Ok(())
}

/// An identification request (`GET /profiles?…`).
#[derive(Debug)]
pub(crate) struct IdentifyQuery {
    criteria: Vec<Criterion>,
    id_key: Option<String>,
    include_profile: bool,
    /// `include_extensions=always` (the default) rather than `unique`.
    extensions_always: bool,
    extensions: Vec<String>,
}

impl IdentifyQuery {
    /// Reads the query parameters: `include_profile` (`yes`/`no`),
    /// `include_extensions` (`always`/`unique`), `extensions` (comma list),
    /// `id_key`; every other parameter is an attribute to match.
    pub(crate) fn parse(pairs: &[(String, String)]) -> Result<IdentifyQuery, CsError> {
        let mut query = IdentifyQuery {
            criteria: Vec::new(),
            id_key: None,
            include_profile: false,
            extensions_always: true,
            extensions: Vec::new(),
        };
        for (name, value) in pairs {
            match name.as_str() {
                "include_profile" => {
                    query.include_profile = match value.to_ascii_lowercase().as_str() {
                        "yes" | "true" => true,
                        "no" | "false" => false,
                        _ => {
                            return Err(CsError::BadRequest(format!(
                                "include_profile must be yes or no, not {value:?}"
                            )))
                        }
                    }
                }
                "include_extensions" => {
                    query.extensions_always = match value.to_ascii_lowercase().as_str() {
                        "always" => true,
                        "unique" => false,
                        _ => {
                            return Err(CsError::BadRequest(format!(
                                "include_extensions must be always or unique, not {value:?}"
                            )))
                        }
                    }
                }
                "extensions" => {
                    query.extensions = value
                        .split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect();
                }
                "id_key" => query.id_key = Some(value.clone()),
                _ => {
                    let criterion = Criterion::parse(name, value);
                    if query
                        .criteria
                        .iter()
                        .any(|c| c.source == criterion.source && c.attribute == criterion.attribute)
                    {
                        return Err(CsError::BadRequest(format!(
                            "attribute {name} is given twice"
                        )));
                    }
                    query.criteria.push(criterion);
                }
            }
        }
        if query.criteria.is_empty() {
            return Err(CsError::BadRequest(
                "identification needs at least one attribute, e.g. ?PhoneNumber=5551234".to_owned(),
            ));
        }
        Ok(query)
    }
}

/// `GET /profiles?…`: the customers the query identifies, each as
/// `{"customer_id": …}` plus the profile's attributes with
/// `include_profile=yes` and the extensions named by `extensions` (always,
/// or with `include_extensions=unique` only when one customer matched).
pub(crate) async fn identify(
    db: &Db,
    tenant: &str,
    query: &IdentifyQuery,
) -> Result<Vec<Value>, CsError> {
    let keys = db.keys_cached(tenant).await?;
    if keys.is_empty() {
        return Err(CsError::Forbidden(
            "no identification key exists: create one with POST /metadata/identification-keys first"
                .to_owned(),
        ));
    }
    let (key, probe) =
        identity::choose(&keys, &query.criteria, query.id_key.as_deref()).map_err(|e| match e {
            NoKey::Unknown(name) => {
                CsError::BadRequest(format!("id_key {name:?} names no identification key"))
            }
            NoKey::NotCovered => CsError::BadRequest(format!(
                "no identification key{} starts with the attributes given ({})",
                query
                    .id_key
                    .as_deref()
                    .map(|k| format!(" {k:?}"))
                    .unwrap_or_default(),
                query
                    .criteria
                    .iter()
                    .map(|c| match key_source_name(c) {
                        Some(ext) => format!("{ext}.{}", c.attribute),
                        None => c.attribute.clone(),
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            NoKey::BadValue => CsError::BadRequest("an attribute value holds U+001F".to_owned()),
        })?;
    let schemas = requested_schemas(db, tenant, &query.extensions).await?;
    let mut conn = db.pool().acquire().await?;
    let (low, high) = match &probe {
        Probe::Exact(value) => (value.as_str(), None),
        Probe::Prefix { low, high } => (low.as_str(), Some(high.as_str())),
    };
    let sql = match (query.include_profile, high.is_some()) {
        (false, false) => {
            "SELECT customer_id FROM cs_identities WHERE tenant = $1 AND key_id = $2 AND value = $3 \
             ORDER BY customer_id LIMIT $4"
        }
        (false, true) => {
            "SELECT DISTINCT customer_id FROM cs_identities WHERE tenant = $1 AND key_id = $2 \
             AND value >= $3 AND value < $5 ORDER BY customer_id LIMIT $4"
        }
        (true, false) => {
            "SELECT p.customer_id, p.attributes FROM cs_profiles p WHERE p.tenant = $1 AND p.customer_id IN \
             (SELECT i.customer_id FROM cs_identities i WHERE i.tenant = $1 AND i.key_id = $2 AND i.value = $3) \
             ORDER BY p.customer_id LIMIT $4"
        }
        (true, true) => {
            "SELECT p.customer_id, p.attributes FROM cs_profiles p WHERE p.tenant = $1 AND p.customer_id IN \
             (SELECT i.customer_id FROM cs_identities i WHERE i.tenant = $1 AND i.key_id = $2 \
             AND i.value >= $3 AND i.value < $5) ORDER BY p.customer_id LIMIT $4"
        }
    };
    let mut statement = sqlx::query(sql)
        .bind(tenant)
        .bind(key.id)
        .bind(low)
        .bind(MAX_IDENTIFIED);
    if let Some(high) = high {
        statement = statement.bind(high);
    }
    let rows = statement.fetch_all(&mut *conn).await?;
    let with_extensions = !schemas.is_empty() && (query.extensions_always || rows.len() == 1);
    let mut found = Vec::with_capacity(rows.len());
    for row in &rows {
        let customer_id: String = row.try_get(0)?;
        let attributes = if query.include_profile {
            Some(parse_object(
                &row.try_get::<String, _>(1)?,
                "profile attributes",
            )?)
        } else {
            None
        };
        let mut profile = render(&customer_id, attributes);
        if with_extensions {
            let records = load_records(&mut conn, tenant, &customer_id).await?;
            add_extensions(&mut profile, &schemas, &records);
        }
        found.push(Value::Object(profile));
    }
    Ok(found)
}

fn key_source_name(criterion: &Criterion) -> Option<&str> {
    match &criterion.source {
        crate::schema::KeySource::Profile => None,
        crate::schema::KeySource::Extension(name) => Some(name),
    }
}

/// Loads profiles in bulk: each body as `POST /profiles` takes it (with
/// its `customer_id`), all in one transaction with multi-row inserts.
pub(crate) async fn import(
    db: &Db,
    tenant: &str,
    bodies: Vec<Map<String, Value>>,
) -> Result<usize, CsError> {
    struct Prepared {
        customer_id: String,
        attributes: Map<String, Value>,
        records: Records,
    }
    let mut prepared = Vec::with_capacity(bodies.len());
    for body in bodies {
        let mut input = parse_profile(body)?;
        settle_nulls(db, tenant, &mut input).await?;
        let customer_id = input.customer_id.ok_or_else(|| {
            CsError::BadRequest("each imported profile needs a customer_id".to_owned())
        })?;
        let extensions = check_extensions(db, tenant, &input.extensions).await?;
        let mut records = Records::new();
        for (schema, list) in extensions.0 {
            records.insert(schema.name.to_ascii_lowercase(), list.unwrap_or_default());
        }
        prepared.push(Prepared {
            customer_id,
            attributes: input.attributes,
            records,
        });
    }
    let now = now_ms();
    let profile_rows: Vec<[Param; 5]> = prepared
        .iter()
        .map(|p| {
            [
                Param::Text(tenant.to_owned()),
                Param::Text(p.customer_id.clone()),
                Param::Text(Value::Object(p.attributes.clone()).to_string()),
                Param::Int(now),
                Param::Int(now),
            ]
        })
        .collect();
    let conflict = |what: &str| {
        CsError::Forbidden(format!(
            "{what} already exists, or is given twice, in this load"
        ))
    };
    let mut tx = db.write().await?;
    // The profile rows first, then the keys (see the module notes).
    bulk_insert(
        tx.conn(),
        "cs_profiles (tenant, customer_id, attributes, created_ms, updated_ms)",
        &profile_rows,
    )
    .await
    .map_err(|e| {
        if is_unique_violation(&e) {
            conflict("a customer_id")
        } else {
            e.into()
        }
    })?;
    let keys = load_keys(tx.conn(), tenant).await?;
    let mut record_rows = Vec::new();
    let mut identity_rows = Vec::new();
    for p in &prepared {
        for (extension, list) in &p.records {
            for (seq, record) in list.iter().enumerate() {
                record_rows.push([
                    Param::Text(tenant.to_owned()),
                    Param::Text(p.customer_id.clone()),
                    Param::Text(extension.clone()),
                    Param::Int(seq as i64),
                    Param::Text(Value::Object(record.clone()).to_string()),
                ]);
            }
        }
        for key in &keys {
            for value in identity::key_values(key, &p.attributes, &p.records) {
                identity_rows.push([
                    Param::Text(tenant.to_owned()),
                    Param::Int(key.id),
                    Param::Text(value),
                    Param::Text(p.customer_id.clone()),
                    Param::Int(i64::from(key.unique)),
                ]);
            }
        }
    }
    bulk_insert(
        tx.conn(),
        "cs_profile_extensions (tenant, customer_id, extension, seq, record)",
        &record_rows,
    )
    .await?;
    bulk_insert(
        tx.conn(),
        "cs_identities (tenant, key_id, value, customer_id, uniq)",
        &identity_rows,
    )
    .await
    .map_err(|e| {
        if is_unique_violation(&e) {
            conflict("a value of a unique identification key")
        } else {
            e.into()
        }
    })?;
    tx.commit().await?;
    Ok(prepared.len())
}

/// A parameter of a bulk insert.
enum Param {
    Text(String),
    Int(i64),
}

/// `INSERT INTO {table} VALUES (…), (…), …` for `rows`, in chunks.
async fn bulk_insert(
    conn: &mut AnyConnection,
    table: &str,
    rows: &[[Param; 5]],
) -> Result<(), sqlx::Error> {
    for chunk in rows.chunks(BULK_ROWS) {
        let mut sql = format!("INSERT INTO {table} VALUES ");
        for i in 0..chunk.len() {
            let n = i * 5;
            if i > 0 {
                sql.push(',');
            }
            sql.push_str(&format!(
                "(${}, ${}, ${}, ${}, ${})",
                n + 1,
                n + 2,
                n + 3,
                n + 4,
                n + 5
            ));
        }
        let mut statement = sqlx::query(AssertSqlSafe(sql));
        for row in chunk {
            for param in row {
                statement = match param {
                    Param::Text(text) => statement.bind(text.as_str()),
                    Param::Int(n) => statement.bind(*n),
                };
            }
        }
        statement.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Rewrites the index entries of a profile for every key. `replace`
/// removes the old entries first (not needed for a new profile).
pub(crate) async fn index(
    conn: &mut AnyConnection,
    tenant: &str,
    customer_id: &str,
    attributes: &Map<String, Value>,
    records: &Records,
    keys: &[IdKey],
    replace: bool,
) -> Result<(), CsError> {
    if replace {
        sqlx::query("DELETE FROM cs_identities WHERE tenant = $1 AND customer_id = $2")
            .bind(tenant)
            .bind(customer_id)
            .execute(&mut *conn)
            .await?;
    }
    for key in keys {
        for value in identity::key_values(key, attributes, records) {
            add_identity(conn, tenant, key, &value, customer_id).await?;
        }
    }
    Ok(())
}

/// Adds one index entry; a unique key's value held by another customer is
/// a 403.
pub(crate) async fn add_identity(
    conn: &mut AnyConnection,
    tenant: &str,
    key: &IdKey,
    value: &str,
    customer_id: &str,
) -> Result<(), CsError> {
    let inserted = sqlx::query(
        "INSERT INTO cs_identities (tenant, key_id, value, customer_id, uniq) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(tenant)
    .bind(key.id)
    .bind(value)
    .bind(customer_id)
    .bind(i64::from(key.unique))
    .execute(&mut *conn)
    .await;
    match inserted {
        Err(e) if is_unique_violation(&e) => Err(CsError::Forbidden(format!(
            "identification key {} is unique and {:?} already identifies another customer",
            key.name,
            value.replace(identity::SEPARATOR, ", ")
        ))),
        Err(e) => Err(e.into()),
        Ok(_) => Ok(()),
    }
}

async fn insert_records(
    conn: &mut AnyConnection,
    tenant: &str,
    customer_id: &str,
    extension: &str,
    records: &[Map<String, Value>],
) -> Result<(), CsError> {
    for (seq, record) in records.iter().enumerate() {
        sqlx::query(
            "INSERT INTO cs_profile_extensions (tenant, customer_id, extension, seq, record) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(tenant)
        .bind(customer_id)
        .bind(extension)
        .bind(seq as i64)
        .bind(Value::Object(record.clone()).to_string())
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

async fn delete_records(
    conn: &mut AnyConnection,
    tenant: &str,
    customer_id: &str,
    extension: &str,
) -> Result<(), CsError> {
    sqlx::query(
        "DELETE FROM cs_profile_extensions WHERE tenant = $1 AND customer_id = $2 AND extension = $3",
    )
    .bind(tenant)
    .bind(customer_id)
    .bind(extension)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn delete_profile(
    conn: &mut AnyConnection,
    tenant: &str,
    customer_id: &str,
) -> Result<(), CsError> {
    for sql in [
        "DELETE FROM cs_identities WHERE tenant = $1 AND customer_id = $2",
        "DELETE FROM cs_profile_extensions WHERE tenant = $1 AND customer_id = $2",
        "DELETE FROM cs_profiles WHERE tenant = $1 AND customer_id = $2",
    ] {
        sqlx::query(sql)
            .bind(tenant)
            .bind(customer_id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Every extension record of a profile, by lowercase extension name.
pub(crate) async fn load_records(
    conn: &mut AnyConnection,
    tenant: &str,
    customer_id: &str,
) -> Result<Records, CsError> {
    let rows = sqlx::query(
        "SELECT extension, record FROM cs_profile_extensions WHERE tenant = $1 AND customer_id = $2 \
         ORDER BY extension, seq",
    )
    .bind(tenant)
    .bind(customer_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut records = Records::new();
    for row in rows {
        let extension: String = row.try_get(0)?;
        let record = parse_object(&row.try_get::<String, _>(1)?, "extension record")?;
        records.entry(extension).or_default().push(record);
    }
    Ok(records)
}

async fn requested_schemas(
    db: &Db,
    tenant: &str,
    names: &[String],
) -> Result<Vec<Arc<ExtensionSchema>>, CsError> {
    let mut schemas = Vec::with_capacity(names.len());
    for name in names {
        schemas.push(db.require_schema(tenant, Kind::Profiles, name).await?);
    }
    Ok(schemas)
}

/// `{"customer_id": …, <attributes>…}`.
fn render(customer_id: &str, attributes: Option<Map<String, Value>>) -> Map<String, Value> {
    let mut profile = Map::new();
    profile.insert("customer_id".to_owned(), json!(customer_id));
    if let Some(attributes) = attributes {
        profile.extend(attributes);
    }
    profile
}

/// Adds the named extensions: an object for a single-valued one (when it
/// has a record), an array for a multi-valued one.
fn add_extensions(
    profile: &mut Map<String, Value>,
    schemas: &[Arc<ExtensionSchema>],
    records: &Records,
) {
    for schema in schemas {
        let list = records
            .get(&schema.name.to_ascii_lowercase())
            .map(Vec::as_slice)
            .unwrap_or_default();
        let value = if schema.multi_valued {
            Value::Array(list.iter().cloned().map(Value::Object).collect())
        } else {
            match list.first() {
                Some(record) => Value::Object(record.clone()),
                None => continue,
            }
        };
        profile.insert(schema.name.clone(), value);
    }
}

fn parse_object(text: &str, what: &str) -> Result<Map<String, Value>, CsError> {
    match parse_json(text, what)? {
        Value::Object(map) => Ok(map),
        _ => Err(CsError::Corrupt(format!("{what}: not an object"))),
    }
}

fn no_profile(customer_id: &str) -> CsError {
    CsError::NotFound(format!(
        "no {} with customer_id {customer_id:?}",
        singular(Kind::Profiles)
    ))
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
    fn a_body_splits_into_id_attributes_and_extensions() {
        // The documented Bruce Banner example, with an id.
        let input = parse_profile(object(json!({
            "customer_id": "bb-1962",
            "FirstName": "Bruce",
            "EmailAddress": ["bruce.banner@marvelous.com", "b.banner@hulk.dom"],
            "Phone": [{"PhoneType": 0, "PhoneNumber": "3145926535"}],
            "Address": {"City": "Dayton"}
        })))
        .unwrap();
        assert_eq!(input.customer_id.as_deref(), Some("bb-1962"));
        assert_eq!(input.attributes.len(), 2);
        let names: Vec<&str> = input.extensions.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["Phone", "Address"]);
    }

    #[test]
    fn bad_profile_bodies_are_named() {
        for (body, needle) in [
            (json!({"customer_id": 7}), "must be a string"),
            (
                json!({"customer_id": "x".repeat(17)}),
                "invalid customer_id",
            ),
            (json!({"customer_id": "a/b"}), "invalid customer_id"),
            (json!({"a.b": 1}), "cannot contain '.'"),
            (json!({"Tags": [1, [2]]}), "scalars only"),
        ] {
            let Err(error) = parse_profile(object(body)) else {
                panic!("accepted");
            };
            assert!(error.to_string().contains(needle), "{error}");
        }
    }

    #[test]
    fn identify_queries_separate_options_from_criteria() {
        let pairs = |list: &[(&str, &str)]| {
            list.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<Vec<_>>()
        };
        // The seed's IdentifyByPhoneNumber request.
        let query = IdentifyQuery::parse(&pairs(&[
            ("include_profile", "no"),
            ("include_extensions", "unique"),
            ("PhoneNumber", "5551234"),
        ]))
        .unwrap();
        assert!(!query.include_profile);
        assert!(!query.extensions_always);
        assert_eq!(query.criteria, [Criterion::parse("PhoneNumber", "5551234")]);
        assert!(IdentifyQuery::parse(&pairs(&[("include_profile", "maybe"), ("a", "1")])).is_err());
        assert!(IdentifyQuery::parse(&pairs(&[("include_profile", "yes")])).is_err());
        assert!(IdentifyQuery::parse(&pairs(&[("a", "1"), ("a", "2")])).is_err());
    }
}

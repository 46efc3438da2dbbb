//! The Outbound service over the store: campaigns, calling lists, records
//! and the do-not-call list, in SQL that runs on SQLite and PostgreSQL.
//!
//! Concurrency: every change is one transaction that first takes the write
//! lock it needs — on SQLite `BEGIN IMMEDIATE` (the database's one writer
//! lock, taken before reading so that a read can never turn stale before
//! the write), on PostgreSQL `SELECT … FOR UPDATE` of the record (or the
//! chain's first record) — then reads, decides ([`crate::ocs::update`]) and
//! writes. Concurrent requests on one record therefore apply one after the
//! other, each seeing the last one's result: no update is lost, and chain
//! positions are never given twice (a unique index checks that too).

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};
use store::sqlx::any::AnyRow;
use store::sqlx::{self, Any, Row, Transaction};
use store::{Backend, Store};

use crate::codes::code;
use crate::error::Error;
use crate::ocs::{self, Req};
use crate::record::{contact_key, ChainAttribute, Fields, ListRef, Record};
use crate::record::{DEFAULT_FROM, DEFAULT_UNTIL};

/// A campaign.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Campaign {
    pub(crate) id: i64,
    pub(crate) name: String,
    pub(crate) description: Option<String>,
    pub(crate) created: i64,
}

impl Campaign {
    /// The JSON form (schema `OcsCampaign`).
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "created": self.created,
        })
    }
}

/// A calling list, with its campaign's name.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CallingList {
    pub(crate) id: i64,
    pub(crate) name: String,
    pub(crate) campaign_id: i64,
    pub(crate) campaign_name: String,
    pub(crate) created: i64,
}

impl CallingList {
    /// The JSON form (schema `OcsCallingList`).
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "campaignId": self.campaign_id,
            "campaignName": self.campaign_name,
            "created": self.created,
        })
    }
}

/// Which campaign a new calling list belongs to.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum CampaignRef {
    Id(i64),
    Name(String),
}

/// What the do-not-call list holds: phone numbers (by
/// [`contact_key`]) and customer ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Contact {
    Phone,
    Customer,
}

impl Contact {
    fn kind(self) -> &'static str {
        match self {
            Contact::Phone => "phone",
            Contact::Customer => "customer",
        }
    }
}

/// Which records of a list to read, a page at a time in handle order.
#[derive(Debug, Clone, Default)]
pub(crate) struct RecordQuery {
    /// Only this status code.
    pub(crate) status: Option<i64>,
    /// Only this contact key.
    pub(crate) contact_key: Option<String>,
    /// Only handles above this one (the `next` of the page before).
    pub(crate) after: i64,
    /// At most this many.
    pub(crate) limit: i64,
}

/// The service: cheap to clone, shared by the handlers.
#[derive(Debug, Clone)]
pub(crate) struct Outbound {
    store: Store,
}

/// The columns of a [`Record`], in the order [`record_from_row`] reads
/// them, over `ocs_records r` joined to its list and campaign.
macro_rules! select_record {
    () => {
        "SELECT r.record_handle, r.list_id, l.name, c.name, r.reference_id, r.contact_info, \
         r.contact_info_type, r.tz_name, r.daily_from, r.daily_till, r.chain_id, r.chain_n, \
         r.customer_id, r.record_type, r.record_status, r.call_result, r.dial_sched_time, \
         r.other_fields, r.version, r.created, r.updated \
         FROM ocs_records r \
         JOIN ocs_calling_lists l ON l.list_id = r.list_id \
         JOIN ocs_campaigns c ON c.campaign_id = l.campaign_id "
    };
}

macro_rules! select_list {
    () => {
        "SELECT l.list_id, l.name, l.campaign_id, c.name, l.created \
         FROM ocs_calling_lists l JOIN ocs_campaigns c ON c.campaign_id = l.campaign_id "
    };
}

impl Outbound {
    pub(crate) fn new(store: Store) -> Outbound {
        Outbound { store }
    }

    /// Creates a campaign; its name must be new.
    pub(crate) async fn create_campaign(
        &self,
        name: &str,
        description: Option<&str>,
    ) -> Result<Campaign, Error> {
        let created = now_ms();
        let row = sqlx::query(
            "INSERT INTO ocs_campaigns (name, description, created) VALUES ($1, $2, $3) \
             RETURNING campaign_id",
        )
        .bind(name)
        .bind(description)
        .bind(created)
        .fetch_one(self.store.pool())
        .await
        .map_err(|e| name_taken(e, "campaign", name))?;
        Ok(Campaign {
            id: row.try_get(0)?,
            name: name.to_owned(),
            description: description.map(str::to_owned),
            created,
        })
    }

    /// Every campaign, oldest first.
    pub(crate) async fn campaigns(&self) -> Result<Vec<Campaign>, Error> {
        let rows = sqlx::query(
            "SELECT campaign_id, name, description, created FROM ocs_campaigns \
             ORDER BY campaign_id",
        )
        .fetch_all(self.store.pool())
        .await?;
        rows.iter().map(campaign_from_row).collect()
    }

    /// The campaign `id`.
    pub(crate) async fn campaign(&self, id: i64) -> Result<Campaign, Error> {
        let row = sqlx::query(
            "SELECT campaign_id, name, description, created FROM ocs_campaigns \
             WHERE campaign_id = $1",
        )
        .bind(id)
        .fetch_optional(self.store.pool())
        .await?;
        match row {
            Some(row) => campaign_from_row(&row),
            None => Err(Error::CampaignNotFound(id.to_string())),
        }
    }

    /// Creates a calling list of a campaign; its name must be new.
    pub(crate) async fn create_calling_list(
        &self,
        name: &str,
        campaign: &CampaignRef,
    ) -> Result<CallingList, Error> {
        let row = match campaign {
            CampaignRef::Id(id) => {
                sqlx::query("SELECT campaign_id, name FROM ocs_campaigns WHERE campaign_id = $1")
                    .bind(*id)
                    .fetch_optional(self.store.pool())
                    .await?
            }
            CampaignRef::Name(name) => {
                sqlx::query("SELECT campaign_id, name FROM ocs_campaigns WHERE name = $1")
                    .bind(name.as_str())
                    .fetch_optional(self.store.pool())
                    .await?
            }
        };
        let Some(row) = row else {
            return Err(Error::CampaignNotFound(match campaign {
                CampaignRef::Id(id) => id.to_string(),
                CampaignRef::Name(name) => format!("{name:?}"),
            }));
        };
        let campaign_id: i64 = row.try_get(0)?;
        let campaign_name: String = row.try_get(1)?;
        let created = now_ms();
        let row = sqlx::query(
            "INSERT INTO ocs_calling_lists (name, campaign_id, created) VALUES ($1, $2, $3) \
             RETURNING list_id",
        )
        .bind(name)
        .bind(campaign_id)
        .bind(created)
        .fetch_one(self.store.pool())
        .await
        .map_err(|e| name_taken(e, "calling list", name))?;
        Ok(CallingList {
            id: row.try_get(0)?,
            name: name.to_owned(),
            campaign_id,
            campaign_name,
            created,
        })
    }

    /// The calling lists, of one campaign or of all, oldest first.
    pub(crate) async fn calling_lists(
        &self,
        campaign_id: Option<i64>,
    ) -> Result<Vec<CallingList>, Error> {
        let rows = match campaign_id {
            Some(id) => {
                sqlx::query(concat!(
                    select_list!(),
                    "WHERE l.campaign_id = $1 ORDER BY l.list_id"
                ))
                .bind(id)
                .fetch_all(self.store.pool())
                .await?
            }
            None => {
                sqlx::query(concat!(select_list!(), "ORDER BY l.list_id"))
                    .fetch_all(self.store.pool())
                    .await?
            }
        };
        rows.iter().map(list_from_row).collect()
    }

    /// The calling list `id`.
    pub(crate) async fn calling_list(&self, id: i64) -> Result<CallingList, Error> {
        let row = sqlx::query(concat!(select_list!(), "WHERE l.list_id = $1"))
            .bind(id)
            .fetch_optional(self.store.pool())
            .await?;
        match row {
            Some(row) => list_from_row(&row),
            None => Err(Error::CallingListNotFound(id.to_string())),
        }
    }

    /// A page of the records of calling list `list_id`, and the cursor of
    /// the next page when there is one.
    pub(crate) async fn records(
        &self,
        list_id: i64,
        query: &RecordQuery,
    ) -> Result<(Vec<Record>, Option<i64>), Error> {
        self.calling_list(list_id).await?;
        // One more than asked, to know whether a next page exists.
        let fetch = query.limit + 1;
        let pool = self.store.pool();
        let rows = match (query.status, &query.contact_key) {
            (None, None) => {
                sqlx::query(RECORDS_PAGE)
                    .bind(list_id)
                    .bind(query.after)
                    .bind(fetch)
                    .fetch_all(pool)
                    .await?
            }
            (Some(status), None) => {
                sqlx::query(RECORDS_PAGE_BY_STATUS)
                    .bind(list_id)
                    .bind(status)
                    .bind(query.after)
                    .bind(fetch)
                    .fetch_all(pool)
                    .await?
            }
            (None, Some(key)) => {
                sqlx::query(RECORDS_PAGE_BY_CONTACT)
                    .bind(list_id)
                    .bind(key.as_str())
                    .bind(query.after)
                    .bind(fetch)
                    .fetch_all(pool)
                    .await?
            }
            (Some(status), Some(key)) => {
                sqlx::query(RECORDS_PAGE_BY_STATUS_AND_CONTACT)
                    .bind(list_id)
                    .bind(status)
                    .bind(key.as_str())
                    .bind(query.after)
                    .bind(fetch)
                    .fetch_all(pool)
                    .await?
            }
        };
        let mut records = rows
            .iter()
            .map(record_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let next = if records.len() as i64 > query.limit {
            records.truncate(query.limit as usize);
            records.last().map(|r| r.handle)
        } else {
            None
        };
        Ok((records, next))
    }

    /// The record `handle`.
    pub(crate) async fn record(&self, handle: i64) -> Result<Record, Error> {
        let row = sqlx::query(RECORD_BY_HANDLE)
            .bind(handle)
            .fetch_optional(self.store.pool())
            .await?;
        match row {
            Some(row) => record_from_row(&row),
            None => Err(Error::RecordNotFound(handle.to_string())),
        }
    }

    /// AddRecord: a new `Ready` `General` record in the calling list the
    /// fields name, in a new chain or at the end of the chain `chainId`;
    /// refused when its phone number or customer is on the do-not-call
    /// list. `reference` (the path id of `/records/{id}?req=AddRecord`) is
    /// its reference id unless the fields give one.
    pub(crate) async fn add_record(
        &self,
        reference: Option<&str>,
        fields: &Fields,
    ) -> Result<Record, Error> {
        let Some(list) = &fields.calling_list else {
            return Err(Error::field(
                "callingList",
                "AddRecord needs the calling list (its name or id)",
            ));
        };
        let Some(phone) = &fields.phone_number else {
            return Err(Error::field(
                "phoneNumber",
                "AddRecord needs the phone number",
            ));
        };
        let Some(key) = contact_key(phone) else {
            return Err(Error::field(
                "phoneNumber",
                "a phone number needs a digit or a letter",
            ));
        };
        for (given, name) in [
            (fields.timestamp.is_some(), "timestamp"),
            (fields.callback_type.is_some(), "callbackType"),
            (fields.chain_attribute.is_some(), "chainAttribute"),
        ] {
            if given {
                return Err(Error::field(name, "not a field of AddRecord"));
            }
        }
        let reference = fields.reference_id.as_deref().or(reference);
        let other_fields = ocs::initial_other_fields(fields);
        let now = now_ms();

        let mut tx = self.begin_write().await?;
        let row = match list {
            ListRef::Id(id) => {
                sqlx::query(concat!(select_list!(), "WHERE l.list_id = $1"))
                    .bind(*id)
                    .fetch_optional(&mut *tx)
                    .await?
            }
            ListRef::Name(name) => {
                sqlx::query(concat!(select_list!(), "WHERE l.name = $1"))
                    .bind(name.as_str())
                    .fetch_optional(&mut *tx)
                    .await?
            }
        };
        let Some(row) = row else {
            return Err(Error::CallingListNotFound(match list {
                ListRef::Id(id) => id.to_string(),
                ListRef::Name(name) => format!("{name:?}"),
            }));
        };
        let list = list_from_row(&row)?;
        if let Some(campaign) = &fields.campaign_name {
            if *campaign != list.campaign_name {
                return Err(Error::field(
                    "campaignName",
                    format!(
                        "calling list {:?} belongs to campaign {:?}",
                        list.name, list.campaign_name
                    ),
                ));
            }
        }
        let barred = sqlx::query(DO_NOT_CALL_MATCH)
            .bind(key.as_str())
            .bind(fields.customer_id.as_deref())
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(row) = barred {
            let kind: String = row.try_get(0)?;
            return Err(Error::DoNotCall(if kind == "phone" {
                format!("phone number {phone:?}")
            } else {
                format!("customer {:?}", fields.customer_id.as_deref().unwrap_or(""))
            }));
        }
        let chain_n = match fields.chain_id {
            None => 1,
            Some(chain_id) => {
                // The chain's first record is locked so that two records
                // added to one chain at once get different positions.
                let head = sqlx::query(self.locked(
                    "SELECT record_handle FROM ocs_records \
                     WHERE record_handle = $1 AND chain_id = $1 AND list_id = $2",
                    "SELECT record_handle FROM ocs_records \
                     WHERE record_handle = $1 AND chain_id = $1 AND list_id = $2 FOR UPDATE",
                ))
                .bind(chain_id)
                .bind(list.id)
                .fetch_optional(&mut *tx)
                .await?;
                if head.is_none() {
                    return Err(Error::ChainNotFound {
                        chain_id,
                        calling_list: list.name,
                    });
                }
                sqlx::query(CHAIN_NEXT_POSITION)
                    .bind(chain_id)
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get::<i64, _>(0)?
            }
        };
        let row = sqlx::query(
            "INSERT INTO ocs_records (list_id, reference_id, contact_info, contact_key, \
             contact_info_type, tz_name, daily_from, daily_till, chain_id, chain_n, customer_id, \
             record_type, record_status, call_result, dial_sched_time, other_fields, version, \
             created, updated) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, NULL, $15, 1, \
             $16, $16) RETURNING record_handle",
        )
        .bind(list.id)
        .bind(reference)
        .bind(phone.as_str())
        .bind(key.as_str())
        .bind(fields.phone_type.unwrap_or(code::NO_CONTACT_TYPE))
        .bind(fields.time_zone.as_deref())
        .bind(fields.from.unwrap_or(DEFAULT_FROM))
        .bind(fields.until.unwrap_or(DEFAULT_UNTIL))
        .bind(fields.chain_id)
        .bind(chain_n)
        .bind(fields.customer_id.as_deref())
        .bind(code::GENERAL)
        .bind(code::READY)
        .bind(fields.call_result.unwrap_or(code::UNKNOWN_RESULT))
        .bind(Value::Object(other_fields).to_string())
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let handle: i64 = row.try_get(0)?;
        if fields.chain_id.is_none() {
            // A new chain is named after its first record.
            sqlx::query("UPDATE ocs_records SET chain_id = record_handle WHERE record_handle = $1")
                .bind(handle)
                .execute(&mut *tx)
                .await?;
        }
        let record = read_record(&mut tx, handle, RECORD_BY_HANDLE).await?;
        tx.commit().await?;
        Ok(record)
    }

    /// Carries out `req` (any but AddRecord) on the record `handle`; the
    /// record as it is afterwards.
    pub(crate) async fn update_record(
        &self,
        handle: i64,
        req: Req,
        fields: &Fields,
    ) -> Result<Record, Error> {
        let mut tx = self.begin_write().await?;
        let query = self.locked(RECORD_BY_HANDLE, RECORD_BY_HANDLE_FOR_UPDATE);
        let record = read_record(&mut tx, handle, query).await?;
        let now = now_ms();
        let next = ocs::update(req, fields, &record, now)?;
        if next != record {
            write_record(&mut tx, &next).await?;
        }
        if req == Req::DoNotCall {
            let mut barred = vec![(Contact::Phone, contact_key(&next.phone_number))];
            barred.push((Contact::Customer, next.customer_id.clone()));
            if fields.chain_attribute == Some(ChainAttribute::AllChain) {
                for row in sqlx::query(self.locked(
                    "SELECT contact_key FROM ocs_records WHERE chain_id = $1 AND record_handle <> $2",
                    "SELECT contact_key FROM ocs_records WHERE chain_id = $1 AND record_handle <> $2 \
                     FOR UPDATE",
                ))
                .bind(next.chain_id)
                .bind(next.handle)
                .fetch_all(&mut *tx)
                .await?
                {
                    barred.push((Contact::Phone, Some(row.try_get(0)?)));
                }
                sqlx::query(
                    "UPDATE ocs_records SET record_status = $1, record_type = $2, \
                     call_result = $3, version = version + 1, updated = $4 \
                     WHERE chain_id = $5 AND record_handle <> $6 \
                     AND record_status <> $1 AND record_status <> $7",
                )
                .bind(code::UPDATED)
                .bind(code::NO_CALL)
                .bind(code::DO_NOT_CALL)
                .bind(now)
                .bind(next.chain_id)
                .bind(next.handle)
                .bind(code::CANCELLED)
                .execute(&mut *tx)
                .await?;
            }
            for (contact, value) in barred {
                if let Some(value) = value {
                    insert_do_not_call(&mut tx, contact, &value, now).await?;
                }
            }
        }
        tx.commit().await?;
        Ok(next)
    }

    /// DoNotCall on a phone number or a customer id: puts it on the list
    /// (again is fine). Records already in lists are left as they are.
    pub(crate) async fn do_not_call(&self, contact: Contact, value: &str) -> Result<(), Error> {
        let value = self.contact_value(contact, value)?;
        let mut tx = self.begin_write().await?;
        insert_do_not_call(&mut tx, contact, &value, now_ms()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Whether a phone number or customer id is on the do-not-call list.
    pub(crate) async fn is_do_not_call(
        &self,
        contact: Contact,
        value: &str,
    ) -> Result<bool, Error> {
        let value = self.contact_value(contact, value)?;
        let row = sqlx::query("SELECT created FROM ocs_do_not_call WHERE kind = $1 AND value = $2")
            .bind(contact.kind())
            .bind(value.as_str())
            .fetch_optional(self.store.pool())
            .await?;
        Ok(row.is_some())
    }

    /// How the list keys a contact.
    fn contact_value(&self, contact: Contact, value: &str) -> Result<String, Error> {
        match contact {
            Contact::Phone => contact_key(value).ok_or(Error::InvalidParameter {
                name: "phone",
                reason: "a phone number needs a digit or a letter".to_owned(),
            }),
            Contact::Customer => Ok(value.trim().to_owned()),
        }
    }

    /// A transaction holding the write lock its reads need (see the module
    /// doc).
    async fn begin_write(&self) -> Result<Transaction<'static, Any>, Error> {
        Ok(match self.store.backend() {
            Backend::Sqlite => self.store.pool().begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.store.pool().begin().await?,
        })
    }

    /// `sqlite` or `postgres`, by backend: the PostgreSQL form locks rows.
    fn locked(&self, sqlite: &'static str, postgres: &'static str) -> &'static str {
        match self.store.backend() {
            Backend::Sqlite => sqlite,
            Backend::Postgres => postgres,
        }
    }
}

/// A page of a calling list: `$1` list, `$2` after, `$3` limit.
const RECORDS_PAGE: &str = concat!(
    select_record!(),
    "WHERE r.list_id = $1 AND r.record_handle > $2 ORDER BY r.record_handle LIMIT $3"
);
/// The same, of one status (`$2`).
const RECORDS_PAGE_BY_STATUS: &str = concat!(
    select_record!(),
    "WHERE r.list_id = $1 AND r.record_status = $2 AND r.record_handle > $3 \
     ORDER BY r.record_handle LIMIT $4"
);
/// The same, of one contact key (`$2`).
const RECORDS_PAGE_BY_CONTACT: &str = concat!(
    select_record!(),
    "WHERE r.list_id = $1 AND r.contact_key = $2 AND r.record_handle > $3 \
     ORDER BY r.record_handle LIMIT $4"
);
/// The same, of one status (`$2`) and contact key (`$3`).
const RECORDS_PAGE_BY_STATUS_AND_CONTACT: &str = concat!(
    select_record!(),
    "WHERE r.list_id = $1 AND r.record_status = $2 AND r.contact_key = $3 \
     AND r.record_handle > $4 ORDER BY r.record_handle LIMIT $5"
);
/// Whether a contact key (`$1`) or customer (`$2`) is barred.
const DO_NOT_CALL_MATCH: &str = "SELECT kind FROM ocs_do_not_call \
     WHERE (kind = 'phone' AND value = $1) OR (kind = 'customer' AND value = $2)";
/// The next position in chain `$1`.
const CHAIN_NEXT_POSITION: &str =
    "SELECT COALESCE(MAX(chain_n), 0) + 1 FROM ocs_records WHERE chain_id = $1";
/// A record by handle.
const RECORD_BY_HANDLE: &str = concat!(select_record!(), "WHERE r.record_handle = $1");
/// A record by handle, its row locked until the transaction ends
/// (PostgreSQL).
const RECORD_BY_HANDLE_FOR_UPDATE: &str = concat!(
    select_record!(),
    "WHERE r.record_handle = $1 FOR UPDATE OF r"
);

/// Reads record `handle` inside `tx` with `query` (one of the two above).
async fn read_record(
    tx: &mut Transaction<'static, Any>,
    handle: i64,
    query: &'static str,
) -> Result<Record, Error> {
    let row = sqlx::query(query)
        .bind(handle)
        .fetch_optional(&mut **tx)
        .await?;
    match row {
        Some(row) => record_from_row(&row),
        None => Err(Error::RecordNotFound(handle.to_string())),
    }
}

/// Writes every changeable column of `record`.
async fn write_record(tx: &mut Transaction<'static, Any>, record: &Record) -> Result<(), Error> {
    let key = contact_key(&record.phone_number).unwrap_or_default();
    sqlx::query(
        "UPDATE ocs_records SET reference_id = $2, contact_info = $3, contact_key = $4, \
         contact_info_type = $5, tz_name = $6, daily_from = $7, daily_till = $8, \
         customer_id = $9, record_type = $10, record_status = $11, call_result = $12, \
         dial_sched_time = $13, other_fields = $14, version = $15, updated = $16 \
         WHERE record_handle = $1",
    )
    .bind(record.handle)
    .bind(record.reference_id.as_deref())
    .bind(record.phone_number.as_str())
    .bind(key)
    .bind(record.phone_type)
    .bind(record.time_zone.as_deref())
    .bind(record.from)
    .bind(record.until)
    .bind(record.customer_id.as_deref())
    .bind(record.record_type)
    .bind(record.record_status)
    .bind(record.call_result)
    .bind(record.dial_time)
    .bind(Value::Object(record.other_fields.clone()).to_string())
    .bind(record.version)
    .bind(record.updated)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn insert_do_not_call(
    tx: &mut Transaction<'static, Any>,
    contact: Contact,
    value: &str,
    now: i64,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO ocs_do_not_call (kind, value, created) VALUES ($1, $2, $3) \
         ON CONFLICT (kind, value) DO NOTHING",
    )
    .bind(contact.kind())
    .bind(value)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn campaign_from_row(row: &AnyRow) -> Result<Campaign, Error> {
    Ok(Campaign {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        description: row.try_get(2)?,
        created: row.try_get(3)?,
    })
}

fn list_from_row(row: &AnyRow) -> Result<CallingList, Error> {
    Ok(CallingList {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        campaign_id: row.try_get(2)?,
        campaign_name: row.try_get(3)?,
        created: row.try_get(4)?,
    })
}

fn record_from_row(row: &AnyRow) -> Result<Record, Error> {
    let handle: i64 = row.try_get(0)?;
    let other_fields: String = row.try_get(17)?;
    let other_fields = match serde_json::from_str::<Value>(&other_fields) {
        Ok(Value::Object(map)) => map,
        // Only this crate writes the column; anything else was written
        // behind its back and is not worth failing the read for.
        _ => {
            tracing::warn!(handle, "record custom fields are not a JSON object");
            Map::new()
        }
    };
    Ok(Record {
        handle,
        list_id: row.try_get(1)?,
        calling_list: row.try_get(2)?,
        campaign_name: row.try_get(3)?,
        reference_id: row.try_get(4)?,
        phone_number: row.try_get(5)?,
        phone_type: row.try_get(6)?,
        time_zone: row.try_get(7)?,
        from: row.try_get(8)?,
        until: row.try_get(9)?,
        // Set in the transaction that adds the record, so never NULL once
        // committed.
        chain_id: row.try_get::<Option<i64>, _>(10)?.unwrap_or(handle),
        chain_n: row.try_get(11)?,
        customer_id: row.try_get(12)?,
        record_type: row.try_get(13)?,
        record_status: row.try_get(14)?,
        call_result: row.try_get(15)?,
        dial_time: row.try_get(16)?,
        other_fields,
        version: row.try_get(18)?,
        created: row.try_get(19)?,
        updated: row.try_get(20)?,
    })
}

/// A unique violation as [`Error::NameTaken`], anything else as storage.
fn name_taken(error: sqlx::Error, kind: &'static str, name: &str) -> Error {
    match &error {
        sqlx::Error::Database(e) if e.is_unique_violation() => Error::NameTaken {
            kind,
            name: name.to_owned(),
        },
        _ => Error::Storage(error),
    }
}

/// The wall clock, Unix milliseconds (stamps only: no decision depends on
/// it).
fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use store::sqlx::Executor;
    use store::testing;

    /// A look-up that must stay fast at millions of records: its SQL, its
    /// arguments, and the index its plan must use (SQLite, PostgreSQL), if
    /// one in particular.
    struct Lookup {
        sql: &'static str,
        args: Vec<Arg>,
        index: Option<(&'static str, &'static str)>,
    }

    enum Arg {
        Int(i64),
        Text(&'static str),
    }

    fn lookups() -> Vec<Lookup> {
        use Arg::{Int, Text};
        let lookup = |sql, args, index| Lookup { sql, args, index };
        vec![
            lookup(
                RECORD_BY_HANDLE,
                vec![Int(1)],
                Some(("INTEGER PRIMARY KEY", "ocs_records_pkey")),
            ),
            lookup(
                RECORDS_PAGE,
                vec![Int(1), Int(0), Int(100)],
                Some(("ocs_records_list", "ocs_records_list")),
            ),
            lookup(
                RECORDS_PAGE_BY_STATUS,
                vec![Int(1), Int(1), Int(0), Int(100)],
                Some(("ocs_records_list_status", "ocs_records_list_status")),
            ),
            lookup(
                RECORDS_PAGE_BY_CONTACT,
                vec![Int(1), Text("5550100"), Int(0), Int(100)],
                Some(("ocs_records_list_contact", "ocs_records_list_contact")),
            ),
            lookup(
                RECORDS_PAGE_BY_STATUS_AND_CONTACT,
                vec![Int(1), Int(1), Text("5550100"), Int(0), Int(100)],
                None,
            ),
            lookup(
                CHAIN_NEXT_POSITION,
                vec![Int(1)],
                Some(("ocs_records_chain", "ocs_records_chain")),
            ),
            lookup(
                DO_NOT_CALL_MATCH,
                vec![Text("5550100"), Text("c-1")],
                Some(("sqlite_autoindex_ocs_do_not_call_1", "ocs_do_not_call_pkey")),
            ),
        ]
    }

    /// The query plans of the look-ups use the indexes meant for them and
    /// never scan the records or the do-not-call list. PostgreSQL is asked
    /// with sequential scans priced out, so that its plan shows which index
    /// serves the query even on the empty test tables.
    #[tokio::test]
    async fn lookups_are_served_by_indexes() {
        for test in testing::all().await.unwrap() {
            let store = &test.store;
            store.migrate(&crate::SCHEMA).await.unwrap();
            let mut conn = store.pool().acquire().await.unwrap();
            let (prefix, scan) = match store.backend() {
                Backend::Sqlite => ("EXPLAIN QUERY PLAN ", "SCAN "),
                Backend::Postgres => {
                    conn.execute("SET enable_seqscan = off").await.unwrap();
                    ("EXPLAIN ", "Seq Scan on ")
                }
            };
            let mut lookups = lookups();
            if store.backend() == Backend::Postgres {
                lookups.push(Lookup {
                    sql: RECORD_BY_HANDLE_FOR_UPDATE,
                    args: vec![Arg::Int(1)],
                    index: Some(("", "ocs_records_pkey")),
                });
            }
            for lookup in lookups {
                let mut query = sqlx::query(sqlx::AssertSqlSafe(format!("{prefix}{}", lookup.sql)));
                for arg in &lookup.args {
                    query = match arg {
                        Arg::Int(n) => query.bind(*n),
                        Arg::Text(s) => query.bind(*s),
                    };
                }
                let plan = query
                    .fetch_all(&mut *conn)
                    .await
                    .unwrap()
                    .iter()
                    .map(|row| row.try_get::<String, _>(row.len() - 1).unwrap())
                    .collect::<Vec<_>>()
                    .join("\n");
                let context = format!("{:?}: {}\nplan:\n{plan}", store.backend(), lookup.sql);
                for table in ["r", "ocs_records", "ocs_do_not_call"] {
                    assert!(!plan.contains(&format!("{scan}{table}")), "{context}");
                }
                if let Some((sqlite, postgres)) = lookup.index {
                    let index = match store.backend() {
                        Backend::Sqlite => sqlite,
                        Backend::Postgres => postgres,
                    };
                    // The name followed by a space: not a longer name.
                    assert!(
                        plan.contains(&format!("{index} ")),
                        "{index} not used: {context}"
                    );
                }
            }
            drop(conn);
            test.cleanup().await;
        }
    }
}

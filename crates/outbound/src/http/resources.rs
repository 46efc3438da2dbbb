//! The REST resources around the OCS interface, to set up what strategies
//! work on and to check what they did: campaigns and calling lists
//! (create, list, read), records (read, page through a list), and the
//! do-not-call state of a phone number or customer.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Map, Value};

use super::input;
use crate::codes::RECORD_STATUS;
use crate::error::Error;
use crate::record::{contact_key, integer, text, MAX_NAME};
use crate::storage::{CampaignRef, Contact, Outbound, RecordQuery};

/// Longest campaign description, in characters.
const MAX_DESCRIPTION: usize = 4096;
/// Records per page when `limit` is not given.
const DEFAULT_PAGE: i64 = 100;
/// Most records per page.
const MAX_PAGE: i64 = 1000;

/// `POST /campaigns` `{"name", "description"?}`: 201 and the campaign.
pub(super) async fn create_campaign(
    State(service): State<Outbound>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), Error> {
    let body = input::json_object(&input::bytes(body)?)?;
    let mut name = None;
    let mut description = None;
    for (field, value) in &body {
        match (field.as_str(), value) {
            ("name", Value::String(s)) => name = Some(text("name", s, MAX_NAME)?),
            ("description", Value::String(s)) => {
                description = Some(text("description", s, MAX_DESCRIPTION)?)
            }
            ("description", Value::Null) => {}
            ("name" | "description", _) => return Err(Error::field(field, "must be a string")),
            _ => return Err(Error::field(field, "not a field of a campaign")),
        }
    }
    let name = name.ok_or_else(|| Error::field("name", "a campaign needs a name"))?;
    let campaign = service
        .create_campaign(&name, description.as_deref())
        .await?;
    Ok((StatusCode::CREATED, Json(campaign.to_json())))
}

/// `GET /campaigns`: `{"campaigns": [...]}`.
pub(super) async fn list_campaigns(State(service): State<Outbound>) -> Result<Json<Value>, Error> {
    let campaigns: Vec<Value> = service
        .campaigns()
        .await?
        .iter()
        .map(|c| c.to_json())
        .collect();
    Ok(Json(json!({ "campaigns": campaigns })))
}

/// `GET /campaigns/{id}`.
pub(super) async fn get_campaign(
    State(service): State<Outbound>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, Error> {
    let id = input::id("id", &input::path(id)?)?;
    Ok(Json(service.campaign(id).await?.to_json()))
}

/// `POST /callinglists` `{"name", "campaignId" | "campaignName"}`: 201 and
/// the calling list.
pub(super) async fn create_calling_list(
    State(service): State<Outbound>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), Error> {
    let body = input::json_object(&input::bytes(body)?)?;
    let mut name = None;
    let mut campaign = None;
    for (field, value) in &body {
        match (field.as_str(), value) {
            (_, Value::Null) => {}
            ("name", Value::String(s)) => name = Some(text("name", s, MAX_NAME)?),
            ("name", _) => return Err(Error::field(field, "must be a string")),
            ("campaignId", value) => {
                let id = integer(field, value)?;
                if id < 1 {
                    return Err(Error::field(field, "must be a positive integer"));
                }
                set_once(&mut campaign, CampaignRef::Id(id))?;
            }
            ("campaignName", Value::String(s)) => {
                set_once(&mut campaign, CampaignRef::Name(text(field, s, MAX_NAME)?))?
            }
            ("campaignName", _) => return Err(Error::field(field, "must be a string")),
            _ => return Err(Error::field(field, "not a field of a calling list")),
        }
    }
    let name = name.ok_or_else(|| Error::field("name", "a calling list needs a name"))?;
    let campaign = campaign.ok_or_else(|| {
        Error::field(
            "campaignId",
            "a calling list needs its campaign (campaignId or campaignName)",
        )
    })?;
    let list = service.create_calling_list(&name, &campaign).await?;
    Ok((StatusCode::CREATED, Json(list.to_json())))
}

/// The campaign may be named once, by id or by name.
fn set_once(slot: &mut Option<CampaignRef>, value: CampaignRef) -> Result<(), Error> {
    if slot.is_some() {
        return Err(Error::field(
            "campaignId",
            "give campaignId or campaignName, not both",
        ));
    }
    *slot = Some(value);
    Ok(())
}

/// `GET /callinglists[?campaignId=n]`: `{"callingLists": [...]}`.
pub(super) async fn list_calling_lists(
    State(service): State<Outbound>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, Error> {
    let params = input::query(query.as_deref())?;
    let campaign = match input::param(&params, "campaignId") {
        Some(value) => Some(input::id("campaignId", value)?),
        None => None,
    };
    let lists: Vec<Value> = service
        .calling_lists(campaign)
        .await?
        .iter()
        .map(|l| l.to_json())
        .collect();
    Ok(Json(json!({ "callingLists": lists })))
}

/// `GET /callinglists/{id}`.
pub(super) async fn get_calling_list(
    State(service): State<Outbound>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, Error> {
    let id = input::id("id", &input::path(id)?)?;
    Ok(Json(service.calling_list(id).await?.to_json()))
}

/// `GET /callinglists/{id}/records[?status=&phone=&after=&limit=]`:
/// `{"records": [...], "next": handle | null}`, in handle order; `next` is
/// the `after` of the following page.
pub(super) async fn list_records(
    State(service): State<Outbound>,
    id: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, Error> {
    let id = input::id("id", &input::path(id)?)?;
    let params = input::query(query.as_deref())?;
    let mut query = RecordQuery {
        limit: DEFAULT_PAGE,
        ..RecordQuery::default()
    };
    if let Some(status) = input::param(&params, "status") {
        let code = RECORD_STATUS
            .parse(&Value::String(status.to_owned()))
            .map_err(|reason| Error::InvalidParameter {
                name: "status",
                reason,
            })?;
        query.status = Some(code);
    }
    if let Some(phone) = input::param(&params, "phone") {
        let key = contact_key(&input::contact("phone", phone)?).ok_or(Error::InvalidParameter {
            name: "phone",
            reason: "a phone number needs a digit or a letter".to_owned(),
        })?;
        query.contact_key = Some(key);
    }
    if let Some(after) = input::param(&params, "after") {
        query.after = match after.trim().parse::<i64>() {
            Ok(n) if n >= 0 => n,
            _ => {
                return Err(Error::InvalidParameter {
                    name: "after",
                    reason: "a record handle (0 or more)".to_owned(),
                })
            }
        };
    }
    if let Some(limit) = input::param(&params, "limit") {
        query.limit = match limit.trim().parse::<i64>() {
            Ok(n) if (1..=MAX_PAGE).contains(&n) => n,
            _ => {
                return Err(Error::InvalidParameter {
                    name: "limit",
                    reason: format!("1 to {MAX_PAGE}"),
                })
            }
        };
    }
    let (records, next) = service.records(id, &query).await?;
    let records: Vec<Value> = records.iter().map(|r| r.to_json()).collect();
    Ok(Json(json!({ "records": records, "next": next })))
}

/// `GET /records/{handle}`.
pub(super) async fn get_record(
    State(service): State<Outbound>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, Error> {
    let handle = input::id("id", &input::path(id)?)?;
    Ok(Json(service.record(handle).await?.to_json()))
}

/// `GET /phones/{phone}`: `{"phoneNumber", "doNotCall"}`.
pub(super) async fn get_phone(
    State(service): State<Outbound>,
    phone: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, Error> {
    let phone = input::contact("phone", &input::path(phone)?)?;
    let barred = service.is_do_not_call(Contact::Phone, &phone).await?;
    let mut answer = Map::new();
    answer.insert("phoneNumber".into(), Value::String(phone));
    answer.insert("doNotCall".into(), Value::Bool(barred));
    Ok(Json(Value::Object(answer)))
}

/// `GET /customer_ids/{id}`: `{"customerId", "doNotCall"}`.
pub(super) async fn get_customer(
    State(service): State<Outbound>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, Error> {
    let id = input::contact("id", &input::path(id)?)?;
    let barred = service.is_do_not_call(Contact::Customer, &id).await?;
    Ok(Json(json!({"customerId": id, "doNotCall": barred})))
}

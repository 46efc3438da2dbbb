//! The OCS HTTP interface: `POST /{resource}/{id}?req=<Request>` with the
//! request's fields in the `record` parameter (seed 003; ors-dialect.md §7).
//! Resources: `records` (id = record handle; for AddRecord the caller's
//! reference for the new record), `phones` and `customer_ids` (DoNotCall).
//!
//! A success is `200` with the OCS acknowledgement:
//! `{"statusCode": 0, "notificationType": "<Req>Acknowledge",
//! "GSW_USER_EVENT": "<Req>Acknowledge", "GSW_RECORD_HANDLE": n,
//! "record": {…}}`.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::Json;
use serde_json::{json, Map, Value};

use super::input;
use crate::error::Error;
use crate::ocs::Req;
use crate::record::{text, Fields, Record, MAX_REFERENCE};
use crate::storage::{Contact, Outbound};

/// `POST /records/{id}?req=…`: every OCS request on a record.
pub(super) async fn record_request(
    State(service): State<Outbound>,
    id: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, Error> {
    let id = input::path(id)?;
    let req = req(query.as_deref())?;
    let fields = fields(&headers, body)?;
    let record = if req == Req::AddRecord {
        let reference = text("id", &id, MAX_REFERENCE).map_err(|e| match e {
            Error::InvalidField { reason, .. } => Error::InvalidParameter { name: "id", reason },
            other => other,
        })?;
        service.add_record(Some(&reference), &fields).await?
    } else {
        // The id is any text here (AddRecord takes a reference); one that
        // is no handle names no record.
        let handle = input::id("id", &id).map_err(|_| Error::RecordNotFound(format!("{id:?}")))?;
        service.update_record(handle, req, &fields).await?
    };
    Ok(acknowledge(req, Some(&record), Map::new()))
}

/// `POST /phones/{phone}?req=DoNotCall`: put a number on the do-not-call
/// list.
pub(super) async fn phone_request(
    State(service): State<Outbound>,
    phone: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, Error> {
    let phone = input::contact("phone", &input::path(phone)?)?;
    contact_request(&service, Contact::Phone, &phone, query, headers, body).await?;
    let mut extra = Map::new();
    extra.insert("phoneNumber".into(), Value::String(phone));
    Ok(acknowledge(Req::DoNotCall, None, extra))
}

/// `POST /customer_ids/{id}?req=DoNotCall`: put a customer on the
/// do-not-call list.
pub(super) async fn customer_request(
    State(service): State<Outbound>,
    id: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, Error> {
    let id = input::contact("id", &input::path(id)?)?;
    contact_request(&service, Contact::Customer, &id, query, headers, body).await?;
    let mut extra = Map::new();
    extra.insert("customerId".into(), Value::String(id));
    Ok(acknowledge(Req::DoNotCall, None, extra))
}

/// DoNotCall on a contact; the only request these resources take, with no
/// record fields.
async fn contact_request(
    service: &Outbound,
    contact: Contact,
    value: &str,
    query: Option<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(), Error> {
    let req = req(query.as_deref())?;
    if req != Req::DoNotCall {
        return Err(Error::RequestNotForResource {
            req: req.name(),
            resource: match contact {
                Contact::Phone => "phones",
                Contact::Customer => "customer_ids",
            },
        });
    }
    if fields(&headers, body)? != Fields::default() {
        return Err(Error::InvalidBody(
            "DoNotCall on a phone number or customer takes no record fields".to_owned(),
        ));
    }
    service.do_not_call(contact, value).await
}

/// The `req` query parameter.
fn req(query: Option<&str>) -> Result<Req, Error> {
    let params = input::query(query)?;
    let name = input::param(&params, "req").ok_or(Error::MissingParameter("req"))?;
    Req::parse(name).ok_or_else(|| Error::UnknownRequest(name.to_owned()))
}

/// The request's record fields, checked.
fn fields(headers: &HeaderMap, body: Result<Bytes, BytesRejection>) -> Result<Fields, Error> {
    let body = input::bytes(body)?;
    Fields::parse(&input::ocs_record(headers, &body)?)
}

/// The acknowledgement of `req` (schema `OcsAcknowledge`).
fn acknowledge(req: Req, record: Option<&Record>, extra: Map<String, Value>) -> Json<Value> {
    let mut answer = json!({
        "statusCode": 0,
        "notificationType": req.acknowledgement(),
        "GSW_USER_EVENT": req.acknowledgement(),
    });
    if let (Some(record), Value::Object(answer)) = (record, &mut answer) {
        answer.insert("GSW_RECORD_HANDLE".into(), json!(record.handle));
        answer.insert("record".into(), record.to_json());
    }
    if let Value::Object(answer) = &mut answer {
        answer.extend(extra);
    }
    Json(answer)
}

//! The one error type of the crate: what a request can fail with, from
//! parsing to storage. The HTTP layer maps each variant to a status code and
//! a stable error code (`http::error`).

/// Everything an Outbound request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A required query parameter is missing.
    #[error("missing query parameter {0:?}")]
    MissingParameter(&'static str),
    /// A path or query parameter has a value of the wrong form.
    #[error("invalid parameter {name:?}: {reason}")]
    InvalidParameter {
        /// The parameter.
        name: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The body is not what the content type says, or not an object.
    #[error("invalid body: {0}")]
    InvalidBody(String),
    /// A field of the body is missing, unknown or of the wrong form.
    #[error("invalid field {field:?}: {reason}")]
    InvalidField {
        /// The field.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// The body is larger than the server's limit.
    #[error("the request body is larger than the limit")]
    BodyTooLarge,
    /// `req` names no OCS request.
    #[error("unknown req {0:?}: expected AddRecord, RecordReschedule, UpdateCallCompletionStats, RecordReject, RequestRecordCancel, RecordProcessed or DoNotCall")]
    UnknownRequest(String),
    /// `req` is an OCS request, but not one this resource takes.
    #[error("req={req} does not apply to /{resource}")]
    RequestNotForResource {
        /// The request.
        req: &'static str,
        /// The resource type.
        resource: &'static str,
    },
    /// No campaign has this id or name.
    #[error("no campaign {0}")]
    CampaignNotFound(String),
    /// No calling list has this id or name.
    #[error("no calling list {0}")]
    CallingListNotFound(String),
    /// No record has this handle (as given in the path).
    #[error("no record with handle {0}")]
    RecordNotFound(String),
    /// No chain of the calling list has this id.
    #[error("no chain {chain_id} in calling list {calling_list}")]
    ChainNotFound {
        /// The chain id asked for.
        chain_id: i64,
        /// The calling list.
        calling_list: String,
    },
    /// A campaign or calling list of this name exists already.
    #[error("a {kind} named {name:?} exists already")]
    NameTaken {
        /// `campaign` or `calling list`.
        kind: &'static str,
        /// The name.
        name: String,
    },
    /// The request does not apply to the record in its present status.
    #[error("record {handle} is {status}: {req} does not apply")]
    RecordFinal {
        /// The record.
        handle: i64,
        /// Its status name.
        status: &'static str,
        /// The request.
        req: &'static str,
    },
    /// AddRecord for a phone number or customer on the do-not-call list.
    #[error("{0} is on the do-not-call list")]
    DoNotCall(String),
    /// No route has this path.
    #[error("no such path {0}")]
    NoSuchPath(String),
    /// The path exists, not with this method.
    #[error("method {0} is not allowed here")]
    MethodNotAllowed(String),
    /// The database failed or cannot be reached.
    #[error("storage: {0}")]
    Storage(#[from] store::sqlx::Error),
}

impl Error {
    /// An [`Error::InvalidField`].
    pub(crate) fn field(field: impl Into<String>, reason: impl Into<String>) -> Error {
        Error::InvalidField {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

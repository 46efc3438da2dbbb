//! Sending: HTTP POSTs with reqwest (rustls), answered 2xx or failed.

use std::time::Duration;

use crate::codec::{Post, FORM_CONTENT_TYPE, ORIGIN_HEADER};

/// How long a POST may take before it fails, so that a session held by
/// its send (see `runner::Gateway`) is never held for ever.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a POST failed: `error.communication` for the sender (App. C.2).
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// No answer: connection refused, timeout, bad response.
    #[error("POST to {url} failed: {source}")]
    Request {
        /// The target.
        url: String,
        /// What reqwest reports.
        source: reqwest::Error,
    },
    /// An answer other than 2xx.
    #[error("POST to {url} answered {status}")]
    Status {
        /// The target.
        url: String,
        /// The HTTP status.
        status: u16,
    },
    /// The HTTP client could not be set up.
    #[error("cannot set up the HTTP client: {0}")]
    Client(reqwest::Error),
}

/// Makes the POSTs; cheap to clone (connections are pooled and shared).
#[derive(Clone, Debug)]
pub struct Sender {
    client: reqwest::Client,
}

impl Sender {
    /// A sender whose requests fail after `timeout`.
    pub fn new(timeout: Duration) -> Result<Self, SendError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(SendError::Client)?;
        Ok(Sender { client })
    }

    /// Makes one POST; `Ok` once answered 2xx.
    pub async fn post(&self, post: &Post) -> Result<(), SendError> {
        let mut request = self
            .client
            .post(&post.url)
            .header(reqwest::header::CONTENT_TYPE, FORM_CONTENT_TYPE)
            .body(post.body.clone());
        if let Some(origin) = &post.origin {
            request = request.header(ORIGIN_HEADER, origin);
        }
        let response = request.send().await.map_err(|source| SendError::Request {
            url: post.url.clone(),
            source,
        })?;
        let status = response.status();
        if !status.is_success() {
            return Err(SendError::Status {
                url: post.url.clone(),
                status: status.as_u16(),
            });
        }
        Ok(())
    }
}

//! The uniform error body: `{code, message, details, request_id}`.
//!
//! `code` is one of [`Code`]'s stable strings (documented in `docs/api-errors.md`); clients
//! branch on it, never on `message`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Code {
    /// 400: the request is malformed (JSON, parameters, headers).
    BadRequest,
    /// 422: a specification upload did not validate; `details` lists file, line, column.
    InvalidSpec,
    /// 422: the suite needs a capability its tenant was not granted (running programs,
    /// reading host files, reaching internal addresses); `details` lists file, line, column
    /// and each refusal's code (`capability.programs`, `capability.host_files`,
    /// `capability.egress`).
    CapabilityDenied,
    /// 401: no credentials, or credentials that are unknown, expired or revoked.
    Unauthenticated,
    /// 403: authenticated, but the role lacks the permission.
    Forbidden,
    /// 404: no such object in the caller's tenant (another tenant's objects answer this too).
    NotFound,
    /// 405: the path exists, the method does not.
    MethodNotAllowed,
    /// 409: a name or key is taken, or the object's state forbids the change.
    Conflict,
    /// 413: the body is larger than the limit.
    PayloadTooLarge,
    /// 415: the body is not JSON (or the upload's type).
    UnsupportedMediaType,
    /// 429: the key's request rate is over its limit; see `Retry-After`.
    RateLimited,
    /// 429: a tenant quota (runs per day, parallel runs, storage, agents) is used up.
    QuotaExceeded,
    /// 402: the tenant's monthly LLM budget is spent.
    BudgetExceeded,
    /// 503: the database is unreachable or not migrated.
    Unavailable,
    /// 500: a fault on our side; the request id finds it in the log.
    Internal,
}

impl Code {
    pub const ALL: [Code; 15] = [
        Code::BadRequest,
        Code::InvalidSpec,
        Code::CapabilityDenied,
        Code::Unauthenticated,
        Code::Forbidden,
        Code::NotFound,
        Code::MethodNotAllowed,
        Code::Conflict,
        Code::PayloadTooLarge,
        Code::UnsupportedMediaType,
        Code::RateLimited,
        Code::QuotaExceeded,
        Code::BudgetExceeded,
        Code::Unavailable,
        Code::Internal,
    ];

    pub fn status(self) -> StatusCode {
        match self {
            Code::BadRequest => StatusCode::BAD_REQUEST,
            Code::InvalidSpec | Code::CapabilityDenied => StatusCode::UNPROCESSABLE_ENTITY,
            Code::Unauthenticated => StatusCode::UNAUTHORIZED,
            Code::Forbidden => StatusCode::FORBIDDEN,
            Code::NotFound => StatusCode::NOT_FOUND,
            Code::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Code::Conflict => StatusCode::CONFLICT,
            Code::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Code::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Code::RateLimited | Code::QuotaExceeded => StatusCode::TOO_MANY_REQUESTS,
            Code::BudgetExceeded => StatusCode::PAYMENT_REQUIRED,
            Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Code::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Code::BadRequest => "bad_request",
            Code::InvalidSpec => "invalid_spec",
            Code::CapabilityDenied => "capability_denied",
            Code::Unauthenticated => "unauthenticated",
            Code::Forbidden => "forbidden",
            Code::NotFound => "not_found",
            Code::MethodNotAllowed => "method_not_allowed",
            Code::Conflict => "conflict",
            Code::PayloadTooLarge => "payload_too_large",
            Code::UnsupportedMediaType => "unsupported_media_type",
            Code::RateLimited => "rate_limited",
            Code::QuotaExceeded => "quota_exceeded",
            Code::BudgetExceeded => "budget_exceeded",
            Code::Unavailable => "unavailable",
            Code::Internal => "internal",
        }
    }
}

/// The body of every error response.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct ErrorBody {
    pub code: Code,
    pub message: String,
    pub details: serde_json::Value,
    pub request_id: String,
}

#[derive(Debug)]
pub struct ApiError {
    pub code: Code,
    pub message: String,
    pub details: serde_json::Value,
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(code: Code, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
            details: serde_json::Value::Null,
            retry_after: None,
        }
    }
    pub fn details(mut self, details: serde_json::Value) -> ApiError {
        self.details = details;
        self
    }
    pub fn retry_after(mut self, secs: u64) -> ApiError {
        self.retry_after = Some(secs);
        self
    }
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(Code::BadRequest, message)
    }
    pub fn not_found(what: impl std::fmt::Display) -> ApiError {
        ApiError::new(Code::NotFound, format!("{what} not found"))
    }
    pub fn internal(e: impl std::fmt::Display) -> ApiError {
        ApiError::new(Code::Internal, format!("internal error: {e}"))
    }
}

impl From<gauntlet_store::StoreError> for ApiError {
    fn from(e: gauntlet_store::StoreError) -> ApiError {
        use gauntlet_store::StoreError as E;
        match e {
            E::NotFound(_) | E::RunNotFound(_) | E::BaselineNotFound(_) => {
                ApiError::new(Code::NotFound, e.to_string())
            }
            E::Conflict(_) | E::Refused(_) => ApiError::new(Code::Conflict, e.to_string()),
            E::AmbiguousRun { .. } => ApiError::new(Code::BadRequest, e.to_string()),
            E::Transient(_) | E::Open { .. } => ApiError::new(Code::Unavailable, e.to_string()),
            other => ApiError::internal(other),
        }
    }
}

/// The request id of the request being answered, set by the request-id middleware so that
/// error bodies can carry it.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

tokio::task_local! {
    pub static REQUEST_ID: String;
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let request_id = REQUEST_ID.try_with(Clone::clone).unwrap_or_default();
        let body = ErrorBody {
            code: self.code,
            message: self.message,
            details: self.details,
            request_id,
        };
        let mut response = (self.code.status(), axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after
            && let Ok(v) = axum::http::HeaderValue::from_str(&secs.to_string())
        {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, v);
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

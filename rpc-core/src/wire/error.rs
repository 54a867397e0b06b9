//! JSON-RPC 2.0 error codes, the wire error object, and the error type every
//! call returns.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// Invalid JSON was received.
pub const PARSE_ERROR: i32 = -32700;
/// The JSON sent is not a valid Request object.
pub const INVALID_REQUEST: i32 = -32600;
/// The method does not exist or is not available.
pub const METHOD_NOT_FOUND: i32 = -32601;
/// Invalid method parameter(s).
pub const INVALID_PARAMS: i32 = -32602;
/// Internal JSON-RPC error (also: a handler panicked).
pub const INTERNAL_ERROR: i32 = -32603;
/// Implementation-defined server error: the peer is already running as many
/// calls for this connection as its configuration allows.
pub const SERVER_BUSY: i32 = -32000;
/// Implementation-defined server error: the caller cancelled the request
/// (`$/cancelRequest`) before it completed.
pub const REQUEST_CANCELLED: i32 = -32001;

/// The error codes the JSON-RPC 2.0 spec defines, and the ranges it reserves.
///
/// ```
/// use duplexrpc_core::ErrorCode;
/// assert_eq!(ErrorCode::from(-32601), ErrorCode::MethodNotFound);
/// assert_eq!(ErrorCode::MethodNotFound.code(), -32601);
/// assert_eq!(ErrorCode::from(42), ErrorCode::Application(42));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// -32700
    ParseError,
    /// -32600
    InvalidRequest,
    /// -32601
    MethodNotFound,
    /// -32602
    InvalidParams,
    /// -32603
    InternalError,
    /// -32000 to -32099: reserved for implementation-defined server errors.
    ServerError(i32),
    /// Any other code: defined by the application.
    Application(i32),
}

impl ErrorCode {
    /// The numeric code.
    pub const fn code(self) -> i32 {
        match self {
            ErrorCode::ParseError => PARSE_ERROR,
            ErrorCode::InvalidRequest => INVALID_REQUEST,
            ErrorCode::MethodNotFound => METHOD_NOT_FOUND,
            ErrorCode::InvalidParams => INVALID_PARAMS,
            ErrorCode::InternalError => INTERNAL_ERROR,
            ErrorCode::ServerError(c) | ErrorCode::Application(c) => c,
        }
    }

    /// The spec's message for the predefined codes.
    pub const fn message(self) -> &'static str {
        match self {
            ErrorCode::ParseError => "Parse error",
            ErrorCode::InvalidRequest => "Invalid Request",
            ErrorCode::MethodNotFound => "Method not found",
            ErrorCode::InvalidParams => "Invalid params",
            ErrorCode::InternalError => "Internal error",
            ErrorCode::ServerError(_) => "Server error",
            ErrorCode::Application(_) => "Application error",
        }
    }
}

impl From<i32> for ErrorCode {
    fn from(code: i32) -> Self {
        match code {
            PARSE_ERROR => ErrorCode::ParseError,
            INVALID_REQUEST => ErrorCode::InvalidRequest,
            METHOD_NOT_FOUND => ErrorCode::MethodNotFound,
            INVALID_PARAMS => ErrorCode::InvalidParams,
            INTERNAL_ERROR => ErrorCode::InternalError,
            -32099..=-32000 => ErrorCode::ServerError(code),
            _ => ErrorCode::Application(code),
        }
    }
}

impl From<ErrorCode> for i32 {
    fn from(code: ErrorCode) -> i32 {
        code.code()
    }
}

/// The `error` member of a JSON-RPC response.
///
/// Received objects keep every member when passed on: `"data": null` stays
/// apart from no `data` (`Some(Value::Null)` against `None`), and members
/// the spec does not define are kept, in [`ErrorObject::extra`].
///
/// ```
/// use duplexrpc_core::ErrorObject;
/// let e = ErrorObject::new(42, "no such user").with_data(serde_json::json!({"user": 7}));
/// assert_eq!(
///     serde_json::to_string(&e).unwrap(),
///     r#"{"code":42,"message":"no such user","data":{"user":7}}"#
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorObject {
    /// The error code.
    pub code: i32,
    /// A short description.
    pub message: String,
    /// Optional details: `None` when absent, `Some(Value::Null)` for `"data": null`.
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
    /// Members besides `code`, `message` and `data`, kept so that a relayed
    /// object is sent on intact.
    #[serde(flatten)]
    extra: serde_json::Map<String, serde_json::Value>,
}

/// Reads a member that is present as `Some`, even when it is `null`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<serde_json::Value>, D::Error> {
    serde_json::Value::deserialize(d).map(Some)
}

impl ErrorObject {
    /// An error object without data.
    pub fn new(code: impl Into<i32>, message: impl Into<String>) -> Self {
        ErrorObject {
            code: code.into(),
            message: message.into(),
            data: None,
            extra: serde_json::Map::new(),
        }
    }

    /// One of the spec's predefined errors, with the spec's message.
    pub fn from_code(code: ErrorCode) -> Self {
        ErrorObject::new(code, code.message())
    }

    /// Attaches `data`.
    pub fn with_data(mut self, data: serde_json::Value) -> Self {
        self.data = Some(data);
        self
    }

    /// The members besides `code`, `message` and `data` (none unless received).
    ///
    /// ```
    /// use duplexrpc_core::ErrorObject;
    /// let text = r#"{"code":1,"message":"m","data":null,"retry":3}"#;
    /// let e: ErrorObject = serde_json::from_str(text).unwrap();
    /// assert_eq!(e.data, Some(serde_json::Value::Null));
    /// assert_eq!(e.extra()["retry"], 3);
    /// assert_eq!(serde_json::to_string(&e).unwrap(), text);
    /// ```
    pub fn extra(&self) -> &serde_json::Map<String, serde_json::Value> {
        &self.extra
    }

    /// Adds a member besides `code`, `message` and `data` (the spec defines
    /// no others; some peers send their own). `code`, `message` and `data`
    /// are not taken here: they are the fields.
    pub fn with_extra(mut self, name: impl Into<String>, value: serde_json::Value) -> Self {
        let name = name.into();
        if !matches!(name.as_str(), "code" | "message" | "data") {
            self.extra.insert(name, value);
        }
        self
    }

    /// -32602 with a human-readable reason as `data`.
    pub fn invalid_params(reason: impl fmt::Display) -> Self {
        Self::from_code(ErrorCode::InvalidParams).with_data(reason.to_string().into())
    }

    /// -32603 with a human-readable reason as `data`.
    pub fn internal(reason: impl fmt::Display) -> Self {
        Self::from_code(ErrorCode::InternalError).with_data(reason.to_string().into())
    }
}

impl fmt::Display for ErrorObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.code)?;
        if let Some(data) = &self.data {
            write!(f, ": {data}")?;
        }
        Ok(())
    }
}

/// What a call returns when it does not succeed, and what a handler returns
/// to make a call fail.
///
/// A handler builds one with [`RpcError::new`] (or [`RpcError::with_data`]);
/// the caller receives it as [`RpcError::Call`] with the same code, message and
/// data. The other variants are produced locally by the peer.
///
/// ```
/// use duplexrpc_core::{ErrorCode, RpcError};
/// let e = RpcError::with_data(-1, "division by zero", serde_json::json!({"a": 1}));
/// assert_eq!(e.code(), Some(-1));
/// assert!(!e.is_disconnected());
/// assert_eq!(RpcError::from(ErrorCode::InvalidParams).code(), Some(-32602));
/// ```
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RpcError {
    /// The remote peer answered with an error object (or a handler returns one).
    #[error("call failed: {0}")]
    Call(ErrorObject),
    /// The connection closed or failed before the reply arrived. The reason is
    /// the first cause the peer saw, shared by every call that failed with it.
    #[error("disconnected: {0}")]
    Disconnected(Arc<str>),
    /// A resumable session ended for good while the call was pending: it
    /// could not be resumed (the resume window passed, the replay buffer
    /// overflowed, or the other end no longer knows the session). Unlike
    /// [`RpcError::Disconnected`] on a resumable session, this is final: the
    /// call's effects, if any, are unknown.
    #[error("session lost: {0}")]
    SessionLost(Arc<str>),
    /// The parameters could not be serialized.
    #[error("could not encode the call: {0}")]
    Encode(String),
    /// The reply's `result` did not match the expected type.
    #[error("could not decode the reply: {0}")]
    Decode(String),
    /// No reply within the call's timeout. The callee was sent `$/cancelRequest`.
    #[error("no reply within {0:?}")]
    Timeout(std::time::Duration),
    /// A local limit refused the call (e.g. too many calls already pending).
    #[error("limit exceeded: {0}")]
    Limit(String),
}

impl RpcError {
    /// An application error with a code and message.
    pub fn new(code: impl Into<i32>, message: impl Into<String>) -> Self {
        RpcError::Call(ErrorObject::new(code, message))
    }

    /// An application error with a code, message and data.
    pub fn with_data(code: impl Into<i32>, message: impl Into<String>, data: serde_json::Value) -> Self {
        RpcError::Call(ErrorObject::new(code, message).with_data(data))
    }

    /// The error code, for errors that carry one.
    pub fn code(&self) -> Option<i32> {
        match self {
            RpcError::Call(e) => Some(e.code),
            _ => None,
        }
    }

    /// The error object, for errors that carry one.
    pub fn object(&self) -> Option<&ErrorObject> {
        match self {
            RpcError::Call(e) => Some(e),
            _ => None,
        }
    }

    /// True if the call failed because the connection is gone.
    pub fn is_disconnected(&self) -> bool {
        matches!(self, RpcError::Disconnected(_))
    }

    /// True if the call failed because its resumable session was lost
    /// (see [`RpcError::SessionLost`]).
    pub fn is_session_lost(&self) -> bool {
        matches!(self, RpcError::SessionLost(_))
    }

    /// The error object a handler's reply carries for this error: a `Call`
    /// error as it is, anything else as -32603 with the reason as data.
    pub fn into_object(self) -> ErrorObject {
        match self {
            RpcError::Call(e) => e,
            other => ErrorObject::internal(other),
        }
    }
}

impl From<ErrorObject> for RpcError {
    fn from(e: ErrorObject) -> Self {
        RpcError::Call(e)
    }
}

impl From<ErrorCode> for RpcError {
    fn from(code: ErrorCode) -> Self {
        RpcError::Call(ErrorObject::from_code(code))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for code in [-32700, -32600, -32601, -32602, -32603, -32000, -32099, -1, 0, 7] {
            assert_eq!(ErrorCode::from(code).code(), code);
        }
        assert_eq!(ErrorCode::from(-32050), ErrorCode::ServerError(-32050));
        assert_eq!(ErrorCode::from(-32100), ErrorCode::Application(-32100));
    }

    #[test]
    fn error_object_wire_form() {
        let e: ErrorObject = serde_json::from_str(r#"{"code":-32601,"message":"Method not found"}"#).unwrap();
        assert_eq!(e, ErrorObject::from_code(ErrorCode::MethodNotFound));
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"code":-32601,"message":"Method not found"}"#
        );
    }

    #[test]
    fn received_members_are_kept() {
        let text = r#"{"code":-32601,"message":"Method not found","data":null,"x":{"y":[1]}}"#;
        let e: ErrorObject = serde_json::from_str(text).unwrap();
        assert_eq!(e.data, Some(serde_json::Value::Null));
        assert_eq!(
            e,
            ErrorObject::from_code(ErrorCode::MethodNotFound)
                .with_data(serde_json::Value::Null)
                .with_extra("x", serde_json::json!({"y": [1]}))
        );
        assert_eq!(serde_json::to_string(&e).unwrap(), text);
        let without: ErrorObject = serde_json::from_str(r#"{"code":1,"message":"m"}"#).unwrap();
        assert_eq!(without.data, None);
        assert_eq!(ErrorObject::new(1, "m").with_extra("code", 2.into()).extra().len(), 0);
        for bad in [
            r#"{"code":"1","message":"m"}"#,
            r#"{"code":1.5,"message":"m"}"#,
            r#"{"code":1}"#,
        ] {
            assert!(serde_json::from_str::<ErrorObject>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn local_errors_become_internal_errors() {
        let e = RpcError::Disconnected("gone".into()).into_object();
        assert_eq!(e.code, INTERNAL_ERROR);
        assert_eq!(e.data, Some("disconnected: gone".into()));
    }
}

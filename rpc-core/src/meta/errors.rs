//! Custom error types: [`RpcErrorType`], how a method's own error enum maps
//! to JSON-RPC error objects and back, and its description ([`ErrorMeta`])
//! for code generators.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::ParamMeta;
use crate::wire::error::{ErrorObject, RpcError};

/// An error type an `#[rpc]` method can return: `Result<T, E>` with
/// `E: RpcErrorType`. [`RpcError`] is one; an application's own enum is
/// another, usually by `#[derive(RpcErrorType)]`.
///
/// The serving side sends an `Err(e)` as [`RpcErrorType::into_error_object`];
/// the calling side's stub returns the same `E`, made by
/// [`RpcErrorType::from_rpc_error`] from what the call failed with: the
/// error object received, or a local failure (`Disconnected`, `Timeout`, ...).
/// So the type needs a place for what matches none of its own codes.
///
/// # The derive
///
/// Each variant is one error object: `#[rpc_error(code = .., message = "..")]`
/// gives its `code` and `message`; its fields are the `data`: named fields as
/// an object with one member per field, one unnamed field as the value
/// itself, no fields as no `data`. Exactly one variant is
/// `#[rpc_error(other)]` and holds an [`RpcError`]: a call's transport
/// failures, and error objects whose code (or data) matches no variant, arrive
/// there unchanged (and are sent on as they are). Field types implement
/// `Serialize` and `Deserialize`. The derive implements nothing else: add
/// `Debug`, `Display` or `thiserror::Error` as for any error.
///
/// ```
/// use duplexrpc_core::{rpc, ErrorObject, PeerBuilder, RpcError, RpcErrorType, transport::memory};
///
/// #[derive(Debug, PartialEq, RpcErrorType)]
/// pub enum BankError {
///     /// The account holds less than asked for.
///     #[rpc_error(code = 1001, message = "insufficient funds")]
///     Insufficient { needed: u64, available: u64 },
///     #[rpc_error(code = 1002, message = "no such account")]
///     NoAccount(String),
///     #[rpc_error(code = 1003, message = "account frozen")]
///     Frozen,
///     /// Disconnected, timed out, or an error this enum does not know.
///     #[rpc_error(other)]
///     Rpc(RpcError),
/// }
///
/// #[rpc(namespace = "bank")]
/// pub trait Bank {
///     async fn withdraw(&self, account: String, amount: u64) -> Result<u64, BankError>;
/// }
///
/// struct Teller;
/// impl Bank for Teller {
///     async fn withdraw(&self, account: String, amount: u64) -> Result<u64, BankError> {
///         match account.as_str() {
///             "alice" if amount <= 10 => Ok(10 - amount),
///             "alice" => Err(BankError::Insufficient { needed: amount, available: 10 }),
///             "bob" => Err(BankError::Frozen),
///             _ => Err(BankError::NoAccount(account)),
///         }
///     }
/// }
///
/// // On the wire:
/// let e = BankError::Insufficient { needed: 12, available: 10 }.into_error_object();
/// assert_eq!(
///     serde_json::to_string(&e).unwrap(),
///     r#"{"code":1001,"message":"insufficient funds","data":{"available":10,"needed":12}}"#
/// );
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let ((a_tx, a_rx), (b_tx, b_rx)) = memory::pair();
/// let mut server = PeerBuilder::new();
/// server.register(Teller.into_methods()).unwrap();
/// server.start(a_tx, a_rx);
/// let bank = BankClient::new(PeerBuilder::new().start(b_tx, b_rx));
///
/// // The stub returns the trait's own error type.
/// assert_eq!(bank.withdraw("alice".into(), 3).await, Ok(7));
/// assert_eq!(
///     bank.withdraw("alice".into(), 12).await,
///     Err(BankError::Insufficient { needed: 12, available: 10 })
/// );
/// assert_eq!(bank.withdraw("carol".into(), 1).await, Err(BankError::NoAccount("carol".into())));
/// bank.peer().close().await;
/// assert!(matches!(bank.withdraw("bob".into(), 1).await, Err(BankError::Rpc(e)) if e.is_disconnected()));
/// # });
///
/// // The codes are in the trait's metadata (TypeScript unions, OpenRPC `errors`).
/// use duplexrpc_core::RpcApi;
/// let codes: Vec<i32> = BankClient::META.methods[0].errors.iter().map(|e| e.code).collect();
/// assert_eq!(codes, [1001, 1002, 1003]);
/// ```
///
/// By hand, implement the two conversions (and `ERRORS` to describe the codes).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be an #[rpc] method's error type: it does not implement `RpcErrorType`",
    label = "no JSON-RPC error object mapping for `{Self}`",
    note = "derive it: `#[derive(RpcErrorType)]` with `#[rpc_error(code = 1001, message = \"...\")]` on each variant \
            and one `#[rpc_error(other)] Rpc(RpcError)` variant (transport failures, unknown codes)",
    note = "or implement `RpcErrorType` by hand (`into_error_object`, `from_rpc_error`), or return `RpcError`"
)]
pub trait RpcErrorType: Sized {
    /// What each code of this type means, for code generators. Empty by default.
    const ERRORS: &'static [ErrorMeta] = &[];

    /// The error object a reply carries for this error.
    fn into_error_object(self) -> ErrorObject;

    /// The error a call fails with, from what it failed with: the error
    /// object received ([`RpcError::Call`]) or a local failure.
    fn from_rpc_error(error: RpcError) -> Self;
}

/// As before custom errors: sent as itself ([`RpcError::into_object`]), and
/// a call's failure is returned unchanged.
impl RpcErrorType for RpcError {
    fn into_error_object(self) -> ErrorObject {
        self.into_object()
    }

    fn from_rpc_error(error: RpcError) -> Self {
        error
    }
}

/// One code of a custom error type (one variant of a derived enum).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErrorMeta {
    /// The error code.
    pub code: i32,
    /// The variant's name.
    pub name: &'static str,
    /// The error object's `message`.
    pub message: &'static str,
    /// The variant's doc comment.
    pub docs: &'static str,
    /// What the error object's `data` holds.
    pub data: ErrorData,
}

/// The `data` of one error code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorData {
    /// No `data` member.
    None,
    /// The one field's value (a variant with one unnamed field); its name is `"0"`.
    Value(ParamMeta),
    /// An object with one member per field (a variant with named fields).
    Object(&'static [ParamMeta]),
}

/// Used by generated code: a method's `Err` as the error the dispatcher sends.
#[doc(hidden)]
pub fn into_rpc_result<T, E: RpcErrorType>(result: Result<T, E>) -> Result<T, RpcError> {
    result.map_err(|e| RpcError::Call(e.into_error_object()))
}

/// Used by generated code: a call's failure as the method's error type.
#[doc(hidden)]
pub fn from_rpc_result<T, E: RpcErrorType>(result: Result<T, RpcError>) -> Result<T, E> {
    result.map_err(E::from_rpc_error)
}

/// Used by the derive: `value` as `data` (a value that cannot be serialized
/// makes the reply -32603, with the reason).
#[doc(hidden)]
pub fn to_data<T: Serialize + ?Sized>(value: &T) -> Result<serde_json::Value, ErrorObject> {
    serde_json::to_value(value).map_err(ErrorObject::internal)
}

/// Used by the derive: member `name` of an object `data` (absent reads as
/// `null`, so an `Option` field may be left out).
#[doc(hidden)]
pub fn data_member<T: DeserializeOwned>(object: &ErrorObject, name: &str) -> Option<T> {
    let member = match &object.data {
        Some(serde_json::Value::Object(members)) => members.get(name),
        _ => return None,
    };
    serde_json::from_value(member.cloned().unwrap_or_default()).ok()
}

/// Used by the derive: the whole `data`.
#[doc(hidden)]
pub fn data_value<T: DeserializeOwned>(object: &ErrorObject) -> Option<T> {
    serde_json::from_value(object.data.clone()?).ok()
}

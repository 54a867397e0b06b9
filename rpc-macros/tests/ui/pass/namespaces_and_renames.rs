//! Namespaces, renames and notifications: the wire names they produce.

use duplexrpc_core::{MethodKind, RpcApi, RpcError, rpc};

#[rpc(namespace = "calc")]
pub trait Calculator {
    async fn add(&self, a: i64, b: i64) -> Result<i64, RpcError>;
    #[method(name = "sub")]
    async fn subtract(&self, a: i64, b: i64) -> Result<i64, RpcError>;
    #[notification]
    async fn reset(&self);
    #[notification(name = "log_line")]
    async fn log(&self, line: String);
    /// Explicit `()` return on a notification is fine too.
    #[notification]
    async fn ping(&self) -> ();
}

/// Two traits can share method names when their namespaces differ.
#[rpc(namespace = "other")]
pub trait Other {
    async fn add(&self, a: i64, b: i64) -> Result<i64, RpcError>;
}

/// No namespace: the Rust name is the wire name.
#[rpc]
pub trait Plain {
    #[method]
    async fn add(&self, a: i64, b: i64) -> Result<i64, RpcError>;
    #[method(name = "system.version")]
    async fn version(&self) -> Result<String, RpcError>;
}

fn wire_names<T: RpcApi>() -> Vec<&'static str> {
    T::META.methods.iter().map(|m| m.wire_name).collect()
}

fn main() {
    assert_eq!(
        wire_names::<CalculatorClient>(),
        ["calc.add", "calc.sub", "calc.reset", "calc.log_line", "calc.ping"]
    );
    assert_eq!(wire_names::<OtherClient>(), ["other.add"]);
    assert_eq!(wire_names::<PlainClient>(), ["add", "system.version"]);
    let kinds: Vec<_> = CalculatorClient::META.methods.iter().map(|m| m.kind).collect();
    assert_eq!(
        kinds,
        [
            MethodKind::Request,
            MethodKind::Request,
            MethodKind::Notification,
            MethodKind::Notification,
            MethodKind::Notification
        ]
    );
    assert_eq!(CalculatorClient::META.methods[1].name, "subtract");
}

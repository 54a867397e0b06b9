//! Middleware around every incoming call (issue 18, item 5): refusing and
//! answering calls, composition order, the per-call context, and that
//! notifications and stream opens pass through it too.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use duplexrpc_core::middleware::{self, Call, Middleware, Next};
use duplexrpc_core::{ErrorObject, Id, Peer, PeerBuilder, RpcError, RpcStream, rpc, transport::memory};
use futures::StreamExt;

/// An application error code for "forbidden" (the server-error range;
/// -32000 and -32001 are this crate's "busy" and "cancelled").
const FORBIDDEN: i32 = -32003;

#[rpc]
trait Api {
    async fn add(&self, a: i64, b: i64) -> Result<i64, RpcError>;
    async fn secret(&self) -> Result<String, RpcError>;
    #[notification]
    async fn note(&self, text: String);
    async fn ticks(&self, n: u32) -> Result<RpcStream<u32>, RpcError>;
}

/// Records which handlers ran.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    fn push(&self, entry: impl Into<String>) {
        self.0.lock().unwrap().push(entry.into());
    }

    fn entries(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    /// Waits (at most 5 s) until `entry` is logged.
    async fn wait_for(&self, entry: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while !self.entries().iter().any(|e| e == entry) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{entry:?} never logged: {:?}",
                self.entries()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

struct Service(Log);

impl Api for Service {
    async fn add(&self, a: i64, b: i64) -> Result<i64, RpcError> {
        self.0.push("handler add");
        Ok(a + b)
    }

    async fn secret(&self) -> Result<String, RpcError> {
        self.0.push("handler secret");
        Ok("the secret".into())
    }

    async fn note(&self, text: String) {
        self.0.push(format!("handler note {text}"));
    }

    async fn ticks(&self, n: u32) -> Result<RpcStream<u32>, RpcError> {
        self.0.push("handler ticks");
        Ok(RpcStream::iter(0..n))
    }
}

/// A server with the `Api` service and the middleware `install` adds, and a
/// client connected to it; returns the client and the handlers' log.
fn connect(install: impl FnOnce(&mut PeerBuilder)) -> (Peer, Log) {
    let log = Log::default();
    let ((a_tx, a_rx), (b_tx, b_rx)) = memory::pair();
    let mut server = PeerBuilder::new();
    server.register(Service(log.clone()).into_methods()).unwrap();
    install(&mut server);
    server.start(a_tx, a_rx);
    (PeerBuilder::new().start(b_tx, b_rx), log)
}

/// Refuses `secret` with FORBIDDEN.
struct DenySecret;

impl Middleware for DenySecret {
    fn call<'a>(&'a self, call: Call<'a>, next: Next<'a>) -> middleware::CallResult {
        if call.method() == "secret" {
            return Err(ErrorObject::new(FORBIDDEN, "Forbidden").with_data("secret is not for you".into()));
        }
        next.run(call)
    }
}

#[tokio::test]
async fn a_middleware_refuses_a_method_with_an_application_error() {
    let (client, log) = connect(|server| {
        server.middleware(DenySecret);
    });
    let refused = client.call::<_, String>("secret", ()).await.unwrap_err();
    assert_eq!(
        refused.object(),
        Some(&ErrorObject::new(FORBIDDEN, "Forbidden").with_data("secret is not for you".into()))
    );
    // Other methods pass; the refused handler never ran.
    assert_eq!(client.call::<_, i64>("add", (2, 3)).await.unwrap(), 5);
    assert_eq!(log.entries(), ["handler add"]);
}

#[tokio::test]
async fn a_middleware_answers_a_call_itself() {
    let (client, log) = connect(|server| {
        server.middleware(middleware::from_fn(|call, next| match call.method() {
            // Even a method the service does not have.
            "version" => middleware::reply(&"1.2.3"),
            "add" => middleware::reply(&-1),
            _ => next.run(call),
        }));
    });
    assert_eq!(client.call::<_, String>("version", ()).await.unwrap(), "1.2.3");
    assert_eq!(client.call::<_, i64>("add", (2, 3)).await.unwrap(), -1);
    assert_eq!(client.call::<_, String>("secret", ()).await.unwrap(), "the secret");
    assert_eq!(log.entries(), ["handler secret"], "the answered calls ran no handler");
    let unknown = client.call::<_, String>("nope", ()).await.unwrap_err();
    assert_eq!(unknown.code(), Some(-32601));
}

/// Logs when a call enters it and when its reply leaves it.
struct Named(&'static str, Log);

impl Middleware for Named {
    fn call<'a>(&'a self, call: Call<'a>, next: Next<'a>) -> middleware::CallResult {
        self.1.push(format!("{} in", self.0));
        let reply = next.run(call)?;
        let (name, log) = (self.0, self.1.clone());
        Ok(Box::pin(async move {
            let outcome = reply.await;
            log.push(format!("{name} out"));
            outcome
        }))
    }
}

#[tokio::test]
async fn middleware_composes_in_the_order_installed() {
    let order = Log::default();
    let (client, log) = connect(|server| {
        for name in ["first", "second", "third"] {
            server.middleware(Named(name, order.clone()));
        }
    });
    assert_eq!(client.call::<_, i64>("add", (2, 3)).await.unwrap(), 5);
    assert_eq!(
        order.entries(),
        [
            "first in",
            "second in",
            "third in",
            "third out",
            "second out",
            "first out"
        ]
    );
    assert_eq!(log.entries(), ["handler add"]);

    // A refusal by the second one: the third and the handler never see the call.
    let order = Log::default();
    let (client, log) = connect(|server| {
        server.middleware(Named("first", order.clone()));
        server.middleware(DenySecret);
        server.middleware(Named("third", order.clone()));
    });
    assert_eq!(
        client.call::<_, String>("secret", ()).await.unwrap_err().code(),
        Some(FORBIDDEN)
    );
    assert_eq!(order.entries(), ["first in"]);
    assert!(log.entries().is_empty());
}

/// What a middleware saw of one call.
#[derive(Clone, Debug, PartialEq)]
struct Seen {
    method: String,
    params: Option<String>,
    id: Option<Id>,
    connection: u64,
}

fn record(seen: Arc<Mutex<Vec<Seen>>>) -> impl Middleware {
    middleware::from_fn(move |call: Call<'_>, next: Next<'_>| {
        seen.lock().unwrap().push(Seen {
            method: call.method().to_owned(),
            params: call.params().raw().map(|raw| raw.get().to_owned()),
            id: call.id().cloned(),
            connection: call.connection_id(),
        });
        assert_eq!(call.is_notification(), call.id().is_none());
        next.run(call)
    })
}

#[tokio::test]
async fn a_middleware_sees_method_params_id_and_connection() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut connection = None;
    let (client, log) = connect(|server| {
        connection = Some(server.connection_id());
        server.middleware(record(seen.clone()));
    });
    let connection = connection.unwrap();
    assert_eq!(client.call::<_, i64>("add", (2, 3)).await.unwrap(), 5);
    client.notify("note", ["hi"]).await.unwrap();
    log.wait_for("handler note hi").await;
    let mut stream = client.subscribe::<_, u32>("ticks", [3]).await.unwrap();
    let mut items = Vec::new();
    while let Some(item) = stream.next().await {
        items.push(item.unwrap());
    }
    assert_eq!(items, [0, 1, 2]);

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3, "{seen:?}");
    let call = |method: &str, params: &str, id: Option<Id>| Seen {
        method: method.into(),
        params: Some(params.into()),
        id,
        connection,
    };
    assert_eq!(seen[0], call("add", "[2,3]", seen[0].id.clone()));
    assert!(matches!(seen[0].id, Some(Id::Number(_))), "a request has its id");
    assert_eq!(seen[1], call("note", r#"["hi"]"#, None), "a notification has no id");
    assert_eq!(seen[2], call("ticks", "[3]", seen[2].id.clone()));
    assert!(seen[2].id.is_some() && seen[2].id != seen[0].id);

    // Another connection has another number.
    let other = Arc::new(Mutex::new(Vec::new()));
    let (client, _) = connect(|server| {
        server.middleware(record(other.clone()));
    });
    assert_eq!(client.call::<_, i64>("add", (1, 1)).await.unwrap(), 2);
    assert_ne!(other.lock().unwrap()[0].connection, connection);
}

#[tokio::test]
async fn notifications_and_stream_opens_are_refused_too() {
    let (client, log) = connect(|server| {
        server.middleware(middleware::from_fn(|call, next| match call.method() {
            "note" | "ticks" => Err(ErrorObject::new(FORBIDDEN, "Forbidden")),
            _ => next.run(call),
        }));
    });
    let refused = client.subscribe::<_, u32>("ticks", [3]).await.unwrap_err();
    assert_eq!(refused.code(), Some(FORBIDDEN));
    client.notify("note", ["dropped"]).await.unwrap();
    // Calls are handled in order: once `add` is answered, the notification
    // before it has been dropped, not just delayed.
    assert_eq!(client.call::<_, i64>("add", (2, 3)).await.unwrap(), 5);
    assert_eq!(log.entries(), ["handler add"]);
}

#[tokio::test]
async fn a_panicking_middleware_is_an_internal_error() {
    let (client, _) = connect(|server| {
        server.middleware(middleware::from_fn(|call, next| {
            if call.method() == "secret" {
                panic!("middleware bug");
            }
            next.run(call)
        }));
    });
    let e = client.call::<_, String>("secret", ()).await.unwrap_err();
    assert_eq!(e.code(), Some(-32603));
    assert_eq!(
        client.call::<_, i64>("add", (2, 3)).await.unwrap(),
        5,
        "the connection lives on"
    );
}

#[tokio::test]
async fn a_middleware_can_rewrite_params_for_the_handler() {
    let (client, _) = connect(|server| {
        server.middleware(middleware::from_fn(|call, next| {
            if call.method() == "add" {
                let fixed: &'static serde_json::value::RawValue = serde_json::from_str("[40,2]").unwrap();
                return next.run(call.with_params(duplexrpc_core::Params::new(Some(fixed))));
            }
            next.run(call)
        }));
    });
    assert_eq!(client.call::<_, i64>("add", (2, 3)).await.unwrap(), 42);
}

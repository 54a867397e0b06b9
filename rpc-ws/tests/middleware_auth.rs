//! Middleware over a real WebSocket (issue 18, item 5): the per-connection
//! setup installs a middleware holding what the handshake hook learned (the
//! user), which authorizes every call by method, and sees the connection's id.

use std::sync::{Arc, Mutex};

use duplexrpc_core::middleware::{Call, CallResult, Middleware, Next};
use duplexrpc_core::{ErrorObject, Peer, RpcError, rpc};
use duplexrpc_ws::{ClientBuilder, Rejection, Server, ServerHandle};

/// An application error code for "forbidden".
const FORBIDDEN: i32 = -32003;

#[rpc(namespace = "admin")]
trait Admin {
    async fn reset(&self) -> Result<String, RpcError>;
}

#[rpc(namespace = "user")]
trait User {
    async fn hello(&self) -> Result<String, RpcError>;
}

struct Service;

impl Admin for Service {
    async fn reset(&self) -> Result<String, RpcError> {
        Ok("reset".into())
    }
}

impl User for Service {
    async fn hello(&self) -> Result<String, RpcError> {
        Ok("hello".into())
    }
}

/// The authenticated user, as the handshake hook returns it.
#[derive(Clone, Debug, PartialEq)]
struct Who {
    name: &'static str,
    admin: bool,
}

/// (user, connection id, method) of every call a middleware saw.
type Log = Arc<Mutex<Vec<(&'static str, u64, String)>>>;
/// (user, connection id) of every connection set up.
type Connections = Arc<Mutex<Vec<(&'static str, u64)>>>;

/// `admin.*` only for admins. Logs (user, connection id, method) of every call it sees.
struct Authorize {
    who: Who,
    log: Log,
}

impl Middleware for Authorize {
    fn call<'a>(&'a self, call: Call<'a>, next: Next<'a>) -> CallResult {
        let entry = (self.who.name, call.connection_id(), call.method().to_owned());
        self.log.lock().unwrap().push(entry);
        if call.method().starts_with("admin.") && !self.who.admin {
            return Err(
                ErrorObject::new(FORBIDDEN, "Forbidden").with_data(format!("{} is not an admin", self.who.name).into())
            );
        }
        next.run(call)
    }
}

/// A server authenticating by bearer token; returns its handle, the calls
/// the middleware saw, and (user, connection id) of each connection set up.
async fn server() -> (ServerHandle, Log, Connections) {
    let log = Log::default();
    let connections = Connections::default();
    let (seen, set_up) = (log.clone(), connections.clone());
    let handle = Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .on_handshake(|req| match req.bearer_token() {
            Some("t-alice") => Ok(Who {
                name: "alice",
                admin: true,
            }),
            Some("t-bob") => Ok(Who {
                name: "bob",
                admin: false,
            }),
            _ => Err(Rejection::unauthorized("unknown token")),
        })
        .serve(move |conn, info| {
            set_up.lock().unwrap().push((info.auth.name, conn.connection_id()));
            conn.middleware(Authorize {
                who: info.auth.clone(),
                log: seen.clone(),
            });
            conn.register(Admin::into_methods(Service))?;
            conn.register(User::into_methods(Service))?;
            Ok(())
        });
    (handle, log, connections)
}

async fn client(server: &ServerHandle, token: &str) -> Peer {
    ClientBuilder::new(server.url())
        .header("Authorization", format!("Bearer {token}"))
        .connect()
        .await
        .unwrap()
        .start()
}

#[tokio::test]
async fn a_middleware_authorizes_each_method_from_the_handshakes_user() {
    let (server, log, connections) = server().await;
    let alice = client(&server, "t-alice").await;
    let bob = client(&server, "t-bob").await;

    assert_eq!(AdminClient::new(alice.clone()).reset().await.unwrap(), "reset");
    let refused = AdminClient::new(bob.clone()).reset().await.unwrap_err();
    assert_eq!(
        refused.object(),
        Some(&ErrorObject::new(FORBIDDEN, "Forbidden").with_data("bob is not an admin".into()))
    );
    assert_eq!(UserClient::new(bob.clone()).hello().await.unwrap(), "hello");

    // Each call was seen with its connection's user and id.
    let connections = connections.lock().unwrap().clone();
    let id_of = |name| connections.iter().find(|(n, _)| *n == name).unwrap().1;
    assert_ne!(id_of("alice"), id_of("bob"));
    assert_eq!(
        log.lock().unwrap().clone(),
        [
            ("alice", id_of("alice"), "admin.reset".to_string()),
            ("bob", id_of("bob"), "admin.reset".to_string()),
            ("bob", id_of("bob"), "user.hello".to_string()),
        ]
    );
    alice.close().await;
    bob.close().await;
    server.stop().await;
}

/// The client side too: a middleware on the client's connection wraps the
/// calls the server makes into it.
#[tokio::test]
async fn a_client_middleware_wraps_the_calls_the_server_makes() {
    let (client_peer_tx, client_peer_rx) = tokio::sync::oneshot::channel::<Peer>();
    let client_peer_tx = Mutex::new(Some(client_peer_tx));
    let server = Server::bind("127.0.0.1:0").await.unwrap().serve(move |conn, _info| {
        if let Some(tx) = client_peer_tx.lock().unwrap().take() {
            let _ = tx.send(conn.peer().clone());
        }
        Ok(())
    });
    let log = Log::default();
    let mut conn = ClientBuilder::new(server.url()).connect().await.unwrap();
    conn.register(Admin::into_methods(Service)).unwrap();
    conn.register(User::into_methods(Service)).unwrap();
    conn.middleware(Authorize {
        who: Who {
            name: "server",
            admin: false,
        },
        log: log.clone(),
    });
    let client = conn.start();
    let to_client = client_peer_rx.await.unwrap();

    assert_eq!(UserClient::new(to_client.clone()).hello().await.unwrap(), "hello");
    let refused = AdminClient::new(to_client.clone()).reset().await.unwrap_err();
    assert_eq!(refused.object().map(|e| e.code), Some(FORBIDDEN));
    let seen: Vec<String> = log.lock().unwrap().iter().map(|(_, _, m)| m.clone()).collect();
    assert_eq!(seen, ["user.hello", "admin.reset"]);
    client.close().await;
    server.stop().await;
}

/// An asynchronous setup returns its middleware with its methods.
#[tokio::test]
async fn an_async_setup_installs_middleware_with_its_methods() {
    let log = Log::default();
    let seen = log.clone();
    let server = Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .on_handshake(|req| match req.bearer_token() {
            Some("t-bob") => Ok(Who {
                name: "bob",
                admin: false,
            }),
            _ => Err(Rejection::unauthorized("unknown token")),
        })
        .serve_async(move |_peer, info| {
            let seen = seen.clone();
            async move {
                tokio::task::yield_now().await; // e.g. a session store's round trip
                let mut methods = Admin::into_methods(Service);
                methods.merge(User::into_methods(Service))?;
                Ok(duplexrpc_ws::Services::new(methods).middleware(Authorize {
                    who: info.auth.clone(),
                    log: seen,
                }))
            }
        });
    let bob = client(&server, "t-bob").await;
    assert_eq!(UserClient::new(bob.clone()).hello().await.unwrap(), "hello");
    let refused = AdminClient::new(bob.clone()).reset().await.unwrap_err();
    assert_eq!(refused.object().map(|e| e.code), Some(FORBIDDEN));
    let seen: Vec<String> = log.lock().unwrap().iter().map(|(_, _, m)| m.clone()).collect();
    assert_eq!(seen, ["user.hello", "admin.reset"]);
    bob.close().await;
    server.stop().await;
}

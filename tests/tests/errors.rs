//! Error objects end to end: relayed intact (every member, `"data": null`
//! apart from no data), a malformed reply failing its call at once, and
//! custom error enums (`#[derive(RpcError)]`) from handler to client stub.
//!
//! The far end of each connection is a raw in-process transport, so the
//! exact text on the wire is what is checked.

use std::time::Duration;

use duplexrpc_core::transport::memory::{self, MemoryReceiver, MemorySender};
use duplexrpc_core::transport::{Receiver, Sender};
use duplexrpc_core::{Methods, Peer, PeerBuilder, RpcError};
use rpc_tests::within;
use serde_json::{Value, json};

/// A peer serving `methods` on one end of an in-process pair, and the raw other end.
fn peer_and_raw(build: impl FnOnce(&Peer) -> Methods) -> (Peer, MemorySender, MemoryReceiver) {
    let ((a_tx, a_rx), (b_tx, b_rx)) = memory::pair();
    let mut builder = PeerBuilder::new();
    let methods = build(builder.peer());
    builder.register(methods).unwrap();
    (builder.start(a_tx, a_rx), b_tx, b_rx)
}

async fn recv_json(rx: &mut MemoryReceiver) -> Value {
    let text = within("a frame", rx.receive()).await.unwrap();
    serde_json::from_str(&text).unwrap()
}

async fn send(tx: &mut MemorySender, v: Value) {
    tx.feed(v.to_string()).await.unwrap();
}

const UPSTREAM_ERROR: &str = r#"{"code":5,"message":"upstream failed","data":null,"retry":{"after":3}}"#;

#[tokio::test]
async fn an_error_object_is_relayed_with_every_member() {
    // `relay` calls `upstream` on the caller and fails with what it got.
    let (_peer, mut tx, mut rx) = peer_and_raw(|peer| {
        let peer = peer.clone();
        let mut m = Methods::new();
        m.method("relay", move |(): ()| {
            let peer = peer.clone();
            async move { peer.call::<_, Value>("upstream", ()).await }
        })
        .unwrap();
        m
    });
    send(&mut tx, json!({"jsonrpc": "2.0", "id": 1, "method": "relay"})).await;
    let upstream = recv_json(&mut rx).await;
    assert_eq!(upstream["method"], "upstream");
    let reply = format!(
        r#"{{"jsonrpc":"2.0","id":{},"error":{UPSTREAM_ERROR}}}"#,
        upstream["id"]
    );
    tx.feed(reply).await.unwrap();
    let text = within("the relayed reply", rx.receive()).await.unwrap();
    assert_eq!(text, format!(r#"{{"jsonrpc":"2.0","error":{UPSTREAM_ERROR},"id":1}}"#));
}

#[tokio::test]
async fn data_null_and_extra_members_reach_the_caller() {
    let (peer, mut tx, mut rx) = peer_and_raw(|_| Methods::new());
    let call = tokio::spawn(async move { peer.call::<_, Value>("upstream", ()).await });
    let request = recv_json(&mut rx).await;
    tx.feed(format!(
        r#"{{"jsonrpc":"2.0","id":{},"error":{UPSTREAM_ERROR}}}"#,
        request["id"]
    ))
    .await
    .unwrap();
    let error = within("the call", call).await.unwrap().unwrap_err();
    let object = error.object().expect("an error object");
    assert_eq!(object.data, Some(Value::Null), "present null is not absent");
    assert_eq!(serde_json::to_string(object).unwrap(), UPSTREAM_ERROR);
}

#[tokio::test]
async fn a_malformed_error_reply_fails_the_call_at_once() {
    let (peer, mut tx, mut rx) = peer_and_raw(|_| Methods::new());
    // A timeout far beyond the test's deadline: only the reply can end the call.
    let call = tokio::spawn(async move {
        peer.call_with_timeout::<_, Value>("m", (), Duration::from_secs(600))
            .await
    });
    let request = recv_json(&mut rx).await;
    send(
        &mut tx,
        json!({"jsonrpc": "2.0", "id": request["id"], "error": {"code": "x", "message": "m"}}),
    )
    .await;
    match within("the failed call", call).await.unwrap() {
        Err(RpcError::Decode(reason)) => {
            assert!(reason.contains("malformed error object"), "{reason}");
            assert!(reason.contains("expected i32"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

// ------------------------------------------------------------- custom errors

mod bank {
    use duplexrpc_core::{RpcError, RpcErrorType, RpcStream, rpc};

    #[derive(Debug, PartialEq, RpcErrorType)]
    pub enum BankError {
        /// The account holds less than asked for.
        #[rpc_error(code = 1001, message = "insufficient funds")]
        Insufficient {
            needed: u64,
            available: u64,
            note: Option<String>,
        },
        #[rpc_error(code = 1002, message = "no such account")]
        NoAccount(String),
        #[rpc_error(code = -7, message = "account frozen")]
        Frozen,
        #[rpc_error(other)]
        Rpc(RpcError),
    }

    #[rpc(namespace = "bank")]
    pub trait Bank {
        async fn withdraw(&self, account: String, amount: u64) -> Result<u64, BankError>;
        async fn history(&self, account: String) -> Result<RpcStream<u64>, BankError>;
        async fn plain(&self) -> Result<(), RpcError>;
    }

    pub struct Teller;

    impl Bank for Teller {
        async fn withdraw(&self, account: String, amount: u64) -> Result<u64, BankError> {
            match account.as_str() {
                "alice" if amount <= 10 => Ok(10 - amount),
                "alice" => Err(BankError::Insufficient {
                    needed: amount,
                    available: 10,
                    note: None,
                }),
                "bob" => Err(BankError::Frozen),
                "relay" => Err(BankError::Rpc(RpcError::with_data(
                    77,
                    "upstream",
                    serde_json::json!([1]),
                ))),
                "local" => Err(BankError::Rpc(RpcError::Timeout(std::time::Duration::from_secs(1)))),
                _ => Err(BankError::NoAccount(account)),
            }
        }

        async fn history(&self, account: String) -> Result<RpcStream<u64>, BankError> {
            Err(BankError::NoAccount(account))
        }

        async fn plain(&self) -> Result<(), RpcError> {
            Err(RpcError::new(5, "plain"))
        }
    }
}

use bank::{Bank, BankClient, BankError, Teller};

#[tokio::test]
async fn each_variant_is_sent_as_its_error_object() {
    let (_peer, mut tx, mut rx) = peer_and_raw(|_| Teller.into_methods());
    let cases = [
        (
            json!(["alice", 12]),
            json!({"code": 1001, "message": "insufficient funds", "data": {"needed": 12, "available": 10, "note": null}}),
        ),
        (
            json!(["carol", 1]),
            json!({"code": 1002, "message": "no such account", "data": "carol"}),
        ),
        (json!(["bob", 1]), json!({"code": -7, "message": "account frozen"})),
        // The `other` variant is sent as the error it holds.
        (
            json!(["relay", 1]),
            json!({"code": 77, "message": "upstream", "data": [1]}),
        ),
        (
            json!(["local", 1]),
            json!({"code": -32603, "message": "Internal error", "data": "no reply within 1s"}),
        ),
    ];
    for (id, (params, error)) in cases.into_iter().enumerate() {
        send(
            &mut tx,
            json!({"jsonrpc": "2.0", "id": id, "method": "bank.withdraw", "params": params}),
        )
        .await;
        assert_eq!(
            recv_json(&mut rx).await,
            json!({"jsonrpc": "2.0", "id": id, "error": error}),
            "{params}"
        );
    }
    send(&mut tx, json!({"jsonrpc": "2.0", "id": 9, "method": "bank.plain"})).await;
    assert_eq!(
        recv_json(&mut rx).await,
        json!({"jsonrpc": "2.0", "id": 9, "error": {"code": 5, "message": "plain"}})
    );
}

#[tokio::test]
async fn the_client_stub_returns_the_same_error_type() {
    let ((a_tx, a_rx), (b_tx, b_rx)) = memory::pair();
    let mut server = PeerBuilder::new();
    server.register(Teller.into_methods()).unwrap();
    let _server = server.start(a_tx, a_rx);
    let bank = BankClient::new(PeerBuilder::new().start(b_tx, b_rx));

    assert_eq!(within("withdraw", bank.withdraw("alice".into(), 3)).await, Ok(7));
    assert_eq!(
        within("withdraw", bank.withdraw("alice".into(), 12)).await,
        Err(BankError::Insufficient {
            needed: 12,
            available: 10,
            note: None
        })
    );
    assert_eq!(
        within("withdraw", bank.withdraw("carol".into(), 1)).await,
        Err(BankError::NoAccount("carol".into()))
    );
    assert_eq!(
        within("withdraw", bank.withdraw("bob".into(), 1)).await,
        Err(BankError::Frozen)
    );
    assert_eq!(
        within("withdraw", bank.withdraw("relay".into(), 1)).await,
        Err(BankError::Rpc(RpcError::with_data(77, "upstream", json!([1]))))
    );
    let stream = within("history", bank.history("dave".into())).await;
    assert!(
        matches!(stream, Err(BankError::NoAccount(ref a)) if a == "dave"),
        "{stream:?}"
    );
    assert_eq!(within("plain", bank.plain()).await, Err(RpcError::new(5, "plain")));

    bank.peer().close().await;
    match within("withdraw", bank.withdraw("alice".into(), 1)).await {
        Err(BankError::Rpc(e)) => assert!(e.is_disconnected(), "{e:?}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn unknown_codes_data_that_does_not_read_and_timeouts_go_to_the_other_variant() {
    let (peer, mut tx, mut rx) = peer_and_raw(|_| Methods::new());
    let bank = BankClient::new(peer.clone());
    let replies = [
        json!({"code": 1003, "message": "new in the server"}),
        json!({"code": 1001, "message": "insufficient funds", "data": {"needed": "lots"}}),
        json!({"code": 1002, "message": "no such account"}),
    ];
    for error in replies {
        let call = tokio::spawn({
            let bank = bank.clone();
            async move { bank.withdraw("x".into(), 1).await }
        });
        let request = recv_json(&mut rx).await;
        send(&mut tx, json!({"jsonrpc": "2.0", "id": request["id"], "error": error})).await;
        let got = within("the call", call).await.unwrap();
        let object: duplexrpc_core::ErrorObject = serde_json::from_value(error).unwrap();
        assert_eq!(got, Err(BankError::Rpc(RpcError::Call(object))));
    }
    let quick = bank.with_timeout(Duration::from_millis(50));
    match within("the timed-out call", quick.withdraw("x".into(), 1)).await {
        Err(BankError::Rpc(RpcError::Timeout(_))) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_codes_are_in_the_metadata() {
    use duplexrpc_core::RpcApi;
    use duplexrpc_core::meta::ErrorData;
    let withdraw = &BankClient::META.methods[0];
    assert_eq!(withdraw.error_type, "BankError");
    let codes: Vec<(i32, &str, &str)> = withdraw.errors.iter().map(|e| (e.code, e.name, e.message)).collect();
    assert_eq!(
        codes,
        [
            (1001, "Insufficient", "insufficient funds"),
            (1002, "NoAccount", "no such account"),
            (-7, "Frozen", "account frozen")
        ]
    );
    assert_eq!(withdraw.errors[0].docs, "The account holds less than asked for.");
    let ErrorData::Object(fields) = withdraw.errors[0].data else {
        panic!("{:?}", withdraw.errors[0].data)
    };
    let names: Vec<_> = fields.iter().map(|f| (f.name, f.rust_type)).collect();
    assert_eq!(
        names,
        [("needed", "u64"), ("available", "u64"), ("note", "Option<String>")]
    );
    assert!(matches!(withdraw.errors[1].data, ErrorData::Value(p) if p.rust_type == "String"));
    assert_eq!(withdraw.errors[2].data, ErrorData::None);
    let plain = &BankClient::META.methods[2];
    assert_eq!((plain.error_type, plain.errors.len()), ("RpcError", 0));
}

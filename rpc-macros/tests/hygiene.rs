//! Hygiene: the code `#[rpc]` generates names every runtime item by an
//! absolute path (`::core::...`, `{crate}::__private::...`), so it compiles
//! in a module without the prelude, next to user items that shadow the usual
//! names, with arguments named like the generated code's own locals, and with
//! the runtime crate under another name (`#[rpc(crate = "...")]`).

// What a user gets from `renamed_core = { package = "duplexrpc-core", ... }` in
// their Cargo.toml: the runtime crate in the extern prelude under another
// name. (Cargo refuses a second dev-dependency on the same package under a
// different name, so the alias is made here; that generated code never names
// `duplexrpc_core` when `crate` is given is checked on the expansion itself, in the
// macro crate's unit tests.)
extern crate duplexrpc_core as renamed_core;

/// The default runtime path (`::duplexrpc_core`), no prelude.
mod plain {
    #![no_implicit_prelude]

    use ::core::result::Result;
    use ::duplexrpc_core::{PeerBuilder, RpcApi, RpcError, RpcStream, rpc, transport::memory};
    use ::std::string::String;
    use ::tokio::sync::mpsc;

    /// An error whose fields are named like the derive's locals.
    #[derive(Debug, PartialEq, ::duplexrpc_core::RpcErrorType)]
    pub enum Failure {
        #[rpc_error(code = 1, message = "locals")]
        Locals {
            object: u8,
            error: u8,
            members: u8,
            value: u8,
            e: u8,
        },
        #[rpc_error(code = 2, message = "one")]
        One(String),
        #[rpc_error(code = 3, message = "none")]
        Nothing,
        #[rpc_error(other)]
        Rpc(RpcError),
    }

    /// Echoes.
    #[rpc(namespace = "hygiene")]
    pub trait Echo {
        /// Fails with each of `Failure`'s codes.
        async fn fail(&self, code: u8) -> Result<(), Failure>;
        /// Returns its argument.
        async fn echo(&self, text: String) -> Result<String, RpcError>;
        /// Arguments named like the locals of the generated code, sent by
        /// name (a generated struct) and read back by the generated server.
        #[method(params = "named")]
        async fn locals(&self, this: i64, methods: i64, params: i64, fut: i64, peer: i64) -> Result<i64, RpcError>;
        /// No arguments.
        async fn zero(&self) -> Result<u8, RpcError>;
        /// A notification.
        #[notification]
        async fn bump(&self, by: u32);
        /// A stream.
        async fn count(&self, to: u32) -> Result<RpcStream<u32>, RpcError>;
    }

    pub struct Service {
        pub bumps: mpsc::UnboundedSender<u32>,
    }

    impl Echo for Service {
        async fn fail(&self, code: u8) -> Result<(), Failure> {
            ::core::result::Result::Err(match code {
                1 => Failure::Locals {
                    object: 1,
                    error: 2,
                    members: 3,
                    value: 4,
                    e: 5,
                },
                2 => Failure::One(::core::convert::From::from("x")),
                _ => Failure::Nothing,
            })
        }

        async fn echo(&self, text: String) -> Result<String, RpcError> {
            ::core::result::Result::Ok(text)
        }

        async fn locals(&self, this: i64, methods: i64, params: i64, fut: i64, peer: i64) -> Result<i64, RpcError> {
            ::core::result::Result::Ok(this * 10_000 + methods * 1_000 + params * 100 + fut * 10 + peer)
        }

        async fn zero(&self) -> Result<u8, RpcError> {
            ::core::result::Result::Ok(0)
        }

        async fn bump(&self, by: u32) {
            let _ = self.bumps.send(by);
        }

        async fn count(&self, to: u32) -> Result<RpcStream<u32>, RpcError> {
            ::core::result::Result::Ok(RpcStream::iter(0..to))
        }
    }

    pub async fn run() {
        let (bumps, mut bumped) = mpsc::unbounded_channel();
        let ((a_tx, a_rx), (b_tx, b_rx)) = memory::pair();
        let mut server = PeerBuilder::new();
        server
            .register(
                Service {
                    bumps: ::core::clone::Clone::clone(&bumps),
                }
                .into_methods(),
            )
            .unwrap();
        let server = server.start(a_tx, a_rx);
        let client = EchoClient::new(PeerBuilder::new().start(b_tx, b_rx));

        let hello: String = ::core::convert::From::from("hello");
        ::std::assert_eq!(
            client.echo(::core::clone::Clone::clone(&hello)).await,
            ::core::result::Result::Ok(hello)
        );
        ::std::assert_eq!(client.locals(1, 2, 3, 4, 5).await, ::core::result::Result::Ok(12_345));
        ::std::assert_eq!(client.zero().await, ::core::result::Result::Ok(0));
        let locals = Failure::Locals {
            object: 1,
            error: 2,
            members: 3,
            value: 4,
            e: 5,
        };
        ::std::assert_eq!(client.fail(1).await, ::core::result::Result::Err(locals));
        let one = Failure::One(::core::convert::From::from("x"));
        ::std::assert_eq!(client.fail(2).await, ::core::result::Result::Err(one));
        ::std::assert_eq!(client.fail(3).await, ::core::result::Result::Err(Failure::Nothing));
        client.bump(7).await.unwrap();
        ::std::assert_eq!(bumped.recv().await, ::core::option::Option::Some(7));
        // (Streams are consumed in duplexrpc-core's tests; this one only opens.)
        ::std::assert!(client.count(3).await.is_ok());

        // By name, in process: the object's keys are the argument names.
        let methods = Service { bumps }.into_methods();
        let reply = methods
            .call(
                "hygiene.locals",
                r#"{"peer": 5, "fut": 4, "params": 3, "methods": 2, "this": 1}"#,
            )
            .await;
        ::std::assert_eq!(reply.unwrap(), "12345");

        let meta = <EchoClient as RpcApi>::META;
        ::std::assert_eq!(meta.namespace, ::core::option::Option::Some("hygiene"));
        ::std::assert_eq!(meta.methods[2].wire_name, "hygiene.locals");
        ::std::assert_eq!(meta.methods[2].params[0].name, "this");
        ::std::assert_eq!(meta.methods[0].errors.len(), 3);

        server.close().await;
        client.peer().closed().await;
    }
}

/// The runtime crate under another name, no prelude.
mod renamed {
    #![no_implicit_prelude]

    use ::renamed_core::{PeerBuilder, RpcError, rpc, transport::memory};

    #[derive(Debug, PartialEq, ::renamed_core::RpcErrorType)]
    #[rpc_error(crate = "::renamed_core")]
    pub enum Overflow {
        #[rpc_error(code = 1, message = "overflow")]
        Overflow,
        #[rpc_error(other)]
        Rpc(RpcError),
    }

    #[rpc(crate = "::renamed_core")]
    pub trait Counter {
        async fn add(&self, a: i64, b: i64) -> ::core::result::Result<i64, RpcError>;
        async fn checked_add(&self, a: i64, b: i64) -> ::core::result::Result<i64, Overflow>;
        #[notification(name = "tick")]
        async fn on_tick(&self);
    }

    pub struct Service;

    impl Counter for Service {
        async fn add(&self, a: i64, b: i64) -> ::core::result::Result<i64, RpcError> {
            ::core::result::Result::Ok(a + b)
        }

        async fn checked_add(&self, a: i64, b: i64) -> ::core::result::Result<i64, Overflow> {
            a.checked_add(b).ok_or(Overflow::Overflow)
        }

        async fn on_tick(&self) {}
    }

    pub async fn run() {
        let ((a_tx, a_rx), (b_tx, b_rx)) = memory::pair();
        let mut server = PeerBuilder::new();
        server.register(Service.into_methods()).unwrap();
        let server = server.start(a_tx, a_rx);
        let client = CounterClient::new(PeerBuilder::new().start(b_tx, b_rx));
        ::std::assert_eq!(client.add(2, 3).await, ::core::result::Result::Ok(5));
        let overflow = client.checked_add(i64::MAX, 1).await;
        ::std::assert_eq!(overflow, ::core::result::Result::Err(Overflow::Overflow));
        client.on_tick().await.unwrap();
        server.close().await;
    }
}

/// User items that shadow every name the generated code could have used
/// unqualified: generated code must not pick them up.
#[allow(dead_code, non_camel_case_types)]
mod shadowed {
    use duplexrpc_core::{RpcError, rpc};

    struct Result;
    struct Option;
    struct Ok;
    struct Err;
    struct Box;
    struct Arc;
    struct Vec;
    struct String;
    struct Methods;
    struct Peer;
    struct Params;
    struct __Params;
    struct ParamsDecoder;
    struct __RpcNamedParams;
    trait Send {}
    trait Sync {}
    trait Sized {}
    trait Clone {}
    trait Debug {}
    trait Future {}
    trait Deserialize {}
    trait Serialize {}
    mod core {}
    mod serde {}
    mod __private {}

    #[rpc]
    pub trait Shadowed {
        async fn get(&self, key: ::std::string::String) -> ::core::result::Result<::std::vec::Vec<u8>, RpcError>;
        #[notification(params = "named")]
        async fn poke(&self);
        #[method(params = "named")]
        async fn put(
            &self,
            key: ::std::string::String,
            value: ::core::option::Option<u8>,
        ) -> ::core::result::Result<(), RpcError>;
    }

    pub struct Service;

    impl Shadowed for Service {
        async fn get(&self, key: ::std::string::String) -> ::core::result::Result<::std::vec::Vec<u8>, RpcError> {
            ::core::result::Result::Ok(key.into_bytes())
        }

        async fn poke(&self) {}

        async fn put(
            &self,
            _key: ::std::string::String,
            _value: ::core::option::Option<u8>,
        ) -> ::core::result::Result<(), RpcError> {
            ::core::result::Result::Ok(())
        }
    }

    pub async fn run() {
        let reply = Service.into_methods().call("get", r#"["ab"]"#).await;
        assert_eq!(reply.unwrap(), "[97,98]");
        let reply = Service.into_methods().call("put", r#"["k"]"#).await;
        assert_eq!(reply.unwrap(), "null");
    }
}

#[tokio::test]
async fn compiles_and_runs_without_the_prelude() {
    plain::run().await;
}

#[tokio::test]
async fn compiles_and_runs_with_the_runtime_crate_renamed() {
    renamed::run().await;
}

#[tokio::test]
async fn ignores_user_items_that_shadow_runtime_names() {
    shadowed::run().await;
}

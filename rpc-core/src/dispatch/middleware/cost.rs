//! What a middleware costs per call: our trait against a tower `Service`
//! stack, on the dispatch path of one request (parse the frame, run the
//! middleware, look the method up, parse the params, run the handler, encode
//! the reply), in memory, 1M calls per variant. Prints times, asserts only
//! that every variant answered every call. Run it in release:
//!
//! `cargo test --release -p duplexrpc-core --lib cost -- --ignored --nocapture`

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use futures::FutureExt;
use futures::future::BoxFuture;
use serde_json::value::RawValue;
use tower::util::BoxCloneService;
use tower::{Layer, Service, ServiceExt};

use super::{Call, Middleware, Next, Stack};
use crate::dispatch::methods::{Methods, Outcome, Params};
use crate::wire::error::{ErrorCode, ErrorObject, RpcError};
use crate::wire::id::Id;
use crate::wire::message::{Frame, Incoming, encode_error, parse_frame};

const CALLS: usize = 1_000_000;
const FRAME: &str = r#"{"jsonrpc":"2.0","id":7,"method":"add","params":[2,3]}"#;

fn methods() -> Methods {
    let mut methods = Methods::new();
    methods
        .method("add", |(a, b): (i64, i64)| async move { Ok::<_, RpcError>(a + b) })
        .unwrap();
    methods
}

/// A middleware that only passes the call on: the cost of the mechanism.
struct Pass;

impl Middleware for Pass {
    fn call<'a>(&'a self, call: Call<'a>, next: Next<'a>) -> super::CallResult {
        next.run(call)
    }
}

/// The reply text, as the dispatcher makes it.
fn reply(outcome: Result<Outcome, ErrorObject>, id: &Id) -> String {
    match outcome {
        Ok(Outcome::Value(v)) => v.finish(id),
        Ok(Outcome::Stream(_)) => unreachable!("no stream here"),
        Err(e) => encode_error(&e, id),
    }
}

/// Dispatches `FRAME` `CALLS` times through `dispatch`; returns ns per call.
fn time(mut dispatch: impl FnMut(Id, &str, Option<&RawValue>) -> String) -> f64 {
    let started = Instant::now();
    let mut bytes = 0;
    for _ in 0..CALLS {
        let Frame::Single(Incoming::Request { id, method, params }) = parse_frame(FRAME) else {
            unreachable!("a request")
        };
        let text = dispatch(id, &method, params);
        assert!(text.contains(r#""result":5,"#), "{text}");
        bytes += text.len();
    }
    assert!(bytes > CALLS);
    started.elapsed().as_nanos() as f64 / CALLS as f64
}

fn ours(layers: usize) -> f64 {
    let layers: Vec<Arc<dyn Middleware>> = (0..layers).map(|_| Arc::new(Pass) as _).collect();
    let stack = Stack::new(methods(), layers, 0);
    time(|id, method, params| {
        let fut = stack.invoke(method, Params::new(params), Some(&id));
        let outcome = fut.and_then(|f| f.now_or_never().expect("ready"));
        reply(outcome, &id)
    })
}

/// A tower request must own its params: a `Service<Request>` stack stored
/// per connection cannot be generic over the frame's lifetime.
struct OwnedCall {
    method: Box<str>,
    params: Option<Box<RawValue>>,
}

type Reply = Result<Outcome, ErrorObject>;

#[derive(Clone)]
struct PassService<S>(S);

impl<S: Service<OwnedCall, Response = Reply, Error = Infallible>> Service<OwnedCall> for PassService<S> {
    type Response = Reply;
    type Error = Infallible;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, call: OwnedCall) -> Self::Future {
        self.0.call(call)
    }
}

struct PassLayer;

impl<S> Layer<S> for PassLayer {
    type Service = PassService<S>;
    fn layer(&self, inner: S) -> PassService<S> {
        PassService(inner)
    }
}

/// The handlers as the innermost tower service.
#[derive(Clone)]
struct Handlers(Arc<Methods>);

impl Service<OwnedCall> for Handlers {
    type Response = Reply;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Reply, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, call: OwnedCall) -> Self::Future {
        let started = match self.0.get(&call.method) {
            Some(handler) => handler(Params::new(call.params.as_deref())),
            None => Err(ErrorObject::from_code(ErrorCode::MethodNotFound)),
        };
        Box::pin(async move {
            Ok(match started {
                Ok(fut) => fut.await,
                Err(e) => Err(e),
            })
        })
    }
}

type Erased = BoxCloneService<OwnedCall, Reply, Infallible>;

/// A stack of `layers` pass-through layers, each type-erased (as layers
/// installed one by one at run time must be).
fn tower(layers: usize) -> f64 {
    let mut service = BoxCloneService::new(Handlers(Arc::new(methods())));
    for _ in 0..layers {
        service = BoxCloneService::new(PassLayer.layer(service));
    }
    run_tower(service)
}

/// Three pass-through layers of one static type, type-erased once: tower's
/// best case.
fn tower_static() -> f64 {
    let service = tower::ServiceBuilder::new()
        .layer(PassLayer)
        .layer(PassLayer)
        .layer(PassLayer)
        .service(Handlers(Arc::new(methods())));
    run_tower(BoxCloneService::new(service))
}

/// Calls `service` per request as a dispatcher would: a clone per call (a
/// tower service is called through `&mut`, the dispatcher has `&`), with
/// the request's method and params copied out of the frame.
fn run_tower(service: Erased) -> f64 {
    time(|id, method, params| {
        let call = OwnedCall {
            method: method.into(),
            params: params.map(|p| p.to_owned()),
        };
        let outcome = service.clone().oneshot(call).now_or_never().expect("ready");
        let Ok(outcome) = outcome;
        reply(outcome, &id)
    })
}

#[test]
#[ignore = "a measurement: run in release with --ignored --nocapture"]
fn middleware_cost() {
    // Warm-up, then each variant three times, interleaved.
    let _ = ours(0);
    type Variant = (&'static str, fn() -> f64);
    let variants: [Variant; 7] = [
        ("no middleware", || ours(0)),
        ("our trait, 1 layer", || ours(1)),
        ("our trait, 3 layers", || ours(3)),
        ("tower, 0 layers", || tower(0)),
        ("tower, 1 layer", || tower(1)),
        ("tower, 3 layers", || tower(3)),
        ("tower, 3 static layers", tower_static),
    ];
    for round in 1..=3 {
        for (name, run) in &variants {
            println!("round {round}: {name:<22} {:>7.1} ns/call", run());
        }
    }
}

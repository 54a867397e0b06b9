//! The example API used by the demo, the tests, the TypeScript bindings and
//! the benchmark: a [`Calculator`] the server implements and a [`Browser`]
//! the client (a Rust program or a web page) implements; and, with typed
//! values both ways, an [`Evaluator`] the server implements (expressions in,
//! a [`Summary`] out) and a [`Scope`] the client implements (the values of an
//! expression's variables).
//!
//! The types derive `ts_rs::TS` so that `export-ts` (`src/bin/export-ts.rs`)
//! can declare them in TypeScript, and `schemars::JsonSchema` so that the
//! OpenRPC document ([`openrpc_document`]) gives their JSON Schema, both
//! following their serde attributes.

pub mod cluster;
pub mod middleware;

/// Sets up the examples' output: `tracing` events, message only, written to
/// stdout by a background thread, so that code on the runtime never blocks
/// on stdout (with `println!`, a pipe that nobody reads freezes every task
/// of the thread). Lines are dropped rather than waited for if that thread
/// falls 128,000 lines behind. Keep the guard until `main` returns: dropping
/// it writes out what is still queued.
pub fn init_output() -> tracing_appender::non_blocking::WorkerGuard {
    let (writer, guard) = tracing_appender::non_blocking(std::io::stdout());
    let _ = tracing_subscriber::fmt()
        .with_writer(writer)
        .without_time()
        .with_level(false)
        .with_target(false)
        .try_init();
    guard
}

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use duplexrpc_core::{RpcError, RpcErrorType, RpcStream, rpc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// Application error code: division by zero.
pub const DIVISION_BY_ZERO: i32 = 1;
/// Application error code: the user said no.
pub const DECLINED: i32 = 2;
/// Application error code: an expression uses a variable the caller's
/// [`Scope`] does not define (data: `{"name": ...}`).
pub const UNKNOWN_VARIABLE: i32 = 3;

/// How [`Calculator::divide`] fails: an application error type, one JSON-RPC
/// error code per variant (the client stub returns it too).
#[derive(Clone, Debug, PartialEq, RpcErrorType)]
pub enum CalcError {
    /// Code [`DIVISION_BY_ZERO`]; data: the dividend.
    #[rpc_error(code = 1, message = "division by zero")]
    DivisionByZero(i64),
    /// Disconnected, timed out, or an error this type does not know.
    #[rpc_error(other)]
    Rpc(RpcError),
}

impl std::fmt::Display for CalcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CalcError::DivisionByZero(a) => write!(f, "division by zero ({a} / 0)"),
            CalcError::Rpc(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for CalcError {}

/// Served by the server; clients call it.
#[rpc(namespace = "calc")]
pub trait Calculator {
    /// Adds two numbers.
    async fn add(&self, a: i64, b: i64) -> Result<i64, RpcError>;
    /// Integer division; fails with [`CalcError::DivisionByZero`].
    async fn divide(&self, a: i64, b: i64) -> Result<i64, CalcError>;
    /// Asks the calling client to confirm (a call back into the caller) and
    /// clears the memory if it agrees; fails with [`DECLINED`] otherwise.
    async fn clear(&self, reason: String) -> Result<String, RpcError>;
    /// Sums 1..=n slowly, sending the caller `progress` notifications.
    async fn sum_to(&self, n: u8) -> Result<u64, RpcError>;
    /// Fire-and-forget: the server logs the line.
    #[notification]
    async fn log(&self, line: String);
}

/// Served by each client; the server calls it on the connection that is
/// calling it.
#[rpc(namespace = "ui")]
pub trait Browser {
    /// Asks the user a yes/no question.
    async fn confirm(&self, question: String) -> Result<bool, RpcError>;
    /// Progress of a long call, in percent.
    #[notification]
    async fn progress(&self, pct: u8);
}

/// The server's [`Calculator`] for one connection: it holds a stub for
/// calling back into that connection's client.
#[derive(Debug)]
pub struct CalculatorService {
    browser: BrowserClient,
}

impl CalculatorService {
    /// A calculator that calls back through `browser`.
    pub fn new(browser: BrowserClient) -> Self {
        CalculatorService { browser }
    }
}

impl Calculator for CalculatorService {
    async fn add(&self, a: i64, b: i64) -> Result<i64, RpcError> {
        Ok(a.wrapping_add(b))
    }

    async fn divide(&self, a: i64, b: i64) -> Result<i64, CalcError> {
        if b == 0 {
            return Err(CalcError::DivisionByZero(a));
        }
        // i64::MIN / -1 does not fit: a wrong argument, not a crash.
        a.checked_div(b).ok_or_else(|| {
            CalcError::Rpc(RpcError::new(
                -32602,
                format!("invalid params: {a} / {b} overflows i64"),
            ))
        })
    }

    async fn clear(&self, reason: String) -> Result<String, RpcError> {
        let question = format!("Clear the memory ({reason})?");
        if self.browser.confirm(question).await? {
            Ok("cleared".to_owned())
        } else {
            Err(RpcError::new(DECLINED, "declined by the user"))
        }
    }

    async fn sum_to(&self, n: u8) -> Result<u64, RpcError> {
        let mut sum = 0u64;
        for i in 1..=u64::from(n) {
            sum += i;
            tokio::time::sleep(Duration::from_millis(2)).await;
            self.browser.progress((i * 100 / u64::from(n)) as u8).await?;
        }
        Ok(sum)
    }

    async fn log(&self, line: String) {
        tracing::info!("[server] log: {line}");
    }
}

/// Served by the server next to [`Calculator`]: streams both ways.
#[rpc(namespace = "tick")]
pub trait Ticker {
    /// Ticks `0..n`, one every millisecond; fails with [`TICK_FAILED`] (data:
    /// the tick) instead of sending tick `fail_at`, if given. The server prints
    /// `[server] ticks(N) stopped after K` when the stream ends, finished or
    /// cancelled by its consumer.
    async fn ticks(&self, n: u32, fail_at: Option<u32>) -> Result<RpcStream<u32>, RpcError>;
    /// Subscribes to the caller's [`Feed::numbers`] (a stream the client
    /// produces) and returns the sum of its items; a failing feed fails the call
    /// with the feed's error.
    async fn sum_feed(&self, n: u32) -> Result<u64, RpcError>;
}

/// Served by each client next to [`Browser`]: a stream the server consumes.
#[rpc(namespace = "feed")]
pub trait Feed {
    /// `n` numbers of the client's choosing.
    async fn numbers(&self, n: u32) -> Result<RpcStream<u32>, RpcError>;
}

/// Application error code: a [`Ticker::ticks`] stream failed on purpose.
pub const TICK_FAILED: i32 = 4;

/// The server's [`Ticker`] for one connection: it holds a stub for
/// subscribing to that connection's [`Feed`].
#[derive(Debug)]
pub struct TickerService {
    feed: FeedClient,
}

impl TickerService {
    /// A ticker that reads the client's numbers through `feed`.
    pub fn new(feed: FeedClient) -> Self {
        TickerService { feed }
    }
}

/// Prints how many ticks a stream sent when the stream is dropped.
struct TickReport {
    n: u32,
    sent: u32,
}

impl Drop for TickReport {
    fn drop(&mut self) {
        tracing::info!("[server] ticks({}) stopped after {}", self.n, self.sent);
    }
}

impl Ticker for TickerService {
    async fn ticks(&self, n: u32, fail_at: Option<u32>) -> Result<RpcStream<u32>, RpcError> {
        let report = TickReport { n, sent: 0 };
        let stream = futures::stream::unfold(report, move |mut report| async move {
            let i = report.sent;
            if i >= report.n {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
            if fail_at == Some(i) {
                let error = RpcError::with_data(TICK_FAILED, "tick failed", i.into());
                report.n = i;
                return Some((Err(error), report));
            }
            report.sent += 1;
            Some((Ok(i), report))
        });
        Ok(RpcStream::new(stream))
    }

    async fn sum_feed(&self, n: u32) -> Result<u64, RpcError> {
        use futures::StreamExt;
        let mut numbers = self.feed.numbers(n).await?;
        let mut sum = 0u64;
        while let Some(item) = numbers.next().await {
            sum += u64::from(item?);
        }
        Ok(sum)
    }
}

/// Starts the example server on `addr`: every connection gets a
/// [`CalculatorService`], an [`EvaluatorService`] and a [`TickerService`], which call back into
/// that connection's client; `rpc.discover` answers with [`openrpc_document`].
pub async fn serve(addr: &str) -> std::io::Result<duplexrpc_ws::ServerHandle> {
    serve_with_config(addr, duplexrpc_ws::WsConfig::default()).await
}

/// [`serve`] with a configuration (e.g. the browser origins allowed to connect).
pub async fn serve_with_config(
    addr: &str,
    config: duplexrpc_ws::WsConfig,
) -> std::io::Result<duplexrpc_ws::ServerHandle> {
    let server = duplexrpc_ws::Server::bind(addr).await?.with_config(config);
    // The API's OpenRPC document on `rpc.discover`, built once.
    let discover = duplexrpc_codegen::openrpc::discover_methods(openrpc_document());
    Ok(server.serve(move |conn, _info| {
        conn.register(discover.clone())?;
        let browser = BrowserClient::new(conn.peer().clone());
        conn.register(CalculatorService::new(browser).into_methods())?;
        let scope = ScopeClient::new(conn.peer().clone());
        conn.register(EvaluatorService::new(scope).into_methods())?;
        let feed = FeedClient::new(conn.peer().clone());
        conn.register(TickerService::new(feed).into_methods())?;
        Ok(())
    }))
}

/// The OpenRPC document of the example API, from the server's side: it
/// serves [`Calculator`], [`Evaluator`] and [`Ticker`] and calls [`Browser`],
/// [`Scope`] and [`Feed`] on its clients (`cargo run -p examples --bin
/// export-openrpc -- --out FILE` writes it; see `duplexrpc_codegen::openrpc`).
pub fn openrpc_document() -> serde_json::Value {
    duplexrpc_codegen::openrpc::OpenRpc::new("rpc examples", env!("CARGO_PKG_VERSION"))
        .description(
            "The example API: a calculator, an expression evaluator and a ticker the server serves; \
             a browser UI, a variable scope and a number feed the clients serve.",
        )
        .serves::<CalculatorClient>()
        .serves::<EvaluatorClient>()
        .serves::<TickerClient>()
        .calls::<BrowserClient>()
        .calls::<ScopeClient>()
        .calls::<FeedClient>()
        .document()
}

// ------------------------------------------------------------ typed values

/// An arithmetic expression: a tree the client builds and the server
/// evaluates. On the wire, an object tagged by `op` (serde's internal tagging).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS, JsonSchema)]
#[serde(tag = "op", rename_all = "camelCase")]
pub enum Expr {
    /// A number.
    Num {
        /// The number.
        value: f64,
    },
    /// A variable, whose value the server asks the caller for ([`Scope::lookup`]).
    Var {
        /// The variable's name.
        name: String,
    },
    /// `left + right`.
    Add {
        /// The left operand.
        left: Box<Expr>,
        /// The right operand.
        right: Box<Expr>,
    },
    /// `left * right`.
    Mul {
        /// The left operand.
        left: Box<Expr>,
        /// The right operand.
        right: Box<Expr>,
    },
    /// `left / right`; dividing by zero fails with [`DIVISION_BY_ZERO`].
    Div {
        /// The dividend.
        left: Box<Expr>,
        /// The divisor.
        right: Box<Expr>,
    },
    /// `-expr`.
    Neg {
        /// The operand.
        expr: Box<Expr>,
    },
}

/// Which side of zero a number is on: a map key in [`Summary::by_sign`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, TS, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Sign {
    /// Below zero.
    Negative,
    /// Zero.
    Zero,
    /// Above zero.
    Positive,
}

/// Statistics of a list of numbers ([`Evaluator::summarize`]). Fields are
/// camelCased on the wire.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// How many values. A `u64` is a JSON number: exact in JavaScript up to
    /// 2^53 - 1 (`Number.MAX_SAFE_INTEGER`).
    pub count: u64,
    /// Their sum.
    pub sum: f64,
    /// Their mean; `null` for no values.
    pub mean: Option<f64>,
    /// The smallest and the largest value; `null` for no values.
    pub min_max: Option<(f64, f64)>,
    /// The median; absent (not `null`) for no values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub median: Option<f64>,
    /// The values, sorted.
    pub sorted: Vec<f64>,
    /// How many values are negative, zero, positive (signs with none are left out).
    pub by_sign: BTreeMap<Sign, u32>,
}

impl Summary {
    /// The statistics of `values`.
    pub fn of(values: &[f64]) -> Summary {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let sum: f64 = sorted.iter().sum();
        let count = sorted.len();
        let median = match count {
            0 => None,
            n if n % 2 == 1 => Some(sorted[n / 2]),
            n => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
        };
        let mut by_sign = BTreeMap::new();
        for v in &sorted {
            let sign = if *v < 0.0 {
                Sign::Negative
            } else if *v > 0.0 {
                Sign::Positive
            } else {
                Sign::Zero
            };
            *by_sign.entry(sign).or_insert(0) += 1;
        }
        Summary {
            count: count as u64,
            sum,
            mean: (count > 0).then(|| sum / count as f64),
            min_max: sorted.first().zip(sorted.last()).map(|(a, b)| (*a, *b)),
            median,
            sorted,
            by_sign,
        }
    }
}

/// Served by the server next to [`Calculator`]: typed values both ways.
#[rpc(namespace = "expr")]
pub trait Evaluator {
    /// Evaluates an expression. Its variables are looked up by calling the
    /// caller's [`Scope`] (once per name); fails with [`UNKNOWN_VARIABLE`]
    /// or [`DIVISION_BY_ZERO`] (data: the dividend).
    async fn eval(&self, expr: Expr) -> Result<f64, RpcError>;
    /// Statistics of a list of numbers.
    async fn summarize(&self, values: Vec<f64>) -> Result<Summary, RpcError>;
}

/// Served by each client next to [`Browser`]: the variables of the
/// expressions it asks the server to evaluate.
#[rpc(namespace = "scope")]
pub trait Scope {
    /// The value of a variable; `None` if it is not defined.
    async fn lookup(&self, name: String) -> Result<Option<f64>, RpcError>;
}

/// The server's [`Evaluator`] for one connection: it holds a stub for
/// calling back into that connection's [`Scope`].
#[derive(Debug)]
pub struct EvaluatorService {
    scope: ScopeClient,
}

impl EvaluatorService {
    /// An evaluator that looks variables up through `scope`.
    pub fn new(scope: ScopeClient) -> Self {
        EvaluatorService { scope }
    }
}

impl Evaluator for EvaluatorService {
    async fn eval(&self, expr: Expr) -> Result<f64, RpcError> {
        let mut names = BTreeSet::new();
        expr.variables(&mut names);
        let mut values = HashMap::new();
        for name in names {
            match self.scope.lookup(name.clone()).await? {
                Some(value) => values.insert(name, value),
                None => {
                    let data = serde_json::json!({ "name": name });
                    return Err(RpcError::with_data(UNKNOWN_VARIABLE, "unknown variable", data));
                }
            };
        }
        expr.evaluate(&values)
    }

    async fn summarize(&self, values: Vec<f64>) -> Result<Summary, RpcError> {
        Ok(Summary::of(&values))
    }
}

impl Expr {
    /// Adds the names of the variables the expression uses to `out`.
    pub fn variables(&self, out: &mut BTreeSet<String>) {
        match self {
            Expr::Num { .. } => {}
            Expr::Var { name } => {
                out.insert(name.clone());
            }
            Expr::Add { left, right } | Expr::Mul { left, right } | Expr::Div { left, right } => {
                left.variables(out);
                right.variables(out);
            }
            Expr::Neg { expr } => expr.variables(out),
        }
    }

    /// The value of the expression, given the values of its variables.
    pub fn evaluate(&self, vars: &HashMap<String, f64>) -> Result<f64, RpcError> {
        Ok(match self {
            Expr::Num { value } => *value,
            Expr::Var { name } => *vars.get(name).ok_or_else(|| {
                RpcError::with_data(
                    UNKNOWN_VARIABLE,
                    "unknown variable",
                    serde_json::json!({ "name": name }),
                )
            })?,
            Expr::Add { left, right } => left.evaluate(vars)? + right.evaluate(vars)?,
            Expr::Mul { left, right } => left.evaluate(vars)? * right.evaluate(vars)?,
            Expr::Div { left, right } => {
                let (a, b) = (left.evaluate(vars)?, right.evaluate(vars)?);
                if b == 0.0 {
                    return Err(RpcError::with_data(DIVISION_BY_ZERO, "division by zero", a.into()));
                }
                a / b
            }
            Expr::Neg { expr } => -expr.evaluate(vars)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_of_values() {
        let s = Summary::of(&[3.0, -1.0, 0.0, 2.0]);
        assert_eq!(s.count, 4);
        assert_eq!(s.sorted, [-1.0, 0.0, 2.0, 3.0]);
        assert_eq!(s.median, Some(1.0));
        assert_eq!(s.min_max, Some((-1.0, 3.0)));
        assert_eq!(s.mean, Some(1.0));
        let wire = serde_json::to_value(&s).unwrap();
        assert_eq!(
            wire["bySign"],
            serde_json::json!({"negative": 1, "zero": 1, "positive": 2})
        );
        assert_eq!(wire["minMax"], serde_json::json!([-1.0, 3.0]));
        let empty = serde_json::to_value(Summary::of(&[])).unwrap();
        assert!(empty.get("median").is_none(), "skipped when None: {empty}");
        assert_eq!(empty["mean"], serde_json::Value::Null);
    }

    #[test]
    fn expressions() {
        let expr: Expr = serde_json::from_value(serde_json::json!({
            "op": "div",
            "left": {"op": "add", "left": {"op": "num", "value": 4}, "right": {"op": "var", "name": "x"}},
            "right": {"op": "neg", "expr": {"op": "num", "value": 2}}
        }))
        .unwrap();
        let mut names = BTreeSet::new();
        expr.variables(&mut names);
        assert_eq!(names.into_iter().collect::<Vec<_>>(), ["x"]);
        let vars = HashMap::from([("x".to_owned(), 6.0)]);
        assert_eq!(expr.evaluate(&vars), Ok(-5.0));
        assert_eq!(
            expr.evaluate(&HashMap::new()).unwrap_err().code(),
            Some(UNKNOWN_VARIABLE)
        );
        let zero = Expr::Div {
            left: Box::new(Expr::Num { value: 1.0 }),
            right: Box::new(Expr::Num { value: 0.0 }),
        };
        assert_eq!(zero.evaluate(&vars).unwrap_err().code(), Some(DIVISION_BY_ZERO));
    }
}

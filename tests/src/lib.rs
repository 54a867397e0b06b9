//! Helpers shared by the integration tests in `tests/tests/*.rs` (and by the
//! `test-server` binary the kill test runs as a separate process).
//!
//! * [`within`]: a generous liveness bound around anything a test awaits, so a
//!   bug shows up as a failed test instead of a hung CI job.
//! * [`RawClient`]: a bare tokio-tungstenite client that sends and receives
//!   raw text, for checking the exact bytes on the wire.
//! * [`assert_batch`]: compares a batch reply with the expected replies as a
//!   set (the spec does not define their order), byte-exact per element.
//! * [`ChildServer`]: the `test-server` binary as a child process, killed on
//!   drop (and when its stdin closes, should the test process die first).
//! * Test-only APIs: [`Hold`] (calls that stay pending until the connection
//!   closes, reporting to a [`Watcher`] when they start), [`Asker`] (a call
//!   that calls back into its caller and reports how the callback ended), and
//!   recording implementations of the example API ([`RecordingBrowser`],
//!   [`RecordingCalculator`]).

use std::future::Future;
use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use duplexrpc_core::{RpcError, rpc};
use examples::{Browser, BrowserClient, CalcError, Calculator, CalculatorService};
use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long anything a test awaits may take before the test fails. Generous:
/// it only turns a hang into a failure, it does not measure speed.
pub const LIVENESS: Duration = Duration::from_secs(10);

/// Awaits `fut`, failing the test (naming `what`) if it takes longer than [`LIVENESS`].
pub async fn within<F: Future>(what: &str, fut: F) -> F::Output {
    match tokio::time::timeout(LIVENESS, fut).await {
        Ok(out) => out,
        Err(_) => panic!("timed out after {LIVENESS:?} waiting for {what}"),
    }
}

/// Receives the next value of a test channel, failing the test if the channel
/// closes or nothing arrives within [`LIVENESS`].
pub async fn next<T>(rx: &mut mpsc::UnboundedReceiver<T>, what: &str) -> T {
    within(what, rx.recv())
        .await
        .unwrap_or_else(|| panic!("channel closed while waiting for {what}"))
}

// ------------------------------------------------------------------ raw client

/// A WebSocket client without any JSON-RPC logic: it sends the exact text it is
/// given and returns the exact frames it receives.
#[derive(Debug)]
pub struct RawClient {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// A close frame as the raw client received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Closed {
    /// The close code (1000, 1001, 1003, 1009, ...).
    pub code: u16,
    /// The close reason text.
    pub reason: String,
}

impl RawClient {
    /// Connects to `url` (a `ws://127.0.0.1:port/` URL).
    pub async fn connect(url: &str) -> RawClient {
        let (ws, _) = within("the raw client's handshake", tokio_tungstenite::connect_async(url))
            .await
            .expect("raw client connects");
        RawClient { ws }
    }

    /// Sends one text frame.
    pub async fn send(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.expect("raw client sends");
    }

    /// Sends one binary frame.
    pub async fn send_binary(&mut self, bytes: &[u8]) {
        self.ws
            .send(Message::binary(bytes.to_vec()))
            .await
            .expect("raw client sends");
    }

    /// The next message other than ping/pong (`None` once the stream ended).
    pub async fn recv(&mut self) -> Option<Message> {
        within("a frame from the server", async {
            loop {
                match self.ws.next().await {
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    Some(Ok(msg)) => return Some(msg),
                    Some(Err(e)) => panic!("raw client read error: {e}"),
                    None => return None,
                }
            }
        })
        .await
    }

    /// The next frame, which must be a text frame.
    pub async fn recv_text(&mut self) -> String {
        match self.recv().await {
            Some(Message::Text(text)) => text.as_str().to_owned(),
            other => panic!("expected a text frame, got {other:?}"),
        }
    }

    /// Sends `text` and returns the next text frame (its reply, if nothing else is in flight).
    pub async fn call(&mut self, text: &str) -> String {
        self.send(text).await;
        self.recv_text().await
    }

    /// The next frame, which must be a close frame with a code.
    pub async fn recv_close(&mut self) -> Closed {
        match self.recv().await {
            Some(Message::Close(Some(frame))) => Closed {
                code: frame.code.into(),
                reason: frame.reason.as_str().to_owned(),
            },
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

/// Splits a batch reply into the text of its elements, after checking that the
/// frame is exactly `[` + elements joined by `,` + `]` (our encoder's form).
pub fn batch_elements(frame: &str) -> Vec<String> {
    let items: Vec<&serde_json::value::RawValue> =
        serde_json::from_str(frame).unwrap_or_else(|e| panic!("not a JSON array: {frame}: {e}"));
    let items: Vec<String> = items.into_iter().map(|raw| raw.get().to_owned()).collect();
    assert_eq!(
        frame,
        format!("[{}]", items.join(",")),
        "batch reply is not in the compact form"
    );
    items
}

/// Asserts that `frame` is a batch reply whose elements are exactly `expected`
/// (byte for byte), in any order.
pub fn assert_batch(frame: &str, expected: &[&str]) {
    let mut got = batch_elements(frame);
    let mut want: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    got.sort();
    want.sort();
    assert_eq!(got, want, "batch reply {frame}");
}

// ------------------------------------------------------------ child process

/// The `test-server` binary running as a child process. It prints its port on
/// stdout once bound. Dropping this kills it; it also exits on its own when its
/// stdin closes, so it cannot outlive a test process that was killed.
#[derive(Debug)]
pub struct ChildServer {
    child: Child,
    _stdin: ChildStdin,
    port: u16,
}

impl ChildServer {
    /// Starts the binary at `path` (pass `env!("CARGO_BIN_EXE_test-server")`)
    /// and waits until it reports its port.
    pub fn spawn(path: &str) -> ChildServer {
        let mut child = Command::new(path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {path}: {e}"));
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        // From here on, the guard kills the child on every path (a panic included).
        let mut server = ChildServer {
            child,
            _stdin: stdin,
            port: 0,
        };
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the test server's port");
        server.port = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("test server printed {line:?} instead of its port"));
        server
    }

    /// `ws://127.0.0.1:{port}/`.
    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}/", self.port)
    }

    /// Kills the process (SIGKILL on Unix) and waits until it is gone.
    pub fn kill(&mut self) {
        self.child.kill().expect("kill the test server");
        self.child.wait().expect("reap the test server");
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        // Already dead after `kill()`: both calls then fail harmlessly.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ------------------------------------------------------------- test-only APIs

/// Calls that stay pending until the connection closes. Served by the
/// `test-server` binary and by in-process test servers.
#[rpc(namespace = "hold")]
pub trait Hold {
    /// Sends the caller `watch.started(tag)`, then waits until the connection
    /// is closed, then returns `tag` (which nobody will receive).
    async fn wait(&self, tag: u32) -> Result<u32, RpcError>;
    /// Adds two numbers at once.
    async fn add(&self, a: i64, b: i64) -> Result<i64, RpcError>;
}

/// Served by the caller of [`Hold`]: learns when a held call has started.
#[rpc(namespace = "watch")]
pub trait Watcher {
    /// A held call with this tag is running on the server.
    #[notification]
    async fn started(&self, tag: u32);
}

/// The server's [`Hold`] for one connection.
#[derive(Debug)]
pub struct HoldService {
    watcher: WatcherClient,
}

impl HoldService {
    /// A service that reports to `watcher` (the calling connection).
    pub fn new(watcher: WatcherClient) -> Self {
        HoldService { watcher }
    }
}

impl Hold for HoldService {
    async fn wait(&self, tag: u32) -> Result<u32, RpcError> {
        self.watcher.started(tag).await?;
        self.watcher.peer().closed().await;
        Ok(tag)
    }

    async fn add(&self, a: i64, b: i64) -> Result<i64, RpcError> {
        Ok(a + b)
    }
}

/// The client's [`Watcher`]: forwards every started tag to a channel.
#[derive(Debug)]
pub struct StartedLog(pub mpsc::UnboundedSender<u32>);

impl Watcher for StartedLog {
    async fn started(&self, tag: u32) {
        let _ = self.0.send(tag);
    }
}

/// A call that calls back into its caller (`ui.confirm`) and reports how that
/// callback ended, so a test can observe a handler whose caller went away.
#[rpc(namespace = "ask")]
pub trait Asker {
    /// Asks the calling client `question` through `ui.confirm` and returns its answer.
    async fn ask(&self, question: String) -> Result<bool, RpcError>;
}

/// The server's [`Asker`] for one connection.
#[derive(Debug)]
pub struct AskService {
    browser: BrowserClient,
    outcomes: mpsc::UnboundedSender<Result<bool, RpcError>>,
}

impl AskService {
    /// Calls back through `browser`; sends each callback's outcome to `outcomes`.
    pub fn new(browser: BrowserClient, outcomes: mpsc::UnboundedSender<Result<bool, RpcError>>) -> Self {
        AskService { browser, outcomes }
    }
}

impl Asker for AskService {
    async fn ask(&self, question: String) -> Result<bool, RpcError> {
        let outcome = self.browser.confirm(question).await;
        let _ = self.outcomes.send(outcome.clone());
        outcome
    }
}

/// What a [`RecordingBrowser`] saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BrowserEvent {
    /// `ui.confirm(question)` was called.
    Confirm(String),
    /// `ui.progress(pct)` was received.
    Progress(u8),
}

/// A client-side [`Browser`] that records every call in a channel. `confirm`
/// answers with `answer`, or never answers when `answer` is `None`.
#[derive(Debug)]
pub struct RecordingBrowser {
    answer: Option<bool>,
    events: mpsc::UnboundedSender<BrowserEvent>,
}

impl RecordingBrowser {
    /// A browser answering `answer` (`None`: never answers), and the channel of its events.
    pub fn new(answer: Option<bool>) -> (Self, mpsc::UnboundedReceiver<BrowserEvent>) {
        let (events, rx) = mpsc::unbounded_channel();
        (RecordingBrowser { answer, events }, rx)
    }
}

impl Browser for RecordingBrowser {
    async fn confirm(&self, question: String) -> Result<bool, RpcError> {
        let _ = self.events.send(BrowserEvent::Confirm(question));
        match self.answer {
            Some(answer) => Ok(answer),
            None => std::future::pending().await,
        }
    }

    async fn progress(&self, pct: u8) {
        let _ = self.events.send(BrowserEvent::Progress(pct));
    }
}

/// The example [`CalculatorService`], except that `calc.log` lines also go to a
/// channel (so a test can see the client's notifications arrive).
#[derive(Debug)]
pub struct RecordingCalculator {
    inner: CalculatorService,
    log: mpsc::UnboundedSender<String>,
}

impl RecordingCalculator {
    /// Wraps the example calculator calling back through `browser`.
    pub fn new(browser: BrowserClient, log: mpsc::UnboundedSender<String>) -> Self {
        RecordingCalculator {
            inner: CalculatorService::new(browser),
            log,
        }
    }
}

impl Calculator for RecordingCalculator {
    async fn add(&self, a: i64, b: i64) -> Result<i64, RpcError> {
        self.inner.add(a, b).await
    }

    async fn divide(&self, a: i64, b: i64) -> Result<i64, CalcError> {
        self.inner.divide(a, b).await
    }

    async fn clear(&self, reason: String) -> Result<String, RpcError> {
        self.inner.clear(reason).await
    }

    async fn sum_to(&self, n: u8) -> Result<u64, RpcError> {
        self.inner.sum_to(n).await
    }

    async fn log(&self, line: String) {
        let _ = self.log.send(line);
    }
}

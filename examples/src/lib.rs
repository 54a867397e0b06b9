//! The example API used by the demo, the tests, the TypeScript bindings and
//! the benchmark: a [`Calculator`] the server implements and a [`Browser`]
//! the client (a Rust program or a web page) implements.

use std::time::Duration;

use rpc_core::{RpcError, rpc};

/// Application error code: division by zero.
pub const DIVISION_BY_ZERO: i32 = 1;
/// Application error code: the user said no.
pub const DECLINED: i32 = 2;

/// Served by the server; clients call it.
#[rpc(namespace = "calc")]
pub trait Calculator {
    /// Adds two numbers.
    async fn add(&self, a: i64, b: i64) -> Result<i64, RpcError>;
    /// Integer division; fails with [`DIVISION_BY_ZERO`] (data: the dividend).
    async fn divide(&self, a: i64, b: i64) -> Result<i64, RpcError>;
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

    async fn divide(&self, a: i64, b: i64) -> Result<i64, RpcError> {
        if b == 0 {
            return Err(RpcError::with_data(DIVISION_BY_ZERO, "division by zero", a.into()));
        }
        Ok(a / b)
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
        println!("[server] log: {line}");
    }
}

/// Starts the example server on `addr`: every connection gets a
/// [`CalculatorService`] that calls back into that connection's client.
pub async fn serve(addr: &str) -> std::io::Result<rpc_ws::ServerHandle> {
    let server = rpc_ws::Server::bind(addr).await?;
    Ok(server.serve(|conn, _info| {
        let browser = BrowserClient::new(conn.peer().clone());
        conn.register(CalculatorService::new(browser).into_methods())?;
        Ok(())
    }))
}

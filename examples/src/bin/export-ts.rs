//! Writes the TypeScript bindings of the example API.
//!
//! ```sh
//! cargo run -p examples --bin export-ts -- --out examples/web/src/api.ts          # write
//! cargo run -p examples --bin export-ts -- --out examples/web/src/api.ts --check  # fail if stale
//! ```
//!
//! The web page calls `Calculator`, `Evaluator` and `Ticker` (the server
//! implements them) and implements `Browser`, `Scope` and `Feed` (the server
//! calls them).

use std::process::ExitCode;

use duplexrpc_codegen::typescript::TypeScript;
use examples::{BrowserClient, CalculatorClient, EvaluatorClient, FeedClient, ScopeClient, TickerClient};

fn main() -> ExitCode {
    TypeScript::new()
        .calls::<CalculatorClient>()
        .calls::<EvaluatorClient>()
        .calls::<TickerClient>()
        .implements::<BrowserClient>()
        .implements::<ScopeClient>()
        .implements::<FeedClient>()
        .command("cargo run -p examples --bin export-ts -- --out examples/web/src/api.ts")
        .main()
}

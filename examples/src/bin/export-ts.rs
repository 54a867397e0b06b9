//! Writes the TypeScript bindings of the example API.
//!
//! ```sh
//! cargo run -p examples --bin export-ts -- --out examples/web/src/api.ts          # write
//! cargo run -p examples --bin export-ts -- --out examples/web/src/api.ts --check  # fail if stale
//! ```
//!
//! The web page calls `Calculator` and `Evaluator` (the server implements
//! them) and implements `Browser` and `Scope` (the server calls them).

use std::process::ExitCode;

use examples::{BrowserClient, CalculatorClient, EvaluatorClient, ScopeClient};
use rpc_core::typescript::TypeScript;

fn main() -> ExitCode {
    TypeScript::new()
        .calls::<CalculatorClient>()
        .calls::<EvaluatorClient>()
        .implements::<BrowserClient>()
        .implements::<ScopeClient>()
        .command("cargo run -p examples --bin export-ts -- --out examples/web/src/api.ts")
        .main()
}

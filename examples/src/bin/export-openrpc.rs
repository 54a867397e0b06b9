//! Writes the OpenRPC document of the example API
//! ([`examples::openrpc_document`]) as JSON.
//!
//! ```sh
//! cargo run -p examples --bin export-openrpc                          # to stdout
//! cargo run -p examples --bin export-openrpc -- --out openrpc.json    # to a file
//! ```
//!
//! A running example server also serves it on `rpc.discover`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let out = match (args.next().as_deref(), args.next(), args.next()) {
        (None, None, None) => None,
        (Some("--out"), Some(file), None) => Some(file),
        _ => {
            eprintln!("usage: export-openrpc [--out FILE]");
            return ExitCode::from(2);
        }
    };
    let mut text = serde_json::to_string_pretty(&examples::openrpc_document()).expect("a Value serializes");
    text.push('\n');
    match out {
        None => print!("{text}"),
        Some(file) => {
            if let Err(e) = std::fs::write(&file, text) {
                eprintln!("export-openrpc: {file}: {e}");
                return ExitCode::FAILURE;
            }
            eprintln!("export-openrpc: wrote {file}");
        }
    }
    ExitCode::SUCCESS
}

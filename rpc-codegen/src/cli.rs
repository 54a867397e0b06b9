//! The command-line helper of an export binary, the same for every
//! generator: with no arguments it prints the generated text; `--out FILE`
//! writes it; `--out FILE --check` fails if FILE differs (for CI).
//!
//! ```no_run
//! // src/bin/export-openrpc.rs
//! # use duplexrpc_codegen::cli;
//! # fn document() -> serde_json::Value { serde_json::json!({}) }
//! fn main() -> std::process::ExitCode {
//!     cli::main(|| Ok(serde_json::to_string_pretty(&document()).unwrap() + "\n"))
//! }
//! ```

use std::path::{Path, PathBuf};
use std::process::ExitCode;

const USAGE: &str = "usage: [--out FILE [--check]]";

/// Runs the helper on the process's arguments: `generate` makes the text
/// (or fails with the message to print). Prints the error and fails on any
/// problem.
pub fn main(generate: impl FnOnce() -> Result<String, String>) -> ExitCode {
    exit(run(std::env::args().skip(1), generate))
}

/// The exit code for the outcome of [`run`] (printing the error, if any).
pub(crate) fn exit(outcome: Result<(), String>) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

/// One `error: ...` line per error (the TypeScript generator's).
#[cfg(any(test, feature = "typescript"))]
pub(crate) fn report(errors: &[impl std::fmt::Display]) -> String {
    let lines: Vec<String> = errors.iter().map(|e| format!("error: {e}")).collect();
    lines.join("\n")
}

/// The helper on `args` (without the program name).
pub(crate) fn run(
    args: impl Iterator<Item = String>,
    generate: impl FnOnce() -> Result<String, String>,
) -> Result<(), String> {
    let mut out: Option<PathBuf> = None;
    let mut check = false;
    let mut args = args.peekable();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--out" => out = Some(args.next().ok_or(USAGE)?.into()),
            "--check" => check = true,
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unexpected argument {other:?}\n{USAGE}")),
        }
    }
    let text = generate()?;
    match (out, check) {
        (None, false) => {
            print!("{text}");
            Ok(())
        }
        (None, true) => Err(format!("--check needs --out FILE\n{USAGE}")),
        (Some(path), true) => check_file(&path, &text),
        (Some(path), false) => write_file(&path, &text),
    }
}

fn check_file(path: &Path, text: &str) -> Result<(), String> {
    let current = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if current == text {
        return Ok(());
    }
    let line = current
        .lines()
        .zip(text.lines())
        .position(|(a, b)| a != b)
        .unwrap_or_else(|| current.lines().count().min(text.lines().count()))
        + 1;
    Err(format!(
        "{} is out of date (first difference on line {line}): regenerate it",
        path.display()
    ))
}

fn write_file(path: &Path, text: &str) -> Result<(), String> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> impl Iterator<Item = String> {
        a.iter().map(|s| s.to_string()).collect::<Vec<_>>().into_iter()
    }

    #[test]
    fn writes_checks_and_reports() {
        let dir = std::env::temp_dir().join(format!("rpc-codegen-cli-{}", std::process::id()));
        let file = dir.join("doc.json");
        let path = file.to_str().unwrap();
        let text = || Ok("{}\n".to_owned());
        run(args(&["--out", path]), text).unwrap();
        run(args(&["--out", path, "--check"]), text).unwrap();
        std::fs::write(&file, "{\n}\n").unwrap();
        let err = run(args(&["--out", path, "--check"]), text).unwrap_err();
        assert!(err.contains("out of date (first difference on line 1)"), "{err}");
        assert!(
            run(args(&["--check"]), text)
                .unwrap_err()
                .contains("--check needs --out")
        );
        let failed = run(args(&[]), || Err(report(&["no schema", "no name"]))).unwrap_err();
        assert_eq!(failed, "error: no schema\nerror: no name");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

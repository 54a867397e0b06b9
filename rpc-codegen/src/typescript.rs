//! TypeScript bindings from `#[rpc]` traits (feature `typescript`).
//!
//! The exporter reads the metadata the macro generates ([`RpcApi::META`]),
//! never Rust source, and writes one TypeScript module with:
//!
//! * a declaration for every type the traits use, made by [`ts_rs`] from the
//!   type's `#[derive(ts_rs::TS)]`, which follows its serde attributes
//!   (`rename_all`, `rename`, `skip`, `flatten`, the four enum tagging forms,
//!   `skip_serializing_if` with `default` as an optional field);
//! * for each trait the TypeScript side **calls** ([`TypeScript::calls`]): a
//!   class `{Trait}Client` with one method per trait method (`await
//!   calc.add(2, 3)`), params sent by position, `{ signal, timeoutMs }` last
//!   (`CallOptions`); trailing `Option<T>` params may be left out (`due?:
//!   number | null`); notifications return `void`;
//! * for each trait the TypeScript side **implements**
//!   ([`TypeScript::implements`]): an interface `{Trait}` and a function
//!   `register{Trait}(peer, impl)` that routes the other end's calls to it;
//!   what the implementation returns (or the `RpcError` it throws) is the
//!   reply; each method gets the call's `CallContext` last.
//!
//! The module imports only types from the TypeScript runtime
//! (`duplexrpc` unless [`TypeScript::runtime_import`] says otherwise).
//!
//! Names: methods and parameters are camelCased (`sum_to` becomes `sumTo`);
//! the wire names stay as they are. Numbers: every Rust integer is a JSON
//! number, so 64- and 128-bit integers are typed `number` too, and are exact
//! in JavaScript only up to `Number.MAX_SAFE_INTEGER` (2^53 - 1): `JSON.parse`
//! rounds larger values. A value that needs all 64 bits should be a
//! `duplexrpc_core::int64::Int64` or `Uint64`: a decimal string on the wire,
//! typed `string`.
//!
//! ```
//! use duplexrpc_core::{rpc, RpcError};
//! use duplexrpc_codegen::typescript::TypeScript;
//!
//! #[derive(serde::Serialize, serde::Deserialize, ts_rs::TS)]
//! #[serde(rename_all = "camelCase")]
//! pub struct Point { pub x_pos: f64, pub y_pos: f64 }
//!
//! #[rpc(namespace = "geo")]
//! pub trait Geometry {
//!     async fn mirror(&self, p: Point) -> Result<Point, RpcError>;
//! }
//!
//! let ts = TypeScript::new().calls::<GeometryClient>().render().unwrap();
//! assert!(ts.contains("export type Point = { xPos: number, yPos: number, };"));
//! assert!(ts.contains(r#"mirror(p: Point, options?: CallOptions): Promise<Point> {"#));
//! ```

use std::any::TypeId;
use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::process::ExitCode;

use duplexrpc_core::meta::probe::TsRender;
use duplexrpc_core::meta::{ApiMeta, ErrorData, ErrorMeta, MethodKind, MethodMeta, ParamMeta, RpcApi, TsType};

/// The package name the generated module imports the runtime's `Peer` type from.
pub const DEFAULT_RUNTIME_IMPORT: &str = "duplexrpc";

/// Why bindings could not be generated.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// A parameter or result type does not implement `ts_rs::TS`.
    #[error(
        "{api}::{method}: the {what} has type `{rust_type}`, which has no TypeScript form: \
         derive it with #[derive(ts_rs::TS)] (ts-rs reads its serde attributes)"
    )]
    NotTs {
        /// The trait.
        api: String,
        /// The method.
        method: String,
        /// `parameter `x`` or `result`.
        what: String,
        /// The type as written.
        rust_type: String,
    },
    /// Two different Rust types have the same TypeScript name.
    #[error("two different types are both named `{0}` in TypeScript: rename one with #[ts(rename = \"...\")]")]
    DuplicateType(String),
    /// Two members of one generated class or interface get the same name.
    #[error("{api}: two methods are both named `{name}` in TypeScript (methods are camelCased)")]
    DuplicateMember {
        /// The trait.
        api: String,
        /// The clashing TypeScript name.
        name: String,
    },
    /// A generated item would be declared twice (a trait added twice, or
    /// clashing with a type).
    #[error("`{0}` would be declared twice in the generated module")]
    DuplicateItem(String),
}

/// Collects the declarations of every type the traits use.
pub struct Collector {
    cfg: ts_rs::Config,
    /// TypeScript name -> (Rust type, `export type ...;` with its docs).
    decls: BTreeMap<String, (TypeId, String)>,
    /// Error type name -> (its codes, the union and its guard), for the
    /// methods that return a custom error type.
    unions: BTreeMap<String, (Vec<i32>, String)>,
    seen: HashSet<TypeId>,
    errors: Vec<ExportError>,
}

impl Collector {
    fn new() -> Self {
        Collector {
            // 64- and 128-bit integers are JSON numbers on the wire.
            cfg: ts_rs::Config::new().with_large_int("number"),
            decls: BTreeMap::new(),
            unions: BTreeMap::new(),
            seen: HashSet::new(),
            errors: Vec::new(),
        }
    }

    /// Declares `t` (if it is a named type) and every named type it uses.
    fn visit(&mut self, t: &TsRender) {
        if t.is_named() {
            self.declare(t);
        } else {
            // `Vec<User>`: its dependencies are User's; User itself is a generic argument.
            self.declare_named(t);
        }
    }

    /// Declares a named type and, once, every named type it uses. ts-rs's
    /// `visit_dependencies` lists them all (through containers too), so only
    /// named ones are followed: recursion ends at types already seen.
    fn declare(&mut self, t: &TsRender) {
        let id = t.decl_id();
        if !self.seen.insert(id) {
            return;
        }
        let name = t.ident(&self.cfg);
        let mut text = t.docs().unwrap_or_default();
        text.push_str("export ");
        text.push_str(&t.decl(&self.cfg));
        let text = indent_decl(&text);
        if self.decls.insert(name.clone(), (id, text)).is_some() {
            self.errors.push(ExportError::DuplicateType(name));
        }
        self.declare_named(t);
    }

    /// Declares the named types among the dependencies and generic
    /// arguments of `t`.
    fn declare_named(&mut self, t: &TsRender) {
        for used in t.dependencies().iter().chain(&t.generics()) {
            if used.is_named() {
                self.declare(used);
            }
        }
    }
}

impl std::fmt::Debug for Collector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collector")
            .field("types", &self.decls.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// ts-rs writes a declaration on one line, except for the doc comments of
/// fields and variants, which it puts on lines of their own. Indents each line
/// by the depth of the braces and brackets open at its start (outside strings
/// and comments), so such comments line up with the fields they document.
fn indent_decl(decl: &str) -> String {
    let mut out = String::with_capacity(decl.len() + 64);
    let mut depth = 0usize;
    let mut in_comment = false;
    for line in decl.lines() {
        let line = line.trim_end();
        if !line.is_empty() {
            out.extend(std::iter::repeat_n("  ", depth));
        }
        out.push_str(line);
        out.push('\n');
        let mut chars = line.chars().peekable();
        let mut in_string = false;
        while let Some(c) = chars.next() {
            match c {
                '*' if in_comment && chars.peek() == Some(&'/') => {
                    chars.next();
                    in_comment = false;
                }
                _ if in_comment => {}
                '/' if !in_string && chars.peek() == Some(&'*') => {
                    chars.next();
                    in_comment = true;
                }
                '\\' if in_string => {
                    chars.next();
                }
                '"' => in_string = !in_string,
                '{' | '[' | '(' if !in_string => depth += 1,
                '}' | ']' | ')' if !in_string => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
    }
    out.truncate(out.trim_end().len());
    out
}

/// The exporter's entry point for one type (see `meta::probe`): declares
/// what the type needs and returns how it is written.
fn render(t: &TsRender, c: &mut Collector) -> String {
    c.visit(t);
    t.name(&c.cfg)
}

/// Which way a trait is used from TypeScript.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    /// The TypeScript side calls it: a client class.
    Calls,
    /// The TypeScript side implements it: an interface and a register function.
    Implements,
}

/// Builds the TypeScript module for a set of traits.
///
/// The traits are named by the client stub `#[rpc]` generates for them
/// (`CalculatorClient` for `Calculator`), which carries their metadata.
#[derive(Clone, Debug)]
pub struct TypeScript {
    apis: Vec<(ApiMeta, Role)>,
    runtime_import: String,
    command: Option<String>,
}

impl Default for TypeScript {
    fn default() -> Self {
        Self::new()
    }
}

impl TypeScript {
    /// No traits yet; the runtime is imported from [`DEFAULT_RUNTIME_IMPORT`].
    pub fn new() -> Self {
        TypeScript {
            apis: Vec::new(),
            runtime_import: DEFAULT_RUNTIME_IMPORT.to_owned(),
            command: None,
        }
    }

    /// The TypeScript side calls this trait (the other end implements it):
    /// generates a class `{Trait}Client`.
    pub fn calls<A: RpcApi>(mut self) -> Self {
        self.apis.push((A::META, Role::Calls));
        self
    }

    /// The TypeScript side implements this trait (the other end calls it):
    /// generates an interface `{Trait}` and `register{Trait}(peer, impl)`.
    pub fn implements<A: RpcApi>(mut self) -> Self {
        self.apis.push((A::META, Role::Implements));
        self
    }

    /// Where the module imports the runtime's `Peer` type from (a package
    /// name or a relative path).
    pub fn runtime_import(mut self, specifier: impl Into<String>) -> Self {
        self.runtime_import = specifier.into();
        self
    }

    /// The command that regenerates the module, named in its header.
    pub fn command(mut self, command: impl Into<String>) -> Self {
        self.command = Some(command.into());
        self
    }

    /// The module's text.
    pub fn render(&self) -> Result<String, Vec<ExportError>> {
        let mut types = Collector::new();
        let mut errors = Vec::new();
        let mut items = Vec::new();
        for (api, role) in &self.apis {
            let rendered = match role {
                Role::Calls => render_client(api, &mut types),
                Role::Implements => render_service(api, &mut types),
            };
            match rendered {
                Ok((names, text)) => items.push((names, text)),
                Err(e) => errors.extend(e),
            }
        }
        errors.append(&mut types.errors);
        let mut declared: HashSet<&str> = types.decls.keys().map(String::as_str).collect();
        let guards: Vec<String> = types.unions.keys().map(|name| format!("is{name}")).collect();
        for name in types.unions.keys().chain(&guards) {
            if !declared.insert(name) {
                errors.push(ExportError::DuplicateItem(name.clone()));
            }
        }
        for name in items.iter().flat_map(|(names, _)| names) {
            if !declared.insert(name) {
                errors.push(ExportError::DuplicateItem(name.clone()));
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }

        let mut out = String::new();
        out.push_str("// Generated from the #[rpc] traits by duplexrpc_core::typescript. Do not edit.\n");
        if let Some(command) = &self.command {
            let _ = writeln!(out, "// Regenerate with: {command}");
        }
        out.push_str(
            "//\n\
             // Integers are JSON numbers: 64-bit ones are typed `number` and are exact\n\
             // only up to Number.MAX_SAFE_INTEGER (2^53 - 1). duplexrpc_core::int64's\n\
             // Int64 and Uint64 are exact: typed `string` here (decodeInt64 makes a bigint).\n\n",
        );
        let _ = writeln!(
            out,
            "import type {{ {} }} from {};",
            self.runtime_imports().join(", "),
            js_string(&self.runtime_import)
        );
        for (_, text) in types.decls.values() {
            out.push('\n');
            out.push_str(text);
            out.push('\n');
        }
        for (_, text) in types.unions.values() {
            out.push('\n');
            out.push_str(text);
        }
        for (_, text) in &items {
            out.push('\n');
            out.push_str(text);
        }
        Ok(out)
    }

    /// The runtime's types the module uses: `CallOptions` (a client's
    /// calls take them), `CallContext` (an implementation's methods get it),
    /// `RpcStream` (a client's streaming methods return it), sorted.
    fn runtime_imports(&self) -> Vec<&'static str> {
        let called = |kind: fn(&MethodKind) -> bool| {
            self.apis
                .iter()
                .any(|(api, role)| matches!(role, Role::Calls) && api.methods.iter().any(|m| kind(&m.kind)))
        };
        let mut imports = vec!["Peer"];
        if called(|k| !matches!(k, MethodKind::Notification)) {
            imports.push("CallOptions");
        }
        if self.apis.iter().any(|(_, role)| matches!(role, Role::Implements)) {
            imports.push("CallContext");
        }
        if called(|k| matches!(k, MethodKind::Subscription)) {
            imports.push("RpcStream");
        }
        let typed_errors = self.apis.iter().any(|(api, _)| {
            api.methods
                .iter()
                .any(|m| m.kind != MethodKind::Notification && !m.errors.is_empty())
        });
        if typed_errors {
            imports.push("RpcError");
        }
        imports.sort_unstable();
        imports
    }

    /// A `main` for an export binary: with no arguments, prints the module;
    /// `--out FILE` writes it; `--out FILE --check` fails if FILE differs.
    pub fn main(&self) -> ExitCode {
        crate::cli::exit(self.run_cli(std::env::args().skip(1)))
    }

    fn run_cli(&self, args: impl Iterator<Item = String>) -> Result<(), String> {
        crate::cli::run(args, || self.render().map_err(|errors| crate::cli::report(&errors)))
    }
}

/// One parameter, resolved.
struct Param {
    /// The Rust (and by-name wire) name.
    wire: &'static str,
    /// The TypeScript parameter name.
    ts_name: String,
    ts_type: String,
    /// An `Option<T>`: may be absent when sent by name.
    optional: bool,
    /// A trailing `Option<T>`: may be left out by position too.
    trailing: bool,
}

/// One method, resolved.
struct Method<'a> {
    meta: &'a MethodMeta,
    ts_name: String,
    params: Vec<Param>,
    result: String,
    /// The error union's name, for a custom error type.
    error: Option<String>,
}

fn resolve<'a>(api: &'a ApiMeta, types: &mut Collector) -> Result<Vec<Method<'a>>, Vec<ExportError>> {
    let mut errors = Vec::new();
    let mut clashes = Vec::new();
    let mut methods = Vec::new();
    let mut names = HashSet::new();
    let mut unions = Vec::new();
    let mut ts_of = |ty: TsType, what: String, rust_type: &str, method: &MethodMeta| match ty.render() {
        Some(r) => Some((render(&r, types), r.is_option())),
        None => {
            errors.push(ExportError::NotTs {
                api: api.name.to_owned(),
                method: method.name.to_owned(),
                what,
                rust_type: rust_type.to_owned(),
            });
            None
        }
    };
    for m in api.methods {
        let mut params = Vec::new();
        for p in m.params {
            if let Some((ts_type, optional)) = ts_of(p.ts_type, format!("parameter `{}`", p.name), p.rust_type, m) {
                params.push(Param {
                    wire: p.name,
                    ts_name: param_name(p.name),
                    ts_type,
                    optional,
                    trailing: p.optional,
                });
            }
        }
        let result = match m.kind {
            MethodKind::Request | MethodKind::Subscription => {
                ts_of(m.result_ts_type, "result".to_owned(), m.result_type, m).map(|r| r.0)
            }
            MethodKind::Notification => Some("void".to_owned()),
        };
        let error = match m.kind {
            MethodKind::Notification => None,
            _ => error_union(m, &mut ts_of).map(|(name, codes, text)| {
                unions.push((name.clone(), codes, text));
                name
            }),
        };
        let ts_name = camel_case(m.name);
        if !names.insert(ts_name.clone()) || ts_name == "constructor" {
            clashes.push(ExportError::DuplicateMember {
                api: api.name.to_owned(),
                name: ts_name.clone(),
            });
        }
        if let Some(result) = result {
            methods.push(Method {
                meta: m,
                ts_name,
                params,
                result,
                error,
            });
        }
    }
    for (name, codes, text) in unions {
        // One union per error type, however many methods return it.
        match types.unions.get(&name) {
            Some((known, _)) if *known != codes => errors.push(ExportError::DuplicateItem(name)),
            Some(_) => {}
            None => {
                types.unions.insert(name, (codes, text));
            }
        }
    }
    errors.append(&mut clashes);
    if errors.is_empty() { Ok(methods) } else { Err(errors) }
}

/// What resolves a type: its TypeScript form and whether it is an `Option`.
type TsOf<'a> = dyn FnMut(TsType, String, &str, &MethodMeta) -> Option<(String, bool)> + 'a;

/// The union of a custom error type (`BankError`), its codes, and its text:
/// a discriminated union on `code` of `RpcError`s with typed `data`, and the
/// guard `isBankError` that narrows a caught `unknown` to it.
fn error_union(m: &MethodMeta, ts_of: &mut TsOf<'_>) -> Option<(String, Vec<i32>, String)> {
    if m.errors.is_empty() {
        return None;
    }
    let name = error_type_name(m.error_type);
    let mut out = jsdoc(
        "",
        &format!(
            "The errors `{name}` fails a call with: an `RpcError` with one of these codes.\n\
             Narrow a caught error with `is{name}(e)`, then on `e.code`."
        ),
    );
    let _ = writeln!(out, "export type {name} =");
    for e in m.errors {
        let data = error_data(m, e, ts_of)?;
        let doc = format!(
            "{}{}",
            js_string(e.message),
            if e.docs.is_empty() {
                String::new()
            } else {
                format!(": {}", e.docs)
            }
        );
        out.push_str(&jsdoc("  ", &doc));
        let _ = writeln!(
            out,
            "  | (RpcError & {{ readonly code: {}; readonly data: {data} }})",
            e.code
        );
    }
    out.truncate(out.trim_end().len());
    out.push_str(";\n\n");
    let codes: Vec<i32> = m.errors.iter().map(|e| e.code).collect();
    let tests: Vec<String> = codes.iter().map(|c| format!("e.code === {c}")).collect();
    out.push_str(&jsdoc(
        "",
        &format!("True if `e` is one of the errors of `{name}` (an error with one of its codes)."),
    ));
    let _ = writeln!(
        out,
        "export function is{name}(e: unknown): e is {name} {{\n  \
         return e instanceof Error && \"code\" in e && ({});\n}}",
        tests.join(" || ")
    );
    Some((name, codes, out))
}

/// How an error code's `data` is typed: `undefined` when it has none.
fn error_data(m: &MethodMeta, e: &ErrorMeta, ts_of: &mut TsOf<'_>) -> Option<String> {
    let mut field = |f: &ParamMeta| {
        let what = format!("data of error `{}` ({})", e.name, e.code);
        ts_of(f.ts_type, what, f.rust_type, m).map(|(ts, _)| ts)
    };
    Some(match e.data {
        ErrorData::None => "undefined".to_owned(),
        ErrorData::Value(p) => field(&p)?,
        ErrorData::Object(fields) => {
            let mut members = Vec::new();
            for f in fields {
                members.push(format!("{}: {}", f.name, field(f)?));
            }
            format!("{{ {} }}", members.join(", "))
        }
    })
}

/// The TypeScript name of an error type as written: its last path segment.
fn error_type_name(rust_type: &str) -> String {
    let last = rust_type.rsplit("::").next().unwrap_or(rust_type);
    last.split('<').next().unwrap_or(last).trim().to_owned()
}

type Item = (Vec<String>, String);

fn render_client(api: &ApiMeta, types: &mut Collector) -> Result<Item, Vec<ExportError>> {
    let methods = resolve(api, types)?;
    let class = format!("{}Client", api.name);
    let mut out = String::new();
    let summary = format!(
        "Calls `{}` on the other end of a connection (the other end implements it).",
        api.name
    );
    out.push_str(&jsdoc("", &join_docs(api.docs, &summary)));
    let _ = writeln!(out, "export class {class} {{");
    out.push_str("  /** The connection the calls go through. */\n");
    out.push_str("  readonly peer: Peer;\n\n");
    out.push_str("  constructor(peer: Peer) {\n    this.peer = peer;\n  }\n");
    for m in &methods {
        out.push('\n');
        out.push_str(&jsdoc("  ", &join_docs(m.meta.docs, &method_note(m))));
        let mut params = signature(&m.params, true);
        let args: Vec<&str> = m.params.iter().map(|p| p.ts_name.as_str()).collect();
        let wire = js_string(m.meta.wire_name);
        // Requests and streams take `{ signal, timeoutMs }` last; a notification has no reply to wait for.
        let options = extra_param(&m.params, "options");
        if !matches!(m.meta.kind, MethodKind::Notification) {
            params = join_params(&params, &format!("{options}?: CallOptions"));
        }
        // A request resolves to its result; a subscription to a stream of items.
        let awaited = match m.meta.kind {
            MethodKind::Request => Some((m.result.clone(), "call")),
            MethodKind::Subscription => Some((format!("RpcStream<{}>", m.result), "subscribe")),
            MethodKind::Notification => None,
        };
        match awaited {
            Some((resolves_to, peer_fn)) => {
                let _ = writeln!(out, "  {}({params}): Promise<{resolves_to}> {{", m.ts_name);
                let _ = writeln!(
                    out,
                    "    return this.peer.{peer_fn}<{}>({wire}, [{}], {options});",
                    m.result,
                    args.join(", ")
                );
            }
            None => {
                let _ = writeln!(out, "  {}({params}): void {{", m.ts_name);
                let _ = writeln!(out, "    this.peer.notify({wire}, [{}]);", args.join(", "));
            }
        }
        out.push_str("  }\n");
    }
    out.push_str("}\n");
    Ok((vec![class], out))
}

/// The last paragraph of a method's doc comment: its wire name, and the
/// errors it fails with.
fn method_note(m: &Method<'_>) -> String {
    let mut note = format!("JSON-RPC method `{}`.", m.meta.wire_name);
    if let Some(error) = &m.error {
        let _ = write!(
            note,
            "\n\n@throws {{{error}}} the errors of `{error}` (narrow with `is{error}`)"
        );
    }
    note
}

fn render_service(api: &ApiMeta, types: &mut Collector) -> Result<Item, Vec<ExportError>> {
    let methods = resolve(api, types)?;
    let name = api.name.to_owned();
    let register = format!("register{name}");
    let mut out = String::new();
    let summary = format!("Implemented on this side; the other end calls it. Route its calls here with `{register}`.");
    out.push_str(&jsdoc("", &join_docs(api.docs, &summary)));
    let _ = writeln!(out, "export interface {name} {{");
    for (i, m) in methods.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&jsdoc("  ", &join_docs(m.meta.docs, &method_note(m))));
        let ret = match m.meta.kind {
            MethodKind::Request => format!("{0} | Promise<{0}>", m.result),
            MethodKind::Subscription => format!("AsyncIterable<{0}> | Promise<AsyncIterable<{0}>>", m.result),
            MethodKind::Notification => "void | Promise<void>".to_owned(),
        };
        // The call's context last: its signal fires when the caller cancels.
        let context = format!("{}: CallContext", extra_param(&m.params, "context"));
        let _ = writeln!(
            out,
            "  {}({}): {ret};",
            m.ts_name,
            join_params(&signature(&m.params, false), &context)
        );
    }
    out.push_str("}\n\n");
    out.push_str(&jsdoc(
        "",
        "Serves `impl` on `peer`: each call of the other end runs the matching method, and what it\n\
         returns (or the `RpcError` it throws) is the reply. Params may come by position or by name.",
    ));
    let _ = writeln!(out, "export function {register}(peer: Peer, impl: {name}): void {{");
    for m in &methods {
        let specs: Vec<String> = m
            .params
            .iter()
            .map(|p| js_string(&format!("{}{}", p.wire, if p.optional { "?" } else { "" })))
            .collect();
        let args: Vec<String> = m
            .params
            .iter()
            .enumerate()
            .map(|(i, p)| format!("args[{i}] as {}", p.ts_type))
            .collect();
        let handler = if m.params.is_empty() {
            "(_args, context)"
        } else {
            "(args, context)"
        };
        let _ = writeln!(
            out,
            "  peer.handle({}, [{}], {handler} => impl.{}({}));",
            js_string(m.meta.wire_name),
            specs.join(", "),
            m.ts_name,
            join_params(&args.join(", "), "context")
        );
    }
    out.push_str("}\n");
    Ok((vec![name, register], out))
}

/// A parameter list; with `leave_out`, the trailing options are optional
/// (`due?: number | null`): a client may leave them out, where an
/// implementation always gets them (and its context after them).
fn signature(params: &[Param], leave_out: bool) -> String {
    let parts: Vec<String> = params
        .iter()
        .map(|p| {
            let mark = if leave_out && p.trailing { "?" } else { "" };
            format!("{}{mark}: {}", p.ts_name, p.ts_type)
        })
        .collect();
    parts.join(", ")
}

/// `base`, or `base_`, `base__`...: a parameter name no parameter of the method has.
fn extra_param(params: &[Param], base: &str) -> String {
    let mut name = base.to_owned();
    while params.iter().any(|p| p.ts_name == name) {
        name.push('_');
    }
    name
}

/// A parameter list with `last` appended.
fn join_params(list: &str, last: &str) -> String {
    if list.is_empty() {
        last.to_owned()
    } else {
        format!("{list}, {last}")
    }
}

fn join_docs(docs: &str, note: &str) -> String {
    if docs.trim().is_empty() {
        note.to_owned()
    } else {
        format!("{}\n\n{note}", docs.trim_end())
    }
}

/// A JSDoc comment, each line indented.
fn jsdoc(indent: &str, text: &str) -> String {
    let text = text.replace("*/", "*\\/");
    let mut out = format!("{indent}/**\n");
    for line in text.lines() {
        if line.is_empty() {
            let _ = writeln!(out, "{indent} *");
        } else {
            let _ = writeln!(out, "{indent} * {line}");
        }
    }
    let _ = writeln!(out, "{indent} */");
    out
}

/// A JSON (and so JavaScript) string literal.
fn js_string(s: &str) -> String {
    serde_json::to_string(s).expect("a str always serializes")
}

/// `sum_to` -> `sumTo`; a leading underscore stays.
fn camel_case(name: &str) -> String {
    let lead = name.len() - name.trim_start_matches('_').len();
    let mut out = name[..lead].to_owned();
    let mut upper = false;
    for c in name[lead..].chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// A parameter name: camelCased, with `_` appended to JavaScript's reserved words.
fn param_name(name: &str) -> String {
    const RESERVED: &[&str] = &[
        "arguments",
        "await",
        "break",
        "case",
        "catch",
        "class",
        "const",
        "continue",
        "debugger",
        "default",
        "delete",
        "do",
        "else",
        "enum",
        "eval",
        "export",
        "extends",
        "false",
        "finally",
        "for",
        "function",
        "if",
        "implements",
        "import",
        "in",
        "instanceof",
        "interface",
        "let",
        "new",
        "null",
        "package",
        "private",
        "protected",
        "public",
        "return",
        "static",
        "super",
        "switch",
        "this",
        "throw",
        "true",
        "try",
        "typeof",
        "var",
        "void",
        "while",
        "with",
        "yield",
    ];
    let name = camel_case(name);
    if RESERVED.contains(&name.as_str()) {
        name + "_"
    } else {
        name
    }
}

#[cfg(test)]
// The traits exist for their metadata; one has a huge and one a clashing method.
#[allow(dead_code, non_snake_case, clippy::too_many_arguments)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use serde::{Deserialize, Serialize};

    use super::*;
    use duplexrpc_core::{RpcError, rpc};
    use ts_rs::TS;

    /// A point.
    #[derive(Serialize, Deserialize, TS)]
    #[serde(rename_all = "camelCase")]
    struct Point {
        x_pos: f64,
        #[serde(rename = "y")]
        y_pos: f64,
        #[serde(skip)]
        cache: u8,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        label: Option<String>,
        note: Option<String>,
    }

    #[derive(Serialize, Deserialize, TS)]
    #[serde(tag = "kind", rename_all = "snake_case")]
    enum Shape {
        Circle { center: Point, radius: f64 },
        Polygon { points: Vec<Point> },
    }

    #[derive(Serialize, Deserialize, TS)]
    #[serde(tag = "t", content = "c")]
    enum Adjacent {
        A(u8),
        B,
    }

    #[derive(Serialize, Deserialize, TS)]
    #[serde(untagged)]
    enum Untagged {
        Num(f64),
        Text(String),
    }

    #[derive(Serialize, Deserialize, TS)]
    enum External {
        Unit,
        Pair(u8, u8),
    }

    /// Recursive.
    #[derive(Serialize, Deserialize, TS)]
    struct Tree {
        value: i64,
        children: Vec<Tree>,
        extra: Base,
    }

    #[derive(Serialize, Deserialize, TS)]
    struct Base {
        id: u64,
    }

    #[derive(Serialize, Deserialize, TS)]
    struct WithFlatten {
        #[serde(flatten)]
        base: Base,
        name: String,
    }

    #[derive(Serialize, Deserialize, TS)]
    struct Page<T> {
        items: Vec<T>,
        next: Option<u32>,
    }

    mod other {
        /// Same name as a type in the parent module.
        #[derive(serde::Serialize, serde::Deserialize, ts_rs::TS)]
        pub struct Point {
            pub lat: f64,
        }
    }

    #[derive(Serialize, Deserialize)]
    struct NoTs;

    /// Does geometry.
    #[rpc(namespace = "geo")]
    trait Geometry {
        /// Moves a point.
        async fn move_point(&self, p: Point, by: (f64, f64)) -> Result<Point, RpcError>;
        async fn area(&self, shape: Shape) -> Result<f64, RpcError>;
        async fn misc(
            &self,
            a: Adjacent,
            u: Untagged,
            e: External,
            tree: Tree,
            f: WithFlatten,
            m: HashMap<String, Vec<u64>>,
            b: BTreeMap<String, bool>,
            page: Page<Base>,
            default: Option<i32>,
        ) -> Result<Option<Vec<Shape>>, RpcError>;
        async fn nothing(&self) -> Result<(), RpcError>;
        #[notification]
        async fn ping(&self, n: u32);
    }

    #[rpc(namespace = "ui")]
    trait Screen {
        async fn ask(&self, question: String, timeout_ms: Option<u32>) -> Result<bool, RpcError>;
        #[notification]
        async fn show(&self, shape: Shape);
    }

    #[rpc]
    trait Broken {
        async fn take(&self, x: NoTs) -> Result<NoTs, RpcError>;
    }

    #[rpc]
    trait Clash {
        async fn one(&self, p: Point) -> Result<other::Point, RpcError>;
    }

    #[rpc]
    trait MemberClash {
        async fn sum_to(&self) -> Result<(), RpcError>;
        async fn sumTo(&self) -> Result<(), RpcError>;
    }

    #[rpc(namespace = "clock")]
    trait Clock {
        async fn ticks(&self, n: u32) -> Result<duplexrpc_core::RpcStream<u32>, RpcError>;
    }

    #[test]
    fn a_called_stream_imports_rpc_stream() {
        let calls = TypeScript::new().calls::<ClockClient>().render().unwrap();
        assert!(
            calls.contains("import type { CallOptions, Peer, RpcStream } from \"duplexrpc\";\n"),
            "{calls}"
        );
        assert!(
            calls.contains(
                "  ticks(n: number, options?: CallOptions): Promise<RpcStream<number>> {\n    \
                 return this.peer.subscribe<number>(\"clock.ticks\", [n], options);\n"
            ),
            "{calls}"
        );
        // Implementing a stream needs only AsyncIterable (a TypeScript built-in).
        let implements = TypeScript::new().implements::<ClockClient>().render().unwrap();
        assert!(
            implements.contains("import type { CallContext, Peer } from \"duplexrpc\";\n"),
            "{implements}"
        );
        assert!(implements.contains("AsyncIterable<number> | Promise<AsyncIterable<number>>"));
    }

    fn module() -> String {
        TypeScript::new()
            .calls::<GeometryClient>()
            .implements::<ScreenClient>()
            .command("cargo run --bin export-ts")
            .render()
            .unwrap()
    }

    #[test]
    fn types_follow_serde() {
        let ts = module();
        for decl in [
            // skip_serializing_if + default: may be absent (and null is accepted).
            "export type Point = { xPos: number, y: number, label?: string | null, note: string | null, };",
            r#"export type Shape = { "kind": "circle", center: Point, radius: number, } | { "kind": "polygon", points: Array<Point>, };"#,
            r#"export type Adjacent = { "t": "A", "c": number } | { "t": "B" };"#,
            "export type Untagged = number | string;",
            r#"export type External = "Unit" | { "Pair": [number, number] };"#,
            "export type Tree = { value: number, children: Array<Tree>, extra: Base, };",
            "export type Base = { id: number, };",
            "export type WithFlatten = { name: string, id: number, };",
            "export type Page<T> = { items: Array<T>, next: number | null, };",
        ] {
            assert!(ts.contains(decl), "missing {decl}\n{ts}");
        }
        assert!(ts.contains("/**\n * A point.\n */\nexport type Point"), "{ts}");
        assert!(ts.contains("/**\n * Recursive.\n */\nexport type Tree"), "{ts}");
        assert_eq!(ts.matches("export type Base =").count(), 1, "declared once");
    }

    #[test]
    fn client_class() {
        let ts = module();
        assert!(ts.starts_with("// Generated from the #[rpc] traits"), "{ts}");
        assert!(ts.contains("// Regenerate with: cargo run --bin export-ts\n"));
        assert!(ts.contains("import type { CallContext, CallOptions, Peer } from \"duplexrpc\";\n"));
        assert!(ts.contains("export class GeometryClient {\n"));
        assert!(ts.contains(
            "  movePoint(p: Point, by: [number, number], options?: CallOptions): Promise<Point> {\n    \
             return this.peer.call<Point>(\"geo.move_point\", [p, by], options);\n  }\n"
        ));
        assert!(ts.contains(
            "  misc(a: Adjacent, u: Untagged, e: External, tree: Tree, f: WithFlatten, \
             m: { [key in string]: Array<number> }, b: { [key in string]: boolean }, page: Page<Base>, \
             default_?: number | null, options?: CallOptions): Promise<Array<Shape> | null> {\n"
        ));
        assert!(ts.contains(
            "  nothing(options?: CallOptions): Promise<null> {\n    \
             return this.peer.call<null>(\"geo.nothing\", [], options);"
        ));
        assert!(ts.contains("  ping(n: number): void {\n    this.peer.notify(\"geo.ping\", [n]);\n  }\n"));
        assert!(ts.contains("   * Moves a point.\n   *\n   * JSON-RPC method `geo.move_point`.\n"));
        assert!(ts.contains(" * Does geometry.\n"));
    }

    #[rpc(namespace = "todo")]
    trait Todo {
        async fn add_item(&self, note: Option<String>, title: String, due: Option<i64>) -> Result<u32, RpcError>;
        #[notification]
        async fn seen(&self, id: u32, at: Option<u64>);
    }

    #[test]
    fn trailing_options_are_optional_params() {
        let ts = TypeScript::new().calls::<TodoClient>().render().unwrap();
        assert!(
            ts.contains(
                "  addItem(note: string | null, title: string, due?: number | null, options?: CallOptions): Promise<number> {\n    \
                 return this.peer.call<number>(\"todo.add_item\", [note, title, due], options);\n"
            ),
            "{ts}"
        );
        assert!(ts.contains("  seen(id: number, at?: number | null): void {\n"), "{ts}");
    }

    #[derive(duplexrpc_core::RpcErrorType)]
    enum BankError {
        /// Asked for more than there is.
        #[rpc_error(code = 1001, message = "insufficient funds")]
        Insufficient { needed: u64, at: Point },
        #[rpc_error(code = 1002, message = "no such account")]
        NoAccount(String),
        #[rpc_error(code = -7, message = "frozen")]
        Frozen,
        #[rpc_error(other)]
        Rpc(RpcError),
    }

    #[rpc(namespace = "bank")]
    trait Bank {
        async fn withdraw(&self, amount: u64) -> Result<u64, BankError>;
        async fn freeze(&self) -> Result<(), BankError>;
        async fn plain(&self) -> Result<(), RpcError>;
    }

    #[test]
    fn custom_errors_are_a_union_on_code_with_a_guard() {
        let ts = TypeScript::new().calls::<BankClient>().render().unwrap();
        assert!(
            ts.contains("import type { CallOptions, Peer, RpcError } from \"duplexrpc\";\n"),
            "{ts}"
        );
        let union = "export type BankError =\n  \
             /**\n   * \"insufficient funds\": Asked for more than there is.\n   */\n  \
             | (RpcError & { readonly code: 1001; readonly data: { needed: number, at: Point } })\n  \
             /**\n   * \"no such account\"\n   */\n  \
             | (RpcError & { readonly code: 1002; readonly data: string })\n  \
             /**\n   * \"frozen\"\n   */\n  \
             | (RpcError & { readonly code: -7; readonly data: undefined });\n";
        assert!(ts.contains(union), "{ts}");
        assert!(
            ts.contains(
                "export function isBankError(e: unknown): e is BankError {\n  \
                 return e instanceof Error && \"code\" in e && (e.code === 1001 || e.code === 1002 || e.code === -7);\n}\n"
            ),
            "{ts}"
        );
        assert_eq!(
            ts.matches("export type BankError =").count(),
            1,
            "one union for two methods"
        );
        assert!(
            ts.contains("export type Point = "),
            "the data's types are declared: {ts}"
        );
        assert!(
            ts.contains(
                "   * @throws {BankError} the errors of `BankError` (narrow with `isBankError`)\n   */\n  withdraw("
            ),
            "{ts}"
        );
        assert!(
            ts.contains("   * JSON-RPC method `bank.plain`.\n   */\n  plain("),
            "{ts}"
        );
    }

    #[test]
    fn service_interface_and_register() {
        let ts = module();
        assert!(ts.contains("export interface Screen {\n"));
        assert!(ts.contains(
            "  ask(question: string, timeoutMs: number | null, context: CallContext): boolean | Promise<boolean>;\n"
        ));
        assert!(ts.contains("  show(shape: Shape, context: CallContext): void | Promise<void>;\n"));
        assert!(ts.contains("export function registerScreen(peer: Peer, impl: Screen): void {\n"));
        assert!(ts.contains(
            "  peer.handle(\"ui.ask\", [\"question\", \"timeout_ms?\"], (args, context) => \
             impl.ask(args[0] as string, args[1] as number | null, context));\n"
        ));
        assert!(ts.contains(
            "  peer.handle(\"ui.show\", [\"shape\"], (args, context) => impl.show(args[0] as Shape, context));\n"
        ));
    }

    #[rpc(namespace = "named")]
    trait Named {
        async fn take(&self, options: u8, context: u8, big_id: duplexrpc_core::int64::Int64) -> Result<(), RpcError>;
        async fn none(&self) -> Result<duplexrpc_core::int64::Uint64, RpcError>;
    }

    #[test]
    fn options_and_context_never_clash_with_params() {
        let calls = TypeScript::new().calls::<NamedClient>().render().unwrap();
        assert!(
            calls.contains(
                "  take(options: number, context: number, bigId: string, options_?: CallOptions): Promise<null> {\n    \
                 return this.peer.call<null>(\"named.take\", [options, context, bigId], options_);\n"
            ),
            "{calls}"
        );
        let implements = TypeScript::new().implements::<NamedClient>().render().unwrap();
        assert!(
            implements.contains(
                "  take(options: number, context: number, bigId: string, context_: CallContext): null | Promise<null>;\n"
            ),
            "{implements}"
        );
        assert!(
            implements.contains("  peer.handle(\"named.none\", [], (_args, context) => impl.none(context));\n"),
            "{implements}"
        );
    }

    #[test]
    fn exact_64_bit_integers_are_strings() {
        let ts = TypeScript::new().calls::<NamedClient>().render().unwrap();
        assert!(
            ts.contains("  none(options?: CallOptions): Promise<string> {\n"),
            "{ts}"
        );
        assert!(ts.contains("bigId: string"), "{ts}");
    }

    #[test]
    fn field_docs_are_indented() {
        let decl = "/**\n * A doc with { braces \"and quotes\".\n */\nexport type A = { \n/**\n * The x.\n */\nx: { y: number }, \n/**\n * The z.\n */\nz: \"}\", };\n";
        assert_eq!(
            indent_decl(decl),
            "/**\n * A doc with { braces \"and quotes\".\n */\nexport type A = {\n  /**\n   * The x.\n   */\n  \
             x: { y: number },\n  /**\n   * The z.\n   */\n  z: \"}\", };"
        );
    }

    #[test]
    fn deterministic() {
        assert_eq!(module(), module());
    }

    #[test]
    fn errors_name_the_type() {
        let errors = TypeScript::new().calls::<BrokenClient>().render().unwrap_err();
        assert_eq!(errors.len(), 2);
        let text = errors[0].to_string();
        assert!(
            text.contains("Broken::take: the parameter `x` has type `NoTs`"),
            "{text}"
        );
        assert!(errors[1].to_string().contains("the result has type `NoTs`"));

        let errors = TypeScript::new().calls::<ClashClient>().render().unwrap_err();
        assert_eq!(errors, vec![ExportError::DuplicateType("Point".into())]);

        let errors = TypeScript::new().calls::<MemberClashClient>().render().unwrap_err();
        assert_eq!(
            errors,
            vec![ExportError::DuplicateMember {
                api: "MemberClash".into(),
                name: "sumTo".into()
            }]
        );

        let errors = TypeScript::new()
            .calls::<GeometryClient>()
            .calls::<GeometryClient>()
            .render()
            .unwrap_err();
        assert_eq!(errors, vec![ExportError::DuplicateItem("GeometryClient".into())]);
    }

    #[test]
    fn meta_knows_ts_types() {
        let meta = GeometryClient::META;
        assert!(meta.methods[0].params[0].ts_type.is_known());
        assert_eq!(meta.methods[0].result_ts_type, meta.methods[0].params[0].ts_type);
        assert_ne!(meta.methods[0].params[0].ts_type, meta.methods[0].params[1].ts_type);
        assert!(!BrokenClient::META.methods[0].params[0].ts_type.is_known());
    }

    #[test]
    fn cli_writes_and_checks() {
        let dir = std::env::temp_dir().join(format!("rpc-ts-cli-{}", std::process::id()));
        let file = dir.join("sub/api.ts");
        let ts = TypeScript::new().calls::<GeometryClient>();
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>().into_iter();
        let path = file.to_str().unwrap();
        assert!(ts.run_cli(args(&["--out", path, "--check"])).is_err(), "missing file");
        ts.run_cli(args(&["--out", path])).unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), ts.render().unwrap());
        ts.run_cli(args(&["--out", path, "--check"])).unwrap();
        std::fs::write(&file, "stale").unwrap();
        let err = ts.run_cli(args(&["--out", path, "--check"])).unwrap_err();
        assert!(err.contains("out of date (first difference on line 1)"), "{err}");
        assert!(ts.run_cli(args(&["--bogus"])).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn names() {
        assert_eq!(camel_case("sum_to"), "sumTo");
        assert_eq!(camel_case("_private_thing"), "_privateThing");
        assert_eq!(camel_case("add"), "add");
        assert_eq!(param_name("class"), "class_");
        assert_eq!(param_name("new_value"), "newValue");
    }
}

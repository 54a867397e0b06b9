//! OpenRPC documents (feature `openrpc`): an [OpenRPC 1.3.2] description of
//! `#[rpc]` traits, built from the metadata the macro emits ([`duplexrpc_core::meta`]),
//! with a JSON Schema for every parameter and result (`schemars`).
//!
//! ```
//! use duplexrpc_codegen::openrpc::OpenRpc;
//! use duplexrpc_core::{rpc, RpcError};
//!
//! /// Served by the server.
//! #[rpc(namespace = "calc")]
//! pub trait Calculator {
//!     /// Adds two numbers.
//!     async fn add(&self, a: i64, b: Option<i64>) -> Result<i64, RpcError>;
//! }
//!
//! /// Served by each client.
//! #[rpc(namespace = "ui")]
//! pub trait Browser {
//!     #[notification]
//!     async fn progress(&self, pct: u8);
//! }
//!
//! let doc = OpenRpc::new("Calculator", "1.0.0")
//!     .serves::<CalculatorClient>()
//!     .calls::<BrowserClient>()
//!     .document();
//! assert_eq!(doc["openrpc"], "1.3.2");
//! let add = &doc["methods"][0];
//! assert_eq!(add["name"], "calc.add");
//! assert_eq!(add["x-served-by"], "server");
//! assert_eq!(add["params"][1]["required"], false);
//! let progress = &doc["methods"][1];
//! assert_eq!(progress["x-notification"], true);
//! assert_eq!(progress["x-served-by"], "client");
//! assert!(progress.get("result").is_none());
//! ```
//!
//! What the document holds, and the extensions it uses where OpenRPC has no
//! word for a feature of this framework:
//!
//! * `info`: the title, version and description given to [`OpenRpc`].
//! * one method object per trait method, in registration and declaration
//!   order, named by its wire name; `description` is the method's doc
//!   comment, `tags` holds the trait (name and doc comment);
//!   `paramStructure` is `"either"`: params are sent by position and
//!   accepted by position or by name.
//! * `params`: one content descriptor per parameter, with its JSON Schema;
//!   `required` is false for the trailing `Option<_>` parameters (a caller
//!   may leave them out, by position or by name), true otherwise.
//! * `result`: the success type's schema. A notification has no `result` and
//!   carries `"x-notification": true`. A stream (a method returning
//!   `RpcStream<T>`) carries `"x-subscription": true` and its `result`
//!   describes one item `T` (the items arrive as notifications, see
//!   [`duplexrpc_core::stream`]).
//! * `"x-served-by"`: `"server"` for the traits given to [`OpenRpc::serves`],
//!   `"client"` for those given to [`OpenRpc::calls`] (the server calls them
//!   on its clients).
//! * `errors`: the codes of the method's error type, when it is a custom one
//!   (`#[derive(RpcErrorType)]`, see [`duplexrpc_core::RpcErrorType`]): code
//!   and message each; the spec's standard codes (-32700..-32603) apply to
//!   every method and are not listed. OpenRPC's error object has no schema
//!   for `data`, so `"x-error-data"` holds one per code that carries data
//!   (code, variant name, description, schema).
//! * `components.schemas`: the definitions of named types (structs, enums),
//!   which the method schemas reference as `#/components/schemas/Name`.
//! * A type without `schemars::JsonSchema` gets the empty schema `{}` (any
//!   value), and its content descriptor a `"x-schema-missing"` note naming the
//!   Rust type; [`OpenRpc::missing_schemas`] lists them.
//!
//! The document can be served on `rpc.discover` with [`discover_methods`].
//!
//! [OpenRPC 1.3.2]: https://spec.open-rpc.org/

use std::process::ExitCode;

use schemars::SchemaGenerator;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use duplexrpc_core::meta::{ApiMeta, ErrorData, ErrorMeta, MethodKind, SchemaType};
use duplexrpc_core::{Methods, RegisterError, RpcApi, RpcError};

/// The OpenRPC version of the documents built here.
pub const OPENRPC_VERSION: &str = "1.3.2";

/// The method name OpenRPC reserves for the document ([`discover_methods`]).
pub const DISCOVER_METHOD: &str = "rpc.discover";

/// Which side of a connection serves a trait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Server,
    Client,
}

impl Side {
    fn as_str(self) -> &'static str {
        match self {
            Side::Server => "server",
            Side::Client => "client",
        }
    }
}

/// Builds an OpenRPC document from `#[rpc]` traits (see the [module docs](self)),
/// from the server's point of view: the traits it serves and the traits it
/// calls on its clients.
#[derive(Clone, Debug)]
pub struct OpenRpc {
    title: String,
    version: String,
    description: Option<String>,
    apis: Vec<(ApiMeta, Side)>,
}

impl OpenRpc {
    /// A document with this `info.title` and `info.version` (the API's version).
    pub fn new(title: impl Into<String>, version: impl Into<String>) -> Self {
        OpenRpc {
            title: title.into(),
            version: version.into(),
            description: None,
            apis: Vec::new(),
        }
    }

    /// Sets `info.description`.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Adds a trait the server serves (clients call it): `A` is its
    /// generated client, e.g. `serves::<CalculatorClient>()`.
    pub fn serves<A: RpcApi>(mut self) -> Self {
        self.apis.push((A::META, Side::Server));
        self
    }

    /// Adds a trait the clients serve (the server calls it), e.g.
    /// `calls::<BrowserClient>()`.
    pub fn calls<A: RpcApi>(mut self) -> Self {
        self.apis.push((A::META, Side::Client));
        self
    }

    /// The parameters and results whose type has no JSON Schema (it does not
    /// implement `schemars::JsonSchema`), as `"wire.name: RustType"`.
    pub fn missing_schemas(&self) -> Vec<String> {
        let mut missing = Vec::new();
        for (api, _) in &self.apis {
            for m in api.methods {
                for p in m.params {
                    if !p.schema.is_known() {
                        missing.push(format!("{} param {}: {}", m.wire_name, p.name, p.rust_type));
                    }
                }
                if m.kind != MethodKind::Notification && !m.result_schema.is_known() {
                    missing.push(format!("{} result: {}", m.wire_name, m.result_type));
                }
            }
        }
        missing
    }

    /// The OpenRPC document.
    pub fn document(&self) -> Value {
        let settings = SchemaSettings::draft07().with(|s| s.definitions_path = "/components/schemas".into());
        let mut generator = settings.into_generator();
        let mut methods = Vec::new();
        for (api, side) in &self.apis {
            for m in api.methods {
                let params: Vec<Value> = m
                    .params
                    .iter()
                    .map(|p| {
                        let mut d = descriptor(&mut generator, p.name, p.schema, p.rust_type);
                        d.insert("required".into(), (!p.optional).into());
                        Value::Object(d)
                    })
                    .collect();
                let mut method = Map::new();
                method.insert("name".into(), m.wire_name.into());
                if !m.docs.is_empty() {
                    method.insert("description".into(), m.docs.into());
                }
                let mut tag = Map::new();
                tag.insert("name".into(), api.name.into());
                if !api.docs.is_empty() {
                    tag.insert("description".into(), api.docs.into());
                }
                method.insert("tags".into(), json!([tag]));
                method.insert("params".into(), params.into());
                method.insert("paramStructure".into(), "either".into());
                match m.kind {
                    MethodKind::Notification => {
                        method.insert("x-notification".into(), true.into());
                    }
                    MethodKind::Request | MethodKind::Subscription => {
                        let result = descriptor(&mut generator, "result", m.result_schema, m.result_type);
                        method.insert("result".into(), result.into());
                        if m.kind == MethodKind::Subscription {
                            method.insert("x-subscription".into(), true.into());
                        }
                    }
                }
                if m.kind != MethodKind::Notification && !m.errors.is_empty() {
                    let (errors, data) = error_objects(&mut generator, m.errors);
                    method.insert("errors".into(), errors.into());
                    if !data.is_empty() {
                        method.insert("x-error-data".into(), data.into());
                    }
                }
                method.insert("x-served-by".into(), side.as_str().into());
                methods.push(Value::Object(method));
            }
        }
        let mut info = Map::new();
        info.insert("title".into(), self.title.clone().into());
        if let Some(d) = &self.description {
            info.insert("description".into(), d.clone().into());
        }
        info.insert("version".into(), self.version.clone().into());
        let mut definitions = generator.take_definitions(true);
        definitions.sort_keys();
        json!({
            "openrpc": OPENRPC_VERSION,
            "info": info,
            "methods": methods,
            "components": { "schemas": definitions },
        })
    }

    /// The document as an export binary writes it: pretty JSON and a newline.
    pub fn render(&self) -> String {
        let mut text = serde_json::to_string_pretty(&self.document()).expect("a Value serializes");
        text.push('\n');
        text
    }

    /// A `main` for an export binary (see [`crate::cli`]): with no arguments,
    /// prints the document; `--out FILE` writes it; `--out FILE --check`
    /// fails if FILE differs.
    pub fn main(&self) -> ExitCode {
        crate::cli::main(|| Ok(self.render()))
    }
}

/// A content descriptor: name and schema (`{}` and a note when unknown).
fn descriptor(generator: &mut SchemaGenerator, name: &str, schema: SchemaType, rust_type: &str) -> Map<String, Value> {
    let mut d = Map::new();
    d.insert("name".into(), name.into());
    match schema.render() {
        Some(render) => {
            let mut schema = render.schema(generator);
            // The draft-07 transforms (e.g. tuples as `items` arrays), which
            // schemars applies to root schemas only.
            for t in generator.transforms_mut() {
                t.transform(&mut schema);
            }
            d.insert("schema".into(), schema.to_value());
        }
        None => {
            d.insert("schema".into(), json!({}));
            d.insert(
                "x-schema-missing".into(),
                format!("`{rust_type}` does not implement schemars::JsonSchema: any value").into(),
            );
        }
    }
    d
}

/// The `errors` of a method (code and message), and the schemas of their
/// `data` (`"x-error-data"`), for the codes that carry data.
fn error_objects(generator: &mut SchemaGenerator, errors: &[ErrorMeta]) -> (Vec<Value>, Vec<Value>) {
    let mut objects = Vec::new();
    let mut data = Vec::new();
    for e in errors {
        objects.push(json!({"code": e.code, "message": e.message}));
        let schema = match e.data {
            ErrorData::None => continue,
            ErrorData::Value(p) => descriptor(generator, p.name, p.schema, p.rust_type)["schema"].take(),
            ErrorData::Object(fields) => {
                let mut properties = Map::new();
                for f in fields {
                    let schema = descriptor(generator, f.name, f.schema, f.rust_type)["schema"].take();
                    properties.insert(f.name.into(), schema);
                }
                let required: Vec<&str> = fields.iter().map(|f| f.name).collect();
                json!({"type": "object", "properties": properties, "required": required})
            }
        };
        let mut entry = Map::new();
        entry.insert("code".into(), e.code.into());
        entry.insert("name".into(), e.name.into());
        if !e.docs.is_empty() {
            entry.insert("description".into(), e.docs.into());
        }
        entry.insert("schema".into(), schema);
        data.push(Value::Object(entry));
    }
    (objects, data)
}

/// A dispatch table with one method, [`DISCOVER_METHOD`] (`rpc.discover`),
/// that returns `document`. Names starting with `rpc.` are reserved for the
/// framework (`#[rpc]` refuses them in user traits), so a server opts in by
/// registering this next to its services:
///
/// ```
/// use duplexrpc_codegen::openrpc::{OpenRpc, discover_methods};
/// use duplexrpc_core::{rpc, PeerBuilder, RpcError};
///
/// #[rpc(namespace = "calc")]
/// pub trait Calculator {
///     async fn add(&self, a: i64, b: i64) -> Result<i64, RpcError>;
/// }
///
/// let doc = OpenRpc::new("Calculator", "1.0.0").serves::<CalculatorClient>().document();
/// let mut server = PeerBuilder::new();
/// server.register(discover_methods(doc)).unwrap();
/// ```
pub fn discover_methods(document: Value) -> Methods {
    let mut methods = Methods::new();
    add_discover(&mut methods, document).expect("a new table has no methods");
    methods
}

/// Adds [`DISCOVER_METHOD`] to `methods`; fails if it is already there.
pub fn add_discover(methods: &mut Methods, document: Value) -> Result<(), RegisterError> {
    // Serialized once; each call copies the text.
    let document = serde_json::value::to_raw_value(&document).expect("a Value serializes");
    methods.method(DISCOVER_METHOD, move |(): ()| {
        let document = document.clone();
        async move { Ok::<_, RpcError>(document) }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(dead_code)] // exists for its metadata
    #[rpc(namespace = "todo")]
    trait Todo {
        async fn add_item(&self, note: Option<String>, title: String, due: Option<i64>) -> Result<u32, RpcError>;
    }

    use duplexrpc_core::rpc;

    #[derive(duplexrpc_core::RpcErrorType)]
    enum TodoError {
        /// No item has this id.
        #[rpc_error(code = 404, message = "no such item")]
        NotFound { id: u32 },
        #[rpc_error(code = 409, message = "taken")]
        Taken(String),
        #[rpc_error(code = 410, message = "gone")]
        Gone,
        #[rpc_error(other)]
        Rpc(RpcError),
    }

    #[allow(dead_code)] // exists for its metadata
    #[rpc]
    trait Items {
        async fn get(&self, id: u32) -> Result<String, TodoError>;
        async fn plain(&self) -> Result<(), RpcError>;
    }

    #[test]
    fn custom_error_codes_are_the_methods_errors() {
        let doc = OpenRpc::new("Items", "1").serves::<ItemsClient>().document();
        let get = &doc["methods"][0];
        assert_eq!(
            get["errors"],
            json!([
                {"code": 404, "message": "no such item"},
                {"code": 409, "message": "taken"},
                {"code": 410, "message": "gone"},
            ])
        );
        assert_eq!(
            get["x-error-data"],
            json!([
                {"code": 404, "name": "NotFound", "description": "No item has this id.", "schema": {
                    "type": "object",
                    "properties": {"id": {"type": "integer", "format": "uint32", "minimum": 0}},
                    "required": ["id"],
                }},
                {"code": 409, "name": "Taken", "schema": {"type": "string"}},
            ])
        );
        let plain = &doc["methods"][1];
        assert!(
            plain.get("errors").is_none() && plain.get("x-error-data").is_none(),
            "{plain}"
        );
    }

    #[test]
    fn only_trailing_options_are_not_required() {
        let doc = OpenRpc::new("Todo", "1").serves::<TodoClient>().document();
        let required: Vec<&Value> = doc["methods"][0]["params"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| &p["required"])
            .collect();
        // `note` cannot be left out by position: a caller must send `null`.
        assert_eq!(required, [true, true, false]);
    }
}

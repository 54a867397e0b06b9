//! The OpenRPC document of the example API is valid against the OpenRPC
//! meta-schema, and describes the API as the traits declare it.
//!
//! The meta-schemas are files in this folder, taken from npm packages (no
//! network at test time):
//! * `openrpc-meta-schema.json`: `@open-rpc/meta-schema` 1.14.9 (Apache-2.0),
//!   the `openrpcDocument` export of its `index.js`, written out as JSON
//!   (`node -e 'JSON.stringify(require("./index.js").openrpcDocument, null, 2)'`).
//!   It accepts OpenRPC 1.0.0 to 1.3.2.
//! * `json-schema-tools-meta-schema.json`: `@json-schema-tools/meta-schema`
//!   1.8.0 (Apache-2.0), its `schema.json` unchanged: the JSON Schema
//!   meta-schema that the OpenRPC one references as
//!   `https://meta.json-schema.tools` for every `schema` in a document.

use jsonschema::{Draft, Validator};
use serde_json::{Value, json};

fn load(file: &str) -> Value {
    let path = format!("{}/tests/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn meta_schema_validator() -> Validator {
    // Both declare `$schema: https://meta.json-schema.tools/`, a draft-07
    // dialect; say so, since the validator does not know that URI.
    let json_schema_tools = Draft::Draft7.create_resource(load("json-schema-tools-meta-schema.json"));
    jsonschema::options()
        .with_draft(Draft::Draft7)
        .with_resource("https://meta.json-schema.tools", json_schema_tools.clone())
        .with_resource("https://meta.json-schema.tools/", json_schema_tools)
        .build(&load("openrpc-meta-schema.json"))
        .expect("the meta-schema compiles")
}

fn errors(validator: &Validator, doc: &Value) -> Vec<String> {
    validator
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

#[test]
fn the_example_document_is_valid_openrpc() {
    let validator = meta_schema_validator();
    let doc = examples::openrpc_document();
    let errors = errors(&validator, &doc);
    assert!(errors.is_empty(), "{errors:#?}\n{doc:#}");
}

#[test]
fn the_validator_rejects_invalid_documents() {
    // The check above would pass vacuously if the meta-schema accepted anything.
    let validator = meta_schema_validator();
    let mut doc = examples::openrpc_document();
    doc["openrpc"] = json!("9.9.9");
    assert!(!validator.is_valid(&doc));
    let mut doc = examples::openrpc_document();
    doc["methods"][0]["params"][0]["schema"] = json!({"type": "no such type"});
    assert!(!validator.is_valid(&doc));
    let mut doc = examples::openrpc_document();
    doc["methods"][0].as_object_mut().unwrap().remove("name");
    assert!(!validator.is_valid(&doc));
}

fn method<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["methods"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == name)
        .unwrap_or_else(|| panic!("no method {name}"))
}

#[test]
fn the_document_describes_the_traits() {
    let doc = examples::openrpc_document();
    assert_eq!(doc["openrpc"], "1.3.2");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));

    let add = method(&doc, "calc.add");
    assert_eq!(add["x-served-by"], "server");
    assert_eq!(add["description"], "Adds two numbers.");
    assert_eq!(add["tags"][0]["name"], "Calculator");
    assert_eq!(
        add["params"],
        json!([
            {"name": "a", "schema": {"type": "integer", "format": "int64"}, "required": true},
            {"name": "b", "schema": {"type": "integer", "format": "int64"}, "required": true},
        ])
    );
    assert_eq!(add["result"]["schema"], json!({"type": "integer", "format": "int64"}));

    let log = method(&doc, "calc.log");
    assert_eq!(log["x-notification"], true);
    assert!(log.get("result").is_none());

    // Streams both ways: the result describes one item.
    let ticks = method(&doc, "tick.ticks");
    assert_eq!(ticks["x-subscription"], true);
    assert_eq!(ticks["x-served-by"], "server");
    assert_eq!(ticks["params"][1]["name"], "fail_at");
    assert_eq!(ticks["params"][1]["required"], false);
    assert_eq!(
        ticks["result"]["schema"],
        json!({"type": "integer", "format": "uint32", "minimum": 0})
    );
    let numbers = method(&doc, "feed.numbers");
    assert_eq!(numbers["x-subscription"], true);
    assert_eq!(numbers["x-served-by"], "client");

    let confirm = method(&doc, "ui.confirm");
    assert_eq!(confirm["x-served-by"], "client");
    assert_eq!(confirm["result"]["schema"], json!({"type": "boolean"}));

    // Named types are referenced and defined once, with their serde form.
    let schemas = &doc["components"]["schemas"];
    let refs: Vec<&Value> = doc["methods"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| m["params"].as_array().unwrap().iter().chain(m.get("result")))
        .map(|d| &d["schema"])
        .filter(|s| s.get("$ref").is_some())
        .collect();
    assert!(
        refs.contains(&&json!({"$ref": "#/components/schemas/Expr"})),
        "{refs:?}"
    );
    assert!(
        refs.contains(&&json!({"$ref": "#/components/schemas/Summary"})),
        "{refs:?}"
    );
    // `Summary` is camelCased on the wire and `median` may be absent.
    let summary = &schemas["Summary"];
    assert!(summary["properties"].get("minMax").is_some(), "{summary:#}");
    let required = summary["required"].as_array().unwrap();
    assert!(
        required.contains(&json!("count")) && !required.contains(&json!("median")),
        "{summary:#}"
    );
    // `Expr` is tagged by `op`; it refers to itself through the components.
    let expr = schemas["Expr"].to_string();
    assert!(
        expr.contains("\"op\"") && expr.contains("#/components/schemas/Expr"),
        "{expr}"
    );
    // Every reference resolves.
    let text = doc.to_string();
    for (i, _) in text.match_indices("#/components/schemas/") {
        let name: String = text[i + 21..].chars().take_while(|c| *c != '"').collect();
        assert!(schemas.get(&name).is_some(), "dangling reference to {name}");
    }
}

#[tokio::test]
async fn the_example_server_answers_rpc_discover_over_websocket() {
    let server = examples::serve("127.0.0.1:0").await.expect("bind");
    let conn = duplexrpc_ws::connect(&server.url()).await.expect("connect");
    let peer = conn.start();
    let got: Value = tokio::time::timeout(std::time::Duration::from_secs(30), peer.call("rpc.discover", ()))
        .await
        .expect("an answer within 30 s")
        .expect("rpc.discover");
    assert_eq!(got, examples::openrpc_document());
    server.stop().await;
}

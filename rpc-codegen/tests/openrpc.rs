//! OpenRPC documents (feature `openrpc`): what the document says about each
//! kind of method and type, and `rpc.discover` over the in-memory transport.
//! (The example API's document is validated against the OpenRPC meta-schema
//! in `examples/tests/openrpc.rs`.)
#![cfg(feature = "openrpc")]

use duplexrpc_codegen::openrpc::{DISCOVER_METHOD, OpenRpc, add_discover, discover_methods};
use duplexrpc_core::error::METHOD_NOT_FOUND;
use duplexrpc_core::transport::memory;
use duplexrpc_core::{Methods, PeerBuilder, RpcError, RpcStream, rpc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// A point, with a JSON Schema.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Point {
    /// Across.
    x_pos: i32,
    /// Down.
    y_pos: i32,
}

/// Without a JSON Schema: the document says so instead of failing to compile.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Opaque(u8);

/// Shapes, served by the server.
#[rpc(namespace = "shapes")]
trait Shapes {
    /// Moves a point.
    async fn shift(&self, p: Point, by: Option<i32>) -> Result<Point, RpcError>;
    /// Points along a line.
    async fn line(&self, n: u32) -> Result<RpcStream<Point>, RpcError>;
    /// Takes anything.
    async fn opaque(&self, o: Opaque) -> Result<Opaque, RpcError>;
    /// Resets.
    #[notification]
    async fn reset(&self);
}

/// Served by clients.
#[rpc(namespace = "view")]
#[allow(dead_code)] // only its description is used here
trait View {
    /// Shows a point.
    #[notification]
    async fn show(&self, p: Point);
}

struct ShapesService;

impl Shapes for ShapesService {
    async fn shift(&self, p: Point, by: Option<i32>) -> Result<Point, RpcError> {
        let by = by.unwrap_or(1);
        Ok(Point {
            x_pos: p.x_pos + by,
            y_pos: p.y_pos + by,
        })
    }

    async fn line(&self, n: u32) -> Result<RpcStream<Point>, RpcError> {
        Ok(RpcStream::iter((0..n as i32).map(|i| Point { x_pos: i, y_pos: i })))
    }

    async fn opaque(&self, o: Opaque) -> Result<Opaque, RpcError> {
        Ok(o)
    }

    async fn reset(&self) {}
}

fn document() -> Value {
    OpenRpc::new("Shapes", "0.1.0")
        .description("Test API.")
        .serves::<ShapesClient>()
        .calls::<ViewClient>()
        .document()
}

fn method<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["methods"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == name)
        .unwrap()
}

#[test]
fn methods_params_results_and_components() {
    let doc = document();
    assert_eq!(doc["openrpc"], "1.3.2");
    assert_eq!(
        doc["info"],
        json!({"title": "Shapes", "version": "0.1.0", "description": "Test API."})
    );
    let names: Vec<&str> = doc["methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "shapes.shift",
            "shapes.line",
            "shapes.opaque",
            "shapes.reset",
            "view.show"
        ]
    );

    let shift = method(&doc, "shapes.shift");
    assert_eq!(shift["description"], "Moves a point.");
    assert_eq!(
        shift["tags"],
        json!([{"name": "Shapes", "description": "Shapes, served by the server."}])
    );
    assert_eq!(shift["paramStructure"], "either");
    assert_eq!(shift["x-served-by"], "server");
    assert_eq!(
        shift["params"][0],
        json!({"name": "p", "required": true, "schema": {"$ref": "#/components/schemas/Point"}})
    );
    assert_eq!(shift["params"][1]["name"], "by");
    assert_eq!(shift["params"][1]["required"], false);
    assert_eq!(
        shift["result"],
        json!({"name": "result", "schema": {"$ref": "#/components/schemas/Point"}})
    );
    assert!(shift.get("x-notification").is_none() && shift.get("x-subscription").is_none());

    let point = &doc["components"]["schemas"]["Point"];
    assert_eq!(point["type"], "object");
    assert_eq!(point["description"], "A point, with a JSON Schema.");
    assert_eq!(point["required"], json!(["xPos", "yPos"]));
    assert_eq!(point["properties"]["xPos"]["description"], "Across.");
    assert_eq!(doc["components"]["schemas"].as_object().unwrap().len(), 1);
}

#[test]
fn streams_notifications_and_sides_are_marked() {
    let doc = document();
    let line = method(&doc, "shapes.line");
    assert_eq!(line["x-subscription"], true);
    // The result describes one item of the stream.
    assert_eq!(line["result"]["schema"], json!({"$ref": "#/components/schemas/Point"}));

    let reset = method(&doc, "shapes.reset");
    assert_eq!(reset["x-notification"], true);
    assert!(reset.get("result").is_none());
    assert_eq!(reset["params"], json!([]));

    let show = method(&doc, "view.show");
    assert_eq!(show["x-served-by"], "client");
    assert_eq!(show["x-notification"], true);
    assert_eq!(show["tags"][0]["name"], "View");
}

#[test]
fn types_without_a_schema_get_the_empty_schema_and_a_note() {
    let doc = document();
    let opaque = method(&doc, "shapes.opaque");
    assert_eq!(opaque["params"][0]["schema"], json!({}));
    assert_eq!(opaque["result"]["schema"], json!({}));
    let note = opaque["params"][0]["x-schema-missing"].as_str().unwrap();
    assert!(note.contains("Opaque") && note.contains("JsonSchema"), "{note}");
    let missing = OpenRpc::new("Shapes", "0.1.0")
        .serves::<ShapesClient>()
        .missing_schemas();
    assert_eq!(
        missing,
        ["shapes.opaque param o: Opaque", "shapes.opaque result: Opaque"]
    );
}

#[tokio::test]
async fn rpc_discover_returns_the_document_over_the_in_memory_transport() {
    let ((a_tx, a_rx), (b_tx, b_rx)) = memory::pair();
    let mut server = PeerBuilder::new();
    server.register(ShapesService.into_methods()).unwrap();
    server.register(discover_methods(document())).unwrap();
    let _server = server.start(a_tx, a_rx);
    let client = PeerBuilder::new().start(b_tx, b_rx);

    let got: Value = client.call(DISCOVER_METHOD, ()).await.unwrap();
    assert_eq!(got, document());
    // By position and by name (empty) work too.
    let got: Value = client.call(DISCOVER_METHOD, json!([])).await.unwrap();
    assert_eq!(got, document());
    let got: Value = client.call(DISCOVER_METHOD, json!({})).await.unwrap();
    assert_eq!(got, document());
    // The service next to it still answers.
    let shapes = ShapesClient::new(client.clone());
    let p = shapes.shift(Point { x_pos: 1, y_pos: 2 }, None).await.unwrap();
    assert_eq!((p.x_pos, p.y_pos), (2, 3));
    // A peer that did not opt in does not know the method.
    let ((a_tx, a_rx), (b_tx, b_rx)) = memory::pair();
    let mut plain = PeerBuilder::new();
    plain.register(ShapesService.into_methods()).unwrap();
    let _plain = plain.start(a_tx, a_rx);
    let client = PeerBuilder::new().start(b_tx, b_rx);
    let err = client.call::<_, Value>(DISCOVER_METHOD, ()).await.unwrap_err();
    match err {
        RpcError::Call(e) => assert_eq!(e.code, METHOD_NOT_FOUND),
        other => panic!("{other:?}"),
    }
}

#[test]
fn add_discover_refuses_a_second_registration() {
    let mut methods = Methods::new();
    add_discover(&mut methods, json!({})).unwrap();
    assert!(add_discover(&mut methods, json!({})).is_err());
    assert_eq!(methods.names().collect::<Vec<_>>(), [DISCOVER_METHOD]);
}

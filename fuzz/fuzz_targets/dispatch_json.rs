//! The dispatcher on arbitrary JSON shaped like JSON-RPC: requests,
//! notifications, responses and batches with arbitrary ids, methods, params
//! and members, plus arbitrary JSON values.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value, json};

#[derive(Arbitrary, Debug)]
enum Json {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    fn value(&self, depth: usize) -> Value {
        match self {
            Json::Null => Value::Null,
            Json::Bool(b) => json!(b),
            Json::Int(i) => json!(i),
            Json::Float(f) => json!(f),
            Json::Str(s) => json!(s),
            Json::Array(_) | Json::Object(_) if depth > 8 => Value::Null,
            Json::Array(items) => Value::Array(items.iter().map(|j| j.value(depth + 1)).collect()),
            Json::Object(members) => Value::Object(
                members
                    .iter()
                    .map(|(k, v)| (k.clone(), v.value(depth + 1)))
                    .collect::<Map<_, _>>(),
            ),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Method {
    Echo,
    Add,
    Slow,
    Fail,
    Callback,
    Cancel,
    Unknown(String),
}

#[derive(Arbitrary, Debug)]
enum Message {
    Request {
        id: Json,
        method: Method,
        params: Option<Json>,
        version: Option<Json>,
    },
    Notification {
        method: Method,
        params: Option<Json>,
    },
    Response {
        id: Json,
        result: Option<Json>,
        error: Option<Json>,
    },
    Batch(Vec<Message>),
    Any(Json),
}

fn method_name(m: &Method) -> String {
    match m {
        Method::Echo => "echo".into(),
        Method::Add => "add".into(),
        Method::Slow => "slow".into(),
        Method::Fail => "fail".into(),
        Method::Callback => "callback".into(),
        Method::Cancel => "$/cancelRequest".into(),
        Method::Unknown(s) => s.clone(),
    }
}

fn encode(msg: &Message, depth: usize) -> Value {
    let mut obj = Map::new();
    match msg {
        Message::Request {
            id,
            method,
            params,
            version,
        } => {
            obj.insert("jsonrpc".into(), version.as_ref().map_or(json!("2.0"), |v| v.value(0)));
            obj.insert("id".into(), id.value(0));
            obj.insert("method".into(), json!(method_name(method)));
            if let Some(p) = params {
                obj.insert("params".into(), p.value(0));
            }
        }
        Message::Notification { method, params } => {
            obj.insert("jsonrpc".into(), json!("2.0"));
            obj.insert("method".into(), json!(method_name(method)));
            if let Some(p) = params {
                obj.insert("params".into(), p.value(0));
            }
        }
        Message::Response { id, result, error } => {
            obj.insert("jsonrpc".into(), json!("2.0"));
            obj.insert("id".into(), id.value(0));
            if let Some(r) = result {
                obj.insert("result".into(), r.value(0));
            }
            if let Some(e) = error {
                obj.insert("error".into(), e.value(0));
            }
        }
        Message::Batch(items) if depth == 0 => {
            return Value::Array(items.iter().take(80).map(|m| encode(m, depth + 1)).collect());
        }
        Message::Batch(_) => return Value::Array(vec![]),
        Message::Any(j) => return j.value(0),
    }
    Value::Object(obj)
}

fuzz_target!(|messages: Vec<Message>| {
    let frames: Vec<String> = messages.iter().take(32).map(|m| encode(m, 0).to_string()).collect();
    rpc_fuzz::run(&frames);
});

//! A framework-free JSON-RPC 2.0 client and server on tokio-tungstenite + serde_json
//! (copied from `bench-anchors`, where it is the "no framework" anchor).
//!
//! * `drive_raw_ws`: load driver that serialises every request with serde_json
//!   (`{"jsonrpc":"2.0","id":N,"method":"add","params":[a,7]}`), parses every
//!   response, checks `result == a + 7` and matches replies by id. It works on
//!   either end of a WebSocket, so it also drives server -> client calls, and
//!   against any JSON-RPC-over-WebSocket peer (it isolates that peer's cost).
//! * `serve_conn`: hand-rolled answering loop (parse the request with
//!   serde_json, borrow method and id, compute `add`, serialise the response,
//!   flush only when no further frame is readable), again on either end.
//! * system `tungstenite-jsonrpc`: the two above, default `WebSocketConfig`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures_util::{FutureExt, SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

use super::{BoxFut, Drivers, System};
use crate::common::{Ctl, Recorder};

pub struct TungsteniteJsonRpc;

impl System for TungsteniteJsonRpc {
    fn name(&self) -> &'static str {
        "tungstenite-jsonrpc"
    }
    fn describe(&self) -> &'static str {
        "hand-rolled JSON-RPC add on tokio-tungstenite + serde_json (no framework), raw JSON-RPC client"
    }
    fn serve(&self, addr: SocketAddr) -> BoxFut<anyhow::Result<()>> {
        Box::pin(serve(addr))
    }
    fn drive(&self, url: String, inflight: usize, ctl: Arc<Ctl>) -> BoxFut<anyhow::Result<Recorder>> {
        Box::pin(drive_raw_jsonrpc(url, inflight, ctl))
    }
    fn has_echo(&self) -> bool {
        true
    }
    fn drive_echo(&self, url: String, bytes: usize, ctl: Arc<Ctl>) -> BoxFut<anyhow::Result<Recorder>> {
        Box::pin(drive_raw_echo(url, bytes, ctl))
    }
    fn has_s2c(&self) -> bool {
        true
    }
    fn serve_calling(
        &self,
        addr: SocketAddr,
        inflight: usize,
        ctl: Arc<Ctl>,
        drivers: Drivers,
    ) -> BoxFut<anyhow::Result<()>> {
        Box::pin(serve_calling(addr, inflight, ctl, drivers))
    }
    fn answer(&self, url: String) -> BoxFut<anyhow::Result<()>> {
        Box::pin(answer_raw(url))
    }
}

#[derive(Serialize)]
struct OutReq {
    jsonrpc: &'static str,
    id: u64,
    method: &'static str,
    params: (i64, i64),
}

#[derive(Deserialize)]
struct InResp {
    id: u64,
    result: Option<i64>,
    #[serde(default)]
    error: Option<Box<RawValue>>,
}

#[derive(Deserialize)]
struct InReq<'a> {
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    #[serde(borrow)]
    method: &'a str,
    #[serde(borrow)]
    params: Option<&'a RawValue>,
}

#[derive(Serialize)]
struct OkResp<'a, T> {
    jsonrpc: &'static str,
    id: &'a RawValue,
    result: T,
}

#[derive(Serialize)]
struct OutEcho<'a> {
    jsonrpc: &'static str,
    id: u64,
    method: &'static str,
    params: (&'a str,),
}

#[derive(Deserialize)]
struct InEcho {
    id: u64,
    result: Option<String>,
}

#[derive(Serialize)]
struct ErrResp<'a> {
    jsonrpc: &'static str,
    id: Option<&'a RawValue>,
    error: ErrObj,
}

#[derive(Serialize)]
struct ErrObj {
    code: i32,
    message: &'static str,
}

/// Answer one JSON-RPC request text. `None` for notifications.
pub(crate) fn handle(text: &str) -> Option<String> {
    let req: InReq = match serde_json::from_str(text) {
        Ok(r) => r,
        Err(_) => {
            let e = ErrResp {
                jsonrpc: "2.0",
                id: None,
                error: ErrObj {
                    code: -32700,
                    message: "Parse error",
                },
            };
            return Some(serde_json::to_string(&e).unwrap());
        }
    };
    let id = req.id?;
    let params = req.params.map_or("null", |p| p.get());
    let out = match req.method {
        "add" => match serde_json::from_str::<(i64, i64)>(params) {
            Ok((a, b)) => serde_json::to_string(&OkResp {
                jsonrpc: "2.0",
                id,
                result: a.wrapping_add(b),
            }),
            Err(_) => invalid_params(id),
        },
        "echo" => match serde_json::from_str::<(String,)>(params) {
            Ok((text,)) => serde_json::to_string(&OkResp {
                jsonrpc: "2.0",
                id,
                result: text,
            }),
            Err(_) => invalid_params(id),
        },
        _ => serde_json::to_string(&ErrResp {
            jsonrpc: "2.0",
            id: Some(id),
            error: ErrObj {
                code: -32601,
                message: "Method not found",
            },
        }),
    };
    Some(out.unwrap())
}

fn invalid_params(id: &RawValue) -> serde_json::Result<String> {
    serde_json::to_string(&ErrResp {
        jsonrpc: "2.0",
        id: Some(id),
        error: ErrObj {
            code: -32602,
            message: "Invalid params",
        },
    })
}

async fn serve(addr: SocketAddr) -> anyhow::Result<()> {
    let listener = super::ws::listen(addr)?;
    loop {
        let (sock, _) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                eprintln!("accept error: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = sock.set_nodelay(true);
        tokio::spawn(async move {
            let Ok(ws) = tokio_tungstenite::accept_async(sock).await else {
                return;
            };
            let _ = serve_conn(ws).await;
        });
    }
}

pub async fn serve_conn(mut ws: WebSocketStream<TcpStream>) -> anyhow::Result<()> {
    'outer: while let Some(msg) = ws.next().await {
        let mut next = Some(msg?);
        // handle this frame and every frame already readable, then flush once
        loop {
            match next.take() {
                Some(Message::Text(t)) => {
                    if let Some(r) = handle(&t) {
                        ws.feed(Message::text(r)).await?;
                    }
                }
                Some(Message::Close(_)) => {
                    let _ = ws.flush().await;
                    break 'outer;
                }
                Some(_) => {}
                None => {}
            }
            match ws.next().now_or_never() {
                Some(Some(m)) => next = Some(m?),
                Some(None) => {
                    let _ = ws.flush().await;
                    break 'outer;
                }
                None => break,
            }
        }
        ws.flush().await?;
    }
    Ok(())
}

fn request(id: u64, a: i64) -> String {
    serde_json::to_string(&OutReq {
        jsonrpc: "2.0",
        id,
        method: "add",
        params: (a, 7),
    })
    .unwrap()
}

fn check(text: &str) -> anyhow::Result<(u64, i64)> {
    let r: InResp = serde_json::from_str(text)?;
    if let Some(e) = r.error {
        anyhow::bail!("error response: {}", e.get());
    }
    Ok((r.id, r.result.ok_or_else(|| anyhow::anyhow!("no result"))?))
}

/// Big messages, hand-rolled: `echo([s])` one call at a time, request built
/// and reply parsed with serde_json (the reply into a `String`, as a handler would).
pub async fn drive_raw_echo(url: String, bytes: usize, ctl: Arc<Ctl>) -> anyhow::Result<Recorder> {
    let mut ws = super::ws::connect(&url).await?;
    ctl.mark_connected();
    let s = super::echo_payload(bytes);
    let mut rec = Recorder::new();
    let mut id = 0u64;
    while !ctl.stopped() && ctl.may_issue(id) {
        id += 1;
        let t0 = Instant::now();
        let req = OutEcho {
            jsonrpc: "2.0",
            id,
            method: "echo",
            params: (&s,),
        };
        ws.send(Message::text(serde_json::to_string(&req)?)).await?;
        let reply: InEcho = loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) => break serde_json::from_str(&t)?,
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(e.into()),
                None => anyhow::bail!("server closed"),
            }
        };
        let len = reply.result.map(|r| r.len());
        anyhow::ensure!(
            reply.id == id && len == Some(bytes),
            "bad echo reply (id {}, {len:?} bytes)",
            reply.id
        );
        rec.record(&ctl, t0);
    }
    Ok(rec)
}

/// Raw JSON-RPC load client (see module docs). Reusable for any system.
pub async fn drive_raw_jsonrpc(url: String, inflight: usize, ctl: Arc<Ctl>) -> anyhow::Result<Recorder> {
    let ws = super::ws::connect(&url).await?;
    ctl.mark_connected();
    drive_raw_ws(ws, inflight, ctl).await
}

/// The hand-rolled answering side of server -> client calls: connect, then
/// answer the server's requests until it goes away.
pub async fn answer_raw(url: String) -> anyhow::Result<()> {
    let ws = super::ws::connect(&url).await?;
    serve_conn(ws).await
}

/// Server -> client calls, hand-rolled: accept, handshake, then drive calls into the client.
async fn serve_calling(addr: SocketAddr, inflight: usize, ctl: Arc<Ctl>, drivers: Drivers) -> anyhow::Result<()> {
    let listener = super::ws::listen(addr)?;
    loop {
        let (sock, _) = listener.accept().await?;
        let _ = sock.set_nodelay(true);
        let (ctl, drivers) = (ctl.clone(), drivers.clone());
        tokio::spawn(async move {
            let Ok(ws) = tokio_tungstenite::accept_async(sock).await else {
                return;
            };
            ctl.mark_connected();
            let _ = drivers.send(tokio::spawn(drive_raw_ws(ws, inflight, ctl)));
        });
    }
}

/// Keeps `inflight` raw JSON-RPC calls outstanding on `ws` (either end).
pub async fn drive_raw_ws(
    mut ws: WebSocketStream<TcpStream>,
    inflight: usize,
    ctl: Arc<Ctl>,
) -> anyhow::Result<Recorder> {
    let mut rec = Recorder::new();
    if inflight <= 1 {
        let mut id = 0u64;
        while !ctl.stopped() && ctl.may_issue(id) {
            id += 1;
            let a = id as i64;
            let t0 = Instant::now();
            ws.send(Message::text(request(id, a))).await?;
            let (rid, res) = loop {
                match ws.next().await {
                    Some(Ok(Message::Text(t))) => break check(&t)?,
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => return Err(e.into()),
                    None => anyhow::bail!("server closed"),
                }
            };
            anyhow::ensure!(rid == id && res == a + 7, "bad reply id {rid} result {res}");
            rec.record(&ctl, t0);
        }
        return Ok(rec);
    }

    let (mut sink, mut stream) = ws.split();
    let window = Arc::new(Semaphore::new(inflight));
    let pending: Arc<Mutex<HashMap<u64, (Instant, i64)>>> = Arc::new(Mutex::new(HashMap::with_capacity(inflight * 2)));
    let writer = {
        let (window, pending, ctl) = (window.clone(), pending.clone(), ctl.clone());
        tokio::spawn(async move {
            let mut id = 0u64;
            loop {
                window.acquire().await?.forget();
                let mut n = 1;
                while let Ok(p) = window.try_acquire() {
                    p.forget();
                    n += 1;
                }
                if ctl.stopped() || !ctl.may_issue(id) {
                    break;
                }
                for _ in 0..n {
                    if !ctl.may_issue(id) {
                        break;
                    }
                    id += 1;
                    let a = id as i64;
                    let msg = Message::text(request(id, a));
                    pending.lock().unwrap().insert(id, (Instant::now(), a + 7));
                    sink.feed(msg).await?;
                }
                sink.flush().await?;
            }
            anyhow::Ok(())
        })
    };
    let stop = ctl.stop.clone().cancelled_owned();
    tokio::pin!(stop);
    let mut received = 0u64;
    while ctl.quota().is_none_or(|q| received < q) {
        let msg = tokio::select! {
            biased;
            m = stream.next() => match m { Some(m) => m, None => break },
            _ = &mut stop => break,
        };
        let t = match msg? {
            Message::Text(t) => t,
            _ => continue,
        };
        let (rid, res) = check(&t)?;
        let (t0, expect) = pending
            .lock()
            .unwrap()
            .remove(&rid)
            .ok_or_else(|| anyhow::anyhow!("reply with unknown id {rid}"))?;
        anyhow::ensure!(res == expect, "bad result {res} for id {rid}");
        rec.record(&ctl, t0);
        received += 1;
        window.add_permits(1);
        if ctl.stopped() {
            break;
        }
    }
    writer.abort();
    Ok(rec)
}

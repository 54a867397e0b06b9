//! `tcp-echo`: plain tokio TCP echo of fixed 100-byte messages, no WebSocket
//! framing at all: the floor this machine (VM, loopback, tokio wake-ups) sets
//! under every WebSocket number. Not a WebSocket server, so no memory test.
//!
//! Server: read into a 64 KiB buffer, write back everything read (so writes
//! coalesce naturally). Client: sequential = write_all + read_exact;
//! pipelined = split halves, writer behind a BufWriter flushing once per
//! window refill, reader read_exact(100) per reply through a 64 KiB BufReader.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

use super::{BoxFut, System};
use crate::common::{Ctl, RAW_PAYLOAD, Recorder};

pub struct TcpEcho;

impl System for TcpEcho {
    fn name(&self) -> &'static str {
        "tcp-echo"
    }
    fn describe(&self) -> &'static str {
        "plain tokio TCP echo of 100-byte messages (no WebSocket): the machine's floor"
    }
    fn serve(&self, addr: SocketAddr) -> BoxFut<anyhow::Result<()>> {
        Box::pin(serve(addr))
    }
    fn drive(&self, url: String, inflight: usize, ctl: Arc<Ctl>) -> BoxFut<anyhow::Result<Recorder>> {
        Box::pin(drive(url, inflight, ctl))
    }
    fn mem_distinct(&self) -> bool {
        false
    }
}

async fn serve(addr: SocketAddr) -> anyhow::Result<()> {
    let listener = super::ws::listen(addr)?;
    loop {
        let Ok((mut sock, _)) = listener.accept().await else {
            continue;
        };
        let _ = sock.set_nodelay(true);
        tokio::spawn(async move {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = match sock.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                if sock.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        });
    }
}

async fn drive(url: String, inflight: usize, ctl: Arc<Ctl>) -> anyhow::Result<Recorder> {
    let hostport = url
        .trim_start_matches("ws://")
        .split('/')
        .next()
        .unwrap_or("")
        .to_string();
    let mut sock = TcpStream::connect(&hostport).await?;
    sock.set_nodelay(true)?;
    ctl.mark_connected();
    let msg = RAW_PAYLOAD.as_bytes();
    let mut rec = Recorder::new();
    let mut reply = vec![0u8; msg.len()];
    if inflight <= 1 {
        while !ctl.stopped() {
            let t0 = Instant::now();
            sock.write_all(msg).await?;
            sock.read_exact(&mut reply).await?;
            rec.record(&ctl, t0);
        }
        return Ok(rec);
    }
    let (rd, wr) = sock.into_split();
    let mut rd = tokio::io::BufReader::with_capacity(64 * 1024, rd);
    let window = Arc::new(Semaphore::new(inflight));
    let sent: Arc<Mutex<VecDeque<Instant>>> = Arc::new(Mutex::new(VecDeque::with_capacity(inflight)));
    let writer = {
        let (window, sent, ctl) = (window.clone(), sent.clone(), ctl.clone());
        tokio::spawn(async move {
            let mut wr = BufWriter::new(wr);
            loop {
                window.acquire().await?.forget();
                if ctl.stopped() {
                    break;
                }
                sent.lock().unwrap().push_back(Instant::now());
                wr.write_all(msg).await?;
                while let Ok(p) = window.try_acquire() {
                    p.forget();
                    sent.lock().unwrap().push_back(Instant::now());
                    wr.write_all(msg).await?;
                }
                wr.flush().await?;
            }
            anyhow::Ok(())
        })
    };
    let stop = ctl.stop.clone().cancelled_owned();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            biased;
            r = rd.read_exact(&mut reply) => { r?; }
            _ = &mut stop => break,
        }
        let t0 = sent.lock().unwrap().pop_front().expect("reply without request");
        rec.record(&ctl, t0);
        window.add_permits(1);
        if ctl.stopped() {
            break;
        }
    }
    writer.abort();
    Ok(rec)
}

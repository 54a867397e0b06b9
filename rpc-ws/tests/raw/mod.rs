//! A hand-written WebSocket peer on a raw TCP socket, for tests that must see
//! (or send) exact frames: the opening handshake, frames built byte by byte,
//! and the frames and TCP close the other end sends back.

#![allow(dead_code)] // each test file uses part of it

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

/// How long any single step may take.
pub const BOUND: Duration = Duration::from_secs(5);

/// The FIN bit of a frame's first byte.
pub const FIN: u8 = 0x80;
pub const TEXT: u8 = 0x1;
pub const CONTINUATION: u8 = 0x0;
pub const CLOSE: u8 = 0x8;
pub const PING: u8 = 0x9;

/// One frame as read off the wire.
#[derive(Debug, PartialEq, Eq)]
pub struct RawFrame {
    /// The first byte: FIN, RSV1-3 and the opcode.
    pub head: u8,
    pub masked: bool,
    pub payload: Vec<u8>,
}

impl RawFrame {
    pub fn opcode(&self) -> u8 {
        self.head & 0x0F
    }

    /// The code and reason of a close frame.
    pub fn close(&self) -> (u16, String) {
        assert_eq!(self.opcode(), CLOSE, "not a close frame: {self:?}");
        assert!(self.payload.len() >= 2, "close frame without a code: {self:?}");
        let code = u16::from_be_bytes([self.payload[0], self.payload[1]]);
        (code, String::from_utf8(self.payload[2..].to_vec()).unwrap())
    }
}

/// One end of a raw WebSocket connection.
#[derive(Debug)]
pub struct Raw {
    pub tcp: TcpStream,
    /// Frames this end sends are masked (a client's are).
    mask: bool,
}

/// The payload of a close frame: code, then reason.
pub fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(reason.as_bytes());
    payload
}

/// The bytes of one frame: `head` is the first byte (FIN, RSV, opcode).
pub fn frame_bytes(head: u8, payload: &[u8], mask: bool) -> Vec<u8> {
    let mut out = vec![head];
    let mask_bit = if mask { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(mask_bit | n as u8),
        n if n <= 0xFFFF => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    if mask {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        out.extend_from_slice(&key);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    } else {
        out.extend_from_slice(payload);
    }
    out
}

/// Masked text frames, one a text, back to back (as a client sends them).
pub fn text_frames(texts: impl IntoIterator<Item = String>) -> Vec<u8> {
    texts
        .into_iter()
        .flat_map(|t| frame_bytes(FIN | TEXT, t.as_bytes(), true))
        .collect()
}

impl Raw {
    /// Opens a connection to a WebSocket server at `addr` with a handwritten
    /// upgrade request; panics unless the answer is 101.
    pub async fn connect(addr: SocketAddr) -> Raw {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        let request = format!(
            "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        tcp.write_all(request.as_bytes()).await.unwrap();
        let head = read_http_head(&mut tcp).await;
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        assert!(head.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "{head}");
        Raw { tcp, mask: true }
    }

    /// Accepts one connection on `listener` and answers its upgrade request
    /// with 101, as a server.
    pub async fn accept(listener: &TcpListener) -> Raw {
        let (mut tcp, _) = tokio::time::timeout(BOUND, listener.accept()).await.unwrap().unwrap();
        let head = read_http_head(&mut tcp).await;
        let key = head
            .lines()
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("sec-websocket-key")
                    .then(|| value.trim().to_owned())
            })
            .expect("a Sec-WebSocket-Key");
        let response = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {}\r\n\r\n",
            derive_accept_key(key.as_bytes())
        );
        tcp.write_all(response.as_bytes()).await.unwrap();
        Raw { tcp, mask: false }
    }

    /// Sends one frame (masked if this end is a client).
    pub async fn send(&mut self, head: u8, payload: &[u8]) {
        self.send_bytes(&frame_bytes(head, payload, self.mask)).await;
    }

    /// Sends bytes as they are.
    pub async fn send_bytes(&mut self, bytes: &[u8]) {
        self.tcp.write_all(bytes).await.unwrap();
    }

    /// The next frame, or `None` at the end of the stream (or a reset).
    pub async fn read_frame(&mut self) -> Option<RawFrame> {
        tokio::time::timeout(BOUND, self.read_frame_now())
            .await
            .expect("a frame or the end within 5 s")
    }

    async fn read_frame_now(&mut self) -> Option<RawFrame> {
        let mut start = [0u8; 2];
        self.tcp.read_exact(&mut start).await.ok()?;
        let masked = start[1] & 0x80 != 0;
        let len = match start[1] & 0x7F {
            126 => u64::from(self.tcp.read_u16().await.ok()?),
            127 => self.tcp.read_u64().await.ok()?,
            n => u64::from(n),
        };
        let mut key = [0u8; 4];
        if masked {
            self.tcp.read_exact(&mut key).await.ok()?;
        }
        let mut payload = vec![0u8; len as usize];
        self.tcp.read_exact(&mut payload).await.ok()?;
        if masked {
            payload.iter_mut().enumerate().for_each(|(i, b)| *b ^= key[i % 4]);
        }
        Some(RawFrame {
            head: start[0],
            masked,
            payload,
        })
    }

    /// The first close frame, skipping pings and data; panics if the stream
    /// ends without one.
    pub async fn read_close(&mut self) -> RawFrame {
        loop {
            let frame = self
                .read_frame()
                .await
                .expect("a close frame before the end of the stream");
            if frame.opcode() == CLOSE {
                return frame;
            }
        }
    }

    /// Panics unless the other end closes the TCP connection within 5 s
    /// without sending anything more.
    pub async fn expect_end(&mut self) {
        let mut byte = [0u8; 1];
        match tokio::time::timeout(BOUND, self.tcp.read(&mut byte)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {}
            Ok(Ok(_)) => panic!("expected the end of the stream, got byte {:#x}", byte[0]),
            Err(_) => panic!("the other end did not close the TCP connection within 5 s"),
        }
    }
}

async fn read_http_head(tcp: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(BOUND, tcp.read(&mut byte)).await.unwrap().unwrap();
        assert_eq!(
            n,
            1,
            "the stream ended inside the HTTP head: {:?}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

//! A stream wrapper that follows the WebSocket frames tungstenite reads
//! through it, without copying or buffering anything: it tells the transport
//! when a data message is being assembled (for the assembly deadline) and
//! when every byte read so far belongs to a message already delivered (the
//! moment tungstenite's buffers can be dropped and rebuilt small).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

mod rate;
pub(crate) use rate::ReadRate;

/// `S` with its incoming WebSocket frames followed. Wrap the stream before
/// the opening handshake: the HTTP head is skipped up to its blank line.
#[derive(Debug)]
pub struct Watched<S> {
    /// `None` only in a wrapper whose stream moved to a fresh one.
    inner: Option<S>,
    frames: FrameWatch,
    /// Bytes read since a read last found nothing (or this task last
    /// yielded to others): see [`READ_RUN`].
    run: usize,
    /// The connection's read-rate budget, if it has one.
    rate: Option<ReadRate>,
}

/// Bytes read at most without letting other tasks run (two reads of the
/// default 2 KiB `WsConfig::read_buffer_size`). A large message arrives in
/// many reads, all in one poll while the peer keeps sending (up to tokio's
/// budget of 128 reads: 256 KiB per poll); past this many, the read yields
/// instead (wakes its task, which goes to the back of the run queue), so
/// the connection task of a client streaming big messages takes turns with
/// everyone else's small calls. In the combined-attack soak (12 clients
/// sending 9 MB and 4 MiB messages back to back), 4 KiB doubled to tripled
/// the calls the 100 small clients got through and halved their p99 against
/// no limit; 8 and 16 KiB did about half as well. A read that finds
/// nothing starts a new run, so a burst of small messages is not affected.
const READ_RUN: usize = 4 << 10;

impl<S> Watched<S> {
    /// Follows the frames after the HTTP head of the upgrade.
    pub(crate) fn before_handshake(inner: S) -> Self {
        Watched {
            inner: Some(inner),
            frames: FrameWatch::default(),
            run: 0,
            rate: None,
        }
    }

    /// Follows the frames of a stream whose HTTP head is already consumed
    /// (an upgrade through hyper); `already_read` are the bytes after the
    /// head that were read before the hand-over and go to tungstenite
    /// directly, not through this wrapper.
    pub(crate) fn after_handshake(inner: S, already_read: &[u8]) -> Self {
        let mut frames = FrameWatch {
            head_end: HEAD_END.len(),
            ..FrameWatch::default()
        };
        frames.observe(already_read);
        Watched {
            inner: Some(inner),
            frames,
            run: 0,
            rate: None,
        }
    }

    pub(crate) fn frames(&self) -> &FrameWatch {
        &self.frames
    }

    /// Reads at most `rate` from now on (see [`ReadRate`]).
    pub(crate) fn limit_read_rate(&mut self, rate: ReadRate) {
        self.rate = Some(rate);
    }

    /// Moves the stream and what is known about it into a new wrapper (for
    /// a fresh WebSocket: the largest frame so far is forgotten; the read-rate
    /// budget carries over, so rebuilding buffers never refills it).
    pub(crate) fn detach(&mut self) -> Self {
        let mut frames = std::mem::take(&mut self.frames);
        frames.largest = 0;
        Watched {
            inner: self.inner.take(),
            frames,
            run: self.run,
            rate: self.rate.take(),
        }
    }

    fn inner(&mut self) -> io::Result<Pin<&mut S>>
    where
        S: Unpin,
    {
        match &mut self.inner {
            Some(inner) => Ok(Pin::new(inner)),
            None => Err(io::ErrorKind::NotConnected.into()),
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if self.run >= READ_RUN {
            self.run = 0;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        if let Some(rate) = &mut self.rate
            && rate.poll_allowed(cx).is_pending()
        {
            return Poll::Pending;
        }
        let before = buf.filled().len();
        let result = self.inner()?.poll_read(cx, buf);
        let this = &mut *self;
        match result {
            Poll::Ready(Ok(())) => {
                let read = &buf.filled()[before..];
                this.run += read.len();
                if let Some(rate) = &mut this.rate {
                    rate.spend(read.len());
                }
                this.frames.observe(read);
            }
            Poll::Pending => {
                this.run = 0;
                if let Some(rate) = &mut this.rate {
                    rate.drained();
                }
            }
            Poll::Ready(Err(_)) => {}
        }
        result
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.inner()?.poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.inner()?.poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.inner()?.poll_shutdown(cx)
    }
}

const HEAD_END: &[u8; 4] = b"\r\n\r\n";

/// The state of the incoming byte stream, frame by frame.
#[derive(Debug, Default)]
pub(crate) struct FrameWatch {
    /// How much of the HTTP head's closing blank line has been seen (4: all).
    head_end: usize,
    /// The header of the frame being read, and how many of its bytes are in.
    header: [u8; 14],
    header_len: usize,
    /// Payload bytes of the current frame still to come.
    payload_left: u64,
    /// The current frame is a data frame / ends a message (FIN or control).
    data: bool,
    completes: bool,
    /// A data message has started and its final frame is not all in.
    in_message: bool,
    /// Data messages started so far.
    pub(crate) messages_started: u64,
    /// Frames that end something tungstenite delivers (a control frame, or
    /// the final frame of a data message), all of whose bytes are in.
    pub(crate) completed: u64,
    /// The largest frame payload since the stream was last detached.
    pub(crate) largest: u64,
}

impl FrameWatch {
    /// True while a data message is incomplete.
    pub(crate) fn in_message(&self) -> bool {
        self.in_message
    }

    /// True if no frame is partly read and no message is being assembled.
    pub(crate) fn at_rest(&self) -> bool {
        self.head_end == HEAD_END.len() && self.header_len == 0 && self.payload_left == 0 && !self.in_message
    }

    /// Follows `bytes`, the next bytes read. Works a header or a payload at
    /// a time, not a byte at a time (only the HTTP head goes byte by byte):
    /// this runs on every read.
    fn observe(&mut self, mut bytes: &[u8]) {
        if self.head_end < HEAD_END.len() {
            bytes = self.skip_head(bytes);
        }
        while !bytes.is_empty() {
            if self.payload_left > 0 {
                let n = self.payload_left.min(bytes.len() as u64);
                self.payload_left -= n;
                bytes = &bytes[n as usize..];
                if self.payload_left == 0 {
                    self.frame_done();
                }
            } else {
                bytes = self.take_header(bytes);
            }
        }
    }

    /// Skips the HTTP head up to its blank line; returns what follows it.
    fn skip_head<'b>(&mut self, mut bytes: &'b [u8]) -> &'b [u8] {
        while let Some((&byte, rest)) = bytes.split_first() {
            if self.head_end == HEAD_END.len() {
                break;
            }
            self.head_end = match byte {
                _ if byte == HEAD_END[self.head_end] => self.head_end + 1,
                b'\r' => 1,
                _ => 0,
            };
            bytes = rest;
        }
        bytes
    }

    /// Takes the next frame's header, or as much of it as `bytes` holds;
    /// returns the bytes after it. A header that is all in `bytes` (the
    /// usual case) is read where it is; only one split across reads is
    /// gathered in `self.header`.
    fn take_header<'b>(&mut self, bytes: &'b [u8]) -> &'b [u8] {
        if self.header_len == 0
            && let [_, second, ..] = bytes
            && let Some((header, rest)) = bytes.split_at_checked(header_size(*second))
        {
            self.frame_started(header);
            return rest;
        }
        let size = if self.header_len < 2 {
            2
        } else {
            header_size(self.header[1])
        };
        let n = (size - self.header_len).min(bytes.len());
        self.header[self.header_len..self.header_len + n].copy_from_slice(&bytes[..n]);
        self.header_len += n;
        if self.header_len >= 2 && self.header_len == header_size(self.header[1]) {
            self.header_len = 0;
            let header = self.header;
            self.frame_started(&header[..header_size(header[1])]);
        }
        &bytes[n..]
    }

    /// A frame's header is all in: `header`, its bytes.
    fn frame_started(&mut self, header: &[u8]) {
        let fin = header[0] & 0x80 != 0;
        let opcode = header[0] & 0x0F;
        let len = match header[1] & 0x7F {
            126 => u64::from(u16::from_be_bytes([header[2], header[3]])),
            127 => u64::from_be_bytes(header[2..10].try_into().unwrap_or_default()),
            n => u64::from(n),
        };
        self.data = opcode < 8;
        self.completes = fin || !self.data;
        if self.data && opcode != 0 {
            self.in_message = true;
            self.messages_started += 1;
        }
        self.largest = self.largest.max(len);
        self.payload_left = len;
        if len == 0 {
            self.frame_done();
        }
    }

    fn frame_done(&mut self) {
        if self.completes {
            self.completed += 1;
            if self.data {
                self.in_message = false;
            }
        }
    }
}

/// The size of a frame header whose second byte is `second`.
fn header_size(second: u8) -> usize {
    let extended = match second & 0x7F {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    let mask = if second & 0x80 != 0 { 4 } else { 0 };
    2 + extended + mask
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Wake, Waker};

    struct CountWakes(AtomicUsize);

    impl Wake for CountWakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Before, a stream that always had bytes was read for as long as its
    /// task's tokio budget lasted (here, with no runtime: forever).
    #[test]
    fn a_stream_that_always_has_bytes_yields_after_a_run_of_reads() {
        let wakes = Arc::new(CountWakes(AtomicUsize::new(0)));
        let waker = Waker::from(wakes.clone());
        let mut cx = Context::from_waker(&waker);
        let mut stream = Watched::after_handshake(tokio::io::repeat(b'x'), &[]);
        let mut chunk = [0u8; 1024];
        let mut read = 0;
        let yielded = loop {
            let mut buf = ReadBuf::new(&mut chunk);
            match Pin::new(&mut stream).poll_read(&mut cx, &mut buf) {
                Poll::Ready(result) => result.unwrap(),
                Poll::Pending => break true,
            }
            read += buf.filled().len();
            if read > 100 * READ_RUN {
                break false;
            }
        };
        assert!(yielded, "read {read} bytes without yielding");
        assert_eq!(read, READ_RUN);
        assert_eq!(wakes.0.load(Ordering::Relaxed), 1, "it yields by waking itself");
        let mut buf = ReadBuf::new(&mut chunk);
        assert!(
            Pin::new(&mut stream).poll_read(&mut cx, &mut buf).is_ready(),
            "then a new run starts"
        );
    }

    fn watch_frames() -> FrameWatch {
        let mut watch = FrameWatch::default();
        watch.observe(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        watch
    }

    #[test]
    fn a_message_split_anywhere_is_followed_to_its_end() {
        // "hello" in two fragments, masked, with a ping in between; then a 300-byte frame.
        let mut bytes = vec![0x01, 0x83, 1, 2, 3, 4, b'h', b'e', b'l'];
        bytes.extend([0x89, 0x80, 0, 0, 0, 0]);
        bytes.extend([0x80, 0x82, 1, 2, 3, 4, b'l', b'o']);
        bytes.extend([0x81, 0xFE, 0x01, 0x2C, 1, 2, 3, 4]);
        bytes.extend([b'x'; 300]);
        for split in 0..bytes.len() {
            let mut watch = watch_frames();
            watch.observe(&bytes[..split]);
            watch.observe(&bytes[split..]);
            assert!(watch.at_rest(), "split at {split}");
            assert_eq!((watch.messages_started, watch.completed, watch.largest), (2, 3, 300));
        }
        let mut watch = watch_frames();
        watch.observe(&bytes[..9]);
        assert!(watch.in_message() && !watch.at_rest());
        watch.observe(&bytes[9..15]);
        assert!(watch.in_message(), "a ping does not end the message");
        assert_eq!(watch.completed, 1);
    }

    #[test]
    fn the_head_and_frames_are_followed_in_one_read_or_a_byte_at_a_time() {
        let head = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        // A 2-byte unmasked frame, a masked 126-length (16-bit) frame, an empty ping.
        let mut bytes = head.to_vec();
        bytes.extend([0x81, 0x02, b'h', b'i']);
        bytes.extend([0x82, 0xFE, 0x00, 0x7E, 9, 9, 9, 9]);
        bytes.extend([b'y'; 126]);
        bytes.extend([0x89, 0x00]);
        let mut whole = FrameWatch::default();
        whole.observe(&bytes);
        let mut bytewise = FrameWatch::default();
        for byte in &bytes {
            bytewise.observe(std::slice::from_ref(byte));
        }
        for watch in [whole, bytewise] {
            assert!(watch.at_rest());
            assert_eq!((watch.messages_started, watch.completed, watch.largest), (2, 3, 126));
        }
    }
}

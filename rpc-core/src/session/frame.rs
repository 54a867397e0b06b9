//! Session frames: text frames whose first byte is `#` (never valid JSON,
//! so never taken for a JSON-RPC message). ASCII words separated by one space.

use std::fmt;

use crate::wire::message::push_u64;

/// The WebSocket subprotocol that opts a connection into sessions.
pub const SUBPROTOCOL: &str = "duplexrpc.session.v1";

/// One session frame.
///
/// ```
/// use duplexrpc_core::session::Frame;
/// let frame = Frame::Resume { token: "00ff.abcd".into(), received: 7 };
/// assert_eq!(frame.to_string(), "#resume 00ff.abcd 7");
/// assert_eq!(Frame::parse("#resume 00ff.abcd 7"), Some(frame));
/// assert_eq!(Frame::parse(r#"{"jsonrpc":"2.0"}"#), None);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// Client, first frame: start a new session.
    New,
    /// Client, first frame: resume session `token`, having received `received` messages in it.
    Resume {
        /// The token the server gave in [`Frame::Session`].
        token: String,
        /// Messages the client had received from the server.
        received: u64,
    },
    /// Server, answer to [`Frame::New`]: the new session's token and resume window.
    Session {
        /// `<id>.<secret>`: present it to resume.
        token: String,
        /// How long (ms) the server keeps the session after a drop.
        window_ms: u64,
    },
    /// Server, answer to [`Frame::Resume`]: resumed; the server had received `received` messages.
    Resumed {
        /// Messages the server had received from the client.
        received: u64,
    },
    /// Server, answer to [`Frame::Resume`]: the session cannot be resumed.
    Lost {
        /// Why, in words.
        reason: String,
    },
    /// Either way: "I have received `received` messages from you in this session".
    Ack {
        /// Cumulative count.
        received: u64,
    },
}

impl Frame {
    /// True if `text` is a session frame (its first byte is `#`).
    #[inline]
    pub fn is_frame(text: &str) -> bool {
        text.as_bytes().first() == Some(&b'#')
    }

    /// `#ack <received>`, written without `core::fmt`: the one frame of
    /// the hot path (every [`SessionConfig::ack_every`] messages).
    ///
    /// [`SessionConfig::ack_every`]: super::SessionConfig::ack_every
    pub(crate) fn ack_text(received: u64) -> String {
        let mut text = Vec::with_capacity(25);
        text.extend_from_slice(b"#ack ");
        push_u64(&mut text, received);
        String::from_utf8(text).expect("ASCII")
    }

    /// The count of an `#ack <received>` frame, parsed without the general
    /// path; `None` if `text` is not one.
    pub(crate) fn parse_ack(text: &str) -> Option<u64> {
        let digits = text.strip_prefix("#ack ")?;
        if digits.is_empty() || digits.len() > 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()
    }

    /// Parses a session frame; `None` if `text` is not a well-formed one.
    pub fn parse(text: &str) -> Option<Frame> {
        let rest = text.strip_prefix('#')?;
        let (word, args) = rest.split_once(' ').unwrap_or((rest, ""));
        let mut parts = args.split(' ');
        let mut next = || parts.next().filter(|p| !p.is_empty());
        let frame = match word {
            "new" if args.is_empty() => Frame::New,
            "resume" => Frame::Resume {
                token: next()?.to_owned(),
                received: next()?.parse().ok()?,
            },
            "session" => Frame::Session {
                token: next()?.to_owned(),
                window_ms: next()?.parse().ok()?,
            },
            "resumed" => Frame::Resumed {
                received: next()?.parse().ok()?,
            },
            "ack" => Frame::Ack {
                received: next()?.parse().ok()?,
            },
            "lost" => {
                return Some(Frame::Lost {
                    reason: args.to_owned(),
                });
            }
            _ => return None,
        };
        next().is_none().then_some(frame)
    }
}

impl fmt::Display for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Frame::New => f.write_str("#new"),
            Frame::Resume { token, received } => write!(f, "#resume {token} {received}"),
            Frame::Session { token, window_ms } => write!(f, "#session {token} {window_ms}"),
            Frame::Resumed { received } => write!(f, "#resumed {received}"),
            Frame::Lost { reason } => write!(f, "#lost {reason}"),
            Frame::Ack { received } => write!(f, "#ack {received}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_frame_round_trips() {
        let frames = [
            Frame::New,
            Frame::Resume {
                token: "a.b".into(),
                received: 3,
            },
            Frame::Session {
                token: "a.b".into(),
                window_ms: 30_000,
            },
            Frame::Resumed { received: 0 },
            Frame::Lost {
                reason: "resume window expired".into(),
            },
            Frame::Ack { received: u64::MAX },
        ];
        for frame in frames {
            assert_eq!(Frame::parse(&frame.to_string()), Some(frame.clone()), "{frame}");
        }
    }

    #[test]
    fn acks_take_the_short_way_both_ways() {
        for n in [0, 7, 10, 32, 1_000_000, u64::MAX] {
            let text = Frame::ack_text(n);
            assert_eq!(text, Frame::Ack { received: n }.to_string());
            assert_eq!(Frame::parse_ack(&text), Some(n));
        }
        for text in [
            "#ack",
            "#ack ",
            "#ack x",
            "#ack 1 2",
            "#ack -1",
            "#ack +1",
            "#ack 18446744073709551616",
        ] {
            assert_eq!(Frame::parse_ack(text), None, "{text:?}");
        }
    }

    #[test]
    fn malformed_frames_are_refused() {
        for text in [
            "",
            "#",
            "#ack",
            "#ack x",
            "#ack 1 2",
            "#new 1",
            "#resume t",
            "#bogus 1",
            "ack 1",
            "#ack  1",
            "#ack -1",
        ] {
            assert_eq!(Frame::parse(text), None, "{text:?}");
        }
    }
}

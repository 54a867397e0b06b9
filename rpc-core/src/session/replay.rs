//! The replay buffer: messages sent and not yet acknowledged, by sequence number.

use std::collections::VecDeque;

use crate::transport::SharedText;

/// Sent messages the other end has not acknowledged, oldest first. Message
/// `base + i` is `items[i]`; `base + items.len()` is the next to be sent.
///
/// Small messages are copied into one ring of bytes, so the buffer their
/// frame was made of goes back to the allocator as soon as it is written
/// (held for an ack, every reply's buffer would outlive the allocator's
/// per-thread cache: 180 more instructions of `malloc` per call on the
/// server, `bench cost` multi50x16); larger ones are kept as the frame's
/// own shared bytes, not copied.
#[derive(Debug, Default)]
pub(crate) struct Replay {
    items: VecDeque<Held>,
    /// The bytes of the [`Held::Copied`] items, in order.
    ring: Ring,
    /// The position of the ring's first byte among all bytes ever copied
    /// into it (a copied item's `at` is its own).
    ring_front: u64,
    base: u64,
    bytes: usize,
}

/// Bytes appended at the back and dropped from the front: one `Vec`, its
/// dropped front reclaimed when it would otherwise grow.
#[derive(Debug, Default)]
struct Ring {
    buf: Vec<u8>,
    /// Bytes at the front of `buf` already dropped.
    start: usize,
}

impl Ring {
    #[inline]
    fn push(&mut self, bytes: &[u8]) {
        if self.buf.capacity() == 0 {
            // A few small replies' worth, rather than growing through
            // every small power of two (an idle session holds this until
            // its next keepalive tick).
            self.buf.reserve(RING_START);
        } else if self.buf.len() + bytes.len() > self.buf.capacity() {
            if self.start > 0 {
                self.buf.drain(..self.start);
                self.start = 0;
            }
            if self.buf.capacity() < RING_BUSY {
                // Busy after all: straight to a size that holds an ack's
                // worth of small replies.
                self.buf
                    .reserve(RING_BUSY.saturating_sub(self.buf.len()).max(bytes.len()));
            }
        }
        self.buf.extend_from_slice(bytes);
    }

    #[inline]
    fn drop_front(&mut self, n: usize) {
        self.start += n;
        if self.start >= self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
    }

    fn len(&self) -> usize {
        self.buf.len() - self.start
    }

    fn get(&self, offset: usize, len: usize) -> &[u8] {
        &self.buf[self.start + offset..self.start + offset + len]
    }

    fn release_if_empty(&mut self) {
        if self.len() == 0 && self.buf.capacity() > 0 {
            *self = Ring::default();
        }
    }
}

/// One held message.
#[derive(Debug)]
enum Held {
    /// Its `len` bytes are in the ring, at position `at` of all bytes ever
    /// copied into it (found without walking the items before it).
    Copied {
        len: u32,
        at: u64,
    },
    Shared(SharedText),
}

/// What one held message costs besides its text: its entry and the shared
/// bytes' header, counted so that the byte limit bounds the memory.
pub(crate) const ENTRY_BYTES: usize = 64;

/// Messages up to this size are copied into the ring ([`Replay::copy`]).
pub(crate) const COPY_UP_TO: usize = 1 << 10;

/// The ring's first allocation.
const RING_START: usize = 256;

/// The ring's size once it outgrows [`RING_START`].
const RING_BUSY: usize = 4 << 10;

/// What a resume point the other end names means for the buffer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ResumeError {
    /// It names messages already dropped (acknowledged before) or never sent.
    OutOfRange,
}

impl Replay {
    /// The sequence number of the next message to be sent.
    pub(crate) fn next_seq(&self) -> u64 {
        self.base + self.items.len() as u64
    }

    /// Keeps the message just sent, sharing its bytes.
    pub(crate) fn push(&mut self, text: SharedText) {
        self.bytes += text.len() + ENTRY_BYTES;
        self.items.push_back(Held::Shared(text));
    }

    /// Keeps a copy of a small message (at most [`COPY_UP_TO`] bytes).
    #[inline]
    pub(crate) fn copy(&mut self, text: &str) {
        debug_assert!(text.len() <= COPY_UP_TO);
        self.bytes += text.len() + ENTRY_BYTES;
        let at = self.ring_front + self.ring.len() as u64;
        self.ring.push(text.as_bytes());
        self.items.push_back(Held::Copied {
            len: text.len() as u32,
            at,
        });
    }

    /// Gives the ring's memory back if nothing copied is held (an idle
    /// session keeps none; called once per keepalive interval).
    pub(crate) fn release_if_empty(&mut self) {
        self.ring.release_if_empty();
    }

    /// Messages held.
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    /// Bytes held.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// The other end has received everything before `received`: drops it,
    /// returns how many messages that dropped. An ack for more than was sent
    /// is an error; an old one drops nothing.
    pub(crate) fn ack(&mut self, received: u64) -> Result<usize, ResumeError> {
        if received > self.next_seq() {
            return Err(ResumeError::OutOfRange);
        }
        let mut dropped = 0;
        let mut copied = 0;
        while self.base < received {
            let Some(held) = self.items.pop_front() else { break };
            let len = match held {
                Held::Copied { len, .. } => {
                    copied += len as usize;
                    len as usize
                }
                Held::Shared(text) => text.len(),
            };
            self.bytes -= len + ENTRY_BYTES;
            self.base += 1;
            dropped += 1;
        }
        self.ring.drop_front(copied);
        self.ring_front += copied as u64;
        Ok(dropped)
    }

    /// The other end resumes having received `received`: drops what it has;
    /// everything still held is to be sent again. Fails if `received` names
    /// messages already dropped or never sent.
    pub(crate) fn resume_from(&mut self, received: u64) -> Result<(), ResumeError> {
        if received < self.base {
            return Err(ResumeError::OutOfRange);
        }
        self.ack(received).map(drop)
    }

    /// The held message at `index` (0 = oldest), to send again: O(1), so
    /// re-sending a full buffer on resume is linear in its length.
    pub(crate) fn get(&self, index: usize) -> Option<SharedText> {
        match self.items.get(index)? {
            Held::Shared(text) => Some(text.clone()),
            Held::Copied { len, at } => {
                let start = usize::try_from(at.checked_sub(self.ring_front)?).ok()?;
                // Copied from a `&str`, whole.
                let text = std::str::from_utf8(self.ring.get(start, *len as usize)).ok()?;
                Some(SharedText::from(text.to_owned()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` messages `m0`, `m1`, ...: the even ones copied, the odd ones shared.
    fn with(n: u64) -> Replay {
        let mut r = Replay::default();
        for i in 0..n {
            let text = format!("m{i}");
            if i % 2 == 0 {
                r.copy(&text);
            } else {
                r.push(text.into());
            }
        }
        r
    }

    fn text(r: &Replay, index: usize) -> Option<String> {
        r.get(index).map(|t| t.as_str().to_owned())
    }

    #[test]
    fn acks_drop_what_was_received_and_count_bytes() {
        let mut r = with(4);
        assert_eq!((r.len(), r.bytes(), r.next_seq()), (4, 4 * (2 + ENTRY_BYTES), 4));
        assert_eq!(r.ack(3), Ok(3));
        assert_eq!(
            (r.len(), r.bytes(), text(&r, 0)),
            (1, 2 + ENTRY_BYTES, Some("m3".into()))
        );
        assert_eq!(r.ack(1), Ok(0), "an old ack changes nothing");
        assert_eq!(r.len(), 1);
        assert_eq!(r.ack(5), Err(ResumeError::OutOfRange), "more than was sent");
    }

    #[test]
    fn resume_starts_at_what_the_other_end_has() {
        let mut r = with(5);
        r.ack(2).unwrap();
        assert_eq!(r.resume_from(1), Err(ResumeError::OutOfRange), "already dropped");
        assert_eq!(r.resume_from(3), Ok(()));
        assert_eq!(text(&r, 0), Some("m3".into()));
        assert_eq!(text(&r, 1), Some("m4".into()));
        assert_eq!(r.len(), 2);
        assert_eq!(r.resume_from(6), Err(ResumeError::OutOfRange), "never sent");
    }

    #[test]
    fn copied_messages_are_found_after_the_ring_compacts_and_acks() {
        let mut r = Replay::default();
        let msg = |i: u64| format!("{i:0>40}");
        for i in 0..300 {
            r.copy(&msg(i));
            if i % 7 == 6 {
                r.push(format!("shared {i}").into());
            }
            if i % 50 == 49 {
                // Drops about half of what is held, from the front.
                let keep = r.len() as u64 / 2;
                r.ack(r.next_seq() - keep).unwrap();
            }
        }
        let first = r.next_seq() - r.len() as u64;
        let held: Vec<_> = (0..r.len()).filter_map(|i| text(&r, i)).collect();
        assert_eq!(held.len(), r.len());
        let copied: Vec<_> = held.iter().filter(|t| !t.starts_with("shared")).collect();
        let last = 299u64;
        let expected: Vec<_> = ((last + 1 - copied.len() as u64)..=last).map(msg).collect();
        assert_eq!(copied, expected.iter().collect::<Vec<_>>(), "from seq {first}");
    }

    #[test]
    fn copied_and_shared_messages_come_back_in_order_after_acks() {
        let mut r = with(10);
        r.ack(3).unwrap();
        let held: Vec<_> = (0..r.len()).filter_map(|i| text(&r, i)).collect();
        assert_eq!(held, ["m3", "m4", "m5", "m6", "m7", "m8", "m9"]);
        r.copy("é");
        assert_eq!(text(&r, 7).as_deref(), Some("é"));
        r.ack(11).unwrap();
        assert_eq!((r.len(), r.bytes(), r.ring.len()), (0, 0, 0));
        r.release_if_empty();
        assert_eq!(r.ring.buf.capacity(), 0, "an idle session keeps no ring");
    }

    #[test]
    fn the_ring_reclaims_its_front_and_keeps_every_held_text_whole() {
        let mut r = Replay::default();
        let msg = |i: u64| format!("{i}:{}", "x".repeat((i % 300) as usize));
        for i in 0..5_000u64 {
            r.copy(&msg(i));
            if i % 7 == 6 {
                // Keep the last three held.
                r.ack(i - 2).unwrap();
                assert_eq!(text(&r, 0), Some(msg(i - 2)));
                assert_eq!(text(&r, 2), Some(msg(i)));
            }
        }
        assert!(r.ring.buf.capacity() < 64 << 10, "{} bytes", r.ring.buf.capacity());
    }
}

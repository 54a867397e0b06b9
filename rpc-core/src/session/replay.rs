//! The replay buffer: messages sent and not yet acknowledged, by sequence number.

use std::collections::VecDeque;

use crate::transport::SharedText;

/// Sent messages the other end has not acknowledged, oldest first. Message
/// `base + i` is `items[i]`; `base + items.len()` is the next to be sent.
#[derive(Debug, Default)]
pub(crate) struct Replay {
    items: VecDeque<SharedText>,
    base: u64,
    bytes: usize,
}

/// What one held message costs besides its text: its entry and the shared
/// bytes' header, counted so that the byte limit bounds the memory.
pub(crate) const ENTRY_BYTES: usize = 64;

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

    /// Keeps a copy of the message just sent.
    pub(crate) fn push(&mut self, text: SharedText) {
        self.bytes += text.len() + ENTRY_BYTES;
        self.items.push_back(text);
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
        while self.base < received {
            let Some(text) = self.items.pop_front() else { break };
            self.bytes -= text.len() + ENTRY_BYTES;
            self.base += 1;
            dropped += 1;
        }
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

    /// The held message at `index` (0 = oldest).
    pub(crate) fn get(&self, index: usize) -> Option<&SharedText> {
        self.items.get(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(n: u64) -> Replay {
        let mut r = Replay::default();
        for i in 0..n {
            r.push(format!("m{i}").into());
        }
        r
    }

    #[test]
    fn acks_drop_what_was_received_and_count_bytes() {
        let mut r = with(4);
        assert_eq!((r.len(), r.bytes(), r.next_seq()), (4, 4 * (2 + ENTRY_BYTES), 4));
        assert_eq!(r.ack(3), Ok(3));
        assert_eq!(
            (r.len(), r.bytes(), r.get(0).map(SharedText::as_str)),
            (1, 2 + ENTRY_BYTES, Some("m3"))
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
        assert_eq!(r.get(0).map(SharedText::as_str), Some("m3"));
        assert_eq!(r.len(), 2);
        assert_eq!(r.resume_from(6), Err(ResumeError::OutOfRange), "never sent");
    }
}

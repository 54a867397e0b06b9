//! The table of calls waiting for a reply, and request id allocation.
//!
//! `PendingCalls` is a plain struct with no lock and no I/O; the peer keeps it
//! behind one short-held mutex shared by callers (insert, remove on drop) and
//! the reader task (complete).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use serde_json::value::RawValue;
use tokio::sync::oneshot;

use crate::error::ErrorObject;

/// What a pending call receives: the raw `result`, or the error object.
pub type Reply = Result<Box<RawValue>, ErrorObject>;

/// Calls waiting for a reply, by request id.
pub type Waiting = HashMap<u64, oneshot::Sender<Reply>, BuildHasherDefault<IdHasher>>;

/// Hashes the ids this table allocates (sequential `u64`s) with one multiply:
/// SipHash, the default, was ~3% of a client's CPU time under load, and the
/// ids are ours, not chosen by the remote end, so no flooding protection is needed.
#[derive(Debug, Default, Clone, Copy)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        // Fibonacci hashing: spreads sequential ids over the high bits hashbrown
        // uses for its control bytes, and keeps them distinct in the low bits.
        self.0.wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// The table of pending outgoing calls of one connection.
#[derive(Debug)]
pub struct PendingCalls {
    next_id: u64,
    limit: usize,
    calls: Waiting,
    closed: Option<Arc<str>>,
}

impl Default for PendingCalls {
    fn default() -> Self {
        Self::with_limit(usize::MAX)
    }
}

/// Why a call could not be registered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InsertError {
    /// The connection is closed, for this reason.
    Closed(Arc<str>),
    /// As many calls as allowed are already pending.
    Full(usize),
}

impl PendingCalls {
    /// A table that holds at most `limit` pending calls.
    pub fn with_limit(limit: usize) -> Self {
        PendingCalls {
            next_id: 0,
            limit,
            calls: Waiting::default(),
            closed: None,
        }
    }

    /// Allocates the next id and registers a call under it. Fails with the
    /// disconnect reason once the connection has closed, or when full.
    pub fn insert(&mut self) -> Result<(u64, oneshot::Receiver<Reply>), InsertError> {
        if let Some(reason) = &self.closed {
            return Err(InsertError::Closed(reason.clone()));
        }
        if self.calls.len() >= self.limit {
            return Err(InsertError::Full(self.limit));
        }
        let id = self.next_id;
        self.next_id += 1;
        let (tx, rx) = oneshot::channel();
        self.calls.insert(id, tx);
        Ok((id, rx))
    }

    /// Forgets a call (its caller went away); true if it was still waiting.
    pub fn remove(&mut self, id: u64) -> bool {
        self.calls.remove(&id).is_some()
    }

    /// Takes the waiting call for `id`, if any.
    pub fn take(&mut self, id: u64) -> Option<oneshot::Sender<Reply>> {
        self.calls.remove(&id)
    }

    /// Marks the table closed with `reason` and returns every waiting call;
    /// dropping their senders fails them. Later inserts fail with `reason`.
    /// The first reason wins.
    pub fn close(&mut self, reason: Arc<str>) -> Waiting {
        self.closed.get_or_insert(reason);
        std::mem::take(&mut self.calls)
    }

    /// The reason the table was closed, if it was.
    pub fn closed(&self) -> Option<&Arc<str>> {
        self.closed.as_ref()
    }

    /// How many calls are waiting.
    pub fn len(&self) -> usize {
        self.calls.len()
    }

    /// True if no call is waiting.
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_calls_complete_in_any_order() {
        let mut t = PendingCalls::default();
        let (a, mut ra) = t.insert().unwrap();
        let (b, mut rb) = t.insert().unwrap();
        assert_ne!(a, b);
        t.take(b)
            .unwrap()
            .send(Ok(RawValue::from_string("2".into()).unwrap()))
            .unwrap();
        t.take(a).unwrap().send(Err(ErrorObject::new(1, "x"))).unwrap();
        assert_eq!(rb.try_recv().unwrap().unwrap().get(), "2");
        assert_eq!(ra.try_recv().unwrap().unwrap_err().code, 1);
        assert!(t.take(a).is_none(), "a reply is delivered once");
        assert!(t.is_empty());
    }

    #[test]
    fn close_fails_everything_and_refuses_new_calls() {
        let mut t = PendingCalls::default();
        let (_, mut r) = t.insert().unwrap();
        drop(t.close("gone".into()));
        assert!(r.try_recv().is_err());
        assert_eq!(t.insert().unwrap_err(), InsertError::Closed("gone".into()));
        drop(t.close("later".into()));
        assert_eq!(&**t.closed().unwrap(), "gone", "first reason wins");
    }

    #[test]
    fn remove_forgets_a_call() {
        let mut t = PendingCalls::default();
        let (id, _r) = t.insert().unwrap();
        assert!(t.remove(id));
        assert!(!t.remove(id));
        assert!(t.take(id).is_none());
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn refuses_calls_beyond_the_limit() {
        let mut t = PendingCalls::with_limit(2);
        let (a, _ra) = t.insert().unwrap();
        let _b = t.insert().unwrap();
        assert_eq!(t.insert().unwrap_err(), InsertError::Full(2));
        t.remove(a);
        assert!(t.insert().is_ok());
    }
}

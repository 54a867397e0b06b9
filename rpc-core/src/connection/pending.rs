//! The table of calls waiting for a reply, their deadlines, and request id
//! allocation.
//!
//! `PendingCalls` is a plain struct with no lock and no I/O; the peer keeps it
//! behind one short-held mutex shared by callers (insert, remove on drop) and
//! the connection task (complete, expire). Timeouts cost no timer per call:
//! deadlines wait in a heap, and the connection task keeps one timer set to
//! the earliest.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use tokio::time::Instant;

use serde_json::value::RawValue;
use tokio::sync::oneshot;

use crate::wire::error::RpcError;

/// What a pending call receives: the raw `result`, or the error (the error
/// object received, or why the reply could not be read).
pub(crate) type Reply = Result<Box<RawValue>, RpcError>;

/// What a waiting call is told: the reply, or `None` once its deadline passed.
pub(crate) type Answer = Option<Reply>;

/// Calls waiting for a reply, by request id.
pub(crate) type Waiting = HashMap<u64, oneshot::Sender<Answer>, BuildHasherDefault<IdHasher>>;

/// Hashes the ids this table allocates (sequential `u64`s) with one multiply:
/// SipHash, the default, was ~3% of a client's CPU time under load, and the
/// ids are ours, not chosen by the remote end, so no flooding protection is needed.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

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
pub(crate) struct PendingCalls {
    next_id: u64,
    limit: usize,
    calls: Waiting,
    /// What calls fail with once the connection is over.
    closed: Option<RpcError>,
    /// Deadlines by time; entries of calls that ended are dropped lazily.
    deadlines: BinaryHeap<Reverse<(Instant, u64)>>,
    /// What the connection task's timer is set to.
    armed: Option<Instant>,
}

impl Default for PendingCalls {
    fn default() -> Self {
        Self::with_limit(usize::MAX)
    }
}

/// Why a call could not be registered.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum InsertError {
    /// The connection is closed: calls fail with this.
    Closed(RpcError),
    /// As many calls as allowed are already pending.
    Full(usize),
}

impl PendingCalls {
    /// A table that holds at most `limit` pending calls.
    pub(crate) fn with_limit(limit: usize) -> Self {
        PendingCalls {
            next_id: 0,
            limit,
            calls: Waiting::default(),
            closed: None,
            deadlines: BinaryHeap::new(),
            armed: None,
        }
    }

    /// Allocates the next id and registers a call under it, answered with
    /// `None` once `deadline` passes. Fails with the disconnect reason once
    /// the connection has closed, or when full.
    #[cfg(test)]
    pub(crate) fn insert(&mut self) -> Result<(u64, oneshot::Receiver<Answer>), InsertError> {
        self.insert_until(None).map(|(id, rx, _)| (id, rx))
    }

    /// Like [`PendingCalls::insert`], with a deadline; the `bool` is true
    /// when the deadline is earlier than the one the timer is set to, so the
    /// timer must be set again (to [`PendingCalls::armed`]).
    pub(crate) fn insert_until(
        &mut self,
        deadline: Option<Instant>,
    ) -> Result<(u64, oneshot::Receiver<Answer>, bool), InsertError> {
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
        let rearm = deadline.is_some_and(|at| self.add_deadline(at, id));
        Ok((id, rx, rearm))
    }

    fn add_deadline(&mut self, at: Instant, id: u64) -> bool {
        // Entries of answered calls stay until they reach the top; keep them
        // at most about as many as the calls still waiting.
        if self.deadlines.len() > 2 * self.calls.len() + 64 {
            let calls = &self.calls;
            self.deadlines.retain(|Reverse((_, id))| calls.contains_key(id));
        }
        self.deadlines.push(Reverse((at, id)));
        if self.armed.is_some_and(|armed| armed <= at) {
            return false;
        }
        self.armed = Some(at);
        true
    }

    /// The instant the connection task's timer should fire at, if any.
    pub(crate) fn armed(&self) -> Option<Instant> {
        self.armed
    }

    /// Takes every call whose deadline is `now` or earlier (their callers are
    /// to be told `None`) and sets [`PendingCalls::armed`] to the next deadline.
    pub(crate) fn expire(&mut self, now: Instant) -> Vec<(u64, oneshot::Sender<Answer>)> {
        let mut expired = Vec::new();
        while let Some(&Reverse((at, id))) = self.deadlines.peek() {
            if at > now && self.calls.contains_key(&id) {
                break;
            }
            self.deadlines.pop();
            if at <= now
                && let Some(tx) = self.calls.remove(&id)
            {
                expired.push((id, tx));
            }
        }
        self.armed = self.deadlines.peek().map(|Reverse((at, _))| *at);
        expired
    }

    /// Forgets a call (its caller went away); true if it was still waiting.
    pub(crate) fn remove(&mut self, id: u64) -> bool {
        self.calls.remove(&id).is_some()
    }

    /// Takes the waiting call for `id`, if any.
    pub(crate) fn take(&mut self, id: u64) -> Option<oneshot::Sender<Answer>> {
        self.calls.remove(&id)
    }

    /// Marks the table closed with `error` and returns every waiting call;
    /// dropping their senders fails them. Later inserts fail with `error`.
    /// The first error wins.
    pub(crate) fn close(&mut self, error: RpcError) -> Waiting {
        self.closed.get_or_insert(error);
        self.deadlines.clear();
        self.armed = None;
        std::mem::take(&mut self.calls)
    }

    /// What calls fail with, once the table is closed.
    pub(crate) fn closed(&self) -> Option<&RpcError> {
        self.closed.as_ref()
    }

    /// How many calls are waiting.
    pub(crate) fn len(&self) -> usize {
        self.calls.len()
    }

    /// True if no call is waiting.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
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
            .send(Some(Ok(RawValue::from_string("2".into()).unwrap())))
            .unwrap();
        t.take(a).unwrap().send(Some(Err(RpcError::new(1, "x")))).unwrap();
        assert_eq!(rb.try_recv().unwrap().unwrap().unwrap().get(), "2");
        assert_eq!(ra.try_recv().unwrap().unwrap().unwrap_err().code(), Some(1));
        assert!(t.take(a).is_none(), "a reply is delivered once");
        assert!(t.is_empty());
    }

    #[test]
    fn close_fails_everything_and_refuses_new_calls() {
        let mut t = PendingCalls::default();
        let (_, mut r) = t.insert().unwrap();
        let gone = RpcError::Disconnected("gone".into());
        drop(t.close(gone.clone()));
        assert!(r.try_recv().is_err());
        assert_eq!(t.insert().unwrap_err(), InsertError::Closed(gone.clone()));
        drop(t.close(RpcError::SessionLost("later".into())));
        assert_eq!(t.closed(), Some(&gone), "first reason wins");
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

    #[test]
    fn deadlines_expire_in_order_and_arm_the_earliest() {
        let mut t = PendingCalls::default();
        let now = Instant::now();
        let at = |ms| now + std::time::Duration::from_millis(ms);
        let (late, _r1, rearm) = t.insert_until(Some(at(30))).unwrap();
        assert!(rearm, "the first deadline arms the timer");
        let (early, _r2, rearm) = t.insert_until(Some(at(10))).unwrap();
        assert!(rearm, "an earlier deadline sets the timer again");
        let (_, _r3, rearm) = t.insert_until(Some(at(20))).unwrap();
        assert!(!rearm, "a later one does not");
        assert_eq!(t.armed(), Some(at(10)));
        assert!(t.expire(at(5)).is_empty());
        let expired: Vec<u64> = t.expire(at(10)).into_iter().map(|(id, _)| id).collect();
        assert_eq!(expired, vec![early]);
        assert_eq!(t.armed(), Some(at(20)));
        t.take(2);
        // The answered call's deadline is skipped; the late one expires.
        let expired: Vec<u64> = t.expire(at(40)).into_iter().map(|(id, _)| id).collect();
        assert_eq!(expired, vec![late]);
        assert_eq!(t.armed(), None);
        assert!(t.is_empty());
    }

    #[test]
    fn answered_calls_do_not_pile_up_in_the_deadline_heap() {
        let mut t = PendingCalls::default();
        let later = Instant::now() + std::time::Duration::from_secs(60);
        for _ in 0..10_000 {
            let (id, _rx, _) = t.insert_until(Some(later)).unwrap();
            t.take(id);
        }
        assert!(
            t.deadlines.len() <= 2 * t.len() + 65,
            "{} deadlines kept",
            t.deadlines.len()
        );
    }
}

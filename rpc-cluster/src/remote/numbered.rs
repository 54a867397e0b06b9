//! Numbered broadcasts: what makes a broadcast that was claimed delivered
//! (`Ok` from `notify_*`) reach every node that was alive, even when the
//! backplane lost it after saying it had passed it on (a Redis killed after
//! answering `PUBLISH` and before writing the message to a subscriber).
//!
//! * The sender numbers its broadcasts (1, 2, ... for the life of its node
//!   id) and keeps the recent ones ([`Sent`]): the last [`KEEP_FOR`], at most
//!   [`KEEP_MAX`] of them and [`KEEP_BYTES`] of envelopes.
//! * Every liveness check, while it keeps any, it publishes a mark: every
//!   broadcast up to this number has been published (or failed).
//! * A receiver ([`Received`]) that finds numbers below a mark it never got
//!   asks the sender for them (all of them: on first hearing from a sender,
//!   from 1); the sender publishes again, to that node alone, the claimed
//!   ones it was alive for (at most [`ASK_MAX`] an answer), and a skip for
//!   the others: failed (never claimed), sent before the sender counted the
//!   node alive (the claim did not count it), or no longer kept.
//! * A receiver delivers each number once: copies are dropped.
//!
//! So a claimed broadcast is delivered at least once to every node it was
//! claimed for that is alive within [`KEEP_FOR`] of it, and at most once in
//! every case.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::lock;
use crate::backplane::NodeId;

/// How long a broadcast is kept for resending.
pub(crate) const KEEP_FOR: Duration = Duration::from_secs(30);
/// How many broadcasts are kept for resending, at most.
pub(crate) const KEEP_MAX: usize = 16_384;
/// How many bytes of broadcast envelopes are kept for resending, at most.
pub(crate) const KEEP_BYTES: usize = 8 << 20;
/// How many broadcasts one answer to a resend request publishes again, at
/// most (the rest are asked for at the next mark).
pub(crate) const ASK_MAX: u64 = 1_024;
/// How many numbers past a gap a receiver remembers: past it, it gives the
/// oldest gap up (the sender would have skipped it by then anyway).
const AHEAD_MAX: usize = 4_096;

/// Where a kept broadcast stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Being published.
    Pending,
    /// Published and claimed: resent on request.
    Claimed,
    /// Not claimed (its sender got an error): never resent.
    Failed,
}

#[derive(Debug)]
struct Kept {
    seq: u64,
    at: Instant,
    state: State,
    envelope: Arc<str>,
}

/// This node's recent broadcasts, by number.
#[derive(Debug)]
pub(crate) struct Sent {
    inner: Mutex<SentState>,
}

#[derive(Debug)]
struct SentState {
    next: u64,
    kept: VecDeque<Kept>,
    bytes: usize,
    /// For each node alive at the last liveness check, the first number
    /// sent since it was counted alive: a claim counts it from there.
    counted_from: HashMap<NodeId, u64>,
}

/// What a resend request gets: the envelopes to publish again, and the runs
/// of numbers that are not resent (`(first, last)`).
#[derive(Debug, Default)]
pub(crate) struct Resend {
    pub(crate) envelopes: Vec<Arc<str>>,
    pub(crate) skipped: Vec<(u64, u64)>,
    /// How many of the skipped are no longer kept (claimed ones among them
    /// are lost for the asking node).
    pub(crate) evicted: u64,
}

impl Default for Sent {
    fn default() -> Self {
        Sent {
            inner: Mutex::new(SentState {
                next: 1,
                kept: VecDeque::new(),
                bytes: 0,
                counted_from: HashMap::new(),
            }),
        }
    }
}

/// A numbered broadcast being published: [`Publishing::finish`] says
/// whether it was claimed; dropped unfinished (its caller's future was
/// dropped mid-publish), it failed, so the marks move past it.
pub(crate) struct Publishing<'a> {
    sent: &'a Sent,
    seq: u64,
    finished: bool,
}

impl Publishing<'_> {
    pub(crate) fn finish(mut self, claimed: bool) {
        self.finished = true;
        self.sent.finished(self.seq, claimed);
    }
}

impl Drop for Publishing<'_> {
    fn drop(&mut self) {
        if !self.finished {
            self.sent.finished(self.seq, false);
        }
    }
}

impl Sent {
    /// Numbers the next broadcast: `envelope(seq)` builds its envelope,
    /// kept as pending until its [`Publishing`] ends.
    pub(crate) fn number(&self, envelope: impl FnOnce(u64) -> String) -> (Publishing<'_>, Arc<str>) {
        let mut s = lock(&self.inner);
        let seq = s.next;
        s.next += 1;
        let envelope: Arc<str> = envelope(seq).into();
        s.bytes += envelope.len();
        s.kept.push_back(Kept {
            seq,
            at: Instant::now(),
            state: State::Pending,
            envelope: envelope.clone(),
        });
        s.evict(Instant::now());
        let publishing = Publishing {
            sent: self,
            seq,
            finished: false,
        };
        (publishing, envelope)
    }

    /// Broadcast `seq` was published and claimed (`claimed`), or not.
    fn finished(&self, seq: u64, claimed: bool) {
        let mut s = lock(&self.inner);
        if let Some(k) = s.find(seq) {
            k.state = if claimed { State::Claimed } else { State::Failed };
        }
    }

    /// The mark to publish: every broadcast up to it has finished. `None`
    /// when nothing is kept (nothing could be resent).
    pub(crate) fn mark(&self) -> Option<u64> {
        let mut s = lock(&self.inner);
        s.evict(Instant::now());
        let first = s.kept.front()?.seq;
        let pending = s.kept.iter().find(|k| k.state == State::Pending).map(|k| k.seq);
        let mark = pending.map_or(s.next - 1, |p| p - 1);
        (mark >= first).then_some(mark)
    }

    /// The liveness check counts `node` alive (from the next broadcast on,
    /// if it was not already).
    pub(crate) fn counted(&self, node: NodeId) {
        let mut s = lock(&self.inner);
        let next = s.next;
        s.counted_from.entry(node).or_insert(next);
    }

    /// The liveness check no longer counts `node` alive.
    pub(crate) fn not_counted(&self, node: NodeId) {
        lock(&self.inner).counted_from.remove(&node);
    }

    /// What to publish again for node `to` that misses `first..=last`.
    pub(crate) fn resend(&self, to: NodeId, first: u64, last: u64) -> Resend {
        let s = lock(&self.inner);
        let mut out = Resend::default();
        let last = last.min(s.next - 1);
        if first > last {
            return out;
        }
        // Before the node was counted alive, nothing was claimed for it.
        let counted_from = s.counted_from.get(&to).copied().unwrap_or(s.next);
        if first < counted_from {
            out.skipped.push((first, last.min(counted_from - 1)));
        }
        let first = first.max(counted_from);
        let last = last.min(first.saturating_add(ASK_MAX - 1));
        let mut skip = |seq: u64| match out.skipped.last_mut() {
            Some((_, end)) if *end + 1 == seq => *end = seq,
            _ => out.skipped.push((seq, seq)),
        };
        let (mut envelopes, mut evicted) = (Vec::new(), 0);
        for seq in first..=last {
            match s.get(seq) {
                Some(k) if k.state == State::Claimed => envelopes.push(k.envelope.clone()),
                Some(_) => skip(seq),
                None => {
                    evicted += 1;
                    skip(seq);
                }
            }
        }
        out.envelopes = envelopes;
        out.evicted = evicted;
        out
    }
}

impl SentState {
    fn index(&self, seq: u64) -> Option<usize> {
        let first = self.kept.front()?.seq;
        let i = usize::try_from(seq.checked_sub(first)?).ok()?;
        (i < self.kept.len()).then_some(i)
    }

    fn find(&mut self, seq: u64) -> Option<&mut Kept> {
        let i = self.index(seq)?;
        self.kept.get_mut(i)
    }

    fn get(&self, seq: u64) -> Option<&Kept> {
        self.kept.get(self.index(seq)?)
    }

    /// Drops the oldest past any of the bounds (a pending one only past
    /// the count or byte bound).
    fn evict(&mut self, now: Instant) {
        while let Some(front) = self.kept.front() {
            let old = front.state != State::Pending && now.duration_since(front.at) > KEEP_FOR;
            if !(old || self.kept.len() > KEEP_MAX || self.bytes > KEEP_BYTES) {
                break;
            }
            self.bytes -= front.envelope.len();
            self.kept.pop_front();
        }
    }
}

/// The numbers of the broadcasts received from each other node.
#[derive(Debug, Default)]
pub(crate) struct Received {
    senders: Mutex<HashMap<NodeId, Seen>>,
}

/// One sender's numbers: all up to `upto` were received (or given up), and
/// those in `ahead` too.
#[derive(Debug)]
struct Seen {
    upto: u64,
    ahead: BTreeSet<u64>,
    /// When this sender last sent this node anything numbered (or a mark).
    heard: Instant,
}

/// How long a silent sender's numbers are remembered: past this, whatever
/// it still keeps to send again was sent after the last thing received
/// from it (it keeps broadcasts for [`KEEP_FOR`]), so none of it is a copy.
const REMEMBER_FOR: Duration = Duration::from_secs(2 * KEEP_FOR.as_secs());

impl Seen {
    fn new() -> Self {
        Seen {
            upto: 0,
            ahead: BTreeSet::new(),
            heard: Instant::now(),
        }
    }

    fn take(&mut self, seq: u64) -> bool {
        self.heard = Instant::now();
        if seq <= self.upto || !self.ahead.insert(seq) {
            return false;
        }
        if self.ahead.len() > AHEAD_MAX
            && let Some(&oldest) = self.ahead.first()
        {
            self.upto = oldest - 1;
        }
        self.settle();
        true
    }

    fn settle(&mut self) {
        while self.ahead.first().is_some_and(|&s| s <= self.upto + 1) {
            let s = self.ahead.pop_first().expect("checked");
            self.upto = self.upto.max(s);
        }
    }
}

impl Received {
    /// Broadcast `seq` from `from` arrived: true the first time (deliver
    /// it), false for a copy.
    pub(crate) fn first_time(&self, from: NodeId, seq: u64) -> bool {
        lock(&self.senders).entry(from).or_insert_with(Seen::new).take(seq)
    }

    /// `from` marked every broadcast up to `mark` finished: the numbers to
    /// ask it for, if any are missing here (on first hearing from it, all
    /// from 1: the sender skips those it did not claim for this node).
    pub(crate) fn missing(&self, from: NodeId, mark: u64) -> Option<(u64, u64)> {
        let mut senders = lock(&self.senders);
        let seen = senders.entry(from).or_insert_with(Seen::new);
        seen.heard = Instant::now();
        (seen.upto < mark).then(|| (seen.upto + 1, mark))
    }

    /// `from` will not resend `first..=last`.
    pub(crate) fn skip(&self, from: NodeId, first: u64, last: u64) {
        let mut senders = lock(&self.senders);
        if let Some(seen) = senders.get_mut(&from) {
            seen.ahead.extend(first.max(seen.upto + 1)..=last);
            seen.settle();
        }
    }

    /// Forgets the numbers of senders silent for [`REMEMBER_FOR`] (not at
    /// once when a node is declared down: one that was only stalled may
    /// still send again what this node already has).
    pub(crate) fn prune(&self, now: Instant) {
        lock(&self.senders).retain(|_, seen| now.duration_since(seen.heard) < REMEMBER_FOR);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TO: NodeId = NodeId::new(9);

    fn sent(n: u64) -> Sent {
        let sent = Sent::default();
        sent.counted(TO);
        for _ in 0..n {
            let (publishing, _) = sent.number(|seq| format!("b{seq}"));
            publishing.finish(true);
        }
        sent
    }

    #[test]
    fn a_receiver_delivers_each_number_once_and_asks_for_the_gaps_below_a_mark() {
        let (node, r) = (NodeId::new(3), Received::default());
        assert!(r.first_time(node, 5));
        assert!(!r.first_time(node, 5));
        assert_eq!(r.missing(node, 5), Some((1, 5)), "first heard of at 5: asks from 1");
        r.skip(node, 1, 4);
        assert!(r.first_time(node, 8));
        assert_eq!(r.missing(node, 8), Some((6, 8)));
        assert!(r.first_time(node, 7) && r.first_time(node, 6));
        assert_eq!(r.missing(node, 8), None);
        assert!(!r.first_time(node, 6));
        r.skip(node, 9, 10);
        assert!(!r.first_time(node, 10));
        assert_eq!(r.missing(node, 10), None);
    }

    #[test]
    fn a_sender_resends_only_claimed_broadcasts_and_skips_the_rest() {
        let sent = sent(3);
        let (failed, _) = sent.number(|seq| format!("b{seq}"));
        failed.finish(false);
        let (pending, _) = sent.number(|seq| format!("b{seq}"));
        assert_eq!(sent.mark(), Some(4), "not past the pending one");
        let again = sent.resend(TO, 2, 9);
        assert_eq!(again.envelopes.iter().map(|e| &**e).collect::<Vec<_>>(), ["b2", "b3"]);
        assert_eq!(again.skipped, [(4, 5)]);
        pending.finish(true);
        assert_eq!(sent.mark(), Some(5));
        let (dropped, _) = sent.number(|seq| format!("b{seq}"));
        assert_eq!(sent.mark(), Some(5));
        drop(dropped);
        assert_eq!(sent.mark(), Some(6), "a publish dropped midway failed");
        assert_eq!(sent.resend(TO, 6, 6).skipped, [(6, 6)]);
    }

    #[test]
    fn a_sender_keeps_a_bounded_number_of_broadcasts() {
        let sent = sent(KEEP_MAX as u64 + 10);
        assert_eq!(sent.resend(TO, 1, 10).skipped, [(1, 10)]);
        assert_eq!(sent.resend(TO, 1, 10).evicted, 10);
        assert_eq!(sent.resend(TO, 11, 11).envelopes.len(), 1);
        let again = sent.resend(TO, 11, KEEP_MAX as u64 + 10);
        assert_eq!(again.envelopes.len() as u64, ASK_MAX, "the rest at the next mark");
        let big = Sent::default();
        big.counted(TO);
        for _ in 0..9 {
            let (publishing, _) = big.number(|_| "x".repeat(1 << 20));
            publishing.finish(true);
        }
        assert_eq!(big.resend(TO, 1, 9).envelopes.len(), 8, "8 MiB kept");
    }

    #[test]
    fn a_node_gets_again_only_what_was_claimed_while_it_was_counted_alive() {
        let sent = Sent::default();
        let claim = |n: usize| {
            for _ in 0..n {
                let (publishing, _) = sent.number(|seq| format!("b{seq}"));
                publishing.finish(true);
            }
        };
        claim(3);
        sent.counted(TO);
        claim(2);
        let again = sent.resend(TO, 1, 5);
        assert_eq!(again.envelopes.iter().map(|e| &**e).collect::<Vec<_>>(), ["b4", "b5"]);
        assert_eq!(again.skipped, [(1, 3)]);
        let stranger = sent.resend(NodeId::new(77), 1, 5);
        assert!(stranger.envelopes.is_empty());
        assert_eq!(
            stranger.skipped,
            [(1, 5)],
            "never counted alive: nothing was claimed for it"
        );
        sent.not_counted(TO);
        sent.counted(TO);
        claim(1);
        assert_eq!(sent.resend(TO, 1, 6).skipped, [(1, 5)], "counted again from 6");
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_sender_is_forgotten_only_after_its_kept_broadcasts_expire() {
        let (node, r) = (NodeId::new(3), Received::default());
        assert!(r.first_time(node, 1));
        tokio::time::advance(KEEP_FOR).await;
        r.prune(Instant::now());
        assert!(!r.first_time(node, 1), "still remembered: it may send it again");
        tokio::time::advance(REMEMBER_FOR).await;
        r.prune(Instant::now());
        assert!(r.first_time(node, 1), "forgotten");
    }

    #[test]
    fn a_receiver_far_behind_gives_the_oldest_gap_up() {
        let (node, r) = (NodeId::new(3), Received::default());
        assert!(r.first_time(node, 1));
        for seq in 3..(3 + AHEAD_MAX as u64 + 1) {
            assert!(r.first_time(node, seq));
        }
        assert_eq!(r.missing(node, 3 + AHEAD_MAX as u64), None, "2 given up");
    }
}

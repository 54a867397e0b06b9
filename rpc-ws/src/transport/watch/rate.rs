//! A token bucket over the bytes a connection reads
//! ([`crate::WsConfig::max_read_rate`]): while it is empty the connection's
//! socket is not read (a timer wakes it when enough has refilled), so one
//! connection's big messages take at most so much CPU per second to copy,
//! check and parse, whatever their size, and other connections run
//! meanwhile. A few connections over their rate at once may go on at full
//! speed ([`FastLanes`]): one client sending big messages to a server that
//! has nothing else to do is not slowed down; many are.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

use crate::read_lanes::FastLanes;

/// Once empty, the bucket is read from again only when it holds this much
/// (or its whole burst, if smaller): one timer per 64 KiB, not per read.
const RESUME_AT: u64 = 64 << 10;

/// A connection's read-rate budget: `burst` bytes at full speed, then
/// `per_sec` bytes a second. The clock is read only when the bucket is
/// empty, so a connection that stays under its burst never reads it; the
/// price is that time spent idle is credited when the bucket next empties,
/// so right after a long pause up to twice `burst` may pass at full speed.
/// In any `t` seconds at most `2 * burst + per_sec * t` bytes (plus one
/// read) are read.
#[derive(Debug)]
pub(crate) struct ReadRate {
    per_sec: u64,
    burst: u64,
    /// Bytes that may be read now; below zero by the last read's overshoot.
    tokens: i64,
    /// When `tokens` was last refilled.
    refilled: Instant,
    /// Wakes the connection once the bucket holds [`RESUME_AT`] again.
    timer: Option<Pin<Box<Sleep>>>,
    /// The server's fast lanes, and whether this connection holds one.
    lanes: Arc<FastLanes>,
    in_lane: bool,
}

impl ReadRate {
    /// A full bucket of `burst` bytes refilling at `per_sec` bytes a second
    /// (both at least 1); past it, a fast lane from `lanes` if one is free.
    pub(crate) fn new(per_sec: usize, burst: usize, lanes: Arc<FastLanes>) -> Self {
        let burst = (burst as u64).max(1);
        ReadRate {
            per_sec: (per_sec as u64).max(1),
            burst,
            tokens: i64::try_from(burst).unwrap_or(i64::MAX),
            refilled: Instant::now(),
            timer: None,
            lanes,
            in_lane: false,
        }
    }

    /// The socket had nothing to read: a fast lane held is given back (what
    /// was read in it is forgiven: the bucket starts again from empty).
    #[inline]
    pub(crate) fn drained(&mut self) {
        if self.in_lane {
            self.leave_lane();
        }
    }

    fn leave_lane(&mut self) {
        self.in_lane = false;
        self.lanes.give_back();
        self.tokens = self.tokens.max(0);
        self.refilled = Instant::now();
    }

    /// Takes `n` bytes just read out of the bucket.
    #[inline]
    pub(crate) fn spend(&mut self, n: usize) {
        self.tokens = self.tokens.saturating_sub(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// Ready if the socket may be read now (one comparison while the bucket
    /// has bytes); otherwise refills it from the clock and, if that is not
    /// enough, registers a timer for when it will be.
    #[inline]
    pub(crate) fn poll_allowed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.tokens > 0 || self.in_lane {
            return Poll::Ready(());
        }
        if self.lanes.try_take() {
            self.in_lane = true;
            return Poll::Ready(());
        }
        self.poll_refill(cx)
    }

    fn poll_refill(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let resume_at = i64::try_from(RESUME_AT.min(self.burst)).unwrap_or(i64::MAX);
        loop {
            let now = Instant::now();
            let credit = now.duration_since(self.refilled).as_nanos() * u128::from(self.per_sec) / 1_000_000_000;
            let filled = i128::from(self.tokens) + i128::try_from(credit).unwrap_or(i128::MAX);
            self.tokens = i64::try_from(filled.min(i128::from(self.burst))).unwrap_or(i64::MAX);
            self.refilled = now;
            if self.tokens >= resume_at {
                return Poll::Ready(());
            }
            let missing = u64::try_from(resume_at - self.tokens).unwrap_or(u64::MAX);
            let wait = Duration::from_nanos(missing.saturating_mul(1_000_000_000) / self.per_sec + 1);
            let timer = match &mut self.timer {
                Some(timer) => {
                    timer.as_mut().reset(now + wait);
                    timer
                }
                none => none.insert(Box::pin(tokio::time::sleep_until(now + wait))),
            };
            if timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
        }
    }
}

impl Drop for ReadRate {
    fn drop(&mut self) {
        if self.in_lane {
            self.lanes.give_back();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Waker;

    #[tokio::test(start_paused = true)]
    async fn an_empty_bucket_waits_for_the_rate_then_refills_up_to_its_burst() {
        let mut cx = Context::from_waker(Waker::noop());
        let lanes = FastLanes::new(1);
        // The only lane is taken: this connection waits for its bucket.
        assert!(lanes.try_take());
        let mut rate = ReadRate::new(1 << 20, 256 << 10, lanes);
        rate.spend(256 << 10);
        assert!(rate.poll_allowed(&mut cx).is_pending(), "empty after its burst");
        // 64 KiB at 1 MiB/s: 62.5 ms.
        tokio::time::advance(Duration::from_millis(60)).await;
        assert!(rate.poll_allowed(&mut cx).is_pending());
        tokio::time::advance(Duration::from_millis(3)).await;
        assert!(rate.poll_allowed(&mut cx).is_ready());
        rate.spend(70_000);
        assert!(rate.poll_allowed(&mut cx).is_pending(), "empty again");
        tokio::time::advance(Duration::from_secs(10)).await;
        assert!(rate.poll_allowed(&mut cx).is_ready());
        assert_eq!(rate.tokens, 256 << 10, "never more than the burst");
    }

    #[tokio::test(start_paused = true)]
    async fn a_free_lane_lets_one_connection_past_its_rate_until_its_socket_drains() {
        let mut cx = Context::from_waker(Waker::noop());
        let lanes = FastLanes::new(1);
        let mut first = ReadRate::new(1 << 20, 256 << 10, lanes.clone());
        let mut second = ReadRate::new(1 << 20, 256 << 10, lanes.clone());
        first.spend(256 << 10);
        assert!(first.poll_allowed(&mut cx).is_ready(), "the free lane");
        first.spend(64 << 20);
        assert!(
            first.poll_allowed(&mut cx).is_ready(),
            "at full speed while it holds it"
        );
        second.spend(256 << 10);
        assert!(second.poll_allowed(&mut cx).is_pending(), "no lane left: the rate");
        first.drained();
        assert_eq!(first.tokens, 0, "what it read in the lane is forgiven");
        assert!(second.poll_allowed(&mut cx).is_ready(), "the lane given back");
        drop(second);
        assert!(lanes.try_take(), "given back on drop");
    }
}

//! The fast lanes of a server's read-rate budget
//! ([`crate::WsConfig::read_rate_fast_lanes`]): shared by its connections'
//! budgets, set in its config.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// How many connections of a server may read past their rate at full
/// speed at once: half the cores (at least one). Taken, without waiting,
/// by a connection whose bucket ran empty, and given back when its socket
/// has nothing more to read (or it closes); the connections over their rate
/// that find none free wait for their buckets. So connections over their
/// rate take at most half the cores at full speed, plus the rate each for
/// the rest, and a single one is never slowed down.
#[derive(Debug)]
pub(crate) struct FastLanes {
    free: AtomicUsize,
}

impl FastLanes {
    /// Half of this machine's cores, at least one.
    pub(crate) fn for_this_machine() -> Arc<Self> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::new((cores / 2).max(1))
    }

    pub(crate) fn new(lanes: usize) -> Arc<Self> {
        Arc::new(FastLanes {
            free: AtomicUsize::new(lanes),
        })
    }

    pub(crate) fn try_take(&self) -> bool {
        self.free
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok()
    }

    pub(crate) fn give_back(&self) {
        self.free.fetch_add(1, Ordering::AcqRel);
    }
}

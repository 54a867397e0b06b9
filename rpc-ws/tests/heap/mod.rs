//! A counting allocator for the test binary that includes this module (each
//! integration test is its own binary), and what it counts: the heap of the
//! whole process, the server and the in-process clients.

#![allow(dead_code)] // each test file uses part of it

use std::alloc::System;

use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Bytes allocated and not yet freed in this process. A realloc's growth or
/// shrink is counted in these two already: adding `bytes_reallocated` would
/// count it twice.
pub fn heap() -> usize {
    let s = GLOBAL.stats();
    s.bytes_allocated - s.bytes_deallocated
}

/// [`heap`] as a signed number, for differences that may go below zero.
pub fn heap_i64() -> i64 {
    heap() as i64
}

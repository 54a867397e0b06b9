//! Ready middleware for the example servers (`examples/middleware.rs`,
//! `examples/axum.rs`): per-method authorization from the user the handshake
//! authenticated, a rate limiter per user (the `governor` crate), and request
//! logging with timing. Each is installed in a server's per-connection setup,
//! where the handshake's user is known:
//!
//! ```
//! use std::sync::Arc;
//! use examples::middleware::{Authorize, LogCalls, Policy, RateLimit};
//!
//! let policy = Policy::default().only("calc.clear", ["alice"]);
//! let limiter = RateLimit::limiter(5, 10); // 5 calls/s per user, bursts of 10
//! let setup = move |conn: &mut duplexrpc_core::PeerBuilder, user: &String| {
//!     conn.middleware(LogCalls::new(user.clone()));
//!     conn.middleware(RateLimit::new(limiter.clone(), user.clone()));
//!     conn.middleware(Authorize::new(policy.clone(), user.clone()));
//! };
//! setup(&mut duplexrpc_core::PeerBuilder::new(), &"alice".to_string());
//! ```
//!
//! The order matters: logging first sees (and times) every call, refused
//! ones included; the rate limit counts calls before authorization, so
//! refused calls cost quota too.

use std::collections::{HashMap, HashSet};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Instant;

use duplexrpc_core::ErrorObject;
use duplexrpc_core::middleware::{Call, CallResult, Middleware, Next};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

/// Application error code: the user may not call this method.
pub const FORBIDDEN: i32 = -32003;
/// Application error code: too many calls; `data.retry_after_ms` says when
/// to try again.
pub const RATE_LIMITED: i32 = -32005;

/// Which users may call which methods: a method listed is only for its
/// users; the others are open to every authenticated user.
#[derive(Clone, Debug, Default)]
pub struct Policy(Arc<HashMap<String, HashSet<String>>>);

impl Policy {
    /// Restricts `method` to `users`.
    pub fn only<'u>(mut self, method: &str, users: impl IntoIterator<Item = &'u str>) -> Self {
        let rules = Arc::make_mut(&mut self.0);
        rules
            .entry(method.to_owned())
            .or_default()
            .extend(users.into_iter().map(str::to_owned));
        self
    }

    /// Whether `user` may call `method`.
    pub fn allows(&self, user: &str, method: &str) -> bool {
        self.0.get(method).is_none_or(|users| users.contains(user))
    }
}

/// Refuses, with [`FORBIDDEN`], the calls its user may not make.
#[derive(Debug)]
pub struct Authorize {
    policy: Policy,
    user: String,
}

impl Authorize {
    /// For the connection of `user` (what the handshake hook returned).
    pub fn new(policy: Policy, user: String) -> Self {
        Authorize { policy, user }
    }
}

impl Middleware for Authorize {
    fn call<'a>(&'a self, call: Call<'a>, next: Next<'a>) -> CallResult {
        if self.policy.allows(&self.user, call.method()) {
            return next.run(call);
        }
        let data = serde_json::json!({ "method": call.method(), "user": self.user });
        Err(ErrorObject::new(FORBIDDEN, "Forbidden").with_data(data))
    }
}

/// One rate limiter for every connection, keyed by user: a user's
/// connections share one quota.
pub type Limiter = DefaultKeyedRateLimiter<String>;

/// Refuses, with [`RATE_LIMITED`], the calls over its user's quota.
#[derive(Debug)]
pub struct RateLimit {
    limiter: Arc<Limiter>,
    user: String,
}

impl RateLimit {
    /// A limiter allowing each user `per_second` calls a second on average,
    /// in bursts of up to `burst` (both at least 1). Share it between the
    /// connections; its memory grows with the users seen: call
    /// `retain_recent()` on it from time to time to forget idle ones.
    pub fn limiter(per_second: u32, burst: u32) -> Arc<Limiter> {
        let at_least_one = |n: u32| NonZeroU32::new(n.max(1)).expect("not zero");
        let quota = Quota::per_second(at_least_one(per_second)).allow_burst(at_least_one(burst));
        Arc::new(Limiter::keyed(quota))
    }

    /// For the connection of `user`, counting against `limiter`.
    pub fn new(limiter: Arc<Limiter>, user: String) -> Self {
        RateLimit { limiter, user }
    }
}

impl Middleware for RateLimit {
    fn call<'a>(&'a self, call: Call<'a>, next: Next<'a>) -> CallResult {
        match self.limiter.check_key(&self.user) {
            Ok(()) => next.run(call),
            Err(not_until) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                let data = serde_json::json!({ "retry_after_ms": wait.as_millis() as u64 });
                Err(ErrorObject::new(RATE_LIMITED, "Rate limited").with_data(data))
            }
        }
    }
}

/// Logs every call (a `tracing` event at INFO when it ends) with its
/// connection, user, method, id, outcome and time.
#[derive(Debug)]
pub struct LogCalls {
    user: String,
}

impl LogCalls {
    /// For the connection of `user`.
    pub fn new(user: String) -> Self {
        LogCalls { user }
    }
}

impl Middleware for LogCalls {
    fn call<'a>(&'a self, call: Call<'a>, next: Next<'a>) -> CallResult {
        let started = Instant::now();
        let conn = call.connection_id();
        let method = call.method().to_owned();
        let id = call.id().map_or_else(|| "-".to_owned(), |id| id.to_string());
        let user = self.user.clone();
        let log = move |outcome: &str| {
            let us = started.elapsed().as_micros() as u64;
            tracing::info!("[call] conn {conn} user {user} {method} id {id}: {outcome} in {us} us");
        };
        match next.run(call) {
            Err(error) => {
                log(&format!("refused ({})", error.code));
                Err(error)
            }
            Ok(reply) => Ok(Box::pin(async move {
                let outcome = reply.await;
                match &outcome {
                    Ok(_) => log("ok"),
                    Err(error) => log(&format!("error {}", error.code)),
                }
                outcome
            })),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_policy_restricts_only_the_methods_it_lists() {
        let policy = Policy::default().only("calc.clear", ["alice"]);
        assert!(policy.allows("alice", "calc.clear"));
        assert!(!policy.allows("bob", "calc.clear"));
        assert!(policy.allows("bob", "calc.add"));
    }

    #[test]
    fn the_limiter_keeps_one_quota_per_user() {
        let limiter = RateLimit::limiter(1, 2);
        let alice = "alice".to_string();
        assert!(limiter.check_key(&alice).is_ok());
        assert!(limiter.check_key(&alice).is_ok());
        assert!(limiter.check_key(&alice).is_err(), "a burst of 2");
        assert!(limiter.check_key(&"bob".to_string()).is_ok(), "bob has his own");
    }
}

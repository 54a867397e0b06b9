//! Whether a resuming connection belongs to the session's owner: the
//! handshake hook ran again on it, and its auth value must equal the one
//! the session started with.

use std::sync::Arc;

/// Keeps a session's auth value and compares a resuming connection's with
/// it. Built where the type is known to be comparable: a server without a
/// hook (`()`), or [`crate::Server::sessions`] (`A: PartialEq + Clone`);
/// otherwise every resume is refused (`#lost auth`).
pub(crate) struct AuthCheck<A> {
    // A trait object, not fn pointers: a higher-ranked `fn(&A)` type in the
    // session's futures defeats the compiler's proof that they are `Send`.
    compare: Arc<dyn Compare<A>>,
}

impl<A> Clone for AuthCheck<A> {
    fn clone(&self) -> Self {
        AuthCheck {
            compare: self.compare.clone(),
        }
    }
}

trait Compare<A>: Send + Sync {
    fn keep(&self, auth: &A) -> Option<A>;
    fn same(&self, kept: &A, auth: &A) -> bool;
    /// False if every resume is refused.
    fn compares(&self) -> bool {
        true
    }
}

/// No comparison: every resume is refused.
struct Refuse;

impl<A> Compare<A> for Refuse {
    fn keep(&self, _: &A) -> Option<A> {
        None
    }

    fn same(&self, _: &A, _: &A) -> bool {
        false
    }

    fn compares(&self) -> bool {
        false
    }
}

/// `==` on a kept clone.
struct ByEq;

impl<A: PartialEq + Clone> Compare<A> for ByEq {
    fn keep(&self, auth: &A) -> Option<A> {
        Some(auth.clone())
    }

    fn same(&self, kept: &A, auth: &A) -> bool {
        kept == auth
    }
}

impl<A> AuthCheck<A> {
    /// Refuses every resume: the auth value cannot be compared.
    pub(crate) fn refuse() -> Self {
        AuthCheck {
            compare: Arc::new(Refuse),
        }
    }

    /// Compares auth values with `==`.
    pub(crate) fn compare() -> Self
    where
        A: PartialEq + Clone,
    {
        AuthCheck {
            compare: Arc::new(ByEq),
        }
    }
}

impl<A> AuthCheck<A> {
    /// What the session keeps of its first connection's auth value.
    pub(crate) fn keep(&self, auth: &A) -> Option<A> {
        self.compare.keep(auth)
    }

    /// False if every resume is refused (a hook whose auth type was never
    /// said to compare).
    pub(crate) fn compares(&self) -> bool {
        self.compare.compares()
    }

    /// Whether a resuming connection's auth value is the session's.
    pub(crate) fn same(&self, kept: Option<&A>, auth: &A) -> bool {
        kept.is_some_and(|kept| self.compare.same(kept, auth))
    }
}

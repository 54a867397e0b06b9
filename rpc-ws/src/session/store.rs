//! The server's sessions, by id: the handle that takes a resuming
//! connection, the token's secret, the auth value of the first connection.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use duplexrpc_core::session::{SessionConfig, SessionHandle, SessionStatus};

use tokio::io::{AsyncRead, AsyncWrite};

use super::auth::AuthCheck;
use super::token::Token;
use crate::transport::{Watched, WsTransport};

/// A session's socket, whatever it is under (TCP, TLS, hyper's upgrade):
/// one type, so that a resume can come on any connection of the endpoint.
pub(crate) type Io = Box<dyn Socket>;

/// The connection type the server's sessions run on.
pub(crate) type Inner = WsTransport<Watched<Io>>;

/// A socket a session connection can run on.
pub(crate) trait Socket: AsyncRead + AsyncWrite + Unpin + Send + 'static {}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> Socket for S {}

/// The sessions of one endpoint.
pub(crate) struct Store<A> {
    pub(crate) config: SessionConfig,
    pub(crate) auth: AuthCheck<A>,
    entries: Arc<Mutex<Entries<A>>>,
}

type Entries<A> = HashMap<u64, Entry<A>>;

struct Entry<A> {
    token: Token,
    handle: SessionHandle<Inner>,
    auth: Option<A>,
}

/// A session's place in the store, given back when dropped (when the
/// session's connection task ends, i.e. the session is over).
pub(crate) struct Registered<A> {
    entries: Weak<Mutex<Entries<A>>>,
    id: u64,
}

impl<A> Drop for Registered<A> {
    fn drop(&mut self) {
        if let Some(entries) = self.entries.upgrade() {
            lock(&entries).remove(&self.id);
        }
    }
}

fn lock<A>(entries: &Mutex<Entries<A>>) -> MutexGuard<'_, Entries<A>> {
    entries.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<A> Store<A> {
    pub(crate) fn new(config: SessionConfig, auth: AuthCheck<A>) -> Self {
        Store {
            config,
            auth,
            entries: Arc::default(),
        }
    }

    /// A new token whose id no session of this store has.
    pub(crate) fn fresh_token(&self) -> Result<Token, getrandom::Error> {
        loop {
            let token = Token::random()?;
            if !lock(&self.entries).contains_key(&token.id) {
                return Ok(token);
            }
        }
    }

    /// Adds a session under `token` (from [`Store::fresh_token`]); `None`
    /// if another took its id meanwhile.
    pub(crate) fn insert(&self, token: Token, handle: SessionHandle<Inner>, auth: &A) -> Option<Registered<A>> {
        let auth = self.auth.keep(auth);
        let id = token.id;
        let mut entries = lock(&self.entries);
        if entries.contains_key(&id) {
            return None;
        }
        entries.insert(id, Entry { token, handle, auth });
        Some(Registered {
            entries: Arc::downgrade(&self.entries),
            id,
        })
    }

    /// The session `token` names, if the token's secret is its and `auth`
    /// (the hook's value for the resuming connection) equals its owner's;
    /// otherwise the `#lost` reason.
    pub(crate) fn find(&self, token: &str, auth: &A) -> Result<SessionHandle<Inner>, String> {
        let unknown = || "unknown session".to_owned();
        let token = Token::parse(token).ok_or_else(unknown)?;
        let entries = lock(&self.entries);
        let entry = entries
            .get(&token.id)
            .filter(|e| e.token.secret_matches(&token))
            .ok_or_else(unknown)?;
        if let SessionStatus::Over(reason) = entry.handle.status() {
            return Err(reason.map_or_else(unknown, |r| r.to_string()));
        }
        if !self.auth.same(entry.auth.as_ref(), auth) {
            return Err("auth".to_owned());
        }
        Ok(entry.handle.clone())
    }
}

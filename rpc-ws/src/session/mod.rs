//! Resumable sessions over WebSocket (README "Resumable sessions"): the
//! subprotocol negotiation, the first exchange (`#new` / `#session`,
//! `#resume` / `#resumed` / `#lost`), the server's session store and the
//! client's resuming dialer (the endpoint's side of the first exchange is
//! `server::session`). The session itself (numbering, acks, replay,
//! the resume window) is `duplexrpc_core::session`'s.

mod auth;
mod client;
pub(crate) mod exchange;
mod negotiate;
mod store;
mod token;

pub(crate) use auth::AuthCheck;
pub(crate) use client::{Resumed, Session, open, resume, settled};
pub(crate) use negotiate::{offers, select};
pub(crate) use store::{Inner, Io, Store};

//! Resumable sessions over WebSocket (README "Resumable sessions"): the
//! subprotocol negotiation, the first exchange (`#new` / `#session`,
//! `#resume` / `#resumed` / `#lost`), the server's session store and the
//! client's resuming dialer. The session itself (numbering, acks, replay,
//! the resume window) is `duplexrpc_core::session`'s.

mod auth;
mod client;
mod exchange;
mod negotiate;
mod server;
mod store;
mod token;

pub(crate) use auth::AuthCheck;
pub(crate) use client::{Resumed, Session, open, resume, settled};
pub(crate) use negotiate::{offer, offers, select, selected};
pub(crate) use server::Io;
pub(crate) use store::Store;

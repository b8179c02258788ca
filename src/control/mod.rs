//! Control of a running supervisor over a Unix socket: the versioned line protocol
//! ([`protocol`], pure), the server driven by the supervisor's loop ([`server`]), the CLI's
//! client ([`client`]), and who may connect ([`auth`]).

pub mod auth;
pub mod client;
pub mod protocol;
pub mod server;

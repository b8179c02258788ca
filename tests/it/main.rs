//! The one integration-test binary: a module per area, all running the real `pidward` binary
//! against real processes, files and signals.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod config;
mod lock_cli;
mod lock_lib;
mod pidfile;
mod purity;
mod signals;

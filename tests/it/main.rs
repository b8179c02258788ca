//! The one integration-test binary: a module per area, all running the real `pidward` binary
//! against real processes, files and signals.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod config;
mod ctl;
mod ctl_access;
mod ctl_commands;
mod ctl_exit;
mod ctl_logs;
mod ctl_protocol;
mod ctl_reload;
mod docs;
mod lock_cli;
mod lock_lib;
mod pidfile;
mod purity;
mod run;
mod run_child;
mod run_orphans;
mod run_reload;
mod run_restart;
mod run_stop;
mod signals;

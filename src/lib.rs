//! pidward: a process supervisor for Linux that is exact about PID and lock files.
//!
//! The library is the core the `pidward` binary stands on, usable on its own:
//!
//! - [`lock`]: `flock`, `soft`, `dir` and `lease` locks with waiting, stale detection, holder
//!   diagnostics and a fencing generation;
//! - [`pidfile`]: PID files written atomically, read tolerantly, checked for liveness with
//!   protection against PID reuse, and removed only by their owner;
//! - [`process`]: process identity (PID + start ticks + boot) and liveness through `sysinfo`;
//! - [`signals`]: a registry dispatching SIGTERM, SIGINT, SIGHUP and friends to handlers;
//! - [`exit`]: the exit-code table shared by every command.

pub mod config;
pub mod control;
pub mod exit;
pub mod lock;
pub mod notify;
pub mod pidfile;
pub mod process;
pub mod signals;
pub mod supervisor;

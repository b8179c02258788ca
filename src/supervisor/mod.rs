//! The supervisor: a pure per-service state machine ([`machine`]) under a restart policy
//! ([`policy`]). The engine that turns OS events into machine events and actions into system
//! calls is built on these.
//!
//! ```text
//!            Start                 start_secs / Ready
//!  STOPPED ─────────▶ STARTING ───────────────────────▶ RUNNING
//!     ▲                 │  │ exit too soon                 │ exit (policy: restart)
//!     │                 │  ▼                                ▼
//!     │                 │ BACKOFF ──deadline──▶ STARTING   STARTING (restart_limit → FATAL)
//!     │                 │  └─ attempts used up ──▶ FATAL
//!     │   Stop          ▼
//!     └──────────── STOPPING ──stop_timeout──▶ SIGKILL ──▶ (exit) ──▶ STOPPED
//! ```

pub mod logs;
pub mod machine;
pub mod policy;

//! Configuration value types shared by the command line and the supervisor's TOML config.

pub mod duration;

//! `pidward run`: load the config, then hand over to the supervisor.

use std::path::Path;

use pidward::exit::ExitStatus;

/// Runs the supervisor with the config at `config` (already absolute).
pub fn run(config: &Path) -> anyhow::Result<ExitStatus> {
    let config = match pidward::config::load(config) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitStatus::Usage);
        }
    };
    super::init_logging(config.supervisor.log_level);
    match pidward::supervisor::run(config) {
        Ok(0) => Ok(ExitStatus::Ok),
        Ok(_) => Ok(ExitStatus::Failure),
        Err(e) => {
            eprintln!("pidward: {e}");
            Ok(ExitStatus::Failure)
        }
    }
}

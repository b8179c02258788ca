//! The man page's hand-written sections: FILES, ENVIRONMENT, SIGNALS, EXIT STATUS, SEE ALSO.

use super::term_list;
use clap_mangen::roff::{roman, Roff};

/// FILES, ENVIRONMENT, SIGNALS, EXIT STATUS, SEE ALSO: facts the clap definitions do not hold.
pub(super) fn static_sections(roff: &mut Roff) {
    roff.control("SH", ["FILES"]);
    term_list(
        roff,
        &[
            (
                "/etc/pidward/pidward.toml",
                "The default config (TOML): an optional [supervisor] table and one \
                 [services.NAME] table per service. `pidward check` validates it.",
            ),
            (
                "/etc/pidward/conf.d/*.toml",
                "Drop-in files of [services.*] tables, read when the config's `include` names \
                 them (the packaged config does).",
            ),
            (
                "/run/pidward/",
                "The runtime directory as root (systemd's $RUNTIME_DIRECTORY under the unit): \
                 the supervisor's locked pidward.pid, the control socket pidward.sock, and each \
                 service's NAME.pid and NAME.lock while it runs.",
            ),
            (
                "/var/log/pidward/",
                "Captured service output as root: NAME.out and NAME.err, rotated.",
            ),
            (
                "/lib/systemd/system/pidward.service",
                "The systemd unit (Type=notify, KillMode=process so that a restarted pidward \
                 adopts its services); pidward@.service runs /etc/pidward/INSTANCE.toml.",
            ),
        ],
    );

    roff.control("SH", ["ENVIRONMENT"]);
    term_list(
        roff,
        &[
            (
                "RUST_LOG",
                "Overrides the log level (error, warn, info, debug, trace).",
            ),
            (
                "PIDWARD_SOCKET",
                "The control socket, unless --socket is given.",
            ),
            (
                "RUNTIME_DIRECTORY, XDG_RUNTIME_DIR, XDG_STATE_HOME",
                "Default runtime and log directories when the config sets none.",
            ),
            (
                "NOTIFY_SOCKET, WATCHDOG_USEC, WATCHDOG_PID",
                "The sd_notify protocol: READY=1, STATUS=, RELOADING=1, STOPPING=1 and the \
                 watchdog ping. Services never inherit them.",
            ),
            (
                "PIDWARD_LOCK_FD, PIDWARD_LOCK_GEN, PIDWARD_SERVICE",
                "Set for the commands pidward runs: the inherited lock descriptor, the fencing \
                 generation (pidward lock), the service name (pidward run).",
            ),
        ],
    );

    roff.control("SH", ["SIGNALS"]);
    roff.text([roman("A running supervisor (pidward run) handles:")]);
    term_list(
        roff,
        &[
            (
                "SIGTERM, SIGINT",
                "Stop every service (reverse dependency order, stop signal, SIGKILL after \
                 stop_timeout), remove every PID and lock file, exit 0. A second SIGINT kills \
                 at once.",
            ),
            (
                "SIGHUP",
                "Reload the config: added services start, removed ones stop, changed ones \
                 restart; an invalid file is rejected and the old config kept.",
            ),
            ("SIGUSR1", "Reopen the captured-output log files."),
        ],
    );

    roff.control("SH", ["EXIT STATUS"]);
    term_list(
        roff,
        &[
            ("0", "Success; running (pidfile check); held (holder)."),
            ("1", "Failure; stale PID file; free (holder)."),
            ("2", "Usage or config error."),
            ("3", "Not running, or PID file missing (LSB)."),
            ("4", "Invalid PID file content (LSB \"unknown\")."),
            (
                "75",
                "Lock busy (lock --no-wait, or --wait ran out); --conflict-exit-code overrides.",
            ),
            (
                "N",
                "pidward lock: the command's own exit code, 128+N if it died of signal N, 125 if \
                 the wrapper died before the command started, 126/127 if the command cannot be \
                 run / is not found.",
            ),
        ],
    );

    roff.control("SH", ["SEE ALSO"]);
    roff.text([roman(
        "systemctl(1), systemd.service(5), flock(1), start-stop-daemon(8), \
         /usr/share/doc/pidward/README.md",
    )]);
}

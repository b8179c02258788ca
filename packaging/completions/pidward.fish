# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_pidward_global_optspecs
    string join \n c/config= socket= h/help V/version
end

function __fish_pidward_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_pidward_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_pidward_using_subcommand
    set -l cmd (__fish_pidward_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c pidward -n "__fish_pidward_needs_command" -s c -l config -d 'The supervisor\'s config file (`run`, `check`, and to find a running supervisor\'s socket)' -r -F
complete -c pidward -n "__fish_pidward_needs_command" -l socket -d 'The control socket (default: `$PIDWARD_SOCKET`, else the config\'s runtime dir)' -r -F
complete -c pidward -n "__fish_pidward_needs_command" -s h -l help -d 'Print help'
complete -c pidward -n "__fish_pidward_needs_command" -s V -l version -d 'Print version'
complete -c pidward -n "__fish_pidward_needs_command" -f -a "run" -d 'Run the supervisor: start the services of a config and keep them running'
complete -c pidward -n "__fish_pidward_needs_command" -f -a "check" -d 'Validate a config and print a summary (exit 2 on any error)'
complete -c pidward -n "__fish_pidward_needs_command" -f -a "status" -d 'Show services: name, state, pid, uptime, restarts, last exit (exit 3 unless all RUNNING)'
complete -c pidward -n "__fish_pidward_needs_command" -f -a "start" -d 'Start services; returns once they are RUNNING (or failed)'
complete -c pidward -n "__fish_pidward_needs_command" -f -a "stop" -d 'Stop services; returns once they stopped'
complete -c pidward -n "__fish_pidward_needs_command" -f -a "restart" -d 'Restart services; returns once they run again'
complete -c pidward -n "__fish_pidward_needs_command" -f -a "signal" -d 'Send a signal to services\' main processes'
complete -c pidward -n "__fish_pidward_needs_command" -f -a "pid" -d 'Print a service\'s PID (no name: the supervisor\'s)'
complete -c pidward -n "__fish_pidward_needs_command" -f -a "logs" -d 'Print a service\'s captured output'
complete -c pidward -n "__fish_pidward_needs_command" -f -a "wait" -d 'Wait until services are running or stopped'
complete -c pidward -n "__fish_pidward_needs_command" -f -a "reload" -d 'Reload the config (as SIGHUP does); prints what changed'
complete -c pidward -n "__fish_pidward_needs_command" -f -a "shutdown" -d 'Stop every service and the supervisor; returns once it has exited'
complete -c pidward -n "__fish_pidward_needs_command" -f -a "lock" -d 'Run a command while holding a lock (single-instance guard for cron jobs and scripts)'
complete -c pidward -n "__fish_pidward_needs_command" -f -a "holder" -d 'Show who holds a lock: exit 0 held, 1 free, 2 error'
complete -c pidward -n "__fish_pidward_needs_command" -f -a "unlock" -d 'Ask a lock\'s holder to let go (signal it, then wait until the lock is free)'
complete -c pidward -n "__fish_pidward_needs_command" -f -a "pidfile" -d 'PID file tools'
complete -c pidward -n "__fish_pidward_needs_command" -f -a "completions" -d 'Print a shell completion script (bash, zsh or fish) to standard output'
complete -c pidward -n "__fish_pidward_needs_command" -f -a "man" -d 'Print the man page (roff) to standard output: `pidward man | man -l -`'
complete -c pidward -n "__fish_pidward_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c pidward -n "__fish_pidward_using_subcommand run" -l pidfile -d 'Also write the supervisor\'s PID here (locked, removed at exit), e.g. for `start-stop-daemon --pidfile`' -r -F
complete -c pidward -n "__fish_pidward_using_subcommand run" -l log-file -d 'With --daemonize: append the supervisor\'s own log here (default: discard)' -r -F
complete -c pidward -n "__fish_pidward_using_subcommand run" -s c -l config -d 'The supervisor\'s config file (`run`, `check`, and to find a running supervisor\'s socket)' -r -F
complete -c pidward -n "__fish_pidward_using_subcommand run" -l socket -d 'The control socket (default: `$PIDWARD_SOCKET`, else the config\'s runtime dir)' -r -F
complete -c pidward -n "__fish_pidward_using_subcommand run" -l daemonize -d 'Detach (double fork, new session, cwd /); return 0 once the supervisor is up'
complete -c pidward -n "__fish_pidward_using_subcommand run" -s h -l help -d 'Print help'
complete -c pidward -n "__fish_pidward_using_subcommand run" -s V -l version -d 'Print version'
complete -c pidward -n "__fish_pidward_using_subcommand check" -s c -l config -d 'The supervisor\'s config file (`run`, `check`, and to find a running supervisor\'s socket)' -r -F
complete -c pidward -n "__fish_pidward_using_subcommand check" -l socket -d 'The control socket (default: `$PIDWARD_SOCKET`, else the config\'s runtime dir)' -r -F
complete -c pidward -n "__fish_pidward_using_subcommand check" -l json -d 'Print JSON'
complete -c pidward -n "__fish_pidward_using_subcommand check" -s h -l help -d 'Print help'
complete -c pidward -n "__fish_pidward_using_subcommand check" -s V -l version -d 'Print version'
complete -c pidward -n "__fish_pidward_using_subcommand status" -s c -l config -d 'The supervisor\'s config file (`run`, `check`, and to find a running supervisor\'s socket)' -r -F
complete -c pidward -n "__fish_pidward_using_subcommand status" -l socket -d 'The control socket (default: `$PIDWARD_SOCKET`, else the config\'s runtime dir)' -r -F
complete -c pidward -n "__fish_pidward_using_subcommand status" -l json -d 'Print JSON'
complete -c pidward -n "__fish_pidward_using_subcommand status" -s h -l help -d 'Print help'
complete -c pidward -n "__fish_pidward_using_subcommand status" -s V -l version -d 'Print version'
complete -c pidward -n "__fish_pidward_using_subcommand start" -s c -l config -d 'The supervisor\'s config file (`run`, `check`, and to find a running supervisor\'s socket)' -r -F
complete -c pidward -n "__fish_pidward_using_subcommand start" -l socket -d 'The control socket (default: `$PIDWARD_SOCKET`, else the config\'s runtime dir)' -r -F
complete -c pidward -n "__fish_pidward_using_subcommand start" -l all -d 'Every service'
complete -c pidward -n "__fish_pidward_using_subcommand start" -l no-wait -d 'Return at once'
complete -c pidward -n "__fish_pidward_using_subcommand start" -s h -l help -d 'Print help'
complete -c pidward -n "__fish_pidward_using_subcommand start" -s V -l version -d 'Print version'
complete -c pidward -n "__fish_pidward_using_subcommand stop" -s c -l config -d 'The supervisor\'s config file (`run`, `check`, and to find a running supervisor\'s socket)' -r -F
complete -c pidward -n "__fish_pidward_using_subcommand stop" -l socket -d 'The control socket (default: `$PIDWARD_SOCKET`, else the config\'s runtime dir)' -r -F
complete -c pidward -n "__fish_pidward_using_subcommand stop" -l all -d 'Every service'
complete -c pidward -n "__fish_pidward_using_subcommand stop" -l no-wait -d 'Return at once'
complete -c pidward -n "__fish_pidward_using_subcommand stop" -s h -l help -d 'Print help'
complete -c pidward -n "__fish_pidward_using_subcommand stop" -s V -l version -d 'Print version'
complete -c pidward -n "__fish_pidward_using_subcommand restart" -s c -l config -d 'The supervisor\'s config file (`run`, `check`, and to find a running supervisor\'s socket)' -r -F
complete -c pidward -n "__fish_pidward_using_subcommand restart" -l socket -d 'The control socket (default: `$PIDWARD_SOCKET`, else the config\'s runtime dir)' -r -F
complete -c pidward -n "__fish_pidward_using_subcommand restart" -l all -d 'Every service'
complete -c pidward -n "__fish_pidward_using_subcommand restart" -l no-wait -d 'Return at once'
complete -c pidward -n "__fish_pidward_using_subcommand restart" -s h -l help -d 'Print help'
complete -c pidward -n "__fish_pidward_using_subcommand restart" -s V -l version -d 'Print version'
complete -c pidward -n "__fish_pidward_using_subcommand signal" -s c -l config -d 'The supervisor\'s config file (`run`, `check`, and to find a running supervisor\'s socket)' -r -F
complete -c pidward -n "__fish_pidward_using_subcommand signal" -l socket -d 'The control socket (default: `$PIDWARD_SOCKET`, else the config\'s runtime dir)' -r -F
complete -c pidward -n "__fish_pidward_using_subcommand signal" -s h -l help -d 'Print help'
complete -c pidward -n "__fish_pidward_using_subcommand signal" -s V -l version -d 'Print version'
complete -c pidward -n "__fish_pidward_using_subcommand pid" -s c -l config -d 'The supervisor\'s config file (`run`, `check`, and to find a running supervisor\'s socket)' -r -F
complete -c pidward -n "__fish_pidward_using_subcommand pid" -l socket -d 'The control socket (default: `$PIDWARD_SOCKET`, else the config\'s runtime dir)' -r -F
complete -c pidward -n "__fish_pidward_using_subcommand pid" -l json -d 'Print JSON'
complete -c pidward -n "__fish_pidward_using_subcommand pid" -s h -l help -d 'Print help'
complete -c pidward -n "__fish_pidward_using_subcommand pid" -s V -l version -d 'Print version'
complete -c pidward -n "__fish_pidward_using_subcommand logs" -s n -l lines -d 'Lines of existing output to print first' -r
complete -c pidward -n "__fish_pidward_using_subcommand logs" -s c -l config -d 'The supervisor\'s config file (`run`, `check`, and to find a running supervisor\'s socket)' -r -F
complete -c pidward -n "__fish_pidward_using_subcommand logs" -l socket -d 'The control socket (default: `$PIDWARD_SOCKET`, else the config\'s runtime dir)' -r -F
complete -c pidward -n "__fish_pidward_using_subcommand logs" -s f -l follow -d 'Keep printing new output'
complete -c pidward -n "__fish_pidward_using_subcommand logs" -l stderr -d 'Standard error instead of standard output'
complete -c pidward -n "__fish_pidward_using_subcommand logs" -s h -l help -d 'Print help'
complete -c pidward -n "__fish_pidward_using_subcommand logs" -s V -l version -d 'Print version'
complete -c pidward -n "__fish_pidward_using_subcommand wait" -l for -d '`running` or `stopped`' -r -f -a "running\t''
stopped\t''"
complete -c pidward -n "__fish_pidward_using_subcommand wait" -l timeout -d 'Give up after this long (exit 1)' -r
complete -c pidward -n "__fish_pidward_using_subcommand wait" -s c -l config -d 'The supervisor\'s config file (`run`, `check`, and to find a running supervisor\'s socket)' -r -F
complete -c pidward -n "__fish_pidward_using_subcommand wait" -l socket -d 'The control socket (default: `$PIDWARD_SOCKET`, else the config\'s runtime dir)' -r -F
complete -c pidward -n "__fish_pidward_using_subcommand wait" -s h -l help -d 'Print help'
complete -c pidward -n "__fish_pidward_using_subcommand wait" -s V -l version -d 'Print version'
complete -c pidward -n "__fish_pidward_using_subcommand reload" -s c -l config -d 'The supervisor\'s config file (`run`, `check`, and to find a running supervisor\'s socket)' -r -F
complete -c pidward -n "__fish_pidward_using_subcommand reload" -l socket -d 'The control socket (default: `$PIDWARD_SOCKET`, else the config\'s runtime dir)' -r -F
complete -c pidward -n "__fish_pidward_using_subcommand reload" -l json -d 'Print JSON'
complete -c pidward -n "__fish_pidward_using_subcommand reload" -s h -l help -d 'Print help'
complete -c pidward -n "__fish_pidward_using_subcommand reload" -s V -l version -d 'Print version'
complete -c pidward -n "__fish_pidward_using_subcommand shutdown" -s c -l config -d 'The supervisor\'s config file (`run`, `check`, and to find a running supervisor\'s socket)' -r -F
complete -c pidward -n "__fish_pidward_using_subcommand shutdown" -l socket -d 'The control socket (default: `$PIDWARD_SOCKET`, else the config\'s runtime dir)' -r -F
complete -c pidward -n "__fish_pidward_using_subcommand shutdown" -s h -l help -d 'Print help'
complete -c pidward -n "__fish_pidward_using_subcommand shutdown" -s V -l version -d 'Print version'
complete -c pidward -n "__fish_pidward_using_subcommand lock" -l kind -d 'Lock kind: flock (kernel lock), soft (file existence), dir (mkdir), lease (heartbeat)' -r
complete -c pidward -n "__fish_pidward_using_subcommand lock" -s w -l wait -d 'Wait at most this long for the lock (500ms, 10s, 2m); default: as long as it takes' -r
complete -c pidward -n "__fish_pidward_using_subcommand lock" -l stale-after -d 'Break a lock whose record went unchanged this long, whoever holds it' -r
complete -c pidward -n "__fish_pidward_using_subcommand lock" -l ttl -d 'Lease time to live (lease kind); renewed every ttl/3' -r
complete -c pidward -n "__fish_pidward_using_subcommand lock" -l pidfile -d 'Write the command\'s PID here while it runs' -r -F
complete -c pidward -n "__fish_pidward_using_subcommand lock" -s E -l conflict-exit-code -d 'Exit code when the lock is busy or the wait runs out' -r
complete -c pidward -n "__fish_pidward_using_subcommand lock" -l label -d 'A label for the owner record (shown by `pidward holder`)' -r
complete -c pidward -n "__fish_pidward_using_subcommand lock" -s c -l config -d 'The supervisor\'s config file (`run`, `check`, and to find a running supervisor\'s socket)' -r -F
complete -c pidward -n "__fish_pidward_using_subcommand lock" -l socket -d 'The control socket (default: `$PIDWARD_SOCKET`, else the config\'s runtime dir)' -r -F
complete -c pidward -n "__fish_pidward_using_subcommand lock" -s n -l no-wait -d 'Fail at once (exit 75) if the lock is busy'
complete -c pidward -n "__fish_pidward_using_subcommand lock" -s s -l shared -d 'Take the lock shared (flock only): many shared holders, or one exclusive'
complete -c pidward -n "__fish_pidward_using_subcommand lock" -s o -l close -d 'Do not let the command inherit the lock descriptor (flock): the lock ends with pidward'
complete -c pidward -n "__fish_pidward_using_subcommand lock" -s h -l help -d 'Print help'
complete -c pidward -n "__fish_pidward_using_subcommand lock" -s V -l version -d 'Print version'
complete -c pidward -n "__fish_pidward_using_subcommand holder" -l kind -d 'The lock kind, when it cannot be told from what is on disk' -r
complete -c pidward -n "__fish_pidward_using_subcommand holder" -s c -l config -d 'The supervisor\'s config file (`run`, `check`, and to find a running supervisor\'s socket)' -r -F
complete -c pidward -n "__fish_pidward_using_subcommand holder" -l socket -d 'The control socket (default: `$PIDWARD_SOCKET`, else the config\'s runtime dir)' -r -F
complete -c pidward -n "__fish_pidward_using_subcommand holder" -l json -d 'Print JSON'
complete -c pidward -n "__fish_pidward_using_subcommand holder" -s h -l help -d 'Print help'
complete -c pidward -n "__fish_pidward_using_subcommand holder" -s V -l version -d 'Print version'
complete -c pidward -n "__fish_pidward_using_subcommand unlock" -l signal -d 'The signal to send the holder' -r
complete -c pidward -n "__fish_pidward_using_subcommand unlock" -l wait -d 'How long to wait for the lock to become free' -r
complete -c pidward -n "__fish_pidward_using_subcommand unlock" -s c -l config -d 'The supervisor\'s config file (`run`, `check`, and to find a running supervisor\'s socket)' -r -F
complete -c pidward -n "__fish_pidward_using_subcommand unlock" -l socket -d 'The control socket (default: `$PIDWARD_SOCKET`, else the config\'s runtime dir)' -r -F
complete -c pidward -n "__fish_pidward_using_subcommand unlock" -l force -d 'Remove a soft/dir/lease lock whose holder cannot be signalled (another host)'
complete -c pidward -n "__fish_pidward_using_subcommand unlock" -s h -l help -d 'Print help'
complete -c pidward -n "__fish_pidward_using_subcommand unlock" -s V -l version -d 'Print version'
complete -c pidward -n "__fish_pidward_using_subcommand pidfile; and not __fish_seen_subcommand_from check help" -s c -l config -d 'The supervisor\'s config file (`run`, `check`, and to find a running supervisor\'s socket)' -r -F
complete -c pidward -n "__fish_pidward_using_subcommand pidfile; and not __fish_seen_subcommand_from check help" -l socket -d 'The control socket (default: `$PIDWARD_SOCKET`, else the config\'s runtime dir)' -r -F
complete -c pidward -n "__fish_pidward_using_subcommand pidfile; and not __fish_seen_subcommand_from check help" -s h -l help -d 'Print help'
complete -c pidward -n "__fish_pidward_using_subcommand pidfile; and not __fish_seen_subcommand_from check help" -s V -l version -d 'Print version'
complete -c pidward -n "__fish_pidward_using_subcommand pidfile; and not __fish_seen_subcommand_from check help" -f -a "check" -d 'Check a PID file: exit 0 running, 1 stale, 3 missing, 4 invalid (LSB codes)'
complete -c pidward -n "__fish_pidward_using_subcommand pidfile; and not __fish_seen_subcommand_from check help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c pidward -n "__fish_pidward_using_subcommand pidfile; and __fish_seen_subcommand_from check" -s c -l config -d 'The supervisor\'s config file (`run`, `check`, and to find a running supervisor\'s socket)' -r -F
complete -c pidward -n "__fish_pidward_using_subcommand pidfile; and __fish_seen_subcommand_from check" -l socket -d 'The control socket (default: `$PIDWARD_SOCKET`, else the config\'s runtime dir)' -r -F
complete -c pidward -n "__fish_pidward_using_subcommand pidfile; and __fish_seen_subcommand_from check" -l clean -d 'Remove a stale file (a reused PID only when pidward wrote the file)'
complete -c pidward -n "__fish_pidward_using_subcommand pidfile; and __fish_seen_subcommand_from check" -l json -d 'Print JSON'
complete -c pidward -n "__fish_pidward_using_subcommand pidfile; and __fish_seen_subcommand_from check" -s h -l help -d 'Print help'
complete -c pidward -n "__fish_pidward_using_subcommand pidfile; and __fish_seen_subcommand_from check" -s V -l version -d 'Print version'
complete -c pidward -n "__fish_pidward_using_subcommand pidfile; and __fish_seen_subcommand_from help" -f -a "check" -d 'Check a PID file: exit 0 running, 1 stale, 3 missing, 4 invalid (LSB codes)'
complete -c pidward -n "__fish_pidward_using_subcommand pidfile; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c pidward -n "__fish_pidward_using_subcommand completions" -s c -l config -d 'The supervisor\'s config file (`run`, `check`, and to find a running supervisor\'s socket)' -r -F
complete -c pidward -n "__fish_pidward_using_subcommand completions" -l socket -d 'The control socket (default: `$PIDWARD_SOCKET`, else the config\'s runtime dir)' -r -F
complete -c pidward -n "__fish_pidward_using_subcommand completions" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pidward -n "__fish_pidward_using_subcommand completions" -s V -l version -d 'Print version'
complete -c pidward -n "__fish_pidward_using_subcommand man" -s c -l config -d 'The supervisor\'s config file (`run`, `check`, and to find a running supervisor\'s socket)' -r -F
complete -c pidward -n "__fish_pidward_using_subcommand man" -l socket -d 'The control socket (default: `$PIDWARD_SOCKET`, else the config\'s runtime dir)' -r -F
complete -c pidward -n "__fish_pidward_using_subcommand man" -s h -l help -d 'Print help'
complete -c pidward -n "__fish_pidward_using_subcommand man" -s V -l version -d 'Print version'
complete -c pidward -n "__fish_pidward_using_subcommand help; and not __fish_seen_subcommand_from run check status start stop restart signal pid logs wait reload shutdown lock holder unlock pidfile completions man help" -f -a "run" -d 'Run the supervisor: start the services of a config and keep them running'
complete -c pidward -n "__fish_pidward_using_subcommand help; and not __fish_seen_subcommand_from run check status start stop restart signal pid logs wait reload shutdown lock holder unlock pidfile completions man help" -f -a "check" -d 'Validate a config and print a summary (exit 2 on any error)'
complete -c pidward -n "__fish_pidward_using_subcommand help; and not __fish_seen_subcommand_from run check status start stop restart signal pid logs wait reload shutdown lock holder unlock pidfile completions man help" -f -a "status" -d 'Show services: name, state, pid, uptime, restarts, last exit (exit 3 unless all RUNNING)'
complete -c pidward -n "__fish_pidward_using_subcommand help; and not __fish_seen_subcommand_from run check status start stop restart signal pid logs wait reload shutdown lock holder unlock pidfile completions man help" -f -a "start" -d 'Start services; returns once they are RUNNING (or failed)'
complete -c pidward -n "__fish_pidward_using_subcommand help; and not __fish_seen_subcommand_from run check status start stop restart signal pid logs wait reload shutdown lock holder unlock pidfile completions man help" -f -a "stop" -d 'Stop services; returns once they stopped'
complete -c pidward -n "__fish_pidward_using_subcommand help; and not __fish_seen_subcommand_from run check status start stop restart signal pid logs wait reload shutdown lock holder unlock pidfile completions man help" -f -a "restart" -d 'Restart services; returns once they run again'
complete -c pidward -n "__fish_pidward_using_subcommand help; and not __fish_seen_subcommand_from run check status start stop restart signal pid logs wait reload shutdown lock holder unlock pidfile completions man help" -f -a "signal" -d 'Send a signal to services\' main processes'
complete -c pidward -n "__fish_pidward_using_subcommand help; and not __fish_seen_subcommand_from run check status start stop restart signal pid logs wait reload shutdown lock holder unlock pidfile completions man help" -f -a "pid" -d 'Print a service\'s PID (no name: the supervisor\'s)'
complete -c pidward -n "__fish_pidward_using_subcommand help; and not __fish_seen_subcommand_from run check status start stop restart signal pid logs wait reload shutdown lock holder unlock pidfile completions man help" -f -a "logs" -d 'Print a service\'s captured output'
complete -c pidward -n "__fish_pidward_using_subcommand help; and not __fish_seen_subcommand_from run check status start stop restart signal pid logs wait reload shutdown lock holder unlock pidfile completions man help" -f -a "wait" -d 'Wait until services are running or stopped'
complete -c pidward -n "__fish_pidward_using_subcommand help; and not __fish_seen_subcommand_from run check status start stop restart signal pid logs wait reload shutdown lock holder unlock pidfile completions man help" -f -a "reload" -d 'Reload the config (as SIGHUP does); prints what changed'
complete -c pidward -n "__fish_pidward_using_subcommand help; and not __fish_seen_subcommand_from run check status start stop restart signal pid logs wait reload shutdown lock holder unlock pidfile completions man help" -f -a "shutdown" -d 'Stop every service and the supervisor; returns once it has exited'
complete -c pidward -n "__fish_pidward_using_subcommand help; and not __fish_seen_subcommand_from run check status start stop restart signal pid logs wait reload shutdown lock holder unlock pidfile completions man help" -f -a "lock" -d 'Run a command while holding a lock (single-instance guard for cron jobs and scripts)'
complete -c pidward -n "__fish_pidward_using_subcommand help; and not __fish_seen_subcommand_from run check status start stop restart signal pid logs wait reload shutdown lock holder unlock pidfile completions man help" -f -a "holder" -d 'Show who holds a lock: exit 0 held, 1 free, 2 error'
complete -c pidward -n "__fish_pidward_using_subcommand help; and not __fish_seen_subcommand_from run check status start stop restart signal pid logs wait reload shutdown lock holder unlock pidfile completions man help" -f -a "unlock" -d 'Ask a lock\'s holder to let go (signal it, then wait until the lock is free)'
complete -c pidward -n "__fish_pidward_using_subcommand help; and not __fish_seen_subcommand_from run check status start stop restart signal pid logs wait reload shutdown lock holder unlock pidfile completions man help" -f -a "pidfile" -d 'PID file tools'
complete -c pidward -n "__fish_pidward_using_subcommand help; and not __fish_seen_subcommand_from run check status start stop restart signal pid logs wait reload shutdown lock holder unlock pidfile completions man help" -f -a "completions" -d 'Print a shell completion script (bash, zsh or fish) to standard output'
complete -c pidward -n "__fish_pidward_using_subcommand help; and not __fish_seen_subcommand_from run check status start stop restart signal pid logs wait reload shutdown lock holder unlock pidfile completions man help" -f -a "man" -d 'Print the man page (roff) to standard output: `pidward man | man -l -`'
complete -c pidward -n "__fish_pidward_using_subcommand help; and not __fish_seen_subcommand_from run check status start stop restart signal pid logs wait reload shutdown lock holder unlock pidfile completions man help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c pidward -n "__fish_pidward_using_subcommand help; and __fish_seen_subcommand_from pidfile" -f -a "check" -d 'Check a PID file: exit 0 running, 1 stale, 3 missing, 4 invalid (LSB codes)'

#!/usr/bin/env bash
# pidward under a real systemd: boots a minimal Debian in systemd-nspawn, installs the .deb that
# `cargo deb` built, and checks through systemctl what the unit promises: start reaches active
# only with READY=1, a service runs with its PID file, reload applies a config change, a kill -9
# of pidward is recovered by Restart=on-failure with the services adopted (same PIDs, no
# duplicates), a package upgrade leaves pidward and its services running, and so does
# `systemctl kill --kill-whom=main -s KILL` (the README's way to put a new binary to work), stop
# leaves no PID or lock file behind, the template unit runs a second supervisor, and removal
# stops them all.
#
#   tests/systemd/run.sh [PATH/TO/pidward_*.deb]     (default: the newest in target/debian/,
#                                                    built with `cargo deb` if there is none)
#
# Needs root. The Debian root is made once with debootstrap and cached in
# $PIDWARD_TEST_CACHE (default /var/cache/pidward-tests); each run boots a throw-away overlay
# of it, so the cache stays pristine. The container is stopped and the overlay removed on every
# exit path. A machine that cannot run containers (no namespaces, no mounts) prints SKIP and
# exits 0. Last line: "N passed, M failed"; the exit code is non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
export DEBIAN_FRONTEND=noninteractive LC_ALL=C

CACHE=${PIDWARD_TEST_CACHE:-/var/cache/pidward-tests}
SUITE=${PIDWARD_TEST_SUITE:-$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")}
SUITE=${SUITE:-bookworm}
MIRROR=${PIDWARD_TEST_MIRROR:-http://deb.debian.org/debian}
# dbus: so that logind and friends start and the container boots to "running", not "degraded".
INCLUDE=systemd,systemd-sysv,init-system-helpers,dbus
ROOT=$CACHE/$SUITE-root
STAMP=$CACHE/$SUITE-root.ok
T0=$SECONDS

skip() {
	echo "SKIP: tests/systemd: $*"
	echo "0 passed, 0 failed, 1 skipped"
	exit 0
}
log() { echo "[$((SECONDS - T0))s] $*"; }

# --- Can this machine run a container at all? (fast checks first) ---------------------------
[ "$(id -u)" = 0 ] || skip "needs root (systemd-nspawn, debootstrap, mounts)"
[ "$(uname -s)" = Linux ] || skip "not Linux"
command -v apt-get >/dev/null || skip "no apt-get to install debootstrap and systemd-container"
if ! unshare --mount --pid --fork --uts --ipc --net true 2>/dev/null; then
	skip "this sandbox forbids mount/PID/network namespaces (unshare failed)"
fi
if ! unshare --mount sh -c 'mount -t tmpfs none /mnt' 2>/dev/null; then
	skip "this sandbox forbids mounting file systems"
fi
if [ -z "$(ls -A /sys/fs/cgroup 2>/dev/null)" ]; then
	skip "no cgroup file system mounted at /sys/fs/cgroup"
fi

need=()
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v systemd-nspawn >/dev/null || need+=(systemd-container)
if [ ${#need[@]} -gt 0 ]; then
	log "installing ${need[*]}"
	apt-get update -qq
	apt-get install -y -qq "${need[@]}" >/dev/null
fi

# --- The package ------------------------------------------------------------------------------
DEB=${1:-}
if [ -z "$DEB" ]; then
	DEB=$(ls -t target/debian/pidward_*.deb 2>/dev/null | head -n 1 || true)
	if [ -z "$DEB" ]; then
		log "no package in target/debian/: cargo deb"
		cargo deb
		DEB=$(ls -t target/debian/pidward_*.deb | head -n 1)
	fi
fi
[ -f "$DEB" ] || { echo "tests/systemd: no such package: $DEB" >&2; exit 2; }
log "package: $DEB"

# --- The cached Debian root -------------------------------------------------------------------
want_stamp="$SUITE $MIRROR --variant=minbase --include=$INCLUDE"
if [ -d "$ROOT" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$want_stamp" ]; then
	log "cached root: $ROOT"
else
	log "debootstrap $want_stamp (once; cached in $CACHE)"
	mkdir -p "$CACHE"
	rm -rf "$ROOT" "$ROOT.tmp" "$STAMP"
	t=$SECONDS
	if ! debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$ROOT.tmp" "$MIRROR" \
		>"$CACHE/debootstrap.log" 2>&1; then
		tail -n 20 "$CACHE/debootstrap.log" >&2
		rm -rf "$ROOT.tmp"
		echo "tests/systemd: debootstrap failed (log: $CACHE/debootstrap.log)" >&2
		exit 1
	fi
	echo pidward-test >"$ROOT.tmp/etc/hostname"
	# An empty machine-id: systemd makes a transient one at each boot (no first-boot setup).
	: >"$ROOT.tmp/etc/machine-id"
	rm -rf "$ROOT.tmp/var/cache/apt/archives/"*.deb
	mv "$ROOT.tmp" "$ROOT"
	echo "$want_stamp" >"$STAMP"
	log "debootstrap took $((SECONDS - t))s"
fi

# --- A throw-away overlay of it, booted -------------------------------------------------------
RUN=$(mktemp -d /var/tmp/pidward-systemd-test.XXXXXX)
MERGED=$RUN/merged
NSPAWN_PID=
LEADER=
MOUNTED=

cleanup() {
	local rc=$?
	set +e
	if [ -n "$NSPAWN_PID" ] && kill -0 "$NSPAWN_PID" 2>/dev/null; then
		# nspawn turns SIGTERM into an orderly poweroff of the container; SIGKILL after 20 s.
		kill -TERM "$NSPAWN_PID"
		for _ in $(seq 100); do
			kill -0 "$NSPAWN_PID" 2>/dev/null || break
			sleep 0.2
		done
		kill -KILL "$NSPAWN_PID" 2>/dev/null
		wait "$NSPAWN_PID" 2>/dev/null
	fi
	if [ -n "$MOUNTED" ]; then
		umount "$MERGED" 2>/dev/null || umount -l "$MERGED"
	fi
	rm -rf "$RUN"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

mkdir -p "$RUN/upper" "$RUN/work" "$MERGED"
if mount -t overlay overlay -o "lowerdir=$ROOT,upperdir=$RUN/upper,workdir=$RUN/work" "$MERGED" 2>/dev/null; then
	MOUNTED=1
else
	log "no overlayfs here: copying the root"
	rmdir "$MERGED"
	cp -a "$ROOT" "$MERGED"
fi
cp "$DEB" "$MERGED/root/pidward.deb"

t=$SECONDS
systemd-nspawn --quiet --register=no --keep-unit --private-network --boot \
	--machine="pidward-test-$$" --directory="$MERGED" --console=read-only \
	>"$RUN/console.log" 2>&1 </dev/null &
NSPAWN_PID=$!

# The container's PID 1: the descendant of nspawn that is PID 1 in its own PID namespace.
find_leader() {
	local p todo=("$NSPAWN_PID")
	while [ ${#todo[@]} -gt 0 ]; do
		p=${todo[0]}
		todo=("${todo[@]:1}")
		if [ "$p" != "$NSPAWN_PID" ] &&
			awk '/^NSpid:/ { exit !(NF >= 3 && $NF == 1) }' "/proc/$p/status" 2>/dev/null; then
			echo "$p"
			return 0
		fi
		# shellcheck disable=SC2207
		todo+=($(cat /proc/"$p"/task/*/children 2>/dev/null))
	done
	return 1
}

boot_failed() {
	echo "--- container console (last 30 lines) ---"
	tail -n 30 "$RUN/console.log" 2>/dev/null | sed 's/\x1b\[[0-9;]*[A-Za-z]//g'
	echo "---"
}

for _ in $(seq 150); do
	kill -0 "$NSPAWN_PID" 2>/dev/null || break
	LEADER=$(find_leader) && break
	sleep 0.2
done
if [ -z "$LEADER" ]; then
	boot_failed
	skip "systemd-nspawn could not start a container here (see its output above)"
fi

# Runs a command inside the container (all its namespaces), with a clean environment.
c() {
	nsenter --target "$LEADER" --all -- \
		env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"
}

# As `c`, killed after $1 seconds (systemctl start/stop/reload wait on the unit's own timeouts).
ct() {
	local secs=$1
	shift
	timeout "$secs" nsenter --target "$LEADER" --all -- \
		env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"
}

# Booted: systemd answers and has finished starting up ("running", or "degraded" if some
# unrelated unit failed in the container).
state=
for _ in $(seq 600); do
	kill -0 "$NSPAWN_PID" 2>/dev/null || break
	state=$(ct 5 systemctl is-system-running 2>/dev/null || true)
	case $state in running | degraded) break ;; esac
	sleep 0.2
done
if ! kill -0 "$NSPAWN_PID" 2>/dev/null; then
	boot_failed
	skip "the container died while booting (see its console above)"
fi
case $state in
running) ;;
degraded) log "failed units in the container: $(c systemctl --failed --plain --no-legend | tr '\n' ' ')" ;;
*)
	boot_failed
	echo "tests/systemd: the container did not finish booting in 120 s (state: ${state:-none})" >&2
	exit 1
	;;
esac
log "container booted in $((SECONDS - t))s: $state"

# --- Checks -----------------------------------------------------------------------------------
PASS=0
FAIL=0
pass() {
	PASS=$((PASS + 1))
	echo "ok - $1"
}
fail() {
	FAIL=$((FAIL + 1))
	echo "FAIL - $1"
	shift
	local line
	for line in "$@"; do
		printf '    %s\n' "$line"
	done
	c systemctl status pidward --no-pager --lines=20 2>&1 | sed 's/^/    | /' || true
}
# Polls "$@" for up to $1 seconds.
within() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.2
	done
}
prop() { c systemctl show --property="$1" --value "${2:-pidward.service}"; }
pidof_file() { { c cat "$1" 2>/dev/null || true; } | tr -d '\n'; }
alive() { [ -n "$1" ] && c test -d "/proc/$1"; }
comm_of() { c cat "/proc/$1/comm" 2>/dev/null; }
# How many processes named $1 run in the container.
count_comm() { c sh -c 'n=0; for f in /proc/[0-9]*/comm; do [ "$(cat "$f" 2>/dev/null)" = "$1" ] && n=$((n+1)); done; echo $n' sh "$1"; }
active() { [ "$(prop ActiveState "${1:-pidward.service}")" = active ]; }
write_config() { c sh -c 'cat > "$1"' sh "$1"; }

CONFIG='[supervisor]
shutdown_timeout = "10s"

[services.sleeper]
command = ["/bin/sleep", "infinity"]
start_secs = "1s"
stop_timeout = "3s"
'
SECOND='
[services.second]
command = ["/bin/sleep", "infinity"]
start_secs = "1s"
stop_timeout = "3s"
'

# 1. Install.
t=$SECONDS
if out=$(c dpkg -i /root/pidward.deb 2>&1) &&
	[ "$(c systemctl is-enabled pidward 2>&1)" = enabled ] &&
	[ "$(prop ActiveState)" = inactive ] &&
	c test -x /usr/bin/pidward && c test -f /etc/pidward/pidward.toml; then
	pass "dpkg -i installs the package, enables pidward.service and does not start it"
else
	fail "dpkg -i" "$out" "is-enabled: $(c systemctl is-enabled pidward 2>&1)" "state: $(prop ActiveState)"
fi

# 2. The packaged config (no services) starts and stops cleanly as it is.
if out=$(ct 60 systemctl start pidward 2>&1) && active && [ "$(prop StatusText)" = "no services" ] &&
	out=$(ct 60 systemctl stop pidward 2>&1) && [ "$(prop Result)" = success ]; then
	pass "the packaged /etc/pidward/pidward.toml starts (READY, no services) and stops"
else
	fail "packaged config" "$out" "ActiveState=$(prop ActiveState) StatusText=$(prop StatusText)"
	ct 30 systemctl stop pidward >/dev/null 2>&1 || true
fi

# 3. Start: systemctl returns once READY=1 arrived (Type=notify).
write_config /etc/pidward/pidward.toml <<<"$CONFIG"
t=$SECONDS
if out=$(ct 60 systemctl start pidward 2>&1); then
	main=$(prop MainPID)
	status=$(prop StatusText)
	if active && [ "$(prop SubState)" = running ] && [ "$main" != 0 ] &&
		[ "$(pidof_file /run/pidward/pidward.pid)" = "$main" ] && [[ $status == *"1 running"* ]]; then
		pass "systemctl start reaches active with READY ($((SECONDS - t))s; status: $status)"
	else
		fail "start: not active/ready" "MainPID=$main pidward.pid=$(pidof_file /run/pidward/pidward.pid) StatusText=$status"
	fi
else
	fail "systemctl start pidward" "$out"
fi

# 4. The service runs with its PID file and lock, under the supervisor that systemd tracks.
S1=$(pidof_file /run/pidward/sleeper.pid)
if alive "$S1" && [ "$(comm_of "$S1")" = sleep ] && c test -f /run/pidward/sleeper.lock &&
	c pidward holder /run/pidward/sleeper.lock >/dev/null &&
	[ "$(c pidward pid sleeper 2>&1)" = "$S1" ] &&
	! c sh -c 'tr "\0" "\n" < /proc/$1/environ | grep -q "^NOTIFY_SOCKET="' sh "$S1"; then
	pass "the service runs (PID $S1) with /run/pidward/sleeper.pid and a held sleeper.lock"
else
	fail "service PID file" "sleeper.pid=$S1 comm=$(comm_of "$S1")" \
		"ls /run/pidward: $(c ls /run/pidward 2>&1 | tr '\n' ' ')" "pidward pid sleeper: $(c pidward pid sleeper 2>&1)"
fi

# 5. Reload applies a config change: the added service starts, the unchanged one is untouched.
write_config /etc/pidward/pidward.toml <<<"$CONFIG$SECOND"
if out=$(ct 60 systemctl reload pidward 2>&1) &&
	within 15 c test -s /run/pidward/second.pid; then
	S2=$(pidof_file /run/pidward/second.pid)
	if alive "$S2" && [ "$(pidof_file /run/pidward/sleeper.pid)" = "$S1" ] && active &&
		within 10 eval '[[ $(prop StatusText) == *"2 running"* ]]'; then
		pass "systemctl reload applies the change (second service PID $S2; sleeper untouched)"
	else
		fail "reload: state after" "second.pid=$S2 sleeper.pid=$(pidof_file /run/pidward/sleeper.pid) (was $S1)" \
			"ActiveState=$(prop ActiveState) StatusText=$(prop StatusText)"
	fi
else
	S2=
	fail "systemctl reload pidward" "$out" "ls /run/pidward: $(c ls /run/pidward 2>&1 | tr '\n' ' ')"
fi

# 6. kill -9 of pidward: Restart=on-failure, and the new pidward adopts the running services.
main=$(prop MainPID)
restarts=$(prop NRestarts)
t=$SECONDS
c sh -c 'kill -9 "$1"' sh "$main" || true
new_main() {
	local m
	m=$(prop MainPID)
	[ "$m" != 0 ] && [ "$m" != "$main" ] && active
}
if within 30 new_main; then
	main2=$(prop MainPID)
	sleeps=$(count_comm sleep)
	if [ "$(pidof_file /run/pidward/sleeper.pid)" = "$S1" ] && alive "$S1" &&
		[ "$(pidof_file /run/pidward/second.pid)" = "$S2" ] && alive "$S2" &&
		[ "$sleeps" = 2 ] && [ "$(prop NRestarts)" -gt "$restarts" ] &&
		[ "$(pidof_file /run/pidward/pidward.pid)" = "$main2" ] &&
		c pidward status >/dev/null; then
		pass "kill -9 of pidward (PID $main): restarted as PID $main2 in $((SECONDS - t))s, services adopted (PIDs $S1 $S2, $sleeps sleep processes)"
	else
		fail "kill -9: adoption" "sleeper.pid=$(pidof_file /run/pidward/sleeper.pid) (was $S1) second.pid=$(pidof_file /run/pidward/second.pid) (was $S2)" \
			"sleep processes: $sleeps; NRestarts=$(prop NRestarts) (was $restarts)" \
			"pidward status: $(c pidward status 2>&1 | tr '\n' ';')"
	fi
else
	fail "kill -9: no restart within 30 s" "MainPID=$(prop MainPID) ActiveState=$(prop ActiveState) Result=$(prop Result)"
fi

# 7. A package upgrade (here a reinstall: prerm upgrade, postrm upgrade, postinst configure)
#    neither stops nor restarts pidward.
main=$(prop MainPID)
if out=$(c dpkg -i --force-confold /root/pidward.deb 2>&1) && active &&
	[ "$(prop MainPID)" = "$main" ] && alive "$S1" && [ "$(pidof_file /run/pidward/sleeper.pid)" = "$S1" ]; then
	pass "a package upgrade leaves pidward (PID $main) and its services running"
else
	fail "upgrade restarted or stopped pidward" "$out" "MainPID=$(prop MainPID) (was $main) sleeper=$(pidof_file /run/pidward/sleeper.pid) (was $S1)"
fi

# 8. The README's way to put the new binary to work without stopping any service: SIGKILL the
#    main process only; Restart=on-failure starts the new binary, which adopts the services.
main=$(prop MainPID)
out=$(ct 30 systemctl kill --kill-whom=main --signal=KILL pidward 2>&1) || true
if within 30 new_main && [ "$(pidof_file /run/pidward/sleeper.pid)" = "$S1" ] && alive "$S1" &&
	[ "$(count_comm sleep)" = 2 ]; then
	pass "systemctl kill --kill-whom=main -s KILL: pidward restarted as PID $(prop MainPID), services kept (PID $S1)"
else
	fail "systemctl kill --kill-whom=main" "$out" "MainPID=$(prop MainPID) (was $main) sleeper=$(pidof_file /run/pidward/sleeper.pid) (was $S1)" \
		"sleep processes: $(count_comm sleep)"
fi

# 9. Stop: every service stopped, no PID or lock file left, the unit inactive (not failed).
t=$SECONDS
if out=$(ct 90 systemctl stop pidward 2>&1); then
	left=$(c find /run/pidward \( -name '*.pid' -o -name '*.lock' \) 2>&1 | tr '\n' ' ')
	sleeps=$(count_comm sleep)
	if [ -z "$left" ] && [ "$sleeps" = 0 ] && [ "$(prop ActiveState)" = inactive ] &&
		[ "$(prop Result)" = success ]; then
		pass "systemctl stop ($((SECONDS - t))s) leaves no PID or lock file and no service behind"
	else
		fail "stop left something" "files: $left" "sleep processes: $sleeps" \
			"ActiveState=$(prop ActiveState) Result=$(prop Result)"
	fi
else
	fail "systemctl stop pidward" "$out"
fi

# 10. The template: pidward@alt runs /etc/pidward/alt.toml in /run/pidward-alt.
write_config /etc/pidward/alt.toml <<<"$CONFIG"
if out=$(ct 60 systemctl start pidward@alt 2>&1) && active pidward@alt.service &&
	alive "$(pidof_file /run/pidward-alt/sleeper.pid)" &&
	[ "$(pidof_file /run/pidward-alt/pidward.pid)" = "$(prop MainPID pidward@alt.service)" ]; then
	pass "pidward@alt.service runs /etc/pidward/alt.toml in /run/pidward-alt"
else
	fail "pidward@alt" "$out" "ls /run/pidward-alt: $(c ls /run/pidward-alt 2>&1 | tr '\n' ' ')"
fi

# 11. Removal stops pidward and every instance, with their services.
ct 60 systemctl start pidward >/dev/null 2>&1 || true
if out=$(c dpkg --purge pidward 2>&1) && [ "$(prop ActiveState)" != active ] &&
	[ "$(prop ActiveState pidward@alt.service)" != active ] && [ "$(count_comm sleep)" = 0 ] &&
	! c test -e /usr/bin/pidward && ! c test -e /etc/pidward/pidward.toml; then
	pass "dpkg --purge stops pidward and pidward@alt and their services, and removes the files"
else
	fail "purge" "$out" "pidward: $(prop ActiveState) pidward@alt: $(prop ActiveState pidward@alt.service)" \
		"sleep processes: $(count_comm sleep)"
fi

log "checks done"
echo "$PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]

#!/usr/bin/env bash
# CI, packaging part (called by .ci/run, as root): build the .deb with a plain `cargo deb`,
# install it with dpkg, check its files, conffiles, maintainer scripts and `pidward --version`,
# run `systemd-analyze verify` on every unit while the package is installed, purge it, then run
# the real-systemd test (tests/systemd/run.sh; it prints SKIP where containers cannot run).
# Idempotent; leaves the machine as it found it, but for the cached cargo-deb binary, the
# debootstrap and systemd-container packages and the cached test root in /var/cache/pidward-tests.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive CARGO_TERM_COLOR=never

PASS=0
FAIL=0
check() { # check DESCRIPTION COMMAND...: runs COMMAND, counts and prints the outcome.
	local what=$1
	shift
	if "$@"; then
		PASS=$((PASS + 1))
		echo "ok - packaging: $what"
	else
		FAIL=$((FAIL + 1))
		echo "FAIL - packaging: $what"
	fi
}

# --- cargo-deb (kept in ~/.cargo/bin between runs) --------------------------------------------
if ! cargo deb --version >/dev/null 2>&1; then
	cargo install cargo-deb --locked --quiet
fi
cargo deb --version

# --- Build: a plain `cargo deb`, no pre-step --------------------------------------------------
rm -f target/debian/pidward_*.deb target/debian/pidward-dbgsym_*.ddeb
cargo deb
DEB=$(ls -t target/debian/pidward_*.deb | head -n 1)
echo "built $DEB"

# --- Install, check, purge --------------------------------------------------------------------
# A marker tells a pidward installed by an interrupted earlier run of this script (purged
# again) from one the machine's owner installed (left alone: the dpkg checks are skipped).
MARKER=/var/cache/pidward-tests/dpkg-installed-by-ci
present() { dpkg-query -W -f='${Status}' pidward 2>/dev/null | grep -qv ' not-installed$'; }
if present && [ -e "$MARKER" ]; then
	dpkg --purge pidward >/dev/null
fi
rm -f "$MARKER"

if present; then
	echo "SKIP - packaging: a pidward package that CI did not install is present; dpkg checks skipped"
else
	mkdir -p "$(dirname "$MARKER")"
	: >"$MARKER"
	purge() {
		dpkg --purge pidward >/dev/null 2>&1 || true
		rm -f "$MARKER"
	}
	trap purge EXIT

	check "dpkg -i installs $DEB" dpkg -i "$DEB"

	files=(
		/usr/bin/pidward
		/lib/systemd/system/pidward.service
		/lib/systemd/system/pidward@.service
		/etc/pidward/pidward.toml
		/etc/pidward/conf.d/README
		/usr/share/man/man1/pidward.1.gz
		/usr/share/bash-completion/completions/pidward
		/usr/share/zsh/vendor-completions/_pidward
		/usr/share/fish/vendor_completions.d/pidward.fish
		/usr/share/doc/pidward/README.md
		/usr/share/doc/pidward/copyright
		/usr/share/doc/pidward/examples/override.conf.example
	)
	missing=()
	for f in "${files[@]}"; do
		[ -e "$f" ] || missing+=("$f")
	done
	check "every file is in place${missing:+ (missing: ${missing[*]})}" [ ${#missing[@]} = 0 ]
	check "/etc/pidward/conf.d/ is a directory" [ -d /etc/pidward/conf.d ]
	conffiles=$(dpkg-query -W -f='${Conffiles}' pidward)
	check "/etc/pidward/pidward.toml is a conffile" grep -q '^ /etc/pidward/pidward.toml ' <<<"$conffiles"

	version=$(pidward --version)
	check "pidward --version runs ($version)" [ "$version" = "pidward $(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)" ]
	check "the packaged config is valid" pidward check -c /etc/pidward/pidward.toml
	check "the installed man page is the committed one" cmp -s <(zcat /usr/share/man/man1/pidward.1.gz) packaging/man/pidward.1
	check "the installed bash completion is the committed one" cmp -s /usr/share/bash-completion/completions/pidward packaging/completions/pidward.bash
	check "the bash completion loads" bash -c 'source /usr/share/bash-completion/completions/pidward && complete -p pidward >/dev/null'
	check "pidward.service is enabled for the next boot" test -L /etc/systemd/system/multi-user.target.wants/pidward.service

	# An upgrade must not stop or restart pidward: no maintainer script may start, restart or
	# try-restart it, and prerm may stop it only on "remove".
	ctl=$(mktemp -d)
	dpkg-deb --control "$DEB" "$ctl"
	check "no maintainer script starts or restarts pidward" \
		bash -c '! grep -Eq "(deb-systemd-invoke|systemctl)[^#]*(start|restart|try-restart|reload-or-restart)" "$1"/postinst "$1"/postrm "$1"/preinst 2>/dev/null' sh "$ctl"
	# Every stop in prerm sits right under an `if … "$1" = remove` line.
	check "prerm stops pidward only on remove" awk '
		/(deb-systemd-invoke|systemctl)[^#]* stop / { stops++; if (prev !~ /"\$1" = remove/) bad++ }
		{ prev = $0 }
		END { exit !(stops > 0 && bad == 0) }' "$ctl/prerm"
	rm -rf "$ctl"

	# systemd-analyze verify, with the binary and the man page installed (it checks both). It
	# exits 0 on mere warnings (an unknown key, a key in the wrong section): any output fails.
	man_opt=--man=yes
	command -v man >/dev/null || man_opt=--man=no
	verify() {
		local out
		out=$(systemd-analyze verify "$man_opt" "$1" 2>&1) && [ -z "$out" ] && return 0
		printf '    %s\n' "$out"
		return 1
	}
	for unit in systemd/*.service; do
		check "systemd-analyze verify $unit" verify "$unit"
	done
	# The drop-in example, every setting uncommented, merged into pidward.service's [Service].
	vdir=$(mktemp -d)
	sed -n 's/^#\([A-Za-z]*=\)/\1/p' systemd/pidward.service.d/override.conf.example >"$vdir/override"
	awk -v extra="$vdir/override" '
		{ print }
		/^\[Service\]/ { while ((getline line < extra) > 0) print line }' \
		systemd/pidward.service >"$vdir/pidward.service"
	check "systemd-analyze verify pidward.service + override.conf.example" verify "$vdir/pidward.service"
	rm -rf "$vdir"

	purge
	trap - EXIT
	check "dpkg --purge removes everything" bash -c '[ ! -e /usr/bin/pidward ] && [ ! -e /etc/pidward ] && [ ! -e /etc/systemd/system/multi-user.target.wants/pidward.service ]'
	check "the package is gone" bash -c '! { dpkg-query -W -f="\${Status}" pidward 2>/dev/null | grep -qv " not-installed$"; }'
fi

echo "packaging: $PASS passed, $FAIL failed"

# --- Under a real systemd ---------------------------------------------------------------------
systemd_rc=0
tests/systemd/run.sh "$DEB" || systemd_rc=$?

[ "$FAIL" = 0 ] && [ "$systemd_rc" = 0 ]

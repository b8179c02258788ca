#!/usr/bin/env python3
"""Supervisor benchmark for `pidward run` (issue 9, "Benchmark (not a timed test)").

Starts `pidward run` with N `sleep 100000` services (N = 10, 100, 500 by default), once with
`stdout`/`stderr = "null"` and once with `"log"` (two FIFOs and two log files per service), and
reports:

- time until all are running: from just before spawning the supervisor to the moment the last
  service's PID file is renamed into place (services use `start_secs = 0`, so RUNNING is at spawn
  and the PID file is written right after it). The harness sleeps in inotify meanwhile, so it
  takes no CPU from the supervisor. Afterwards it checks the log for the `STARTING -> RUNNING`
  lines and that every PID is a live `sleep`, and cross-checks without any watching: the last
  service's fork time minus the supervisor's, from /proc/PID/stat starttime (10 ms ticks);
- the supervisor's VmRSS (/proc/PID/status) and Pss (/proc/PID/smaps_rollup), after settling;
- CPU used while idle: utime+stime in clock ticks (/proc/PID/stat) and the exact time on CPU in ns
  (/proc/PID/task/*/schedstat), summed over threads, before and after the idle window (20 s at
  N=500, 5 s otherwise, see --idle); plus the voluntary+involuntary context switches of all its
  threads over the window (0 = not a single wake-up);
- respawn latency after `kill -9` of a service: read its PID, t0 = monotonic clock right before
  kill(SIGKILL), then sleep in inotify until the PID file is renamed into place again and holds a
  new PID, t1 (one harness wake-up, ~50 us; `--poll busy` re-reads the file in a loop instead);
  30 services spread over the set, one kill each, 50 ms apart; median and p90;
- stop time: t0 right before SIGTERM to the supervisor, t1 when waitpid returns (pidward exits
  only after every service exited and every PID and lock file is gone; the harness then checks
  that no service survived and no PID/lock file is left).

With --peers, the same for supervisord (`startsecs = 0`, output discarded; "running" and
respawned are its log lines `entered RUNNING state` and `spawned: 'NAME' with pid P`, tailed by
the harness on inotify) and runit (runsvdir -P with one service directory per service whose run
script does `exec sleep 100000`; `supervise/pid` watched exactly like pidward's PID files; memory
and CPU summed over runsvdir and every runsv; "stop all" is `sv down` + `sv exit` on every service,
i.e. "dx" written to each supervise/control, then SIGTERM to runsvdir, until all runsv and
services are gone).

Every run gets its own temporary directory (by default under /dev/shm, a tmpfs like /run) holding
runtime_dir and log_dir; everything started is killed at the end, whatever happens.
Run from the repository root:  python3 benches/supervisor.py [--peers]
(builds with `cargo build --release` first and runs a private copy of the binary; the peers come
from `apt-get install runit supervisor`; a negative --nice needs root)
"""

from __future__ import annotations

import argparse
import ctypes
import os
import platform
import re
import resource
import select
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SLEEP_ARGS = ["sleep", "100000"]
TICK_MS = 1000.0 / os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------------------------------------
# /proc helpers


def alive(pid: int) -> bool:
    """True if `pid` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return False
    state = data.rsplit(b")", 1)[1].split()[0]
    return state not in (b"Z", b"X")


def is_sleep(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().split(b"\0")[:2] == [a.encode() for a in SLEEP_ARGS]
    except OSError:
        return False


def tasks(pid: int) -> list[str]:
    try:
        return os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return []


def cpu_ticks(pid: int) -> int:
    """utime + stime of the whole process, in clock ticks."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except FileNotFoundError:
        return 0
    return int(fields[11]) + int(fields[12])


def start_ticks(pid: int) -> int | None:
    """When the process was forked, in clock ticks since boot."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return int(f.read().rsplit(b")", 1)[1].split()[19])
    except (FileNotFoundError, IndexError, ValueError):
        return None


def cpu_ns(pid: int) -> int:
    """Time on CPU of every thread, in ns (schedstat)."""
    total = 0
    for tid in tasks(pid):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except (FileNotFoundError, ValueError, IndexError):
            pass
    return total


def ctx_switches(pid: int) -> int:
    """Voluntary + involuntary context switches of every thread."""
    total = 0
    for tid in tasks(pid):
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if "ctxt_switches:" in line:
                        total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total


def status_kb(pid: int, key: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except FileNotFoundError:
        pass
    return 0


def pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except FileNotFoundError:
        pass
    return 0


def fd_count(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except FileNotFoundError:
        return 0


def children_of(ppid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == ppid:
            out.append(int(entry))
    return out


def read_pid(path: str) -> int | None:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return None
    try:
        pid = int(data)
    except ValueError:
        return None
    return pid if pid > 0 else None


IN_MODIFY, IN_MOVED_TO, IN_Q_OVERFLOW = 0x2, 0x80, 0x4000


class Inotify:
    """Just enough inotify (through libc) to sleep until a PID file is renamed into place or a
    log file grows: the harness burns no CPU while it waits, so on a 2-CPU machine it does not
    compete with the supervisor and its children (a polling loop did: it tripled the start time
    of 500 services)."""

    def __init__(self) -> None:
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self.libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        self.keys: dict[int, object] = {}

    def add(self, path: Path, mask: int, key: object = None) -> None:
        wd = self.libc.inotify_add_watch(self.fd, os.fsencode(path), mask)
        if wd < 0:
            raise OSError(ctypes.get_errno(), f"inotify_add_watch {path}")
        self.keys[wd] = key

    def read(self, timeout: float) -> list[tuple[object, int, str]]:
        """(key, mask, name) of the events within `timeout` (empty when none came)."""
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return []
        try:
            data = os.read(self.fd, 1 << 20)
        except BlockingIOError:
            return []
        events, off = [], 0
        while off + 16 <= len(data):
            wd, mask, _cookie, length = struct.unpack_from("iIII", data, off)
            name = data[off + 16 : off + 16 + length].rstrip(b"\0").decode(errors="replace")
            events.append((self.keys.get(wd), mask, name))
            off += 16 + length
        return events

    def close(self) -> None:
        os.close(self.fd)


def become_subreaper() -> None:
    """Orphans of what we start are reparented to us, so nothing escapes the cleanup."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except OSError:
        pass


def reap_orphans() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def system_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs, from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    total = sum(fields[:8])  # up to steal; guest time is already in user
    return total - idle, total


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(-(-p * len(s) // 100)) - 1))
    return s[k]


# ---------------------------------------------------------------------------------------------
# Supervisors under test


class Supervisor:
    """One supervisor with N services in its own temp dir."""

    name = "?"

    def __init__(self, n: int, base: Path, output: str):
        self.n = n
        self.output = output
        self.dir = Path(tempfile.mkdtemp(prefix=f"bench-{self.name}-{n}-", dir=base))
        self.names = [f"s{i:04d}" for i in range(n)]
        self.proc: subprocess.Popen | None = None
        self.seen_pids: set[int] = set()

    # to implement
    def start(self) -> None: ...
    def current_pid(self, i: int) -> int | None: ...

    def watch(self, ino: Inotify) -> None:
        """Adds the watches whose events announce a (re)started service."""

    def touched(self, key: object, mask: int, name: str) -> list[int]:
        """The services an event may concern (checked with `current_pid`)."""
        return list(range(self.n))
    def stop(self) -> None:
        assert self.proc
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=120)

    def tree(self) -> list[int]:
        """The supervisor's own processes (summed for memory and CPU)."""
        assert self.proc
        return [self.proc.pid]

    def check(self) -> str:
        return ""

    def cleanup(self) -> None:
        """Kills the supervisor first (so that nothing respawns), then every service PID ever
        seen that still runs `sleep`, then whatever else is left: the harness is a subreaper, so
        every orphan of this run is now its child."""
        if self.proc and self.proc.poll() is None:
            try:
                supervisors = self.tree()
            except Exception:  # noqa: BLE001 - best effort
                supervisors = [self.proc.pid]
            for pid in supervisors + self.extra_pids():
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.proc.wait()
        for i in range(self.n):
            try:
                pid = self.current_pid(i)
            except Exception:  # noqa: BLE001 - best effort
                pid = None
            if pid:
                self.seen_pids.add(pid)
        for pid in self.seen_pids:
            if alive(pid) and is_sleep(pid):
                for kill in (os.killpg, os.kill):
                    try:
                        kill(pid, signal.SIGKILL)
                    except (ProcessLookupError, PermissionError):
                        pass
        for pid in children_of(os.getpid()):
            if alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        reap_orphans()
        shutil.rmtree(self.dir, ignore_errors=True)

    def extra_pids(self) -> list[int]:
        return []


class Pidward(Supervisor):
    name = "pidward"

    def __init__(self, n: int, base: Path, output: str, binary: Path):
        super().__init__(n, base, output)
        self.binary = binary
        self.run = self.dir / "run"
        self.log = self.dir / "log"
        cfg = [
            "[supervisor]",
            f'runtime_dir = "{self.run}"',
            f'log_dir = "{self.log}"',
            'log_level = "info"',
            "",
        ]
        for name in self.names:
            cfg += [
                f"[services.{name}]",
                f"command = {SLEEP_ARGS!r}".replace("'", '"'),
                "start_secs = 0",
                'restart = "always"',
                f'stdout = "{output}"',
                f'stderr = "{output}"',
                "",
            ]
        self.config = self.dir / "pidward.toml"
        self.config.write_text("\n".join(cfg))
        self.pidfiles = [str(self.run / f"{name}.pid") for name in self.names]
        self.stderr_path = self.dir / "pidward.stderr"
        self.run.mkdir(mode=0o700)  # to be watched before the start; pidward accepts it (ours, 0700)
        self.index = {name: i for i, name in enumerate(self.names)}

    def watch(self, ino: Inotify) -> None:
        ino.add(self.run, IN_MOVED_TO)  # PID files are written to a temp name and renamed

    def touched(self, key: object, mask: int, name: str) -> list[int]:
        if mask & IN_Q_OVERFLOW:
            return list(range(self.n))
        i = self.index.get(name[:-4]) if name.endswith(".pid") else None
        return [] if i is None else [i]

    def start(self) -> None:
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                [str(self.binary), "run", "-c", str(self.config)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
                env={k: v for k, v in os.environ.items() if k != "RUST_LOG"},
            )

    def current_pid(self, i: int) -> int | None:
        return read_pid(self.pidfiles[i])

    def check(self) -> str:
        text = self.stderr_path.read_text(errors="replace")
        running = text.count("STARTING -> RUNNING")
        left = [p for p in os.listdir(self.run)] if self.run.exists() else []
        left = [p for p in left if p.endswith((".pid", ".lock")) and p != "pidward.pid"]
        errors = [l for l in text.splitlines() if " ERROR " in l or " WARN " in l]
        return (
            f"{running} `STARTING -> RUNNING` lines; {len(left)} PID/lock files left after stop; "
            f"{len(errors)} WARN/ERROR lines"
            + (f" (first: {errors[0].strip()[:160]})" if errors else "")
        )


class Supervisord(Supervisor):
    name = "supervisord"
    SPAWNED = re.compile(r"spawned: '([^']+)' with pid (\d+)")
    RUNNING = re.compile(r"success: (\S+) entered RUNNING state")

    def __init__(self, n: int, base: Path, output: str):
        super().__init__(n, base, output)
        self.logfile = self.dir / "supervisord.log"
        cfg = [
            "[supervisord]",
            "nodaemon = true",
            f"logfile = {self.logfile}",
            "loglevel = info",
            f"pidfile = {self.dir / 'supervisord.pid'}",
            f"childlogdir = {self.dir}",
            f"minfds = {resource.getrlimit(resource.RLIMIT_NOFILE)[1]}",
            "minprocs = 200",
        ]
        if os.geteuid() == 0:
            cfg.append("user = root")
        cfg.append("")
        for name in self.names:
            cfg += [
                f"[program:{name}]",
                f"command = {' '.join(SLEEP_ARGS)}",
                "startsecs = 0",
                "autorestart = true",
                "stdout_logfile = NONE",
                "stderr_logfile = NONE",
                "",
            ]
        self.config = self.dir / "supervisord.conf"
        self.config.write_text("\n".join(cfg))
        self.index = {name: i for i, name in enumerate(self.names)}
        self.pids: dict[str, int] = {}
        self.running: set[str] = set()
        self._tail = None
        self._partial = b""

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["supervisord", "-n", "-c", str(self.config)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def _update(self) -> None:
        if self._tail is None:
            try:
                self._tail = open(self.logfile, "rb")
            except FileNotFoundError:
                return
        data = self._tail.read()
        if not data:
            return
        data = self._partial + data
        lines = data.split(b"\n")
        self._partial = lines.pop()
        for raw in lines:
            line = raw.decode(errors="replace")
            m = self.SPAWNED.search(line)
            if m:
                self.pids[m.group(1)] = int(m.group(2))
                continue
            m = self.RUNNING.search(line)
            if m:
                self.running.add(m.group(1))

    def watch(self, ino: Inotify) -> None:
        ino.add(self.dir, IN_MODIFY)

    def touched(self, key: object, mask: int, name: str) -> list[int]:
        if mask & IN_Q_OVERFLOW or name == self.logfile.name:
            self._update()
            return [self.index[n] for n in self.running]
        return []

    def current_pid(self, i: int) -> int | None:
        self._update()
        name = self.names[i]
        return self.pids.get(name) if name in self.running else None

    def check(self) -> str:
        return f"{len(self.running)} programs seen entering RUNNING"

    def cleanup(self) -> None:
        super().cleanup()
        if self._tail:
            self._tail.close()


class Runit(Supervisor):
    name = "runit"

    def __init__(self, n: int, base: Path, output: str):
        super().__init__(n, base, output)
        self.svdir = self.dir / "service"
        self.svdir.mkdir()
        for name in self.names:
            d = self.svdir / name
            d.mkdir()
            run = d / "run"
            run.write_text(f"#!/bin/sh\nexec {' '.join(SLEEP_ARGS)}\n")
            run.chmod(0o755)
            (d / "supervise").mkdir(mode=0o700)  # runsv uses an existing one; watched below
        self.pidfiles = [str(self.svdir / name / "supervise" / "pid") for name in self.names]
        self.runsv: list[int] = []
        # runsvdir does not trust a directory modified within the current second (it rescans a
        # second later): let the tree age, as a real /etc/service would have.
        time.sleep(1.1)

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["runsvdir", "-P", str(self.svdir)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def current_pid(self, i: int) -> int | None:
        return read_pid(self.pidfiles[i])

    def watch(self, ino: Inotify) -> None:
        for i, name in enumerate(self.names):
            ino.add(self.svdir / name / "supervise", IN_MOVED_TO, i)  # runsv renames pid.new

    def touched(self, key: object, mask: int, name: str) -> list[int]:
        if mask & IN_Q_OVERFLOW:
            return list(range(self.n))
        return [key] if name == "pid" and isinstance(key, int) else []

    def tree(self) -> list[int]:
        assert self.proc
        if len(self.runsv) < self.n:
            self.runsv = [p for p in children_of(self.proc.pid) if not is_sleep(p)]
        return [self.proc.pid, *self.runsv]

    def stop(self) -> None:
        """runit has no single "stop everything" signal (runsvdir's TERM just exits, leaving the
        runsv processes): like `sv down` + `sv exit` on every service, write "dx" to each
        supervise/control, then TERM runsvdir; done when every runsv and service is gone."""
        assert self.proc
        watch = self.tree()[1:] + [p for p in (self.current_pid(i) for i in range(self.n)) if p]
        for name in self.names:
            fd = os.open(self.svdir / name / "supervise" / "control", os.O_WRONLY | os.O_NONBLOCK)
            os.write(fd, b"dx")
            os.close(fd)
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)
        deadline = time.monotonic() + 60
        while any(alive(p) for p in watch) and time.monotonic() < deadline:
            time.sleep(0.001)

    def extra_pids(self) -> list[int]:
        return [p for p in self.runsv if alive(p)]

    def check(self) -> str:
        return f"{len(self.runsv)} runsv processes"


# ---------------------------------------------------------------------------------------------
# The measurement


@dataclass
class Result:
    system: str
    n: int
    output: str
    start_s: float = float("nan")
    start_cpu_ms: float = float("nan")
    spawn_span_ms: float = float("nan")
    rss_kb: int = 0
    pss_kb: int = 0
    hwm_kb: int = 0
    fds: int = 0
    threads: int = 0
    idle_s: float = 0
    idle_ticks_ms: float = float("nan")
    idle_ns: int = 0
    idle_ctx: int = 0
    load1: float = 0.0
    others_busy_pct: float = float("nan")
    respawn_ms: list[float] = field(default_factory=list)
    respawn_failures: int = 0
    respawn_cpu_us: float = float("nan")
    stop_s: float = float("nan")
    start_samples: list[float] = field(default_factory=list)
    stop_samples: list[float] = field(default_factory=list)
    stop_code: int | None = None
    survivors: int = 0
    note: str = ""


def measure(
    sup: Supervisor,
    idle_s: float,
    respawns: int,
    settle: float,
    log,
    busy: bool = False,
    full: bool = True,
) -> Result:
    """One run: start, (full only: memory, idle, respawns), stop."""
    r = Result(sup.name, sup.n, sup.output, idle_s=idle_s)
    r.load1 = os.getloadavg()[0]
    n = sup.n
    ino = Inotify()
    try:
        # 1. time until every service is running
        remaining = set(range(n))
        sup.watch(ino)
        t0 = time.monotonic()
        sup.start()
        assert sup.proc
        deadline = t0 + 120
        while remaining:
            for key, mask, name in ino.read(0.05):
                for i in sup.touched(key, mask, name):
                    if i in remaining and sup.current_pid(i):
                        remaining.discard(i)
            if sup.proc.poll() is not None:
                raise RuntimeError(f"{sup.name} exited with {sup.proc.returncode} while starting")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{sup.name}: {len(remaining)} of {n} not running after 120 s")
        r.start_s = time.monotonic() - t0
        r.start_cpu_ms = sum(cpu_ns(p) for p in sup.tree()) / 1e6
        log(f"  {sup.name} N={n} {sup.output}: all running after {r.start_s * 1000:.0f} ms")

        # let every child finish exec'ing, and the supervisor go quiet
        time.sleep(settle)
        pids = [sup.current_pid(i) for i in range(n)]
        sup.seen_pids.update(p for p in pids if p)
        live = sum(1 for p in pids if p and alive(p) and is_sleep(p))
        # Cross-check without the harness's polling: the last service's fork time relative to
        # the supervisor's own (10 ms resolution).
        sup0 = start_ticks(sup.proc.pid)
        forks = [t for t in (start_ticks(p) for p in pids if p) if t is not None]
        if sup0 is not None and forks:
            r.spawn_span_ms = (max(forks) - sup0) * TICK_MS
        if live != n:
            r.note += f"only {live}/{n} PIDs are live `sleep`s after settling; "

        if full:
            # 2. memory, then idle CPU and wake-ups
            tree = sup.tree()
            r.rss_kb = sum(status_kb(p, "VmRSS") for p in tree)
            r.pss_kb = sum(pss_kb(p) for p in tree)
            r.hwm_kb = sum(status_kb(p, "VmHWM") for p in tree)
            r.fds = sum(fd_count(p) for p in tree)
            r.threads = sum(len(tasks(p)) for p in tree)
            ticks0 = sum(cpu_ticks(p) for p in tree)
            ns0 = sum(cpu_ns(p) for p in tree)
            ctx0 = sum(ctx_switches(p) for p in tree)
            busy0, total0 = system_jiffies()
            time.sleep(idle_s)
            busy1, total1 = system_jiffies()
            # Our own processes are idle now: whatever the CPUs do is other people's load.
            r.others_busy_pct = 100.0 * (busy1 - busy0) / max(1, total1 - total0)
            r.idle_ticks_ms = (sum(cpu_ticks(p) for p in tree) - ticks0) * TICK_MS
            r.idle_ns = sum(cpu_ns(p) for p in tree) - ns0
            r.idle_ctx = sum(ctx_switches(p) for p in tree) - ctx0

            # 3. respawn latency after kill -9, on services spread over the whole set
            k = min(respawns, n)
            cpu0 = sum(cpu_ns(p) for p in sup.tree())
            for j in range(k):
                i = (j * n) // k
                old = sup.current_pid(i)
                if not old:
                    r.respawn_failures += 1
                    continue
                while ino.read(0):  # forget earlier events
                    pass
                t0 = time.monotonic()
                os.kill(old, signal.SIGKILL)
                limit = t0 + 10
                new = None
                while time.monotonic() < limit:
                    if busy:
                        os.sched_yield()
                    elif i not in [j for ev in ino.read(0.05) for j in sup.touched(*ev)]:
                        continue
                    new = sup.current_pid(i)
                    if new is not None and new != old:
                        t1 = time.monotonic()
                        break
                    new = None
                if new is None:
                    r.respawn_failures += 1
                else:
                    r.respawn_ms.append((t1 - t0) * 1000)
                    sup.seen_pids.add(new)
                time.sleep(0.05)
            if r.respawn_ms:
                cpu1 = sum(cpu_ns(p) for p in sup.tree())
                r.respawn_cpu_us = (cpu1 - cpu0) / 1000 / len(r.respawn_ms)

        # 4. stop everything, once the respawned services are over a second old (runsv sleeps a
        # second after the exit of a service that ran for less than that, even when stopping it)
        time.sleep(1.5 if full else 0.3)
        pids = [p for p in (sup.current_pid(i) for i in range(n)) if p]
        sup.seen_pids.update(pids)
        t0 = time.monotonic()
        sup.stop()
        r.stop_s = time.monotonic() - t0
        r.stop_code = sup.proc.returncode
        r.survivors = sum(1 for p in pids if alive(p))
        r.note += sup.check()
    finally:
        ino.close()
        sup.cleanup()
    return r


def series(make, runs: int, idle_s: float, respawns: int, settle: float, log, busy: bool) -> Result:
    """`runs` start/stop cycles of fresh supervisors (the last one full: memory, idle, respawns);
    start and stop times are the medians over all of them, the rest is the full run's."""
    quick = [measure(make(), 0, 0, settle, log, busy, full=False) for _ in range(runs - 1)]
    r = measure(make(), idle_s, respawns, settle, log, busy, full=True)
    every = quick + [r]
    r.start_samples = [q.start_s for q in every]
    r.stop_samples = [q.stop_s for q in every]
    r.start_s = statistics.median(r.start_samples)
    r.stop_s = statistics.median(r.stop_samples)
    r.spawn_span_ms = statistics.median(q.spawn_span_ms for q in every)
    r.start_cpu_ms = statistics.median(q.start_cpu_ms for q in every)
    r.survivors = sum(q.survivors for q in every)
    bad = [q.stop_code for q in every if q.stop_code not in (0, None)]
    if bad:
        r.stop_code = bad[0]
    for q in quick:
        if q.note.startswith("only "):
            r.note = q.note.split(";")[0] + "; " + r.note
    return r


# ---------------------------------------------------------------------------------------------
# Report


def fmt_ms(s: float) -> str:
    return "—" if s != s else f"{s * 1000:.0f} ms" if s >= 0.1 else f"{s * 1000:.1f} ms"


def fmt_mib(kb: int) -> str:
    return f"{kb / 1024:.1f} MiB"


def spread(samples: list[float]) -> str:
    if len(samples) < 2:
        return ""
    return f" ({len(samples)} runs: {min(samples) * 1000:.0f}–{max(samples) * 1000:.0f})"


def row(r: Result) -> str:
    if r.respawn_ms:
        resp = f"{statistics.median(r.respawn_ms):.2f} / {pct(r.respawn_ms, 90):.2f} ms"
        if r.respawn_failures:
            resp += f" ({r.respawn_failures} failed)"
    else:
        resp = "—"
    idle = f"{r.idle_ticks_ms:.0f} ms ({r.idle_ns / 1e6:.3f} ms exact) / {r.idle_s:g} s"
    stop = fmt_ms(r.stop_s) + spread(r.stop_samples)
    if r.stop_code not in (0, None) or r.survivors:
        stop += f" (exit {r.stop_code}, {r.survivors} survivors)"
    return (
        f"| {r.n} | {r.output} | {fmt_ms(r.start_s)}{spread(r.start_samples)} | {fmt_mib(r.rss_kb)} "
        f"| {fmt_mib(r.pss_kb)} "
        f"| {idle} | {r.idle_ctx} | {resp} ({len(r.respawn_ms)} kills) | {stop} |"
    )


HEADER = (
    "| N | output | time to all running | RSS | PSS | idle CPU (ticks; exact) / window "
    "| ctx switches idle | respawn median / p90 | stop all |\n"
    "|---|---|---|---|---|---|---|---|---|"
)


def detail_row(r: Result) -> str:
    resp = (
        f"{min(r.respawn_ms):.2f} / {max(r.respawn_ms):.2f} ms; {r.respawn_cpu_us:.0f} µs"
        if r.respawn_ms
        else "—"
    )
    return (
        f"| {r.system} | {r.n} | {r.output} | +{r.spawn_span_ms:.0f} ms | {r.start_cpu_ms:.1f} ms "
        f"| {r.start_cpu_ms / r.n * 1000:.0f} µs | {fmt_mib(r.hwm_kb)} | {r.fds} | {r.threads} "
        f"| {resp} | {r.load1:.1f}; {r.others_busy_pct:.0f} % | {r.note} |"
    )


DETAIL_HEADER = (
    "| system | N | output | last service forked (/proc starttime, ±10 ms) "
    "| supervisor CPU to start all | per service | peak RSS (VmHWM) "
    "| open fds | threads | respawn min / max; supervisor CPU per respawn "
    "| load avg 1 min at start; CPUs busy with other work while idle | checks |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sizes", default="10,100,500", help="service counts for pidward")
    ap.add_argument("--outputs", default="null,log", help="pidward stdout/stderr modes to run")
    ap.add_argument(
        "--idle",
        default="500:20,*:5",
        help="idle window in seconds per N, e.g. '500:20,*:5' (default: 20 s at 500, else 5 s)",
    )
    ap.add_argument(
        "--runs",
        type=int,
        default=5,
        help="start/stop cycles per N (pidward, runit): start and stop times are their medians; "
        "memory, idle CPU and respawns come from the last one",
    )
    ap.add_argument("--supervisord-runs", type=int, default=1, help="(each start takes seconds)")
    ap.add_argument("--respawns", type=int, default=30, help="kill -9 samples per run (pidward, runit)")
    ap.add_argument("--settle", type=float, default=1.0, help="pause after all are running (s)")
    ap.add_argument(
        "--poll",
        choices=["inotify", "busy"],
        default="inotify",
        help="respawn detection: sleep in inotify until the PID file is renamed into place "
        "(default), or re-read it in a busy loop",
    )
    ap.add_argument("--peers", action="store_true", help="also measure supervisord and runit")
    ap.add_argument("--supervisord-sizes", default="100,500")
    ap.add_argument("--supervisord-respawns", type=int, default=10, help="(each takes ~1 s)")
    ap.add_argument("--runit-sizes", default="500")
    ap.add_argument("--no-build", action="store_true", help="use the existing target/release/pidward")
    ap.add_argument("--nice", type=int, default=0,
                    help="run the harness and everything it starts at this nice value (-20: shield the "
                    "measurement from other load on a shared machine)")
    ap.add_argument(
        "--tmp",
        default="/dev/shm" if os.path.isdir("/dev/shm") else None,
        help="parent of the temp dirs holding runtime_dir and log_dir (default: /dev/shm, a tmpfs "
        "like /run; on ext4, creating PID/lock files after many deletions costs far more)",
    )
    args = ap.parse_args()

    def idle_for(n: int) -> float:
        table = dict(item.split(":") for item in args.idle.split(","))
        return float(table.get(str(n), table.get("*", "5")))

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    began = time.monotonic()
    # Interrupted or terminated: unwind through the `finally` blocks that kill what we started.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.nice:
        os.nice(args.nice)
    become_subreaper()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # for the peers; pidward raises its own

    if not args.no_build:
        log("cargo build --release ...")
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=REPO, check=True)
    rev = subprocess.run(
        ["git", "describe", "--always", "--dirty"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()
    results: list[Result] = []
    peers: list[Result] = []
    base = Path(tempfile.mkdtemp(prefix="pidward-bench-", dir=args.tmp))
    try:
        # A private copy: a concurrent build cannot swap the binary in the middle of the run.
        binary = base / "pidward"
        shutil.copy2(REPO / "target" / "release" / "pidward", binary)
        for output in args.outputs.split(","):
            for n in (int(x) for x in args.sizes.split(",") if x):
                results.append(
                    series(
                        lambda: Pidward(n, base, output, binary),
                        args.runs,
                        idle_for(n),
                        args.respawns,
                        args.settle,
                        log,
                        args.poll == "busy",
                    )
                )
        if args.peers:
            if shutil.which("supervisord"):
                for n in (int(x) for x in args.supervisord_sizes.split(",") if x):
                    peers.append(
                        series(
                            lambda: Supervisord(n, base, "none"),
                            args.supervisord_runs,
                            idle_for(n),
                            args.supervisord_respawns,
                            args.settle,
                            log,
                            args.poll == "busy",
                        )
                    )
            else:
                log("supervisord not installed (apt-get install supervisor): skipped")
            if shutil.which("runsvdir"):
                for n in (int(x) for x in args.runit_sizes.split(",") if x):
                    peers.append(
                        series(
                            lambda: Runit(n, base, "inherit"),
                            args.runs,
                            idle_for(n),
                            args.respawns,
                            args.settle,
                            log,
                            args.poll == "busy",
                        )
                    )
            else:
                log("runsvdir not installed (apt-get install runit): skipped")
    finally:
        shutil.rmtree(base, ignore_errors=True)
        reap_orphans()

    def version(cmd: list[str]) -> str:
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=5)
            return (p.stdout or p.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "?"

    print("`" + " ".join(["python3", "benches/supervisor.py", *sys.argv[1:]]) + "`\n")
    fs = subprocess.run(
        ["df", "--output=fstype", str(base.parent)], capture_output=True, text=True
    ).stdout.split()[-1:]
    print(
        f"pidward {rev}; temp dirs in {base.parent} ({''.join(fs)}); {platform.node()}; "
        f"{os.cpu_count()} CPUs; Linux {platform.release()}; "
        f"{time.strftime('%Y-%m-%d %H:%M %Z')}; nice {os.nice(0)}; "
        f"runtime {time.monotonic() - began:.0f} s\n"
    )
    print("### pidward\n")
    print(HEADER)
    for r in results:
        print(row(r))
    if peers:
        print(f"\n### Peers (supervisord {version(['supervisord', '--version'])}, "
              f"runit {version(['dpkg-query', '-W', '-f', '${Version}', 'runit'])})\n")
        print(HEADER.replace("| N | output |", "| system, N | output |"))
        for r in peers:
            print(row(r).replace(f"| {r.n} |", f"| {r.system} {r.n} |", 1))
    print("\n### Details\n")
    print(DETAIL_HEADER)
    for r in results + peers:
        print(detail_row(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())

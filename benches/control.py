#!/usr/bin/env python3
"""Control-socket benchmark for `pidward` (issue 10, "Benchmark (not a timed test)").

Starts `pidward run -c FILE` with N = 1 and N = 500 services (`sleep 100000`, `start_secs = "0"`,
stdout/stderr "null"), waits until all are RUNNING, then measures:

- in-process `status` round trip: a Python client sends `{"version":1,"cmd":"status","names":[]}`
  and reads the whole response line; one persistent connection for all requests, and a fresh
  connection (connect + send + read + close) per request; median and p90 of 100, after 10 warm-up
  requests (time.perf_counter_ns). The response is checked (N services, all RUNNING) outside the
  timed region;
- the whole command: `pidward --socket SOCK status >/dev/null`, 100 times from Python's
  subprocess (so the figure includes the harness's fork/exec/wait: `/bin/true` and
  `pidward --version` are timed the same way, as the floor), and with `hyperfine -N` as a
  cross-check when hyperfine is installed;
- `pidward --socket SOCK restart svc0` (returns once the new process is RUNNING), 30 times, and the
  same request sent in-process; the new PID is checked after each.

With the peers installed (`apt-get install supervisor runit`) and not --no-peers, the same run also
measures `supervisorctl -c CONF status` against supervisord with N programs (`startsecs = 0`,
output discarded, `[unix_http_server]` in the temp dir), its in-process analogue (XML-RPC
`supervisor.getAllProcessInfo` over the unix socket, one fresh HTTP request each), and runit's
`sv status DIR...` over N service directories under `runsvdir -P`.

Everything runs in a fresh temporary directory (under /dev/shm, a tmpfs like /run, by default),
with a private copy of the binary; every process started is stopped at the end (pidward with
`pidward shutdown`, supervisord with SIGTERM to the PID in its pidfile, runit with "dx" to every
supervise/control and SIGTERM to runsvdir), then checked gone by PID and SIGKILLed if not.

Run from the repository root:  python3 benches/control.py [--write benches/CONTROL.md]
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import math
import os
import platform
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import xmlrpc.client
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SLEEP = ["sleep", "100000"]
STATUS_REQ = b'{"version":1,"cmd":"status","names":[]}\n'

# Every process this run started, for the final clean-up: pid -> what it is.
STARTED: dict[int, str] = {}


def log(msg: str) -> None:
    print(f"[{time.monotonic() - T0:7.2f}s] {msg}", file=sys.stderr, flush=True)


T0 = time.monotonic()


# ---------------------------------------------------------------------------------------------
# Small helpers


def pct(xs: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    s = sorted(xs)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)]


def ms(ns_list: list[int]) -> list[float]:
    return [n / 1e6 for n in ns_list]


def fmt(x: float) -> str:
    if x != x:  # nan
        return "–"
    if x >= 100:
        return f"{x:,.0f} ms"
    if x >= 10:
        return f"{x:.1f} ms"
    return f"{x:.3f} ms"


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def children_of(pid: int) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[1]) == pid:
            out.append(int(d))
    return out


def kill_leftovers(pids: list[int], what: str) -> int:
    """SIGKILLs whatever of `pids` is still alive; returns how many were."""
    left = [p for p in pids if alive(p)]
    for p in left:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if left:
        log(f"WARNING: {len(left)} {what} processes survived the stop; SIGKILLed by PID")
    return len(left)


def spawn(argv: list[str], what: str, **kw) -> subprocess.Popen:
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, **kw)
    STARTED[proc.pid] = what
    return proc


def time_cmd(argv: list[str], runs: int, warmup: int = 5, ok=(0,)) -> list[int]:
    """Wall time of `argv` (stdout to /dev/null) from just before fork to after waitpid."""
    out = []
    for i in range(warmup + runs):
        t0 = time.perf_counter_ns()
        rc = subprocess.call(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        t1 = time.perf_counter_ns()
        if rc not in ok:
            raise RuntimeError(f"{argv[:3]}… exited {rc}")
        if i >= warmup:
            out.append(t1 - t0)
    return out


def hyperfine(argv: list[str], runs: int, tmp: Path) -> list[float] | None:
    """`hyperfine -N` (no shell) over argv; the per-run wall times in ms, or None."""
    if not shutil.which("hyperfine"):
        return None
    export = tmp / "hyperfine.json"
    cmd = " ".join(argv)
    subprocess.run(
        ["hyperfine", "-N", "-i", "--warmup", "5", "--runs", str(runs), "--style", "none",
         "--export-json", str(export), cmd],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True,
    )
    data = json.loads(export.read_text())
    return [t * 1000 for t in data["results"][0]["times"]]


def recv_line(sock: socket.socket, buf: bytearray) -> bytes:
    """Reads until a newline; returns the line, keeps the rest in buf."""
    while True:
        i = buf.find(b"\n")
        if i >= 0:
            line = bytes(buf[: i + 1])
            del buf[: i + 1]
            return line
        chunk = sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("supervisor closed the connection")
        buf += chunk


def unix_connect(path: Path) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(str(path))
    return s


class CpuMeter:
    """CPU time used on the whole machine by processes other than this harness and the children
    it has waited for (the CLI runs, the supervisors once stopped, hyperfine), over a section:
    the machine is shared, and a busy neighbour shows in these figures."""

    FIELDS = (0, 1, 2, 5, 6)  # user nice system irq softirq (guest is in user; steal left out)

    def __init__(self) -> None:
        self.t0, self.w0, self.o0 = self._machine(), time.monotonic(), self._ours()

    @staticmethod
    def _machine() -> float:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return sum(v[i] for i in CpuMeter.FIELDS) / os.sysconf("SC_CLK_TCK")

    @staticmethod
    def _ours() -> float:
        t = os.times()
        return t.user + t.system + t.children_user + t.children_system

    def read(self) -> tuple[float, float]:
        """(wall seconds, others' CPU seconds)."""
        wall = time.monotonic() - self.w0
        others = (self._machine() - self.t0) - (self._ours() - self.o0)
        return wall, max(0.0, others)


def wait_quiet(limit: float) -> str:
    """Waits (up to `limit` s) for a second in which other processes use < 10 % of one CPU."""
    deadline = time.monotonic() + limit
    while True:
        m = CpuMeter()
        time.sleep(1)
        _, others = m.read()
        if others < 0.1 or time.monotonic() >= deadline:
            return f"{others * 100:.0f} % of one CPU used by other processes in the last second before the run"
        log(f"machine busy ({others * 100:.0f} % of one CPU by others): waiting")


# ---------------------------------------------------------------------------------------------
# pidward


class Pidward:
    def __init__(self, binary: Path, n: int, base: Path):
        self.binary = binary
        self.n = n
        self.dir = base / f"pidward-{n}"
        (self.dir / "run").mkdir(parents=True)
        (self.dir / "log").mkdir()
        self.sock = self.dir / "run" / "pidward.sock"
        self.names = [f"svc{i}" for i in range(n)]
        cfg = [
            "[supervisor]",
            f'runtime_dir = "{self.dir / "run"}"',
            f'log_dir = "{self.dir / "log"}"',
            'log_level = "warn"',
            "",
        ]
        for name in self.names:
            cfg += [
                f"[services.{name}]",
                f"command = {json.dumps(SLEEP)}",
                'start_secs = "0"',
                'stdout = "null"',
                'stderr = "null"',
                "",
            ]
        self.config = self.dir / "pidward.toml"
        self.config.write_text("\n".join(cfg))
        self.proc: subprocess.Popen | None = None
        self.children: list[int] = []

    def ctl(self, *args: str) -> list[str]:
        return [str(self.binary), "--socket", str(self.sock), *args]

    def request(self, line: bytes) -> dict:
        with unix_connect(self.sock) as s:
            s.sendall(line)
            return json.loads(recv_line(s, bytearray()))

    def statuses(self) -> list[dict]:
        return self.request(STATUS_REQ).get("services") or []

    def start(self) -> float:
        t0 = time.monotonic()
        self.stderr = open(self.dir / "pidward.stderr", "wb")
        self.proc = spawn([str(self.binary), "run", "-c", str(self.config)], "pidward",
                          stdout=subprocess.DEVNULL, stderr=self.stderr)
        deadline = t0 + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"pidward run exited {self.proc.returncode}: "
                                   + (self.dir / "pidward.stderr").read_text()[-2000:])
            try:
                svcs = self.statuses()
                if len(svcs) == self.n and all(s["state"] == "RUNNING" for s in svcs):
                    self.children = children_of(self.proc.pid)
                    return time.monotonic() - t0
            except (FileNotFoundError, ConnectionRefusedError, ConnectionError, ValueError):
                pass
            time.sleep(0.02)
        raise RuntimeError("pidward: services not all RUNNING after 60 s")

    def stop(self) -> None:
        if not self.proc:
            return
        kids = children_of(self.proc.pid) + self.children
        if self.proc.poll() is None:
            try:
                subprocess.run(self.ctl("shutdown"), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, timeout=60)
            except subprocess.TimeoutExpired:
                pass
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                pass
        kill_leftovers([self.proc.pid] + kids, "pidward")
        if self.proc.poll() is not None:
            STARTED.pop(self.proc.pid, None)
        self.stderr.close()


def check_status(resp: bytes, n: int) -> None:
    r = json.loads(resp)
    svcs = r.get("services") or []
    if not r.get("ok") or len(svcs) != n or any(s["state"] != "RUNNING" for s in svcs):
        raise RuntimeError(f"unexpected status response: {resp[:300]!r}")


def inproc_persistent(sock: Path, req: bytes, runs: int, warmup: int = 10) -> tuple[list[int], int, bytes]:
    out = []
    with unix_connect(sock) as s:
        buf = bytearray()
        for i in range(warmup + runs):
            t0 = time.perf_counter_ns()
            s.sendall(req)
            line = recv_line(s, buf)
            t1 = time.perf_counter_ns()
            if i >= warmup:
                out.append(t1 - t0)
    return out, len(line), line


def inproc_fresh(sock: Path, req: bytes, runs: int, warmup: int = 10) -> list[int]:
    out = []
    for i in range(warmup + runs):
        t0 = time.perf_counter_ns()
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(str(sock))
        s.sendall(req)
        recv_line(s, bytearray())
        s.close()
        t1 = time.perf_counter_ns()
        if i >= warmup:
            out.append(t1 - t0)
    return out


# ---------------------------------------------------------------------------------------------
# supervisord


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str):
        super().__init__("localhost")
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


class Supervisord:
    def __init__(self, n: int, base: Path):
        self.n = n
        self.dir = base / f"supervisord-{n}"
        self.dir.mkdir()
        self.sock = self.dir / "supervisor.sock"
        self.pidfile = self.dir / "supervisord.pid"
        self.names = [f"svc{i}" for i in range(n)]
        cfg = [
            "[unix_http_server]",
            f"file = {self.sock}",
            "chmod = 0700",
            "",
            "[supervisord]",
            "nodaemon = true",
            f"logfile = {self.dir / 'supervisord.log'}",
            "loglevel = warn",
            f"pidfile = {self.pidfile}",
            f"childlogdir = {self.dir}",
            f"minfds = {resource.getrlimit(resource.RLIMIT_NOFILE)[1]}",
            "minprocs = 200",
        ]
        if os.geteuid() == 0:
            cfg.append("user = root")
        cfg += [
            "",
            "[rpcinterface:supervisor]",
            "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
            "",
            "[supervisorctl]",
            f"serverurl = unix://{self.sock}",
            "",
        ]
        for name in self.names:
            cfg += [
                f"[program:{name}]",
                f"command = {' '.join(SLEEP)}",
                "startsecs = 0",
                "stdout_logfile = NONE",
                "stderr_logfile = NONE",
                "",
            ]
        self.config = self.dir / "supervisord.conf"
        self.config.write_text("\n".join(cfg))
        self.proc: subprocess.Popen | None = None
        self.children: list[int] = []
        self.body = xmlrpc.client.dumps((), "supervisor.getAllProcessInfo").encode()

    def all_info(self) -> list[dict]:
        conn = UnixHTTPConnection(str(self.sock))
        try:
            conn.request("POST", "/RPC2", self.body, {"Content-Type": "text/xml"})
            data = conn.getresponse().read()
        finally:
            conn.close()
        return xmlrpc.client.loads(data)[0][0]

    def start(self) -> float:
        t0 = time.monotonic()
        self.proc = spawn(["supervisord", "-n", "-c", str(self.config)], "supervisord",
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = t0 + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"supervisord exited {self.proc.returncode}")
            try:
                info = self.all_info()
                if len(info) == self.n and all(p["statename"] == "RUNNING" for p in info):
                    self.children = children_of(self.proc.pid)
                    return time.monotonic() - t0
            except (FileNotFoundError, ConnectionRefusedError, ConnectionError,
                    http.client.HTTPException, xmlrpc.client.Error):
                pass
            time.sleep(0.1)
        raise RuntimeError("supervisord: programs not all RUNNING after 120 s")

    def stop(self) -> None:
        if not self.proc:
            return
        kids = children_of(self.proc.pid) + self.children
        pid = self.proc.pid
        try:
            pid = int(self.pidfile.read_text().strip())
        except (FileNotFoundError, ValueError):
            pass
        if self.proc.poll() is None:
            os.kill(pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=90)
            except subprocess.TimeoutExpired:
                pass
        kill_leftovers([self.proc.pid] + kids, "supervisord")
        if self.proc.poll() is not None:
            STARTED.pop(self.proc.pid, None)


def xmlrpc_fresh(sd: Supervisord, runs: int, warmup: int = 3) -> list[int]:
    out = []
    for i in range(warmup + runs):
        t0 = time.perf_counter_ns()
        info = sd.all_info()
        t1 = time.perf_counter_ns()
        if len(info) != sd.n:
            raise RuntimeError("getAllProcessInfo: wrong count")
        if i >= warmup:
            out.append(t1 - t0)
    return out


# ---------------------------------------------------------------------------------------------
# runit


class Runit:
    def __init__(self, n: int, base: Path):
        self.n = n
        self.dir = base / f"runit-{n}"
        self.svdir = self.dir / "service"
        self.svdir.mkdir(parents=True)
        self.names = [f"svc{i}" for i in range(n)]
        for name in self.names:
            d = self.svdir / name
            d.mkdir()
            run = d / "run"
            run.write_text(f"#!/bin/sh\nexec {' '.join(SLEEP)}\n")
            run.chmod(0o755)
        self.dirs = [str(self.svdir / name) for name in self.names]
        self.proc: subprocess.Popen | None = None
        self.runsv: list[int] = []
        self.services: list[int] = []

    def start(self) -> float:
        # runsvdir does not trust a directory modified within the current second (it rescans
        # 5 s later): let the tree age first, as a real /etc/service would have.
        time.sleep(1.1)
        t0 = time.monotonic()
        self.proc = spawn(["runsvdir", "-P", str(self.svdir)], "runsvdir",
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = t0 + 60
        while time.monotonic() < deadline:
            up = 0
            for d in self.dirs:
                try:
                    if Path(d, "supervise", "stat").read_text().strip() == "run":
                        up += 1
                except FileNotFoundError:
                    pass
            if up == self.n:
                self.runsv = children_of(self.proc.pid)
                self.services = [c for r in self.runsv for c in children_of(r)]
                return time.monotonic() - t0
            time.sleep(0.05)
        raise RuntimeError("runit: services not all up after 60 s")

    def stop(self) -> None:
        if not self.proc:
            return
        self.runsv = list(set(self.runsv + children_of(self.proc.pid)))
        watch = self.runsv + self.services + [c for r in self.runsv for c in children_of(r)]
        for d in self.dirs:
            try:
                fd = os.open(Path(d, "supervise", "control"), os.O_WRONLY | os.O_NONBLOCK)
                os.write(fd, b"dx")
                os.close(fd)
            except OSError:
                pass
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        deadline = time.monotonic() + 30
        while any(alive(p) for p in watch) and time.monotonic() < deadline:
            time.sleep(0.01)
        kill_leftovers([self.proc.pid] + watch, "runit")
        if self.proc.poll() is not None:
            STARTED.pop(self.proc.pid, None)


# ---------------------------------------------------------------------------------------------
# The run


class Table:
    def __init__(self, title: str, note: str, header: list[str]):
        self.title, self.note, self.header, self.rows = title, note, header, []

    def add(self, *cells: str) -> None:
        self.rows.append(list(cells))

    def markdown(self) -> str:
        lines = [f"### {self.title}", ""]
        if self.note:
            lines += [self.note, ""]
        lines.append("| " + " | ".join(self.header) + " |")
        # Text columns (N, what) left, figures right.
        lines.append("|" + "|".join("---" if i < 2 else "---:" for i in range(len(self.header))) + "|")
        lines += ["| " + " | ".join(r) + " |" for r in self.rows]
        return "\n".join(lines) + "\n"


def stats_row(xs_ms: list[float]) -> tuple[str, str, str, str]:
    return fmt(statistics.median(xs_ms)), fmt(pct(xs_ms, 90)), fmt(min(xs_ms)), str(len(xs_ms))


def noise(meter: CpuMeter) -> tuple[str, str]:
    wall, others = meter.read()
    return f"{wall:.1f} s", f"{others / wall * 100:.0f} %"


def verdict(value: float, target: float) -> str:
    return f"**met** (< {target:g} ms)" if value < target else f"**MISSED** (target < {target:g} ms)"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, nargs="+", default=[1, 500], help="service counts (default 1 500)")
    ap.add_argument("--runs", type=int, default=100, help="samples per status measurement (100)")
    ap.add_argument("--restarts", type=int, default=30, help="restart samples (30)")
    ap.add_argument("--peer-runs", type=int, default=30,
                    help="supervisorctl samples per N (30: each costs ~0.6 s at N=500)")
    ap.add_argument("--supervisord-n", type=int, default=None,
                    help="largest N for supervisord (default: the largest --n)")
    ap.add_argument("--no-peers", action="store_true", help="skip supervisord and runit")
    ap.add_argument("--no-build", action="store_true", help="use target/release/pidward as is")
    ap.add_argument("--tmp", default="/dev/shm" if os.path.isdir("/dev/shm") else None)
    ap.add_argument("--wait-quiet", type=float, default=0, metavar="S",
                    help="first wait up to S seconds for other processes to go (nearly) idle")
    ap.add_argument("--write", metavar="MD", help="write the results into this Markdown file")
    args = ap.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    if not args.no_build:
        log("cargo build --release")
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    base = Path(tempfile.mkdtemp(prefix="pidward-ctl-bench.", dir=args.tmp))
    binary = base / "pidward"
    shutil.copy2(ROOT / "target" / "release" / "pidward", binary)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "src"], cwd=ROOT,
                           capture_output=True, text=True).stdout.strip()
    quiet = wait_quiet(args.wait_quiet) if args.wait_quiet > 0 else ""
    run_meter = CpuMeter()
    started_at = dt.datetime.now(dt.timezone.utc)
    load0 = Path("/proc/loadavg").read_text().split()[:3]
    peers = not args.no_peers
    have_sd = peers and shutil.which("supervisord") and shutil.which("supervisorctl")
    have_runit = peers and shutil.which("runsvdir") and shutil.which("sv")
    sd_max = args.supervisord_n or max(args.n)

    t_inproc = Table(
        "`status` round trip in-process (Python client on the socket)",
        f"Request `{STATUS_REQ.decode().strip()}`, the whole response line read; median of "
        f"{args.runs} after 10 warm-ups. The supervisord row is its in-process analogue: XML-RPC "
        "`supervisor.getAllProcessInfo` over its unix socket (one HTTP request per connection, "
        "as supervisorctl does).",
        ["N", "client", "median", "p90", "min", "samples", "response", "target"],
    )
    t_cmd = Table(
        "Whole command (fork + exec + connect + request + render + exit)",
        "Timed from Python: `subprocess.call(argv, stdout=DEVNULL)`, perf_counter_ns before the "
        "fork and after waitpid, so every row includes the harness's own fork/exec/wait; the "
        "`/bin/true` row is that floor, `pidward --version` the floor for this binary (exec, "
        "dynamic linking, clap), and `status` on a socket that does not exist the CLI's whole "
        "prologue without any server work. hyperfine -N (no shell) over the same argv as a cross-check.",
        ["N", "command", "median", "p90", "min", "samples", "hyperfine median", "hyperfine p90", "target"],
    )
    t_restart = Table(
        "`restart svc0` end to end",
        f"`start_secs = \"0\"`, so the new process is RUNNING once spawned; the command returns "
        f"then. {args.restarts} samples, each followed by a check that svc0 has a new PID.",
        ["N", "client", "median", "p90", "min", "samples"],
    )
    t_setup = Table(
        "Set-up and machine noise (not targets)",
        "Time from spawning the supervisor until every service is RUNNING, as seen by the "
        "harness polling (pidward 20 ms, supervisord 100 ms, runit 50 ms); then, for the whole "
        "section (start, measurements, stop), the CPU time other processes on this shared "
        "machine used meanwhile (everything but this harness and what it started and waited for; "
        "0 % = a quiet machine, 200 % = both CPUs busy elsewhere; for runit it includes the "
        "runsv processes, which outlive runsvdir at the stop and are not waited for by us).",
        ["N", "system", "all running after", "section", "others' CPU"],
    )
    summary: dict[str, float] = {}

    pw = sd = rn = None
    try:
        for n in args.n:
            # ---------------- pidward
            meter = CpuMeter()
            pw = Pidward(binary, n, base)
            log(f"pidward N={n}: starting")
            up = pw.start()
            log(f"pidward N={n}: all RUNNING")
            xs, size, last = inproc_persistent(pw.sock, STATUS_REQ, args.runs)
            check_status(last, n)
            xs = ms(xs)
            summary[f"inproc-{n}"] = statistics.median(xs)
            t_inproc.add(str(n), "pidward, one persistent connection", *stats_row(xs),
                         f"{size:,} B", verdict(statistics.median(xs), 2))
            xs = ms(inproc_fresh(pw.sock, STATUS_REQ, args.runs))
            t_inproc.add(str(n), "pidward, fresh connection per request", *stats_row(xs),
                         f"{size:,} B", verdict(statistics.median(xs), 2))
            if n > 1:
                one = b'{"version":1,"cmd":"status","names":["svc0"]}\n'
                xs, size1, last = inproc_persistent(pw.sock, one, args.runs)
                check_status(last, 1)
                xs = ms(xs)
                t_inproc.add(str(n), "pidward, persistent, `names:[\"svc0\"]`", *stats_row(xs),
                             f"{size1:,} B", "")

            if n == args.n[0]:
                floors = [
                    ("`/bin/true` (harness floor)", ["/bin/true"], (0,)),
                    ("`pidward --version` (binary floor)", [str(binary), "--version"], (0,)),
                    ("`pidward --socket NOSUCH status` (CLI, no server: exit 3)",
                     [str(binary), "--socket", str(base / "nosuch.sock"), "status"], (3,)),
                ]
                for label, argv, ok in floors:
                    xs = ms(time_cmd(argv, args.runs, ok=ok))
                    hf = hyperfine(argv, args.runs, base)
                    t_cmd.add("–", label, *stats_row(xs),
                              fmt(statistics.median(hf)) if hf else "–",
                              fmt(pct(hf, 90)) if hf else "–", "")
            argv = pw.ctl("status")
            xs = ms(time_cmd(argv, args.runs))
            hf = hyperfine(argv, args.runs, base)
            target = 5 if n >= 500 else 1
            summary[f"cmd-{n}"] = statistics.median(xs)
            t_cmd.add(str(n), "`pidward --socket SOCK status`", *stats_row(xs),
                      fmt(statistics.median(hf)) if hf else "–", fmt(pct(hf, 90)) if hf else "–",
                      verdict(statistics.median(xs), target) if n in (1, 500) else "")
            if n > 1:
                argv = pw.ctl("status", "svc0")
                xs = ms(time_cmd(argv, args.runs))
                hf = hyperfine(argv, args.runs, base)
                t_cmd.add(str(n), "`pidward --socket SOCK status svc0`", *stats_row(xs),
                          fmt(statistics.median(hf)) if hf else "–",
                          fmt(pct(hf, 90)) if hf else "–", "")
            log(f"pidward N={n}: status done")

            # restart, CLI then in-process
            def pid0() -> int:
                return next(s["pid"] for s in pw.statuses() if s["name"] == "svc0")

            xs = []
            for _ in range(args.restarts):
                before = pid0()
                t0 = time.perf_counter_ns()
                rc = subprocess.call(pw.ctl("restart", "svc0"), stdout=subprocess.DEVNULL)
                t1 = time.perf_counter_ns()
                after = pid0()
                if rc != 0 or after == before or after is None:
                    raise RuntimeError(f"restart: rc {rc}, pid {before} -> {after}")
                xs.append((t1 - t0) / 1e6)
            t_restart.add(str(n), "`pidward --socket SOCK restart svc0`", *stats_row(xs))
            summary[f"restart-{n}"] = statistics.median(xs)
            req = b'{"version":1,"cmd":"restart","names":["svc0"]}\n'
            xs = []
            for _ in range(args.restarts):
                before = pid0()
                with unix_connect(pw.sock) as s:
                    t0 = time.perf_counter_ns()
                    s.sendall(req)
                    line = recv_line(s, bytearray())
                    t1 = time.perf_counter_ns()
                r = json.loads(line)
                after = pid0()
                if not r.get("ok") or after == before:
                    raise RuntimeError(f"restart: {line!r}, pid {before} -> {after}")
                xs.append((t1 - t0) / 1e6)
            t_restart.add(str(n), "in-process request (connected before t0)", *stats_row(xs))
            log(f"pidward N={n}: restart done; shutting down")
            pw.stop()
            pw = None
            t_setup.add(str(n), "pidward", f"{up:.2f} s", *noise(meter))

            # ---------------- runit
            if have_runit:
                meter = CpuMeter()
                rn = Runit(n, base)
                log(f"runit N={n}: starting")
                up = rn.start()
                argv = ["sv", "status", *rn.dirs]
                xs = ms(time_cmd(argv, args.runs))
                hf = hyperfine(argv, args.runs, base)
                t_cmd.add(str(n), "`sv status DIR…` (runit)", *stats_row(xs),
                          fmt(statistics.median(hf)) if hf else "–",
                          fmt(pct(hf, 90)) if hf else "–", "")
                log(f"runit N={n}: done; stopping")
                rn.stop()
                rn = None
                t_setup.add(str(n), "runit", f"{up:.2f} s", *noise(meter))

            # ---------------- supervisord
            if have_sd and n <= sd_max:
                meter = CpuMeter()
                sd = Supervisord(n, base)
                log(f"supervisord N={n}: starting")
                up = sd.start()
                log(f"supervisord N={n}: all RUNNING")
                xs = ms(xmlrpc_fresh(sd, args.peer_runs))
                t_inproc.add(str(n), "supervisord, XML-RPC getAllProcessInfo", *stats_row(xs), "", "")
                argv = ["supervisorctl", "-c", str(sd.config), "status"]
                xs = ms(time_cmd(argv, args.peer_runs, warmup=2))
                t_cmd.add(str(n), "`supervisorctl -c CONF status`", *stats_row(xs), "–", "–", "")
                log(f"supervisord N={n}: done; stopping")
                sd.stop()
                sd = None
                t_setup.add(str(n), "supervisord", f"{up:.2f} s", *noise(meter))
    finally:
        for thing in (pw, rn, sd):
            if thing is not None:
                try:
                    thing.stop()
                except Exception as e:  # noqa: BLE001 - clean-up must go on
                    log(f"clean-up: {e}")
        for pid, what in list(STARTED.items()):
            if alive(pid):
                log(f"clean-up: {what} (PID {pid}) still alive, SIGKILL")
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(base, ignore_errors=True)

    elapsed = time.monotonic() - T0
    run_wall, run_others = run_meter.read()
    load1 = Path("/proc/loadavg").read_text().split()[:3]
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    cmdline = "python3 benches/control.py " + " ".join(sys.argv[1:])
    peer_list = [x for x in [
        f"runit {pkg_version('runit')}" if have_runit else "",
        f"supervisor {pkg_version('supervisor')}" if have_sd else "",
    ] if x]
    head = [
        f"- Command: `{cmdline.strip()}` (from the repository root; it builds with "
        "`cargo build --release` first).",
        f"- Date: {started_at:%Y-%m-%d %H:%M} UTC; total run time {elapsed:.0f} s.",
        f"- Machine: {os.cpu_count()} vCPU ({cpu}), kernel `{platform.release()}`, Python "
        f"{platform.python_version()}; temp dirs on `{args.tmp}`.",
        f"- Load average {' '.join(load0)} at the start, {' '.join(load1)} at the end; other "
        f"processes used {run_others:.1f} CPU-seconds during the {run_wall:.0f} s run "
        f"({run_others / run_wall * 100:.0f} % of one CPU){'; ' + quiet if quiet else ''}.",
        f"- pidward: commit {commit}{' + uncommitted src/ changes' if dirty else ''}, release "
        "profile, a private copy of `target/release/pidward`.",
        "- Peers: " + (", ".join(peer_list) if peer_list else "not run") + ".",
    ]
    body = "\n".join(head) + "\n\n" + "\n".join(
        t.markdown() for t in (t_inproc, t_cmd, t_restart, t_setup))
    print(body)
    if args.write:
        write_results(Path(args.write), body)
        log(f"wrote {args.write}")
    log(f"total {elapsed:.1f} s")
    return 0


def pkg_version(pkg: str) -> str:
    r = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", pkg], capture_output=True, text=True)
    return r.stdout.strip() or "?"


BEGIN, END = "<!-- results:begin (written by benches/control.py) -->", "<!-- results:end -->"


def write_results(path: Path, body: str) -> None:
    """Replaces the results block of `path`, keeping everything else (the notes)."""
    text = path.read_text() if path.exists() else (
        "# `pidward` control-socket benchmark\n\n" f"{BEGIN}\n{END}\n")
    if BEGIN in text and END in text:
        pre, rest = text.split(BEGIN, 1)
        post = rest.split(END, 1)[1]
        text = f"{pre}{BEGIN}\n{body}{END}{post}"
    else:
        text += f"\n{BEGIN}\n{body}{END}\n"
    path.write_text(text)


if __name__ == "__main__":
    sys.exit(main())

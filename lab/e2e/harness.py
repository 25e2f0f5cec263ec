"""The library the end-to-end scenarios are written with (runs inside the lab, as root).

Every scenario runs in its own network namespace (one IPVS table each), as its own Python
process started by run.py. It starts its own real servers (backend.py), its own directord
(and, for the differential tests, ldirectord in a second namespace), drives them, and
judges the kernel table with `ipvsadm -Ln`. Waits are on conditions with deadlines, never
fixed sleeps: the lab runs everything several times slower than the host.

Cheap, fork-free reads of /proc/<pid>/net/ip_vs serve two purposes: polling for a
condition (confirmed with ipvsadm before it counts) and the flap detector (Poller), which
samples the table every few milliseconds and records every state it sees.
"""

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import backend  # noqa: E402  (the real servers' control client)

PYTHON = "/usr/bin/python3"
# Seconds added to every timing bound, for the slow guest (qemu TCG, shared CPUs).
SLACK = float(os.environ.get("E2E_SLACK", "3"))
T0 = time.monotonic()


class Failure(AssertionError):
    """An assertion about directord's behaviour did not hold."""


def check(condition, message):
    if not condition:
        raise Failure(message)


def log(message):
    print(f"[{time.monotonic() - T0:7.2f}] {message}", flush=True)


def wait_until(predicate, timeout, what, interval=0.05):
    """Polls `predicate` until it returns a true value; returns (value, seconds taken)."""
    start = time.monotonic()
    deadline = start + timeout
    while True:
        value = predicate()
        if value:
            return value, time.monotonic() - start
        if time.monotonic() > deadline:
            raise Failure(f"timed out after {timeout:.1f} s waiting for {what}")
        time.sleep(interval)


# --------------------------------------------------------------------------------------
# Scenarios
# --------------------------------------------------------------------------------------

SCENARIOS = {}


class Scenario:
    def __init__(self, function, tags, timeout):
        self.function = function
        self.name = function.__name__
        self.tags = set(tags)
        self.timeout = timeout
        self.doc = (function.__doc__ or "").strip()


def scenario(*tags, timeout=150):
    """Registers a scenario: a function taking a Context. Raise Failure (check()) to fail."""

    def register(function):
        check(function.__name__ not in SCENARIOS, f"scenario {function.__name__} defined twice")
        SCENARIOS[function.__name__] = Scenario(function, tags, timeout)
        return function

    return register


# --------------------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------------------


def run(argv, check_status=True, timeout=60, env=None, input=None, cwd=None):
    """Runs a command to completion; returns CompletedProcess with text stdout/stderr."""
    try:
        result = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            input=input,
            cwd=cwd,
            stdin=None if input is not None else subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise Failure(f"{shlex.join(argv)}: did not finish within {timeout} s")
    if check_status and result.returncode != 0:
        raise Failure(
            f"{shlex.join(argv)}: exit {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"
        )
    return result


def netns_prefix(netns):
    return ["ip", "netns", "exec", netns] if netns else []


# --------------------------------------------------------------------------------------
# The kernel table
# --------------------------------------------------------------------------------------


class Table:
    """A listing of the IPVS table: services in listing order, each with its destinations.

    `services` maps "TCP 10.0.0.10:80" (or "FWM 7") to a Service. Connection counters are
    left out: they change with traffic, not with what directord does.
    """

    class Service:
        def __init__(self, scheduler, flags):
            self.scheduler = scheduler
            self.flags = flags
            self.dests = {}  # "127.0.0.2:8080" -> (forward, weight)

        def __eq__(self, other):
            return (self.scheduler, self.flags, self.dests) == (other.scheduler, other.flags, other.dests)

    def __init__(self):
        self.services = {}

    def __eq__(self, other):
        return isinstance(other, Table) and self.services == other.services

    def weights(self, service):
        """{destination: weight} of one service, or None when the service is absent."""
        entry = self.services.get(service)
        return None if entry is None else {d: w for d, (_, w) in entry.dests.items()}

    def summary(self):
        """{service: {destination: weight}} of the whole table."""
        return {key: self.weights(key) for key in self.services}

    def __str__(self):
        lines = []
        for key, entry in self.services.items():
            lines.append(f"{key} {entry.scheduler}{(' ' + entry.flags) if entry.flags else ''}")
            for dest, (forward, weight) in entry.dests.items():
                lines.append(f"  -> {dest} {forward} {weight}")
        return "\n".join(lines) or "(empty)"

    @staticmethod
    def from_ipvsadm(text):
        return Table._parse(text, proc=False)

    @staticmethod
    def from_proc(text):
        """/proc/net/ip_vs: hexadecimal addresses, ports and marks; flags are ignored."""
        return Table._parse(text, proc=True)

    @staticmethod
    def _parse(text, proc):
        """ipvsadm's layout, from `ipvsadm -Ln` or (proc=True) /proc/net/ip_vs."""
        endpoint = _proc_endpoint if proc else str
        table = Table()
        current = None
        for line in text.splitlines():
            words = line.split()
            if not words or line.startswith(("IP Virtual Server", "Prot ", "  -> RemoteAddress")):
                continue
            if words[0] in ("TCP", "UDP", "SCTP", "FWM"):
                if words[0] == "FWM":
                    name = str(int(words[1], 16)) if proc else words[1]
                else:
                    name = endpoint(words[1])
                current = Table.Service(words[2] if len(words) > 2 else "", None if proc else " ".join(words[3:]))
                table.services[f"{words[0]} {name}"] = current
            elif words[0] == "->" and current is not None:
                current.dests[endpoint(words[1])] = (words[2], int(words[3]))
        return table

def _proc_endpoint(text):
    address, _, port = text.rpartition(":")
    if address.startswith("["):
        import ipaddress  # only for IPv6, which the scenarios hardly use

        host = "[" + str(ipaddress.IPv6Address(address[1:-1])) + "]"
    else:
        number = int(address, 16)
        host = f"{number >> 24}.{(number >> 16) & 255}.{(number >> 8) & 255}.{number & 255}"
    return f"{host}:{int(port, 16)}"


def without_flags(table):
    """The same table with service flags blanked (to compare with /proc, which has none)."""
    copy = Table()
    for key, entry in table.services.items():
        service = Table.Service(entry.scheduler, None)
        service.dests = dict(entry.dests)
        copy.services[key] = service
    return copy


class Kernel:
    """The IPVS table of one network namespace.

    `anchor_pid` is a process living in that namespace, through whose /proc/PID/net/ip_vs
    the table is read without forking; None means this process's own namespace.
    """

    def __init__(self, netns=None, anchor_pid=None):
        self.netns = netns
        self.anchor_pid = anchor_pid

    def run(self, argv, **kwargs):
        return run(netns_prefix(self.netns) + list(argv), **kwargs)

    def ipvsadm(self, *args, **kwargs):
        return self.run(["ipvsadm", *args], **kwargs)

    def table(self):
        """The judge: `ipvsadm -Ln`."""
        return Table.from_ipvsadm(self.ipvsadm("-Ln").stdout)

    def listing(self, *options):
        """`ipvsadm -Ln [options]` with the connection counter columns cut, line by line."""
        lines = []
        for line in self.ipvsadm("-Ln", *options).stdout.splitlines():
            if line.startswith("  -> ") and not line.startswith("  -> RemoteAddress") and not options:
                line = " ".join(line.split()[:4])
            lines.append(line.rstrip())
        return "\n".join(lines)

    def stats(self):
        """{(service, destination or None): (conns, inpkts, outpkts, inbytes, outbytes)}."""
        result = {}
        service = None
        for line in self.ipvsadm("-Ln", "--stats", "--exact").stdout.splitlines():
            words = line.split()
            if words and words[0] in ("TCP", "UDP", "SCTP", "FWM"):
                service = f"{words[0]} {words[1]}"
                result[(service, None)] = tuple(int(w) for w in words[2:7])
            elif words[:1] == ["->"] and service and words[1] != "RemoteAddress:Port":
                result[(service, words[1])] = tuple(int(w) for w in words[2:7])
        return result

    def fast_text(self):
        path = f"/proc/{self.anchor_pid}/net/ip_vs" if self.anchor_pid else "/proc/self/net/ip_vs"
        with open(path, "rb") as file:
            return file.read()

    def fast(self):
        """The table from /proc (no fork): for polling, never as the final judge."""
        text = self.fast_text()
        cached = getattr(self, "_fast_cache", None)
        if cached and cached[0] == text:
            return cached[1]
        table = Table.from_proc(text.decode())
        self._fast_cache = (text, table)
        return table

    def wait(self, predicate, timeout, what):
        """Waits until predicate(table) holds in /proc and then in `ipvsadm -Ln` too.

        Returns (table, seconds). The predicate sees Tables without service flags.
        """

        def holds():
            if not predicate(self.fast()):
                return None
            table = self.table()
            return table if predicate(without_flags(table)) else None

        try:
            return wait_until(holds, timeout, what, interval=0.05)
        except Failure as failure:
            raise Failure(f"{failure}\nthe table (ipvsadm -Ln):\n{self.table()}") from None

    def wait_weights(self, service, expected, timeout, what=None):
        """Waits until `service` has exactly the destinations {endpoint: weight}."""
        return self.wait(
            lambda table: table.weights(service) == expected,
            timeout,
            what or f"{service} to be {expected}",
        )

    def poller(self, interval=0.02):
        return Poller(self, interval)

    def add_address(self, address):
        self.run(["ip", "address", "add", f"{address}/32", "dev", "lo"])


class Poller:
    """Samples the table every few milliseconds from /proc and keeps each distinct state.

    The flap detector: an entry deleted and re-added, a weight that dips, a fallback that
    comes and goes, each leaves a state behind even if it lasts a few milliseconds.
    """

    def __init__(self, kernel, interval):
        self.kernel = kernel
        self.interval = interval
        self.states = []  # (seconds since T0, summary dict)
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="poller")
        self._thread.start()
        # The first state is in before the poller is used.
        wait_until(lambda: self.states, 10, "the poller's first sample", interval=0.001)

    def _run(self):
        last = None
        last_text = None
        while not self._stop.is_set():
            try:
                text = self.kernel.fast_text()
            except OSError:
                text = None
            self.samples += 1
            # Parse only what changed: most samples are the same text (and the lab is slow).
            if text != last_text:
                last_text = text
                state = None if text is None else Table.from_proc(text.decode()).summary()
                if state != last:
                    self.states.append((time.monotonic() - T0, state))
                    last = state
            time.sleep(self.interval)

    def stop(self):
        self._stop.set()
        self._thread.join()
        return self

    def history(self, service, endpoint):
        """The weights `endpoint` had in `service` over time (None: absent), deduplicated."""
        result = []
        for _, state in self.states:
            weights = (state or {}).get(service)
            value = None if weights is None else weights.get(endpoint)
            if not result or result[-1] != value:
                result.append(value)
        return result

    def service_history(self, service):
        result = []
        for _, state in self.states:
            present = service in (state or {})
            if not result or result[-1] != present:
                result.append(present)
        return result

    def describe(self, limit=40):
        lines = [f"{len(self.states)} distinct states in {self.samples} samples:"]
        for stamp, state in self.states[-limit:]:
            lines.append(f"  [{stamp:7.2f}] {state}")
        return "\n".join(lines)


# --------------------------------------------------------------------------------------
# Real servers
# --------------------------------------------------------------------------------------


class Backends:
    """Real servers on threads of this process (backend.Servers), in a kernel's namespace."""

    def __init__(self, specs, netns=None):
        self.servers = backend.Servers(specs, netns=netns)
        self.anchor_tid = self.servers.anchor_tid

    def set(self, endpoint, mode):
        self.servers.set(endpoint, mode)
        log(f"backend {endpoint} -> {mode}")

    def hits(self, endpoint):
        return self.servers.hits(endpoint)

    def serving(self, endpoint):
        """Requests `endpoint` has read and not yet answered (a `slow` server)."""
        return self.servers.listener(endpoint).serving

    def close(self):
        self.servers.close()


# --------------------------------------------------------------------------------------
# directord
# --------------------------------------------------------------------------------------

CTIME = r"[A-Z][a-z]{2} [A-Z][a-z]{2} [ 1-3]\d \d{2}:\d{2}:\d{2} \d{4}"
LOGFILE_LINE = re.compile(r"^\[(" + CTIME + r")\|([^|\]]+)\|(\d+)\] (.*)$")
MONITOR_LINE = re.compile(r"^\[(" + CTIME + r")\] \[(\d+)\] (.*) \[(up|down)\] (.*)$")


SUPERVISED_LINE = re.compile(r"^\[(" + CTIME + r")\] (.*)$")


_LINE_CACHE = {}


def file_lines(path):
    """The complete lines of a file that only grows (log, monitor file), read incrementally:
    only what was appended since the last call is read (waits poll these files often)."""
    entry = _LINE_CACHE.get(path)
    try:
        size = os.stat(path).st_size
    except FileNotFoundError:
        _LINE_CACHE.pop(path, None)
        return []
    if entry is None or size < entry["offset"]:
        entry = _LINE_CACHE[path] = {"offset": 0, "lines": [], "parsed": {}}
    if size > entry["offset"]:
        with open(path, "rb") as file:
            file.seek(entry["offset"])
            data = file.read()
        end = data.rfind(b"\n") + 1  # a line still being written waits for its newline
        entry["lines"].extend(data[:end].decode(errors="replace").splitlines())
        entry["offset"] += end
    return entry["lines"]


def parsed_lines(path, parse):
    """file_lines mapped through `parse(number, line)`, each line parsed once."""
    lines = file_lines(path)
    entry = _LINE_CACHE.get(path)
    if entry is None:
        return []
    cache = entry["parsed"].setdefault(parse, [])
    for number in range(len(cache), len(lines)):
        cache.append(parse(number + 1, lines[number]))
    return cache


def supervised_messages(path):
    """Messages of `[<ctime>] <message>` lines (supervised=yes); other lines are skipped."""
    return [m.group(2) for m in map(SUPERVISED_LINE.match, file_lines(path)) if m]


def line_re(text, reason=None):
    """A regex for one whole log line: `text` exactly, then ` (REASON)` when reason is given.

    reason=True: any non-empty reason; a string: a regex the reason must match (searched).
    """
    pattern = "^" + re.escape(text)
    if reason is True:
        pattern += r" \((?P<reason>.+)\)"
    elif reason:
        pattern += r" \((?P<reason>.*(?:" + reason + r").*)\)"
    return re.compile(pattern + "$")


REASON_LINE = re.compile(r"^(<[0-7]>)?Check of real server (\S+ \(\S+\)): (.*)$")


def fold_reasons(lines):
    """Each `Check of real server X (V): REASON` line appended to the transition before it
    (which names X (V)) as ` (REASON)`."""
    folded = []
    for line in lines:
        match = REASON_LINE.match(line)
        if match and folded and match.group(2) in folded[-1]:
            folded[-1] += f" ({match.group(3)})"
        else:
            folded.append(line)
    return folded


def _parse_log_line(number, line):
    match = LOGFILE_LINE.match(line)
    check(match, f"log file line {number}: not '[<ctime>|<config>|<pid>] <message>': {line!r}")
    return (match.group(1), match.group(2), int(match.group(3)), match.group(4))


def _parse_monitor_line(number, line):
    match = MONITOR_LINE.match(line)
    check(match, f"monitor file line {number}: not '[<ctime>] [<pid>] <real> [up|down] <message>': {line!r}")
    return (match.group(1), int(match.group(2)), match.group(3), match.group(4), match.group(5))


class Director:
    """One directord instance on one configuration file, driven through its command line.

    The configuration text may use {dir}, {log} and {monitor}: the scenario's directory, the
    log file and a monitor file next to it.
    """

    def __init__(self, ctx, config, name="web.cf", kernel=None, environment=None):
        self.ctx = ctx
        self.binary = ctx.directord
        self.name = name
        self.path = f"{ctx.dir}/{name}"
        self.run_dir = f"{ctx.dir}/run-{name}"
        os.makedirs(self.run_dir, exist_ok=True)
        self.logfile = f"{ctx.dir}/{name}.log"
        self.monitorfile = f"{ctx.dir}/{name}.monitor"
        self.stderr_path = f"{ctx.dir}/{name}.stderr"
        self.kernel = kernel or ctx.kernel
        self.environment = dict(os.environ)
        self.environment["DIRECTORD_RUN_DIR"] = self.run_dir
        for key in ("NOTIFY_SOCKET", "INVOCATION_ID", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS"):
            self.environment.pop(key, None)
        self.environment.update(environment or {})
        self.foreground = None  # Popen of a foreground (-d or supervised) run
        self.pids = set()
        self.write(config)
        ctx.cleanups.append(self.kill)

    # -- the configuration --

    def write(self, config):
        text = config.format(dir=self.ctx.dir, log=self.logfile, monitor=self.monitorfile)
        with open(self.path + ".tmp", "w") as file:
            file.write(text)
        os.rename(self.path + ".tmp", self.path)
        self.text = text

    # -- the command line --

    def command(self, *words, options=(), config=None, timeout=60, env=None):
        """`directord [options] CONFIG words...`, run to completion."""
        argv = [self.binary, *options, config or self.path, *words]
        environment = dict(self.environment)
        environment.update(env or {})
        result = run(netns_prefix(self.kernel.netns) + argv, check_status=False, timeout=timeout, env=environment)
        log(f"$ directord {' '.join(options)} {config or self.name} {' '.join(words)} -> exit {result.returncode}")
        return result

    @property
    def pidfile(self):
        return f"{self.run_dir}/directord.{self.name}.pid"

    def pid(self):
        try:
            with open(self.pidfile) as file:
                return int(file.read().strip())
        except (OSError, ValueError):
            return None

    def start(self, options=()):
        """`directord CONFIG start` (it daemonizes) and waits for its pid file."""
        result = self.command("start", options=options)
        check(result.returncode == 0, f"directord start: exit {result.returncode}\n{result.stdout}{result.stderr}")
        pid, _ = wait_until(lambda: self.live_pid(), 30, "directord's pid file")
        self.pids.add(pid)
        return pid

    def live_pid(self):
        pid = self.pid()
        return pid if pid and os.path.exists(f"/proc/{pid}") else None

    def start_foreground(self, options=("-d",), env=None, words=None, journal=False):
        """Runs `directord OPTIONS CONFIG start` in the foreground, stderr to a file.

        journal=True sets $JOURNAL_STREAM to that file's device:inode, as systemd does when
        standard error is connected to the journal."""
        argv = [self.binary, *options, self.path, "start"] if words is None else [self.binary, *words]
        environment = dict(self.environment)
        environment.update(env or {})
        self.stderr_file = open(self.stderr_path, "a")
        if journal:
            info = os.fstat(self.stderr_file.fileno())
            environment["JOURNAL_STREAM"] = f"{info.st_dev}:{info.st_ino}"
        self.stdout_path = self.stderr_path.replace(".stderr", ".stdout")
        self.stdout_file = open(self.stdout_path, "a")
        self.foreground = subprocess.Popen(
            netns_prefix(self.kernel.netns) + argv,
            stdout=self.stdout_file,
            stderr=self.stderr_file,
            stdin=subprocess.DEVNULL,
            env=environment,
        )
        log(f"$ {shlex.join(argv)} & (pid {self.foreground.pid})")
        self.pids.add(self.foreground.pid)
        return self.foreground

    def stop(self):
        result = self.command("stop")
        check(result.returncode == 0, f"directord stop: exit {result.returncode}\n{result.stdout}{result.stderr}")
        return result

    def signal(self, number):
        pid = self.foreground.pid if self.foreground else self.live_pid()
        check(pid, "no running directord to signal")
        os.kill(pid, number)
        log(f"kill -{signal.Signals(number).name} {pid}")

    def kill(self):
        for pid in list(self.pids) + ([self.pid()] if self.pid() else []):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        if self.foreground:
            try:
                self.foreground.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass

    # -- what it wrote --

    def records(self):
        """The log file as (ctime, config name, pid, message); every line must be in format."""
        return list(parsed_lines(self.logfile, _parse_log_line))

    def messages(self, source="file", raw=False):
        """The log messages: from the log file, a foreground run's stderr (-d, the bare
        messages), or its stdout (supervised=yes, `[<ctime>] <message>`).

        directord logs a transition in ldirectord's words, then the check's reason on a line
        of its own (`Check of real server X (V): REASON`). Unless raw, that line is folded into
        the transition as ` (REASON)`, so that line_re(text, reason) matches both at once."""
        if source == "file":
            lines = [record[3] for record in self.records()]
        elif source == "stdout":
            lines = supervised_messages(self.stdout_path)
        else:
            lines = list(file_lines(self.stderr_path))
        return lines if raw else fold_reasons(lines)

    def mark(self, source="file"):
        """A position in the log: lines after it are "new"."""
        return len(self.messages(source))

    def find(self, pattern, since=0, source="file"):
        """Messages from position `since` that match a regex (fullmatch for compiled line_re)."""
        regex = pattern if isinstance(pattern, re.Pattern) else re.compile(pattern)
        return [m for m in self.messages(source)[since:] if regex.search(m)]

    def wait_log(self, pattern, timeout, since=0, source="file", count=1):
        """Waits until `count` messages after `since` match; returns the first match object."""
        regex = pattern if isinstance(pattern, re.Pattern) else re.compile(pattern)

        def found():
            matches = [regex.search(m) for m in self.messages(source)[since:]]
            matches = [m for m in matches if m]
            return matches if len(matches) >= count else None

        try:
            matches, _ = wait_until(found, timeout, f"log line /{regex.pattern}/", interval=0.1)
        except Failure as failure:
            raise Failure(f"{failure}\n{self.log_tail(source)}") from None
        return matches[0]

    def log_tail(self, source="file", lines=40):
        messages = self.messages(source)
        return f"the last {min(lines, len(messages))} of {len(messages)} log lines:\n" + "\n".join(
            "  " + m for m in messages[-lines:]
        )

    def monitor(self):
        """The monitor file as (ctime, pid, real id, up|down, message)."""
        return list(parsed_lines(self.monitorfile, _parse_monitor_line))

    def wait_checks(self, address, count, since=0, timeout=30, state=None):
        """Waits for `count` monitor-file lines (checks) about real server `address` (its
        "IP PORT" as the monitor file writes it) after line `since`."""

        def enough():
            lines = [
                m for m in self.monitor()[since:] if f" {address} " in f" {m[2]} " and (state is None or m[3] == state)
            ]
            return lines if len(lines) >= count else None

        label = getattr(self, "label", "directord")
        return wait_until(enough, timeout, f"{count} checks of {address} in {label}'s monitor file", interval=0.1)[0]


# --------------------------------------------------------------------------------------
# The context a scenario gets
# --------------------------------------------------------------------------------------


class Context:
    def __init__(self, name, directory, directord):
        self.name = name
        self.dir = directory
        self.directord = directord
        self.netns = os.environ.get("E2E_NETNS")
        self.kernel = Kernel()
        self.cleanups = []
        self.extra_netns = []

    def backends(self, specs, kernel=None):
        """Starts real servers: {"127.0.0.2:8080": "up", ...} (modes: see backend.py)."""
        kernel = kernel or self.kernel
        backends = Backends(specs, netns=kernel.netns)
        self.cleanups.append(backends.close)
        if kernel.netns and not kernel.anchor_pid:
            kernel.anchor_pid = backends.anchor_tid
        return backends

    def director(self, config, name="web.cf", **kwargs):
        return Director(self, config, name=name, **kwargs)

    def other_namespace(self, suffix):
        """A second network namespace (for ldirectord), deleted at the end."""
        name = f"{self.netns or 'e2e'}-{suffix}"
        run(["ip", "netns", "add", name])
        self.extra_netns.append(name)
        run(["ip", "-n", name, "link", "set", "lo", "up"])
        return Kernel(netns=name)

    def cpu_report(self):
        """CPU seconds used so far, by program, in this scenario's namespaces."""
        ticks = os.sysconf("SC_CLK_TCK")
        usage = {}
        own = os.times()
        usage["scenario (python)"] = own.user + own.system
        names = {t.native_id: t.name for t in threading.enumerate()}
        for tid in os.listdir("/proc/self/task"):
            try:
                with open(f"/proc/self/task/{tid}/stat") as file:
                    fields = file.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            name = names.get(int(tid), "other")
            name = "main" if int(tid) == os.getpid() else name.split("-")[0].split(" ")[0]
            key = f"  thread {name}"
            usage[key] = usage.get(key, 0) + (int(fields[11]) + int(fields[12])) / ticks
        for netns in [self.netns] + self.extra_netns:
            if not netns:
                continue
            pids = run(["ip", "netns", "pids", netns], check_status=False).stdout.split()
            for pid in pids:
                if int(pid) == os.getpid():
                    continue
                try:
                    with open(f"/proc/{pid}/stat") as file:
                        stat = file.read()
                except OSError:
                    continue
                name = stat[stat.index("(") + 1:stat.rindex(")")]
                fields = stat[stat.rindex(")") + 2:].split()
                seconds = (int(fields[11]) + int(fields[12])) / ticks
                usage[name] = usage.get(name, 0) + seconds
        return ", ".join(f"{name} {seconds:.1f}" for name, seconds in sorted(usage.items(), key=lambda x: -x[1]))

    def close(self):
        try:
            log(f"CPU seconds: {self.cpu_report()}")
        except Exception as error:
            log(f"CPU report: {error}")
        for cleanup in reversed(self.cleanups):
            try:
                cleanup()
            except Exception as error:  # keep cleaning
                log(f"cleanup: {error}")
        for name in self.extra_netns:
            pids = run(["ip", "netns", "pids", name], check_status=False).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except OSError:
                    pass
            run(["ip", "netns", "del", name], check_status=False)


def receive_datagrams(path):
    """A bound Unix datagram socket at `path` (for NOTIFY_SOCKET)."""
    if os.path.exists(path):
        os.unlink(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    return sock

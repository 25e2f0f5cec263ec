"""directord under systemd (Type=notify), without systemd: the harness plays the service
manager's part of the sd_notify protocol (a datagram socket named by $NOTIFY_SOCKET,
$WATCHDOG_USEC) and checks what systemd/directord.service relies on."""

import os
import re
import shlex
import signal
import socket
import subprocess
import time

from harness import HERE, Failure, check, log, netns_prefix, receive_datagrams, run, scenario, wait_until
from scenarios import ALL_UP, DETECT, FIRST, R2, R3, R4, SVC, VIP, started, traffic, web

WATCHDOG_USEC = 1_000_000


class Manager:
    """The service manager's end of $NOTIFY_SOCKET: every datagram received, each field with
    the time it came and the table at that moment."""

    def __init__(self, t, path):
        self.t = t
        self.path = path
        self.sock = receive_datagrams(path)
        self.sock.settimeout(0.05)
        self.messages = []  # (seconds, field, value, table summary at receipt)

    def drain(self, until=None, timeout=0.0):
        """Receives for `timeout` seconds, or until the field=value `until` arrives (returned)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                data = self.sock.recv(4096).decode()
            except socket.timeout:
                if time.monotonic() > deadline:
                    return None
                continue
            summary = self.t.kernel.fast().summary()
            for line in data.splitlines():
                field, _, value = line.partition("=")
                self.messages.append((time.monotonic(), field, value, summary))
                if until and (field, value) == until:
                    return self.messages[-1]

    def fields(self, start=0, names=None):
        return [(m[1], m[2]) for m in self.messages[start:] if names is None or m[1] in names]


@scenario("systemd")
def notify_protocol(t):
    """`directord --foreground CONFIG start` (the units' ExecStart) stays in the foreground, sends
    READY=1 only once its first reconciliation is in the kernel, RELOADING=1 then READY=1
    around a SIGHUP reload, WATCHDOG=1 well within $WATCHDOG_USEC, STOPPING=1 on SIGTERM,
    and writes journal lines (`<priority>message`) on standard error when that is the journal
    ($JOURNAL_STREAM names it), as well as to the file's log file, as ldirectord does."""
    backends, d = started(t, web(quiescent="no"))
    manager = Manager(t, f"{t.dir}/notify.sock")
    messages, drain = manager.messages, manager.drain

    process = d.start_foreground(
        options=("--foreground",),
        env={"NOTIFY_SOCKET": f"{t.dir}/notify.sock", "WATCHDOG_USEC": str(WATCHDOG_USEC)},
        journal=True,
    )
    ready = drain(until=("READY", "1"), timeout=FIRST)
    check(ready, f"no READY=1 within {FIRST} s: {manager.fields()}")
    check(process.poll() is None, "with --foreground, `directord start` did not stay in the foreground")
    check(d.pid() == process.pid, f"pid file {d.pid()}, expected the service's main process {process.pid}")
    log(f"READY=1 with the table {ready[3]}")
    # Its first reconciliation is in the kernel: the virtual service exists (its real servers
    # join as their first checks pass, never before).
    check(ready[3].get(SVC) is not None, f"READY=1 before the virtual service was in the kernel: {ready[3]}")
    t.kernel.wait_weights(SVC, ALL_UP, FIRST, "the three real servers after READY=1")

    # Watchdog pings from the event loop.
    drain(timeout=3.5)
    pings = [m[0] for m in messages if m[1] == "WATCHDOG" and m[2] == "1"]
    check(len(pings) >= 3, f"{len(pings)} WATCHDOG=1 in about 3.5 s with WATCHDOG_USEC={WATCHDOG_USEC}")
    gaps = [b - a for a, b in zip(pings, pings[1:])]
    log(f"watchdog pings every {min(gaps):.2f}..{max(gaps):.2f} s")
    check(max(gaps) < WATCHDOG_USEC / 1e6, f"a watchdog gap of {max(gaps):.2f} s (systemd would kill the service)")

    # Reload: RELOADING=1, then READY=1.
    start = len(messages)
    os.kill(process.pid, signal.SIGHUP)
    drain(until=("READY", "1"), timeout=15)
    fields = manager.fields(start, ("RELOADING", "READY"))
    check(fields[:1] == [("RELOADING", "1")] and fields[-1:] == [("READY", "1")],
          f"around a reload: {fields}, expected RELOADING=1 then READY=1")

    # Stop: STOPPING=1, clean-up, exit 0.
    start = len(messages)
    os.kill(process.pid, signal.SIGTERM)
    stopping = drain(until=("STOPPING", "1"), timeout=15)
    check(stopping, f"no STOPPING=1 after SIGTERM: {manager.fields(start)}")
    check(process.wait(timeout=30) == 0, "non-zero exit after SIGTERM")
    check(SVC not in t.kernel.table().services, "services left after SIGTERM")

    lines = d.messages("stderr")
    check(lines, "nothing on standard error (the journal)")
    for line in lines:
        check(re.match(r"^<[0-7]>\S", line), f"journal line without a <priority> prefix: {line!r}")
    check(f"<6>Added virtual server: {VIP}" in lines, f"'<6>Added virtual server: {VIP}' not in {lines[:6]}")
    logged = d.messages("file")
    check(f"Added virtual server: {VIP}" in logged, f"the log file lacks the journal's lines: {logged[:6]}")
    check(any(m.startswith("Starting Linux Director v1.186-ha with pid: ") for m in logged),
          f"no ldirectord start line in the log file: {logged[:3]}")


@scenario("systemd")
def systemd_environment_does_not_keep_foreground(t):
    """What every child of a systemd service inherits ($INVOCATION_ID, $NOTIFY_SOCKET,
    $JOURNAL_STREAM: Pacemaker's executor, configuration agents) does not keep `directord
    start` in the foreground: it detaches as ldirectord does, returns 0 only once its first
    reconciliation is in the kernel, and neither notifies the inherited socket nor writes to
    the inherited journal."""
    backends, d = started(t, web(quiescent="no"))
    manager = Manager(t, f"{t.dir}/notify.sock")
    journal = open(f"{t.dir}/journal", "a")
    info = os.fstat(journal.fileno())
    env = {"INVOCATION_ID": "0123456789abcdef0123456789abcdef", "NOTIFY_SOCKET": manager.path,
           "JOURNAL_STREAM": f"{info.st_dev}:{info.st_ino}"}
    result = d.command("start", env=env, timeout=FIRST)
    check(result.returncode == 0, f"start: exit {result.returncode}\n{result.stdout}{result.stderr}")
    check(t.kernel.table().services.get(SVC) is not None, "start returned before its service was in the kernel")
    pid = d.live_pid()
    check(pid, "no daemon after start returned")
    d.pids.add(pid)
    t.kernel.wait_weights(SVC, ALL_UP, FIRST, "the three real servers")
    manager.drain(timeout=1)
    check(manager.fields() == [], f"the detached daemon notified the inherited socket: {manager.fields()}")
    check(os.path.getsize(journal.name) == 0, "the detached daemon wrote to the inherited journal")
    check(f"Added virtual server: {VIP}" in d.messages("file"), "nothing in the log file")
    d.stop()


def unit_file(path):
    """The [Service] section of a systemd unit: {key: [values in order]}."""
    section, service = None, {}
    for line in open(path):
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line
        elif section == "[Service]":
            key, _, value = line.partition("=")
            service.setdefault(key.strip(), []).append(value.strip())
    return service


CAPABILITIES = {"CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13}


@scenario("systemd")
def systemd_unit_runs_as_written(t):
    """systemd/directord@.service, run as systemd would run it (the harness reads the unit's
    lines): ExecStartPre, then ExecStart with only the unit's capabilities (its bounding set,
    no new privileges) and systemd's environment; READY=1; the pid file `directord NAME
    status` finds; HTTP and ping checks working with those capabilities; ExecReload with a
    changed weight (edited in place, RELOADING=1 then READY=1); ExecReload on an invalid file
    fails before any signal is sent and changes nothing; KillMode's SIGTERM to the main
    process: STOPPING=1, services removed, exit 0 within TimeoutStopSec."""
    unit = unit_file(os.path.join(HERE, "..", "..", "systemd", "directord@.service"))
    check(unit.get("Type") == ["notify"], f"Type={unit.get('Type')}, expected notify")
    check(unit.get("KillMode") == ["mixed"], f"KillMode={unit.get('KillMode')}, expected mixed")
    bounding = unit["CapabilityBoundingSet"][0].split()
    check(set(bounding) == set(CAPABILITIES), f"CapabilityBoundingSet={bounding}")
    name = f"e2e-unit-{os.environ.get('E2E_NETNS', 'x')}.cf"
    ping = "virtual=10.0.0.12:80\n\treal=127.0.0.5:80 masq 4\n\tchecktype=ping\n"
    backends, d = started(t, web(quiescent="no", virtual=ping), name=name)
    os.makedirs("/etc/ha.d", exist_ok=True)
    installed = f"/etc/ha.d/{name}"

    def install(text):
        with open(installed + ".tmp", "w") as file:
            file.write(text)
        os.rename(installed + ".tmp", installed)

    install(d.text)
    t.cleanups.append(lambda: os.path.exists(installed) and os.unlink(installed))
    manager = Manager(t, f"{t.dir}/notify.sock")
    journal = open(f"{t.dir}/journal", "a")
    info = os.fstat(journal.fileno())
    environment = {k: v for k, v in os.environ.items() if k not in ("DIRECTORD_RUN_DIR", "WATCHDOG_PID")}
    environment.update(
        NOTIFY_SOCKET=manager.path,
        INVOCATION_ID="0123456789abcdef0123456789abcdef",
        JOURNAL_STREAM=f"{info.st_dev}:{info.st_ino}",
        WATCHDOG_USEC=str(int(unit["WatchdogSec"][0]) * 1_000_000),
    )
    sandbox = ["setpriv", "--bounding-set", "-all," + ",".join(f"+{c[4:].lower()}" for c in bounding)]
    if unit.get("NoNewPrivileges") == ["yes"]:
        sandbox.append("--no-new-privs")

    def argv(line, mainpid=None):
        prefixes = line[: len(line) - len(line.lstrip("-+@:!"))]
        words = shlex.split(line[len(prefixes):].replace("%i", name))
        words = [t.directord if w == "/usr/sbin/directord" else w for w in words]
        words = [str(mainpid) if w == "$MAINPID" else w for w in words]
        return prefixes, netns_prefix(t.kernel.netns) + ([] if "+" in prefixes else sandbox) + words

    def run_lines(key, mainpid=None):
        """Runs the unit's `key=` lines in order as systemd does: the first failure (unless
        prefixed with -) ends the job. Returns the exit statuses."""
        statuses = []
        for line in unit.get(key, []):
            prefixes, words = argv(line, mainpid)
            result = run(words, check_status=False, env=environment)
            log(f"{key}={line} -> exit {result.returncode} {result.stderr.strip()[:300]}")
            statuses.append(result.returncode)
            if result.returncode != 0 and "-" not in prefixes:
                break
        return statuses

    run_lines("ExecStartPre")
    (start,) = unit["ExecStart"]
    process = subprocess.Popen(argv(start)[1], stdin=subprocess.DEVNULL, stdout=journal, stderr=journal,
                               env=environment)
    d.pids.add(process.pid)
    ready = manager.drain(until=("READY", "1"), timeout=FIRST)
    check(ready, f"no READY=1 within {FIRST} s: {manager.fields()} (exit {process.poll()})")
    check(process.poll() is None, "ExecStart did not stay in the foreground")
    with open(f"/proc/{process.pid}/status") as file:
        effective = int(re.search(r"^CapEff:\s*([0-9a-f]+)$", file.read(), re.M).group(1), 16)
    expected = sum(1 << CAPABILITIES[c] for c in bounding)
    check(effective == expected, f"effective capabilities {effective:#x}, expected {expected:#x}")
    pidfile = f"/run/directord.{name}.pid"
    check(open(pidfile).read().strip() == str(process.pid), f"{pidfile} does not name the main process")
    clean = {k: v for k, v in environment.items() if k not in ("NOTIFY_SOCKET", "INVOCATION_ID", "JOURNAL_STREAM")}
    status = run(netns_prefix(t.kernel.netns) + [t.directord, name, "status"], check_status=False, env=clean)
    check(status.returncode == 0, f"`directord {name} status` beside the unit: exit {status.returncode}")
    t.kernel.wait_weights(SVC, ALL_UP, FIRST, "the three real servers")
    t.kernel.wait_weights("TCP 10.0.0.12:80", {"127.0.0.5:80": 4}, FIRST, "the pinged real server")

    # systemctl reload, with a changed weight.
    t.kernel.add_address("10.0.0.10")
    traffic(VIP, 6)
    before = t.kernel.stats()
    mark = len(manager.messages)
    install(d.text.replace("real=127.0.0.3:8080 masq 2", "real=127.0.0.3:8080 masq 5"))
    check(run_lines("ExecReload", process.pid) == [0] * len(unit["ExecReload"]), "ExecReload failed")
    check(manager.drain(until=("READY", "1"), timeout=15), f"no READY=1 after the reload: {manager.fields(mark)}")
    fields = manager.fields(mark, ("RELOADING", "READY"))
    check(fields == [("RELOADING", "1"), ("READY", "1")], f"around the reload: {fields}")
    t.kernel.wait_weights(SVC, {R2: 1, R3: 5, R4: 3}, DETECT, "127.0.0.3 at weight 5")
    after = t.kernel.stats()
    for real in (R2, R3, R4):
        check(after[(SVC, real)][0] >= before[(SVC, real)][0],
              f"{real}'s connection counter went back: {before[(SVC, real)]} -> {after[(SVC, real)]}")

    # systemctl reload with an invalid file: the validation line fails, nothing is sent.
    listing = t.kernel.listing()
    mark = len(manager.messages)
    install(d.text.replace("scheduler=wrr", "schedular=wrr"))
    statuses = run_lines("ExecReload", process.pid)
    check(statuses[:1] == [2] and len(statuses) == 1, f"ExecReload on an invalid file: exits {statuses}")
    manager.drain(timeout=2)
    check(manager.fields(mark, ("RELOADING", "READY")) == [], f"signalled anyway: {manager.fields(mark)}")
    check(t.kernel.listing() == listing, "the invalid reload changed the table")

    # systemctl stop: KillMode=mixed sends SIGTERM to the main process only.
    mark = len(manager.messages)
    stop_timeout = int(unit["TimeoutStopSec"][0])
    process.send_signal(signal.SIGTERM)
    check(manager.drain(until=("STOPPING", "1"), timeout=15), f"no STOPPING=1: {manager.fields(mark)}")
    try:
        code = process.wait(timeout=stop_timeout)
    except subprocess.TimeoutExpired:
        raise Failure(f"still running {stop_timeout} s (TimeoutStopSec) after SIGTERM")
    check(code == 0, f"exit {code} after SIGTERM (systemd would count a failure)")
    table = t.kernel.table()
    check(SVC not in table.services and "TCP 10.0.0.12:80" not in table.services, f"services left:\n{table}")
    check(not os.path.exists(pidfile), f"{pidfile} left behind")
    lines = open(journal.name).read().splitlines()
    check(f"<6>Added virtual server: {VIP}" in lines, f"'<6>Added virtual server: {VIP}' not in the journal: {lines[:6]}")

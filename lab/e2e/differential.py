"""Differential tests: Debian's ldirectord (Perl, the real ipvsadm, LWP for HTTP checks)
and directord on the same file, against the same real servers in the same states, each in
its own network namespace of the same kernel. After every change both must settle on the
same table (`ipvsadm -Ln`), log the same failover lines (directord adds the check's reason)
and write the same real server ids to the monitor file.

Where they differ, it is one of ldirectord's bugs that directord fixes, and the scenario
asserts both sides of it explicitly (ldirectord does X, directord does not), so that the
list below stays true:

  1. start (and reload) adds every unchecked real server at full weight, then takes it out
     again (deleted, or weight 0 with quiescent=yes) until its first check: for a moment
     traffic goes to servers never checked, and with quiescent=yes every server is at
     weight 0 for a whole check round (an outage). The fallback server flaps with them.
  2. (no longer a difference: with quiescent=yes a server that fails its first check is in
     both tables at weight 0, ldirectord's as a leftover of 1, directord's once the check failed.)
  3. a quiescent gate real server written without a port stays at weight 0 forever after
     start: ldirectord restores "IP:0", ipvsadm maps it to the service's port, the add
     collides with the quiesced entry ("Destination already exists").
  4. checks are sequential: a hanging real server delays every other check by its timeout.
  5. failurecount is counted once per virtual service for a real server shared by several:
     it goes down after fewer failures than configured.
  6. a reload with an invalid file half-applies it: globals read before the error take
     effect, those after it fall back to their defaults (checkinterval 10, the log in
     /var/log/ldirectord.log), and its list of real servers is emptied and not restored, so
     it ignores every check result until a valid reload: failing servers stay in the table,
     recovering ones stay out, the monitor file is no longer written.
  7. `stop` returns before the services are removed.
"""

import os
import re
import signal
import subprocess
import time

from harness import (
    SLACK,
    T0,
    Director,
    Failure,
    check,
    line_re,
    log,
    netns_prefix,
    run,
    scenario,
    wait_until,
)
from scenarios import web

LDIRECTORD = "/usr/sbin/ldirectord"
SVC = "TCP 10.0.0.10:80"
VIP = "10.0.0.10:80"
R2, R3, R4 = "127.0.0.2:8080", "127.0.0.3:8080", "127.0.0.4:8080"
FALLBACK = "127.0.0.9:8080"
INTERVAL = 1
TIMEOUT = 2
# Perl compiling ldirectord and LWP takes about 10 s in the lab.
LD_FIRST = 60 + SLACK


class Ldirectord:
    """Debian's ldirectord on a file, started as an operator starts it (`ldirectord FILE
    start`: a daemon writing its log file), using the real ipvsadm."""

    label = "ldirectord"

    def __init__(self, t, config, kernel, name):
        self.dir = f"{t.dir}/ldirectord"
        os.makedirs(self.dir, exist_ok=True)
        self.path = f"{self.dir}/{name}"
        self.name = name
        self.kernel = kernel
        self.monitorfile = f"{self.dir}/{name}.monitor"
        self.logfile = f"{self.dir}/{name}.log"
        self.output_path = f"{self.dir}/output"
        self.pidfile = f"/var/run/ldirectord.{name}.pid"
        self.pid = None
        self.write(config)
        t.cleanups.append(self.kill)

    def write(self, config):
        with open(self.path, "w") as file:
            file.write(config.format(dir=self.dir, log=self.logfile, monitor=self.monitorfile))

    def command(self, verb):
        # PERLIO set spares ldirectord re-executing itself to set it (a second Perl compile).
        env = dict(os.environ, PERLIO="perlio")
        with open(self.output_path, "a") as out:
            status = subprocess.call(
                netns_prefix(self.kernel.netns) + [LDIRECTORD, self.path, verb],
                cwd=self.dir, stdout=out, stderr=out, stdin=subprocess.DEVNULL, env=env, timeout=LD_FIRST,
            )
        log(f"$ ldirectord {self.name} {verb} -> exit {status}")
        return status

    def start(self):
        status = self.command("start")
        check(status == 0, f"ldirectord start: exit {status}")

        def running():
            try:
                pid = int(open(self.pidfile).read())
            except (OSError, ValueError):
                return None
            return pid if os.path.exists(f"/proc/{pid}") else None

        self.pid, _ = wait_until(running, 30, "ldirectord's pid file")
        if not self.kernel.anchor_pid:
            self.kernel.anchor_pid = self.pid

    def state(self):
        """Whether ldirectord still runs, and the end of its default log file (where its
        messages go when a reload reset logfile=)."""
        alive = os.path.exists(f"/proc/{self.pid}")
        try:
            with open("/var/log/ldirectord.log", errors="replace") as file:
                tail = file.read().splitlines()[-8:]
        except OSError:
            tail = []
        processes = run(["ps", "-o", "pid,ppid,stat,wchan:20,time,args", "-p", str(self.pid), "--ppid", str(self.pid)],
                        check_status=False).stdout
        try:
            with open(f"/proc/{self.pid}/syscall") as file:
                processes += f"syscall: {file.read()}"
        except OSError:
            pass
        return (f"ldirectord (pid {self.pid}) {'running' if alive else 'gone'}:\n{processes}"
                "/var/log/ldirectord.log ends:\n" + "\n".join(tail))

    def signal(self, number):
        os.kill(self.pid, number)
        log(f"ldirectord: kill -{signal.Signals(number).name} {self.pid}")

    def kill(self):
        if self.pid:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except OSError:
                pass

    records = Director.records
    messages = Director.messages
    monitor = Director.monitor
    wait_checks = Director.wait_checks
    find = Director.find
    wait_log = Director.wait_log
    log_tail = Director.log_tail
    mark = Director.mark


def config(quiescent="no", failurecount=1, weights=(1, 2, 3), reals=None, extra="", timeout=TIMEOUT):
    """The file both daemons run, as daemons writing their log files: the scenarios' usual
    one (`extra`: more virtual services)."""
    return web(quiescent=quiescent, failurecount=failurecount, weights=weights, reals=reals, virtual=extra,
               timeout=timeout)


class Pair:
    """ldirectord and directord on the same file, with the same real servers."""

    def __init__(self, t, text, specs):
        self.t = t
        self.ld_kernel = t.other_namespace("ld")
        self.d_kernel = t.kernel
        self.ld_backends = t.backends(specs, kernel=self.ld_kernel)
        self.d_backends = t.backends(specs)
        name = f"ld-{os.environ.get('E2E_NETNS', 'x')}.cf"
        self.ld = Ldirectord(t, text, self.ld_kernel, name)
        self.d = Director(t, text, name=name)
        self.ld_poll = self.ld_kernel.poller()
        self.d_poll = self.d_kernel.poller()

    def start(self):
        """Both at once (ldirectord's start alone takes tens of seconds in the lab)."""
        import threading

        errors = []

        def start_directord():
            try:
                self.d.start()
            except Exception as error:
                errors.append(error)

        thread = threading.Thread(target=start_directord)
        thread.start()
        self.ld.start()
        thread.join()
        if errors:
            raise errors[0]

    def set(self, endpoint, mode):
        self.ld_backends.set(endpoint, mode)
        self.d_backends.set(endpoint, mode)

    def write(self, text):
        self.ld.write(text)
        self.d.write(text)

    def hup(self):
        self.ld.signal(signal.SIGHUP)
        self.d.signal(signal.SIGHUP)

    def marks(self):
        return (self.ld.mark(), self.d.mark(), len(self.ld.monitor()), len(self.d.monitor()))

    def settle(self, addresses, marks, rounds=2, timeout=LD_FIRST):
        """Both have checked every address `rounds` times since `marks`."""
        for address in addresses:
            try:
                self.ld.wait_checks(address, rounds, since=marks[2], timeout=timeout)
            except Failure as failure:
                raise Failure(f"{failure}\n{self.ld.state()}") from None
            self.d.wait_checks(address, rounds, since=marks[3], timeout=timeout)

    def tables(self):
        return self.ld_kernel.table(), self.d_kernel.table()

    def transitions(self, marks):
        """The table-changing log lines since `marks`, directord's without their reasons."""
        return (
            sorted(map(strip_reason, filter(is_transition, self.ld.messages()[marks[0]:]))),
            sorted(map(strip_reason, filter(is_transition, self.d.messages()[marks[1]:]))),
        )

    def expect(self, phase, ld_summary, d_summary, ld_lines=None, d_lines=None, marks=None):
        """Asserts both tables, and that they are the same listing where they should agree."""
        ld_table, d_table = self.tables()
        log(f"{phase}: ldirectord {ld_table.summary()} / directord {d_table.summary()}")
        check(d_table.summary() == d_summary, f"{phase}: directord's table\n{d_table}\nexpected {d_summary}")
        check(ld_table.summary() == ld_summary, f"{phase}: ldirectord's table\n{ld_table}\nexpected {ld_summary}")
        if ld_summary == d_summary:
            ld_listing, d_listing = self.ld_kernel.listing(), self.d_kernel.listing()
            check(ld_listing == d_listing, f"{phase}: listings differ\nldirectord:\n{ld_listing}\ndirectord:\n{d_listing}")
        if marks is not None and (ld_lines is not None or d_lines is not None):
            got_ld, got_d = self.transitions(marks)
            if ld_lines is not None:
                check(got_ld == sorted(ld_lines), f"{phase}: ldirectord logged {got_ld}, expected {sorted(ld_lines)}")
            if d_lines is not None:
                check(got_d == sorted(d_lines), f"{phase}: directord logged {got_d}, expected {sorted(d_lines)}")

    def same_monitor_ids(self):
        ld_ids = {m[2] for m in self.ld.monitor()}
        d_ids = {m[2] for m in self.d.monitor()}
        check(ld_ids == d_ids, f"monitor file real server ids differ:\nldirectord {sorted(ld_ids)}\ndirectord {sorted(d_ids)}")


TRANSITION = re.compile(r"^(Added|Deleted|Quiescent|Restored|Readd Quiescent|Purged|Changed) ")


def is_transition(message):
    return bool(TRANSITION.match(message))


REASONED = [
    re.compile(r"^((?:Added|Restored|Quiescent|Readd Quiescent) real server: \S+ \(\S+\) \(Weight set to \d+\))"),
    re.compile(r"^(Deleted real server: \S+ \(\S+\))"),
    re.compile(r"^(Soft failure real server: \S+ \(\S+\) failure \d+/\d+)"),
]


def strip_reason(message):
    """directord's line without the ` (<check's reason>)` it appends to ldirectord's text."""
    for pattern in REASONED:
        match = pattern.match(message)
        if match:
            return match.group(1)
    return message


def added(real, weight, vip=VIP):
    return f"Added real server: {real} ({vip}) (Weight set to {weight})"


def deleted(real, vip=VIP):
    return f"Deleted real server: {real} ({vip})"


def quiesced(real, vip=VIP):
    return f"Quiescent real server: {real} ({vip}) (Weight set to 0)"


def restored(real, weight, vip=VIP):
    return f"Restored real server: {real} ({vip}) (Weight set to {weight})"


FALLBACK_ADDED = f"Added fallback server: {FALLBACK} ({VIP}) (Weight set to 1)"
FALLBACK_DELETED = f"Deleted fallback server: {FALLBACK} ({VIP})"
ADDRESSES = ["127.0.0.2 8080", "127.0.0.3 8080", "127.0.0.4 8080"]


# --------------------------------------------------------------------------------------


@scenario("differential", timeout=300)
def differential_failover(t):
    """quiescent=no, with a fallback server: all up, two down, all down, one back. Same
    tables, same log lines. ldirectord's bug 1 asserted: its start adds each server, deletes
    it, adds it again, and flaps the fallback server; directord adds each once."""
    pair = Pair(t, config(quiescent="no"), {R2: "up", R3: "up", R4: "up"})
    pair.start()
    marks = (0, 0, 0, 0)
    pair.settle(ADDRESSES, marks)
    all_up = {SVC: {R2: 1, R3: 2, R4: 3}}
    pair.expect("all up", all_up, all_up)
    # Bug 1: the start flap.
    for real, weight in ((R2, 1), (R3, 2), (R4, 3)):
        check(pair.ld_poll.history(SVC, real)[:4] == [None, weight, None, weight],
              f"ldirectord's start should add, delete and re-add {real}: {pair.ld_poll.history(SVC, real)}")
        check(pair.d_poll.history(SVC, real) == [None, weight],
              f"directord's start: {real} went through {pair.d_poll.history(SVC, real)}")
    check(None in pair.ld_poll.history(SVC, FALLBACK)[1:] and 1 in pair.ld_poll.history(SVC, FALLBACK),
          f"ldirectord's start should flap the fallback: {pair.ld_poll.history(SVC, FALLBACK)}")
    check(pair.d_poll.history(SVC, FALLBACK) == [None], f"directord's fallback at start: {pair.d_poll.history(SVC, FALLBACK)}")

    marks = pair.marks()
    pair.set(R3, "refuse")
    pair.set(R4, "error")
    pair.settle(ADDRESSES, marks)
    lines = [deleted(R3), deleted(R4)]
    pair.expect("two down", {SVC: {R2: 1}}, {SVC: {R2: 1}}, lines, lines, marks)

    marks = pair.marks()
    pair.set(R2, "refuse")
    pair.settle(ADDRESSES, marks)
    lines = [deleted(R2), FALLBACK_ADDED]
    pair.expect("all down", {SVC: {FALLBACK: 1}}, {SVC: {FALLBACK: 1}}, lines, lines, marks)

    marks = pair.marks()
    pair.set(R3, "up")
    pair.settle(ADDRESSES, marks)
    lines = [added(R3, 2), FALLBACK_DELETED]
    pair.expect("one back", {SVC: {R3: 2}}, {SVC: {R3: 2}}, lines, lines, marks)
    pair.same_monitor_ids()


@scenario("differential", timeout=300)
def differential_quiescent(t):
    """quiescent=yes: one down, all down (fallback joins), one back. Bug 1 asserted:
    ldirectord's start puts every server at weight 0 until its first check; directord never
    routes to an unchecked server, and puts the one failing at start at weight 0 once its
    check failed, so both settle on ldirectord's table."""
    pair = Pair(t, config(quiescent="yes"), {R2: "up", R3: "up", R4: "refuse"})
    pair.start()
    pair.settle(ADDRESSES, (0, 0, 0, 0))
    pair.expect("start, 127.0.0.4 failing", {SVC: {R2: 1, R3: 2, R4: 0}}, {SVC: {R2: 1, R3: 2, R4: 0}})
    # Bug 1 with quiescent=yes: a moment with every server at weight 0 (an outage).
    outage = [s for _, s in pair.ld_poll.states if s and s.get(SVC) and all(w == 0 for w in s[SVC].values())
              and len(s[SVC]) == 3]
    check(outage, f"ldirectord's start should quiesce every server for a while:\n{pair.ld_poll.describe()}")
    check(pair.ld_poll.history(SVC, R4)[:3] == [None, 3, 0], f"ldirectord routed to unchecked 127.0.0.4: "
          f"{pair.ld_poll.history(SVC, R4)}")
    check(pair.d_poll.history(SVC, R4) == [None, 0], f"directord: 127.0.0.4 went through {pair.d_poll.history(SVC, R4)}")
    for real, weight in ((R2, 1), (R3, 2)):
        check(pair.d_poll.history(SVC, real) == [None, weight], f"directord: {real}: {pair.d_poll.history(SVC, real)}")

    marks = pair.marks()
    pair.set(R3, "refuse")
    pair.settle(ADDRESSES, marks)
    lines = [quiesced(R3)]
    pair.expect("127.0.0.3 down", {SVC: {R2: 1, R3: 0, R4: 0}}, {SVC: {R2: 1, R3: 0, R4: 0}}, lines, lines, marks)

    marks = pair.marks()
    pair.set(R2, "refuse")
    pair.settle(ADDRESSES, marks)
    lines = [quiesced(R2), FALLBACK_ADDED]
    pair.expect("all down", {SVC: {R2: 0, R3: 0, R4: 0, FALLBACK: 1}}, {SVC: {R2: 0, R3: 0, R4: 0, FALLBACK: 1}},
                lines, lines, marks)

    marks = pair.marks()
    pair.set(R4, "up")
    pair.settle(ADDRESSES, marks)
    lines = [restored(R4, 3), FALLBACK_DELETED]
    pair.expect("127.0.0.4 back", {SVC: {R2: 0, R3: 0, R4: 3}}, {SVC: {R2: 0, R3: 0, R4: 3}}, lines, lines, marks)
    pair.same_monitor_ids()


@scenario("differential", timeout=300)
def differential_gate_without_port(t):
    """Direct routing (gate) real servers, one written without a port, quiescent=yes. Bug 3
    asserted: ldirectord leaves 127.0.0.5 at weight 0 although every check passes;
    directord gives it its weight. Otherwise the same listing (forwarding "Route")."""
    reals = "\treal=127.0.0.5 gate 3\n\treal=127.0.0.6:80 gate 4\n"
    text = config(quiescent="yes", reals=reals).replace(VIP, "10.0.0.20:80")
    pair = Pair(t, text, {"127.0.0.5:80": "up", "127.0.0.6:80": "up"})
    pair.start()
    pair.settle(["127.0.0.5 0", "127.0.0.6 80"], (0, 0, 0, 0), rounds=3)
    service = "TCP 10.0.0.20:80"
    pair.expect("gate", {service: {"127.0.0.5:80": 0, "127.0.0.6:80": 4}}, {service: {"127.0.0.5:80": 3, "127.0.0.6:80": 4}})
    ld_table, d_table = pair.tables()
    for table in (ld_table, d_table):
        check(all(forward == "Route" for forward, _ in table.services[service].dests.values()),
              f"gate real servers not forwarded by direct routing:\n{table}")
    # ldirectord believes it added it (its ipvsadm -a failed: "Destination already exists").
    check(pair.ld.find(r"^Added real server: 127\.0\.0\.5:0 \(10\.0\.0\.20:80\) \(Weight set to 3\)$"),
          f"ldirectord's claimed re-add of 127.0.0.5:0 was not logged:\n{pair.ld.log_tail()}")
    check(pair.d.find(line_re("Added real server: 127.0.0.5:80 (10.0.0.20:80) (Weight set to 3)", reason=True)),
          f"directord's add of 127.0.0.5:80 was not logged:\n{pair.d.log_tail()}")
    pair.same_monitor_ids()
    check("negotiate http tcp 127.0.0.5 0 3 gate /health OK" in {m[2] for m in pair.d.monitor()},
          "the monitor file's id of a real server written without a port")


@scenario("differential", timeout=300)
def differential_sequential_checks(t):
    """Bug 4: with one real server hanging for a 4 s negotiatetimeout, ldirectord checks the
    others only once per hang; directord keeps checking them every second."""
    pair = Pair(t, config(quiescent="no", timeout=4), {R2: "up", R3: "up", R4: "hang"})
    pair.start()
    marks = (0, 0, 0, 0)
    pair.settle(["127.0.0.2 8080"], marks, rounds=5, timeout=LD_FIRST + 30)
    pair.expect("one hanging", {SVC: {R2: 1, R3: 2}}, {SVC: {R2: 1, R3: 2}})

    def gaps(daemon):
        stamps = [time.mktime(time.strptime(m[0], "%a %b %d %H:%M:%S %Y")) for m in daemon.monitor()
                  if m[2].split()[3] == "127.0.0.2"]
        values = sorted(b - a for a, b in zip(stamps, stamps[1:]))
        return values[len(values) // 2] if values else None

    ld_gap, d_gap = gaps(pair.ld), gaps(pair.d)
    log(f"median seconds between checks of 127.0.0.2: ldirectord {ld_gap}, directord {d_gap}")
    check(ld_gap is not None and ld_gap >= 4, f"ldirectord's checks should wait on the hang: median gap {ld_gap}")
    check(d_gap is not None and d_gap <= INTERVAL + 1, f"directord's checks wait on the hang: median gap {d_gap}")


@scenario("differential", timeout=300)
def differential_shared_real_failurecount(t):
    """Bug 5: a real server in two virtual services, failurecount=4. ldirectord counts each
    failed check once per service (soft failures 1/4, 2/4, 3/4 spread over both services,
    out after two checks); directord counts per service: 1/4, 2/4, 3/4 in each, out at the
    fourth failure."""
    extra = """virtual=10.0.0.11:80
\treal=127.0.0.3:8080 masq 2
\tservice=http
\trequest="/health"
\treceive="OK"
\tscheduler=wrr
"""
    reals = "\treal=127.0.0.3:8080 masq 2\n"
    pair = Pair(t, config(quiescent="no", failurecount=4, reals=reals, extra=extra), {R3: "up"})
    pair.start()
    pair.settle(["127.0.0.3 8080"], (0, 0, 0, 0))
    both = {SVC: {R3: 2}, "TCP 10.0.0.11:80": {R3: 2}}
    pair.expect("up", both, both)
    marks = pair.marks()
    pair.set(R3, "refuse")
    # The first service has a fallback server (config()), the second none.
    gone = {SVC: {FALLBACK: 1}, "TCP 10.0.0.11:80": {}}
    for kernel in (pair.ld_kernel, pair.d_kernel):
        kernel.wait(lambda table: table.summary() == gone, LD_FIRST, "127.0.0.3 out of both services")
    ld_soft = [m for m in pair.ld.messages()[marks[0]:] if m.startswith("Soft failure")]
    d_soft = [strip_reason(m) for m in pair.d.messages()[marks[1]:] if m.startswith("Soft failure")]
    soft = lambda vip, n: f"Soft failure real server: {R3} (tcp:{vip}) failure {n}/4"
    check(ld_soft == [soft(VIP, 1), soft("10.0.0.11:80", 2), soft(VIP, 3)],
          f"ldirectord's soft failures: {ld_soft}")
    check(sorted(d_soft) == sorted(soft(v, n) for v in (VIP, "10.0.0.11:80") for n in (1, 2, 3)),
          f"directord's soft failures: {d_soft}")
    ld_down = [m for m in pair.ld.monitor()[marks[2]:] if m[3] == "down"]
    d_down = [m for m in pair.d.monitor()[marks[3]:] if m[3] == "down"]
    log(f"failed checks before removal: ldirectord {len(ld_down)}, directord {len(d_down)} (monitor file lines)")


@scenario("differential", timeout=300)
def differential_reload(t):
    """A valid reload (a weight edited) gives the same table; bug 1 on reload asserted
    (ldirectord adds the down server back for a moment, directord does not). Then an invalid
    file, sent with SIGHUP to both, and a server fails: bug 6 asserted (ldirectord keeps
    checking but ignores the results, so the failing server stays in its table; directord
    keeps its configuration whole and removes it)."""
    pair = Pair(t, config(quiescent="no"), {R2: "up", R3: "up", R4: "refuse"})
    pair.start()
    pair.settle(ADDRESSES, (0, 0, 0, 0))
    pair.expect("start", {SVC: {R2: 1, R3: 2}}, {SVC: {R2: 1, R3: 2}})
    ld_before, d_before = len(pair.ld_poll.states), len(pair.d_poll.states)

    marks = pair.marks()
    pair.write(config(quiescent="no", weights=(4, 2, 3)))
    pair.hup()
    pair.settle(ADDRESSES, marks)
    pair.expect("reloaded", {SVC: {R2: 4, R3: 2}}, {SVC: {R2: 4, R3: 2}})
    ld_states = [s for _, s in pair.ld_poll.states[ld_before:]]
    d_states = [s for _, s in pair.d_poll.states[d_before:]]
    check(any(s and R4 in (s.get(SVC) or {}) for s in ld_states),
          f"ldirectord's reload should add the failing 127.0.0.4 for a moment:\n{pair.ld_poll.describe()}")
    check(not any(s and R4 in (s.get(SVC) or {}) for s in d_states),
          f"directord's reload routed to the failing 127.0.0.4:\n{pair.d_poll.describe()}")

    marks = pair.marks()
    # Errors at line 2, before checkinterval= and logfile= are read.
    invalid = "quiescent=yes\nchekinterval=1\n" + config(quiescent="no", weights=(4, 2, 3))
    pair.write(invalid)
    pair.hup()
    pair.set(R3, "refuse")
    hits = pair.ld_backends.hits(R2)
    # directord keeps its configuration whole (quiescent=no): 127.0.0.3 is removed.
    d_after = {SVC: {R2: 4}}
    pair.d_kernel.wait(lambda table: table.summary() == d_after, INTERVAL + TIMEOUT + SLACK,
                       "directord to remove 127.0.0.3")
    # ldirectord still checks (every 10 s now: checkinterval= comes after the error), as
    # 127.0.0.2's request count shows, but acts on nothing: its list of real servers was
    # emptied by the failed read and not restored, so 127.0.0.3 stays in at its weight, and
    # the monitor file is no longer written.
    rounds = lambda n: wait_until(lambda: pair.ld_backends.hits(R2) >= hits + n, LD_FIRST,
                                  f"{n} rounds of ldirectord's checks (127.0.0.2's request count)")
    rounds(2)  # the reload is processed and 127.0.0.3 checked since it refuses
    monitor_lines = len(pair.ld.monitor())
    rounds(3)
    ld_after = {SVC: {R2: 4, R3: 2}}
    pair.expect("invalid reload, then 127.0.0.3 down", ld_after, d_after)
    check(len(pair.ld.monitor()) == monitor_lines,
          f"ldirectord still writes its monitor file after the invalid reload: {pair.ld.monitor()[-2:]}")
    check(pair.d.find(line_re("Deleted real server: 127.0.0.3:8080 (10.0.0.10:80)", reason=True), since=marks[1]),
          "directord did not log the removal of 127.0.0.3")


@scenario("differential", timeout=300)
def differential_stop(t):
    """Bug 7: `ldirectord stop` returns while its services are still in the table;
    `directord stop` returns once they are gone. Both run as daemons here. ldirectord's
    clean-up runs one ipvsadm per real server (0.1-0.4 s each in the lab); a poller reading
    /proc (no fork) shows the table at the moment `stop` returned."""
    reals = "".join(f"\treal=127.0.0.{i}:8080 masq 1\n" for i in range(11, 17))
    name = f"e2e-stop-{os.environ.get('E2E_NETNS', 'x')}.cf"
    text = config(quiescent="no", reals=reals).replace("\tservice=http\n", "\tchecktype=on\n")
    ld_kernel = t.other_namespace("ld")
    t.backends({}, kernel=ld_kernel)  # a thread in ldirectord's namespace, for the poller's /proc reads
    ld = Ldirectord(t, text, ld_kernel, name=name)
    d = Director(t, text, name=name)
    expected = {SVC: {f"127.0.0.{i}:8080": 1 for i in range(11, 17)}}
    ld.start()
    d.start()
    # Bug 1 even with checktype=on: ldirectord's start adds, deletes and re-adds each real
    # server, one after the other (about 3 s each in the lab).
    ld_kernel.wait(lambda table: table.summary() == expected, 2 * LD_FIRST, "ldirectord's table")
    t.kernel.wait(lambda table: table.summary() == expected, LD_FIRST, "directord's table")

    poll = ld_kernel.poller()
    status = ld.command("stop")
    returned = time.monotonic() - T0
    check(status == 0, f"ldirectord stop: exit {status}")
    wait_until(lambda: SVC not in ld_kernel.table().services, 60, "ldirectord's clean-up")
    poll.stop()
    at_return = [state for stamp, state in poll.states if stamp <= returned][-1]
    log(f"when `ldirectord stop` returned: {len((at_return or {}).get(SVC, {}))} real servers in its service")
    check(SVC in (at_return or {}), f"ldirectord's stop waited for the clean-up (bug 7 not seen):\n{poll.describe()}")

    d.stop()
    check(SVC not in t.kernel.table().services, f"directord's stop returned before the clean-up:\n{t.kernel.table()}")

"""directord as a drop-in for ldirectord: the files ldirectord runs, the tables it settles on,
the supervisors and habits around it.

- corpus_*: each file of lab/e2e/corpus/ and Debian's own example ldirectord.cf, run by
  Debian's ldirectord and by directord in two namespaces of the same kernel, twice: as
  written (every real server unreachable: the lab has no route to them) and with every
  service `checktype=on` (every real server up). Once both have settled, the two `ipvsadm
  -Ln` listings must be the same, apart from the deliberate differences each case names
  (README, "Where directord differs from ldirectord").
- ocf_tester_drives_directord: Pacemaker's resource agent ocf:heartbeat:ldirectord
  (resource-agents), pointed at directord through its `ldirectord` parameter, passes
  Debian's `ocf-tester` (start, monitor, stop, and again), run with the environment a child
  of a systemd service inherits.
- execute_runs_instances, maintenance_takes_out_checktype_on, no_alerts_at_start,
  start_reports_failure, one_daemon_per_file: the rest of the drop-in issue.
"""

import glob
import os
import re
import socket
import threading
import time

from differential import Ldirectord
from harness import SLACK, Director, check, log, netns_prefix, run, scenario, wait_until
from scenarios import ALL_UP, DETECT, FIRST, R2, R3, R4, SVC, VIP, started, web

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = sorted(glob.glob(os.path.join(HERE, "corpus", "*.cf")))
DEBIAN_EXAMPLE = "/usr/share/doc/ldirectord/examples/ldirectord.cf"
SETTLE_QUIET = 8  # seconds without a change in either table
LD_START = 60 + SLACK


def checktype_on(text):
    """Every virtual service `checktype=on`: every real server up."""
    out = []
    for line in text.splitlines():
        if re.match(r"^\s+checktype\s*=", line):
            continue
        out.append(line)
        if re.match(r"^virtual6?\s*=", line):
            out.append("\tchecktype=on")
    return "\n".join(out) + "\n"


def settle(kernels, minimum):
    """Waits until no listing changed for SETTLE_QUIET s (and at least `minimum` s passed)."""
    start = time.monotonic()
    last = [k.listing() for k in kernels]
    changed = time.monotonic()
    deadline = start + 180
    while time.monotonic() < deadline:
        time.sleep(1)
        now = [k.listing() for k in kernels]
        if now != last:
            last, changed = now, time.monotonic()
        elif time.monotonic() - changed >= SETTLE_QUIET and time.monotonic() - start >= minimum:
            return now
    raise AssertionError(f"the tables did not settle within 180 s:\n" + "\n---\n".join(last))


def services(listing):
    """A listing as {service line: sorted destination lines}, the order ipvsadm prints aside."""
    result, current = {}, None
    for line in listing.splitlines():
        if line.startswith(("TCP", "UDP", "FWM", "SCTP")):
            current = " ".join(line.split())
            result[current] = []
        elif line.lstrip().startswith("-> ") and current and "RemoteAddress" not in line:
            result[current].append(" ".join(line.split()))
    return {key: sorted(value) for key, value in result.items()}


# Deliberate differences, as (mode, ldirectord's entry, directord's entry); None: absent.
DIFFERENCES = {
    "traps.cf": [
        # ldirectord reads real=192.168.6.2::5060 as the host "5060" (0.0.19.196), port 0.
        ("on", ("UDP 192.168.6.240:5060 rr", "-> 0.0.19.196:5060 Route 1"),
         ("UDP 192.168.6.240:5060 rr", "-> 192.168.6.2:5060 Route 1")),
    ],
    "fwmark.cf": [
        # ldirectord builds no fallback for a firewall-mark service from the global one.
        ("as written", None, ("FWM 100 wrr persistent 900 mask 255.255.255.0", "-> 127.0.0.1:0 Route 1")),
    ],
}


def compare(name, mode, ld_listing, d_listing):
    ld, dd = services(ld_listing), services(d_listing)
    for case_mode, ld_entry, d_entry in DIFFERENCES.get(name, []):
        if case_mode != mode:
            continue
        if ld_entry:
            check(ld_entry[1] in ld.get(ld_entry[0], []), f"{name} ({mode}): ldirectord should have {ld_entry}")
            ld[ld_entry[0]].remove(ld_entry[1])
        if d_entry:
            check(d_entry[1] in dd.get(d_entry[0], []), f"{name} ({mode}): directord should have {d_entry}")
            dd[d_entry[0]].remove(d_entry[1])
    check(ld == dd, f"{name} ({mode}): the settled tables differ\nldirectord:\n{ld_listing}\ndirectord:\n{d_listing}")


def corpus_case(name, text):
    def run_case(t):
        for mode, body in (("as written", text), ("on", checktype_on(text))):
            log(f"== {name}, {mode}")
            suffix = "on" if mode == "on" else "w"
            config = f'logfile="{{log}}"\n' + body
            ld_kernel = t.other_namespace(f"ld{suffix}")
            d_kernel = t.other_namespace(f"d{suffix}")
            cfname = f"{os.environ.get('E2E_NETNS', 'x')}-{suffix}-{name}"
            ld = Ldirectord(t, config, ld_kernel, cfname)
            d = Director(t, config, name=cfname, kernel=d_kernel)
            check_out = run([t.directord, "check-config", "--quiet", d.path], check_status=False)
            check(check_out.returncode == 0, f"check-config refused {name}:\n{check_out.stderr}")
            starter = threading.Thread(target=d.start)
            starter.start()
            ld.start()
            starter.join()
            ld_listing, d_listing = settle([ld_kernel, d_kernel], minimum=15)
            log(f"ldirectord:\n{ld_listing}\ndirectord:\n{d_listing}")
            compare(name, mode, ld_listing, d_listing)
            d.stop()
            ld.kill()

    run_case.__name__ = "corpus_" + re.sub(r"\W", "_", name[:-3])
    run_case.__doc__ = f"{name}: ldirectord's and directord's settled tables, as written and with checktype=on."
    return run_case


for path in CORPUS:
    scenario("dropin", "differential", timeout=600)(corpus_case(os.path.basename(path), open(path).read()))
if os.path.exists(DEBIAN_EXAMPLE):
    scenario("dropin", "differential", timeout=600)(corpus_case("debian-example.cf", open(DEBIAN_EXAMPLE).read()))


def systemd_child_environment():
    """What a child of a systemd service (Pacemaker's executor) inherits."""
    return {"INVOCATION_ID": "0123456789abcdef0123456789abcdef", "JOURNAL_STREAM": "8:12345"}


@scenario("dropin", "cli", timeout=400)
def ocf_tester_drives_directord(t):
    """Debian's Pacemaker agent ocf:heartbeat:ldirectord, with directord as its binary, passes
    ocf-tester: probe, start (which must return, detached, with the daemon running), monitor,
    stop, start again, stop; run with $INVOCATION_ID set, as under pacemaker-execd."""
    backends, d = started(t, web(quiescent="no"), name="ocf.cf")
    agent = "/usr/lib/ocf/resource.d/heartbeat/ldirectord"
    check(os.path.exists(agent), f"{agent} is missing (package resource-agents)")
    environment = dict(d.environment, **systemd_child_environment())
    argv = ["ocf-tester", "-n", "directord", "-o", f"configfile={d.path}", "-o", f"ldirectord={t.directord}", agent]
    result = run(netns_prefix(t.kernel.netns) + argv, check_status=False, timeout=360, env=environment)
    log(result.stdout + result.stderr)
    check(result.returncode == 0 and "passed all tests" in result.stdout,
          f"ocf-tester: exit {result.returncode}\n{result.stdout}{result.stderr}")
    check(d.live_pid() is None, "ocf-tester's last stop left directord running")
    # ocf-tester proves the verbs; the table proves the daemon did its job in between.
    starts = [m for m in d.messages() if m.startswith("Starting Linux Director v1.186-ha as daemon")]
    check(len(starts) >= 2, f"the agent's starts did not detach: {starts}")
    check(any(m == f"Added virtual server: {SVC.split()[1]}" for m in d.messages()), "no service was ever added")


@scenario("dropin", "cli", timeout=200)
def execute_runs_instances(t):
    """execute=FILE: the main daemon starts, stops and reloads the other file's daemon, and
    status asks both, as ldirectord does with its children."""
    backends = t.backends({"127.0.0.2:8080": "up", "127.0.0.3:8080": "up", "127.0.0.4:8080": "up",
                           "127.0.0.5:8080": "up"})
    child = Director(t, "checkinterval=1\nlogfile=\"{log}\"\nvirtual=10.0.0.20:80\n\treal=127.0.0.5:8080 masq 4\n"
                        "\tservice=http\n\trequest=\"/health\"\n\treceive=\"OK\"\n", name="child.cf")
    main = Director(t, web(quiescent="no", globals_=f"execute={child.path}"), name="main.cf")
    # The child must find its run directory as the main one was told to.
    main.environment["DIRECTORD_RUN_DIR"] = child.run_dir = main.run_dir
    main.start()
    t.kernel.wait_weights(SVC, ALL_UP, FIRST, "the main file's servers")
    t.kernel.wait_weights("TCP 10.0.0.20:80", {"127.0.0.5:8080": 4}, FIRST, "the executed file's server")
    check(child.live_pid() and child.live_pid() != main.live_pid(), "no daemon of its own for the executed file")
    status = main.command("status")
    check(status.returncode == 0 and status.stderr.count("is running with pid") == 2,
          f"status should name both daemons: {status.stdout}{status.stderr}")
    main.stop()
    table = t.kernel.table().services
    check(SVC not in table and "TCP 10.0.0.20:80" not in table, f"services left after stop:\n{t.kernel.table()}")
    check(child.live_pid() is None, "the executed file's daemon outlived the main one")


@scenario("dropin", "failover", timeout=150)
def maintenance_takes_out_checktype_on(t):
    """A maintenance file takes out a checktype=on real server too (ldirectord's rule), and
    its removal brings it back."""
    directory = f"{t.dir}/maintenance"
    os.makedirs(directory)
    text = web(quiescent="no", globals_=f"maintenancedir={directory}").replace("\tservice=http\n", "\tchecktype=on\n")
    backends, d = t.backends({}), t.director(text)
    d.start()
    t.kernel.wait_weights(SVC, {R2: 1, R3: 2, R4: 3}, FIRST, "every server (checktype=on)")
    open(f"{directory}/{R3}", "w").close()
    t.kernel.wait_weights(SVC, {R2: 1, R4: 3}, DETECT, "127.0.0.3 out for maintenance")
    os.unlink(f"{directory}/{R3}")
    t.kernel.wait_weights(SVC, {R2: 1, R3: 2, R4: 3}, DETECT, "127.0.0.3 back")
    d.stop()


class SMTPSink:
    """A mail server on 127.0.0.1:25 of the scenario's namespace that keeps each subject."""

    def __init__(self):
        self.subjects = []
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", 25))
        self.server.listen(16)
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self.session, args=(connection,), daemon=True).start()

    def session(self, connection):
        file = connection.makefile("rwb")

        def say(text):
            file.write(text.encode() + b"\r\n")
            file.flush()

        say("220 sink")
        in_data = False
        for raw in file:
            line = raw.decode(errors="replace").rstrip("\r\n")
            if in_data:
                if line == ".":
                    in_data = False
                    say("250 ok")
                elif line.lower().startswith("subject: "):
                    self.subjects.append(line[9:])
                continue
            verb = line.split(" ")[0].upper()
            if verb == "DATA":
                in_data = True
                say("354 go")
            elif verb == "QUIT":
                say("221 bye")
                break
            else:
                say("250 ok")
        connection.close()


@scenario("dropin", "failover", timeout=150)
def no_alerts_at_start(t):
    """emailalertstatus=running: a fresh start mails nothing (the daemon is "starting" until
    every real server has its first verdict, as ldirectord is while it adds them); a failure
    once running is mailed."""
    sink = SMTPSink()
    t.cleanups.append(sink.server.close)
    extra = "emailalert=ops@example.com\nemailalertstatus=running\nsmtp=127.0.0.1"
    backends, d = t.backends({R2: "up", R3: "up", R4: "refuse"}), t.director(web(quiescent="no", globals_=extra))
    d.start()
    t.kernel.wait_weights(SVC, {R2: 1, R3: 2}, FIRST, "the two passing servers")
    time.sleep(3)  # mails go out on a queue of their own; give one the time to arrive
    check(sink.subjects == [], f"mails at start: {sink.subjects}")
    backends.set(R2, "refuse")
    t.kernel.wait_weights(SVC, {R3: 2}, DETECT, "127.0.0.2 out")
    wait_until(lambda: any("Deleted real server: 127.0.0.2:8080" in s for s in sink.subjects), 10, "the alert")
    d.stop()


@scenario("dropin", "cli", timeout=120)
def start_reports_failure(t):
    """`start` without -d waits for the daemon: it exits 1 with the reason when the daemon
    cannot start (here: its pid file cannot be created), not 0 as ldirectord's does."""
    backends, d = t.backends({}), t.director(web(quiescent="no"))
    result = d.command("start", options=("--run-directory", f"{t.dir}/no/such/dir"))
    check(result.returncode == 1, f"start: exit {result.returncode}\n{result.stdout}{result.stderr}")
    check("Can not open" in result.stderr, f"the reason is not said: {result.stderr!r}")


@scenario("dropin", "cli", timeout=120)
def one_daemon_per_file(t):
    """Two `start`s at once give one daemon (the pid file is locked); `stop` stops it. A pid
    file naming an unrelated process that holds no lock is stale: nothing is signalled."""
    backends, d = t.backends({"127.0.0.2:8080": "up", "127.0.0.3:8080": "up", "127.0.0.4:8080": "up"}), \
        t.director(web(quiescent="no"))
    results = []
    threads = [threading.Thread(target=lambda: results.append(d.command("start"))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    check([r.returncode for r in results] == [0, 0], f"starts: {[(r.returncode, r.stderr) for r in results]}")
    t.kernel.wait_weights(SVC, ALL_UP, FIRST, "the three real servers")
    from cli import daemons
    check(len(daemons(t, d)) == 1, f"two starts made {daemons(t, d)}")
    d.stop()
    check(daemons(t, d) == [], f"left after stop: {daemons(t, d)}")
    # A stale pid file naming `sleep`, whose command line has nothing of ours.
    sleeper = run(["sh", "-c", "sleep 300 >/dev/null 2>&1 & echo $!"]).stdout.strip()
    t.cleanups.append(lambda: run(["kill", sleeper], check_status=False))
    with open(d.pidfile, "w") as file:
        file.write(sleeper + "\n")
    status = d.command("status")
    check(status.returncode == 1 and "stale pid file" in status.stderr, f"status: {status.returncode} {status.stderr}")
    check(d.command("stop").returncode == 0, "stop of a stale pid file")
    check(os.path.exists(f"/proc/{sleeper}"), "stop signalled a process that is not directord")

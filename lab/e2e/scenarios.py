"""directord's behaviour against a real kernel: failover, fallback, quiescence, reloads,
restarts, stop, maintenance, soft failures, repairs, log and monitor files.

Each scenario is a story an LVS operator would recognise, told with real HTTP servers on
127.0.0.x (backend.py), directord started as it is in production (daemonized, writing its
log file), and `ipvsadm -Ln` as the judge. Timing bounds are "checkinterval + timeout" plus
E2E_SLACK seconds for the slow guest; the time actually taken is printed.
"""

import os
import re
import signal
import time
import socket

from harness import SLACK, Failure, check, line_re, log, scenario, wait_until

SVC = "TCP 10.0.0.10:80"
VIP = "10.0.0.10:80"
R2, R3, R4 = "127.0.0.2:8080", "127.0.0.3:8080", "127.0.0.4:8080"
FALLBACK = "127.0.0.9:8080"
INTERVAL = 1  # checkinterval
TIMEOUT = 2  # checktimeout and negotiatetimeout
DETECT = INTERVAL + TIMEOUT + SLACK  # a change seen and acted on
FIRST = 10 + SLACK  # start-up (the binary's first load over 9p) and the first checks
ALL_UP = {R2: 1, R3: 2, R4: 3}


def web(quiescent="no", failurecount=1, globals_="", virtual="", weights=(1, 2, 3), fallback=True, reals=None,
        timeout=TIMEOUT):
    """The scenarios' usual file: one HTTP service, three NAT real servers (or `reals`, lines
    of a virtual block), a sorry server; `virtual` is appended (more virtual services)."""
    w2, w3, w4 = weights
    reals = reals or f"\treal=127.0.0.2:8080 masq {w2}\n\treal=127.0.0.3:8080 masq {w3}\n\treal=127.0.0.4:8080 masq {w4}\n"
    return f"""# directord end-to-end test
checkinterval={INTERVAL}
checktimeout={timeout}
negotiatetimeout={timeout}
failurecount={failurecount}
quiescent={quiescent}
logfile="{{log}}"
{globals_}
virtual={VIP}
{reals}{chr(9) + 'fallback=127.0.0.9:8080 masq' if fallback else ''}
\tservice=http
\trequest="/health"
\treceive="OK"
\tscheduler=wrr
\tmonitorfile="{{monitor}}"
{virtual}
"""


def started(t, config, specs=None, **kwargs):
    """Backends in `specs` (default: the three up), directord started on `config`."""
    backends = t.backends(specs or {R2: "up", R3: "up", R4: "up"})
    director = t.director(config, **kwargs)
    return backends, director


def traffic(address, count):
    """`count` HTTP requests to ADDRESS:PORT, a virtual service (IPVS handles local clients)."""
    host, port = address.rsplit(":", 1)
    for _ in range(count):
        with socket.create_connection((host, int(port)), timeout=5) as connection:
            connection.sendall(b"GET / HTTP/1.0\r\nHost: " + host.encode() + b"\r\n\r\n")
            answer = b""
            while chunk := connection.recv(4096):
                answer += chunk
        check(answer.startswith(b"HTTP/1.0 200 "), f"a request through {address} got {answer[:40]!r}")


def stable_for(kernel, seconds, director, addresses):
    """Lets every real server be checked `seconds` more times and returns the table."""
    since = len(director.monitor())
    for address in addresses:
        director.wait_checks(address, seconds, since=since, timeout=seconds * (INTERVAL + TIMEOUT) + 3 * SLACK)
    return kernel.table()


# --------------------------------------------------------------------------------------


@scenario("failover")
def failover_removes_and_falls_back(t):
    """quiescent=no: a failing real server is removed within checkinterval + timeout; with
    none left the fallback server takes over; one back and the fallback goes."""
    backends, d = started(t, web(quiescent="no"))
    poll = t.kernel.poller()
    d.start()
    _, took = t.kernel.wait_weights(SVC, ALL_UP, FIRST, "the three real servers after start")
    log(f"all three real servers in the table {took:.1f} s after start")
    for real, weight in ((R2, 1), (R3, 2), (R4, 3)):
        d.wait_log(line_re(f"Added real server: {real} ({VIP}) (Weight set to {weight})", reason=r"200"), 5)
    check(d.find(line_re(f"Added virtual server: {VIP}")), "no 'Added virtual server: 10.0.0.10:80' line")
    check(poll.history(SVC, FALLBACK) == [None], f"the fallback server showed while real servers were up\n{poll.describe()}")

    # One refuses connections: removed, the others untouched.
    mark = d.mark()
    backends.set(R3, "refuse")
    _, took = t.kernel.wait_weights(SVC, {R2: 1, R4: 3}, DETECT, "127.0.0.3 to be removed")
    log(f"refused real server removed in {took:.1f} s (bound {DETECT:.0f} s)")
    d.wait_log(line_re(f"Deleted real server: {R3} ({VIP})", reason="Connection refused"), 5, since=mark)

    # The other two fail (500, then a hang): the fallback server is installed, alone.
    mark = d.mark()
    backends.set(R2, "error")
    backends.set(R4, "hang")
    _, took = t.kernel.wait_weights(SVC, {FALLBACK: 1}, DETECT + TIMEOUT, "only the fallback server")
    log(f"all real servers down: fallback alone after {took:.1f} s")
    d.wait_log(line_re(f"Deleted real server: {R2} ({VIP})", reason="HTTP 500"), 5, since=mark)
    d.wait_log(line_re(f"Deleted real server: {R4} ({VIP})", reason=r"\b2 s\b|time"), 5, since=mark)
    d.wait_log(line_re(f"Added fallback server: {FALLBACK} ({VIP}) (Weight set to 1)"), 5, since=mark)
    check(t.kernel.table().services[SVC].dests[FALLBACK][0] == "Masq", "fallback not forwarded by NAT (masq)")

    # One comes back: it replaces the fallback server.
    mark = d.mark()
    backends.set(R4, "up")
    _, took = t.kernel.wait_weights(SVC, {R4: 3}, DETECT, "127.0.0.4 back and the fallback gone")
    log(f"one real server back, fallback removed, in {took:.1f} s")
    d.wait_log(line_re(f"Added real server: {R4} ({VIP}) (Weight set to 3)", reason="200"), 5, since=mark)
    d.wait_log(line_re(f"Deleted fallback server: {FALLBACK} ({VIP})"), 5, since=mark)
    poll.stop()
    # Never both at once for long, never anything unexpected: R3 appears once, leaves once.
    check(poll.history(SVC, R3) == [None, 2, None], f"127.0.0.3's weights over time: {poll.history(SVC, R3)}")
    check(poll.history(SVC, R2) == [None, 1, None], f"127.0.0.2's weights over time: {poll.history(SVC, R2)}")


@scenario("failover")
def quiescent_keeps_failed_servers_at_weight_zero(t):
    """quiescent=yes: a failing real server stays with weight 0 and is restored; with all
    down, the fallback server joins them; a quiesced entry changed behind directord's back
    is put back to weight 0."""
    backends, d = started(t, web(quiescent="yes"))
    d.start()
    t.kernel.wait_weights(SVC, ALL_UP, FIRST, "the three real servers after start")

    mark = d.mark()
    backends.set(R3, "refuse")
    _, took = t.kernel.wait_weights(SVC, {R2: 1, R3: 0, R4: 3}, DETECT, "127.0.0.3 at weight 0")
    log(f"quiesced in {took:.1f} s")
    d.wait_log(
        line_re(f"Quiescent real server: {R3} ({VIP}) (Weight set to 0)", reason="Connection refused"), 5, since=mark
    )

    # Someone gives it weight 7 by hand while it is still failing: back to 0.
    mark = d.mark()
    t.kernel.ipvsadm("-e", "-t", VIP, "-r", R3, "-m", "-w", "7")
    _, took = t.kernel.wait_weights(SVC, {R2: 1, R3: 0, R4: 3}, INTERVAL + SLACK, "127.0.0.3 back at weight 0")
    log(f"hand-edited weight of a failing server repaired in {took:.1f} s")
    note_repair_lines(d, mark)  # judged by the table

    mark = d.mark()
    backends.set(R3, "up")
    t.kernel.wait_weights(SVC, ALL_UP, DETECT, "127.0.0.3 restored to weight 2")
    d.wait_log(line_re(f"Restored real server: {R3} ({VIP}) (Weight set to 2)", reason="200"), 5, since=mark)

    mark = d.mark()
    for real in (R2, R3, R4):
        backends.set(real, "refuse")
    t.kernel.wait_weights(SVC, {R2: 0, R3: 0, R4: 0, FALLBACK: 1}, DETECT, "all at weight 0 and the fallback")
    d.wait_log(line_re(f"Added fallback server: {FALLBACK} ({VIP}) (Weight set to 1)"), 5, since=mark)

    mark = d.mark()
    backends.set(R2, "up")
    t.kernel.wait_weights(SVC, {R2: 1, R3: 0, R4: 0}, DETECT, "127.0.0.2 restored, fallback gone")
    d.wait_log(line_re(f"Restored real server: {R2} ({VIP}) (Weight set to 1)", reason="200"), 5, since=mark)
    d.wait_log(line_re(f"Deleted fallback server: {FALLBACK} ({VIP})"), 5, since=mark)


@scenario("start")
def start_routes_nothing_unchecked(t):
    """At start no real server gets traffic before it has passed a check, and the fallback
    server does not flap: a 500 and a hanging server never enter the table, the healthy one
    is added exactly once, the fallback never appears."""
    backends, d = started(t, web(quiescent="no"), {R2: "up", R3: "error", R4: "hang"})
    poll = t.kernel.poller()
    d.start()
    t.kernel.wait_weights(SVC, {R2: 1}, FIRST, "only 127.0.0.2 after start")
    # Let the hanging server time out and everything be checked twice more.
    stable_for(t.kernel, 2, d, ["127.0.0.2 8080", "127.0.0.3 8080", "127.0.0.4 8080"])
    poll.stop()
    check(poll.history(SVC, R3) == [None], f"127.0.0.3 (HTTP 500) entered the table: {poll.describe()}")
    check(poll.history(SVC, R4) == [None], f"127.0.0.4 (hanging) entered the table: {poll.describe()}")
    check(poll.history(SVC, FALLBACK) == [None], f"the fallback server flapped at start: {poll.describe()}")
    check(poll.history(SVC, R2) == [None, 1], f"127.0.0.2's weights over time: {poll.history(SVC, R2)}")
    added = d.find(r"^Added real server: ")
    check(len(added) == 1 and added[0].startswith(f"Added real server: {R2} "), f"added lines: {added}")
    check(not d.find(r"^(Deleted|Quiescent) real server"), f"a real server was removed at start:\n{d.log_tail()}")
    t.kernel.wait_weights(SVC, {R2: 1}, 1, "the table still only 127.0.0.2")


@scenario("start")
def start_with_every_server_down_installs_the_fallback(t):
    """Every real server fails its first check: the fallback server is installed (once),
    and no real server was ever in the table."""
    backends, d = started(t, web(quiescent="no"), {R2: "refuse", R3: "error", R4: "refuse"})
    poll = t.kernel.poller()
    d.start()
    t.kernel.wait_weights(SVC, {FALLBACK: 1}, FIRST, "the fallback server alone")
    stable_for(t.kernel, 2, d, ["127.0.0.2 8080", "127.0.0.3 8080"])
    poll.stop()
    for real in (R2, R3, R4):
        check(poll.history(SVC, real) == [None], f"{real} entered the table: {poll.describe()}")
    check(poll.history(SVC, FALLBACK) == [None, 1], f"fallback over time: {poll.history(SVC, FALLBACK)}")
    check(len(d.find(r"^Added fallback server: ")) == 1, f"the fallback was added more than once:\n{d.log_tail()}")


@scenario("checks")
def hanging_server_does_not_delay_the_others(t):
    """Checks are concurrent: with one real server hanging for a 6 s negotiatetimeout,
    another's failure is still acted on within one check interval (ldirectord, checking one
    server after another, would take the hang's timeout longer)."""
    config = web(quiescent="no").replace(f"negotiatetimeout={TIMEOUT}", "negotiatetimeout=6")
    backends, d = started(t, config, {R2: "up", R3: "up", R4: "hang"})
    d.start()
    t.kernel.wait_weights(SVC, {R2: 1, R3: 2}, FIRST, "127.0.0.2 and 127.0.0.3")
    # The hang is in progress all the time now: every check of 127.0.0.4 lasts 6 s.
    d.wait_checks("127.0.0.4 8080", 1, timeout=20)
    backends.set(R3, "refuse")
    _, took = t.kernel.wait_weights(SVC, {R2: 1}, 6, "127.0.0.3 removed while 127.0.0.4 hangs")
    log(f"failure detected in {took:.1f} s while another check hangs for 6 s")
    check(took < 6 - 0.5, f"detection took {took:.1f} s: checks wait on the hanging one")
    # 127.0.0.2 keeps being checked about once a second (4 checks in well under 6 s).
    since = len(d.monitor())
    d.wait_checks("127.0.0.2 8080", 4, since=since, timeout=4 * INTERVAL + 2 * SLACK)


@scenario("failover")
def failurecount_soft_failures(t):
    """failurecount=4: three soft failures are logged (n/4) with the real server still in
    the table, the fourth takes it out; a pass after a soft failure resets the count."""
    backends, d = started(t, web(quiescent="no", failurecount=4))
    d.start()
    t.kernel.wait_weights(SVC, ALL_UP, FIRST, "the three real servers")
    poll = t.kernel.poller()
    mark = d.mark()
    backends.set(R3, "refuse")
    for n in (1, 2, 3):
        d.wait_log(
            line_re(f"Soft failure real server: {R3} (tcp:{VIP}) failure {n}/4", reason="Connection refused"),
            DETECT,
            since=mark,
        )
        weights = t.kernel.table().weights(SVC)
        check(R3 in weights, f"127.0.0.3 left the table after soft failure {n}/4: {weights}")
    t.kernel.wait_weights(SVC, {R2: 1, R4: 3}, DETECT, "127.0.0.3 removed at the fourth failure")
    d.wait_log(line_re(f"Deleted real server: {R3} ({VIP})", reason="Connection refused"), 5, since=mark)
    check(not d.find(r"failure 4/4", since=mark), "a 'failure 4/4' soft failure line was logged")
    messages = d.messages()[mark:]
    order = [m.split(" (")[0] for m in messages if R3 in m]
    check(
        [m for m in order if m.startswith(("Soft", "Deleted"))]
        == [f"Soft failure real server: {R3}"] * 3 + [f"Deleted real server: {R3}"],
        f"soft failures then deletion, in order: {order}",
    )

    # It comes back: the count is reset, then it is added.
    mark = d.mark()
    backends.set(R3, "up")
    t.kernel.wait_weights(SVC, ALL_UP, DETECT, "127.0.0.3 back")
    reset = d.wait_log(line_re(f"Resetting soft failure count: {R3} (tcp:{VIP})"), 5, since=mark)
    added = d.wait_log(line_re(f"Added real server: {R3} ({VIP}) (Weight set to 2)", reason="200"), 5, since=mark)
    new = d.messages()[mark:]
    check(new.index(reset.string) < new.index(added.string), "the reset should be logged before the add")

    # One soft failure, then a pass: reset, never removed.
    mark = d.mark()
    backends.set(R2, "refuse")
    d.wait_log(line_re(f"Soft failure real server: {R2} (tcp:{VIP}) failure 1/4", reason=True), DETECT, since=mark)
    backends.set(R2, "up")
    d.wait_log(line_re(f"Resetting soft failure count: {R2} (tcp:{VIP})"), DETECT, since=mark)
    poll.stop()
    check(poll.history(SVC, R2) == [1], f"127.0.0.2 left the table on a soft failure: {poll.history(SVC, R2)}")
    check(not d.find(f"Deleted real server: {R2}", since=mark), "127.0.0.2 was deleted")


@scenario("failover")
def maintenance_files_take_servers_out(t):
    """maintenancedir: a file named IP:PORT, IP, HOST:PORT or HOST takes the real server out
    at the next check although it answers; removing the file brings it back."""
    os.makedirs(f"{t.dir}/maintenance")
    # A name for 127.0.0.2, as ldirectord looks it up (reverse, through /etc/hosts).
    with open("/etc/hosts", "a") as hosts:
        hosts.write("127.0.0.2 e2e-maint.example e2e-maint\n")
    backends, d = started(t, web(quiescent="no", globals_=f"maintenancedir={t.dir}/maintenance"))
    d.start()
    t.kernel.wait_weights(SVC, ALL_UP, FIRST, "the three real servers")
    for name, real, rest in (
        ("127.0.0.3:8080", R3, {R2: 1, R4: 3}),
        ("127.0.0.4", R4, {R2: 1, R3: 2}),
        ("e2e-maint.example:8080", R2, {R3: 2, R4: 3}),
        ("e2e-maint.example", R2, {R3: 2, R4: 3}),
    ):
        mark = d.mark()
        path = f"{t.dir}/maintenance/{name}"
        open(path, "w").close()
        log(f"touch maintenance/{name}")
        _, took = t.kernel.wait_weights(SVC, rest, INTERVAL + SLACK, f"{real} out for maintenance file {name}")
        log(f"out in {took:.1f} s")
        d.wait_log(line_re(f"Deleted real server: {real} ({VIP})", reason=True), 5, since=mark)
        mark = d.mark()
        os.unlink(path)
        log(f"rm maintenance/{name}")
        t.kernel.wait_weights(SVC, ALL_UP, DETECT, f"{real} back after removing {name}")
        d.wait_log(line_re(f"Added real server: {real} ({VIP}) (Weight set to {ALL_UP[real]})", reason=True), 5,
                   since=mark)


@scenario("failover")
def readdquiescent_yes_readds_at_weight_zero(t):
    """quiescent=yes, readdquiescent=yes: a failed real server missing from the table (never
    added, or deleted by hand) is put in with weight 0, never with its weight."""
    backends, d = started(
        t, web(quiescent="yes", globals_="readdquiescent=yes"), {R2: "up", R3: "up", R4: "refuse"}
    )
    poll = t.kernel.poller()
    d.start()
    t.kernel.wait_weights(SVC, {R2: 1, R3: 2, R4: 0}, FIRST, "127.0.0.4 put in at weight 0")
    # Its first check failed: quiesced, as ldirectord's settled table has it.
    d.wait_log(line_re(f"Quiescent real server: {R4} ({VIP}) (Weight set to 0)", reason=True), 5)

    backends.set(R3, "refuse")
    t.kernel.wait_weights(SVC, {R2: 1, R3: 0, R4: 0}, DETECT, "127.0.0.3 quiesced")
    mark = d.mark()
    t.kernel.ipvsadm("-d", "-t", VIP, "-r", R3)
    log("ipvsadm -d 127.0.0.3 (quiesced) behind directord's back")
    _, took = t.kernel.wait_weights(SVC, {R2: 1, R3: 0, R4: 0}, INTERVAL + SLACK, "127.0.0.3 re-added at weight 0")
    log(f"re-added at weight 0 in {took:.1f} s")
    d.wait_log(line_re(f"Readd Quiescent real server: {R3} ({VIP}) (Weight set to 0)", reason=True), 5, since=mark)
    poll.stop()
    check(set(poll.history(SVC, R4)) <= {None, 0}, f"127.0.0.4 was routed to: {poll.history(SVC, R4)}")


@scenario("failover")
def readdquiescent_no_leaves_missing_servers_out(t):
    """quiescent=yes, readdquiescent=no (ldirectord's default): a failed real server deleted
    from the table stays out (it is not re-added, even at weight 0); one failing its first
    check is put in at weight 0 once, as ldirectord's settled table has it."""
    backends, d = started(t, web(quiescent="yes"), {R2: "up", R3: "up", R4: "refuse"})
    poll = t.kernel.poller()
    d.start()
    t.kernel.wait_weights(SVC, {R2: 1, R3: 2, R4: 0}, FIRST, "127.0.0.2 and 127.0.0.3 (127.0.0.4 failing, at 0)")
    backends.set(R3, "refuse")
    t.kernel.wait_weights(SVC, {R2: 1, R3: 0, R4: 0}, DETECT, "127.0.0.3 quiesced")
    t.kernel.ipvsadm("-d", "-t", VIP, "-r", R3)
    log("ipvsadm -d 127.0.0.3 (quiesced) behind directord's back")
    table = stable_for(t.kernel, 3, d, ["127.0.0.3 8080", "127.0.0.4 8080"])
    poll.stop()
    check(table.weights(SVC) == {R2: 1, R4: 0}, f"the deleted server should stay out:\n{table}")
    check(poll.history(SVC, R4) == [None, 0], f"127.0.0.4 was routed to: {poll.history(SVC, R4)}")
    check(not d.find("Readd Quiescent"), "a Readd Quiescent line with readdquiescent=no")


@scenario("checks")
def checktypes_on_off_connect(t):
    """checktype=on adds a real server whatever it answers; checktype=off never adds one
    (its fallback server is there); checktype=connect needs only the TCP connection."""
    config = f"""checkinterval={INTERVAL}
checktimeout={TIMEOUT}
negotiatetimeout={TIMEOUT}
logfile="{{log}}"
virtual=10.0.0.20:80
\treal=127.0.0.2:8080 masq 4
\tchecktype=on
virtual=10.0.0.21:80
\treal=127.0.0.3:8080 masq 5
\tfallback=127.0.0.9:8080 masq
\tchecktype=off
virtual=10.0.0.22:80
\treal=127.0.0.4:8080 masq 6
\treal=127.0.0.5:8080 masq 7
\tchecktype=connect
\tmonitorfile="{{monitor}}"
"""
    backends, d = started(t, config, {R2: "refuse", R3: "up", R4: "error", "127.0.0.5:8080": "refuse"})
    poll = t.kernel.poller()
    d.start()
    expected = {
        "TCP 10.0.0.20:80": {R2: 4},
        "TCP 10.0.0.21:80": {FALLBACK: 1},
        "TCP 10.0.0.22:80": {R4: 6},
    }
    t.kernel.wait(lambda table: table.summary() == expected, FIRST, f"the table {expected}")
    stable_for(t.kernel, 2, d, ["127.0.0.4 8080", "127.0.0.5 8080"])
    poll.stop()
    check(poll.history("TCP 10.0.0.21:80", R3) == [None], "checktype=off: the real server entered the table")
    check(poll.history("TCP 10.0.0.22:80", "127.0.0.5:8080") == [None], "connect check: refused server added")
    check(t.kernel.table().summary() == expected, f"table changed:\n{t.kernel.table()}")


@scenario("repair")
def repairs_changes_made_behind_its_back(t):
    """Entries of managed services that someone deletes or changes by hand are repaired
    within one check interval: a deleted real server, an edited weight, an extra real
    server, an edited scheduler, the whole virtual service deleted. Judged by the table
    alone: what directord logs about a repair is shown in the timeline, not required."""
    backends, d = started(t, web(quiescent="no"), {R2: "up", R3: "up", R4: "up", "127.0.0.7:8080": "up"})
    d.start()
    t.kernel.wait_weights(SVC, ALL_UP, FIRST, "the three real servers")
    bound = INTERVAL + SLACK

    steps = [
        ["-d", "-t", VIP, "-r", R3],
        ["-e", "-t", VIP, "-r", R4, "-m", "-w", "9"],
        ["-a", "-t", VIP, "-r", "127.0.0.7:8080", "-m", "-w", "5"],
    ]
    for argv in steps:
        mark = d.mark()
        t.kernel.ipvsadm(*argv)
        log(f"ipvsadm {' '.join(argv)} behind directord's back")
        _, took = t.kernel.wait_weights(SVC, ALL_UP, bound, f"the table repaired after ipvsadm {' '.join(argv)}")
        log(f"repaired in {took:.1f} s")
        note_repair_lines(d, mark)

    mark = d.mark()
    t.kernel.ipvsadm("-E", "-t", VIP, "-s", "rr")
    log("ipvsadm -E -s rr behind directord's back")
    _, took = t.kernel.wait(lambda table: table.services[SVC].scheduler == "wrr", bound, "scheduler back to wrr")
    log(f"scheduler repaired in {took:.1f} s")
    note_repair_lines(d, mark)

    mark = d.mark()
    t.kernel.ipvsadm("-D", "-t", VIP)
    log("ipvsadm -D (the whole virtual service) behind directord's back")
    _, took = t.kernel.wait_weights(SVC, ALL_UP, bound, "the virtual service recreated with its real servers")
    log(f"virtual service recreated in {took:.1f} s")
    note_repair_lines(d, mark)


@scenario("repair", timeout=180)
def operator_weight_zero_is_a_drain(t):
    """`ipvsadm -e -w 0` on a healthy real server, the operator's way to drain it, is kept:
    logged once, still 0 after several repair rounds, still 0 after kill -9 and a new start
    (whose checks pass); a weight given back with ipvsadm ends the drain and the configured
    weight returns. A deleted real server is still repaired meanwhile."""
    backends, d = started(t, web(quiescent="no"))
    d.start()
    t.kernel.wait_weights(SVC, ALL_UP, FIRST, "the three real servers")
    mark = d.mark()
    t.kernel.ipvsadm("-e", "-t", VIP, "-r", R3, "-m", "-w", "0")
    log("ipvsadm -e -w 0 on 127.0.0.3:8080 behind directord's back")
    drained = {R2: 1, R3: 0, R4: 3}
    d.wait_log(r"^Drained real server: 127\.0\.0\.3:8080 \(10\.0\.0\.10:80\)", DETECT, since=mark)
    table = stable_for(t.kernel, 3, d, ["127.0.0.3 8080"])
    check(table.weights(SVC) == drained, f"the drain was not kept: {table.weights(SVC)}")
    check(len(d.find(r"^Drained real server", since=mark)) == 1, "the drain was logged more than once")
    check("drained" in d.command("status", "-v").stdout, "status -v does not show the drain")

    t.kernel.ipvsadm("-d", "-t", VIP, "-r", R2)
    log("ipvsadm -d 127.0.0.2:8080 while 127.0.0.3:8080 is drained")
    t.kernel.wait_weights(SVC, drained, INTERVAL + SLACK, "the deleted real server repaired, the drain kept")

    old = d.live_pid()
    os.kill(old, signal.SIGKILL)
    log(f"kill -9 {old}")
    wait_until(lambda: not os.path.exists(f"/proc/{old}"), 10, "the daemon to die")
    monitor_mark = len(d.monitor())
    d.start()
    d.wait_checks("127.0.0.3 8080", 3, since=monitor_mark, timeout=FIRST + 3 * DETECT)
    check(t.kernel.table().weights(SVC) == drained, f"the restart lost the drain: {t.kernel.table().weights(SVC)}")

    mark = d.mark()
    t.kernel.ipvsadm("-e", "-t", VIP, "-r", R3, "-m", "-w", "7")
    log("ipvsadm -e -w 7 on the drained 127.0.0.3:8080")
    t.kernel.wait_weights(SVC, ALL_UP, DETECT, "the configured weight back after the drain ended")
    d.wait_log(r"^Undrained real server: 127\.0\.0\.3:8080", DETECT, since=mark)


def active_connections(kernel, service, destination):
    """ActiveConn of one destination, from `ipvsadm -Ln`."""
    current = None
    for line in kernel.ipvsadm("-Ln").stdout.splitlines():
        words = line.split()
        if words and words[0] in ("TCP", "UDP", "SCTP", "FWM"):
            current = f"{words[0]} {words[1]}"
        elif words[:2] == ["->", destination] and current == service:
            return int(words[4])
    return None


@scenario("drain", timeout=180)
def drain_and_undrain(t):
    """`directord drain` sets the kernel weight to 0 within a second and keeps it across
    kill -9 and a new start; `undrain` restores it; `drain --remove-when-idle` keeps the entry
    while a connection through the virtual service is open and deletes it after it closes."""
    backends, d = started(t, web(quiescent="no"))
    t.kernel.add_address("10.0.0.10")
    d.start()
    t.kernel.wait_weights(SVC, ALL_UP, FIRST, "the three real servers")
    result = d.command("drain", "127.0.0.3:8080")
    check(result.returncode == 0, f"drain: exit {result.returncode}: {result.stderr}")
    drained = {R2: 1, R3: 0, R4: 3}
    _, took = t.kernel.wait_weights(SVC, drained, 1.0, "weight 0 within a second of drain")
    log(f"drained in {took:.2f} s")
    check("drained: directord drain" in d.command("status", "-v").stdout, "status -v does not show the drain")
    check(d.command("drain", "10.9.9.9").returncode == 1, "drain of an unknown real server did not fail")

    old = d.live_pid()
    os.kill(old, signal.SIGKILL)
    wait_until(lambda: not os.path.exists(f"/proc/{old}"), 10, "the daemon to die")
    monitor_mark = len(d.monitor())
    d.start()
    d.wait_checks("127.0.0.3 8080", 3, since=monitor_mark, timeout=FIRST + 3 * DETECT)
    check(t.kernel.table().weights(SVC) == drained, f"the restart lost the drain: {t.kernel.table().weights(SVC)}")

    check(d.command("undrain", "127.0.0.3:8080").returncode == 0, "undrain failed")
    t.kernel.wait_weights(SVC, ALL_UP, 1.0, "the configured weight back within a second of undrain")

    # An open connection through the virtual service, to whichever real server took it.
    host, port = VIP.rsplit(":", 1)
    connection = socket.create_connection((host, int(port)), timeout=5)
    busy, _ = wait_until(lambda: next((r for r in (R2, R3, R4) if active_connections(t.kernel, SVC, r)), None), 10,
                      "the connection in the kernel's table")
    log(f"a connection is open to {busy}")
    result = d.command("drain", busy, "--remove-when-idle")
    check(result.returncode == 0, f"drain --remove-when-idle: exit {result.returncode}: {result.stderr}")
    expected = dict(ALL_UP, **{busy: 0})
    t.kernel.wait_weights(SVC, expected, 1.0, f"{busy} at weight 0")
    stable_for(t.kernel, 2, d, [busy.replace(":", " ")])
    check(t.kernel.table().weights(SVC) == expected, f"{busy} left while its connection is open")
    connection.close()
    gone = {r: w for r, w in ALL_UP.items() if r != busy}
    _, took = t.kernel.wait_weights(SVC, gone, 2 * INTERVAL + DETECT, f"{busy} deleted once idle")
    log(f"deleted {took:.1f} s after its last connection closed")


@scenario("repair")
def repair_no_leaves_the_table_alone(t):
    """With repair=no a real server deleted by hand stays deleted while health is unchanged;
    a change of health still reaches the table."""
    backends, d = started(t, web(quiescent="no", globals_="repair=no"))
    d.start()
    t.kernel.wait_weights(SVC, ALL_UP, FIRST, "the three real servers")
    t.kernel.ipvsadm("-d", "-t", VIP, "-r", R3)
    log("ipvsadm -d 127.0.0.3:8080 with repair=no")
    table = stable_for(t.kernel, 3, d, ["127.0.0.3 8080"])
    check(table.weights(SVC) == {R2: 1, R4: 3}, f"repair=no repaired: {table.weights(SVC)}")
    backends.set(R4, "refuse")
    t.kernel.wait_weights(SVC, {R2: 1}, DETECT, "a failed real server still removed")


@scenario("plan")
def plan_prints_what_a_start_does(t):
    """`directord plan` on a table an earlier director left (another scheduler, weights of
    its own, a dead real server in, a real server the file does not list) changes nothing, and
    its ipvsadm commands, replayed on that table, give exactly the table the start then
    settles on."""
    backends, d = started(t, web(quiescent="no", globals_="cleanstop=no"), {R2: "up", R3: "refuse", R4: "up"})
    for argv in (["-A", "-t", VIP, "-s", "rr"], ["-a", "-t", VIP, "-r", R2, "-m", "-w", "1"],
                 ["-a", "-t", VIP, "-r", R3, "-m", "-w", "2"], ["-a", "-t", VIP, "-r", "127.0.0.6:8080", "-m", "-w", "4"]):
        t.kernel.ipvsadm(*argv)
    left = t.kernel.ipvsadm("-Sn").stdout
    result = d.command("plan")
    check(result.returncode == 0, f"plan: exit {result.returncode}: {result.stderr}")
    log("plan printed:\n" + result.stdout)
    check(t.kernel.ipvsadm("-Sn").stdout == left, "plan changed the table")
    commands = [line.split()[1:] for line in result.stdout.splitlines() if line.startswith("ipvsadm ")]
    check(commands, "plan printed no command")

    d.start()
    t.kernel.wait_weights(SVC, {R2: 1, R4: 3}, FIRST, "the start settled")
    stable_for(t.kernel, 2, d, ["127.0.0.2 8080", "127.0.0.3 8080", "127.0.0.4 8080"])
    settled = t.kernel.ipvsadm("-Sn").stdout
    d.command("stop")

    t.kernel.ipvsadm("-C")
    t.kernel.ipvsadm("-R", input=left)
    for argv in commands:
        t.kernel.ipvsadm(*argv)
    replayed = t.kernel.ipvsadm("-Sn").stdout
    check(replayed == settled, f"the plan replayed:\n{replayed}\nthe start settled on:\n{settled}")


def note_repair_lines(director, mark):
    """Logs (for the timeline) what directord wrote since `mark`."""
    log("directord logged: " + ("; ".join(director.messages()[mark:]) or "nothing"))


@scenario("reload")
def reload_edits_a_weight_in_place(t):
    """A reload that changes one weight edits that entry in place: nothing else is deleted,
    re-added or reset (the connection counters of every entry survive), and a real server
    that was down stays down without passing through the table."""
    backends, d = started(t, web(quiescent="no"))
    t.kernel.add_address("10.0.0.10")
    d.start()
    t.kernel.wait_weights(SVC, ALL_UP, FIRST, "the three real servers")
    traffic(VIP, 24)
    wait_until(
        lambda: all(t.kernel.stats()[(SVC, r)][0] > 0 for r in (R2, R3, R4)),
        10,
        "connection counters of all three real servers (the kernel sums them every 2 s)",
    )
    backends.set(R4, "refuse")
    t.kernel.wait_weights(SVC, {R2: 1, R3: 2}, DETECT, "127.0.0.4 removed")
    stable_for(t.kernel, 1, d, ["127.0.0.2 8080"])
    before = t.kernel.listing()
    stats_before = t.kernel.stats()
    mark = d.mark()

    poll = t.kernel.poller()
    d.write(web(quiescent="no", weights=(1, 5, 3)))
    result = d.command("reload")
    check(result.returncode == 0, f"directord reload: exit {result.returncode}: {result.stdout}{result.stderr}")
    _, took = t.kernel.wait_weights(SVC, {R2: 1, R3: 5}, INTERVAL + SLACK, "127.0.0.3's weight edited to 5")
    log(f"weight edited {took:.1f} s after the reload")
    stable_for(t.kernel, 2, d, ["127.0.0.2 8080", "127.0.0.4 8080"])
    poll.stop()

    after = t.kernel.listing()
    expected = before.replace("-> 127.0.0.3:8080 Masq 2", "-> 127.0.0.3:8080 Masq 5")
    check(expected != before, f"test bug: 127.0.0.3 not found in\n{before}")
    check(after == expected, f"the reload changed more than one weight:\nbefore:\n{before}\nafter:\n{after}")
    stats_after = t.kernel.stats()
    for key, counters in stats_before.items():
        check(key in stats_after and stats_after[key][0] >= counters[0],
              f"counters of {key} reset by the reload: {counters} -> {stats_after.get(key)}")
    check(poll.history(SVC, R2) == [1], f"127.0.0.2 was touched: {poll.history(SVC, R2)}")
    check(poll.history(SVC, R3) == [2, 5], f"127.0.0.3 went through {poll.history(SVC, R3)}")
    check(poll.history(SVC, R4) == [None], f"127.0.0.4 (down) went through {poll.history(SVC, R4)}")
    check(poll.service_history(SVC) == [True], "the virtual service was deleted during the reload")
    d.wait_log(line_re(f"Restored real server: {R3} ({VIP}) (Weight set to 5)", reason=True), 5, since=mark)
    unexpected = d.find(r"^(Added|Deleted|Purged|Quiescent|Readd)", since=mark)
    check(not unexpected, f"lines the reload should not cause: {unexpected}")


@scenario("reload")
def reload_adds_and_removes_services(t):
    """A reload that adds a virtual service, drops another and drops one real server
    applies exactly that: the unchanged entries are never touched."""
    extra = "virtual=10.0.0.11:80\n\treal=127.0.0.5:8080 masq 1\n\tservice=http\n\trequest=\"/health\"\n\treceive=\"OK\"\n"
    backends, d = started(t, web(quiescent="no", virtual=extra),
                          {R2: "up", R3: "up", R4: "up", "127.0.0.5:8080": "up", "127.0.0.6:8080": "up"})
    d.start()
    t.kernel.wait(
        lambda table: table.weights(SVC) == ALL_UP and table.weights("TCP 10.0.0.11:80") == {"127.0.0.5:8080": 1},
        FIRST, "both services with their real servers")
    poll = t.kernel.poller()
    mark = d.mark()
    new = web(quiescent="no", virtual=extra.replace("10.0.0.11", "10.0.0.12").replace("127.0.0.5", "127.0.0.6"))
    new = new.replace("\treal=127.0.0.4:8080 masq 3\n", "")
    d.write(new)
    result = d.command("reload")
    check(result.returncode == 0, f"directord reload: exit {result.returncode}: {result.stdout}{result.stderr}")
    t.kernel.wait(
        lambda table: table.summary() == {SVC: {R2: 1, R3: 2}, "TCP 10.0.0.12:80": {"127.0.0.6:8080": 1}},
        FIRST, "the new table")
    poll.stop()
    check(poll.history(SVC, R2) == [1] and poll.history(SVC, R3) == [2],
          f"unchanged real servers were touched: {poll.describe()}")
    check(poll.history("TCP 10.0.0.12:80", "127.0.0.6:8080") == [None, 1], "the new real server flapped")
    d.wait_log(line_re("Added virtual server: 10.0.0.12:80"), 5, since=mark)
    d.wait_log(line_re("Added real server: 127.0.0.6:8080 (10.0.0.12:80) (Weight set to 1)", reason="200"), 5, since=mark)
    d.wait_log(line_re(f"Purged real server (start): {R4} ({VIP})"), 5, since=mark)
    d.wait_log(line_re("Purged virtual server (start): 10.0.0.11:80"), 5, since=mark)


@scenario("reload")
def invalid_reload_changes_nothing(t):
    """A reload with an invalid file changes nothing: `directord reload` refuses it (exit 2,
    the error printed, no signal sent); a SIGHUP sent anyway is logged and ignored, with the
    running configuration kept whole (none of the new file's globals half-applied); a later
    valid reload still works."""
    backends, d = started(t, web(quiescent="no"))
    d.start()
    t.kernel.wait_weights(SVC, ALL_UP, FIRST, "the three real servers")
    before = t.kernel.listing()
    mark = d.mark()
    # quiescent=yes first, then an error: ldirectord would keep quiescent=yes.
    d.write(web(quiescent="yes").replace("scheduler=wrr", "schedular=wrr"))
    result = d.command("reload")
    check(result.returncode == 2, f"reload of an invalid file: exit {result.returncode}, expected 2")
    check("schedular" in result.stdout + result.stderr, f"the error is not printed: {result.stdout}{result.stderr}")
    stable_for(t.kernel, 1, d, ["127.0.0.2 8080"])
    check(not d.find("schedular", since=mark), f"the daemon heard of the invalid file:\n{d.log_tail()}")

    d.signal(signal.SIGHUP)
    d.wait_log("schedular", 10, since=mark)
    stable_for(t.kernel, 1, d, ["127.0.0.2 8080"])
    check(t.kernel.listing() == before, f"the invalid reload changed the table:\n{before}\n->\n{t.kernel.listing()}")
    check(d.live_pid(), "directord is not running after the invalid reload")
    status = d.command("status")
    check(status.returncode == 0 and "schedular" in status.stderr,
          f"status on the invalid file: exit {status.returncode}, expected 0 (running) and the error printed")

    # The running configuration is the old one, whole: quiescent=no still removes.
    backends.set(R3, "refuse")
    t.kernel.wait_weights(SVC, {R2: 1, R4: 3}, DETECT, "127.0.0.3 removed (quiescent=no still applies)")
    backends.set(R3, "up")
    t.kernel.wait_weights(SVC, ALL_UP, DETECT, "127.0.0.3 back")

    d.write(web(quiescent="no", weights=(4, 2, 3)))
    result = d.command("reload")
    check(result.returncode == 0, f"valid reload: exit {result.returncode}: {result.stdout}{result.stderr}")
    t.kernel.wait_weights(SVC, {R2: 4, R3: 2, R4: 3}, INTERVAL + SLACK, "127.0.0.2 at weight 4 after a valid reload")


@scenario("restart", timeout=180)
def restart_after_kill_changes_nothing(t):
    """kill -9, then start again with the same health: the new daemon adopts the table and
    changes nothing, not even for a moment (a 5 ms poller watches): real servers up, one
    quiesced, a service on its fallback server; counters survive."""
    second = """virtual=10.0.0.11:80
\treal=127.0.0.5:8080 masq 1
\tfallback=127.0.0.9:8080 masq
\tservice=http
\trequest="/health"
\treceive="OK"
\tmonitorfile="{monitor}"
"""
    backends, d = started(t, web(quiescent="yes", virtual=second),
                          {R2: "up", R3: "up", R4: "up", "127.0.0.5:8080": "refuse"})
    t.kernel.add_address("10.0.0.10")
    d.start()
    expected = {SVC: {R2: 1, R3: 0, R4: 3}, "TCP 10.0.0.11:80": {"127.0.0.5:8080": 0, FALLBACK: 1}}
    t.kernel.wait_weights(SVC, ALL_UP, FIRST, "the three real servers")
    traffic(VIP, 12)
    backends.set(R3, "refuse")
    t.kernel.wait(lambda table: table.summary() == expected, DETECT, f"the table {expected}")
    wait_until(lambda: t.kernel.stats()[(SVC, R2)][0] > 0, 10, "connection counters")
    before = t.kernel.listing()
    stats_before = t.kernel.stats()

    old = d.live_pid()
    os.kill(old, signal.SIGKILL)
    log(f"kill -9 {old}")
    wait_until(lambda: not os.path.exists(f"/proc/{old}"), 10, "the daemon to die")
    status = d.command("status")
    check(status.returncode == 1, f"status with a stale pid file: exit {status.returncode}, expected 1")
    poll = t.kernel.poller()
    mark, monitor_mark = d.mark(), len(d.monitor())
    new = d.start()
    check(new != old, "the pid file still names the killed daemon")
    for address in ("127.0.0.2 8080", "127.0.0.3 8080", "127.0.0.4 8080", "127.0.0.5 8080"):
        lines = d.wait_checks(address, 3, since=monitor_mark, timeout=FIRST + 3 * DETECT)
        check(all(line[1] == new for line in lines), f"checks logged by another pid: {lines}")
    poll.stop()
    check(len(poll.states) == 1, f"the table changed during the restart:\n{poll.describe()}")
    after = t.kernel.listing()
    check(after == before, f"the restart changed the table:\nbefore:\n{before}\nafter:\n{after}")
    stats_after = t.kernel.stats()
    for key, counters in stats_before.items():
        check(stats_after.get(key, (0,))[0] >= counters[0], f"counters of {key} reset: {counters} -> {stats_after.get(key)}")
    changes = d.find(r"^(Added|Deleted|Purged|Quiescent|Restored|Readd|Changed)", since=mark)
    check(not changes, f"the restarted daemon logged changes: {changes}")


@scenario("restart")
def start_adopts_the_table_and_purges_the_rest(t):
    """Start on a table someone left: the real server already routed to is trusted (never
    removed while it passes), one already there that fails is removed after its first check,
    an entry the file does not list is purged, the service's scheduler is corrected, and a
    service the file does not manage is left alone."""
    backends, d = started(t, web(quiescent="no"), {R2: "up", R3: "refuse", R4: "up"})
    k = t.kernel
    k.ipvsadm("-A", "-t", VIP, "-s", "rr")
    k.ipvsadm("-a", "-t", VIP, "-r", R2, "-m", "-w", "1")
    k.ipvsadm("-a", "-t", VIP, "-r", R3, "-m", "-w", "2")
    k.ipvsadm("-a", "-t", VIP, "-r", "127.0.0.7:8080", "-m", "-w", "1")
    k.ipvsadm("-A", "-t", "10.0.0.99:80", "-s", "lc")
    k.ipvsadm("-a", "-t", "10.0.0.99:80", "-r", "127.0.0.8:80", "-m", "-w", "7")
    foreign = [line for line in k.listing().splitlines() if "10.0.0.99" in line or "127.0.0.8" in line]
    poll = k.poller()
    d.start()
    _, took = k.wait(lambda table: table.weights(SVC) == {R2: 1, R4: 3} and table.services[SVC].scheduler == "wrr",
                     FIRST, "the adopted table corrected")
    poll.stop()
    check(poll.history(SVC, R2) == [1], f"127.0.0.2 (trusted, passing) was touched: {poll.history(SVC, R2)}")
    check(poll.history(SVC, R3) == [2, None], f"127.0.0.3 (failing): {poll.history(SVC, R3)}")
    check(poll.history(SVC, R4) == [None, 3], f"127.0.0.4 (new): {poll.history(SVC, R4)}")
    d.wait_log(line_re(f"Changed virtual server: {VIP}"), 5)
    d.wait_log(line_re(f"Purged real server (start): 127.0.0.7:8080 ({VIP})"), 5)
    d.wait_log(line_re(f"Deleted real server: {R3} ({VIP})", reason="Connection refused"), 5)
    check(not d.find(f"Added real server: {R2}"), "the trusted real server was re-added")
    now = [line for line in k.listing().splitlines() if "10.0.0.99" in line or "127.0.0.8" in line]
    check(now == foreign, f"the unmanaged service was changed: {foreign} -> {now}")


@scenario("stop")
def stop_cleans_up_its_services_only(t):
    """`directord stop` returns once the daemon has removed its services (cleanstop=yes),
    leaving a cleanstop=no service and services it does not manage (one there before the
    start, one added while it ran) exactly as they were; the pid file is gone."""
    kept = """virtual=10.0.0.11:80
\treal=127.0.0.5:8080 masq 1
\tcleanstop=no
\tservice=http
\trequest="/health"
\treceive="OK"
"""
    backends, d = started(t, web(quiescent="no", virtual=kept),
                          {R2: "up", R3: "up", R4: "up", "127.0.0.5:8080": "up"})
    k = t.kernel
    k.ipvsadm("-A", "-t", "10.0.0.98:80", "-s", "rr")
    k.ipvsadm("-a", "-t", "10.0.0.98:80", "-r", "127.0.0.8:80", "-m", "-w", "2")
    d.start()
    k.wait(lambda table: table.weights(SVC) == ALL_UP and table.weights("TCP 10.0.0.11:80") == {"127.0.0.5:8080": 1},
           FIRST, "both services")
    k.ipvsadm("-A", "-u", "10.0.0.99:53", "-s", "sh")
    k.ipvsadm("-a", "-u", "10.0.0.99:53", "-r", "127.0.0.8:53", "-m", "-w", "1")
    log("ipvsadm: added UDP 10.0.0.99:53 behind directord's back")
    stable_for(k, 2, d, ["127.0.0.2 8080"])
    table = k.table()
    check("UDP 10.0.0.99:53" in table.services and "TCP 10.0.0.98:80" in table.services,
          f"directord touched services it does not manage:\n{table}")
    others = [line for line in k.listing().splitlines() if "10.0.0.9" in line or "127.0.0.8" in line
              or "10.0.0.11" in line or "127.0.0.5" in line]
    pid = d.live_pid()
    mark = d.mark()
    started_at = time.monotonic()
    d.stop()
    log(f"stop returned after {time.monotonic() - started_at:.1f} s")
    # No waiting: when stop returns, the clean-up is done.
    table = k.table()
    check(SVC not in table.services, f"stop returned before removing {SVC}:\n{table}")
    now = [line for line in k.listing().splitlines() if "10.0.0.9" in line or "127.0.0.8" in line
           or "10.0.0.11" in line or "127.0.0.5" in line]
    check(now == others, f"stop touched what it should leave:\n{others}\n->\n{now}")
    check(not os.path.exists(f"/proc/{pid}"), f"the daemon {pid} still runs after stop returned")
    check(not os.path.exists(d.pidfile), "the pid file is left after stop")
    d.wait_log(line_re(f"Purged virtual server (stop): {VIP}"), 1, since=mark)
    check(not d.find("10.0.0.11:80", since=mark), "a cleanstop=no service was purged")
    status = d.command("status")
    check(status.returncode == 3, f"status after stop: exit {status.returncode}, expected 3")
    again = d.command("stop")
    check(again.returncode == 0, f"stop when not running: exit {again.returncode}, expected 0")


@scenario("stop")
def stop_with_cleanstop_no_leaves_the_table(t):
    """cleanstop=no: stop leaves the whole table exactly as it was."""
    backends, d = started(t, web(quiescent="yes", globals_="cleanstop=no"), {R2: "up", R3: "refuse", R4: "up"})
    d.start()
    t.kernel.wait_weights(SVC, {R2: 1, R3: 0, R4: 3}, FIRST, "the two passing real servers, 127.0.0.3 at 0")
    before = t.kernel.listing()
    d.stop()
    check(t.kernel.listing() == before, f"cleanstop=no: stop changed the table:\n{before}\n->\n{t.kernel.listing()}")
    check(not d.find(r"^Purged"), "cleanstop=no: purge lines logged")


@scenario("stop")
def second_signal_does_not_skip_clean_up(t):
    """SIGINT then SIGTERM at once to a foreground (-d) directord: it still removes its
    services before exiting, and exits 0."""
    backends, d = started(t, web(quiescent="no"))
    process = d.start_foreground(("-d",))
    t.kernel.wait_weights(SVC, ALL_UP, FIRST, "the three real servers")
    check(d.pid() == process.pid, f"-d: pid file {d.pid()} is not the foreground process {process.pid}")
    process.send_signal(signal.SIGINT)
    process.send_signal(signal.SIGTERM)
    log("SIGINT + SIGTERM")
    try:
        status = process.wait(timeout=30)
    except Exception:
        raise Failure("directord did not exit within 30 s of SIGINT + SIGTERM")
    check(status == 0, f"exit status {status} after SIGINT + SIGTERM")
    check(SVC not in t.kernel.table().services, f"services left after a double signal:\n{t.kernel.table()}")
    purged = line_re(f"Purged virtual server (stop): {VIP}")
    check(any(purged.match(m) for m in d.messages("stderr")), f"no purge line on stderr:\n{d.messages('stderr')[-10:]}")


@scenario("failover")
def fallbackcommand_runs_on_loss_and_recovery(t):
    """fallbackcommand runs `CMD start VIP:PORT tcp` when the last real server goes,
    `stop` when one is back (and at start while one is up), and `stop` on shutdown."""
    script = f"{t.dir}/fallback.sh"
    with open(script, "w") as file:
        file.write(f"#!/bin/sh\necho \"$*\" >> {t.dir}/fallback.calls\n")
    os.chmod(script, 0o755)
    config = web(quiescent="no", globals_=f"fallbackcommand=\"{script}\"", fallback=False)
    config = config.replace("\treal=127.0.0.3:8080 masq 2\n", "").replace("\treal=127.0.0.4:8080 masq 3\n", "")
    backends, d = started(t, config, {R2: "up"})

    def calls():
        try:
            with open(f"{t.dir}/fallback.calls") as file:
                return file.read().splitlines()
        except FileNotFoundError:
            return []

    d.start()
    t.kernel.wait_weights(SVC, {R2: 1}, FIRST, "127.0.0.2")
    wait_until(lambda: calls() == [f"stop {VIP} tcp"], 5, f"the start's 'stop' call ({calls()})")
    backends.set(R2, "refuse")
    t.kernel.wait_weights(SVC, {}, DETECT, "no real server")
    wait_until(lambda: len(calls()) == 2, 5, "the 'start' call")
    backends.set(R2, "up")
    t.kernel.wait_weights(SVC, {R2: 1}, DETECT, "127.0.0.2 back")
    wait_until(lambda: len(calls()) == 3, 5, "the 'stop' call")
    backends.set(R2, "refuse")
    t.kernel.wait_weights(SVC, {}, DETECT, "no real server")
    wait_until(lambda: len(calls()) == 4, 5, "the 'start' call")
    d.stop()
    expected = [f"stop {VIP} tcp", f"start {VIP} tcp", f"stop {VIP} tcp", f"start {VIP} tcp", f"stop {VIP} tcp"]
    check(calls() == expected, f"fallbackcommand calls {calls()}, expected {expected}")


@scenario("logging")
def log_file_and_monitor_file_formats(t):
    """The log file's lines are `[<ctime>|<config name>|<pid>] <message>` (the daemon's pid),
    the monitor file's `[<ctime>] [<pid>] <real server id> [up|down] <message>` with
    ldirectord's real server id."""
    backends, d = started(t, web(quiescent="no"), {R2: "up", R3: "refuse", R4: "up"})
    d.start()
    t.kernel.wait_weights(SVC, {R2: 1, R4: 3}, FIRST, "the two passing real servers")
    d.wait_checks("127.0.0.3 8080", 2)
    pid = d.live_pid()
    records = d.records()  # every line's format is checked here
    check(records, "the log file is empty")
    now = time.time()
    for stamp, name, line_pid, message in records:
        check(name == "web.cf", f"config name {name!r} in the log, expected 'web.cf'")
        check(abs(time.mktime(time.strptime(stamp, "%a %b %d %H:%M:%S %Y")) - now) < 600, f"log time {stamp!r}")
    daemon = [r for r in records if r[2] == pid]
    check(any(r[3] == f"Added virtual server: {VIP}" for r in daemon),
          f"the daemon's lines do not carry its pid {pid}: {records[:5]}")
    # ldirectord's start line, word for word, and each transition exactly ldirectord's line
    # (a pattern anchored at its end still matches), the check's reason on the next line.
    messages = d.messages(raw=True)
    check(messages[0] == "Starting Linux Director v1.186-ha as daemon", f"first line {messages[0]!r}")
    added = messages.index(f"Added real server: {R2} ({VIP}) (Weight set to 1)")
    check(re.match(rf"^Check of real server {re.escape(R2)} \({re.escape(VIP)}\): HTTP 200 OK", messages[added + 1]),
          f"after the transition: {messages[added + 1]!r}")
    for message in messages:
        if re.match(r"^(Added|Deleted|Restored|Quiescent) real server", message):
            check(re.match(r"^\w+ real server: \S+ \(\S+\)( \(Weight set to \d+\))?$", message),
                  f"not ldirectord's line: {message!r}")
    monitor = d.monitor()
    ids = {m[2] for m in monitor}
    for real, weight in (("127.0.0.2", 1), ("127.0.0.3", 2), ("127.0.0.4", 3)):
        expected = f"negotiate http tcp {real} 8080 {weight} masq /health OK"
        check(expected in ids, f"monitor file: no real server id {expected!r} in {sorted(ids)}")
    states = {(m[2].split()[3], m[3]) for m in monitor}
    check(("127.0.0.2", "up") in states and ("127.0.0.3", "down") in states, f"monitor states: {states}")
    check(all(m[1] == pid for m in monitor), f"monitor lines with another pid than {pid}")
    for m in monitor:
        check(m[4] and "|" not in m[4] and "\n" not in m[4], f"monitor message not escaped: {m}")
        time.strptime(m[0], "%a %b %d %H:%M:%S %Y")


@scenario("logging")
def supervised_logs_to_stdout(t):
    """supervised=yes: directord stays in the foreground (no daemon) and writes
    `[<ctime>] <message>` on standard output, as ldirectord does."""
    backends, d = started(t, web(quiescent="no", globals_="supervised=yes"))
    process = d.start_foreground(options=())
    t.kernel.wait_weights(SVC, ALL_UP, FIRST, "the three real servers")
    check(process.poll() is None, "supervised=yes: the start command returned (daemonized?)")
    check(d.pid() == process.pid, f"pid file {d.pid()} is not the supervised process {process.pid}")
    pattern = re.compile(r"^\[[A-Z][a-z]{2} [A-Z][a-z]{2} [ 1-3]\d \d{2}:\d{2}:\d{2} \d{4}\] (.*)$")

    def lines():
        with open(d.stdout_path) as file:
            return file.read().splitlines()

    wait_until(lambda: any(l.endswith(f"Added virtual server: {VIP}") for l in lines()), 10, "the stdout lines")
    for line in lines():
        check(pattern.match(line), f"supervised stdout line not '[<ctime>] <message>': {line!r}")
    process.send_signal(signal.SIGTERM)
    check(process.wait(timeout=30) == 0, "supervised directord: non-zero exit on SIGTERM")


def scrape(port=9469):
    """What directord's /metrics serves, as text."""
    import urllib.request
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        check(answer.status == 200, f"/metrics answered {answer.status}")
        return answer.read().decode()


def series(text, name, real, extra=""):
    """The value of NAME for real server REAL (IP:PORT) of SVC in a scrape, or None."""
    address, port = real.rsplit(":", 1)
    labels = (f'virtual_service="tcp:{VIP}",local_address="10.0.0.10",local_port="80",proto="TCP",'
              f'remote_address="{address}",remote_port="{port}"{extra}')
    for line in text.splitlines():
        if line.startswith(f"{name}{{{labels}}} "):
            return float(line.rsplit(" ", 1)[1])
    return None


def prometheus_query(expression):
    """The values of a PromQL expression from the scenario's Prometheus server, or []."""
    import json
    import urllib.parse
    import urllib.request
    url = "http://127.0.0.1:9090/api/v1/query?" + urllib.parse.urlencode({"query": expression})
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return [float(item["value"][1]) for item in json.load(answer)["data"]["result"]]
    except OSError:
        return []


@scenario("metrics", timeout=300)
def prometheus_scrapes_metrics(t):
    """metrics=: Debian's Prometheus scrapes directord and `promtool check metrics` passes on
    what it serves; a failing real server's directord_real_server_up turns 0 within one
    interval; the bytes counters grow with traffic through the virtual service."""
    import subprocess
    backends, d = started(t, web(quiescent="no", globals_="metrics=127.0.0.1:9469"))
    t.kernel.add_address("10.0.0.10")
    d.start()
    t.kernel.wait_weights(SVC, ALL_UP, FIRST, "the three real servers")
    text = scrape()
    linted = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=120)
    check(linted.returncode == 0, f"promtool check metrics: exit {linted.returncode}\n{linted.stdout}{linted.stderr}")
    for real in (R2, R3, R4):
        check(series(text, "directord_real_server_up", real) == 1.0, f"{real} not up in /metrics\n{text}")
    check(series(text, "directord_real_server_weight", R4) == 3.0, "the kernel's weight of 127.0.0.4 is not 3")

    with open(f"{t.dir}/prometheus.yml", "w") as file:
        file.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n"
                   "  - job_name: directord\n    static_configs:\n      - targets: ['127.0.0.1:9469']\n")
    prometheus = subprocess.Popen(
        ["prometheus", f"--config.file={t.dir}/prometheus.yml", f"--storage.tsdb.path={t.dir}/tsdb",
         "--web.listen-address=127.0.0.1:9090"],
        stdout=open(f"{t.dir}/prometheus.log", "w"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    t.cleanups.append(prometheus.kill)
    _, took = wait_until(lambda: prometheus_query('up{job="directord"}') == [1.0], 120, "Prometheus to scrape directord",
                         interval=1)
    log(f"Prometheus scrapes directord ({took:.1f} s after it started)")

    # A real server fails: 0 within one interval (checkinterval + checktimeout, plus slack).
    backends.set(R3, "refuse")
    _, took = wait_until(lambda: series(scrape(), "directord_real_server_up", R3) == 0.0, DETECT,
                         "directord_real_server_up of 127.0.0.3 to be 0", interval=0.2)
    log(f"directord_real_server_up 0 in {took:.1f} s (bound {DETECT:.0f} s)")
    wait_until(lambda: prometheus_query(
        'directord_real_server_up{remote_address="127.0.0.3",remote_port="8080"}') == [0.0], 30,
               "Prometheus to see 127.0.0.3 down", interval=1)

    # Traffic through the virtual service: the kernel's bytes, through directord, grow.
    def total_bytes():
        text = scrape()
        return sum(series(text, "directord_ipvs_bytes_total", real, ',direction="in"') or 0 for real in (R2, R4))
    before = total_bytes()
    traffic(VIP, 20)
    after, _ = wait_until(lambda: (lambda b: b if b > before else None)(total_bytes()), 10, "the bytes counters to grow")
    log(f"directord_ipvs_bytes_total in: {before:.0f} -> {after:.0f} after 20 requests")
    wait_until(lambda: sum(prometheus_query('directord_ipvs_bytes_total{direction="in"}')) >= after, 30,
               "Prometheus to see the bytes", interval=1)

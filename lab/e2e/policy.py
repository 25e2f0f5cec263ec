"""directord's health policy against a real kernel (directord's own directives, issue "Health
policy beyond every anchor"): risecount, downinterval and maxejection, judged by `ipvsadm -Ln`
and the monitor file's record of every check.
"""

import re
import subprocess

from harness import SLACK, check, log, scenario
from scenarios import DETECT, FIRST, INTERVAL, R2, R3, R4, SVC, TIMEOUT, VIP, started, web

R3_ID = "127.0.0.3 8080"
# The local table's route to the real servers' 127/8: without it they are unreachable.
LOOPBACK_ROUTE = ["table", "local", "local", "127.0.0.0/8", "dev", "lo", "proto", "kernel", "scope", "host", "src",
                  "127.0.0.1"]


def started_then_r3_removed(t, globals_):
    """The usual three servers with `globals_`, all in; then 127.0.0.3 refuses and is removed."""
    backends, d = started(t, web(quiescent="no", globals_=globals_))
    d.start()
    t.kernel.wait_weights(SVC, {R2: 1, R3: 2, R4: 3}, FIRST, "the three real servers after start")
    backends.set(R3, "refuse")
    t.kernel.wait_weights(SVC, {R2: 1, R4: 3}, DETECT, "127.0.0.3 to be removed")
    return backends, d


@scenario("policy")
def risecount_needs_passes_in_a_row(t):
    """risecount=3: a real server its checks took out comes back only after three passing
    checks in a row; until then it stays out of the table although it answers."""
    backends, d = started_then_r3_removed(t, "risecount=3")
    since = len(d.monitor())
    backends.set(R3, "up")
    # Two passes: still out.
    d.wait_checks(R3_ID, 2, since=since, state="up", timeout=2 * (INTERVAL + TIMEOUT) + 3 * SLACK)
    table = t.kernel.table()
    passes = [m for m in d.monitor()[since:] if f" {R3_ID} " in f" {m[2]} " and m[3] == "up"]
    if len(passes) < 3:
        check(R3 not in table.services[SVC].dests, f"127.0.0.3 back after {len(passes)} passes:\n{table}")
        log(f"after {len(passes)} passing checks 127.0.0.3 is still out, as risecount=3 says")
    _, took = t.kernel.wait_weights(SVC, {R2: 1, R3: 2, R4: 3}, 3 * (INTERVAL + TIMEOUT) + SLACK, "127.0.0.3 back")
    passes = [m for m in d.monitor()[since:] if f" {R3_ID} " in f" {m[2]} " and m[3] == "up"]
    check(len(passes) >= 3, f"127.0.0.3 came back after {len(passes)} passing checks, not 3")
    log(f"127.0.0.3 back {took:.1f} s after it answered again, after {len(passes)} passing checks")


@scenario("policy")
def downinterval_spares_a_dead_server(t):
    """downinterval=6 with checkinterval=1: a dead real server is checked about every 6 s, the
    healthy ones every second; once it answers again it is back within one downinterval."""
    backends, d = started_then_r3_removed(t, "downinterval=6")
    since = len(d.monitor())
    # 12 checks of a healthy server take about 12 s; the dead one is checked about twice.
    d.wait_checks("127.0.0.2 8080", 12, since=since, timeout=12 * (INTERVAL + TIMEOUT) + 3 * SLACK)
    lines = d.monitor()[since:]
    dead = [m for m in lines if f" {R3_ID} " in f" {m[2]} "]
    healthy = [m for m in lines if " 127.0.0.2 8080 " in f" {m[2]} "]
    log(f"while 127.0.0.3 was down: {len(dead)} checks of it, {len(healthy)} of 127.0.0.2")
    check(len(dead) <= 4, f"the down server was checked {len(dead)} times in {len(healthy)} intervals")
    backends.set(R3, "up")
    _, took = t.kernel.wait_weights(SVC, {R2: 1, R3: 2, R4: 3}, 6 + TIMEOUT + SLACK, "127.0.0.3 back")
    log(f"127.0.0.3 back {took:.1f} s after it answered again (downinterval 6 s)")


@scenario("policy")
def maxejection_keeps_a_share_of_the_service(t):
    """maxejection=34% of three servers (one may go): when every check fails, one server is
    taken out and the two that failed last stay in at their weights, with an error line; the
    fallback server is never installed. When they answer again, all three are in."""
    backends, d = started(t, web(quiescent="no", virtual="", globals_="maxejection=34"))
    poll = t.kernel.poller()
    d.start()
    t.kernel.wait_weights(SVC, {R2: 1, R3: 2, R4: 3}, FIRST, "the three real servers after start")
    mark = d.mark()
    backends.set(R2, "error")
    _, took = t.kernel.wait_weights(SVC, {R3: 2, R4: 3}, DETECT, "127.0.0.2 to be removed")
    log(f"the first failed server removed in {took:.1f} s")
    backends.set(R3, "error")
    backends.set(R4, "error")
    for real in (R3, R4):
        kept = re.compile("^" + re.escape(f"Kept real server: {real} ({VIP}): its checks fail (") + ".*maxejection=34%")
        d.wait_log(kept, DETECT, since=mark)
    table = t.kernel.table()
    check(
        {address: weight for address, (_, weight) in table.services[SVC].dests.items()} == {R3: 2, R4: 3},
        f"with every check failing the table is not the two that failed last:\n{table}")
    log("every check fails: 127.0.0.3 and 127.0.0.4 stay in at weights 2 and 3, said at error priority")
    for real in (R2, R3, R4):
        backends.set(real, "up")
    t.kernel.wait_weights(SVC, {R2: 1, R3: 2, R4: 3}, DETECT, "all three back")
    poll.stop()
    check(poll.history(SVC, "127.0.0.9:8080") == [None], f"the fallback server showed:\n{poll.describe()}")


@scenario("policy")
def local_fault_keeps_the_table(t):
    """The director's own network fails (its route to the real servers' network deleted: every
    check gets "Network is unreachable"): one error line, and the table is kept as it is, no
    server taken out, no fallback; when the route is back the checks count again, and nothing
    flapped."""
    backends, d = started(t, web(quiescent="no"))
    d.start()
    t.kernel.wait_weights(SVC, {R2: 1, R3: 2, R4: 3}, FIRST, "the three real servers after start")
    poll = t.kernel.poller()
    mark = d.mark()
    subprocess.run(["ip", "route", "del", *LOOPBACK_ROUTE], check=True)
    try:
        d.wait_log(
            re.compile(r'^Checks of 3 of 3 real servers fail with "Network is unreachable": a fault of this director'),
            DETECT + INTERVAL, since=mark)
        # Three more rounds of failing checks: the table does not move.
        since = len(d.monitor())
        d.wait_checks("127.0.0.2 8080", 3, since=since, timeout=3 * (INTERVAL + TIMEOUT) + 3 * SLACK)
        table = t.kernel.table()
        check(
            {address: weight for address, (_, weight) in table.services[SVC].dests.items()} == {R2: 1, R3: 2, R4: 3},
            f"the table changed while the director's own network was down:\n{table}")
        log("no route to 127.0.0.0/8: every check fails with \"Network is unreachable\", the table is kept")
    finally:
        subprocess.run(["ip", "route", "add", *LOOPBACK_ROUTE], check=True)
    d.wait_log(re.compile(r'^Checks no longer fail with "Network is unreachable"'), DETECT + INTERVAL, since=mark)
    poll.stop()
    for real in (R2, R3, R4):
        check(len(poll.history(SVC, real)) == 1, f"{real} flapped: {poll.history(SVC, real)}\n{poll.describe()}")
    check(not d.find(re.compile(r"^Deleted real server")), "a real server was deleted")

"""directord under systemd (Type=notify), without systemd: the harness plays the service
manager's part of the sd_notify protocol (a datagram socket named by $NOTIFY_SOCKET,
$WATCHDOG_USEC) and checks what systemd/directord.service relies on."""

import os
import re
import signal
import socket
import time

from harness import check, log, receive_datagrams, scenario, wait_until
from scenarios import ALL_UP, FIRST, SVC, VIP, started, web

WATCHDOG_USEC = 1_000_000


@scenario("systemd")
def notify_protocol(t):
    """With $NOTIFY_SOCKET set, `directord start` stays in the foreground (no daemon), sends
    READY=1 only once its first reconciliation is in the kernel, RELOADING=1 then READY=1
    around a SIGHUP reload, WATCHDOG=1 well within $WATCHDOG_USEC, STOPPING=1 on SIGTERM,
    and writes journal lines (`<priority>message`) on standard error when that is the journal
    ($JOURNAL_STREAM names it)."""
    backends, d = started(t, web(quiescent="no"))
    sock = receive_datagrams(f"{t.dir}/notify.sock")
    sock.settimeout(0.05)
    messages = []  # (seconds, field, value, table summary at receipt)

    def drain(until=None, timeout=0.0):
        deadline = time.monotonic() + timeout
        while True:
            try:
                data = sock.recv(4096).decode()
            except socket.timeout:
                if time.monotonic() > deadline:
                    return None
                continue
            summary = t.kernel.fast().summary()
            for line in data.splitlines():
                field, _, value = line.partition("=")
                messages.append((time.monotonic(), field, value, summary))
                if until and (field, value) == until:
                    return messages[-1]

    process = d.start_foreground(
        options=(),
        env={"NOTIFY_SOCKET": f"{t.dir}/notify.sock", "WATCHDOG_USEC": str(WATCHDOG_USEC)},
        journal=True,
    )
    ready = drain(until=("READY", "1"), timeout=FIRST)
    check(ready, f"no READY=1 within {FIRST} s: {[(m[1], m[2]) for m in messages]}")
    check(process.poll() is None, "with NOTIFY_SOCKET set, `directord start` did not stay in the foreground")
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
    fields = [(m[1], m[2]) for m in messages[start:] if m[1] in ("RELOADING", "READY")]
    check(fields[:1] == [("RELOADING", "1")] and fields[-1:] == [("READY", "1")],
          f"around a reload: {fields}, expected RELOADING=1 then READY=1")

    # Stop: STOPPING=1, clean-up, exit 0.
    start = len(messages)
    os.kill(process.pid, signal.SIGTERM)
    stopping = drain(until=("STOPPING", "1"), timeout=15)
    check(stopping, f"no STOPPING=1 after SIGTERM: {[(m[1], m[2]) for m in messages[start:]]}")
    check(process.wait(timeout=30) == 0, "non-zero exit after SIGTERM")
    check(SVC not in t.kernel.table().services, "services left after SIGTERM")

    lines = d.messages("stderr")
    check(lines, "nothing on standard error (the journal)")
    for line in lines:
        check(re.match(r"^<[0-7]>\S", line), f"journal line without a <priority> prefix: {line!r}")
    check(f"<6>Added virtual server: {VIP}" in lines, f"'<6>Added virtual server: {VIP}' not in {lines[:6]}")
    check(not os.path.exists(d.logfile), "under systemd the log went to the log file instead of the journal")


@scenario("systemd")
def invocation_id_keeps_foreground(t):
    """Started by systemd without a notify socket ($INVOCATION_ID set, Type=simple or exec),
    `directord start` also stays in the foreground and logs to the journal."""
    backends, d = started(t, web(quiescent="no"))
    process = d.start_foreground(options=(), env={"INVOCATION_ID": "0123456789abcdef0123456789abcdef"}, journal=True)
    t.kernel.wait_weights(SVC, ALL_UP, FIRST, "the three real servers")
    check(process.poll() is None, "with INVOCATION_ID set, `directord start` did not stay in the foreground")
    check(d.pid() == process.pid, f"pid file {d.pid()}, expected {process.pid}")
    wait_until(lambda: f"<6>Added virtual server: {VIP}" in d.messages("stderr"), 10, "the journal line on stderr")
    process.send_signal(signal.SIGTERM)
    check(process.wait(timeout=30) == 0, "non-zero exit after SIGTERM")

"""directord's command line as an init script or an operator uses it: ldirectord's verbs and
exit codes, the configuration search path, the pid file, --dry-run."""

import os
import re
import shutil
import signal

from harness import check, line_re, log, scenario, wait_until
from scenarios import ALL_UP, FIRST, INTERVAL, SLACK, SVC, VIP, R2, R3, R4, started, web


@scenario("cli")
def verbs_and_exit_codes(t):
    """status 3 / reload 1 / stop 0 / try-restart 0 while stopped; start 0 (twice: one
    daemon); status 0 with ldirectord's message; reload and force-reload 0; restart and
    try-restart give a new daemon with the same table; a configuration error gives status 2
    and reload 2; stop 0."""
    backends, d = started(t, web(quiescent="no"))
    expect = lambda words, code: _expect(d, words, code)

    expect(["status"], 3)
    expect(["reload"], 1)
    expect(["force-reload"], 1)
    expect(["stop"], 0)
    expect(["try-restart"], 0)
    check(d.pid() is None, "try-restart started a daemon that was not running")

    first = d.start()
    t.kernel.wait_weights(SVC, ALL_UP, FIRST, "the three real servers")
    again = d.command("start")
    check(again.returncode == 0, f"start while running: exit {again.returncode}, expected 0")
    check(d.live_pid() == first, "a second start replaced the running daemon")
    check(daemons(t, d) == [first], f"more than one directord process on the file: {daemons(t, d)}")

    status = expect(["status"], 0)
    message = f"ldirectord for {d.path} is running with pid: {first}"
    check(message in status.stdout + status.stderr, f"status said {status.stdout!r} {status.stderr!r}, expected {message!r}")

    expect(["reload"], 0)
    expect(["force-reload"], 0)
    check(d.live_pid() == first, "reload replaced the daemon")

    expect(["restart"], 0)
    second, _ = wait_until(lambda: d.live_pid() not in (None, first) and d.live_pid(), 30, "a new daemon after restart")
    t.kernel.wait_weights(SVC, ALL_UP, FIRST, "the table after restart")
    check(not os.path.exists(f"/proc/{first}"), f"restart left the old daemon {first} running")

    expect(["try-restart"], 0)
    third, _ = wait_until(lambda: d.live_pid() not in (None, second) and d.live_pid(), 30, "a new daemon after try-restart")
    t.kernel.wait_weights(SVC, ALL_UP, FIRST, "the table after try-restart")
    check(daemons(t, d) == [third], f"directord processes after try-restart: {daemons(t, d)}")

    good = d.text
    d.write(good.replace("checkinterval=", "chekinterval="))
    # A broken file does not hide the running daemon (ldirectord exits 2 here, and Pacemaker
    # would take the director for failed); the error is printed.
    status = expect(["status"], 0)
    check("chekinterval" in status.stdout + status.stderr, f"status does not name the error: {status.stderr!r}")
    expect(["reload"], 2)
    d.write(good)
    expect(["status"], 0)
    expect(["stop"], 0)
    expect(["status"], 3)
    check(SVC not in t.kernel.table().services, "the service is left after stop")


def _expect(d, words, code):
    result = d.command(*words)
    check(result.returncode == code,
          f"directord {' '.join(words)}: exit {result.returncode}, expected {code}\n{result.stdout}{result.stderr}")
    return result


def daemons(t, d):
    """Pids of processes running directord on this configuration (ours, in this netns)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as file:
                argv = file.read().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"directord") and d.path.encode() in argv:
            try:
                if os.readlink(f"/proc/{entry}/ns/net") != os.readlink("/proc/self/ns/net"):
                    continue
            except OSError:
                continue
            found.append(int(entry))
    return sorted(found)


@scenario("cli")
def config_found_in_etc_ha_d(t):
    """CONFIG is looked up as ldirectord does: /etc/ha.d/CONFIG, then /etc/ha.d/conf/CONFIG,
    then as given; the pid file is named after the file."""
    backends, d = started(t, web(quiescent="no"))
    name = f"e2e-{os.environ.get('E2E_NETNS', 'x')}.cf"
    os.makedirs("/etc/ha.d/conf", exist_ok=True)
    shutil.copy(d.path, f"/etc/ha.d/conf/{name}")
    result = d.command("start", config=name)
    check(result.returncode == 0, f"start {name} (in /etc/ha.d/conf): exit {result.returncode}\n{result.stderr}")
    pidfile = f"{d.run_dir}/directord.{name}.pid"
    wait_until(lambda: os.path.exists(pidfile), 30, f"pid file {pidfile}")
    t.kernel.wait_weights(SVC, ALL_UP, FIRST, "the three real servers")
    status = d.command("status", config=name)
    check(status.returncode == 0, f"status {name}: exit {status.returncode}")
    check(f"/etc/ha.d/conf/{name}" in status.stdout + status.stderr, f"status names {status.stdout}{status.stderr}")
    check(d.command("stop", config=name).returncode == 0, "stop by name failed")
    check(not os.path.exists(pidfile), "pid file left after stop")

    # /etc/ha.d/CONFIG wins over /etc/ha.d/conf/CONFIG.
    broken = "checkinterval=1\nvirtual=10.0.0.10:80\n\treal=127.0.0.2:8080 masq\n\tschedular=wrr\n"
    with open(f"/etc/ha.d/conf/{name}", "w") as file:
        file.write(broken)
    shutil.copy(d.path, f"/etc/ha.d/{name}")
    status = d.command("status", config=name)
    check(status.returncode == 3, f"status with /etc/ha.d/{name} valid and conf/ broken: exit {status.returncode}")
    os.unlink(f"/etc/ha.d/{name}")
    status = d.command("status", config=name)
    check(status.returncode == 3 and "schedular" in status.stderr,
          f"status with only the broken conf/{name}: exit {status.returncode}, expected 3 and the error")
    os.unlink(f"/etc/ha.d/conf/{name}")
    status = d.command("status", config=f"no-such-{name}")
    check(status.returncode != 0, "status of a file that does not exist succeeded")


@scenario("cli")
def start_verb_first_and_foreground(t):
    """`directord start -d CONFIG` (verb first) runs in the foreground with the bare log
    messages on standard error and a pid file; SIGTERM stops it, cleaning up."""
    backends, d = started(t, web(quiescent="no"))
    process = d.start_foreground(words=["start", "-d", d.path])
    t.kernel.wait_weights(SVC, ALL_UP, FIRST, "the three real servers")
    check(process.poll() is None, "-d: the process did not stay in the foreground")
    wait_until(lambda: d.pid() == process.pid, 10, "the pid file naming the foreground process")
    messages = d.messages("stderr")
    check(f"Added virtual server: {VIP}" in messages, f"stderr lack the bare message:\n{messages[:10]}")
    for real, weight in ((R2, 1), (R3, 2), (R4, 3)):
        pattern = line_re(f"Added real server: {real} ({VIP}) (Weight set to {weight})", reason=True)
        check(any(pattern.match(m) for m in messages), f"no bare 'Added real server: {real}' line on stderr")
    check(not os.path.exists(d.logfile), "-d wrote the log file (ldirectord writes only to stderr with -d)")
    process.send_signal(signal.SIGTERM)
    check(process.wait(timeout=30) == 0, "non-zero exit after SIGTERM")
    check(SVC not in t.kernel.table().services, "services left after SIGTERM")
    check(not os.path.exists(d.pidfile), "pid file left after SIGTERM")


@scenario("cli")
def dry_run_touches_no_kernel(t):
    """--dry-run checks the real servers and logs the operations it would make, and the
    kernel table stays empty."""
    backends, d = started(t, web(quiescent="no"), {R2: "up", R3: "refuse", R4: "up"})
    process = d.start_foreground(("-d", "--dry-run"))
    wait_until(lambda: any("127.0.0.4:8080" in m for m in d.messages("stderr")), FIRST, "a line about 127.0.0.4")
    d.wait_checks("127.0.0.3 8080", 2, timeout=FIRST)
    check(t.kernel.table().services == {}, f"--dry-run changed the kernel:\n{t.kernel.table()}")
    messages = d.messages("stderr")
    check(any(VIP in m and "virtual" in m.lower() for m in messages), f"no line about the virtual service: {messages}")
    check(any("127.0.0.2:8080" in m for m in messages), "no line about 127.0.0.2")
    check(not any("127.0.0.3:8080" in m and m.startswith(("Added", "Would add")) for m in messages),
          f"--dry-run would add a failing real server: {messages}")
    process.send_signal(signal.SIGTERM)
    check(process.wait(timeout=30) == 0, "--dry-run: non-zero exit after SIGTERM")
    check(t.kernel.table().services == {}, "--dry-run changed the kernel at stop")

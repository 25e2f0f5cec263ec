#!/usr/bin/python3
"""Runs the end-to-end scenarios inside the lab (as root, in Debian's kernel with IPVS).

    run.py --directord PATH [--jobs N] [--filter REGEX] [--tag TAG] [--out DIR] [--list]

Each scenario gets a fresh network namespace (its own IPVS table and loopback, where every
127/8 address is local) and runs as its own process there; up to N run at once. A scenario
passes when its function returns, fails when it raises (an assertion or anything else) or
outlives its timeout. Everything left in its namespace is killed afterwards.

Exit status: 0 when every selected scenario passed, 1 when one failed, 2 when none ran.
Each scenario's output (its timeline and the failure) is printed for failures and saved,
with its working files (logs, monitor files, configurations), under --out.
"""

# Imports are kept few and late: every scenario is a new Python process in the slow guest.
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402

MODULES = ["scenarios", "cli", "notify", "differential", "dropin", "policy"]


def load(modules=MODULES):
    for module in modules:
        __import__(module)
    return harness.SCENARIOS


def run_one(name, module, directord, workdir):
    """Inside the scenario's namespace: run it, print the verdict, exit 0 or 1."""
    scenarios = load([module])
    item = scenarios[name]
    os.makedirs(workdir, exist_ok=True)
    context = harness.Context(name, workdir, directord)
    status = 1
    try:
        harness.log(f"scenario {name}: {item.doc.splitlines()[0] if item.doc else ''}")
        item.function(context)
        status = 0
        harness.log("PASS")
    except harness.Failure as failure:
        harness.log(f"FAIL: {failure}")
    except Exception:
        import traceback

        harness.log("ERROR:\n" + traceback.format_exc())
    finally:
        context.close()
    sys.stdout.flush()
    os._exit(status)


def kill_namespace(netns):
    pids = subprocess.run(["ip", "netns", "pids", netns], capture_output=True, text=True).stdout.split()
    for pid in pids:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except OSError:
            pass


def main():
    if len(sys.argv) == 6 and sys.argv[1] == "--one":
        run_one(*sys.argv[2:])
    import argparse
    import re
    import shutil

    parser = argparse.ArgumentParser()
    parser.add_argument("--directord", default=os.environ.get("E2E_DIRECTORD"))
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("E2E_JOBS", "3")))
    parser.add_argument("--filter", default=None, help="regex on scenario names")
    parser.add_argument("--tag", action="append", default=[], help="only scenarios with this tag")
    parser.add_argument("--out", default=None, help="directory for each scenario's output and files")
    parser.add_argument("--list", action="store_true")
    args = parser.parse_args()

    scenarios = load()
    selected = [
        s
        for s in scenarios.values()
        if (not args.filter or re.search(args.filter, s.name)) and (not args.tag or s.tags & set(args.tag))
    ]
    if args.list:
        for s in selected:
            print(f"{s.name:40} {' '.join(sorted(s.tags)):14} {s.doc.splitlines()[0] if s.doc else ''}")
        return 0
    if not selected:
        print("e2e: no scenario selected", file=sys.stderr)
        return 2
    if not args.directord or not os.access(args.directord, os.X_OK):
        print(f"e2e: no directord executable: {args.directord!r}", file=sys.stderr)
        return 2
    directord = os.path.abspath(args.directord)

    work_root = "/tmp/e2e-work"
    shutil.rmtree(work_root, ignore_errors=True)
    os.makedirs(work_root)
    out = args.out or work_root
    os.makedirs(out, exist_ok=True)

    # The longest first, so that the run ends as early as it can; at most HEAVY of the
    # scenarios that run ldirectord (Perl compiling itself and LWP is most of the lab's CPU)
    # at a time, so that they do not starve each other.
    queue = sorted(selected, key=lambda s: -s.timeout)
    heavy_limit = max(1, args.jobs // 2)
    cpu_start = cpu_times()
    running = {}  # name -> (process, netns, started, output path, deadline)
    results = []
    started_all = time.monotonic()
    number = 0
    print(f"e2e: {len(queue)} scenarios, {args.jobs} at a time, directord {directord}", flush=True)
    while queue or running:
        while queue and len(running) < args.jobs:
            heavy_running = sum(1 for entry in running.values() if "differential" in entry[5].tags)
            eligible = [s for s in queue if "differential" not in s.tags or heavy_running < heavy_limit]
            if not eligible:
                break
            item = eligible[0]
            queue.remove(item)
            number += 1
            netns = f"e2e{number}"
            subprocess.run(["ip", "netns", "del", netns], capture_output=True)
            subprocess.run(["ip", "netns", "add", netns], check=True)
            subprocess.run(["ip", "-n", netns, "link", "set", "lo", "up"], check=True)
            workdir = f"{work_root}/{item.name}"
            output = f"{work_root}/{item.name}.out"
            env = dict(os.environ, E2E_NETNS=netns, PYTHONUNBUFFERED="1",
                       PYTHONPYCACHEPREFIX="/tmp/e2e-pycache")
            with open(output, "w") as file:
                process = subprocess.Popen(
                    ["ip", "netns", "exec", netns, harness.PYTHON, "-S", os.path.abspath(__file__),
                     "--one", item.name, item.function.__module__, directord, workdir],
                    stdout=file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                    start_new_session=True,
                )
            now = time.monotonic()
            running[item.name] = (process, netns, now, output, now + item.timeout, item)
        time.sleep(0.2)
        for name, (process, netns, started, output, deadline, item) in list(running.items()):
            status = process.poll()
            timed_out = False
            if status is None and time.monotonic() > deadline:
                timed_out = True
                kill_namespace(netns)
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except OSError:
                    pass
                status = process.wait()
            if status is None:
                continue
            elapsed = time.monotonic() - started
            kill_namespace(netns)
            subprocess.run(["ip", "netns", "del", netns], capture_output=True)
            del running[name]
            with open(output, errors="replace") as file:
                text = file.read()
            if timed_out:
                text += f"\nFAIL: timed out after {item.timeout} s\n"
            verdict = "PASS" if status == 0 and not timed_out else "FAIL"
            results.append((name, verdict, elapsed))
            print(f"e2e: {verdict} {name} ({elapsed:.1f} s)", flush=True)
            if verdict != "PASS":
                print("\n".join(f"    | {line}" for line in text.rstrip().splitlines()), flush=True)
            if out != work_root:
                destination = f"{out}/{name}"
                import shutil

                shutil.rmtree(destination, ignore_errors=True)
                shutil.copytree(
                    f"{work_root}/{name}", destination, ignore=ignore_sockets, dirs_exist_ok=True
                ) if os.path.isdir(f"{work_root}/{name}") else os.makedirs(destination, exist_ok=True)
                with open(f"{destination}/output.txt", "w") as file:
                    file.write(text)

    failed = [r for r in results if r[1] != "PASS"]
    total = time.monotonic() - started_all
    busy, idle = (b - a for a, b in zip(cpu_start, cpu_times()))
    print(f"e2e: {len(results) - len(failed)} passed, {len(failed)} failed, in {total:.1f} s "
          f"(guest CPUs {100 * busy / max(busy + idle, 1):.0f}% busy)", flush=True)
    for name, _, elapsed in failed:
        print(f"e2e: FAILED: {name}", flush=True)
    return 1 if failed else 0


def cpu_times():
    """(busy, idle) jiffies of all CPUs, from /proc/stat."""
    with open("/proc/stat") as file:
        fields = [int(x) for x in file.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, idle


def ignore_sockets(directory, names):
    import stat

    skipped = []
    for name in names:
        try:
            mode = os.lstat(os.path.join(directory, name)).st_mode
        except OSError:
            skipped.append(name)
            continue
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            skipped.append(name)
    return skipped


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""lab/pair/pair.py: a real director pair, in the lab's guest (see lab/test-pair).

Builds one LAN in network namespaces (a Linux bridge without multicast snooping, so VRRP and
IPVS sync multicast flood): directors dirA 10.9.0.1 and dirB 10.9.0.2, real servers real1
10.9.0.11 and real2 10.9.0.12 (direct routing: the VIP on lo, arp_ignore=1, arp_announce=2,
a threaded TCP echo server on port 80 that greets with its name), a client 10.9.0.100.
Each director runs an HA engine that moves the VIP 10.9.0.10 and directord on the same
configuration, which starts the kernel's connection-sync daemons (syncdaemon=both; or, with
--manual-sync, ipvsadm --start-daemon by hand). The engine (--engine):
  keepalived  Debian's keepalived for VRRP only (A priority 150, B 100); pair.py starts
              directord on both directors itself. The default.
  pacemaker   Debian's corosync + Pacemaker as a two-node cluster configured from the shipped
              recipe (etc/pair/corosync.conf, etc/pair/pacemaker.crm): the VIP is an IPaddr2
              resource, directord a clone of ocf:heartbeat:ldirectord, which starts it. Each
              node's daemons run in their own mount namespace (see "Pacemaker/Corosync").

The scenario: a client holds one TCP connection to the VIP, sending a numbered line every
100 ms and reading its echo; one real server fails; director A loses its link; B must take
the VIP within VRRP's bound with its table already right (nothing to change at failover)
and the held connection must go on with no line lost, through B's synced connection entry;
new connections go only to the healthy server; A comes back, takes the VIP again, and the
held connection still goes on. Every figure is printed; the last line is PASS or FAIL.
With Pacemaker (no fencing, as a two-node test cluster), A cut off keeps its VIP (a split
brain nobody can see: its link is down), B takes the VIP once Corosync declares A lost; when
A's link returns, the cluster re-forms and Pacemaker leaves the VIP on exactly one director
(A, by the location score, after its multiple-active recovery): that is what is asserted.

Python standard library only. Runs as root, in the guest (lab/run), never on a host.
"""

import argparse
import ctypes
import faulthandler
import os
import re
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ElementTree
from datetime import datetime

VIP = "10.9.0.10"
PORT = 80
LAN = "pairlan"  # the namespace holding the bridge
ADDRESSES = {
    "dirA": "10.9.0.1",
    "dirB": "10.9.0.2",
    "real1": "10.9.0.11",
    "real2": "10.9.0.12",
    "client": "10.9.0.100",
}
DIRECTORS = ("dirA", "dirB")
REALS = ("real1", "real2")
PRIORITY = {"dirA": 150, "dirB": 100}
ADVERT_INT = 1.0
SYNC_ID = 51
WORK = "/tmp/pair"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RECIPE_CRM = f"{REPO}/etc/pair/pacemaker.crm"
RECIPE_COROSYNC = f"{REPO}/etc/pair/corosync.conf"
HA_CONFIG = "/etc/ha.d/ldirectord.cf"  # the recipe's configfile=, one file per node (see ClusterNode)

SLACK = float(os.environ.get("PAIR_SLACK", "3"))
T0 = time.monotonic()


def log(message):
    print(f"[{time.monotonic() - T0:7.2f}] {message}", flush=True)


def figure(name, value):
    """A measured figure: printed at once and again in the summary."""
    FIGURES.append((name, value))
    log(f"FIGURE {name}: {value}")


FIGURES = []


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


# --- processes -------------------------------------------------------------------------

def run(argv, timeout=60, check_status=True, env=None, quiet=False):
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env,
                                stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise Failure(f"timed out after {timeout} s: {shlex.join(argv)}")
    if check_status and result.returncode != 0:
        raise Failure(f"exit {result.returncode}: {shlex.join(argv)}\n{result.stdout}{result.stderr}")
    return result


def nsrun(ns, argv, **kwargs):
    return run(["ip", "netns", "exec", ns, *argv], **kwargs)


def output(ns, argv, timeout=30):
    """A command's stdout and stderr in a namespace, for printing; never raises."""
    try:
        result = nsrun(ns, argv, timeout=timeout, check_status=False)
        text = result.stdout + result.stderr
        return text if result.returncode == 0 else f"{text}(exit {result.returncode})\n"
    except Failure as error:
        return f"({error})\n"


def wait_until(condition, timeout, what, interval=0.05):
    """Polls condition() until it returns something true; returns it and the time taken."""
    start = time.monotonic()
    deadline = start + timeout
    while True:
        value = condition()
        if value:
            return value, time.monotonic() - start
        if time.monotonic() >= deadline:
            raise Failure(f"timed out after {timeout:.1f} s waiting for {what}")
        time.sleep(interval)


PROCESSES = []  # (name, Popen), killed at cleanup


def spawn(name, argv, logfile):
    handle = open(logfile, "ab")
    process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=handle, stderr=subprocess.STDOUT,
                               start_new_session=True)
    handle.close()
    PROCESSES.append((name, process))
    shown = [word if len(word) < 200 else "<script>" for word in argv]
    log(f"started {name} (pid {process.pid}): {shlex.join(shown)}")
    return process


def terminate(process, grace=10):
    if process.poll() is not None:
        return
    try:
        process.terminate()
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
    except OSError:
        pass


def kill_pidfile(path):
    try:
        with open(path) as file:
            pid = int(file.read().split()[0])
        os.kill(pid, signal.SIGKILL)
    except (OSError, ValueError, IndexError):
        pass


def read_pid(path):
    try:
        with open(path) as file:
            return int(file.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


# --- network namespaces from this process: setns(2) in a throw-away thread ---------------

LIBC = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNET = 0x40000000


def in_netns(ns, function):
    """Runs function() in a thread moved into network namespace ns: sockets it creates
    belong to ns for good, whichever thread uses them afterwards."""
    result = {}

    def body():
        try:
            fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
            try:
                if LIBC.setns(fd, CLONE_NEWNET) != 0:
                    errno = ctypes.get_errno()
                    raise OSError(errno, f"setns {ns}: {os.strerror(errno)}")
            finally:
                os.close(fd)
            result["value"] = function()
        except BaseException as error:  # noqa: B902 - handed to the caller
            result["error"] = error

    thread = threading.Thread(target=body)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["value"]


# rtnetlink, enough for RTM_GETADDR (what `ip -br addr show eth0` reads)
RTM_NEWADDR, RTM_GETADDR = 20, 22
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_DUMP = 1, 0x300
IFA_ADDRESS, IFA_LOCAL = 1, 2


class AddressWatch:
    """The IPv4 addresses of one interface of one namespace, read over a netlink socket
    opened in that namespace: a poll costs no fork, so it can run every 50 ms."""

    def __init__(self, ns, interface="eth0"):
        self.ns = ns
        self.sock, self.index = in_netns(ns, lambda: (
            socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE),
            socket.if_nametoindex(interface)))
        self.sock.settimeout(5)
        self.seq = 0

    def addresses(self):
        self.seq += 1
        request = struct.pack("=IHHII", 24, RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, self.seq, 0)
        request += struct.pack("=BBBBI", socket.AF_INET, 0, 0, 0, 0)
        self.sock.send(request)
        found = set()
        while True:
            data = self.sock.recv(65536)
            offset = 0
            while offset + 16 <= len(data):
                length, kind, _, seq, _ = struct.unpack_from("=IHHII", data, offset)
                if length < 16:
                    break
                if seq == self.seq:
                    if kind == NLMSG_DONE:
                        return found
                    if kind == NLMSG_ERROR:
                        (code,) = struct.unpack_from("=i", data, offset + 16)
                        raise OSError(-code, f"RTM_GETADDR in {self.ns}: {os.strerror(-code)}")
                    if kind == RTM_NEWADDR:
                        _, _, _, _, index = struct.unpack_from("=BBBBI", data, offset + 16)
                        attribute = offset + 24
                        while attribute + 4 <= offset + length:
                            size, kind_ = struct.unpack_from("=HH", data, attribute)
                            if size < 4:
                                break
                            if kind_ in (IFA_LOCAL, IFA_ADDRESS) and size == 8 and index == self.index:
                                found.add(socket.inet_ntoa(data[attribute + 4:attribute + 8]))
                            attribute += (size + 3) & ~3
                offset += (length + 3) & ~3

    def owns_vip(self):
        return VIP in self.addresses()


# --- IPVS tables --------------------------------------------------------------------------

def _hex_endpoint(text):
    address, port = text.split(":")
    return f"{socket.inet_ntoa(bytes.fromhex(address))}:{int(port, 16)}"


def parse_table(text, proc=False):
    """`ipvsadm -Ln` (or /proc/net/ip_vs with proc=True) as
    {"TCP 10.9.0.10:80": {"scheduler": "rr", "flags": "", "reals": {"10.9.0.11:80": ("Route", 1)}}}."""
    endpoint = _hex_endpoint if proc else (lambda text: text)
    table, current = {}, None
    for line in text.splitlines()[3:]:
        fields = line.split()
        if not fields:
            continue
        if fields[0] == "->":
            if current is not None:
                current["reals"][endpoint(fields[1])] = (fields[2], int(fields[3]))
        elif fields[0] in ("TCP", "UDP", "SCTP", "FWM"):
            service = f"{fields[0]} {fields[1] if fields[0] == 'FWM' else endpoint(fields[1])}"
            current = table[service] = {"scheduler": fields[2], "flags": " ".join(fields[3:]), "reals": {}}
    return table


def parse_connections(text):
    """/proc/net/ip_vs_conn or ip_vs_conn_sync: [(proto, from, to, dest, state, rest...)]."""
    entries = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 8:
            continue
        try:
            entries.append({
                "proto": fields[0],
                "from": _hex_endpoint(f"{fields[1]}:{fields[2]}"),
                "to": _hex_endpoint(f"{fields[3]}:{fields[4]}"),
                "dest": _hex_endpoint(f"{fields[5]}:{fields[6]}"),
                "state": fields[7],
                "rest": fields[8:],
            })
        except ValueError:
            continue
    return entries


class Director:
    def __init__(self, ns, binary, directives, engine="keepalived"):
        self.ns = ns
        self.letter = ns[-1]
        self.binary = binary
        self.dir = f"{WORK}/{self.letter}"
        self.run_dir = f"{self.dir}/run"
        # With Pacemaker, the agent runs directord on the recipe's path, /etc/ha.d/ldirectord.cf,
        # which in each node's mount namespace is this director's ha.d directory.
        self.config = f"{self.dir}/ha.d/ldirectord.cf" if engine == "pacemaker" else f"{self.dir}/pair.cf"
        self.pidfile = f"{self.run_dir}/directord.{os.path.basename(self.config)}.pid"
        self.logfile = f"{self.dir}/directord.log"
        self.keepalived_conf = f"{self.dir}/keepalived.conf"
        self.keepalived_log = f"{self.dir}/keepalived.log"
        self.keepalived_pid = f"{self.dir}/keepalived.pid"
        self.vrrp_pid = f"{self.dir}/keepalived-vrrp.pid"
        self.keepalived = None
        self.holder = None  # a process living in the namespace: /proc/PID/net/ip_vs
        self.watch = None
        self.started = False
        self.node = None  # the ClusterNode (--engine pacemaker)
        os.makedirs(self.run_dir, exist_ok=True)
        os.makedirs(os.path.dirname(self.config), exist_ok=True)
        with open(self.config, "w") as file:
            file.write(directord_config(self.logfile, directives))
        if engine == "keepalived":
            with open(self.keepalived_conf, "w") as file:
                file.write(keepalived_config(ns))

    # the namespace's IPVS state, without forking
    def proc(self, name):
        with open(f"/proc/{self.holder.pid}/net/{name}") as file:
            return file.read()

    def table(self):
        return parse_table(self.proc("ip_vs"), proc=True)

    def connections(self):
        return parse_connections(self.proc("ip_vs_conn"))

    def ipvsadm_table(self):
        return parse_table(nsrun(self.ns, ["ipvsadm", "-Ln"]).stdout)

    def directord(self, *words, timeout=60, check_status=True):
        env = dict(os.environ, DIRECTORD_RUN_DIR=self.run_dir)
        return nsrun(self.ns, [self.binary, "--run-directory", self.run_dir, self.config, *words],
                     timeout=timeout, check_status=check_status, env=env)

    def log_lines(self):
        try:
            with open(self.logfile, errors="replace") as file:
                return file.read().splitlines()
        except OSError:
            return []

    def daemons(self, directives):
        """The sync daemons as the namespace's kernel lists them: `directord table --daemon`
        (directives mode) or `ipvsadm -L --daemon`."""
        if directives:
            argv = [self.binary, "table", "--daemon"]
        else:
            argv = ["ipvsadm", "-L", "--daemon"]
        return nsrun(self.ns, argv, check_status=False).stdout


def directord_config(logfile, directives):
    sync = (f"syncdaemon=both\nsyncinterface=eth0\nsyncid={SYNC_ID}\n" if directives else "")
    return (
        "checkinterval=1\n"
        "checktimeout=2\n"
        "quiescent=no\n"
        f'logfile="{logfile}"\n'
        f"{sync}"
        f"virtual={VIP}:{PORT}\n"
        f"\treal={ADDRESSES['real1']}:{PORT} gate\n"
        f"\treal={ADDRESSES['real2']}:{PORT} gate\n"
        "\tchecktype=connect\n"
        "\tscheduler=rr\n"
    )


def keepalived_config(ns):
    state = "MASTER" if ns == "dirA" else "BACKUP"
    return (
        "global_defs {\n"
        f"    router_id {ns}\n"
        "}\n"
        "vrrp_instance VI_1 {\n"
        f"    state {state}\n"
        "    interface eth0\n"
        "    virtual_router_id 51\n"
        f"    priority {PRIORITY[ns]}\n"
        f"    advert_int {ADVERT_INT:g}\n"
        "    virtual_ipaddress {\n"
        f"        {VIP}/24 dev eth0\n"
        "    }\n"
        "}\n"
    )


def master_down_interval(ns):
    """RFC 3768/5798 (keepalived's VRRPv2): 3 * advert_int + skew, skew = (256 - prio)/256 * advert_int."""
    return 3 * ADVERT_INT + (256 - PRIORITY[ns]) / 256 * ADVERT_INT


# --- the real servers and the client ------------------------------------------------------

ECHO_SERVER = r"""
import socketserver, sys
name = sys.argv[1]
class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        try:
            self.wfile.write(name.encode() + b"\n")
            for line in self.rfile:
                self.wfile.write(line)
        except OSError:
            pass  # the connect check opens and closes at once
class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 64
server = Server(("0.0.0.0", 80), Handler)
print(f"{name}: listening on 0.0.0.0:80", flush=True)
server.serve_forever()
"""


def client_socket(timeout):
    sock = in_netns("client", lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM))
    sock.settimeout(timeout)
    return sock


def greeting_of(address, timeout=5):
    """Opens a short connection from the client namespace, returns the greeting line."""
    sock = client_socket(timeout)
    try:
        sock.connect((address, PORT))
        return sock.makefile("rb").readline().decode(errors="replace").strip()
    finally:
        sock.close()


class HeldConnection:
    """One long-lived TCP connection from the client namespace to the VIP: a line every
    100 ms (its number), every echo read back and checked to be the next number."""

    GAP_NOTE = 0.5  # gaps longer than this are kept, with when they started

    def __init__(self, timeout=20):
        self.sock = client_socket(timeout)
        self.sock.connect((VIP, PORT))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = self.sock.makefile("rb")
        self.greeting = self.reader.readline().decode(errors="replace").strip()
        self.local = "%s:%d" % self.sock.getsockname()
        self.lock = threading.Lock()
        self.sent = 0
        self.echoed = 0
        self.error = None
        self.last_echo = time.monotonic()
        self.gaps = []  # (start, length) of gaps between echoes > GAP_NOTE
        self.stopping = threading.Event()
        self.closing = False
        self.sender = threading.Thread(target=self._send, daemon=True)
        self.receiver = threading.Thread(target=self._receive, daemon=True)
        self.sender.start()
        self.receiver.start()

    def _fail(self, message):
        with self.lock:
            if self.error is None:
                self.error = message
        self.stopping.set()

    def _send(self):
        number = 0
        due = time.monotonic()
        while not self.stopping.is_set():
            number += 1
            try:
                self.sock.sendall(b"%d\n" % number)
            except OSError as error:
                self._fail(f"sending line {number}: {error}")
                return
            with self.lock:
                self.sent = number
            due = max(due + 0.1, time.monotonic())
            self.stopping.wait(max(0.0, due - time.monotonic()))

    def _receive(self):
        expected = 1
        while True:
            try:
                line = self.reader.readline()
            except OSError as error:
                if not self.closing:
                    self._fail(f"reading the echo of line {expected}: {error!r} "
                               f"({time.monotonic() - self.last_echo:.1f} s after the last echo)")
                return
            if not line:
                if not self.closing:
                    self._fail(f"the connection was closed (EOF) while waiting for line {expected}")
                return
            now = time.monotonic()
            if line.strip() != str(expected).encode():
                self._fail(f"echo out of order: got {line!r}, expected {expected}")
                return
            with self.lock:
                gap = now - self.last_echo
                if gap > self.GAP_NOTE:
                    self.gaps.append((self.last_echo, gap))
                self.last_echo = now
                self.echoed = expected
            expected += 1

    def counts(self):
        with self.lock:
            return self.sent, self.echoed, self.error

    def longest_gap(self, since=0.0, until=None):
        """The longest time without an echo whose start or end lies in [since, until]."""
        until = until if until is not None else time.monotonic()
        with self.lock:
            gaps = list(self.gaps)
            ongoing = (self.last_echo, time.monotonic() - self.last_echo)
        longest = 0.0
        for start, length in gaps + [ongoing]:
            if start <= until and start + length >= since:
                longest = max(longest, length)
        return longest

    def caught_up(self, timeout):
        """Waits until every line sent so far has come back; returns (sent, echoed)."""
        target, _, _ = self.counts()

        def done():
            _, echoed, error = self.counts()
            check(error is None, f"held connection: {error}")
            return echoed >= target

        wait_until(done, timeout, f"the echo of every line up to {target} on the held connection")
        return target

    def stop(self, drain=20):
        self.stopping.set()
        self.sender.join(timeout=5)
        sent, echoed, error = self.counts()
        if error is None:
            try:
                wait_until(lambda: self.counts()[1] >= sent or self.counts()[2], drain,
                           "the last echoes on the held connection")
            except Failure:
                pass
        self.closing = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.receiver.join(timeout=5)
        self.sock.close()
        return self.counts()


# --- Pacemaker/Corosync (--engine pacemaker) ----------------------------------------------
#
# Two cluster nodes in one guest share one file system, and corosync and Pacemaker keep their
# state at fixed paths. So each node runs in a "node shell": a process started as
#     ip netns exec dirX unshare --mount --propagation private --uts --ipc -- bash -c SCRIPT
# (the director's network namespace; a mount namespace of its own, private so that nothing
# propagates back to the guest's; its own hostname and System V IPC), whose SCRIPT bind-mounts
# a per-node directory (under WORK/X/node) over every path corosync and Pacemaker keep state
# in and a fresh tmpfs on /dev/shm, then becomes `sleep infinity`. Every daemon and tool of
# that node is started with
#     nsenter --target SHELL --mount --net --uts --ipc --root --wd -- ...
# so it sees the node's own files. (--root and --wd matter: the lab's command runs chrooted
# into the host's root, and setns(2) into a mount namespace resets root and working directory
# to the namespace's own, the initramfs, where nothing is installed.)
#   /etc/corosync        corosync.conf (each corosync finds its own nodelist entry by
#                        address) and the shared authkey
#   /var/lib/corosync    corosync's ring id files
#   /var/lib/pacemaker   each node's copy of the CIB (cib/cib.xml), scheduler inputs, blackbox
#   /var/log/corosync, /var/log/pacemaker   the logs, kept apart (and kept by --keep)
#   /run                 corosync.pid, /run/crm, /run/resource-agents (IPaddr2's send_arp),
#                        and directord's pid file: the agent runs `directord CONFIG start`
#                        without --run-directory (DIRECTORD_RUN_DIR would have to be in each
#                        pacemakerd's environment, which the agents inherit), so each node's
#                        directord keeps its pid file in its own /run, bound from the
#                        director's run directory WORK/X/run, where pair.py finds it
#   /dev/shm             libqb's IPC ring buffers and their control files (qb-*); libqb's
#                        connection handshake goes over abstract unix sockets, which are
#                        already per network namespace
#   /etc/ha.d            the recipe's configfile=/etc/ha.d/ldirectord.cf: one resource, one
#                        path, each node's own file (WORK/X/ha.d, whose logfile= differs)
# Not isolated: the PID namespace (Pacemaker's daemons find each other over IPC; the
# controller's load throttling reads /proc, harmless) and /tmp (WORK is shared on purpose).
# The directors' IPVS tables are per network namespace, as in the keepalived run.

NODE_MOUNTS = (  # (directory under the node's directory, mount point); also /run, /etc/ha.d, /dev/shm
    ("etc-corosync", "/etc/corosync"),
    ("var-lib-corosync", "/var/lib/corosync"),
    ("var-lib-pacemaker", "/var/lib/pacemaker"),
    ("log-corosync", "/var/log/corosync"),
    ("log-pacemaker", "/var/log/pacemaker"),
)
NODE_NAMES = {"dirA": "director-a", "dirB": "director-b"}  # the recipe's corosync node names
VIP_SCORE = 100  # the test's location preference of the VIP for director A
# The failover bound's allowance for Pacemaker's own steps on B once Corosync has a new
# membership (see Pair.pacemaker_bound), and the deadline for the cluster to settle after A's
# return (membership, DC election, CIB sync, the VIP's multiple-active recovery).
PACEMAKER_REACTION = 10.0
PACEMAKER_RETURN = 180.0


def corosync_config():
    """etc/pair/corosync.conf, with the lab's ring addresses (the directors' eth0) and a log
    file per node (its /var/log/corosync); everything else as shipped (knet, aes256/sha256
    with an authkey from corosync-keygen, two_node: 1, the default token timeout)."""
    with open(RECIPE_COROSYNC) as file:
        text = file.read()
    for old, new in (("ring0_addr: 10.255.0.1", f"ring0_addr: {ADDRESSES['dirA']}"),
                     ("ring0_addr: 10.255.0.2", f"ring0_addr: {ADDRESSES['dirB']}")):
        check(text.count(old) == 1, f"{RECIPE_COROSYNC} no longer has {old!r} once: update pair.py")
        text = text.replace(old, new)
    check("two_node: 1" in text, f"{RECIPE_COROSYNC} has no two_node: 1")
    return text


def pacemaker_crm(directord):
    """etc/pair/pacemaker.crm, with the lab's binary and VIP; everything else as shipped."""
    with open(RECIPE_CRM) as file:
        text = file.read()
    for old, new in (("ldirectord=/usr/sbin/directord", f"ldirectord={directord}"),
                     ("ip=192.168.10.10", f"ip={VIP}")):
        check(text.count(old) == 1, f"{RECIPE_CRM} no longer has {old!r} once: update pair.py")
        text = text.replace(old, new)
    for needed in (f"configfile={HA_CONFIG}", "cidr_netmask=24", "nic=eth0", "clone directord-clone directord",
                   "colocation vip-where-directord-runs inf: vip directord-clone",
                   "order directord-before-vip Mandatory: directord-clone vip"):
        check(needed in text, f"{RECIPE_CRM} no longer has {needed!r}: update pair.py")
    return text


def test_crm():
    """What the test cluster adds: no fencing device in the lab (stonith-enabled=false), loaded
    BEFORE the recipe, and the VIP preferring director A by a score, loaded after it (it names
    the recipe's vip). Separate files, not lines appended to the recipe, because crmsh
    - reads two `property` lines in one file as two property sets with the same id
      ("ERROR: 20: Duplicate resource: cib-bootstrap-options"), and
    - runs crm_verify before committing a load and refuses the recipe alone on a cluster that
      has neither a fencing device nor stonith-enabled=false ("Resource start-up disabled
      since no STONITH resources have been defined ... config not valid")."""
    return ("# added by lab/pair/pair.py for the test cluster: no fencing device in the lab\n"
            "property stonith-enabled=false\n",
            "# added by lab/pair/pair.py for the test: the VIP prefers director A\n"
            f"location vip-prefers-director-a vip {VIP_SCORE}: {NODE_NAMES['dirA']}\n")


class ClusterNode:
    """One director's corosync + Pacemaker, in its node shell (see above)."""

    def __init__(self, director):
        self.director = director
        self.ns = director.ns
        self.name = NODE_NAMES[director.ns]
        self.dir = f"{director.dir}/node"
        self.shell = None
        self.corosync = None
        self.pacemakerd = None
        self.mnt = None  # /proc/PID/ns/mnt of the node shell, to find the node's processes

    def prepare(self, authkey):
        os.makedirs(self.dir, exist_ok=True)
        # The packaged directories, with their owners (hacluster:haclient) and modes.
        for source, target in (("/etc/corosync", "etc-corosync"), ("/var/lib/pacemaker", "var-lib-pacemaker"),
                               ("/var/log/pacemaker", "log-pacemaker")):
            run(["cp", "-a", source, f"{self.dir}/{target}"])
        for target in ("var-lib-corosync", "log-corosync"):
            os.makedirs(f"{self.dir}/{target}", exist_ok=True)
        with open(f"{self.dir}/etc-corosync/corosync.conf", "w") as file:
            file.write(corosync_config())
        shutil.copyfile(authkey, f"{self.dir}/etc-corosync/authkey")
        os.chmod(f"{self.dir}/etc-corosync/authkey", 0o400)
        os.makedirs(f"{self.director.run_dir}/resource-agents", exist_ok=True)
        os.makedirs(f"{self.director.run_dir}/lock", exist_ok=True)

    def start_shell(self):
        ready = f"{self.dir}/ready"
        lines = ["set -e", f"hostname {self.name}"]
        mounts = [(f"{self.dir}/{source}", target) for source, target in NODE_MOUNTS]
        mounts += [(self.director.run_dir, "/run"), (os.path.dirname(self.director.config), "/etc/ha.d")]
        for source, target in mounts:
            lines += [f"mkdir -p {target}", f"mount --bind {source} {target}"]
        lines += ["mount -t tmpfs -o mode=1777 tmpfs /dev/shm", f": > {ready}", "exec sleep infinity"]
        self.shell = spawn(f"node shell {self.ns}",
                           ["ip", "netns", "exec", self.ns, "unshare", "--mount", "--propagation", "private",
                            "--uts", "--ipc", "--", "bash", "-c", "\n".join(lines)],
                           f"{self.dir}/shell.log")
        return ready

    def wait_shell(self, ready):
        def up():
            check(self.shell.poll() is None, f"{self.ns}'s node shell exited {self.shell.returncode}: "
                                             + tail(f"{self.dir}/shell.log", 10))
            return os.path.exists(ready)
        wait_until(up, 30 + SLACK, f"{self.ns}'s node shell", interval=0.1)
        self.mnt = os.readlink(f"/proc/{self.shell.pid}/ns/mnt")
        check(self.mnt != os.readlink("/proc/self/ns/mnt"), f"{self.ns}'s node shell shares our mount namespace")

    def argv(self, argv):
        return ["nsenter", f"--target={self.shell.pid}", "--mount", "--net", "--uts", "--ipc", "--root", "--wd",
                "--", *argv]

    def run(self, argv, **kwargs):
        return run(self.argv(argv), **kwargs)

    def output(self, argv, timeout=30):
        try:
            result = self.run(argv, timeout=timeout, check_status=False)
            text = result.stdout + result.stderr
            return text if result.returncode == 0 else f"{text}(exit {result.returncode})\n"
        except Failure as error:
            return f"({error})\n"

    def start_corosync(self):
        self.corosync = spawn(f"corosync {self.ns}", self.argv(["corosync", "-f"]), f"{self.dir}/corosync.out")

    def corosync_ready(self):
        check(self.corosync.poll() is None, f"corosync in {self.ns} exited {self.corosync.returncode}:\n"
              + tail(f"{self.dir}/corosync.out", 20))
        return self.run(["corosync-cfgtool", "-s"], check_status=False, timeout=30).returncode == 0

    def start_pacemaker(self):
        # Pacemaker logs to its file (/var/log/pacemaker/pacemaker.log, the node's own); no
        # syslog in the guest.
        env = dict(os.environ, PCMK_logfacility="none")
        handle = open(f"{self.dir}/pacemakerd.out", "ab")
        self.pacemakerd = subprocess.Popen(self.argv(["pacemakerd"]), stdin=subprocess.DEVNULL, stdout=handle,
                                           stderr=subprocess.STDOUT, start_new_session=True, env=env)
        handle.close()
        PROCESSES.append((f"pacemakerd {self.ns}", self.pacemakerd))
        log(f"started pacemakerd {self.ns} (pid {self.pacemakerd.pid}) in its node shell")

    def totem(self, key):
        """A runtime value of corosync's totem, in milliseconds (corosync-cmapctl)."""
        text = self.run(["corosync-cmapctl", "-g", f"runtime.config.totem.{key}"]).stdout
        match = re.search(r"=\s*(\d+)", text)
        check(match, f"corosync-cmapctl runtime.config.totem.{key}: {text!r}")
        return int(match.group(1))

    def status(self):
        """crm_mon's view from this node: {"online": {names}, "dc": name or None,
        "running": {resource id: [node names]}}, or None while crm_mon cannot answer."""
        result = self.run(["crm_mon", "-1", "--output-as=xml"], check_status=False, timeout=60)
        if result.returncode != 0:
            return None
        try:
            root = ElementTree.fromstring(result.stdout)
        except ElementTree.ParseError:
            return None
        nodes = root.find("nodes")
        online = {node.get("name") for node in (nodes if nodes is not None else []) if node.get("online") == "true"}
        dc = root.find("summary/current_dc")
        running = {}
        resources = root.find("resources")
        for resource in (resources.iter("resource") if resources is not None else []):
            if resource.get("active") == "true":
                running.setdefault(resource.get("id"), []).extend(n.get("name") for n in resource.findall("node"))
        return {"online": online, "dc": dc.get("name") if dc is not None and dc.get("present") == "true" else None,
                "running": running}

    def start_exec_time(self, resource):
        """exec-time (ms) of the last start of a resource on this node, from the CIB's status."""
        text = self.run(["cibadmin", "-Q", "--xpath",
                         f"//node_state[@uname='{self.name}']//lrm_resource[@id='{resource}']"
                         "/lrm_rsc_op[@operation='start']"], check_status=False).stdout
        times = re.findall(r'exec-time="(\d+)"', text)
        return int(times[-1]) if times else None

    def log_events(self, since, patterns):
        """The first time (wall clock, seconds) each regex appears in this node's pacemaker.log
        after `since` (time.time()): Pacemaker stamps its lines to the millisecond."""
        found = {}
        year = datetime.now().year
        try:
            with open(f"{self.dir}/log-pacemaker/pacemaker.log", errors="replace") as file:
                for line in file:
                    try:
                        stamp = datetime.strptime(f"{year} {line[:19]}", "%Y %b %d %H:%M:%S.%f").timestamp()
                    except ValueError:
                        continue
                    if stamp < since:
                        continue
                    for name, pattern in patterns.items():
                        if name not in found and re.search(pattern, line):
                            found[name] = stamp
        except OSError:
            pass
        return found

    def processes(self):
        """The processes living in this node's mount namespace (its daemons, agents and
        directord, all started by this test)."""
        pids = []
        for entry in os.listdir("/proc"):
            if entry.isdigit() and int(entry) != os.getpid():
                try:
                    if os.readlink(f"/proc/{entry}/ns/mnt") == self.mnt:
                        pids.append(int(entry))
                except OSError:
                    pass
        return pids

    def kill(self, keep=None):
        if self.mnt is None:
            return
        for pid in self.processes():
            if pid == keep:
                continue
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


# --- the lab ------------------------------------------------------------------------------

class Pair:
    def __init__(self, args):
        self.args = args
        self.directives = not args.manual_sync
        self.pacemaker = args.engine == "pacemaker"
        self.directors = {}
        self.reals = {}
        self.holders = []
        self.held = None

    # setup
    def build_network(self):
        lines = ["set -e",
                 f"ip netns add {LAN}",
                 f"ip -n {LAN} link set lo up",
                 f"ip -n {LAN} link add br0 type bridge mcast_snooping 0 stp_state 0",
                 f"ip -n {LAN} link set br0 up"]
        for ns, address in ADDRESSES.items():
            lines += [f"ip netns add {ns}",
                      f"ip -n {ns} link set lo up",
                      f"ip -n {LAN} link add v-{ns} type veth peer name eth0 netns {ns}",
                      f"ip -n {LAN} link set v-{ns} master br0 up"]
            if ns in REALS:
                # Direct routing: the VIP on lo, never answered for in ARP.
                lines += [f"ip netns exec {ns} sysctl -qw net.ipv4.conf.all.arp_ignore=1 "
                          "net.ipv4.conf.all.arp_announce=2 net.ipv4.conf.eth0.arp_ignore=1 "
                          "net.ipv4.conf.eth0.arp_announce=2",
                          f"ip -n {ns} addr add {VIP}/32 dev lo"]
            lines += [f"ip -n {ns} addr add {address}/24 dev eth0",
                      f"ip -n {ns} link set eth0 up"]
        run(["bash", "-c", "\n".join(lines)], timeout=120)
        snooping = run(["ip", "netns", "exec", LAN, "cat", "/sys/class/net/br0/bridge/multicast_snooping"]).stdout
        check(snooping.strip() == "0", f"br0 multicast_snooping is {snooping.strip()!r}, not 0")
        for ns in ADDRESSES:
            holder = spawn(f"holder {ns}", ["ip", "netns", "exec", ns, "sleep", "infinity"], "/dev/null")
            self.holders.append(holder)
            if ns in DIRECTORS:
                self.directors[ns].holder = holder
        for director in self.directors.values():
            director.watch = AddressWatch(director.ns)

    def start_real(self, ns):
        self.reals[ns] = spawn(f"echo server {ns}",
                               ["ip", "netns", "exec", ns, sys.executable, "-c", ECHO_SERVER, ns],
                               f"{WORK}/{ns}.log")

    def wait_real(self, ns):
        def answers():
            try:
                return greeting_of(ADDRESSES[ns], timeout=2) == ns
            except OSError:
                return False
        _, took = wait_until(answers, 30 + SLACK, f"{ns}'s echo server", interval=0.2)
        log(f"{ns} answers on {ADDRESSES[ns]}:{PORT} ({took:.2f} s)")

    def start_keepalived(self, director):
        director.keepalived = spawn(
            f"keepalived {director.ns}",
            ["ip", "netns", "exec", director.ns, "keepalived", "--vrrp", "--dont-fork", "--log-console",
             "--log-detail", "--no-syslog", "--use-file", director.keepalived_conf,
             "--pid", director.keepalived_pid, "--vrrp_pid", director.vrrp_pid],
            director.keepalived_log)

    def start_directord(self, director):
        started = time.monotonic()
        result = director.directord("start", timeout=90)
        director.started = True
        log(f"directord start in {director.ns}: exit {result.returncode} in "
            f"{time.monotonic() - started:.2f} s {(result.stdout + result.stderr).strip()}")

    def start_sync_by_hand(self, director):
        for role in ("master", "backup"):
            nsrun(director.ns, ["ipvsadm", "--start-daemon", role, "--mcast-interface", "eth0",
                                "--syncid", str(SYNC_ID)])
        log(f"{director.ns}: started the master and backup sync daemons with ipvsadm")

    # Pacemaker/Corosync (--engine pacemaker)
    def start_cluster(self, a, b):
        """corosync + Pacemaker on both directors, each in its node shell; the recipe loaded
        with crmsh on A; returns once directord runs on both (started by the agent) and the
        VIP is on A."""
        authkey = f"{WORK}/authkey"
        run(["corosync-keygen", "-k", authkey])  # the recipe's crypto: one key, copied to both
        pair = (a, b)
        names = {NODE_NAMES[d.ns] for d in pair}
        for director in pair:
            director.node = ClusterNode(director)
            director.node.prepare(authkey)
        readies = [(director.node, director.node.start_shell()) for director in pair]
        for node, ready in readies:
            node.wait_shell(ready)
            log(f"{node.ns}: node shell pid {node.shell.pid}, {node.mnt}, hostname "
                f"{node.output(['hostname']).strip()}; /run is "
                f"{node.output(['findmnt', '-n', '-o', 'SOURCE', '/run']).split()[-1]}")
        started = time.monotonic()
        for director in pair:
            director.node.start_corosync()
        for director in pair:
            wait_until(director.node.corosync_ready, 60 + SLACK, f"corosync in {director.ns} to answer",
                       interval=0.5)
        log(f"corosync answers on both ({time.monotonic() - started:.2f} s)")
        log("corosync-quorumtool -s in dirA:\n" + indent(a.node.output(["corosync-quorumtool", "-s"])))
        for director in pair:
            director.node.start_pacemaker()

        def formed():
            status = a.node.status()
            return status if status and status["online"] == names and status["dc"] else None

        status, took = wait_until(formed, 240 + SLACK, "both Pacemaker nodes online with a DC", interval=1)
        figure("cluster formed", f"{time.monotonic() - started:.2f} s after corosync started "
                                 f"(both nodes online, DC {status['dc']})")
        for director in pair:  # libqb's files: in each node's own /dev/shm, none in the guest's
            count = director.node.output(["sh", "-c", "ls /dev/shm | grep -c '^qb-'"]).strip()
            log(f"{director.ns}: {count} qb-* files in its /dev/shm")
        log(f"the guest's own /dev/shm: {len([n for n in os.listdir('/dev/shm') if n.startswith('qb-')])} qb-* files")
        fencing, prefer = test_crm()
        files = {f"{WORK}/no-fencing.crm": fencing,
                 f"{WORK}/pair.crm": pacemaker_crm(self.args.directord),
                 f"{WORK}/prefer-a.crm": prefer}
        for path, text in files.items():
            with open(path, "w") as file:
                file.write(text)
            log(f"to load, in this order: {path}\n{indent(text)}")
        commands = f"{WORK}/load.crm"
        with open(commands, "w") as file:  # one crmsh process (its start is slow in the guest)
            file.write("".join(f"configure load update {path}\n" for path in files))
        loading = time.monotonic()
        result = a.node.run(["crm", "-f", commands], timeout=300)
        text = (result.stdout + result.stderr).strip()
        log(f"crm -f {commands} (configure load update, three files) in dirA: "
            f"{time.monotonic() - loading:.2f} s {text}")
        check("ERROR" not in text, f"crmsh: {text}")
        loaded = time.monotonic()

        def placed():
            status = a.node.status()
            if not status:
                return None
            running = status["running"]
            if running.get("vip") == [a.node.name] and sorted(running.get("directord", [])) == sorted(names):
                return status if a.watch.owns_vip() else None
            return None

        wait_until(placed, 240 + SLACK, "Pacemaker to start directord on both and the VIP on dirA", interval=1)
        for director in pair:
            director.started = True  # by the agent: cleanup stops it as in the keepalived run
        figure("resources started", f"{time.monotonic() - loaded:.2f} s after crmsh loaded the configuration "
                                    f"(crmsh took {loaded - loading:.2f} s; directord on both, VIP on dirA)")
        log("crm_mon -1 in dirA:\n" + indent(a.node.output(["crm_mon", "-1", "-r"])))
        self.vip_start_ms = a.node.start_exec_time("vip")
        log(f"IPaddr2 start of the VIP on dirA took {self.vip_start_ms} ms (exec-time in the CIB)")

    def pacemaker_bound(self, a, b):
        """B takes the VIP when Corosync has declared A lost (the token timeout, then the
        consensus timeout to form the new membership) and Pacemaker on B has reacted: elected
        itself DC if it was not, run the scheduler, and run IPaddr2's start, which took
        self.vip_start_ms on A at the start. PACEMAKER_REACTION covers the controller's own
        steps (election, join, scheduler, transition) in the emulated guest."""
        token, consensus = b.node.totem("token"), b.node.totem("consensus")
        start = (self.vip_start_ms or 0) / 1000
        bound = token / 1000 + consensus / 1000 + start + PACEMAKER_REACTION + SLACK
        how = (f"Corosync token {token / 1000:g} s + consensus {consensus / 1000:g} s + IPaddr2 start "
               f"{start:.2f} s (measured on dirA) + Pacemaker's reaction {PACEMAKER_REACTION:g} s "
               f"+ slack {SLACK:g} s")
        log(f"failover bound: {bound:.2f} s = {how}")
        return bound, how

    def failover_breakdown(self, b, down_wall):
        """When B's Pacemaker saw A lost (Corosync's new membership), was DC, asked for the
        VIP's start and had it done, from its log, in seconds after the link was cut. IPaddr2
        adds the address part way through its start: the VIP answers before "started"."""
        events = b.node.log_events(down_wall - 1, {
            "A lost": r"Node director-a state is now lost|director-a.* left via cluster exit",
            "B DC": r"Set DC to director-b|State transition \S+ -> S_INTEGRATION",
            "start asked": r"Requesting local execution of start operation for vip on director-b",
            "started": r"Result of start operation for vip on director-b",
        })
        parts = [f"{name} +{stamp - down_wall:.2f} s" for name, stamp in sorted(events.items(), key=lambda e: e[1])]
        figure("failover in dirB's Pacemaker log", ", ".join(parts) or "(nothing found)")

    def return_breakdown(self, a, b, up_wall):
        """The return in both nodes' Pacemaker logs, in seconds after A's link came up."""
        patterns = {
            "both active seen": r"resource vip (might be )?(is )?active on 2 nodes",
            "vip stopped on dirA": r"Result of stop operation for vip on director-a",
            "vip stopped on dirB": r"Result of stop operation for vip on director-b",
            "vip started on dirA": r"Result of start operation for vip on director-a",
            "vip started on dirB": r"Result of start operation for vip on director-b",
        }
        events = {}
        for node in (a.node, b.node):
            for name, stamp in node.log_events(up_wall - 1, patterns).items():
                events[name] = min(stamp, events.get(name, stamp))
        parts = [f"{name} +{stamp - up_wall:.2f} s" for name, stamp in sorted(events.items(), key=lambda e: e[1])]
        figure("return in the Pacemaker logs", ", ".join(parts) or "(nothing found)")

    def pacemaker_return(self, a, b, used):
        """A's link comes back: the cluster re-forms (no fencing: A was never shot), Pacemaker
        finds the VIP active on both (A kept it) and recovers it to one director; the
        location score prefers A. Asserted: exactly one director holds the VIP, and Pacemaker
        agrees, for STABLE s on end; the held connection loses nothing."""
        stable = 5.0
        names = {a.node.name, b.node.name}
        up = time.monotonic()
        up_wall = time.time()
        run(["ip", "-n", "dirA", "link", "set", "eth0", "up"])
        seen = {}
        state = {"since": None}

        def settled():
            now = time.monotonic() - up
            if "table" not in seen and self.healthy_table(a, [used]):
                seen["table"] = now
            owners = [d for d in (a, b) if d.watch.owns_vip()]
            if len(owners) == 2 and "both" not in seen:
                seen["both"] = now
            status = b.node.status()
            if status and status["online"] == names and "rejoined" not in seen:
                seen["rejoined"] = now
            owners = [d for d in (a, b) if d.watch.owns_vip()]
            ok = (status is not None and status["online"] == names and "table" in seen and len(owners) == 1
                  and status["running"].get("vip") == [owners[0].node.name])
            if not ok:
                state["since"] = None
                return None
            if state["since"] is None:
                state["since"] = time.monotonic()
                seen["settled"] = now
                seen["holder"] = owners[0]
            return owners[0] if time.monotonic() - state["since"] >= stable else None

        holder, _ = wait_until(settled, PACEMAKER_RETURN + SLACK,
                               "the cluster to re-form with the VIP on exactly one director", interval=0.5)
        check(holder is seen["holder"], "the VIP's holder changed while it settled")
        figure("cluster re-formed", f"{seen['rejoined']:.2f} s after dirA's link came up (dirB's crm_mon: both online)")
        figure("VIP after dirA's return", f"on {holder.ns} alone from {seen['settled']:.2f} s after the link came up "
               f"(stable for {stable:g} s; Pacemaker agrees)"
               + (f"; both held it until the recovery (seen at {seen['both']:.2f} s)" if "both" in seen else ""))
        figure(f"dirA's table restored ({used} weight 1)", f"{seen['table']:.2f} s after its link came up")
        self.return_breakdown(a, b, up_wall)
        log("crm_mon -1 in dirB:\n" + indent(b.node.output(["crm_mon", "-1", "-r"])))
        held = self.held
        echoed_at_back = held.counts()[1]
        time.sleep(5)
        target = held.caught_up(self.args.client_timeout + SLACK)
        sent, echoed, error = held.counts()
        check(echoed > echoed_at_back, f"no echo came back after the VIP settled on {holder.ns}")
        gap = held.longest_gap(since=up)
        figure("held connection across the return", f"{echoed}/{target} lines echoed in order, "
               f"0 lost; longest gap {gap:.2f} s")
        owners = [d.ns for d in (a, b) if d.watch.owns_vip()]
        check(owners == [holder.ns], f"the VIP is on {owners or 'no director'} at the end, not on {holder.ns} alone")
        self.print_state("after dirA's return", what=("-Lnc",))
        self.finish(a)

    def healthy_table(self, director, reals):
        """Both directors' tables, as wanted: the one service, exactly `reals`, weight 1."""
        service = director.table().get(f"TCP {VIP}:{PORT}")
        if not service:
            return False
        wanted = {f"{ADDRESSES[r]}:{PORT}": ("Route", 1) for r in reals}
        return service["reals"] == wanted

    def print_state(self, title, what=("-Ln", "-Lnc")):
        for director in self.directors.values():
            for option in what:
                text = output(director.ns, ["ipvsadm", option])
                log(f"{title}: ipvsadm {option} in {director.ns}:\n{indent(text)}")

    # the scenario
    def scenario(self):
        args = self.args
        shutil.rmtree(WORK, ignore_errors=True)
        os.makedirs(WORK)
        if self.pacemaker:
            engine = (f"{first_line(run(['pacemakerd', '--version'], check_status=False))}; "
                      f"{first_line(run(['corosync', '-v'], check_status=False))}; "
                      f"{first_line(run(['crm', '--version'], check_status=False))}")
        else:
            engine = first_line(run(['keepalived', '--version'], check_status=False))
        log(f"mode: {'syncdaemon= directives' if self.directives else 'sync daemons started by hand (--manual-sync)'}; "
            f"slack {SLACK:g} s; directord {args.directord}; {engine}")
        for ns in DIRECTORS:
            self.directors[ns] = Director(ns, args.directord, self.directives, args.engine)
        a, b = self.directors["dirA"], self.directors["dirB"]

        result = run([args.directord, "check-config", a.config], check_status=False)
        if result.returncode != 0:
            raise Failure(f"directord check-config refuses the pair's file (exit {result.returncode}):\n"
                          f"{result.stdout}{result.stderr}"
                          + ("(the syncdaemon= directives are not in this build? --manual-sync runs "
                             "without them)" if self.directives else ""))

        # 1. the LAN, the real servers, keepalived, directord
        started = time.monotonic()
        self.build_network()
        log(f"network built in {time.monotonic() - started:.2f} s")
        for ns in REALS:
            self.start_real(ns)
        for ns in REALS:
            self.wait_real(ns)
        if self.pacemaker:
            self.start_cluster(a, b)  # Pacemaker starts directord on both, then the VIP on A
        else:
            self.start_keepalived(a)
            _, took = wait_until(a.watch.owns_vip, 20 + SLACK, "dirA to take the VIP (keepalived MASTER)")
            log(f"dirA owns the VIP {took:.2f} s after keepalived started")
            self.start_keepalived(b)
            for director in (a, b):
                self.start_directord(director)
        if not self.directives:
            for director in (a, b):
                self.start_sync_by_hand(director)
        for director in (a, b):
            _, took = wait_until(lambda: self.healthy_table(director, REALS), 10 + SLACK,
                                 f"{director.ns}'s table to list both real servers with weight 1")
            confirmed = director.ipvsadm_table()
            check(confirmed.get(f"TCP {VIP}:{PORT}", {}).get("reals") ==
                  {f"{ADDRESSES[r]}:{PORT}": ("Route", 1) for r in REALS},
                  f"ipvsadm -Ln in {director.ns} disagrees with /proc/net/ip_vs: {confirmed}")
        self.check_daemons()
        if not self.pacemaker:
            _, took = wait_until(lambda: self.keepalived_state(b) == "BACKUP", 20 + SLACK, "dirB's keepalived to enter BACKUP")
        check(a.watch.owns_vip() and not b.watch.owns_vip(), "the VIP is not on dirA alone")
        log(f"dirA: {output('dirA', ['ip', '-br', 'addr', 'show', 'eth0']).strip()}")
        log(f"dirB: {output('dirB', ['ip', '-br', 'addr', 'show', 'eth0']).strip()}")
        self.print_state("before the client", what=("-Ln",))

        # 2. the held connection, synced to B
        self.held = held = HeldConnection(timeout=args.client_timeout)
        log(f"held connection {held.local} -> {VIP}:{PORT}: greeting {held.greeting!r}")
        check(held.greeting in REALS, f"unexpected greeting {held.greeting!r}")
        client = f"{ADDRESSES['client']}:{held.local.split(':')[1]}"

        def synced():
            return [c for c in b.connections() if c["from"] == client and c["state"] == "ESTABLISHED"]

        entries, took = wait_until(synced, 15 + SLACK, "dirB's backup sync daemon to hold the client's connection")
        figure("connection synced to dirB", f"{took:.2f} s after the connection opened (entry to {entries[0]['dest']})")
        time.sleep(max(0.0, 3 - took))  # at least 3 s of traffic before anything fails
        check(entries[0]["dest"] == f"{ADDRESSES[held.greeting]}:{PORT}",
              f"dirB's entry goes to {entries[0]['dest']}, the held connection talks to {held.greeting}")
        self.print_state("before the failover", what=("-Lnc",))
        log("dirB ip_vs_conn_sync:\n" + indent(b.proc("ip_vs_conn_sync")))

        # 3. the real server the held connection does not use fails
        used = held.greeting
        failed = next(r for r in REALS if r != used)
        log(f"the held connection uses {used}; stopping {failed}'s echo server")
        stop_time = time.monotonic()
        terminate(self.reals[failed])
        for director in (a, b):
            wait_until(lambda: self.healthy_table(director, [used]), 10 + SLACK,
                       f"{director.ns} to delete {failed} from its table")
            log(f"{director.ns} deleted {failed} {time.monotonic() - stop_time:.2f} s after it stopped")
        for director in (a, b):
            confirmed = director.ipvsadm_table()
            check(confirmed[f"TCP {VIP}:{PORT}"]["reals"] == {f"{ADDRESSES[used]}:{PORT}": ("Route", 1)},
                  f"ipvsadm -Ln in {director.ns}: {confirmed}")
        figure("real server failure acted on (both directors)", f"{time.monotonic() - stop_time:.2f} s")

        # 4. director A loses its link; B must take the VIP
        before_table = b.ipvsadm_table()
        before_log = len(b.log_lines())
        a_before_table = a.ipvsadm_table()
        a_before_log = len(a.log_lines())
        log(f"dirB's table before the failover: {before_table}; its log has {before_log} lines")
        sent, echoed, error = held.counts()
        check(error is None, f"held connection: {error}")
        log(f"held connection before the failover: {sent} sent, {echoed} echoed")
        if self.pacemaker:
            bound, how = self.pacemaker_bound(a, b)
        else:
            bound = master_down_interval("dirB") + SLACK
            how = f"master down interval {master_down_interval('dirB'):.2f} s + slack {SLACK:g} s"
        down = time.monotonic()
        down_wall = time.time()
        run(["ip", "-n", "dirA", "link", "set", "eth0", "down"])
        _, failover = wait_until(b.watch.owns_vip, bound + 20, "dirB to take the VIP", interval=0.05)
        moved = time.monotonic()
        figure("VIP failover", f"{failover:.2f} s (bound {bound:.2f} s = {how})")
        log(f"dirB: {output('dirB', ['ip', '-br', 'addr', 'show', 'eth0']).strip()}")
        check(failover <= bound, f"VIP failover took {failover:.2f} s, over the bound of {bound:.2f} s")
        if self.pacemaker:
            # No fencing: A, alone in its partition, has no reason to stop anything.
            figure("dirA cut off (no fencing)", "still holds the VIP on its downed link" if a.watch.owns_vip()
                   else "released the VIP")
        else:
            check(not a.watch.owns_vip(), "dirA still holds the VIP with its link down")

        # 5. the held connection goes on through B, with nothing to change in B's table
        echoed_at_move = held.counts()[1]
        time.sleep(5)  # the client keeps sending for ~5 s after the VIP moved
        target = held.caught_up(args.client_timeout + SLACK)
        sent, echoed, error = held.counts()
        check(echoed > echoed_at_move, "no echo came back after the VIP moved")
        gap = held.longest_gap(since=down)
        figure("held connection across the failover", f"{echoed}/{target} lines echoed in order, "
               f"0 lost; longest gap {gap:.2f} s; {echoed - echoed_at_move} echoes after the VIP moved")
        after_table = b.ipvsadm_table()
        check(after_table == before_table,
              f"dirB's table changed across the failover:\nbefore {before_table}\nafter  {after_table}")
        new_lines = b.log_lines()[before_log:]
        changes = [line for line in new_lines if re.search(r"\b(Added|Deleted|Changed)\b", line)]
        check(not changes, "dirB's directord changed its table at the failover:\n" + "\n".join(changes))
        figure("dirB's table across the failover", f"unchanged ({len(new_lines)} new log lines, no Added/Deleted/Changed)")
        if self.pacemaker:
            self.failover_breakdown(b, down_wall)
        log("after the failover: ipvsadm -Lnc in dirB:\n" + indent(output("dirB", ["ipvsadm", "-Lnc"])))
        log("dirB ip_vs_conn_sync:\n" + indent(b.proc("ip_vs_conn_sync")))
        log("dirA (link down) ipvsadm -Ln:\n" + indent(output("dirA", ["ipvsadm", "-Ln"])))
        # A's own checks fail with "Network is unreachable" while its link is down: a fault of
        # the director, not of the real servers, so directord keeps A's table as it was.
        a_after_table = a.ipvsadm_table()
        check(a_after_table == a_before_table,
              f"dirA's table changed while its own link was down:\nbefore {a_before_table}\nafter  {a_after_table}")
        a_lines = a.log_lines()[a_before_log:]
        check(any('fail with "Network is unreachable": a fault of this director' in line for line in a_lines),
              "dirA's directord did not say its checks fail with a fault of its own:\n" + "\n".join(a_lines))
        figure("dirA's table while its link was down", "kept (its checks' \"Network is unreachable\" set aside)")

        # 6. new connections only to the healthy real server
        greetings = []
        for _ in range(args.new_connections):
            greetings.append(greeting_of(VIP, timeout=10))
        counts = {name: greetings.count(name) for name in sorted(set(greetings))}
        figure("new connections through dirB", f"{len(greetings)} opened: {counts}")
        check(greetings == [used] * len(greetings),
              f"new connections reached {counts}, not only the healthy {used}")

        # 7. A comes back and takes the VIP again
        if self.pacemaker:
            self.pacemaker_return(a, b, used)
            return
        bound_back = master_down_interval("dirA") + SLACK
        up = time.monotonic()
        run(["ip", "-n", "dirA", "link", "set", "eth0", "up"])
        # Two things to see, whichever comes first: the VIP on A, and A's directord putting
        # the healthy server back (its checks failed while the link was down).
        seen = {}

        def returned():
            now = time.monotonic() - up
            if "vip" not in seen and a.watch.owns_vip():
                seen["vip"] = now
            if "table" not in seen and self.healthy_table(a, [used]):
                seen["table"] = now
            return len(seen) == 2

        wait_until(returned, bound_back + 20, f"dirA to take the VIP back and to put {used} back in its table")
        back = seen["vip"]
        figure("VIP back on dirA", f"{back:.2f} s after its link came up (bound {bound_back:.2f} s = "
                                   f"master down interval {master_down_interval('dirA'):.2f} s + slack {SLACK:g} s)")
        figure(f"dirA's table restored ({used} weight 1)", f"{seen['table']:.2f} s after its link came up")
        check(back <= bound_back, f"dirA took {back:.2f} s to take the VIP back, over {bound_back:.2f} s")
        wait_until(lambda: not b.watch.owns_vip(), 5 + SLACK, "dirB to release the VIP")
        echoed_at_back = held.counts()[1]
        time.sleep(5)
        target = held.caught_up(args.client_timeout + SLACK)
        sent, echoed, error = held.counts()
        check(echoed > echoed_at_back, "no echo came back after dirA took the VIP back")
        gap = held.longest_gap(since=up)
        figure("held connection across the return", f"{echoed}/{target} lines echoed in order, "
               f"0 lost; longest gap {gap:.2f} s")
        self.print_state("after dirA's return", what=("-Lnc",))
        self.finish(a)

    def finish(self, a):
        """After dirA's return: its synced entries (a figure), the held connection's count."""
        args, held = self.args, self.held
        # The held connection goes on through dirA's own entry (Origin LOCAL: a link cut is not
        # a reboot, the entry outlived it). Entries of connections made through dirB while
        # dirA was cut off reach dirA only if dirB's master daemon sends them after the link
        # came back (its buffer is flushed every ~2 s): a figure, not an assertion.
        text = a.proc("ip_vs_conn_sync")
        log("dirA ip_vs_conn_sync:\n" + indent(text))
        origins = [c["rest"][0] for c in parse_connections(text) if c["rest"]]
        figure("dirA's entries from dirB's master sync daemon",
               f"{origins.count('SYNC')} (Origin SYNC), {origins.count('LOCAL')} of its own (Origin LOCAL)")

        sent, echoed, error = held.stop(drain=args.client_timeout)
        self.held = None
        check(error is None, f"held connection: {error}")
        check(echoed == sent, f"held connection: {sent - echoed} of {sent} lines lost")
        figure("held connection overall", f"{sent} lines sent, {echoed} echoed in order, "
               f"{sent - echoed} lost, longest gap {held.longest_gap():.2f} s, "
               f"{len(held.gaps)} gaps over {held.GAP_NOTE} s: "
               + ", ".join(f"{length:.2f} s at {start - T0:.1f}" for start, length in held.gaps))

    def keepalived_state(self, director):
        try:
            with open(director.keepalived_log, errors="replace") as file:
                text = file.read()
        except OSError:
            return None
        states = re.findall(r"\(VI_1\) Entering (\w+) STATE", text)
        return states[-1] if states else None

    def check_daemons(self):
        for director in self.directors.values():
            def both():
                text = director.daemons(self.directives)
                return text if ("master sync daemon" in text and "backup sync daemon" in text) else None
            source = "directord table --daemon" if self.directives else "ipvsadm -L --daemon"
            text, _ = wait_until(both, 10 + SLACK, f"{source} in {director.ns} to list the master and "
                                                   "backup sync daemons", interval=0.5)
            for line in text.splitlines():
                check(f"mcast=eth0, syncid={SYNC_ID}" in line, f"{director.ns}: unexpected daemon {line!r}")
            log(f"{source} in {director.ns}:\n{indent(text)}")

    # diagnostics and cleanup
    def diagnostics(self):
        log("--- diagnostics ---")
        for director in self.directors.values():
            for argv in (["ipvsadm", "-Ln"], ["ipvsadm", "-Lnc"], ["ipvsadm", "-L", "--daemon"],
                         ["ip", "-br", "addr"], ["ip", "neigh"]):
                log(f"{director.ns}: {shlex.join(argv)}\n{indent(output(director.ns, argv))}")
            if director.node:
                node = director.node
                log(f"{director.ns}: crm_mon -1\n{indent(node.output(['crm_mon', '-1', '-r']))}")
                for path in (director.logfile, f"{node.dir}/corosync.out", f"{node.dir}/log-pacemaker/pacemaker.log"):
                    log(f"{director.ns}: tail of {path}\n{indent(tail(path, 40))}")
            else:
                for path in (director.logfile, director.keepalived_log):
                    log(f"{director.ns}: tail of {path}\n{indent(tail(path, 40))}")
        log(f"client: ip neigh\n{indent(output('client', ['ip', 'neigh']))}")
        for ns in REALS:
            log(f"{ns}: tail of its echo server's output\n{indent(tail(f'{WORK}/{ns}.log', 10))}")
        if self.held:
            sent, echoed, error = self.held.counts()
            log(f"held connection: {sent} sent, {echoed} echoed, error {error}, "
                f"{time.monotonic() - self.held.last_echo:.1f} s since the last echo, gaps "
                + ", ".join(f"{length:.2f} s at {start - T0:.1f}" for start, length in self.held.gaps))

    def cleanup(self):
        if self.held:
            try:
                self.held.stop(drain=0)
            except Exception as error:  # noqa: BLE001 - cleanup goes on
                log(f"cleanup: held connection: {error}")
        for director in self.directors.values():
            if director.node:
                # Everything in the node's mount namespace but directord (stopped below, as
                # in the keepalived run): SIGKILL, not a cluster shutdown, which would stop
                # the resources through the agents, slowly.
                director.node.kill(keep=read_pid(director.pidfile))
        for director in self.directors.values():
            if director.started:
                result = None
                try:
                    result = director.directord("stop", timeout=30, check_status=False)
                except Failure as error:
                    log(f"cleanup: {error}")
                if result is not None and result.returncode != 0:
                    log(f"cleanup: directord stop in {director.ns}: exit {result.returncode} "
                        f"{(result.stdout + result.stderr).strip()}")
                kill_pidfile(director.pidfile)
            if director.node:
                director.node.kill()
        for name, process in reversed(PROCESSES):
            terminate(process)
        for director in self.directors.values():
            kill_pidfile(director.vrrp_pid)
            kill_pidfile(director.keepalived_pid)
            for role in ("master", "backup"):
                try:
                    nsrun(director.ns, ["ipvsadm", "--stop-daemon", role], check_status=False, timeout=20)
                except Failure:
                    pass
        for ns in [*ADDRESSES, LAN]:
            try:
                run(["ip", "netns", "del", ns], check_status=False, timeout=20)
            except Failure:
                pass
        left = run(["ip", "netns", "list"], check_status=False).stdout.strip()
        log(f"cleaned up (namespaces left: {left or 'none'})")


def indent(text):
    return "".join(f"    | {line}\n" for line in text.rstrip("\n").splitlines()) or "    | (nothing)\n"


def tail(path, count):
    try:
        with open(path, errors="replace") as file:
            return "".join(file.readlines()[-count:])
    except OSError as error:
        return f"({error})\n"


def first_line(result):
    return ((result.stdout or result.stderr).splitlines() or [""])[0]


def watch_for_hang():
    """Should the scenario hang, the stack of every thread 70 s before lab/run's time limit ends
    the run (LAB_TIMEOUT): on the kernel console, after lab/stage2's process list, which lab/run
    shows when the run times out. The step that hung instead of no output at all."""
    limit = int(os.environ.get("LAB_TIMEOUT", "0") or 0)
    if limit < 120:
        return
    try:
        stream = open("/dev/console", "w")  # noqa: SIM115 - held open until the process ends
    except OSError:
        stream = sys.stderr
    faulthandler.dump_traceback_later(limit - 70, file=stream)


def main():
    parser = argparse.ArgumentParser(description="A director pair (keepalived or Pacemaker + directord) failing over.")
    parser.add_argument("--engine", choices=("keepalived", "pacemaker"), default="keepalived",
                        help="what moves the VIP: keepalived's VRRP (the default) or Pacemaker/Corosync")
    parser.add_argument("--directord", default="/work/main/.build/debug/directord")
    parser.add_argument("--manual-sync", action="store_true",
                        help="start the sync daemons with ipvsadm instead of the syncdaemon= directives")
    parser.add_argument("--client-timeout", type=float, default=None,
                        help="the held connection's socket timeout (TCP retransmits across a failover); "
                             "default 20 s with keepalived, 60 s with Pacemaker (a failover of ~10 s or "
                             "more puts TCP's next retransmission 13-25 s after the last echo)")
    parser.add_argument("--new-connections", type=int, default=10)
    parser.add_argument("--out", help="copy the directors' logs and files here at the end")
    args = parser.parse_args()
    if args.client_timeout is None:
        args.client_timeout = 60.0 if args.engine == "pacemaker" else 20.0
    if os.environ.get("LAB_GUEST") != "1":
        print("pair.py: runs in the lab's guest only (lab/test-pair)", file=sys.stderr)
        return 2
    watch_for_hang()
    pair = Pair(args)
    verdict = None
    try:
        pair.scenario()
    except Failure as failure:
        verdict = str(failure)
    except Exception as error:  # noqa: BLE001 - reported as a failure, with diagnostics
        import traceback
        verdict = f"{type(error).__name__}: {error}\n{traceback.format_exc()}"
    if verdict is not None:
        try:
            pair.diagnostics()
        except Exception as error:  # noqa: BLE001
            log(f"diagnostics failed: {error}")
    try:
        pair.cleanup()
    except Exception as error:  # noqa: BLE001
        log(f"cleanup failed: {error}")
    if args.out:
        try:
            shutil.copytree(WORK, args.out, dirs_exist_ok=True)
        except OSError as error:
            log(f"could not copy {WORK} to {args.out}: {error}")
    print("", flush=True)
    print("pair: figures", flush=True)
    for name, value in FIGURES:
        print(f"  {name}: {value}", flush=True)
    print(f"pair: total {time.monotonic() - T0:.1f} s in the guest", flush=True)
    if verdict is None:
        print("pair: PASS", flush=True)
        return 0
    print(f"pair: FAIL: {verdict}", flush=True)
    return 1


if __name__ == "__main__":
    sys.exit(main())

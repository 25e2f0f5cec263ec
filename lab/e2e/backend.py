#!/usr/bin/python3
"""Controllable HTTP real servers for the end-to-end tests and the demo.

Any number of ADDRESS:PORT listeners (127.0.0.x in the lab, where every 127/8 address is
local), each in one mode, changed at run time without restarting anything:

    up      answers every request "HTTP/1.0 200 OK" with the body "OK ADDRESS:PORT\\n"
    error   answers "HTTP/1.0 500 Internal Server Error"
    wrong   answers 200 with a body that does not contain "OK" (a receive= mismatch)
    slow    answers as `up`, SLOW_SECONDS after the request (a check is under way meanwhile)
    hang    accepts the connection and never answers (until the client gives up)
    refuse  does not listen at all: connects are refused (the socket is closed)

In a test, `Servers` runs them on threads of the test's own process (in another network
namespace if asked: the threads enter it with setns, which is per thread for network
namespaces). As a program, it serves until killed and takes commands on a Unix socket:

    backend.py serve --control SOCKET [--ready FILE] [ADDRESS:PORT[=MODE] ...]
    backend.py ctl SOCKET set ADDRESS:PORT MODE     # also adds a new listener
    backend.py ctl SOCKET hits ADDRESS:PORT         # requests answered so far
    backend.py ctl SOCKET modes                      # every listener and its mode

Only the Python standard library (the lab runs the host's /usr/bin/python3), and threads
rather than asyncio: it starts faster, which counts in the lab.
"""

import ctypes
import os
import socket
import sys
import threading
import time

MODES = ("up", "slow", "error", "wrong", "hang", "refuse")
SLOW_SECONDS = 0.8
CLONE_NEWNET = 0x40000000


LIBC = ctypes.CDLL(None, use_errno=True)


def enter_namespace(netns):
    """Moves the calling thread into network namespace `netns` (a name under /run/netns)."""
    if not netns:
        return
    libc = LIBC
    descriptor = os.open(f"/run/netns/{netns}", os.O_RDONLY)
    try:
        if libc.setns(descriptor, CLONE_NEWNET) != 0:
            error = ctypes.get_errno()
            raise OSError(error, f"setns {netns}: {os.strerror(error)}")
    finally:
        os.close(descriptor)


class Listener:
    def __init__(self, servers, address, port):
        self.servers = servers
        self.address = address
        self.port = port
        self.mode = "refuse"
        self.socket = None
        self.hits = 0
        # Requests read and not yet answered (a `slow` server's checks under way).
        self.serving = 0
        self.hanging = set()
        self.lock = threading.Lock()

    @property
    def name(self):
        return f"{self.address}:{self.port}"

    def set_mode(self, mode):
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r} (expected one of {', '.join(MODES)})")
        with self.lock:
            self.mode = mode
            if mode == "refuse" and self.socket is not None:
                # shutdown wakes the accept() blocked on it; close then refuses connects.
                try:
                    self.socket.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                self.socket.close()
                self.socket = None
            elif mode != "refuse" and self.socket is None:
                family = socket.AF_INET6 if ":" in self.address else socket.AF_INET
                listening = socket.socket(family, socket.SOCK_STREAM)
                listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                listening.bind((self.address, self.port))
                listening.listen(128)
                self.socket = listening
                self.servers.spawn(self.accept, listening)
            if mode != "hang":
                # Hanging connections end when the mode changes, as a process that recovers would.
                for connection in list(self.hanging):
                    try:
                        connection.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

    def accept(self, listening):
        while True:
            try:
                connection, _ = listening.accept()
            except OSError:
                return  # closed: refuse
            self.servers.spawn(self.serve, connection)

    def serve(self, connection):
        try:
            connection.settimeout(30)
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = connection.recv(4096)
                if not chunk:
                    return
                request += chunk
            mode = self.mode
            if mode == "hang":
                self.hanging.add(connection)
                try:
                    connection.settimeout(None)
                    while connection.recv(4096):
                        pass
                finally:
                    self.hanging.discard(connection)
                return
            if mode == "refuse":
                return
            if mode == "slow":
                with self.lock:
                    self.serving += 1
                try:
                    time.sleep(SLOW_SECONDS)
                finally:
                    with self.lock:
                        self.serving -= 1
            self.hits += 1
            if mode in ("up", "slow"):
                status, body = "200 OK", f"OK {self.name}\n"
            elif mode == "wrong":
                status, body = "200 OK", f"MAINTENANCE {self.name}\n"
            else:
                status, body = "500 Internal Server Error", f"failing {self.name}\n"
            head = (
                f"HTTP/1.0 {status}\r\nContent-Type: text/plain\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            payload = head.encode() + (b"" if request.startswith(b"HEAD ") else body.encode())
            connection.sendall(payload)
        except OSError:
            pass
        finally:
            connection.close()


class Servers:
    """Listeners served by threads of this process, optionally in network namespace `netns`."""

    def __init__(self, specs=None, netns=None):
        self.netns = netns
        self.listeners = {}
        self.lock = threading.Lock()
        # A thread that lives in the namespace: its /proc/TID/net/ip_vs is that table.
        ready = threading.Event()
        self.anchor_tid = None

        def anchor():
            enter_namespace(netns)
            self.anchor_tid = threading.get_native_id()
            ready.set()
            threading.Event().wait()

        threading.Thread(target=anchor, daemon=True).start()
        ready.wait()
        for endpoint, mode in (specs or {}).items():
            self.set(endpoint, mode)

    def spawn(self, function, *args):
        # Sockets keep the namespace they were made in: serving them needs no setns.
        threading.Thread(target=function, args=args, daemon=True).start()

    def listener(self, endpoint):
        address, _, port = endpoint.rpartition(":")
        if not address or not port.isdigit():
            raise ValueError(f"not ADDRESS:PORT: {endpoint!r}")
        key = f"{address.strip('[]')}:{port}"
        with self.lock:
            if key not in self.listeners:
                self.listeners[key] = Listener(self, address.strip("[]"), int(port))
            return self.listeners[key]

    def set(self, endpoint, mode):
        listener = self.listener(endpoint)
        if self.netns:
            # Sockets belong to the namespace of the thread that makes them.
            errors = []

            def make():
                enter_namespace(self.netns)
                try:
                    listener.set_mode(mode)
                except Exception as error:  # reported to the caller
                    errors.append(error)

            thread = threading.Thread(target=make)
            thread.start()
            thread.join()
            if errors:
                raise errors[0]
        else:
            listener.set_mode(mode)

    def hits(self, endpoint):
        return self.listener(endpoint).hits

    def modes(self):
        return {key: listener.mode for key, listener in sorted(self.listeners.items())}

    def close(self):
        for listener in list(self.listeners.values()):
            listener.set_mode("refuse")


def serve(control, ready, specs):
    servers = Servers()
    for spec in specs:
        endpoint, _, mode = spec.partition("=")
        servers.set(endpoint, mode or "up")
    if os.path.exists(control):
        os.unlink(control)
    listening = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listening.bind(control)
    listening.listen(16)
    if ready:
        with open(ready + ".tmp", "w") as file:
            file.write(f"{os.getpid()}\n")
        os.rename(ready + ".tmp", ready)
    while True:
        connection, _ = listening.accept()
        with connection, connection.makefile("rw") as stream:
            for line in stream:
                words = line.split()
                try:
                    if words[:1] == ["set"] and len(words) == 3:
                        servers.set(words[1], words[2])
                        answer = "ok"
                    elif words[:1] == ["hits"] and len(words) == 2:
                        answer = f"ok {servers.hits(words[1])}"
                    elif words == ["modes"]:
                        answer = "ok " + " ".join(f"{k}={v}" for k, v in servers.modes().items())
                    elif words == ["quit"]:
                        stream.write("ok\n")
                        stream.flush()
                        return
                    else:
                        answer = f"error unknown command: {line.strip()!r}"
                except (ValueError, OSError) as error:
                    answer = f"error {error}"
                stream.write(answer + "\n")
                stream.flush()


def ctl(path, *words, timeout=10):
    """Sends one control command and returns the answer's text after "ok"; raises on error."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.settimeout(timeout)
        connection.connect(path)
        connection.sendall((" ".join(words) + "\n").encode())
        answer = b""
        while not answer.endswith(b"\n"):
            chunk = connection.recv(4096)
            if not chunk:
                break
            answer += chunk
    text = answer.decode().strip()
    if not text.startswith("ok"):
        raise RuntimeError(f"backend {path}: {' '.join(words)}: {text or 'no answer'}")
    return text[2:].strip()


def main(argv):
    if len(argv) >= 2 and argv[1] == "serve":
        args = argv[2:]
        control = ready = None
        specs = []
        while args:
            if args[0] == "--control" and len(args) > 1:
                control, args = args[1], args[2:]
            elif args[0] == "--ready" and len(args) > 1:
                ready, args = args[1], args[2:]
            else:
                specs.append(args[0])
                args = args[1:]
        if not control:
            print("backend.py serve: --control SOCKET is required", file=sys.stderr)
            return 2
        serve(control, ready, specs)
        return 0
    if len(argv) >= 4 and argv[1] == "ctl":
        try:
            print(ctl(argv[2], *argv[3:]))
        except (OSError, RuntimeError) as error:
            print(f"backend.py: {error}", file=sys.stderr)
            return 1
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))

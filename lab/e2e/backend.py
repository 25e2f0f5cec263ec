#!/usr/bin/python3
"""Controllable HTTP real servers for the end-to-end tests and the demo.

One process serves any number of ADDRESS:PORT listeners (127.0.0.x in the lab, where every
127/8 address is local). Each listener is in one mode, changed at run time over a control
socket without restarting anything:

    up      answers every request "HTTP/1.0 200 OK" with the body "OK ADDRESS:PORT\\n"
    error   answers "HTTP/1.0 500 Internal Server Error"
    wrong   answers 200 with a body that does not contain "OK" (a receive= mismatch)
    hang    accepts the connection and never answers (until the client gives up)
    refuse  does not listen at all: connects are refused (the socket is closed)

    backend.py serve --control SOCKET [--ready FILE] [ADDRESS:PORT[=MODE] ...]
    backend.py ctl SOCKET set ADDRESS:PORT MODE     # also adds a new listener
    backend.py ctl SOCKET hits ADDRESS:PORT         # requests answered so far (any mode)
    backend.py ctl SOCKET modes                      # every listener and its mode

The control protocol is one line per request on a Unix stream socket ("set A:P MODE",
"hits A:P", "modes", "quit"), answered by one line ("ok ...", "error ...").
Only the Python standard library is used: the lab runs the host's /usr/bin/python3.
"""

import asyncio
import os
import socket
import sys

MODES = ("up", "error", "wrong", "hang", "refuse")


class Listener:
    def __init__(self, address, port):
        self.address = address
        self.port = port
        self.mode = "refuse"
        self.server = None
        self.hits = 0
        self.open = set()  # writers of connections being served (hang ones included)

    @property
    def name(self):
        return f"{self.address}:{self.port}"

    async def set_mode(self, mode):
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r} (expected one of {', '.join(MODES)})")
        self.mode = mode
        if mode == "refuse":
            if self.server is not None:
                self.server.close()
                await self.server.wait_closed()
                self.server = None
            # Connections already accepted are cut too: a refusing server is gone.
            for writer in list(self.open):
                writer.transport.abort()
        elif self.server is None:
            family = socket.AF_INET6 if ":" in self.address else socket.AF_INET
            self.server = await asyncio.start_server(
                self.serve, self.address, self.port, family=family, reuse_address=True, backlog=128
            )
        if mode != "hang":
            # Hanging connections end when the mode changes, as a process that recovers would.
            for writer in list(self.open):
                if getattr(writer, "hanging", False):
                    writer.transport.abort()

    async def serve(self, reader, writer):
        self.open.add(writer)
        try:
            request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=30)
        except Exception:
            self.open.discard(writer)
            writer.transport.abort()
            return
        mode = self.mode
        try:
            if mode == "hang":
                writer.hanging = True
                # Hold the connection, answering nothing, until the client closes it or the
                # mode changes (which aborts the transport).
                await reader.read()
                return
            self.hits += 1
            head = request.split(b"\r\n", 1)[0].decode("latin-1", "replace")
            if mode == "up":
                status, body = "200 OK", f"OK {self.name}\n"
            elif mode == "wrong":
                status, body = "200 OK", f"MAINTENANCE {self.name}\n"
            else:
                status, body = "500 Internal Server Error", f"failing {self.name}\n"
            if head.startswith("HEAD "):
                payload = b""
            else:
                payload = body.encode()
            writer.write(
                (
                    f"HTTP/1.0 {status}\r\nContent-Type: text/plain\r\n"
                    f"Content-Length: {len(body.encode())}\r\nConnection: close\r\n\r\n"
                ).encode()
                + payload
            )
            await writer.drain()
        except Exception:
            pass
        finally:
            self.open.discard(writer)
            try:
                writer.close()
            except Exception:
                pass


def parse_endpoint(text):
    address, _, port = text.rpartition(":")
    if not address or not port.isdigit():
        raise ValueError(f"not ADDRESS:PORT: {text!r}")
    return address.strip("[]"), int(port)


async def serve(control, ready, specs):
    listeners = {}

    async def listener(text):
        address, port = parse_endpoint(text)
        key = f"{address}:{port}"
        if key not in listeners:
            listeners[key] = Listener(address, port)
        return listeners[key]

    for spec in specs:
        endpoint, _, mode = spec.partition("=")
        await (await listener(endpoint)).set_mode(mode or "up")

    stop = asyncio.Event()

    async def command(reader, writer):
        try:
            while line := await reader.readline():
                words = line.decode().split()
                try:
                    if words[:1] == ["set"] and len(words) == 3:
                        await (await listener(words[1])).set_mode(words[2])
                        answer = "ok"
                    elif words[:1] == ["hits"] and len(words) == 2:
                        answer = f"ok {(await listener(words[1])).hits}"
                    elif words == ["modes"]:
                        answer = "ok " + " ".join(f"{k}={v.mode}" for k, v in sorted(listeners.items()))
                    elif words == ["quit"]:
                        answer = "ok"
                        stop.set()
                    else:
                        answer = f"error unknown command: {line.decode().strip()!r}"
                except (ValueError, OSError) as error:
                    answer = f"error {error}"
                writer.write((answer + "\n").encode())
                await writer.drain()
        finally:
            writer.close()

    if os.path.exists(control):
        os.unlink(control)
    server = await asyncio.start_unix_server(command, control)
    if ready:
        with open(ready + ".tmp", "w") as file:
            file.write(f"{os.getpid()}\n")
        os.rename(ready + ".tmp", ready)
    async with server:
        await stop.wait()


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
        asyncio.run(serve(control, ready, specs))
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

#!/usr/bin/env python3
"""directord's fake servers, one set for every test suite and the benchmark's helpers.

    test_servers.py faults                 the checker tests' servers (below)
    test_servers.py hostile                hostile HTTP backends (below)
    test_servers.py web DIRECTORY [PORT]   static files from DIRECTORY (PORT 0: any free port)
    test_servers.py smtp-recorder FILE     one SMTP session, every line it is told written to FILE;
                                           exits when the session ends

Each prints one JSON line once it listens ({"ports": {name: port}, ...}) and serves until its
stdin closes (the test process ended, or DirectordTestSupport's TestServerProcess stopped it);
a port it cannot bind is an error on stderr and exit status 1. Started from Swift by
TestServerProcess (Sources/DirectordTestSupport).

faults: real servers with the faults a real pool shows, for directord's checker tests. Also
prints the TLS CA files ("ca", "other_ca").

HTTP (plain on 127.0.0.1 and ::1, TLS on 127.0.0.1 with a certificate from a throw-away CA for
the names check.example, 127.0.0.1 and ::1), by path:
  /ok                 200, body "OK healthy"
  /status/NNN         status NNN
  /body/TEXT          200, body TEXT (URL-decoded)
  /empty              200, empty body
  /hang               reads the request and never answers
  /drip               200 headers, then one body byte every 0.5 s, forever
  /slow/SECONDS       waits, then 200 "OK slow"
  /reset              reads the request and resets the connection (RST)
  /close              reads the request and closes without answering
  /redirect/N         302 to /redirect/N-1; /redirect/0 is 200 "OK redirected"
  /redirect-loop      302 to itself
  /huge               200, 8 MiB body, "NEEDLE" only in its last bytes
  /headers            200, body "METHOD PATH Host=HOST" (what the check sent)
  /header-lines       200, body the request's header lines, one per line, as sent
  absolute-URI requests (a proxy request) get 200 "proxied URL Host=HOST"
DNS (UDP and TCP on one port): www.example.com A 192.0.2.10 and .11, 192.0.2.10 PTR
www.example.com, big.example.com truncated over UDP, servfail.example.com SERVFAIL,
silent.example.com never answered, anything else NXDOMAIN.
SIP (UDP and TCP on one port): OPTIONS gets 200 OK, 486 for sip:busy..., 400 when the Via
does not name the sender's address and port.
RADIUS (UDP, secret testing123): Access-Accept for tester/secret, Access-Reject otherwise,
nothing for user silent or a request without a valid Message-Authenticator.
LDAP (plain, and TLS for ldaps): simple binds, anonymous or cn=monitor,dc=example,dc=org with
password secret; base searches find dc=example,dc=org and cn=monitor,dc=example,dc=org;
ldap_slow and ldaps_slow answer each message after 0.4 s.
POP3 and IMAP, plain (pop, imap) and over TLS (pops, imaps): user tester, password secret.
HAProxy agents: agent says "75% drain # busy" (with an escape sequence), agent_partial "up"
without a line end, agent_closed nothing, each then closes.
Other services: smtp, smtp_bad (554 greeting), nntp, nntp_bad, ftp, simpletcp,
silent (accepts, reads, never says anything, closes when the client does), hold (accepts and
does nothing), tls_hold (completes a TLS handshake, then does nothing), backlog (a full listen
queue: connects hang).

hostile: what a broken or malicious backend does to a health checker, one port each:
  healthy     200 OK, "OK"
  continue    HTTP/1.1 100 Continue, for ever, as fast as it can
  drip        an endless header, one byte every 10 ms
  flood       an endless header, as fast as it can
  chunks      200 OK with an endless chunked body
  garbage     random bytes, for ever
  hang        accepts and never answers
  reset       accepts and resets the connection
  escape      500 with a reason phrase that would drive a terminal (ESC ] 0 ; ... BEL)
"""
import asyncio
import functools
import hashlib
import hmac
import json
import os
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import urllib.parse
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

REASONS = {200: "OK", 302: "Found", 404: "Not Found", 500: "Internal Server Error", 503: "Service Unavailable"}
writers = set()


async def read_request(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    headers[""] = lines[1:]
    return method, target, headers


def response(status, body=b"", extra=""):
    reason = REASONS.get(status, "Whatever")
    head = f"HTTP/1.1 {status} {reason}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n{extra}\r\n"
    return head.encode() + body


def reset(writer):
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def http(reader, writer):
    writers.add(writer)
    try:
        method, target, headers = await read_request(reader)
        host = headers.get("host", "")
        body = None
        if target.startswith("http://") or target.startswith("https://"):
            writer.write(response(200, f"proxied {target} Host={host}".encode()))
        elif target == "/ok":
            writer.write(response(200, b"OK healthy\n"))
        elif target.startswith("/status/"):
            status = int(target.split("/")[2])
            location = "Location: /ok\r\n" if 300 <= status < 400 else ""
            writer.write(response(status, f"status {status}\n".encode(), location))
        elif target.startswith("/body/"):
            writer.write(response(200, urllib.parse.unquote_to_bytes(target[6:])))
        elif target == "/empty":
            writer.write(response(200))
        elif target == "/hang":
            await asyncio.sleep(3600)
        elif target == "/drip":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
            while True:
                writer.write(b"x")
                await writer.drain()
                await asyncio.sleep(0.5)
        elif target.startswith("/slow/"):
            await asyncio.sleep(float(target.split("/")[2]))
            writer.write(response(200, b"OK slow\n"))
        elif target == "/reset":
            reset(writer)
            return
        elif target == "/close":
            writer.close()
            return
        elif target.startswith("/redirect/"):
            left = int(target.split("/")[2])
            if left == 0:
                writer.write(response(200, b"OK redirected\n"))
            else:
                writer.write(response(302, b"", f"Location: /redirect/{left - 1}\r\n"))
        elif target == "/redirect-loop":
            writer.write(response(302, b"", "Location: /redirect-loop\r\n"))
        elif target == "/huge":
            size = 8 << 20
            writer.write(f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n".encode())
            chunk = b"a" * (1 << 16)
            for _ in range(size // len(chunk) - 1):
                writer.write(chunk)
                await writer.drain()
            writer.write(b"a" * (len(chunk) - 6) + b"NEEDLE")
        elif target == "/chunked":
            parts = [b"OK ", b"chunked ", b"healthy\n"]
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            for part in parts:
                writer.write(b"%x; ext=1\r\n" % len(part) + part + b"\r\n")
                await writer.drain()
                await asyncio.sleep(0.01)
            writer.write(b"0\r\nX-Trailer: yes\r\n\r\n")
        elif target == "/until-close":
            writer.write(b"HTTP/1.0 200 OK\r\n\r\nOK until close\n")
        elif target == "/continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            await writer.drain()
            await asyncio.sleep(0.01)
            writer.write(response(200, b"OK after continue\n"))
        elif target == "/garbage":
            writer.write(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")
        elif target == "/short":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nOK but short")
        elif target == "/headers":
            writer.write(response(200, f"{method} {target} Host={host}".encode()))
        elif target == "/header-lines":
            writer.write(response(200, "\n".join(line for line in headers[""] if line).encode()))
        else:
            writer.write(response(404, b"not found\n"))
        await writer.drain()
        writer.close()
    except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ssl.SSLError):
        writer.close()
    finally:
        writers.discard(writer)


async def line_service(reader, writer, greeting, handle):
    """A text protocol: a greeting, then one reply per command line until QUIT/LOGOUT."""
    writers.add(writer)
    try:
        if greeting:
            writer.write(greeting.encode())
        await writer.drain()
        while True:
            line = await reader.readline()
            if not line:
                break
            reply, done = handle(line.decode("latin-1").rstrip("\r\n"))
            if reply:
                writer.write(reply.encode())
                await writer.drain()
            if done:
                break
        writer.close()
    except ConnectionError:
        pass
    finally:
        writers.discard(writer)


def smtp(line):
    verb = line.split(" ")[0].upper()
    if verb in ("EHLO", "HELO"):
        return "250-test.example\r\n250 SIZE 1000\r\n", False
    if verb == "QUIT":
        return "221 bye\r\n", True
    return "500 what\r\n", False


def make_pop():
    state = {}

    def pop(line):
        verb, _, argument = line.partition(" ")
        verb = verb.upper()
        if verb == "USER":
            state["user"] = argument
            return "+OK\r\n", False
        if verb == "PASS":
            if state.get("user") == "tester" and argument == "secret":
                return "+OK logged in\r\n", False
            return "-ERR [AUTH] invalid login\r\n", False
        if verb == "CAPA":
            return "+OK capabilities follow\r\nUSER\r\n.\r\n", False
        if verb == "QUIT":
            return "+OK bye\r\n", True
        return "-ERR what\r\n", False

    return pop


def imap(line):
    tag, _, rest = line.partition(" ")
    if rest.upper() == "CAPABILITY":
        return f"* CAPABILITY IMAP4rev1\r\n{tag} OK done\r\n", False
    if rest.upper().startswith("LOGIN"):
        # Quoted strings (directord's imap check) or atoms (libcurl's, for imaps).
        if rest in ('LOGIN "tester" "secret"', "LOGIN tester secret"):
            return f"* CAPABILITY IMAP4rev1\r\n{tag} OK logged in\r\n", False
        return f"{tag} NO [AUTHENTICATIONFAILED] invalid\r\n", False
    if rest.upper().startswith("LOGOUT"):
        return f"* BYE\r\n{tag} OK bye\r\n", True
    return f"{tag} BAD what\r\n", False


def agent(reply):
    """A HAProxy agent: says `reply` as soon as a client connects, then closes."""
    async def handler(reader, writer):
        writers.add(writer)
        try:
            writer.write(reply)
            await writer.drain()
            writer.close()
        except ConnectionError:
            pass
    return handler


async def simpletcp(reader, writer):
    """Reads the request until EOF, then answers with lines that depend on it."""
    writers.add(writer)
    try:
        request = await reader.read()
        if request == b"status\n":
            writer.write(b"hello\nstatus: running\nbye\n")
        elif request == b"partial":
            writer.write(b"no newline here: ready")
        else:
            writer.write(b"unknown request: " + request.replace(b"\n", b"\\n") + b"\n")
        await writer.drain()
        writer.close()
    except ConnectionError:
        pass
    finally:
        writers.discard(writer)


async def ftp(reader, writer):
    writers.add(writer)
    data_server = None
    try:
        writer.write(b"220-Welcome\r\n220 test FTP\r\n")
        user = None
        pending = asyncio.get_running_loop().create_future()
        while True:
            line = (await reader.readline()).decode("latin-1").rstrip("\r\n")
            if not line:
                break
            verb, _, argument = line.partition(" ")
            verb = verb.upper()
            if verb == "USER":
                user = argument
                writer.write(b"331 password please\r\n")
            elif verb == "PASS":
                if user == "anonymous" or (user, argument) == ("tester", "secret"):
                    writer.write(b"230 logged in\r\n")
                else:
                    writer.write(b"530 Login incorrect.\r\n")
            elif verb == "TYPE":
                writer.write(b"200 binary\r\n")
            elif verb in ("PASV", "EPSV"):
                pending = asyncio.get_running_loop().create_future()

                async def accept(data_reader, data_writer, pending=pending):
                    if not pending.done():
                        pending.set_result(data_writer)

                host = "::1" if verb == "EPSV" else "127.0.0.1"
                data_server = await asyncio.start_server(accept, host, 0)
                port = data_server.sockets[0].getsockname()[1]
                if verb == "PASV":
                    writer.write(f"227 Entering Passive Mode (10,9,8,7,{port >> 8},{port & 255})\r\n".encode())
                else:
                    writer.write(f"229 Entering Extended Passive Mode (|||{port}|)\r\n".encode())
            elif verb == "RETR":
                files = {"/health.txt": b"status: healthy\n", "/big.txt": b"x" * 100000 + b"\nTAIL\n"}
                if argument not in files:
                    writer.write(b"550 No such file\r\n")
                else:
                    writer.write(b"150 here it comes\r\n")
                    await writer.drain()
                    data_writer = await pending
                    data_writer.write(files[argument])
                    await data_writer.drain()
                    data_writer.close()
                    writer.write(b"226 Transfer complete\r\n")
            elif verb == "QUIT":
                writer.write(b"221 bye\r\n")
                await writer.drain()
                break
            else:
                writer.write(b"502 not implemented\r\n")
            await writer.drain()
        writer.close()
    except ConnectionError:
        pass
    finally:
        if data_server:
            data_server.close()
        writers.discard(writer)


async def hold(reader, writer):
    """Accepts and does nothing at all, not even read."""
    writers.add(writer)
    await asyncio.sleep(3600)


async def silent(reader, writer):
    writers.add(writer)
    try:
        await reader.read()
    except ConnectionError:
        pass
    writer.close()
    writers.discard(writer)


DNS_RECORDS = {
    ("www.example.com", 1): [("A", "192.0.2.10"), ("A", "192.0.2.11")],
    ("10.2.0.192.in-addr.arpa", 12): [("PTR", "www.example.com")],
    ("big.example.com", 1): [("A", f"198.51.100.{n}") for n in range(1, 41)],
}


def dns_answer(query, over_tcp):
    """The answer to a query for DNS_RECORDS: NXDOMAIN for unknown names, SERVFAIL for
    servfail.example.com, truncated over UDP for big.example.com, silence for silent.example.com."""
    labels, position = [], 12
    while query[position]:
        length = query[position]
        labels.append(query[position + 1:position + 1 + length].decode())
        position += 1 + length
    question_end = position + 5
    name = ".".join(labels).lower()
    qtype = struct.unpack("!H", query[position + 1:position + 3])[0]
    if name == "silent.example.com":
        return None
    records = DNS_RECORDS.get((name, qtype), [])
    rcode = 0 if records else 3
    if name == "servfail.example.com":
        rcode, records = 2, []
    truncated = name == "big.example.com" and not over_tcp
    if truncated:
        records = []
    flags = 0x8180 | rcode | (0x0200 if truncated else 0)
    answer = query[:2] + struct.pack("!HHHHH", flags, 1, len(records), 0, 0) + query[12:question_end]
    for kind, value in records:
        if kind == "A":
            rdata = socket.inet_aton(value)
            answer += b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + rdata
        else:
            rdata = b"".join(bytes([len(label)]) + label.encode() for label in value.split(".")) + b"\0"
            answer += b"\xc0\x0c" + struct.pack("!HHIH", 12, 1, 60, len(rdata)) + rdata
    return answer


class DNSProtocol(asyncio.DatagramProtocol):
    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, address):
        answer = dns_answer(data, over_tcp=False)
        if answer:
            self.transport.sendto(answer, address)


async def dns_tcp(reader, writer):
    writers.add(writer)
    try:
        length = struct.unpack("!H", await reader.readexactly(2))[0]
        answer = dns_answer(await reader.readexactly(length), over_tcp=True)
        if answer:
            writer.write(struct.pack("!H", len(answer)) + answer)
            await writer.drain()
            writer.close()
        else:
            await asyncio.sleep(3600)
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writers.discard(writer)


def sip_answer(request, source):
    """200 OK to OPTIONS (486 for users named busy*), 400 when the Via does not name the
    address and port the request came from."""
    lines = request.decode("latin-1").split("\r\n")
    method, uri, _ = lines[0].split(" ", 2)
    via = next((line for line in lines if line.startswith("Via: ")), "")
    host = f"[{source[0]}]" if ":" in source[0] else source[0]
    if f" {host}:{source[1]};" not in via:
        status = "400 Bad Via"
    elif method != "OPTIONS":
        status = "405 Method Not Allowed"
    elif uri.startswith("sip:busy"):
        status = "486 Busy Here"
    else:
        status = "200 OK"
    return f"SIP/2.0 {status}\r\n{via}\r\nContent-Length: 0\r\n\r\n".encode()


class SIPProtocol(asyncio.DatagramProtocol):
    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, address):
        self.transport.sendto(sip_answer(data, address), address)


async def sip_tcp(reader, writer):
    writers.add(writer)
    try:
        request = await reader.readuntil(b"\r\n\r\n")
        writer.write(sip_answer(request, writer.get_extra_info("peername")))
        await writer.drain()
        await reader.read()
        writer.close()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writers.discard(writer)


RADIUS_SECRET = b"testing123"


def radius_answer(packet):
    """Access-Accept for tester/secret, Access-Reject otherwise, nothing for user silent;
    None also when the Message-Authenticator is missing or wrong (a BlastRADIUS-hardened server)."""
    code, identifier, length = packet[0], packet[1], struct.unpack("!H", packet[2:4])[0]
    authenticator, attributes = packet[4:20], {}
    offset, signature = 20, None
    while offset + 2 <= length:
        kind, size = packet[offset], packet[offset + 1]
        attributes[kind] = packet[offset + 2:offset + size]
        if kind == 80:
            signature = (offset + 2, packet[offset + 2:offset + size])
        offset += size
    if code != 1 or signature is None:
        return None
    unsigned = packet[:signature[0]] + bytes(16) + packet[signature[0] + 16:length]
    if not hmac.compare_digest(hmac.new(RADIUS_SECRET, unsigned, hashlib.md5).digest(), signature[1]):
        return None
    user = attributes.get(1, b"").decode()
    hidden, password, previous = attributes.get(2, b""), b"", authenticator
    for start in range(0, len(hidden), 16):
        mask = hashlib.md5(RADIUS_SECRET + previous).digest()
        block = hidden[start:start + 16]
        password += bytes(a ^ b for a, b in zip(block, mask))
        previous = block
    password = password.rstrip(b"\0")
    if user == "silent":
        return None
    if (user, password) == ("tester", b"secret"):
        reply_code, message = 2, b"welcome"
    else:
        reply_code, message = 3, b"bad password"
    reply_attributes = bytes([18, len(message) + 2]) + message
    header = struct.pack("!BBH", reply_code, identifier, 20 + len(reply_attributes))
    signature = hashlib.md5(header + authenticator + reply_attributes + RADIUS_SECRET).digest()
    return header + signature + reply_attributes


class RADIUSProtocol(asyncio.DatagramProtocol):
    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, address):
        answer = radius_answer(data)
        if answer:
            self.transport.sendto(answer, address)


def ber(tag, content):
    """One BER element with a definite length."""
    if len(content) < 128:
        length = bytes([len(content)])
    else:
        encoded = len(content).to_bytes((len(content).bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(encoded)]) + encoded
    return bytes([tag]) + length + content


def ber_read(data, offset):
    """(tag, content, next offset) of the BER element at offset."""
    tag, length, offset = data[offset], data[offset + 1], offset + 2
    if length & 0x80:
        count = length & 0x7F
        length, offset = int.from_bytes(data[offset:offset + count], "big"), offset + count
    return tag, data[offset:offset + length], offset + length


def ldap_result(message_id, operation, code, text=b""):
    body = ber(0x0A, bytes([code])) + ber(0x04, b"") + ber(0x04, text)
    return ber(0x30, ber(0x02, bytes([message_id])) + ber(operation, body))


async def ldap(reader, writer, delay=0):
    """Simple binds (anonymous, or cn=monitor,dc=example,dc=org / secret) and base searches:
    dc=example,dc=org and cn=monitor,dc=example,dc=org exist, everything else does not.
    Each answer waits `delay` seconds."""
    writers.add(writer)
    try:
        while True:
            head = await reader.readexactly(2)
            if head[1] & 0x80:
                extra = await reader.readexactly(head[1] & 0x7F)
                length = int.from_bytes(extra, "big")
                head += extra
            else:
                length = head[1]
            message = head + await reader.readexactly(length)
            _, sequence, _ = ber_read(message, 0)
            _, message_id, offset = ber_read(sequence, 0)
            message_id = int.from_bytes(message_id, "big")
            operation, body, _ = ber_read(sequence, offset)
            if delay:
                await asyncio.sleep(delay)
            if operation == 0x60:  # BindRequest: version, name, simple password [0]
                _, _, position = ber_read(body, 0)
                _, name, position = ber_read(body, position)
                _, password, _ = ber_read(body, position)
                good = name == b"" or (name, password) == (b"cn=monitor,dc=example,dc=org", b"secret")
                writer.write(ldap_result(message_id, 0x61, 0 if good else 49, b"" if good else b"invalid credentials"))
            elif operation == 0x63:  # SearchRequest: baseObject first
                _, base, _ = ber_read(body, 0)
                if base in (b"dc=example,dc=org", b"cn=monitor,dc=example,dc=org"):
                    entry = ber(0x64, ber(0x04, base) + ber(0x30, b""))
                    writer.write(ber(0x30, ber(0x02, bytes([message_id])) + entry))
                    writer.write(ldap_result(message_id, 0x65, 0))
                else:
                    writer.write(ldap_result(message_id, 0x65, 32, b"no such object"))
            elif operation == 0x42:  # UnbindRequest
                break
            await writer.drain()
        writer.close()
    except (ConnectionError, asyncio.IncompleteReadError, IndexError):
        writer.close()
    finally:
        writers.discard(writer)


def make_certificates(directory):
    def run(*arguments):
        subprocess.run(["openssl", *arguments], check=True, capture_output=True)

    ca_key, ca_cert = f"{directory}/ca.key", f"{directory}/ca.pem"
    key, csr, cert = f"{directory}/server.key", f"{directory}/server.csr", f"{directory}/server.pem"
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca_cert,
        "-days", "2", "-subj", "/CN=directord test CA")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=check.example")
    with open(f"{directory}/san.ext", "w") as ext:
        ext.write("subjectAltName=DNS:check.example,IP:127.0.0.1,IP:::1\n")
    run("x509", "-req", "-in", csr, "-CA", ca_cert, "-CAkey", ca_key, "-CAcreateserial",
        "-out", cert, "-days", "2", "-extfile", f"{directory}/san.ext")
    # A second, unrelated CA: verification against it must fail.
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{directory}/other.key",
        "-out", f"{directory}/other-ca.pem", "-days", "2", "-subj", "/CN=some other CA")
    return ca_cert, cert, key, f"{directory}/other-ca.pem"


async def faults():
    directory = tempfile.mkdtemp(prefix="directord-test-servers-")
    ca, cert, key, other_ca = make_certificates(directory)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)

    async def serve(handler, host="127.0.0.1", **options):
        server = await asyncio.start_server(handler, host, 0, **options)
        return server.sockets[0].getsockname()[1]

    def text(greeting, handle_factory):
        async def handler(reader, writer):
            await line_service(reader, writer, greeting, handle_factory())
        return handler

    ports = {
        "http": await serve(http),
        "http6": await serve(http, "::1"),
        "https": await serve(http, ssl=tls),
        "smtp": await serve(text("220 test.example ESMTP ready\r\n", lambda: smtp)),
        "smtp_bad": await serve(text("554 no service here\r\n", lambda: smtp)),
        "pop": await serve(text("+OK POP3 ready\r\n", make_pop)),
        "imap": await serve(text("* OK [CAPABILITY IMAP4rev1] ready\r\n", lambda: imap)),
        "nntp": await serve(text("200 news.example ready\r\n", lambda: (lambda line: ("205 bye\r\n", True)))),
        "nntp_bad": await serve(text("502 access denied\r\n", lambda: (lambda line: ("205 bye\r\n", True)))),
        "ftp": await serve(ftp),
        "ftp6": await serve(ftp, "::1"),
        "simpletcp": await serve(simpletcp),
        "agent": await serve(agent(b"75% drain # busy\x1b[2J\r\n")),
        "agent_partial": await serve(agent(b"up")),
        "agent_closed": await serve(agent(b"")),
        "silent": await serve(silent),
        "hold": await serve(hold),
        "ldap": await serve(ldap),
        "ldaps": await serve(ldap, ssl=tls),
        "ldap_slow": await serve(lambda reader, writer: ldap(reader, writer, delay=0.4)),
        "ldaps_slow": await serve(lambda reader, writer: ldap(reader, writer, delay=0.4), ssl=tls),
        "pops": await serve(text("+OK POP3 ready\r\n", make_pop), ssl=tls),
        "imaps": await serve(text("* OK [CAPABILITY IMAP4rev1] ready\r\n", lambda: imap), ssl=tls),
        # Completes the TLS handshake, then says nothing.
        "tls_hold": await serve(hold, ssl=tls),
    }

    # DNS on one port, UDP and TCP.
    dns_server = await asyncio.start_server(dns_tcp, "127.0.0.1", 0)
    ports["dns"] = dns_server.sockets[0].getsockname()[1]
    await asyncio.get_running_loop().create_datagram_endpoint(DNSProtocol, local_addr=("127.0.0.1", ports["dns"]))

    # SIP on one port, UDP and TCP.
    sip_server = await asyncio.start_server(sip_tcp, "127.0.0.1", 0)
    ports["sip"] = sip_server.sockets[0].getsockname()[1]
    await asyncio.get_running_loop().create_datagram_endpoint(SIPProtocol, local_addr=("127.0.0.1", ports["sip"]))

    # RADIUS (UDP), secret testing123.
    radius_transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        RADIUSProtocol, local_addr=("127.0.0.1", 0))
    ports["radius"] = radius_transport.get_extra_info("sockname")[1]

    # A listen queue that is full: the kernel drops further SYNs, so connects hang.
    backlog = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    backlog.bind(("127.0.0.1", 0))
    backlog.listen(0)
    ports["backlog"] = backlog.getsockname()[1]
    fillers = []
    for _ in range(4):
        filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        filler.setblocking(False)
        try:
            filler.connect(("127.0.0.1", ports["backlog"]))
        except BlockingIOError:
            pass
        fillers.append(filler)
    await asyncio.sleep(0.2)

    # A port nothing listens on: connects are refused.
    closed = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    closed.bind(("127.0.0.1", 0))
    ports["closed"] = closed.getsockname()[1]
    closed.close()

    print(json.dumps({"ports": ports, "ca": ca, "other_ca": other_ca, "directory": directory}), flush=True)
    await until_stdin_closes()
    shutil.rmtree(directory, ignore_errors=True)
    os._exit(0)


async def until_stdin_closes():
    """Serves until the test process goes away (our stdin closes)."""
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


# MARK: hostile


async def hostile_read_request(reader):
    try:
        await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    except Exception:
        pass


async def forever(writer, chunk, pause=0.0):
    try:
        while True:
            writer.write(chunk)
            await writer.drain()
            if pause:
                await asyncio.sleep(pause)
    except Exception:
        pass
    finally:
        writer.close()


async def hostile_healthy(reader, writer):
    await hostile_read_request(reader)
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nOK")
    await writer.drain()
    writer.close()


async def hostile_continue(reader, writer):
    await hostile_read_request(reader)
    await forever(writer, b"HTTP/1.1 100 Continue\r\n\r\n" * 64)


async def hostile_drip(reader, writer):
    await hostile_read_request(reader)
    writer.write(b"HTTP/1.1 200 OK\r\nX-Drip: ")
    await forever(writer, b"x", pause=0.01)


async def hostile_flood(reader, writer):
    await hostile_read_request(reader)
    writer.write(b"HTTP/1.1 200 OK\r\nX-Flood: ")
    await forever(writer, b"x" * 65536)


async def hostile_chunks(reader, writer):
    await hostile_read_request(reader)
    writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    await forever(writer, b"4000\r\n" + b"y" * 0x4000 + b"\r\n")


async def hostile_garbage(reader, writer):
    await hostile_read_request(reader)
    await forever(writer, os.urandom(65536))


async def hostile_reset(reader, writer):
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.close()


async def hostile_escape(reader, writer):
    await hostile_read_request(reader)
    writer.write(b"HTTP/1.1 500 Bad \x1b]0;pwned\x07\x1b[2J\r\nContent-Length: 0\r\n\r\n")
    await writer.drain()
    writer.close()


HOSTILE = {
    "healthy": hostile_healthy, "continue": hostile_continue, "drip": hostile_drip, "flood": hostile_flood,
    "chunks": hostile_chunks, "garbage": hostile_garbage, "hang": hold, "reset": hostile_reset,
    "escape": hostile_escape,
}


async def hostile():
    ports = {}
    for name, handler in HOSTILE.items():
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        ports[name] = server.sockets[0].getsockname()[1]
    print(json.dumps({"ports": ports}), flush=True)
    await until_stdin_closes()


# MARK: web, smtp-recorder


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


async def web(directory, port=0):
    server = ThreadingHTTPServer(("127.0.0.1", port), functools.partial(QuietHandler, directory=directory))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(json.dumps({"ports": {"web": server.server_address[1]}}), flush=True)
    await until_stdin_closes()


async def smtp_recorder(transcript):
    out = open(transcript, "w")

    async def session(reader, writer):
        def reply(text):
            writer.write((text + "\r\n").encode())

        reply("220 fake ESMTP")
        in_data = False
        while True:
            raw = await reader.readline()
            if not raw:
                break
            line = raw.decode().rstrip("\r\n")
            out.write(line + "\n")
            out.flush()
            if in_data:
                if line == ".":
                    in_data = False
                    reply("250 queued")
                continue
            verb = line.split(" ")[0].upper()
            if verb == "EHLO":
                reply("250-fake")
                reply("250 SIZE 1000000")
            elif verb == "DATA":
                in_data = True
                reply("354 go ahead")
            elif verb == "QUIT":
                reply("221 bye")
                await writer.drain()
                break
            else:
                reply("250 ok")
            await writer.drain()
        writer.close()
        # One session: the transcript is complete when the process has exited.
        out.close()
        os._exit(0)

    server = await asyncio.start_server(session, "127.0.0.1", 0)
    print(json.dumps({"ports": {"smtp": server.sockets[0].getsockname()[1]}}), flush=True)
    await until_stdin_closes()


KINDS = {
    "faults": lambda: faults(),
    "hostile": lambda: hostile(),
    "web": lambda directory, port="0": web(directory, int(port)),
    "smtp-recorder": lambda transcript: smtp_recorder(transcript),
}

if __name__ == "__main__":
    kind = sys.argv[1] if len(sys.argv) > 1 else "faults"
    if kind not in KINDS:
        sys.exit(f"test_servers.py: unknown kind {kind!r}; kinds: {', '.join(KINDS)}")
    try:
        asyncio.run(KINDS[kind](*sys.argv[2:]))
    except OSError as error:
        sys.exit(f"test_servers.py {kind}: {error}")

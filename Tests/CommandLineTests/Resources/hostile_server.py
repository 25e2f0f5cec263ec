"""Hostile HTTP real servers for directord's hostile-backend test, one port each, on 127.0.0.1.

Prints one JSON line {"name": port, ...} once listening, and runs until its stdin closes.
Each one does what a broken or malicious backend does to a health checker:

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
import json
import os
import socket
import struct
import sys


async def read_request(reader):
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


async def healthy(reader, writer):
    await read_request(reader)
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nOK")
    await writer.drain()
    writer.close()


async def continue_(reader, writer):
    await read_request(reader)
    await forever(writer, b"HTTP/1.1 100 Continue\r\n\r\n" * 64)


async def drip(reader, writer):
    await read_request(reader)
    writer.write(b"HTTP/1.1 200 OK\r\nX-Drip: ")
    await forever(writer, b"x", pause=0.01)


async def flood(reader, writer):
    await read_request(reader)
    writer.write(b"HTTP/1.1 200 OK\r\nX-Flood: ")
    await forever(writer, b"x" * 65536)


async def chunks(reader, writer):
    await read_request(reader)
    writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    await forever(writer, b"4000\r\n" + b"y" * 0x4000 + b"\r\n")


async def garbage(reader, writer):
    await read_request(reader)
    await forever(writer, os.urandom(65536))


async def hang(reader, writer):
    await asyncio.sleep(3600)


async def reset(reader, writer):
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.close()


async def escape(reader, writer):
    await read_request(reader)
    writer.write(b"HTTP/1.1 500 Bad \x1b]0;pwned\x07\x1b[2J\r\nContent-Length: 0\r\n\r\n")
    await writer.drain()
    writer.close()


HANDLERS = {
    "healthy": healthy, "continue": continue_, "drip": drip, "flood": flood, "chunks": chunks,
    "garbage": garbage, "hang": hang, "reset": reset, "escape": escape,
}


async def main():
    ports = {}
    for name, handler in HANDLERS.items():
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        ports[name] = server.sockets[0].getsockname()[1]
    print(json.dumps(ports), flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)


asyncio.run(main())

#!/usr/bin/env python3
"""Holds many TLS connections open through a proxy, for loadtest/run.sh.

  idle:     N keep-alive connections, each makes one small GET and then sits idle (RSS per connection).
  longpoll: N concurrent ActiveSync Ping requests that the backend holds for --hold seconds.

Writes one JSON line to --ready-file once every connection is set up (or failed), then, for idle,
keeps the connections until --hold seconds have passed or --stop-file appears; for longpoll, waits
for every response. Prints a JSON summary as the last line of stdout. Every wait is bounded.
"""
import argparse
import asyncio
import json
import os
import ssl
import sys
import time


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["idle", "longpoll"])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--host", default="mail.contoso.lab", help="SNI and Host header")
    p.add_argument("--ca", required=True, help="CA certificate the proxy's certificate chains to")
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--hold", type=float, required=True, help="seconds to hold (idle) / backend hold (longpoll)")
    p.add_argument("--parallel", type=int, default=100, help="connections being set up at once")
    p.add_argument("--ready-file", required=True)
    p.add_argument("--stop-file", default="")
    p.add_argument("--timeout", type=float, default=30.0, help="limit for one connect+request")
    p.add_argument("--no-request", action="store_true", help="idle: only the TLS handshake, no request")
    return p.parse_args()


async def read_response(reader):
    """Reads one HTTP/1.1 response with Content-Length or chunked body; returns the status code."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    return status


class Counter:
    def __init__(self):
        self.ok = 0
        self.errors = {}

    def fail(self, what):
        self.errors[what] = self.errors.get(what, 0) + 1


async def main():
    args = parse_args()
    context = ssl.create_default_context(cafile=args.ca)
    context.set_alpn_protocols(["http/1.1"])
    setup = asyncio.Semaphore(args.parallel)
    counter = Counter()
    writers = []
    pending = []
    started = time.monotonic()

    if args.mode == "idle":
        request = (f"GET /owa/healthcheck.htm HTTP/1.1\r\nHost: {args.host}\r\n\r\n").encode()
    else:
        body = b"\x03\x01j\x00\x00\x0d\x45\x48\x03300\x00\x01\x01"  # a tiny WBXML-ish Ping body
        request = (f"POST /Microsoft-Server-ActiveSync?Cmd=Ping&User=bench&DeviceId=BENCH&DeviceType=Bench"
                   f"&sim-hold={args.hold:g} HTTP/1.1\r\nHost: {args.host}\r\n"
                   f"Content-Type: application/vnd.ms-sync.wbxml\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body

    async def one():
        try:
            async with setup:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", args.port, ssl=context, server_hostname=args.host,
                                            limit=1 << 16), args.timeout)
                if not (args.mode == "idle" and args.no_request):
                    writer.write(request)
                    await writer.drain()
                if args.mode == "idle" and not args.no_request:
                    status = await asyncio.wait_for(read_response(reader), args.timeout)
                    if status != 200:
                        counter.fail(f"status {status}")
                        writer.close()
                        return
            writers.append(writer)
            if args.mode == "longpoll":
                pending.append(reader)
                status = await asyncio.wait_for(read_response(reader), args.hold + args.timeout)
                if status != 200:
                    counter.fail(f"status {status}")
                    return
            counter.ok += 1
        except asyncio.TimeoutError:
            counter.fail("timeout")
        except (OSError, ssl.SSLError, asyncio.IncompleteReadError, ValueError, IndexError) as error:
            counter.fail(type(error).__name__)

    tasks = [asyncio.ensure_future(one()) for _ in range(args.count)]
    # Ready: idle once every connection made its request; longpoll once every request was sent.
    deadline = started + args.timeout + args.count / 50.0
    while time.monotonic() < deadline:
        done = counter.ok + sum(counter.errors.values())
        sent = len(pending) + sum(counter.errors.values())
        if (args.mode == "idle" and done >= args.count) or (args.mode == "longpoll" and sent >= args.count):
            break
        await asyncio.sleep(0.1)
    ready = {"mode": args.mode, "setup_seconds": round(time.monotonic() - started, 2),
             "open": len(writers), "ok": counter.ok, "errors": dict(counter.errors)}
    with open(args.ready_file + ".tmp", "w") as f:
        f.write(json.dumps(ready) + "\n")
    os.replace(args.ready_file + ".tmp", args.ready_file)

    if args.mode == "idle":
        end = time.monotonic() + args.hold
        while time.monotonic() < end and not (args.stop_file and os.path.exists(args.stop_file)):
            await asyncio.sleep(0.1)
    _, late = await asyncio.wait(tasks, timeout=args.hold + args.timeout + 5)
    for task in late:
        task.cancel()
        counter.fail("unfinished")
    for writer in writers:
        writer.close()
    summary = {"mode": args.mode, "count": args.count, "ok": counter.ok, "errors": counter.errors,
               "seconds": round(time.monotonic() - started, 2)}
    print(json.dumps(summary))
    sys.stdout.flush()


if __name__ == "__main__":
    asyncio.run(main())

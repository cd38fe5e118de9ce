#!/usr/bin/env python3
"""The two ends of connections through steer proxy, for tests/kernel/proxy.sh.

    relaypeer.py serve cmd:PORT [sink:PORT ...]    upstream servers on 127.0.0.1, "ready" once listening
    relaypeer.py SCENARIO [options]                a client; prints "RESULT pass|fail ID: text" lines

An upstream "cmd" port reads one request line, then (ID names a connection
whose progress another connection can ask for, directly, with "stat"):

    gen ID N [R]    sends N bytes of the pattern (at R MiB/s at most), then closes
    sink            reads to EOF, replies "SHA256 LENGTH", closes
    echo [ID]       sends back what it reads; at EOF shuts down its write side (and its SHA256 goes in stat ID)
    halfup ID N     sends N bytes, shutdown(SHUT_WR), reads to EOF: its SHA256 and length go in stat ID
    rstwait ID      sends "ready", then waits in recv(): how it ended (reset, eof) goes in stat ID
    rst             sends "ready", reads "go", closes with an RST (SO_LINGER 0)
    whoami          replies its port
    stat ID [wait]  replies the JSON of ID's record (wait: once the record says done, up to 10 s)

A "sink" port is the sink without the request line: everything it reads counts.
The data is a pseudo-random block of a prime length repeated, so a chunk lost,
doubled or moved changes the SHA256. Standard library only.
"""
import argparse
import asyncio
import errno
import hashlib
import json
import os
import random
import resource
import socket
import struct
import sys
import threading
import time

KiB = 1024
MiB = 1024 * KiB
PATTERN = random.Random(20240611).randbytes(1048573)  # a prime length
PAT2 = memoryview(PATTERN + PATTERN)


def chunks(n, size=1 * MiB):
    """N bytes of the pattern, as memoryviews of at most SIZE bytes."""
    pos = 0
    while pos < n:
        off = pos % len(PATTERN)
        k = min(size, n - pos, len(PATTERN))
        yield PAT2[off:off + k]
        pos += k


_sha_cache = {}


def pattern_sha(n):
    if n not in _sha_cache:
        h = hashlib.sha256()
        for c in chunks(n, 8 * MiB):
            h.update(c)
        _sha_cache[n] = h.hexdigest()
    return _sha_cache[n]


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def linger0(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def mb(n):
    return f"{n / MiB:.1f} MiB" if n >= MiB else f"{n} B"


def size_name(n):
    if n >= MiB and n % MiB == 0:
        return f"{n // MiB}MiB"
    if n >= KiB and n % KiB == 0:
        return f"{n // KiB}KiB"
    return f"{n}B"


# ---------------------------------------------------------------- upstream

class Records:
    """What the upstream knows about connections by ID, for "stat"."""

    def __init__(self):
        self.d = {}
        self.done = {}

    def set(self, rid, **kw):
        self.d.setdefault(rid, {}).update(kw)
        if kw.get("done"):
            self.done.setdefault(rid, asyncio.Event()).set()

    async def get(self, rid, wait):
        if wait:
            try:
                await asyncio.wait_for(self.done.setdefault(rid, asyncio.Event()).wait(), 10)
            except asyncio.TimeoutError:
                pass
        return dict(self.d.get(rid, {}))


RECORDS = Records()


async def aread_to_eof(reader, first=b""):
    h = hashlib.sha256(first)
    n = len(first)
    while True:
        d = await reader.read(1 * MiB)
        if not d:
            return h.hexdigest(), n
        h.update(d)
        n += len(d)


async def serve_cmd(reader, writer, port):
    words = (await reader.readline()).decode().split()
    if not words:
        raise EOFError("no request line")
    cmd = words[0]
    if cmd == "gen":
        rid, n = words[1], int(words[2])
        pace = float(words[3]) * MiB if len(words) > 3 else 0  # bytes a second, 0: as fast as it goes
        written = 0
        start = time.monotonic()
        RECORDS.set(rid, written=0, started=start, port=writer.get_extra_info("peername")[1])
        # 256 KiB at a time: "written" is what the socket took, give or take a chunk (never less).
        for c in chunks(n, 256 * KiB):
            writer.write(c)
            written += len(c)
            RECORDS.set(rid, written=written)
            await writer.drain()
            if pace:
                await asyncio.sleep(max(0, start + written / pace - time.monotonic()))
        RECORDS.set(rid, done=True)
    elif cmd == "sink":
        sha, got = await aread_to_eof(reader)
        writer.write(f"{sha} {got}\n".encode())
    elif cmd == "echo":
        h = hashlib.sha256()
        got = 0
        while True:
            d = await reader.read(256 * KiB)
            if not d:
                break
            h.update(d)
            got += len(d)
            writer.write(d)
            await writer.drain()
        if len(words) > 1:
            RECORDS.set(words[1], sha=h.hexdigest(), len=got, done=True)
        writer.write_eof()
    elif cmd == "halfup":
        rid, n = words[1], int(words[2])
        for c in chunks(n, 256 * KiB):
            writer.write(c)
            await writer.drain()
        writer.write_eof()
        RECORDS.set(rid, sent=n, shut_at=time.monotonic())
        sha, got = await aread_to_eof(reader)
        RECORDS.set(rid, sha=sha, len=got, done=True)
    elif cmd == "rstwait":
        rid = words[1]
        writer.write(b"ready\n")
        await writer.drain()
        try:
            d = await asyncio.wait_for(reader.read(4096), 10)
            RECORDS.set(rid, result="eof" if not d else "data", at=time.monotonic(), done=True)
        except ConnectionResetError:
            RECORDS.set(rid, result="reset", at=time.monotonic(), done=True)
        except asyncio.TimeoutError:
            RECORDS.set(rid, result="timeout", at=time.monotonic(), done=True)
    elif cmd == "rst":
        writer.write(b"ready\n")
        await writer.drain()
        await reader.readline()
        linger0(writer.get_extra_info("socket"))
        writer.transport.abort()
    elif cmd == "whoami":
        writer.write(f"{port}\n".encode())
    elif cmd == "stat":
        writer.write((json.dumps(await RECORDS.get(words[1], len(words) > 2)) + "\n").encode())
    else:
        raise ValueError(f"unknown request {words!r}")


async def handle(reader, writer, kind, port):
    try:
        if kind == "sink":
            sha, got = await aread_to_eof(reader)
            writer.write(f"{sha} {got}\n".encode())
        else:
            await serve_cmd(reader, writer, port)
        await writer.drain()
    except (ConnectionResetError, BrokenPipeError):
        pass
    except (OSError, EOFError, ValueError) as e:
        print(f"relaypeer {kind}:{port}: {e!r}", file=sys.stderr, flush=True)
    finally:
        writer.close()


async def aserve(specs):
    for spec in specs:
        kind, port = spec.split(":")
        port = int(port)
        await asyncio.start_server(lambda r, w, k=kind, p=port: handle(r, w, k, p), "127.0.0.1", port,
                                   backlog=4096, limit=1 * MiB, reuse_address=True)
    print("ready", flush=True)
    await asyncio.Event().wait()


def cmd_serve(a):
    raise_nofile()
    asyncio.run(aserve(a.listen))


# ---------------------------------------------------------------- clients

UPSTREAM = "127.0.0.1:9000"  # where "stat" is asked, directly


def addr(text):
    h, p = text.rsplit(":", 1)
    return h, int(p)


class Result:
    def __init__(self):
        self.failed = False

    def __call__(self, ok, cid, text):
        print(f"RESULT {'pass' if ok else 'fail'} {cid}: {text}", flush=True)
        self.failed |= not ok


result = Result()


def conn(a, timeout=20):
    return socket.create_connection(addr(a), timeout=timeout)


def stat(upstream, rid, wait=False):
    """The upstream's record of connection RID, asked directly (not through the proxy)."""
    with conn(upstream, 15) as s:
        s.sendall(f"stat {rid}{' wait' if wait else ''}\n".encode())
        return json.loads(recv_all(s))


def read_to_eof(s):
    """SHA256 and length of what S sends until its EOF."""
    h = hashlib.sha256()
    n = 0
    buf = bytearray(1 * MiB)
    mv = memoryview(buf)
    while True:
        k = s.recv_into(buf)
        if not k:
            return h.hexdigest(), n
        h.update(mv[:k])
        n += k


def recv_all(s):
    buf = b""
    while True:
        d = s.recv(65536)
        if not d:
            return buf
        buf += d


def rid():
    return f"{os.getpid()}-{random.getrandbits(40):x}"


def rate(n, dt):
    return f"{n / MiB / dt:.0f} MiB/s" if dt > 0 and n >= MiB else f"{dt * 1000:.0f} ms"


def damage(sha, got, n):
    """What is wrong with GOT bytes of digest SHA, where the N bytes of the pattern were sent ("": nothing)."""
    if got == n and sha == pattern_sha(n):
        return ""
    if got < 0:
        return "nothing"
    if got < n and sha == pattern_part_sha(0, got):
        return f"{got} bytes, {n - got} short: a clean prefix, the last {n - got} bytes never came"
    return f"{got} bytes, not a prefix of what was sent: bytes lost, doubled or changed inside"


def send_up(a, n):
    """Client to upstream: N bytes, shutdown(SHUT_WR), the sink's SHA256 back."""
    t = time.monotonic()
    with conn(a) as s:
        for c in chunks(n):
            s.sendall(c)
        s.shutdown(socket.SHUT_WR)
        reply = recv_all(s).decode().split()
    dt = time.monotonic() - t
    bad = damage(reply[0], int(reply[1]), n) if len(reply) == 2 else f"a reply {reply!r}"
    return not bad, f"{mb(n)} in {dt:.2f} s, {rate(n, dt)}" + (f"; the upstream read {bad}" if bad else "")


def recv_down(a, n):
    """Upstream to client: a request line, shutdown(SHUT_WR), N bytes back, EOF."""
    t = time.monotonic()
    with conn(a) as s:
        s.sendall(f"gen {rid()} {n}\n".encode())
        s.shutdown(socket.SHUT_WR)
        sha, got = read_to_eof(s)
    dt = time.monotonic() - t
    bad = damage(sha, got, n)
    return not bad, f"{mb(n)} in {dt:.2f} s, {rate(n, dt)}" + (f"; the client got {bad}" if bad else "")


def echo(a, n):
    """Both ways at once: N bytes sent by one thread while another reads the echo."""
    t = time.monotonic()
    err = []
    r = rid()
    with conn(a, 30) as s:
        def sender():
            try:
                s.sendall(f"echo {r}\n".encode())
                for c in chunks(n):
                    s.sendall(c)
                s.shutdown(socket.SHUT_WR)
            except OSError as e:
                err.append(repr(e))
        th = threading.Thread(target=sender)
        th.start()
        try:
            sha, got = read_to_eof(s)
        except OSError as e:
            sha, got = None, -1
            err.append(repr(e))
        th.join()
    dt = time.monotonic() - t
    bad = damage(sha, got, n)
    if bad:
        rec = stat(UPSTREAM, r, wait=True)
        up = damage(rec.get("sha"), rec.get("len", -1), n)
        bad = f"the upstream read {up or 'all of it, right'}; the client got back {bad}" + (f"; errors {err}" if err else "")
    elif err:
        bad = f"errors {err}"
    return not bad, f"{mb(n)} each way in {dt:.2f} s, {rate(n, dt)}" + (f"; {bad}" if bad else "")


def attempt(cid, what, fn, *args):
    """One check: FN's (ok, text), or the exception that ended it."""
    try:
        ok, text = fn(*args)
    except OSError as e:
        ok, text = False, f"{e!r}"
    result(ok, cid, f"{what} {text}")


def sc_transfers(a):
    for n in [0, 1, 64 * KiB, 100 * MiB]:
        attempt(f"c1-up-{size_name(n)}", "client->upstream", send_up, a.sink, n)
    for n in [0, 1, 64 * KiB, 100 * MiB]:
        attempt(f"c1-down-{size_name(n)}", "upstream->client", recv_down, a.via, n)
    attempt("c1-echo-100MiB", "echo", echo, a.via, 100 * MiB)
    if a.big:
        attempt(f"c1-down-{size_name(a.big)}", "upstream->client", recv_down, a.via, a.big)


def sc_halfclose(a):
    """The upstream ends its side first; the client goes on sending after its EOF."""
    r = rid()
    down, up = 8 * MiB, 16 * MiB
    t = time.monotonic()
    with conn(a.via) as s:
        s.sendall(f"halfup {r} {down}\n".encode())
        sha, got = read_to_eof(s)
        eof_at = time.monotonic()
        try:
            for c in chunks(up):
                s.sendall(c)
            s.shutdown(socket.SHUT_WR)
            tail = recv_all(s)
            err = f", then {len(tail)} unexpected bytes" if tail else ""
        except OSError as e:
            err = f"; sending after EOF: {e!r}"
    rec = stat(a.upstream, r, wait=True)
    bad_down = damage(sha, got, down)
    bad_up = damage(rec.get("sha"), rec.get("len", -1), up)
    result(not bad_down and not bad_up and not err, "c2-halfclose-upstream",
           f"upstream sent {mb(down)} and shut down: the client got {bad_down or 'all of it, right'}, "
           f"and EOF after {eof_at - t:.2f} s; the client then sent {mb(up)}: the upstream read {bad_up or 'all of it, right'}{err}")


def sc_rst(a):
    for half in (rst_client, rst_upstream):
        try:
            half(a)
        except OSError as e:
            result(False, half.__name__.replace("rst_", "c3-rst-"), f"{e!r}")


def rst_client(a):
    """The client resets: the upstream's recv() must say ECONNRESET."""
    r = rid()
    s = conn(a.via)
    s.sendall(f"rstwait {r}\n".encode())
    ready = s.recv(16)
    time.sleep(0.05)
    linger0(s)
    t = time.monotonic()
    s.close()
    rec = stat(a.upstream, r, wait=True)
    dt = rec.get("at", t + 99) - t
    result(ready == b"ready\n" and rec.get("result") == "reset" and dt <= 2, "c3-rst-client",
           f"client closed with SO_LINGER 0: upstream's recv got {rec.get('result', 'nothing')} after {dt * 1000:.0f} ms")


def rst_upstream(a):
    """The upstream resets: the client's recv() must say ECONNRESET."""
    s = conn(a.via)
    s.sendall(b"rst\n")
    ready = s.recv(16)
    s.settimeout(5)
    t = time.monotonic()
    s.sendall(b"go\n")
    try:
        d = s.recv(4096)
        what = "EOF" if not d else f"{len(d)} bytes"
    except ConnectionResetError:
        what = "ECONNRESET"
    except socket.timeout:
        what = "nothing (timeout)"
    dt = time.monotonic() - t
    s.close()
    result(ready == b"ready\n" and what == "ECONNRESET" and dt <= 2, "c3-rst-upstream",
           f"upstream closed with SO_LINGER 0: client's recv got {what} after {dt * 1000:.0f} ms")


def sc_refused(a):
    t = time.monotonic()
    try:
        s = conn(a.via, 5)
        try:
            d = s.recv(4096)
            what = "EOF" if not d else f"{len(d)} bytes"
        except ConnectionResetError:
            what = "reset"
        except socket.timeout:
            what = "nothing (timeout)"
        s.close()
    except ConnectionRefusedError:
        what = "refused"
    except ConnectionResetError:
        what = "reset"  # before connect() had returned
    dt = time.monotonic() - t
    result(what in ("reset", "EOF", "refused") and dt <= 1, "c4-refused-upstream",
           f"upstream port closed: client got {what} after {dt * 1000:.0f} ms")


def vmrss(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * KiB
    except OSError:
        pass
    return -1


def tcp_queues():
    """This namespace's TCP sockets: (local port, remote port) -> bytes in their send and receive queues."""
    q = {}
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            w = line.split()
            tx, rx = (int(x, 16) for x in w[4].split(":"))
            q[int(w[1].split(":")[1], 16), int(w[2].split(":")[1], 16)] = tx + rx
    return q


def sc_slow(a):
    n = 64 * MiB
    r = rid()
    h = hashlib.sha256()
    got = 0
    rss = vmrss(a.pid)
    s = socket.socket()
    # The client's own buffer stays small (the kernel doubles it to 512 KiB): what piles up is the proxy's and the upstream's.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 256 * KiB)
    s.settimeout(20)
    s.connect(addr(a.via))
    with s:
        s.sendall(f"gen {r} {n}\n".encode())
        buf = bytearray(256 * KiB)
        mv = memoryview(buf)
        start = time.monotonic()
        for tick in range(30):
            k = 0
            while k < len(buf):
                m = s.recv_into(mv[k:])
                if not m:
                    break
                k += m
            h.update(mv[:k])
            got += k
            rss = max(rss, vmrss(a.pid))
            time.sleep(max(0, start + (tick + 1) * 0.1 - time.monotonic()))
        rec = stat(a.upstream, r)
        queues = tcp_queues()
        written = rec.get("written", -1)
        ahead = written - got
        # The four sockets: the client's, the proxy's two, the upstream's.
        me, up = s.getsockname()[1], rec.get("port", -1)
        inq = sum(v for (lp, rp), v in queues.items() if me in (lp, rp) or up in (lp, rp))
        result(0 <= ahead <= 16 * MiB, "c5-slow-reader-backpressure",
               f"client read {mb(got)} in 3 s; upstream had written {mb(written)}: {mb(ahead)} in between (limit 16 MiB), "
               f"{mb(inq)} of it in the four sockets' queues, about {mb(max(0, ahead - inq))} elsewhere")
        result(0 < rss < 64 * MiB, "c5-slow-reader-rss", f"proxy VmRSS at most {rss / MiB:.1f} MiB (limit 64 MiB)")
        t = time.monotonic()
        rest = 0
        err = ""
        try:
            while True:
                k = s.recv_into(buf)
                if not k:
                    break
                h.update(mv[:k])
                rest += k
        except OSError as e:
            err = f", then {e!r}"
        dt = time.monotonic() - t
    bad = damage(h.hexdigest(), got + rest, n)
    result(not bad and not err, "c5-slow-reader-data", f"then the rest ({mb(rest)}) in {dt:.2f} s: "
           + (f"the client got {bad}" if bad else f"{n} bytes, sha ok") + err)


def pattern_part_sha(a, b):
    """SHA256 of bytes [a, b) of the stream."""
    h = hashlib.sha256()
    pos = a
    while pos < b:
        off = pos % len(PATTERN)
        k = min(b - pos, len(PATTERN))
        h.update(PAT2[off:off + k])
        pos += k
    return h.hexdigest()


def sc_many(a):
    raise_nofile()
    n = a.count
    socks = []
    t = time.monotonic()
    try:
        for _ in range(n):
            socks.append(conn(a.via, 10))
    except OSError as e:
        result(False, "c6-concurrent", f"opened {len(socks)} of {n} connections: {e!r}")
        for s in socks:
            s.close()
        return
    opened = time.monotonic() - t
    bad = 0
    errs = []
    payload = [random.Random(i).randbytes(1 * KiB) for i in range(n)]
    for i, s in enumerate(socks):
        try:
            s.sendall(b"echo\n" + payload[i])
        except OSError as e:
            errs.append(repr(e))
    for i, s in enumerate(socks):
        try:
            buf = b""
            while len(buf) < 1 * KiB:
                d = s.recv(1 * KiB - len(buf))
                if not d:
                    break
                buf += d
            bad += buf != payload[i]
        except OSError as e:
            bad += 1
            errs.append(repr(e))
    for s in socks:
        s.close()
    dt = time.monotonic() - t
    result(bad == 0, "c6-concurrent", f"{n} connections open at once ({opened:.2f} s to open), each echoed 1 KiB: "
           f"{n - bad} right, {bad} wrong, in {dt:.2f} s" + (f"; first errors {errs[:3]}" if errs else ""))


def wait_file(path, timeout):
    end = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > end:
            return False
        time.sleep(0.01)
    return True


def sc_reapply(a):
    """100 MiB at 25 MiB/s: read 10 MiB, touch MARK, wait for GO (the test re-applies meanwhile), read the rest."""
    n = 100 * MiB
    r = rid()
    h = hashlib.sha256()
    got = 0
    with conn(a.via) as s:
        s.sendall(f"gen {r} {n} 25\n".encode())
        buf = bytearray(1 * MiB)
        mv = memoryview(buf)
        while got < 10 * MiB:
            k = s.recv_into(mv[:min(len(buf), 10 * MiB - got)])
            if not k:
                break
            h.update(mv[:k])
            got += k
        open(a.mark, "w").close()
        if not wait_file(a.go, 30):
            result(False, "c7-reapply-transfer", "the test did not say go")
            return
        written = stat(a.upstream, r).get("written", -1)
        s.settimeout(10)
        end = "EOF"
        try:
            while True:
                k = s.recv_into(buf)
                if not k:
                    break
                h.update(mv[:k])
                got += k
        except OSError as e:
            end = repr(e)
    exact = got == n and h.hexdigest() == pattern_sha(n)
    result(exact and 0 <= written < n, "c7-reapply-transfer",
           f"{mb(n)} download (the upstream still writing: {mb(written)} written once the new upstream answered): "
           f"{got} bytes, sha {'ok' if exact else 'BAD'}, then {end}")


def sc_killed(a):
    """100 MiB at 25 MiB/s: touch MARK after 10 MiB; the test kills the upstream and writes the time in GO."""
    n = 100 * MiB
    h = hashlib.sha256()
    got = 0
    marked = False
    with conn(a.via) as s:
        s.sendall(f"gen {rid()} {n} 25\n".encode())
        buf = bytearray(1 * MiB)
        mv = memoryview(buf)
        s.settimeout(10)
        end = "EOF"
        try:
            while True:
                k = s.recv_into(buf)
                if not k:
                    break
                h.update(mv[:k])
                got += k
                if got >= 10 * MiB and not marked:
                    open(a.mark, "w").close()
                    marked = True
        except ConnectionResetError:
            end = "ECONNRESET"
        except socket.timeout:
            end = "nothing for 10 s (hang)"
        except OSError as e:
            end = repr(e)
        at = time.time()
    if not wait_file(a.go, 10):
        result(False, "c8-kill-upstream", f"the test did not kill the upstream; the client got {mb(got)}, then {end}")
        return
    with open(a.go) as f:
        killed = float(f.read().strip() or 0)
    dt = at - killed
    exact = got == n and h.hexdigest() == pattern_sha(n)
    result(got < n and "hang" not in end and dt <= 2, "c8-kill-upstream",
           f"upstream killed mid-stream: the client got {end} {dt * 1000:.0f} ms later, having {mb(got)} of {mb(n)}"
           + (" (all of it: the kill came too late)" if exact else ""))


def sc_whoami(a):
    try:
        with conn(a.via, 5) as s:
            s.sendall(b"whoami\n")
            s.shutdown(socket.SHUT_WR)
            print(recv_all(s).decode().strip())
    except OSError as e:
        print(f"error {e!r}")


def echo_once(s, payload):
    s.sendall(payload)
    buf = b""
    while len(buf) < len(payload):
        d = s.recv(len(payload) - len(buf))
        if not d:
            break
        buf += d
    return buf == payload


def sc_sigterm(a):
    s = conn(a.via, 5)
    s.sendall(b"echo\n")
    first = echo_once(s, b"x" * 1024)
    open(a.mark, "w").close()
    if not wait_file(a.go, 10):
        result(False, "c9-sigterm-live", "the test did not say go")
        return
    t = time.monotonic()
    rounds = ok = 0
    err = ""
    while time.monotonic() - t < 1.0:
        rounds += 1
        try:
            ok += echo_once(s, os.urandom(1024))
        except OSError as e:
            err = repr(e)
            break
        time.sleep(0.1)
    result(first and ok == rounds and not err, "c9-sigterm-live",
           f"live connection after SIGTERM: {ok}/{rounds} echoes right over {time.monotonic() - t:.2f} s{'; ' + err if err else ''}")
    t2 = time.monotonic()
    try:
        n = conn(a.via, 3)
        n.settimeout(3)
        try:
            d = n.recv(16)
            what = "accepted, then EOF" if not d else "accepted, and data"
        except ConnectionResetError:
            what = "accepted, then reset"
        except socket.timeout:
            what = "accepted and left hanging"
        n.close()
    except ConnectionRefusedError:
        what = "refused"
    except ConnectionResetError:
        what = "reset"
    except socket.timeout:
        what = "connect timed out (hang)"
    dt = time.monotonic() - t2
    result(what in ("refused", "reset", "accepted, then reset") and dt <= 1, "c9-sigterm-new",
           f"new connection after SIGTERM: {what} in {dt * 1000:.0f} ms")
    # After the grace the proxy ends the live connection.
    s.settimeout(5)
    try:
        d = s.recv(16)
        end = "EOF" if not d else "data"
    except ConnectionResetError:
        end = "reset"
    except socket.timeout:
        end = "nothing"
    with open(a.mark, "w") as f:
        f.write(f"{end} {time.monotonic() - t:.2f}\n")
    s.close()


def sc_echo_small(a):
    try:
        with conn(a.via, 5) as s:
            s.sendall(b"echo\n")
            good = echo_once(s, b"still there\n")
        result(good, a.id, "a new connection echoes" if good else "a new connection did not echo")
    except OSError as e:
        result(False, a.id, f"a new connection failed: {e!r}")


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    sp = sub.add_parser("serve")
    sp.add_argument("listen", nargs="+")
    for name in ["transfers", "halfclose", "rst", "refused", "slow", "many", "reapply", "killed", "whoami", "sigterm", "echo"]:
        sp = sub.add_parser(name)
        sp.add_argument("--via", default="127.0.0.2:8000")
        sp.add_argument("--sink", default="127.0.0.2:8001")
        sp.add_argument("--upstream", default="127.0.0.1:9000")
        sp.add_argument("--big", type=int, default=0)
        sp.add_argument("--pid", type=int, default=0)
        sp.add_argument("--count", type=int, default=2000)
        sp.add_argument("--mark", default="")
        sp.add_argument("--go", default="")
        sp.add_argument("--id", default="")
    a = p.parse_args()
    global UPSTREAM
    UPSTREAM = getattr(a, "upstream", UPSTREAM)
    if a.cmd == "serve":
        cmd_serve(a)
        return 0
    scenarios = {"transfers": sc_transfers, "halfclose": sc_halfclose, "rst": sc_rst, "refused": sc_refused,
                 "slow": sc_slow, "many": sc_many, "reapply": sc_reapply, "killed": sc_killed, "whoami": sc_whoami,
                 "sigterm": sc_sigterm, "echo": sc_echo_small}
    # The check a scenario's unexpected socket error counts against.
    crash = {"halfclose": "c2-halfclose-upstream", "slow": "c5-slow-reader-data", "reapply": "c7-reapply-transfer",
             "killed": "c8-kill-upstream", "sigterm": "c9-sigterm-live", "refused": "c4-refused-upstream",
             "many": "c6-concurrent", "echo": a.id or "echo"}
    try:
        scenarios[a.cmd](a)
    except OSError as e:
        if a.cmd not in crash:
            raise
        result(False, crash[a.cmd], f"{e!r}")
    return 1 if result.failed else 0


if __name__ == "__main__":
    sys.exit(main())

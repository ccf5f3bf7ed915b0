#!/usr/bin/env python3
"""Drives the echo_lapps example (spec §9.2) with `websockets` and `cbor2`, for
tests/lapps_protocol.rs.

Usage:
    echo_lapps_session.py URL

The session: login admin/admin, echo, subscribe to the time on cid 5 and to the blob on cid 6,
logout. Every answer is checked exactly; the OONs must come within 2 s and 6 s of
subscribing, with `cid` encoded as a CBOR integer (cbor2 decodes those as int, floats as
float), and the logout must end with Close 1000.

Prints one line per check. Exit status: 0 when every check passed, 1 when one failed, 2 when
a package is missing (the Rust test turns that into a failure with a hint).
"""

import sys
import time

try:
    import cbor2
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect
except ImportError as error:
    print(
        f"a Python package is missing ({error}); install websockets and cbor2 with "
        "`python3 -m pip install websockets cbor2` (./test.sh does)",
        file=sys.stderr,
    )
    sys.exit(2)


def check(what, got, want):
    if got != want or type(got) is not type(want):
        shown = repr(got) if len(repr(got)) < 300 else f"{repr(got)[:300]}..."
        raise AssertionError(f"{what}: got {shown}, want {want!r:.300}")


def blob():
    """The ASCII art broadcast_blob.lua draws: 64 rows of 79 cells, '#' where row * col is a
    multiple of 7."""
    return "\n".join(
        "".join("#" if row * col % 7 == 0 else "." for col in range(1, 80))
        for row in range(1, 65)
    )


def oon_prefix(cid):
    """A map of two, the key "cid", and cid as a one-byte CBOR integer (spec §4.8)."""
    return bytes([0xA2, 0x63]) + b"cid" + bytes([cid])


def recv(ws, timeout):
    raw = ws.recv(timeout=timeout)
    if not isinstance(raw, bytes):
        raise AssertionError(f"a text message: {raw!r:.200}")
    return raw, cbor2.loads(raw)


def check_time(raw, message):
    check("time OON bytes", raw[:6], oon_prefix(5))
    check("time OON cid", message["cid"], 5)
    line = message["message"]
    if not (isinstance(line, list) and len(line) == 1 and line[0].startswith("Server time: ")):
        raise AssertionError(f"not a time OON: {message!r}")
    check("time OON", message, {"cid": 5, "message": line})


def check_blob(raw, message):
    check("blob OON bytes", raw[:6], oon_prefix(6))
    check("blob OON cid", message["cid"], 6)
    items = message["message"]
    if not (isinstance(items, list) and len(items) == 3):
        raise AssertionError(f"not a blob OON: {message!r:.300}")
    counter, now, art = items
    if not (type(counter) is int and counter >= 1):
        raise AssertionError(f"counter {counter!r}")
    # time.now(): integral milliseconds, so an int on the wire.
    if not (type(now) is int and abs(now - time.time() * 1000) < 60_000):
        raise AssertionError(f"time {now!r}")
    check("blob", art, blob())
    check("blob OON", message, {"cid": 6, "message": [counter, now, art]})


def session(url):
    with connect(url, compression=None, open_timeout=5, close_timeout=5) as ws:
        ws.send(cbor2.dumps({"lapps": 1, "method": "login",
                             "params": [{"user": "admin", "password": "admin"}]}))
        _, answer = recv(ws, 5)
        key = answer["result"][0]["authkey"]
        if not (isinstance(key, str) and len(key) == 16
                and all(c in "0123456789abcdefABCDEF" for c in key)):
            raise AssertionError(f"authkey {key!r}")
        check("login", answer, {"cid": 0, "status": 1, "result": [{"authkey": key}]})
        print("ok login")

        params = [{"authkey": key}, 1, "two", {"three": 3.5}]
        ws.send(cbor2.dumps({"lapps": 1, "method": "echo", "params": params}))
        _, answer = recv(ws, 5)
        check("echo", answer, {"cid": 0, "status": 1, "result": params})
        check("echo int", type(answer["result"][1]), int)
        print("ok echo")

        ws.send(cbor2.dumps({"lapps": 1, "method": "subscribe", "params": [{"authkey": key}],
                             "cid": 5}))
        raw, message = recv(ws, 2)
        check_time(raw, message)
        print("ok time OON")

        ws.send(cbor2.dumps({"lapps": 1, "method": "subscribe", "params": [{"authkey": key}],
                             "cid": 6}))
        deadline = time.monotonic() + 6
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no blob OON within 6 s")
            raw, message = recv(ws, left)
            if message.get("cid") == 6:
                check_blob(raw, message)
                break
            check_time(raw, message)
        print("ok blob OON")

        ws.send(cbor2.dumps({"lapps": 1, "method": "logout", "params": [{"authkey": key}],
                             "cid": 1}))
        # OONs queued before the logout may come first; then the server closes.
        try:
            while True:
                raw, message = recv(ws, 5)
                if message.get("cid") == 6:
                    check_blob(raw, message)
                else:
                    check_time(raw, message)
        except ConnectionClosed:
            pass
        received = ws.protocol.close_rcvd
        check("close", (received.code, received.reason) if received else None, (1000, ""))
        print("ok logout")


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(1)
    try:
        session(sys.argv[1])
    except Exception as error:  # noqa: BLE001 - every failure is reported the same way
        print(f"FAILED: {type(error).__name__}: {error}")
        sys.exit(1)
    print("all ok")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Drives a lapps echo service with the `websockets` package, for tests/python_clients.rs.

Usage:
    echo_client.py echo URL [CA_FILE]
        Text, binary, large and fragmented messages, a burst, a ping, subprotocol `raw`, and a
        close with code 4000 that the server echoes. wss:// URLs trust only CA_FILE.
    echo_client.py status URL STATUS ORIGIN
        Expects the upgrade, sent with that Origin, to be refused with HTTP STATUS.

Prints one line per check. Exit status: 0 when every check passed, 1 when one failed, 2 when
the `websockets` package is missing (the Rust test turns that into a failure with a hint).
"""

import ssl
import sys

try:
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect
except ImportError as error:
    print(
        f"the Python package 'websockets' is missing ({error}); "
        "install it with `python3 -m pip install websockets` (./test.sh does)",
        file=sys.stderr,
    )
    sys.exit(2)

LARGE = 8 << 20


def check(what, got, want):
    if got != want:
        shown = repr(got) if len(repr(got)) < 200 else f"{len(got)} items"
        raise AssertionError(f"{what}: got {shown}, want {want!r:.200}")
    print(f"ok {what}")


def echo(url, ca_file):
    context = None
    if url.startswith("wss://"):
        context = ssl.create_default_context(cafile=ca_file)
    with connect(
        url,
        ssl=context,
        subprotocols=["raw"],
        max_size=2 * LARGE,
        compression=None,
        open_timeout=5,
        close_timeout=5,
    ) as ws:
        check("subprotocol", ws.subprotocol, "raw")
        ws.send("hello κόσμε")
        check("text", ws.recv(timeout=5), "hello κόσμε")
        ws.send(bytes(range(256)))
        check("binary", ws.recv(timeout=5), bytes(range(256)))
        ws.send("")
        check("empty text", ws.recv(timeout=5), "")
        large = bytes(i % 251 for i in range(LARGE))
        ws.send(large)
        check("large binary", ws.recv(timeout=10) == large, True)
        # An iterable is sent as one fragmented message.
        ws.send(["frag", "men", "ted ✓"])
        check("fragmented text", ws.recv(timeout=5), "fragmented ✓")
        for i in range(100):
            ws.send(f"burst {i}")
        check("burst", [ws.recv(timeout=5) for _ in range(100)], [f"burst {i}" for i in range(100)])
        check("pong", ws.ping(b"python").wait(timeout=5), True)
        ws.close(code=4000, reason="bye")
        # Spec §5.10: a code in 3000-4999 is echoed.
        received = ws.protocol.close_rcvd
        check("close code echoed", (received.code, received.reason) if received else None, (4000, ""))


def refused(url, status, origin):
    try:
        with connect(url, origin=origin, open_timeout=5):
            pass
    except InvalidStatus as error:
        check("status", error.response.status_code, status)
        return
    raise AssertionError(f"the upgrade with Origin {origin} succeeded")


def main(argv):
    mode = argv[1] if len(argv) > 1 else ""
    if mode == "echo" and len(argv) in (3, 4):
        echo(argv[2], argv[3] if len(argv) == 4 else None)
    elif mode == "status" and len(argv) == 5:
        refused(argv[2], int(argv[3]), argv[4])
    else:
        print(__doc__, file=sys.stderr)
        return 1
    print("all ok")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except Exception as error:  # report any failure as a failed check, with its type
        print(f"FAILED: {type(error).__name__}: {error}", file=sys.stderr)
        sys.exit(1)

#!/usr/bin/env python3
"""A minimal device-protocol client (docs/device-protocol.md), standard library only.

A vendor can put this loop in front of a firmware simulator or a hardware bridge, or
use it to poke an `mcheck emulate` device by hand:

    mcheck emulate --listen unix:/tmp/dev.sock --members 2 &
    python examples/device_client.py unix:/tmp/dev.sock

It says HELLO, powers the device on, enables the dev-parts commands with LIST_USE, stops
member 1 with DEV_MODE_SET and prints every frame the device sends back.
"""

import json
import socket
import struct
import sys
import time

RECORD = struct.Struct("<4sBBBBQQQQQQIIHH")          # the 68-byte trace record (docs/trace-format.md)
KIND_SUBMIT, KIND_COMPLETE = 2, 3


def frame(ftype: bytes, body: bytes) -> bytes:
    return struct.pack("<I", len(body) + 1) + ftype + body


def submit_record(tag: int, readable: bytes) -> bytes:
    """A `submit` record: kind 2, FLAG_TAG, the device-readable bytes as part A."""
    return RECORD.pack(b"MCKT", 1, KIND_SUBMIT, 0x02, 1, tag, time.time_ns(), tag, 0, 0, 0,
                       len(readable), 0, 0, 0) + readable


def command(opcode: int, group: int, member: int, data: bytes) -> bytes:
    """The 24-byte admin command header (opcode, group type, reserved, member id) + data."""
    return struct.pack("<HH12xQ", opcode, group, member) + data


def read_frame(sock: socket.socket) -> tuple[bytes, bytes]:
    def exact(n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = sock.recv(n - len(buf))
            if not chunk:
                raise EOFError("device closed the connection")
            buf += chunk
        return buf
    (length,) = struct.unpack("<I", exact(4))
    body = exact(length)
    return body[:1], body[1:]


def request(sock: socket.socket, data: bytes) -> None:
    """Send one request and print frames up to its terminal frame (C, Q, A or X)."""
    sock.sendall(data)
    while True:
        ftype, body = read_frame(sock)
        if ftype == b"E" or ftype == b"C":
            fields = RECORD.unpack_from(body)
            kind, member, arg0, arg1, len_a, len_b = fields[2], fields[8], fields[9], fields[10], fields[11], fields[12]
            extra = body[RECORD.size + len_a: RECORD.size + len_a + len_b]
            print(f"  {ftype.decode()} kind={kind} member={member} arg0={arg0:#x} arg1={arg1} result={extra.hex()}")
            if ftype == b"C":
                return
        else:
            print(f"  {ftype.decode()} {body.decode('utf-8', 'replace')}")
            if ftype in (b"Q", b"A", b"X", b"H"):
                return


def main(address: str) -> None:
    kind, _, rest = address.partition(":")
    if kind == "unix":
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(rest)
    else:
        host, _, port = rest.rpartition(":")
        sock = socket.create_connection((host, int(port)))
    sock.settimeout(2.0)
    print("HELLO");      request(sock, frame(b"H", json.dumps({"version": 1}).encode()))
    print("power on");   request(sock, frame(b"P", json.dumps({"op": "power_on", "config": {"members": 2}}).encode()))
    bundle = sum(1 << op for op in (0x0, 0x1, 0x7, 0x8, 0x9, 0xA, 0xD, 0xE, 0xF, 0x10, 0x11))
    print("LIST_USE");   request(sock, frame(b"S", submit_record(1, command(0x1, 1, 0, struct.pack("<Q", bundle)))))
    print("guest init"); request(sock, frame(b"W", json.dumps({"op": "init", "member": 1, "queue": 0}).encode()))
    print("guest post"); request(sock, frame(b"W", json.dumps({"op": "post", "member": 1, "queue": 0}).encode()))
    print("fetch");      request(sock, frame(b"W", json.dumps({"op": "fetch", "member": 1, "queue": 0}).encode()))
    print("DEV_MODE_SET(stop) member 1 (writes the fetched buffer back first)")
    request(sock, frame(b"S", submit_record(2, command(0x11, 1, 1, b"\x01"))))
    sock.close()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "unix:/tmp/dev.sock")

"""HTTP/1.1 over a raw socket, for what httpx will not send: drip-fed heads and bodies, broken
framing, thousands of headers. Every read has a deadline, so a server that holds a connection
makes the test fail instead of hang."""

from __future__ import annotations

import json
import select
import socket
import time
from dataclasses import dataclass


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes
    closed: bool  # the server closed the connection right after the response
    elapsed: float  # seconds from the first byte sent to the end of the response

    def json(self):
        assert self.headers.get("content-type", "").startswith("application/json"), self.headers
        return json.loads(self.body)


def connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=30)


def head(method: str, path: str, *headers: str, body: bytes | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: test", *headers]
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


def read_response(sock: socket.socket, started: float, timeout: float = 30.0) -> RawResponse:
    """One response; then whether the server closes the connection within a few seconds."""
    deadline = time.monotonic() + timeout
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        buffer += _recv(sock, deadline)
    raw_head, _, body = buffer.partition(b"\r\n\r\n")
    status_line, *lines = raw_head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", 0))
    while len(body) < length:
        body += _recv(sock, deadline)
    elapsed = time.monotonic() - started
    return RawResponse(int(status_line.split()[1]), headers, body[:length], closed_soon(sock), elapsed)


def closed_soon(sock: socket.socket, within: float = 5.0) -> bool:
    """Whether the peer closes (EOF or reset) within ``within`` seconds; data counts as not closed."""
    ready, _, _ = select.select([sock], [], [], within)
    if not ready:
        return False
    try:
        return sock.recv(65536) == b""
    except ConnectionError:
        return True


def _recv(sock: socket.socket, deadline: float) -> bytes:
    remaining = deadline - time.monotonic()
    ready, _, _ = select.select([sock], [], [], max(0.0, remaining))
    if not ready:
        raise TimeoutError("no response from the server")
    chunk = sock.recv(65536)
    if not chunk:
        raise ConnectionError("the server closed the connection without a response")
    return chunk


def exchange(url: str, data: bytes, timeout: float = 30.0) -> RawResponse:
    """Send ``data`` in small pieces (stopping once the server answers) and read the response."""
    with connect(url) as sock:
        started = time.monotonic()
        for i in range(0, len(data), 4096):
            if select.select([sock], [], [], 0)[0]:
                break  # the server answered before reading everything (a refusal)
            try:
                sock.sendall(data[i : i + 4096])
            except OSError:
                break
        return read_response(sock, started, timeout)


def drip(url: str, start: bytes, rest: bytes, every: float, timeout: float = 30.0) -> RawResponse:
    """Send ``start``, then ``rest`` one byte every ``every`` seconds until the server answers."""
    with connect(url) as sock:
        started = time.monotonic()
        sock.sendall(start)
        for byte in rest:
            if select.select([sock], [], [], every)[0]:
                break
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                break
        return read_response(sock, started, timeout)

"""Callback URL guard against server-side request forgery.

A callback URL is user input that makes the server open a connection, so it could aim at the
cloud metadata service (169.254.169.254), a database on the private network or the server's
own loopback. The rules:

- only ``http``/``https``, a host, no credentials in the URL;
- the host is resolved (DNS) and EVERY address must be globally routable (not loopback,
  private, link-local, shared/CGNAT, multicast, reserved, unspecified, IPv4-mapped versions of
  those, nor a known metadata address), unless the host name or the address is allow-listed;
- the check runs at submit time and again at every delivery, and delivery connects to the
  address that was checked (the URL's host is kept for ``Host`` and TLS SNI), so DNS that
  changes between check and connect (rebinding) cannot redirect the request. Redirects are
  never followed.

Refusals raise :class:`CallbackRefusedError` before any connection is opened.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from pipeline.http.errors import CallbackRefusedError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]

#: Metadata endpoints of the big clouds (most are link-local or private anyway; listed so the
#: refusal does not depend on how Python classifies each range).
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254", "169.254.170.2", "100.100.100.200", "192.0.0.192", "fd00:ec2::254",
))


@dataclass(frozen=True, slots=True)
class Target:
    """A checked callback destination: connect to ``address``, speak to ``host``."""

    url: str
    scheme: str
    host: str
    port: int
    address: str

    def pinned_url(self) -> str:
        """The URL with its host replaced by the checked address (path and query kept)."""
        parts = urlsplit(self.url)
        literal = f"[{self.address}]" if ":" in self.address else self.address
        netloc = f"{literal}:{self.port}"
        rest = parts.path or "/"
        if parts.query:
            rest += "?" + parts.query
        return f"{self.scheme}://{netloc}{rest}"

    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


async def system_resolver(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


def forbidden_reason(address: IPAddress) -> str | None:
    """Why an address may not be called back, or None when it is globally routable."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo[1] if address.teredo else None)
        if embedded is not None:
            return forbidden_reason(embedded)
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    for name in ("loopback", "link_local", "private", "multicast", "unspecified", "reserved"):
        if getattr(address, f"is_{name}"):
            return f"a {name.replace('_', '-')} address"
    if not address.is_global:
        return "not a globally routable address"
    return None


class CallbackGuard:
    """Checks callback URLs against the SSRF rules and the configured allow-list."""

    def __init__(self, allow_list: Iterable[str] = (), resolver: Resolver | None = None) -> None:
        self.allowed_hosts: set[str] = set()
        self.allowed_networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for entry in allow_list:
            entry = entry.strip()
            if not entry:
                continue
            try:
                self.allowed_networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                self.allowed_hosts.add(entry.lower().rstrip("."))
        self._resolve = resolver or system_resolver

    async def check(self, url: str, field: str = "callback_url") -> Target:
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise CallbackRefusedError(f"{field} is not a valid URL", field=field) from exc
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise CallbackRefusedError(f"{field} must be an http or https URL", field=field, limit=["http", "https"])
        if parts.username or parts.password:
            raise CallbackRefusedError(f"{field} must not carry credentials", field=field)
        host = (parts.hostname or "").lower().rstrip(".")
        if not host:
            raise CallbackRefusedError(f"{field} has no host", field=field)
        port = port or (443 if scheme == "https" else 80)
        try:
            addresses = [ipaddress.ip_address(host)]
        except ValueError:
            try:
                resolved = await self._resolve(host, port)
            except (OSError, UnicodeError) as exc:
                raise CallbackRefusedError(f"{field} host {host!r} does not resolve", field=field) from exc
            addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in resolved]
        if not addresses:
            raise CallbackRefusedError(f"{field} host {host!r} does not resolve", field=field)
        if host not in self.allowed_hosts:
            for address in addresses:
                if any(address in net for net in self.allowed_networks):
                    continue
                reason = forbidden_reason(address)
                if reason:
                    raise CallbackRefusedError(
                        f"{field} resolves to {address}, {reason}; add it to callback_allow_list to allow it",
                        field=field, limit="globally routable addresses or callback_allow_list")
        return Target(url, scheme, host, port, str(addresses[0]))

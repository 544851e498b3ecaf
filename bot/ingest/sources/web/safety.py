"""Which addresses the web source may connect to: http(s) only, and never a private one unless allowed.

The host is resolved here and every address it resolves to is vetted before any connection; the socket is then
connected to a vetted address and its peer checked again (TLS still verifies the host name, which httpcore
sends as SNI). Redirects go through the same path, so each hop is vetted anew.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import httpcore

SCHEMES = ("http", "https")


class Refused(Exception):
    """A URL the web source will not fetch, with why (a private address, a scheme other than http/https…)."""


def check_scheme(url: str) -> None:
    """Raise Refused unless the URL is http or https with a host."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise Refused(f"not a URL ({exc})") from None
    if parts.scheme.lower() not in SCHEMES:
        raise Refused(f"not http or https: {parts.scheme or 'no scheme'}")
    if not parts.hostname:
        raise Refused("no host in the URL")


def is_public(address: str) -> bool:
    """Whether an IP address is one on the public internet (not loopback, private, link-local, reserved…)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    private = (
        ip.is_loopback or ip.is_private or ip.is_link_local or ip.is_reserved or ip.is_multicast or ip.is_unspecified
    )
    return ip.is_global and not private


def vetted_addresses(host: str, port: int) -> list[tuple[int, str]]:
    """The (family, address) pairs `host` resolves to; Refused if it has none or any of them is not public."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise Refused(f"cannot resolve {host} ({exc})") from None
    addresses = list(dict.fromkeys((int(family), str(sockaddr[0])) for family, _, _, _, sockaddr in found))
    if not addresses:
        raise Refused(f"{host} resolves to no address")
    for _, address in addresses:
        if not is_public(address):
            raise Refused(f"{host} resolves to a private address ({address})")
    return addresses


class VettedBackend(httpcore.SyncBackend):
    """httpcore's socket backend, connecting only to vetted addresses unless private ones are allowed."""

    def __init__(self, allow_private: bool = False) -> None:
        self.allow_private = allow_private

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        """Connect to one of the host's vetted addresses and check the peer actually reached."""
        if self.allow_private:
            return super().connect_tcp(host, port, timeout, local_address, socket_options)
        error: Exception | None = None
        for _, address in vetted_addresses(host, port):
            try:
                stream = super().connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectError as exc:
                error = exc
                continue
            peer = stream.get_extra_info("socket").getpeername()[0]
            if not is_public(peer):
                stream.close()
                raise Refused(f"{host} connected to a private address ({peer})")
            return stream
        assert error is not None
        raise error

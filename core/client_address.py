"""The client's address, as far as it can be trusted.

`REMOTE_ADDR` is the peer of the TCP connection: behind a reverse proxy, the proxy. The proxy
appends the address it received the request from to `X-Forwarded-For`; anything to the left
of that was written by whoever sent the request and proves nothing. So the header is read
only when the peer is one of `TRUSTED_PROXIES`, from the right, skipping the trusted proxies'
own addresses: the first address that is not a trusted proxy is the client.

`TRUSTED_PROXIES` defaults to loopback, the documented deployment (a proxy on the same host):
unset, it would make every client the proxy's 127.0.0.1, and a few failed logins from anyone
would refuse every login. A peer without an IP address (gunicorn bound to a unix socket gives
an empty `REMOTE_ADDR`) is a process on this host too, trusted as a proxy unless
`TRUSTED_PROXIES` is empty (trust none).

Rate limits count an IPv6 client by its /64 (`rate_limit_address`): one subscriber usually
holds a whole /64 and can change address within it at will.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _networks(proxies: tuple[str, ...]) -> tuple[_Network, ...]:
    return tuple(ipaddress.ip_network(p.strip(), strict=False) for p in proxies if p.strip())


def _parse(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    value = value.strip()
    if value.startswith("[") and "]" in value:  # [2001:db8::1]:443
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:  # 192.0.2.1:443
        value = value.partition(":")[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address, networks: tuple[_Network, ...]) -> bool:
    return any(address.version == n.version and address in n for n in networks)


def client_address(request: HttpRequest) -> str | None:
    """The address the request came from: `REMOTE_ADDR`, or, when that is a trusted proxy (or a
    unix socket while any proxy is trusted), the right-most address of `X-Forwarded-For` that
    is not a trusted proxy. None when nothing names an address."""
    networks = _networks(tuple(settings.TRUSTED_PROXIES))
    remote = _parse(request.META.get("REMOTE_ADDR", "") or "")
    if remote is not None and not _trusted(remote, networks):
        return str(remote)
    if remote is None and not networks:
        return None  # a unix socket, and no proxy is trusted: no address to believe
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    client = remote
    for item in reversed(forwarded.split(",")):
        address = _parse(item)
        if address is None:
            break  # garbage: nothing left of it can be believed; the last trusted hop stands
        client = address
        if not _trusted(address, networks):
            break
    return None if client is None else str(client)


def rate_limit_address(address: str | None) -> str | None:
    """The key a rate limit counts `address` (from `client_address`) under: an IPv4 address as
    it is, an IPv6 address as its /64 network (`2001:db8:1:2::/64`)."""
    if not address:
        return None
    parsed = ipaddress.ip_address(address)
    if isinstance(parsed, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed)

"""The SSRF guard of outgoing webhooks: only globally routable addresses may be called.

A URL is checked when it is registered and again at every connection: the host is resolved, and
every address it resolves to must be public (not loopback, private, link-local, CGNAT, unique-local,
multicast, reserved, unspecified, a cloud metadata address, nor one of those inside an IPv4-mapped,
6to4 or Teredo IPv6 address). Numeric spellings of IPv4 (`2130706433`, `0x7f000001`, `0177.0.0.1`,
`127.1`) are read the way the C resolver reads them, so they cannot slip past as host names.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254"))
CGNAT = ipaddress.ip_network("100.64.0.0/10")


class UnsafeTarget(Exception):
    """The URL may not be called: not http(s), or it resolves to a non-public address."""


class UnresolvableHost(Exception):
    """The host has no address (now): registration lets it pass, a delivery attempt fails."""


def is_public(address: IPAddress) -> bool:
    if address in METADATA_ADDRESSES or not address.is_global:
        return False
    if address.is_multicast or address.is_reserved or address.is_unspecified or address.is_loopback:
        return False
    if isinstance(address, ipaddress.IPv4Address):
        return address not in CGNAT and not address.is_link_local and not address.is_private
    embedded = [address.ipv4_mapped, address.sixtofour, *(address.teredo or ())]
    return all(inner is None or is_public(inner) for inner in embedded)


def ip_literal(host: str) -> IPAddress | None:
    """The address a host names by itself (any IPv4 spelling `inet_aton` takes, or IPv6), or None."""
    bare = host.strip("[]")
    if "%" in bare:  # an IPv6 zone (fe80::1%eth0) only makes sense on a local link
        raise UnsafeTarget(f"'{host}' is a link-local address")
    try:
        return ipaddress.ip_address(bare)
    except ValueError:
        pass
    if ":" in bare or not all(part.isalnum() for part in bare.split(".")):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(bare))
    except (OSError, UnicodeError):
        return None


def check_url(url: str, *, allow_private: bool, require_https: bool) -> tuple[str, int]:
    """The host and port of a callable URL; UnsafeTarget says why one is not."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise UnsafeTarget(f"not a valid URL ({error})") from None
    schemes = ("https",) if require_https else ("http", "https")
    if parts.scheme not in schemes:
        raise UnsafeTarget("the URL must start with " + " or ".join(f"{scheme}://" for scheme in schemes))
    if parts.username is not None or parts.password is not None:
        raise UnsafeTarget("credentials in the URL are not supported")
    try:  # IDNA folds look-alikes (full-width digits, circled numbers) into the host really called
        host = (parts.hostname or "").encode("idna").decode("ascii").rstrip(".")
    except UnicodeError:
        raise UnsafeTarget("the URL's host is not a valid host name") from None
    if not host or any(char.isspace() for char in host):
        raise UnsafeTarget("the URL has no host")
    if not allow_private:
        literal = ip_literal(host)
        if literal is not None and not is_public(literal):
            raise UnsafeTarget(f"'{host}' is not a public address ({literal})")
    return host, port or (443 if parts.scheme == "https" else 80)


async def resolve_public(host: str, port: int, *, allow_private: bool) -> list[str]:
    """Every address `host` resolves to, each checked; UnsafeTarget if any is not public."""
    literal = ip_literal(host.rstrip("."))
    if literal is not None:
        addresses: list[IPAddress] = [literal]
    else:
        try:
            found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as error:
            raise UnresolvableHost(f"cannot resolve '{host}': {error.strerror}") from None
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in found]
    if not allow_private:
        refused = [address for address in addresses if not is_public(address)]
        if refused:
            raise UnsafeTarget(f"'{host}' resolves to a non-public address ({refused[0]})")
    return list(dict.fromkeys(str(address) for address in addresses))

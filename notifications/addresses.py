"""Where a webhook may point: public addresses only, unless a setting allows private ones.

A webhook URL is typed by a workspace admin, but the request leaves from our servers: it
must not reach the metadata service (169.254.169.254), the database, Redis or anything
else on the private network (SSRF). The host is resolved and every address it resolves
to is checked, when the webhook is saved and again at each delivery, where the request
then connects to the very address that was checked (webhooks_http.py): a name that
resolved to a public address when it was saved and to a private one later (DNS
rebinding) is refused at delivery.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings

# NAT64 maps IPv4 addresses into IPv6: check the IPv4 address inside (6to4, 2002::/16,
# carries one too: ipaddress's sixtofour).
NAT64 = ipaddress.ip_network("64:ff9b::/96")
# IETF protocol assignments (RFC 6890): not globally reachable but two anycast addresses
# (RFC 7723, RFC 8155); Python before 3.13 counts most of the block as global.
PROTOCOL_ASSIGNMENTS = ipaddress.ip_network("192.0.0.0/24")
GLOBAL_PROTOCOL_ADDRESSES = {ipaddress.ip_address("192.0.0.9"), ipaddress.ip_address("192.0.0.10")}


class AddressRefused(Exception):
    """The URL's host is, or resolves to, an address webhooks may not reach. The message is
    for the admin."""


def private_allowed() -> bool:
    return bool(getattr(settings, "NOTIFICATIONS_ALLOW_PRIVATE_WEBHOOKS", False))


def refusal_reason(address: str) -> str | None:
    """Why `address` (an IP literal) is not a public one; None when it is."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif ip.sixtofour is not None:
            ip = ip.sixtofour
        elif ip in NAT64:
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    routable = ip.is_global and not (
        ip in PROTOCOL_ASSIGNMENTS and ip not in GLOBAL_PROTOCOL_ADDRESSES
    )
    for reason, flag in (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved),
        ("private", ip.is_private),
        ("not globally routable", not routable),
    ):
        if flag:
            return reason
    return None


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (the one seam to DNS, so tests can rebind names)."""
    try:
        return [str(ipaddress.ip_address(host.split("%", 1)[0]))]  # a literal: nothing to ask
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as error:
        raise AddressRefused(f"The host {host} cannot be resolved.") from error
    addresses = []
    for info in infos:
        address = str(info[4][0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise AddressRefused(f"The host {host} cannot be resolved.")
    return addresses


def checked_addresses(host: str, port: int) -> list[str]:
    """The addresses of `host` a webhook may connect to, resolved now. Refused when any
    of them is private (unless allowed): a name must not mix public and private ones."""
    addresses = resolve(host, port)
    if private_allowed():
        return addresses
    for address in addresses:
        reason = refusal_reason(address)
        if reason:
            named = host if host == address else f"{host} ({address})"
            raise AddressRefused(
                f"Webhooks may not reach {named}: the address is {reason}. Use a public "
                "address, or set NOTIFICATIONS_ALLOW_PRIVATE_WEBHOOKS=true."
            )
    return addresses


def host_and_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if parts.hostname is None:
        raise AddressRefused("The URL has no host.")
    refused = AddressRefused("The URL's port is not a number from 1 to 65535.")
    try:
        port = parts.port
    except ValueError as error:
        raise refused from error
    if port == 0:
        raise refused
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


def check_url(url: str) -> None:
    """Refuse a URL whose host is, or resolves to, an address webhooks may not reach."""
    host, port = host_and_port(url)
    checked_addresses(host, port)

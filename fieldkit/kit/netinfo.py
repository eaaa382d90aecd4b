"""The addresses phones can use to reach the kit, for printing and QR codes."""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import socket
import struct
import urllib.parse
from collections.abc import Iterable

_SIOCGIFADDR = 0x8915  # Linux: read an interface's IPv4 address


def _interface_address(name: str) -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            packed = fcntl.ioctl(probe.fileno(), _SIOCGIFADDR, struct.pack("256s", name[:15].encode()))
        except OSError:
            return None
    return socket.inet_ntoa(packed[20:24])


def lan_addresses() -> list[str]:
    """IPv4 addresses of this machine's interfaces, loopback last."""
    found: set[str] = set()
    try:
        names = [name for _, name in socket.if_nameindex()]
    except OSError:
        names = []
    for name in names:
        address = _interface_address(name)
        if address:
            found.add(address)
    if not found:
        with contextlib.suppress(OSError):
            found.update(socket.gethostbyname_ex(socket.gethostname())[2])
    return sorted(found, key=lambda a: (ipaddress.ip_address(a).is_loopback, a))


def urls_for(host: str, port: int) -> list[str]:
    every_interface = host in ("0.0.0.0", "")  # noqa: S104  # nosec B104 - naming where the kit listens
    addresses = (lan_addresses() or ["127.0.0.1"]) if every_interface else [host]
    return [f"http://{address}:{port}/" for address in addresses]


# The kit's own names on this computer. Every other Host header is refused: a web page
# whose name an attacker points at 127.0.0.1 (DNS rebinding) must not read the kit. The kit
# listens on IPv4 only, and werkzeug cannot match IPv6 literals, so none is listed.
LOCAL_HOST_NAMES = ("localhost", "127.0.0.1")


def trusted_host_names(urls: Iterable[str]) -> list[str]:
    """The names a Host header may carry: this computer's, and those of the addresses printed."""
    names = list(LOCAL_HOST_NAMES)
    for url in urls:
        host = urllib.parse.urlsplit(url).hostname
        if host and host not in names:
            names.append(host)
    return names

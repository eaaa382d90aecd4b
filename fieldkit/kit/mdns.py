"""Announcing the kit on the local network by mDNS, so that phones need no IP address.

The kit registers one ``_http._tcp.local.`` service named after the kit ("fieldkit
kit-…") whose host is ``fieldkit.local``; with ``serve --mdns-name NAME``, the service
is "NAME kit-…" on NAME.local. Everyone on the network sees the announcement:
docs/threat-model.md says when a neutral name, or ``--no-mdns``, is wiser. It is sent
on the addresses of the interfaces the kit serves on. The announcement runs in the
background: probing the network takes about a second, which the kit's start must not
wait for, and a failure to announce is a printed warning, never a stopped kit. A kit
listening only on loopback announces nothing: no phone could reach it.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fieldkit.kit.netinfo import lan_addresses

if TYPE_CHECKING:
    from zeroconf import ServiceInfo, Zeroconf

DEFAULT_MDNS_NAME = "fieldkit"
SERVICE_TYPE = "_http._tcp.local."
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_STOP_SECONDS = 5.0


class MdnsNameError(ValueError):
    """A host name that cannot be announced as NAME.local."""


def host_label(name: str) -> str:
    """The one DNS label of ``name`` ("fieldkit", "Kit-2.local" -> "kit-2"), or MdnsNameError."""
    label = name.strip().lower().removesuffix(".").removesuffix(".local")
    if not _LABEL.fullmatch(label):
        raise MdnsNameError(
            f"{name!r} cannot be announced: use 1-63 letters, digits and hyphens, not starting or ending "
            "with a hyphen (the kit is then NAME.local)"
        )
    return label


def announced_addresses(host: str, found: Callable[[], list[str]] = lan_addresses) -> list[str]:
    """The IPv4 addresses phones can use when the kit listens on ``host``; none for loopback."""
    every_interface = host in ("0.0.0.0", "")  # noqa: S104  # nosec B104 - naming where the kit listens
    candidates = found() if every_interface else [host]
    usable = []
    for address in candidates:
        try:
            parsed = ipaddress.ip_address(address)
        except ValueError:
            continue  # a host name given to --host: the kit cannot tell which interface it is
        if parsed.version == 4 and not parsed.is_loopback and not parsed.is_unspecified:
            usable.append(address)
    return usable


@dataclass(frozen=True)
class Plan:
    """What the kit will announce: ``label``.local on ``addresses``, serving on ``port``."""

    label: str
    port: int
    addresses: tuple[str, ...]

    @property
    def host_name(self) -> str:
        return f"{self.label}.local"

    @property
    def url(self) -> str:
        return f"http://{self.host_name}:{self.port}/"


def plan(label: str | None, host: str, port: int) -> Plan | None:
    """The announcement for a kit on ``host``:``port``; None when off or only on loopback."""
    if label is None:
        return None
    addresses = announced_addresses(host)
    return Plan(label, port, tuple(addresses)) if addresses else None


def with_mdns_url(urls: Sequence[str], announced: Plan | None) -> tuple[str, ...]:
    """``urls`` with the mDNS one after the network addresses, before this computer's own."""
    if announced is None:
        return tuple(urls)
    local = [url for url in urls if url.startswith("http://127.")]
    return (*[url for url in urls if url not in local], announced.url, *local)


class Announcer:
    """Registers the kit's service in a background thread; ``stop`` withdraws it."""

    def __init__(self, announced: Plan, kit_id: str, echo: Callable[[str], None]) -> None:
        self.plan = announced
        # "fieldkit kit-…", or with --mdns-name, that name: a neutral one hides what the kit is.
        self.service_name = f"{announced.label} {kit_id}.{SERVICE_TYPE}"
        self._echo = echo
        self._zeroconf: Zeroconf | None = None
        self._info: ServiceInfo | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._announce, name="fieldkit-mdns", daemon=True)

    def start(self) -> Announcer:
        self._thread.start()
        return self

    def _announce(self) -> None:
        try:
            # Imported here: a kit on loopback, and every command but serve, never loads it.
            from zeroconf import IPVersion, ServiceInfo, Zeroconf

            zeroconf = Zeroconf(interfaces=list(self.plan.addresses), ip_version=IPVersion.V4Only)
            with self._lock:
                self._zeroconf = zeroconf
                if self._stopping.is_set():
                    zeroconf.close()
                    return
            info = ServiceInfo(
                SERVICE_TYPE,
                self.service_name,
                port=self.plan.port,
                addresses=[socket.inet_aton(address) for address in self.plan.addresses],
                server=f"{self.plan.host_name}.",
                properties={"path": "/"},
            )
            zeroconf.register_service(info, allow_name_change=True)
            with self._lock:
                self._info = info
            self._echo(f"  announced by mDNS as {self.plan.host_name} ({info.name.removesuffix('.' + SERVICE_TYPE)})")
        except Exception as error:  # any failure to announce is a warning, never a stopped kit
            if not self._stopping.is_set():
                self._echo(
                    f"  WARNING: could not announce {self.plan.host_name} by mDNS ({type(error).__name__}: {error}); "
                    "phones can use the addresses above"
                )
            self._close()

    def _close(self) -> None:
        with self._lock:
            zeroconf, self._zeroconf, self._info = self._zeroconf, None, None
        if zeroconf is not None:
            with contextlib.suppress(Exception):  # stopping: nothing more to tell anyone
                zeroconf.close()  # sends the goodbye for what is registered

    def stop(self) -> None:
        """Withdraw the announcement (a goodbye packet) and close the sockets."""
        self._stopping.set()
        self._thread.join(_STOP_SECONDS)
        self._close()


def start_announcer(announced: Plan | None, kit_id: str, echo: Callable[[str], None]) -> Announcer | None:
    return Announcer(announced, kit_id, echo).start() if announced is not None else None

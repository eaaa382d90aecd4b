"""The systemd unit that runs a kit as a service, and the system commands that install it.

``fieldkit service install`` (fieldkit/cli/service.py) prints or carries out what
:func:`plan_install` returns. The unit runs ``fieldkit serve --data DIR
--wait-for-unlock`` as a dedicated account with no privileges: the kit starts locked at
boot and is unlocked from the operator's phone, and the passphrase is never stored.

Each hardening line is one ``systemd-analyze security`` asks for, minus those that
would break the kit (see the comments in :func:`unit_text`). docs/raspberry-pi.md walks
through the install.
"""

from __future__ import annotations

import pwd
import re
import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from fieldkit.core.errors import FieldkitError
from fieldkit.kit.config import KIT_FILE

DEFAULT_ACCOUNT = "fieldkit"
DEFAULT_UNIT_DIR = Path("/etc/systemd/system")
UNIT_NAME = "fieldkit.service"
# scrypt at unlock needs 128 MiB; the kit serving 30 phones needs well under 100 MB more.
MEMORY_MAX = "256M"
RESTART_SEC = 5

_ACCOUNT = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
# Characters systemd would read as a specifier, a variable, quoting or a separator in a
# path on ExecStart= or ReadWritePaths=: such a folder is refused rather than escaped.
_UNSAFE_PATH = re.compile(r"[\s%$\\\"';`]")
# Folders of the system itself: a kit's data never belongs there, and ReadWritePaths=
# would open them to the service.
_SYSTEM_FOLDERS = ("/", "/bin", "/boot", "/dev", "/etc", "/lib", "/proc", "/run", "/sbin", "/sys", "/usr")
_HOME_FOLDERS = ("/home", "/root", "/run/user")


class ServiceError(FieldkitError):
    """Options that cannot make a working unit; nothing was changed."""


@dataclass(frozen=True)
class ServicePlan:
    """The unit file and, in order, the commands that install and start it."""

    unit_path: Path
    unit: str
    commands: tuple[tuple[str, ...], ...]
    notes: tuple[str, ...]


def _under(path: PurePosixPath, folder: str) -> bool:
    return path == PurePosixPath(folder) or PurePosixPath(folder) in path.parents


def _check_path(path: Path, what: str) -> PurePosixPath:
    posix = PurePosixPath(path)
    if not posix.is_absolute():
        raise ServiceError(f"{what} must be an absolute path, not {path}")
    if _UNSAFE_PATH.search(str(posix)):
        raise ServiceError(
            f"{what} {path} has a space, quote, '%', '$' or similar, which a systemd unit would misread: "
            "choose a folder without them (for example /var/lib/fieldkit)"
        )
    return posix


def check_data_dir(data_dir: Path) -> PurePosixPath:
    posix = _check_path(data_dir, "--data")
    if posix == PurePosixPath("/") or any(_under(posix, folder) for folder in _SYSTEM_FOLDERS[1:]):
        raise ServiceError(
            f"--data {data_dir} is a folder of the system itself; give the kit its own, for example /var/lib/fieldkit"
        )
    return posix


def check_account(account: str) -> str:
    if not _ACCOUNT.fullmatch(account):
        raise ServiceError(f"--account {account!r} is not a valid account name: lowercase letters, digits, '_' and '-'")
    if account == "root":
        raise ServiceError("--account root: the kit must run as its own account with no privileges, never as root")
    return account


def venv_fieldkit() -> Path:
    """The ``fieldkit`` command of the Python that runs this one (the venv's, not resolved)."""
    return Path(sys.executable).parent / "fieldkit"


def unit_text(data_dir: PurePosixPath, fieldkit: PurePosixPath, account: str) -> str:
    """The unit file for a kit in ``data_dir`` run by ``fieldkit`` as ``account``."""
    under_home = any(_under(path, folder) for path in (data_dir, fieldkit) for folder in _HOME_FOLDERS)
    command = shlex.join([str(fieldkit), "serve", "--data", str(data_dir), "--wait-for-unlock"])
    lines = [
        "# Written by 'fieldkit service install'. docs/raspberry-pi.md explains every line.",
        "[Unit]",
        "Description=fieldkit survey kit (unlocked from the operator's phone)",
        "Wants=network-online.target",
        "After=network-online.target",
        "",
        "[Service]",
        "Type=simple",
        f"User={account}",
        f"Group={account}",
        f"ExecStart={command}",
        "Environment=PYTHONUNBUFFERED=1",
        "Restart=on-failure",
        f"RestartSec={RESTART_SEC}",
        "TimeoutStopSec=30",
        "UMask=0077",
        # Memory: the passphrase's scrypt at unlock takes 128 MiB.
        f"MemoryMax={MEMORY_MAX}",
        "MemorySwapMax=0",
        # No core file could carry the keys to disk (serve also sets this itself).
        "LimitCORE=0",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        f"ReadWritePaths={data_dir}",
        # A kit in a home folder: home folders are read-only for it, not hidden.
        f"ProtectHome={'read-only' if under_home else 'yes'}",
        "PrivateTmp=yes",
        "PrivateDevices=yes",
        "ProtectKernelTunables=yes",
        "ProtectKernelModules=yes",
        "ProtectKernelLogs=yes",
        "ProtectControlGroups=yes",
        "ProtectClock=yes",
        "ProtectHostname=yes",
        "ProtectProc=invisible",
        "CapabilityBoundingSet=",
        "AmbientCapabilities=",
        # AF_NETLINK: the kit lists its interfaces' addresses (phone addresses, mDNS).
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK",
        "RestrictNamespaces=yes",
        "RestrictRealtime=yes",
        "RestrictSUIDSGID=yes",
        "LockPersonality=yes",
        "RemoveIPC=yes",
        "SystemCallArchitectures=native",
        "SystemCallFilter=@system-service",
        "SystemCallFilter=~@privileged @resources",
        "SystemCallErrorNumber=EPERM",
        "PrivateMounts=yes",
        # Not ProcSubset=pid: what the operator page reads of the system may come from /proc.
        # Not MemoryDenyWriteExecute=yes: ctypes (serve's prctl, the interface list of
        # mDNS) and cffi (cryptography) may need memory that is writable and executable,
        # and a kit killed at unlock on a Pi is worse than the little it adds.
        "",
        "[Install]",
        "WantedBy=multi-user.target",
        "",
    ]
    return "\n".join(lines)


def _account_exists(account: str) -> bool:
    try:
        pwd.getpwnam(account)
    except KeyError:
        return False
    return True


def plan_install(
    data_dir: Path,
    *,
    account: str = DEFAULT_ACCOUNT,
    unit_dir: Path = DEFAULT_UNIT_DIR,
    fieldkit: Path | None = None,
    account_exists: Callable[[str], bool] = _account_exists,
) -> ServicePlan:
    """The unit and the commands for ``fieldkit service install``; ServiceError for bad options."""
    folder = check_data_dir(data_dir)
    account = check_account(account)
    units = _check_path(unit_dir, "--unit-dir")
    program = _check_path(fieldkit or venv_fieldkit(), "the fieldkit command")
    if not Path(program).is_file():
        raise ServiceError(
            f"the fieldkit command {program} does not exist: run this with the kit's virtual environment's fieldkit"
        )
    notes: list[str] = []
    commands: list[tuple[str, ...]] = []
    if account_exists(account):
        notes.append(f"account {account} exists already: used as it is")
    else:
        commands.append(
            ("useradd", "--system", "--user-group", "--home-dir", str(folder), "--no-create-home",
             "--shell", "/usr/sbin/nologin", account)
        )  # fmt: skip
    commands += [
        ("install", "-d", "-m", "0700", "-o", account, "-g", account, str(folder)),
        ("chown", "-R", f"{account}:{account}", str(folder)),
        ("systemctl", "daemon-reload"),
    ]
    if any(_under(path, home) for path in (folder, program) for home in _HOME_FOLDERS):
        notes.append(
            f"{folder if any(_under(folder, h) for h in _HOME_FOLDERS) else program} is under a home folder: the unit "
            "makes home folders read-only for the kit (ProtectHome=read-only) instead of hiding them; "
            "/var/lib/fieldkit and /opt/fieldkit keep the kit apart from people's files"
        )
    try:
        holds_kit = (Path(folder) / KIT_FILE).is_file()
        unknown = ""
    except OSError as error:  # a folder this account may not read (the dry run of an account that is not root)
        holds_kit, unknown = False, f" (cannot tell: {error.strerror})"
    if holds_kit:
        commands.append(("systemctl", "enable", "--now", UNIT_NAME))
    else:
        commands.append(("systemctl", "enable", UNIT_NAME))
        notes.append(
            f"{folder} holds no kit yet{unknown}, so the service is enabled but not started: make the kit with "
            f"'sudo -u {account} {program} init --data {folder} ...', then 'systemctl start {UNIT_NAME}'"
        )
    return ServicePlan(
        unit_path=Path(units) / UNIT_NAME,
        unit=unit_text(folder, program, account),
        commands=tuple(commands),
        notes=tuple(notes),
    )

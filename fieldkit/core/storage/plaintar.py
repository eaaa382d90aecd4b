"""Reading a plain tar file someone else made, safely: the checks bundles and backups share.

Both a hub reading a kit's bundle and a restore reading a backup take a tar file that may
have been crafted. Python's ``tarfile`` would follow links, make devices and write outside
the target; so both read only plain (ustar, uncompressed) archives whose members are
regular files with plain relative paths, and refuse anything else with one sentence.
Each caller adds its own rules (which names it uses, size limits) and its own error type.
"""

from __future__ import annotations

import tarfile

__all__ = ["TAR_BLOCK", "TAR_PROBLEMS", "compressed_as", "is_plain_tar", "member_problem"]

TAR_BLOCK = 512
# What ``tarfile`` raises on a damaged or truncated archive, all of which mean "damaged".
TAR_PROBLEMS = (tarfile.TarError, OSError, EOFError, ValueError, UnicodeError)

_COMPRESSED_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"PK\x03\x04", "zip"),
)
_MEMBER_KINDS = {
    tarfile.SYMTYPE: "a symbolic link",
    tarfile.LNKTYPE: "a hard link",
    tarfile.CHRTYPE: "a character device",
    tarfile.BLKTYPE: "a block device",
    tarfile.FIFOTYPE: "a named pipe (FIFO)",
    tarfile.DIRTYPE: "a folder",
    tarfile.CONTTYPE: "a contiguous file",
    tarfile.GNUTYPE_SPARSE: "a sparse file",
}
_PLAIN_FILE_TYPES = (tarfile.REGTYPE, tarfile.AREGTYPE)


def compressed_as(head: bytes) -> str | None:
    """The compression a file's first bytes show ("gzip", ...), or None: it is never decompressed."""
    return next((name for magic, name in _COMPRESSED_MAGIC if head.startswith(magic)), None)


def is_plain_tar(head: bytes) -> bool:
    """True when the first block is a ustar header."""
    return len(head) >= TAR_BLOCK and head[257:262] == b"ustar"


def member_problem(member: tarfile.TarInfo, *, archive: str, inside: str) -> str | None:
    """Why ``member`` may not be read (a link, a device, a path leaving the folder), or None.

    ``archive`` and ``inside`` name, in the sentence, the archive ("a bundle") and what a
    path must stay in ("the bundle", "the restored folder").
    """
    shown = repr(member.name[:120])
    if member.type not in _PLAIN_FILE_TYPES:
        kind = _MEMBER_KINDS.get(member.type, f"of tar type {member.type!r}")
        return f"member {shown} is {kind}; {archive} holds only regular files"
    name = member.name
    if name.startswith("/") or "\\" in name or "\x00" in name or ".." in name.split("/"):
        return f"member {shown} has a path that would leave {inside}"
    return None

"""Times as the protocol writes them: UTC, whole seconds, ``YYYY-MM-DDTHH:MM:SSZ``."""

from __future__ import annotations

import datetime

_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0)


def format_stamp(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime(_FORMAT)


def parse_stamp(text: str | None) -> datetime.datetime | None:
    """A time as written in a protocol file or the link state; ``None`` if absent or not one."""
    if not text:
        return None
    try:
        return datetime.datetime.strptime(text, _FORMAT).replace(tzinfo=datetime.UTC)
    except ValueError:
        return None

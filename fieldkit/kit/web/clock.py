"""Times a person reads on the kit's pages: the kit's local time, written the page language's way.

Stamps are stored in UTC (drafts keep only the hour they were started); people
think in the clock on the wall, so pages convert them to the kit's own time zone
and write them as the interface language does (digits, order, AM/PM), with CLDR's
patterns from :mod:`fieldkit.core.i18n.cldr_formats` (Babel's, without its memory).
"""

from __future__ import annotations

import datetime

from fieldkit.core.i18n.cldr_formats import format_short_datetime, format_short_time
from fieldkit.kit.web.i18n import current_language


def kit_zone() -> datetime.tzinfo:
    """The kit's local time zone now (the phones share the kit's wall clock in the field)."""
    zone = datetime.datetime.now().astimezone().tzinfo
    return zone or datetime.UTC


def from_stamp(stamp: str) -> datetime.datetime | None:
    """A stored UTC stamp such as ``2026-05-06T14:00Z``; None if it is not one."""
    try:
        moment = datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except (AttributeError, ValueError):
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=datetime.UTC)


def from_epoch(seconds: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC)


def local_time(moment: datetime.datetime) -> str:
    """The time alone if it is today on the kit, else a short date and time."""
    zone = kit_zone()
    local = moment.astimezone(zone)
    language = current_language()
    if local.date() == datetime.datetime.now(zone).date():
        return format_short_time(local, language)
    return format_short_datetime(local, language)

"""The hub's centre registry: every centre the network assesses, in the ``centres`` table.

A centre has a stable code, a name, a region code, a kind (one of the forms' kinds of
centre: the choices of item ``setting`` in the centre-assessment form), an optional
coarse location and whether it is still assessed. Codes are what records, reports and
kits use, so they are strict: normalised (``canonical_code``: NFKC, no invisible
characters), plain ASCII letters, digits, ``-``, ``_`` and ``.`` (a Cyrillic ``С`` looks
exactly like a Latin ``C`` and would make a second centre), at most 32 characters, and
unique without regard to case. A retired centre keeps its code reserved forever, so a
report never mixes two centres under one code.

Names and locations stay at the hub: a pack carries only code, region and kind
(``sync.hub.packing``). A location is a city or district; anything that looks like
coordinates or a map link is refused, since a precise place of a small service can
identify the people who use it.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from fieldkit.core.errors import FieldkitError
from fieldkit.core.formengine.codes import canonical_code
from fieldkit.core.formengine.model import Form
from sync.hub import audit
from sync.hub.export.writers import FORMULA_GUARD, FORMULA_TRIGGERS, neutralise_formula
from sync.hub.store import HubStore
from sync.protocol.stamps import format_stamp, utcnow

__all__ = [
    "CENTRE_FORM",
    "CSV_HEADER",
    "KIND_ITEM",
    "Centre",
    "ImportSummary",
    "RegistryError",
    "add_centre",
    "centre_kinds",
    "centres",
    "clean_code",
    "edit_centre",
    "export_csv",
    "find_centre",
    "import_csv",
    "retire_centre",
]

CENTRE_FORM = "centre-assessment"
KIND_ITEM = "setting"
CSV_HEADER = ("code", "name", "region", "kind", "location", "active")
CODE_MAX = 32  # the pack's limit for a code
NAME_MAX = 200
LOCATION_MAX = 100
MAX_IMPORT_LINES = 10_000  # the pack's limit for centres

_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
# What a coarse location must not be: two numbers with decimals (51.5074, -0.1278),
# degrees or minutes signs (51°30'N), a plus code (9C3XGV4C+XQ) or a link to a map.
_DECIMAL = re.compile(r"\d+[.,]\d+")
_DEGREES = re.compile(r"[°º˚′″]|\d\s*['\"]")
_PLUS_CODE = re.compile(r"[23456789CFGHJMPQRVWX]{2,8}\+[23456789CFGHJMPQRVWX]{2,}", re.IGNORECASE)
_LINK = re.compile(r"https?:|geo:|www\.|maps\.", re.IGNORECASE)
_YES = frozenset({"yes", "y", "true", "1", "active", ""})
_NO = frozenset({"no", "n", "false", "0", "retired"})


class RegistryError(FieldkitError):
    """A change to the registry was refused; ``str()`` says why. Nothing was changed."""


@dataclass(frozen=True)
class Centre:
    """One row of the registry."""

    code: str
    name: str
    region: str
    kind: str
    location: str | None
    active: bool
    added: str = ""
    changed: str = ""

    def row(self) -> tuple[str, str, str, str, str, str]:
        """The centre as a line of the registry's CSV file (before the formula guard)."""
        return (self.code, self.name, self.region, self.kind, self.location or "", "yes" if self.active else "no")


@dataclass(frozen=True)
class ImportSummary:
    added: int
    updated: int
    unchanged: int


# --- Checking what a person typed -------------------------------------------------------


def centre_kinds(forms: Mapping[str, Form]) -> tuple[str, ...]:
    """The kinds of centre: the choice ids of item ``setting`` in the centre-assessment form."""
    form = forms.get(CENTRE_FORM)
    if form is None:
        raise RegistryError(f"the forms folder has no {CENTRE_FORM} form, which defines the kinds of centre")
    try:
        item = form.item(KIND_ITEM)
    except KeyError:
        raise RegistryError(
            f"the {CENTRE_FORM} form has no item {KIND_ITEM!r}, which lists the kinds of centre"
        ) from None
    return item.choice_ids()


def clean_code(text: str, what: str = "centre code") -> str:
    """``text`` as a code: normalised and checked, or :class:`RegistryError` saying what is wrong."""
    code = canonical_code(text)
    if not code:
        raise RegistryError(f"the {what} is empty")
    if len(code) > CODE_MAX:
        raise RegistryError(f"the {what} {code[:40]!r} is too long ({len(code)} characters; at most {CODE_MAX})")
    if not _CODE.fullmatch(code) or not code.isascii():
        raise RegistryError(
            f"the {what} {code[:40]!r} may hold only Latin letters A-Z, digits, '-', '_' and '.', "
            "starting with a letter or digit, and no spaces (letters of other alphabets look like "
            "Latin ones on a screen and would make a second code)"
        )
    return code


def _clean_name(text: str) -> str:
    name = " ".join(text.split())
    if not name:
        raise RegistryError("the centre needs a name")
    if len(name) > NAME_MAX:
        raise RegistryError(f"the centre's name is too long ({len(name)} characters; at most {NAME_MAX})")
    if any(not char.isprintable() for char in name):
        raise RegistryError("the centre's name holds control characters")
    return name


def _clean_location(text: str | None) -> str | None:
    if text is None:
        return None
    location = " ".join(text.split())
    if not location:
        return None
    if len(location) > LOCATION_MAX:
        raise RegistryError(f"the location is too long ({len(location)} characters; at most {LOCATION_MAX})")
    if (
        len(_DECIMAL.findall(location)) >= 2
        or _DEGREES.search(location)
        or _PLUS_CODE.search(location)
        or _LINK.search(location)
    ):
        raise RegistryError(
            f"the location {location[:40]!r} looks like coordinates or a map link; give only the "
            "city or district (a precise place of a small service can identify the people who use it)"
        )
    if any(not char.isprintable() for char in location):
        raise RegistryError("the location holds control characters")
    return location


def _clean_kind(text: str, kinds: Collection[str]) -> str:
    kind = text.strip()
    if kind not in kinds:
        raise RegistryError(f"{kind[:40]!r} is not a kind of centre; the kinds are: {', '.join(kinds)}")
    return kind


# --- Reading ------------------------------------------------------------------------------


def _centre(row: tuple) -> Centre:
    code, name, region, kind, location, active, added, changed = row
    return Centre(code, name, region, kind, location, bool(active), added, changed)


def centres(store: HubStore, *, include_retired: bool = False) -> list[Centre]:
    """The registry's centres by code (only the active ones unless ``include_retired``)."""
    where = "" if include_retired else "WHERE active=1"
    with store.transaction() as db:
        rows = db.execute(
            f"SELECT code, name, region, kind, location, active, added, changed FROM centres {where} "  # noqa: S608  # nosec B608
            "ORDER BY code"
        ).fetchall()
    return [_centre(row) for row in rows]


def find_centre(store: HubStore, code: str) -> Centre | None:
    """The centre whose code is ``code`` without regard to case, or None."""
    wanted = canonical_code(code).casefold()
    return next((c for c in centres(store, include_retired=True) if c.code.casefold() == wanted), None)


def _region(text: str, known: dict[str, str]) -> str:
    """A region code, spelt as the registry already spells it: ``north`` and ``NORTH`` are one
    region, and a report must not split it in two. ``known`` maps casefolded codes to spellings."""
    region = clean_code(text, "region code")
    return known.setdefault(region.casefold(), region)


def _regions(existing: Iterable[Centre]) -> dict[str, str]:
    known: dict[str, str] = {}
    for centre in sorted(existing, key=lambda c: c.added):  # the first spelling used stays
        known.setdefault(centre.region.casefold(), centre.region)
    return known


def _same_code(existing: Iterable[Centre], code: str) -> Centre | None:
    return next((c for c in existing if c.code.casefold() == code.casefold()), None)


# --- Changing -----------------------------------------------------------------------------


def _save(store: HubStore, centre: Centre, *, new: bool, action: str, changed: Sequence[str] = ()) -> None:
    """Write one centre, and its audit entry (the code and which fields changed, never the values)."""
    with store.transaction() as db:
        detail = {"fields": list(changed)} if changed else {}
        audit.append(db, audit.cli_actor(), action, centre.code, detail)
        if new:
            db.execute(
                "INSERT INTO centres(code, name, region, kind, location, active, added, changed) "
                "VALUES(?, ?, ?, ?, ?, ?, ?, ?)",
                (*centre.row()[:4], centre.location, int(centre.active), centre.added, centre.changed),
            )
        else:
            db.execute(
                "UPDATE centres SET name=?, region=?, kind=?, location=?, active=?, changed=? WHERE code=?",
                (centre.name, centre.region, centre.kind, centre.location, int(centre.active), centre.changed,
                 centre.code),
            )  # fmt: skip


def _refuse_look_alike(existing: Centre, code: str) -> None:
    state = "" if existing.active else " (retired: its code stays reserved)"
    if existing.code == code:
        raise RegistryError(f"centre {code} is already in the registry{state}; change it with 'hub centres edit'")
    raise RegistryError(
        f"{code} is the same code as centre {existing.code}{state}: codes are compared without "
        "regard to case, so they would count as one centre"
    )


def add_centre(
    store: HubStore,
    code: str,
    *,
    name: str,
    region: str,
    kind: str,
    kinds: Collection[str],
    location: str | None = None,
) -> Centre:
    """Add a centre (active); refuse a code already used by any centre, retired ones too."""
    clean = clean_code(code)
    now = format_stamp(utcnow())
    held = centres(store, include_retired=True)
    centre = Centre(
        clean, _clean_name(name), _region(region, _regions(held)), _clean_kind(kind, kinds),
        _clean_location(location), True, now, now,
    )  # fmt: skip
    existing = _same_code(held, clean)
    if existing is not None:
        _refuse_look_alike(existing, clean)
    _save(store, centre, new=True, action="centre.added")
    return centre


def _known(store: HubStore, code: str) -> Centre:
    centre = find_centre(store, code)
    if centre is None:
        raise RegistryError(f"no centre {canonical_code(code)[:40]!r} in the registry ('hub centres list --all')")
    return centre


def edit_centre(
    store: HubStore,
    code: str,
    *,
    kinds: Collection[str],
    name: str | None = None,
    region: str | None = None,
    kind: str | None = None,
    location: str | None = None,
    reactivate: bool = False,
) -> Centre:
    """Change a centre's name, region, kind or location (``location=""`` clears it)."""
    centre = _known(store, code)
    others = [c for c in centres(store, include_retired=True) if c.code != centre.code]
    changed = replace(
        centre,
        name=centre.name if name is None else _clean_name(name),
        region=centre.region if region is None else _region(region, _regions(others)),
        kind=centre.kind if kind is None else _clean_kind(kind, kinds),
        location=centre.location if location is None else _clean_location(location),
        active=centre.active or reactivate,
    )
    if changed == centre:
        raise RegistryError(f"nothing to change for centre {centre.code}: give what is new")
    fields = [name for name in ("name", "region", "kind", "location", "active")
              if getattr(changed, name) != getattr(centre, name)]  # fmt: skip
    changed = replace(changed, changed=format_stamp(utcnow()))
    _save(store, changed, new=False, action="centre.changed", changed=fields)
    return changed


def retire_centre(store: HubStore, code: str) -> Centre:
    """Stop assessing a centre: it leaves the next pack; its code stays reserved."""
    centre = _known(store, code)
    if not centre.active:
        raise RegistryError(f"centre {centre.code} was already retired on {centre.changed}")
    retired = replace(centre, active=False, changed=format_stamp(utcnow()))
    _save(store, retired, new=False, action="centre.retired")
    return retired


# --- The CSV file -------------------------------------------------------------------------


def _unguard(cell: str) -> str:
    """Undo :func:`neutralise_formula` exactly, so an exported file imports unchanged."""
    if cell.startswith(FORMULA_GUARD) and cell[1:].startswith((*FORMULA_TRIGGERS, FORMULA_GUARD)):
        return cell[1:]
    return cell


def _active(text: str) -> bool:
    value = text.strip().casefold()
    if value in _YES:
        return True
    if value in _NO:
        return False
    raise RegistryError(f"active must be yes or no, not {text[:20]!r}")


def _parse_csv(text: str, kinds: Collection[str], existing: list[Centre]) -> tuple[list[Centre], list[str]]:
    """The centres a CSV file describes, and every bad line with its number."""
    problems: list[str] = []
    found: list[Centre] = []
    first_line: dict[str, int] = {}
    regions = _regions(existing)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if header is None or [cell.strip().casefold() for cell in header] != list(CSV_HEADER):
            return [], [f"line 1: the header must be {','.join(CSV_HEADER)}"]
        for row in reader:
            number = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(found) + len(problems) >= MAX_IMPORT_LINES:
                problems.append(f"line {number}: more than {MAX_IMPORT_LINES} centres in one file")
                break
            if len(row) != len(CSV_HEADER):
                problems.append(f"line {number}: {len(row)} fields; each line needs {len(CSV_HEADER)}")
                continue
            code, name, region, kind, location, active = (_unguard(cell) for cell in row)
            try:
                clean = clean_code(code)
                centre = Centre(
                    clean, _clean_name(name), _region(region, regions), _clean_kind(kind, kinds),
                    _clean_location(location), _active(active),
                )  # fmt: skip
            except RegistryError as error:
                problems.append(f"line {number}: {error}")
                continue
            key = clean.casefold()
            if key in first_line:
                problems.append(f"line {number}: centre {clean} is already on line {first_line[key]}")
                continue
            first_line[key] = number
            held = _same_code(existing, clean)
            if held is not None and held.code != clean:
                problems.append(
                    f"line {number}: {clean} is the same code as centre {held.code} without regard to case; "
                    f"write it {held.code}"
                )
                continue
            found.append(centre)
    except csv.Error as error:
        problems.append(f"line {reader.line_num}: not a readable CSV line ({error})")
    return found, problems


def import_csv(store: HubStore, text: str, kinds: Collection[str]) -> ImportSummary:
    """Add and update centres from a CSV file, all or nothing; every bad line is named."""
    text = text.removeprefix("\ufeff")  # spreadsheets often start a UTF-8 file with a BOM
    with store.transaction() as db:
        rows = db.execute("SELECT code, name, region, kind, location, active, added, changed FROM centres").fetchall()
        existing = [_centre(row) for row in rows]
        found, problems = _parse_csv(text, kinds, existing)
        if problems:
            shown = "\n  ".join(problems[:50])
            more = f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
            raise RegistryError(f"the file has {len(problems)} bad line(s), so nothing was imported:\n  {shown}{more}")
        now = format_stamp(utcnow())
        added = updated = unchanged = 0
        by_code = {c.code: c for c in existing}
        for centre in found:
            held = by_code.get(centre.code)
            if held is None:
                db.execute(
                    "INSERT INTO centres(code, name, region, kind, location, active, added, changed) "
                    "VALUES(?, ?, ?, ?, ?, ?, ?, ?)",
                    (*centre.row()[:4], centre.location, int(centre.active), now, now),
                )
                added += 1
            elif held.row() == centre.row():
                unchanged += 1
            else:
                db.execute(
                    "UPDATE centres SET name=?, region=?, kind=?, location=?, active=?, changed=? WHERE code=?",
                    (centre.name, centre.region, centre.kind, centre.location, int(centre.active), now,
                     centre.code),
                )  # fmt: skip
                updated += 1
        audit.append(db, audit.cli_actor(), "centres.imported", "",
                     {"added": added, "updated": updated, "unchanged": unchanged})  # fmt: skip
    return ImportSummary(added, updated, unchanged)


def export_csv(store: HubStore) -> str:
    """Every centre, retired ones too, as the CSV file ``import_csv`` reads, formula-guarded."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for centre in centres(store, include_retired=True):
        writer.writerow([neutralise_formula(cell) for cell in centre.row()])
    return out.getvalue()

"""What a kit follows: the forms (every version it still needs), the centres, the cycle.

A kit's programme comes from the newest form pack the hub signed and the kit applied
(``fieldkit.kit.packs``), or, before any pack, from the forms shipped with fieldkit and
no centre list. It is built once when ``serve`` starts and passed to the web app.

Only what an interviewer needs to pick a centre reaches a kit: its code, its region and
its kind. Names and locations stay at the hub.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from fieldkit.core.formengine.model import Form


@dataclass(frozen=True)
class Centre:
    """A centre a kit can assess: what the interviewer picks from."""

    code: str
    region: str
    kind: str  # one of the forms' kinds of centre (the setting choices)


@dataclass(frozen=True)
class Cycle:
    """An assessment round: which forms and centres it covers, and when."""

    cycle_id: str
    name: str
    start: datetime.date
    end: datetime.date
    forms: tuple[str, ...]
    centres: tuple[str, ...] = ()  # () means every centre of the pack

    def covers_form(self, form_id: str) -> bool:
        return form_id in self.forms

    def covers_centre(self, code: str) -> bool:
        return not self.centres or code in self.centres


@dataclass(frozen=True)
class Programme:
    """The forms, centres and cycle one running kit serves."""

    # Every form version the kit can serve, by (id, version): the current ones for new
    # interviews, and older ones that drafts were started under.
    forms: Mapping[tuple[str, int], Form]
    # The version a new interview of each form starts under.
    current: Mapping[str, int]
    centres: tuple[Centre, ...] = ()
    cycle: Cycle | None = None
    pack_version: int | None = None  # None: the shipped forms, no pack applied
    hub_id: str | None = None
    settings: Mapping[str, object] = field(default_factory=dict)
    # The hub's current age recipient, from the pack of a hub that rotated its key; None:
    # new records are sealed to kit.json's hub recipient (``fieldkit.kit.sealing``).
    hub_recipient: str | None = None

    @classmethod
    def from_forms(
        cls,
        forms: Iterable[Form],
        *,
        centres: Iterable[Centre] = (),
        cycle: Cycle | None = None,
        pack_version: int | None = None,
        hub_id: str | None = None,
        settings: Mapping[str, object] | None = None,
    ) -> Programme:
        """A programme of these forms; the highest version of each id is the current one."""
        by_key = {(form.id, form.version): form for form in forms}
        current: dict[str, int] = {}
        for form_id, version in by_key:
            current[form_id] = max(version, current.get(form_id, version))
        return cls(
            forms=by_key,
            current=current,
            centres=tuple(centres),
            cycle=cycle,
            pack_version=pack_version,
            hub_id=hub_id,
            settings=dict(settings or {}),
        )

    def current_forms(self) -> dict[str, Form]:
        """The form each new interview starts with, by form id."""
        return {form_id: self.forms[(form_id, version)] for form_id, version in sorted(self.current.items())}

    def form(self, form_id: str, version: int | None = None) -> Form | None:
        """A form by id and version (the current version when ``version`` is None)."""
        if version is None:
            version = self.current.get(form_id)
            if version is None:
                return None
        return self.forms.get((form_id, version))

    def centre(self, code: str) -> Centre | None:
        return next((centre for centre in self.centres if centre.code == code), None)

    def centres_for(self, form_id: str) -> tuple[Centre, ...]:
        """The centres a new interview of ``form_id`` may be about, in the current cycle."""
        if self.cycle is None:
            return self.centres
        if not self.cycle.covers_form(form_id):
            return ()
        return tuple(centre for centre in self.centres if self.cycle.covers_centre(centre.code))

"""Every form definition the hub knows, by (form id, version), and where each comes from.

Records name their form by id and version. The hub reads them (export, reports) with
the definition of that exact version when it has one, from, in this order:

- ``shipped``: the current forms of the forms folder (the installed ones by default);
- ``archive``: the older published versions in its ``archive/`` folder
  (``fieldkit.core.formengine.archive``);
- ``packed``: the YAML of every form version the hub ever packed (the ``form_versions``
  table, ``sync.hub.packing``).

The same (id, version) from two places normally has one content; if not, the first in
that order is used and a warning says so. A packed YAML that no longer loads (a newer
fieldkit may read a form differently) is left out with a warning, never a crash.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from fieldkit.core.formengine.loader import load_form_text
from fieldkit.core.formengine.model import Form
from sync.hub.store import HubStore

__all__ = ["ARCHIVE", "PACKED", "SHIPPED", "Definitions", "gather", "held_forms", "known_to_hub"]

SHIPPED = "shipped"
ARCHIVE = "archive"
PACKED = "packed"


@dataclass(frozen=True)
class Definitions:
    """The definitions known, by (form id, version), each with its source, and any warnings."""

    forms: Mapping[tuple[str, int], Form]
    sources: Mapping[tuple[str, int], str]
    warnings: tuple[str, ...] = ()

    def versions_of(self, form_id: str) -> dict[int, Form]:
        """Every known version of ``form_id``, oldest first."""
        return {version: self.forms[(fid, version)] for fid, version in sorted(self.forms) if fid == form_id}

    def form_ids(self) -> list[str]:
        return sorted({form_id for form_id, _version in self.forms})


def held_forms(store: HubStore) -> tuple[list[Form], list[str]]:
    """The form versions the hub packed (``form_versions``), loaded; and a warning for each that does not load."""
    with store.transaction() as db:
        rows = db.execute("SELECT form_id, version, content_hash, source FROM form_versions ORDER BY form_id, version")
        found = rows.fetchall()
    forms: list[Form] = []
    warnings: list[str] = []
    for form_id, version, content_hash, source in found:
        shown = f"form_versions {form_id} v{version}"
        form, problems = load_form_text(str(source), Path(f"{form_id}.yaml"), shown)
        if form is None or problems:
            first = str(problems[0]) if problems else "it does not load"
            warnings.append(f"the packed definition of {form_id} version {version} is left out: {first}")
        elif (form.id, form.version, form.content_hash) != (form_id, int(version), content_hash):
            warnings.append(
                f"the packed definition of {form_id} version {version} is left out: it does not match "
                "the version and content hash recorded with it"
            )
        else:
            forms.append(form)
    return forms, warnings


def gather(
    shipped: Iterable[Form], archived: Iterable[Form] = (), packed: Iterable[Form] = (), warnings: Iterable[str] = ()
) -> Definitions:
    """The definitions from the three sources, the first source winning for one (id, version)."""
    forms: dict[tuple[str, int], Form] = {}
    sources: dict[tuple[str, int], str] = {}
    said = list(warnings)
    for source, chosen in ((SHIPPED, shipped), (ARCHIVE, archived), (PACKED, packed)):
        for form in chosen:
            key = (form.id, form.version)
            held = forms.get(key)
            if held is None:
                forms[key], sources[key] = form, source
            elif held.content_hash != form.content_hash:
                said.append(
                    f"form {form.id} version {form.version}: the {source} definition differs from the "
                    f"{sources[key]} one; records are read with the {sources[key]} one"
                )
    return Definitions(forms, sources, tuple(said))


def known_to_hub(store: HubStore, current: Iterable[Form], archived: Iterable[Form] = ()) -> Definitions:
    """Every definition the hub reads records with: the current forms, archived versions, and what it packed."""
    packed, unloadable = held_forms(store)
    return gather(current, archived, packed, unloadable)

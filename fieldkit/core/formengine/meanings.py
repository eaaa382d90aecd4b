"""What an item's answers mean, and whether two versions of a form give one item id two meanings.

Records of every version of a form are read together by item id (the hub's export
puts them in one table, the report scores them together), so an item id must keep
its meaning from one version to the next. An item's meaning is what its stored
answers can be:

- its type (``integer``, ``select_one``, ``likert``...);
- for ``select_one`` and ``select_multiple``, its choice values (the ids, not the labels);
- for ``likert``, its scale (agreement, frequency, quality).

The rule, applied to every pair of versions that both have an item id:

- the same type, the same scale: required;
- the choice values: the later version may **add** values (an old answer still means
  what it meant), but may not **remove or rename** one (old answers would hold a value
  the new question does not have, or the same value would stand for another answer);
- labels, hints, constraints, conditions, tags and scoring may change freely;
- adding an item or removing one is always allowed (a removed item is left empty in
  the rows of versions that did not ask it).

A question whose meaning changes needs a new item id. Notes take no answer, so they
have no meaning here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from fieldkit.core.formengine.model import Form

__all__ = [
    "CHOICE_TYPES",
    "Conflict",
    "Meaning",
    "change_between",
    "find_conflicts",
    "item_meanings",
    "meaning_from_json",
    "meaning_to_json",
]

# The item types whose choice values are part of their meaning (yes_no and consent have fixed values).
CHOICE_TYPES = ("select_one", "select_multiple")


@dataclass(frozen=True)
class Meaning:
    """What the stored answers of one item can be."""

    type: str
    choices: tuple[str, ...] = ()  # sorted choice values, for select_one and select_multiple
    scale: str | None = None  # for likert

    def __str__(self) -> str:
        if self.type in CHOICE_TYPES:
            return f"{self.type} ({', '.join(self.choices)})"
        if self.type == "likert":
            return f"likert ({self.scale or 'agreement'} scale)"
        return self.type


def item_meanings(form: Form) -> dict[str, Meaning]:
    """The meaning of every item of ``form`` whose value records hold, by item id."""
    found: dict[str, Meaning] = {}
    for item in form.items:
        if not item.stores_value:  # a calculated value is stored too, so its meaning is kept
            continue
        if item.type in CHOICE_TYPES:
            found[item.id] = Meaning(item.type, tuple(sorted(item.choice_ids())))
        elif item.type == "likert":
            found[item.id] = Meaning(item.type, scale=item.scale or "agreement")
        else:
            found[item.id] = Meaning(item.type)
    return found


def meaning_to_json(meaning: Meaning) -> dict[str, object]:
    """The lock file's entry for one item: ``{"type"}``, plus ``choices`` or ``scale``."""
    data: dict[str, object] = {"type": meaning.type}
    if meaning.type in CHOICE_TYPES:
        data["choices"] = list(meaning.choices)
    if meaning.scale is not None:
        data["scale"] = meaning.scale
    return data


def meaning_from_json(data: object) -> Meaning | None:
    """A lock file's item entry read back; None when it is not one."""
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        return None
    choices = data.get("choices", [])
    scale = data.get("scale")
    if not isinstance(choices, list) or not all(isinstance(choice, str) for choice in choices):
        return None
    if scale is not None and not isinstance(scale, str):
        return None
    if set(data) - {"type", "choices", "scale"}:
        return None
    return Meaning(data["type"], tuple(sorted(choices)), scale)


def change_between(earlier: Meaning, later: Meaning) -> str | None:
    """What changed in an item's meaning from an earlier version to a later one; None if nothing that counts."""
    if earlier.type != later.type:
        return f"its type changed from {earlier.type} to {later.type}"
    if earlier.scale != later.scale:
        return f"its likert scale changed from {earlier.scale} to {later.scale}"
    removed = sorted(set(earlier.choices) - set(later.choices))
    if removed:
        added = sorted(set(later.choices) - set(earlier.choices))
        change = f"choice value{'s' if len(removed) > 1 else ''} {', '.join(removed)} removed"
        if added:
            change += f" (and {', '.join(added)} added: renaming a value is removing it)"
        return change
    return None


@dataclass(frozen=True)
class Conflict:
    """One item id with two meanings in two versions of a form."""

    form_id: str
    item_id: str
    earlier: int
    later: int
    change: str

    def __str__(self) -> str:
        return (
            f"item {self.item_id} of form {self.form_id} changed meaning between version {self.earlier} "
            f"and version {self.later}: {self.change}; give the changed question a new id"
        )


def find_conflicts(
    form_id: str, versions: Mapping[int, Mapping[str, Meaning]], checked: Iterable[int] | None = None
) -> list[Conflict]:
    """Every item id that two versions of ``form_id`` give different meanings.

    ``versions``: the item meanings of each version known; ``checked``: the versions to
    compare with every other one (all of them when None). Each pair is reported once.
    """
    chosen = sorted(set(versions) if checked is None else set(checked) & set(versions))
    seen: set[tuple[int, int]] = set()
    conflicts: list[Conflict] = []
    for version in chosen:
        for other in sorted(versions):
            if other == version:
                continue
            pair = (min(version, other), max(version, other))
            if pair in seen:
                continue
            seen.add(pair)
            earlier, later = versions[pair[0]], versions[pair[1]]
            for item_id in sorted(set(earlier) & set(later)):
                change = change_between(earlier[item_id], later[item_id])
                if change is not None:
                    conflicts.append(Conflict(form_id, item_id, pair[0], pair[1], change))
    return conflicts

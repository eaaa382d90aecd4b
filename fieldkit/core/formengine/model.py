"""The in-memory shape of a form definition: frozen, validated, read by everyone.

The loader (``loader.py``) is the only place that builds these objects; the web
pages, the simulator, the translations extractor and the hub all read them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from fieldkit.core.formengine.expressions import Expression, ValueType

ITEM_TYPES = (
    "note",
    "text",
    "integer",
    "decimal",
    "select_one",
    "select_multiple",
    "date",
    "time",
    "datetime",
    "yes_no",
    "likert",
    "consent",
    "calculate",
)
# Item types the phone never shows: their value is worked out by the kit, never asked.
HIDDEN_TYPES = ("calculate",)

TAGS = ("P1", "P2", "P3", "P4", "P5", "P6", "P7", "modality", "harm_reduction", "rights")
PRINCIPLES = TAGS[:7]
RATED_TAGS = (*PRINCIPLES, "harm_reduction", "rights")

# The five QualityRights levels, best first; scoring rules are tried in this order.
LEVELS = ("full", "partial", "initiated", "not_initiated", "not_applicable")

# Answers offered beside an item's own ones. They are stored under these names,
# which the loader reserves so that no choice list can reuse them.
PREFER_NOT = "prefer_not"
DONT_KNOW = "dont_know"
OFFERS = (PREFER_NOT, DONT_KNOW)

# A form's ``centre`` key: must an interview name its centre, or may the person prefer not to say?
CENTRE_REQUIRED = "required"
CENTRE_OPTIONAL = "optional"
CENTRE_RULES = (CENTRE_REQUIRED, CENTRE_OPTIONAL)

CONSENT_GIVEN = "given"
CONSENT_DECLINED = "declined"

# Item types that may carry ``stop_if``: the kit counts a stop by the item and the answer
# given, so that answer must be one choice (a category), never a number or words.
STOP_TYPES = ("select_one", "yes_no")

# The one placeholder a consent script may hold: replaced, when the page is shown, by who
# can open the sealed answers (the roles of the kit's recipients, in the interview's language).
WHO_CAN_OPEN = "who_can_open"
SCRIPT_PLACEHOLDERS = (WHO_CAN_OPEN,)

# ``appearance`` words the kit renders, with the item types each applies to (forms/README.md,
# "Appearance"). Other words are kept, and ``forms check`` warns that they change nothing.
APPEARANCES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "minimal": ("select_one", "yes_no", "likert"),  # a drop-down list
        "horizontal": ("select_one", "select_multiple", "yes_no", "likert"),  # answers side by side
    }
)

LIKERT_SCALES = ("agreement", "frequency", "quality")
LIKERT_VALUES = (1, 2, 3, 4, 5)

TEXT_MAX_LENGTH_DEFAULT = 500
TEXT_MAX_LENGTH_LIMIT = 5000

VALUE_TYPES: Mapping[str, ValueType] = MappingProxyType(
    {
        "text": ValueType.TEXT,
        "integer": ValueType.NUMBER,
        "decimal": ValueType.NUMBER,
        "select_one": ValueType.CHOICE,
        "select_multiple": ValueType.CHOICES,
        "date": ValueType.DATE,
        # A time of day and a local date and time, stored as ISO text ("14:30", "2026-03-31T14:30"),
        # so conditions compare them as text; a calculate item's type is its calculation's.
        "time": ValueType.TEXT,
        "datetime": ValueType.TEXT,
        "yes_no": ValueType.CHOICE,
        "likert": ValueType.NUMBER,
        "consent": ValueType.CHOICE,
    }
)


@dataclass(frozen=True)
class Choice:
    id: str
    label: str
    translator_note: str = ""
    # Extra attributes (such as the region a district is in), read by an item's choice_filter.
    attributes: tuple[tuple[str, str], ...] = ()

    @property
    def attribute_map(self) -> dict[str, str]:
        return dict(self.attributes)


YES_NO_CHOICES = (Choice("yes", "Yes"), Choice("no", "No"))
CONSENT_CHOICES = (
    Choice(CONSENT_GIVEN, "Consent given"),
    Choice(CONSENT_DECLINED, "Declined"),
)


@dataclass(frozen=True)
class ScoringRule:
    """One level of an item's scoring: either a set of answer values or a condition."""

    level: str
    values: frozenset[object] = frozenset()
    condition: Expression | None = None


@dataclass(frozen=True)
class Item:
    id: str
    type: str
    label: str
    line: int = 0
    hint: str = ""
    required: bool = False
    relevant: Expression | None = None
    constraint: Expression | None = None
    constraint_message: str = ""
    # Stop the interview at once when this holds for the answer given (``forms/README.md``,
    # "Stopping an interview"): the draft is deleted and only a counter is kept.
    stop_if: Expression | None = None
    stop_note: str = ""
    choice_list: str | None = None
    choices: tuple[Choice, ...] = ()
    offer: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    source: str = ""
    scoring: tuple[ScoringRule, ...] = ()
    sensitive: bool = False
    translator_note: str = ""
    max_length: int | None = None
    min: float | None = None
    max: float | None = None
    scale: str | None = None
    # False when the interviewer ticks what the person says instead of reading the
    # answers out (how they came, who they are): the phone says so, and reading time
    # leaves the answers out.
    read_choices: bool = True
    # A consent item's words read aloud (its label is then the question asked after them).
    script: str = ""
    # A calculate item's expression and the type of its value (found by the loader's checks).
    calculation: Expression | None = None
    calculation_type: ValueType | None = None
    # The answer a new interview starts with, as stored (forms/README.md, "Starting answers").
    default: object = None
    # Said instead of the generic words when this required question is left blank.
    required_message: str = ""
    # Which choices are offered, given the earlier answers: cascading selects (forms/README.md).
    choice_filter: Expression | None = None
    appearance: tuple[str, ...] = ()  # words of APPEARANCES, and any others forms check warns of

    @property
    def takes_answer(self) -> bool:
        """Whether the phone asks for an answer (a note shows words; a calculate item is hidden)."""
        return self.type != "note" and self.type not in HIDDEN_TYPES

    @property
    def stores_value(self) -> bool:
        """Whether records may hold a value for this item: an answer, or a calculated value."""
        return self.type != "note"

    @property
    def value_type(self) -> ValueType | None:
        if self.type == "calculate":
            return self.calculation_type
        return VALUE_TYPES.get(self.type)

    @property
    def is_red_flag(self) -> bool:
        """A human-rights red flag: a sensitive yes/no question tagged ``rights``."""
        return self.sensitive and "rights" in self.tags and self.type == "yes_no"

    def choice_ids(self) -> tuple[str, ...]:
        return tuple(choice.id for choice in self.choices)

    def appears(self, word: str) -> bool:
        return word in self.appearance

    @property
    def unknown_appearances(self) -> tuple[str, ...]:
        return tuple(word for word in self.appearance if word not in APPEARANCES)

    def principles(self) -> tuple[str, ...]:
        return tuple(tag for tag in self.tags if tag in RATED_TAGS)


@dataclass(frozen=True)
class Section:
    id: str
    # ``title`` is the page heading anyone near the phone can read, so it stays neutral;
    # ``topic`` says what the section is about, for the codebook and the report.
    title: str
    items: tuple[Item, ...]
    line: int = 0
    relevant: Expression | None = None
    topic: str = ""
    # A small line above the title: the groups it sits in, for an XLSForm group inside a group.
    heading: str = ""

    @property
    def described(self) -> str:
        """What the section is about: its topic, or its title when it has none."""
        return self.topic or self.title


@dataclass(frozen=True)
class Form:
    id: str
    version: int
    title: str
    sections: tuple[Section, ...]
    content_hash: str
    description: str = ""
    # Whether an interview of this form must name the centre it is about (CENTRE_REQUIRED),
    # or may record that the person prefers not to say (CENTRE_OPTIONAL). The kit asks
    # for the centre only when its form pack lists centres.
    centre: str = CENTRE_REQUIRED
    path: Path | None = None
    choice_lists: Mapping[str, tuple[Choice, ...]] = field(default_factory=dict)

    @property
    def items(self) -> tuple[Item, ...]:
        return tuple(item for section in self.sections for item in section.items)

    def item(self, item_id: str) -> Item:
        for item in self.items:
            if item.id == item_id:
                return item
        raise KeyError(item_id)

    def section_of(self, item_id: str) -> Section:
        for section in self.sections:
            if any(item.id == item_id for item in section.items):
                return section
        raise KeyError(item_id)

    @property
    def key(self) -> str:
        """``form-id@version``: how records and the lock file name this form."""
        return f"{self.id}@{self.version}"

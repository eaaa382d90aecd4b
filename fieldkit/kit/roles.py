"""Who can open a kit's sealed answers, named by role: what the consent script promises.

A consent script says who can open the answers (its ``{who_can_open}``). Free text would
not exist in every language the interview is given in, so each recipient of a kit is
named by one role of a fixed, translated vocabulary, given at ``fieldkit init``
(``--hub-role``, ``--escrow-role``) and kept in ``kit.json`` beside the recipients,
sealed like them (``fieldkit.kit.settings_seal``).

A kit made before roles were (``kit.json`` without ``recipient_roles``): its hub is the
network's regional team, as the old script said, and an escrow recipient is "one other
organisation our network chose", which is true whoever it is.
"""

from __future__ import annotations

from collections.abc import Sequence

from fieldkit.core.errors import FieldkitError
from fieldkit.core.formengine.labels import N_

ROLES_FIELD = "recipient_roles"  # in kit.json: one role per recipient, in the same order
HUB_ROLE_DEFAULT = "regional-team"

# Each role's words, as they follow "only ... can open them" in a consent script.
ROLES = {
    # TRANSLATORS: who can open the answers: fills {who_can_open} in consent scripts, %(who)s on the operator page.
    "regional-team": N_("our network's regional team"),
    # TRANSLATORS: who can open the answers: fills {who_can_open} in consent scripts, %(who)s on the operator page.
    "national-network": N_("our national network"),
    # TRANSLATORS: who can open the answers: fills {who_can_open} in consent scripts, %(who)s on the operator page.
    "global-network": N_("our global network"),
    # TRANSLATORS: who can open the answers: fills {who_can_open} in consent scripts, %(who)s on the operator page.
    "partner-organisation": N_("a partner organisation our network chose"),
}
# TRANSLATORS: who can open the answers, for a second key of an older kit whose holder was not named: fills
# {who_can_open} in the consent scripts. Two or more are joined as a list ("A and B") in your language.
UNNAMED_ESCROW = N_("one other organisation our network chose")

__all__ = ["HUB_ROLE_DEFAULT", "ROLES", "ROLES_FIELD", "UNNAMED_ESCROW", "check_role", "role_texts"]


def check_role(role: str, option: str) -> str:
    """``role`` when it is one of the vocabulary's, else a clear error listing the choices."""
    if role not in ROLES:
        raise FieldkitError(f"{option} {role!r} is not a known role; choose one of: {', '.join(ROLES)}")
    return role


def role_texts(roles: Sequence[str], recipients: int) -> list[str]:
    """The English words for each of ``recipients`` recipients, from their roles (see the module docstring).

    A role that is missing or not in the vocabulary (a kit from before roles) is the hub's
    default for the first recipient and the truthful generic phrase for any other.
    """
    texts = []
    for number in range(recipients):
        role = roles[number] if number < len(roles) else ""
        if role in ROLES:
            texts.append(ROLES[role])
        else:
            texts.append(ROLES[HUB_ROLE_DEFAULT] if number == 0 else UNNAMED_ESCROW)
    return texts


def role_names(roles: Sequence[str], recipients: int) -> list[str]:
    """Each recipient's role as ``kit.json`` would say it, for the operator ("(not given)" for an old kit's)."""
    names = []
    for number in range(recipients):
        role = roles[number] if number < len(roles) else ""
        if role in ROLES:
            names.append(role)
        else:
            names.append(HUB_ROLE_DEFAULT if number == 0 else "(not given)")
    return names

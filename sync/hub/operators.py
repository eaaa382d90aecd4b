"""The hub's named operator accounts and their roles.

Each person who uses the hub's pages has an account in the hub store (table
``operators``: name, role, scrypt password hash, when it was made and last changed,
whether it is disabled). ``fieldkit hub operators add|remove|list|password|role|disable|enable`` keeps
them; whoever runs those commands holds the hub folder, and filesystem access is admin.

Roles, and what each may do, are in one table, :data:`PERMISSIONS` (a permission name per
action; every operator page names the one it needs, ``sync.hub.web.auth``):

- ``admin``: everything, including enrolling kits and hubs, revoking them, deciding on
  quarantine, keeping the operators and reading the audit trail;
- ``analyst``: exports and reports, and what a viewer sees;
- ``viewer``: the hub's status and the reports already made.

The last admin cannot be removed, demoted or disabled: a hub always has one.

A hub set up with the single operator password (``HUBDIR/operator-password.json``) and no
accounts yet gets an admin named ``admin`` holding that same hash the first time it is
opened for serving or a login (:func:`adopt_single_password`); the file is then removed,
since its hash lives in the store. Nobody is locked out, and the old password logs in as
``admin``.

Changing an operator (password, role, removal, disabling) ends that operator's sessions
and nobody else's: each session row names its operator, and each session keeps a
fingerprint of the operator's hash and role that every request compares
(:func:`fingerprint`).
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import re
import threading
from dataclasses import dataclass, field

from fieldkit.core.crypto.passwords import DEFAULT_WORK_FACTOR, hash_password
from fieldkit.core.errors import FieldkitError
from sync.hub import audit
from sync.hub.database import Database
from sync.hub.store import HubStore

__all__ = [
    "ADMIN",
    "ANALYST",
    "MIN_PASSWORD_LENGTH",
    "PERMISSIONS",
    "ROLES",
    "VIEWER",
    "Operator",
    "OperatorError",
    "adopt_single_password",
    "allowed",
    "check_name",
    "fingerprint",
    "permissions_of",
]

ADMIN, ANALYST, VIEWER = "admin", "analyst", "viewer"
ROLES = (ADMIN, ANALYST, VIEWER)

# Which role may do what: the one place. A permission per action.
PERMISSIONS: dict[str, frozenset[str]] = {
    "status": frozenset({ADMIN, ANALYST, VIEWER}),  # the overview: counts, sources, events
    "reports": frozenset({ADMIN, ANALYST, VIEWER}),  # the reports already made
    "export": frozenset({ADMIN, ANALYST}),
    "report": frozenset({ADMIN, ANALYST}),  # making a report
    "enrol": frozenset({ADMIN}),  # enrolment tokens
    "revoke": frozenset({ADMIN}),  # revoking a kit or hub, dropping what a revoked kit sent
    "quarantine": frozenset({ADMIN}),  # accepting or dropping a version in quarantine
    "operators": frozenset({ADMIN}),  # keeping the operator accounts
    "audit": frozenset({ADMIN}),  # the audit trail: who did what, logins included
}

# The hash checks live with the single password's file (sync.hub.web.password), imported
# when used: that package imports this module.
MIN_PASSWORD_LENGTH = 10
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")
_SINGLE_ADMIN = "admin"  # the account a hub with the single operator password gets
_ADOPT_LOCK = threading.Lock()


def check_stored(stored: str, password: str) -> bool:
    from sync.hub.web.password import check_stored as check

    return check(stored, password)


@functools.cache
def _no_such_operator() -> str:
    # Compared against when a name is unknown, so a wrong name takes as long as a wrong password.
    return hash_password("no operator has this password", work_factor=DEFAULT_WORK_FACTOR)


class OperatorError(FieldkitError):
    """An operator command that cannot be done; ``str()`` says why. Nothing was changed."""


def allowed(role: str | None, permission: str) -> bool:
    """May an operator of ``role`` do ``permission``? (An unknown permission is a bug: KeyError.)"""
    return role in PERMISSIONS[permission]


def permissions_of(role: str) -> list[str]:
    return [name for name, roles in PERMISSIONS.items() if role in roles]


def check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise OperatorError(
            f"{name!r} is not an operator name: use 1 to 32 letters, digits, '.', '_' or '-', starting with a "
            "letter or digit"
        )
    return name


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise OperatorError(f"{role!r} is not a role: choose one of {', '.join(ROLES)}")
    return role


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise OperatorError(f"choose an operator password of at least {MIN_PASSWORD_LENGTH} characters")


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Operator:
    """One operator account; the hash never appears in ``repr`` (and is never printed)."""

    name: str
    role: str
    created: str
    changed: str
    disabled: bool
    password_hash: str = field(repr=False)

    def may(self, permission: str) -> bool:
        return not self.disabled and allowed(self.role, permission)


def fingerprint(operator: Operator) -> str:
    """A short value that changes whenever the operator's password or role changes (for sessions)."""
    material = "\0".join((operator.name, operator.role, operator.password_hash)).encode("utf-8")
    return hashlib.sha256(b"fieldkit-operator-session/2" + material).hexdigest()[:32]


_COLUMNS = "name, role, password_hash, created, changed, disabled"


def _operator(row: tuple) -> Operator:
    name, role, password_hash, created, changed, disabled = row
    return Operator(str(name), str(role), str(created), str(changed), bool(disabled), str(password_hash))


class Operators:
    """The operator accounts of one open hub store."""

    def __init__(self, store: HubStore) -> None:
        self.store = store

    def list(self) -> list[Operator]:
        rows = self.store.read(f"SELECT {_COLUMNS} FROM operators ORDER BY name")  # noqa: S608  # nosec B608
        return [_operator(row) for row in rows]

    def get(self, name: str) -> Operator | None:
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            return None
        rows = self.store.read(f"SELECT {_COLUMNS} FROM operators WHERE name=?", (name,))  # noqa: S608  # nosec B608
        return _operator(rows[0]) if rows else None

    def require(self, name: str) -> Operator:
        """Operator ``name``; OperatorError (with the names there are) when there is none."""
        with self.store.transaction() as db:
            return self._existing(db, name)

    def check_new(self, name: str) -> None:
        """OperatorError unless ``name`` is a valid name no operator has (case aside)."""
        check_name(name)
        with self.store.transaction() as db:
            self._refuse_taken(db, name)

    @staticmethod
    def _refuse_taken(db: Database, name: str) -> None:
        clash = db.execute("SELECT name FROM operators WHERE lower(name)=lower(?)", (name,)).fetchone()
        if clash is not None:
            raise OperatorError(f"there is already an operator {clash[0]!r} on this hub: choose another name")

    def _existing(self, db: Database, name: str) -> Operator:
        row = db.execute(f"SELECT {_COLUMNS} FROM operators WHERE name=?", (check_name(name),)).fetchone()  # noqa: S608  # nosec B608
        if row is None:
            known = [str(r[0]) for r in db.execute("SELECT name FROM operators ORDER BY name").fetchall()]
            raise OperatorError(f"there is no operator {name!r} on this hub (operators: {', '.join(known) or 'none'})")
        return _operator(row)

    @staticmethod
    def _refuse_last_admin(db: Database, operator: Operator, what: str) -> None:
        if operator.role != ADMIN or operator.disabled:
            return
        admins = db.execute("SELECT COUNT(*) FROM operators WHERE role=? AND disabled=0", (ADMIN,)).fetchone()[0]
        if admins <= 1:
            raise OperatorError(
                f"{operator.name} is the last admin of this hub and cannot be {what}: add another admin first "
                "('fieldkit hub operators add NAME --role admin')"
            )

    def add(
        self, name: str, role: str, password: str, *, work_factor: int = DEFAULT_WORK_FACTOR, actor: str | None = None
    ) -> Operator:
        check_name(name)
        _check_role(role)
        _check_password(password)
        password_hash = hash_password(password, work_factor=work_factor)
        return self._insert(name, role, password_hash, actor=actor)

    def _insert(self, name: str, role: str, password_hash: str, *, actor: str | None = None) -> Operator:
        now = _now()
        with self.store.transaction() as db:
            self._refuse_taken(db, name)
            db.execute(
                f"INSERT INTO operators({_COLUMNS}) VALUES(?, ?, ?, ?, ?, 0)",  # nosec B608
                (name, role, password_hash, now, now),
            )
            self.store.log_event(db, "operators", f"operator {name} added as {role}")
            audit.append(db, actor or audit.cli_actor(), "operator.added", name, {"role": role})
        return Operator(name, role, now, now, False, password_hash)

    def remove(self, name: str, *, actor: str | None = None) -> int:
        """Remove an operator; how many of their sessions were ended."""
        with self.store.transaction() as db:
            operator = self._existing(db, name)
            self._refuse_last_admin(db, operator, "removed")
            db.execute("DELETE FROM operators WHERE name=?", (operator.name,))
            ended = self.store.end_operator_sessions(db, operator.name)
            self.store.log_event(db, "operators", f"operator {operator.name} removed")
            audit.append(db, actor or audit.cli_actor(), "operator.removed", operator.name, {"sessions_ended": ended})
        return ended

    def set_password(
        self, name: str, password: str, *, work_factor: int = DEFAULT_WORK_FACTOR, actor: str | None = None
    ) -> int:
        """A new password for ``name``; how many of their sessions were ended (the others stay)."""
        _check_password(password)
        password_hash = hash_password(password, work_factor=work_factor)
        with self.store.transaction() as db:
            operator = self._existing(db, name)
            db.execute(
                "UPDATE operators SET password_hash=?, changed=? WHERE name=?", (password_hash, _now(), operator.name)
            )
            ended = self.store.end_operator_sessions(db, operator.name)
            self.store.log_event(db, "operators", f"operator {operator.name}: password changed")
            audit.append(db, actor or audit.cli_actor(), "password.changed", operator.name, {"sessions_ended": ended})
        return ended

    def set_role(self, name: str, role: str, *, actor: str | None = None) -> int:
        _check_role(role)
        with self.store.transaction() as db:
            operator = self._existing(db, name)
            if operator.role == role:
                return 0
            self._refuse_last_admin(db, operator, "given another role")
            db.execute("UPDATE operators SET role=?, changed=? WHERE name=?", (role, _now(), operator.name))
            ended = self.store.end_operator_sessions(db, operator.name)
            self.store.log_event(db, "operators", f"operator {operator.name}: role {operator.role} -> {role}")
            audit.append(
                db, actor or audit.cli_actor(), "operator.role", operator.name, {"from": operator.role, "to": role}
            )
        return ended

    def set_disabled(self, name: str, disabled: bool, *, actor: str | None = None) -> int:
        with self.store.transaction() as db:
            operator = self._existing(db, name)
            if operator.disabled == disabled:
                return 0
            if disabled:
                self._refuse_last_admin(db, operator, "disabled")
            db.execute(
                "UPDATE operators SET disabled=?, changed=? WHERE name=?", (int(disabled), _now(), operator.name)
            )
            ended = self.store.end_operator_sessions(db, operator.name)
            state = "disabled" if disabled else "enabled"
            self.store.log_event(db, "operators", f"operator {operator.name} {state}")
            audit.append(db, actor or audit.cli_actor(), f"operator.{state}", operator.name, {"sessions_ended": ended})
        return ended

    def check(self, name: str, password: str) -> Operator | None:
        """The enabled operator ``name`` when ``password`` is theirs, else None (same cost either way)."""
        operator = self.get(name)
        if operator is None or operator.disabled:
            check_stored(_no_such_operator(), password)
            return None
        if not password or not check_stored(operator.password_hash, password):
            return None
        from sync.hub.web.password import stored_is_legacy, stored_work_factor

        if stored_is_legacy(operator.password_hash):
            # A first-format hash is rewritten now that the password is known, with the same
            # cost, before the session's fingerprint is taken.
            rewritten = hash_password(password, work_factor=stored_work_factor(operator.password_hash))
            with self.store.transaction() as db:
                db.execute(
                    "UPDATE operators SET password_hash=? WHERE name=? AND password_hash=?",
                    (rewritten, operator.name, operator.password_hash),
                )
            operator = self.get(name)
        return operator

    def any(self) -> bool:
        return bool(self.store.read("SELECT 1 FROM operators LIMIT 1"))


def adopt_single_password(store: HubStore) -> bool:
    """Give a hub with the single operator password and no accounts an admin named ``admin``.

    That account holds the same hash, so the same password logs in (as ``admin``). The
    file is removed once its hash is in the store. True when an account was made.
    """
    from sync.hub.web.password import OperatorPassword, PasswordError

    single = OperatorPassword.for_hub(store.data_dir)
    if not single.exists():
        return False
    with _ADOPT_LOCK:
        operators = Operators(store)
        made = False
        if not operators.any():
            try:
                kept = single.kept_hash()
            except PasswordError as error:
                raise OperatorError(
                    f"{error}; or add an admin with 'fieldkit hub operators add NAME --role admin'"
                ) from None
            operators._insert(_SINGLE_ADMIN, ADMIN, kept)
            made = True
        single.path.unlink(missing_ok=True)
        return made

"""The hub operator's password, the login pages, and the guard on every operator page.

The password is stored as an scrypt hash with a random salt in
``HUBDIR/operator-password.json`` (mode 0600), never in clear. It is set on the first
``fieldkit hub serve`` (or with ``fieldkit hub password``). Wrong attempts are limited
per client address and overall in a sliding window (``fieldkit.webbase.throttle``, shared
with the kit's pairing), so guessing is slow even from many
addresses; while the limit holds, even the right password is refused. A login clears
the session first (no fixation) and stores a fingerprint of the stored hash, so
changing the password ends every other session.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import hmac
import json
import os
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from flask import Blueprint, Flask, current_app, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

from fieldkit.core.errors import FieldkitError
from fieldkit.core.storage.atomic import write_atomic

__all__ = [
    "PASSWORD_FILE",
    "OperatorPassword",
    "PasswordError",
    "bp",
    "require_login",
]

PASSWORD_FILE = "operator-password.json"  # noqa: S105 (a file name, not a secret)
PASSWORD_FORMAT = "fieldkit-hub-operator/1"  # noqa: S105 (a format name)
DEFAULT_WORK_FACTOR = 15  # scrypt N = 2**15, r = 8: about 32 MiB and a tenth of a second
MIN_PASSWORD_LENGTH = 10
_SALT_BYTES = 16
_HASH_BYTES = 32


class PasswordError(FieldkitError):
    """The operator password is missing, damaged, too short or wrong; ``str()`` says which."""


def _normalise(password: str) -> bytes:
    # The same password typed on two keyboards may arrive composed or decomposed.
    return unicodedata.normalize("NFC", password).encode("utf-8")


def _derive(password: str, salt: bytes, work_factor: int) -> bytes:
    return Scrypt(salt=salt, length=_HASH_BYTES, n=2**work_factor, r=8, p=1).derive(_normalise(password))


@dataclass(frozen=True)
class OperatorPassword:
    """The stored hash of the operator password for one hub folder."""

    path: Path

    @classmethod
    def for_hub(cls, data_dir: Path) -> OperatorPassword:
        return cls(Path(data_dir) / PASSWORD_FILE)

    def exists(self) -> bool:
        return self.path.exists()

    def set(self, password: str, *, work_factor: int = DEFAULT_WORK_FACTOR) -> None:
        """Store a new password (replacing any old one); ends every session on next request."""
        if len(password) < MIN_PASSWORD_LENGTH:
            raise PasswordError(f"choose an operator password of at least {MIN_PASSWORD_LENGTH} characters")
        salt = os.urandom(_SALT_BYTES)
        document = {
            "format": PASSWORD_FORMAT,
            "kdf": {"name": "scrypt", "work_factor": work_factor, "r": 8, "p": 1},
            "salt": base64.b64encode(salt).decode("ascii"),
            "hash": base64.b64encode(_derive(password, salt, work_factor)).decode("ascii"),
            "set": datetime.datetime.now(datetime.UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        write_atomic(self.path, (json.dumps(document, indent=2) + "\n").encode("ascii"), mode=0o600)

    def _load(self) -> tuple[bytes, bytes, int]:
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise PasswordError(
                "no operator password is set for this hub: run 'fieldkit hub password' or 'fieldkit hub serve'"
            ) from None
        except (OSError, ValueError) as error:
            raise PasswordError(f"cannot read {self.path}: {error}") from None
        try:
            if document["format"] != PASSWORD_FORMAT:
                raise ValueError("format")
            work_factor = int(document["kdf"]["work_factor"])
            if not 10 <= work_factor <= 22:
                raise ValueError("work factor")
            salt = base64.b64decode(document["salt"], validate=True)
            stored = base64.b64decode(document["hash"], validate=True)
        except (KeyError, TypeError, ValueError, binascii.Error):
            raise PasswordError(f"{self.path} is damaged; set the password again ('fieldkit hub password')") from None
        return salt, stored, work_factor

    def check(self, password: str) -> bool:
        """True when ``password`` is the operator password (constant-time compare)."""
        salt, stored, work_factor = self._load()
        return hmac.compare_digest(_derive(password, salt, work_factor), stored)

    def fingerprint(self) -> str:
        """A short value that changes whenever the password is set again (for sessions)."""
        _salt, stored, _work_factor = self._load()
        return hashlib.sha256(b"fieldkit-operator-session" + stored).hexdigest()[:32]


# --- Pages and the guard ---------------------------------------------------------------

bp = Blueprint("auth", __name__)


def _hub():  # the app's HubServices; imported lazily to keep this module free of cycles
    return current_app.extensions["fieldkit_hub"]


def logged_in() -> bool:
    hub = _hub()
    marker = session.get("operator")
    since = session.get("since")
    if not isinstance(marker, str) or not isinstance(since, int | float):
        return False
    if time.time() - since > hub.settings.session_hours * 3600:
        return False
    try:
        return hmac.compare_digest(marker, hub.password.fingerprint())
    except PasswordError:
        return False


def require_login(app: Flask, blueprint_names: set[str]) -> None:
    """Make every view of the named blueprints need an operator login (else: the login page)."""

    @app.before_request
    def require_operator() -> Response | None:
        if request.blueprint not in blueprint_names or logged_in():
            return None
        return redirect(url_for("auth.login", next=request.path))


def _safe_next(target: str | None) -> str:
    # Only paths on this hub: never an open redirect to another site.
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("operator.overview")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | tuple[str, int] | str:
    hub = _hub()
    if request.method != "POST":  # GET, or HEAD (which Flask routes here too)
        if logged_in():
            return redirect(_safe_next(request.args.get("next")))
        return render_template("login.html", message=None, next=request.args.get("next", ""))
    address = request.remote_addr or "unknown"
    wait = hub.throttle.retry_after(address)
    if wait > 0:
        message = f"Too many wrong passwords. Wait {int(wait) + 1} seconds, then try again."
        return render_template("login.html", message=message, next=""), 429
    password = request.form.get("password", "")
    try:
        right = bool(password) and hub.password.check(password)
    except PasswordError as error:
        return render_template("login.html", message=str(error), next=""), 503
    if not right:
        hub.throttle.failed(address)
        return render_template("login.html", message="Wrong password.", next=""), 401
    hub.throttle.succeeded(address)
    session.clear()
    session["operator"] = hub.password.fingerprint()
    session["since"] = int(time.time())
    return redirect(_safe_next(request.form.get("next")))


@bp.route("/logout", methods=["POST"])
def logout() -> Response:
    session.clear()
    return redirect(url_for("auth.login"))

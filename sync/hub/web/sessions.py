"""Operator sessions kept on the hub, in its store: the cookie carries only a random id.

A signed cookie (Flask's default) holds the whole session, so a copy taken before logout
stays valid until it expires, and nothing on the hub can end it. Here the cookie holds a
random 256-bit id; the hub keeps the session's data in ``HUBDIR/hub.sqlite`` under the
SHA-256 of that id (a copy of the database does not give usable cookies). Logout deletes
the row; each row names its operator, so a new password, another role or the removal
of that operator (``fieldkit hub operators``) deletes that operator's rows and nobody
else's; and each row ends at its expiry time (``HubSettings.session_hours``) whatever
the browser does.

Hand-written rather than Flask-Session: that package is not in our lock and would bring
a cache layer we do not need; the store already has SQLite, fsync and a lock, and this
is one small :class:`flask.sessions.SessionInterface`.
"""

from __future__ import annotations

import datetime
import hashlib
import secrets
from typing import Any

from flask import Flask, Request, Response
from flask.json.tag import TaggedJSONSerializer
from flask.sessions import SessionInterface, SessionMixin
from werkzeug.datastructures import CallbackDict

from sync.hub.store import HubStore

__all__ = ["StoreSessionInterface", "StoredSession", "rotate"]

_ID_BYTES = 32
_serializer = TaggedJSONSerializer()


def _id_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("ascii", "replace")).hexdigest()


def _stamp(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class StoredSession(CallbackDict, SessionMixin):  # type: ignore[type-arg]
    """A session's data; ``session_id`` is None until it is first saved."""

    def __init__(self, initial: dict[str, Any] | None = None, session_id: str | None = None) -> None:
        def on_update(_self: Any) -> None:
            self.modified = True

        super().__init__(initial or {}, on_update)
        self.session_id = session_id
        self.modified = False
        self.rotated_from: str | None = None


def rotate(session: SessionMixin) -> None:
    """Give the session a new id when it is next saved, and end the old one (at login)."""
    if isinstance(session, StoredSession) and session.session_id is not None:
        session.rotated_from = session.session_id
        session.session_id = None
        session.modified = True


class StoreSessionInterface(SessionInterface):
    """Sessions in the hub store, with an absolute lifetime."""

    def __init__(self, store: HubStore, lifetime: datetime.timedelta) -> None:
        self.store = store
        self.lifetime = lifetime

    def open_session(self, app: Flask, request: Request) -> StoredSession:
        session_id = request.cookies.get(self.get_cookie_name(app))
        if session_id and len(session_id) < 100:
            now = _stamp(datetime.datetime.now(datetime.UTC))
            data = self.store.load_session(_id_hash(session_id), now=now)
            if data is not None:
                try:
                    return StoredSession(_serializer.loads(data), session_id)
                except ValueError:
                    pass  # a damaged row: start afresh
        return StoredSession()

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        assert isinstance(session, StoredSession)
        name = self.get_cookie_name(app)
        domain, path = self.get_cookie_domain(app), self.get_cookie_path(app)
        if session.rotated_from is not None:
            self.store.delete_session(_id_hash(session.rotated_from))
        if not session:
            if session.session_id is not None or session.rotated_from is not None:
                if session.session_id is not None:
                    self.store.delete_session(_id_hash(session.session_id))
                response.delete_cookie(name, domain=domain, path=path)
            return
        if not session.modified:
            return
        now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
        if session.session_id is None:
            session.session_id = secrets.token_urlsafe(_ID_BYTES)
        self.store.save_session(
            _id_hash(session.session_id),
            _serializer.dumps(dict(session)),
            operator=bool(session.get("operator")),
            operator_name=session.get("operator") if isinstance(session.get("operator"), str) else None,
            now=_stamp(now),
            expires=_stamp(now + self.lifetime),
        )
        # No Expires: the cookie ends with the browser too; the row's expiry is what counts.
        response.set_cookie(
            name,
            session.session_id,
            domain=domain,
            path=path,
            httponly=self.get_cookie_httponly(app),
            secure=self.get_cookie_secure(app),
            samesite=self.get_cookie_samesite(app),
        )

"""``fieldkit hub serve | password | unlock-login | enrol-upstream | forward``: the hub over HTTP.

``serve`` runs the hub's web app (API for kits and hubs, pages for the operators) with
waitress. ``password`` sets the password of operator ``admin`` (the operator of hubs set
up with a single password; ``fieldkit hub operators`` keeps every account). ``enrol-upstream`` enrols this hub at
a national hub with a token from it, and ``forward`` sends this hub's merged ciphertext
there. ``docs/sync.md`` explains how kits and hubs talk.
"""

from __future__ import annotations

from pathlib import Path

import click

from fieldkit.cli.conflicts import refuse_together
from fieldkit.cli.hub_operators import adopt
from fieldkit.cli.options import EXISTING_FILE, HUB_DATA_OPTION
from fieldkit.cli.passphrase import read_passphrase
from fieldkit.core.errors import FieldkitError
from fieldkit.core.hardening import forbid_core_dumps
from sync.hub.forward import (
    FORWARD_DB_FILE,
    ForwardState,
    enrol_upstream,
    forward_with_retries,
    undeclared_records,
    upstream_summary,
)
from sync.hub.operators import ADMIN, MIN_PASSWORD_LENGTH, Operators
from sync.hub.serving import DEFAULT_HUB_PORT, serve_hub
from sync.hub.store import IMPORT_CACHE_MIB, HubStore
from sync.hub.web import HubSettings
from sync.protocol.client import Backoff
from sync.protocol.enrolment import EnrolmentToken

_PASSWORD_FILE = click.option(
    "--passphrase-file",
    type=EXISTING_FILE,
    default=None,
    help="Read the operator password from the first line of FILE (for unattended use).",
)


def _new_password(passphrase_file: Path | None) -> str:
    password = read_passphrase(passphrase_file, prompt="New hub operator password", confirm=True)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise FieldkitError(f"choose an operator password of at least {MIN_PASSWORD_LENGTH} characters")
    return password


@click.command("password")
@HUB_DATA_OPTION
@_PASSWORD_FILE
def password(data_dir: Path, passphrase_file: Path | None) -> None:
    """Set (or change) the password of operator 'admin' (as 'hub operators password admin').

    Kept for hubs set up with a single operator password, which became operator
    'admin'; on a hub without operators it makes 'admin', an admin. Changing it ends
    admin's open sessions. Other operators: 'fieldkit hub operators'.
    """
    with HubStore(data_dir) as store:  # a missing or damaged hub folder is reported first
        adopt(store)
        accounts = Operators(store)
        if not accounts.any():
            accounts.add(ADMIN, ADMIN, _new_password(passphrase_file))
            click.echo("Operator admin (role admin) set up.")
            return
        if accounts.get(ADMIN) is None:
            raise FieldkitError(
                "this hub has no operator named 'admin': use 'fieldkit hub operators password NAME' "
                "('fieldkit hub operators list' shows the names)"
            )
        ended = accounts.set_password(ADMIN, _new_password(passphrase_file))
    click.echo("Password of operator admin set." + (f" {ended} open sessions ended." if ended else ""))


@click.command("unlock-login")
@HUB_DATA_OPTION
def unlock_login(data_dir: Path) -> None:
    """Lift the wrong-password limits of the running hub at once.

    For the operator locked out by someone guessing: the serving hub forgets every count
    of wrong passwords at the next login attempt. It needs the hub folder, so only
    someone at the hub computer can run it.
    """
    with HubStore(data_dir) as store:
        store.unlock_login()
    click.echo("Login limits lifted: the next login attempt at the running hub is checked at once.")


@click.command("serve")
@HUB_DATA_OPTION
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (0.0.0.0 for every network; see docs/sync.md).")  # fmt: skip
@click.option("--port", type=click.IntRange(0, 65535), default=DEFAULT_HUB_PORT, show_default=True,
              help="Port (0 picks a free one).")  # fmt: skip
@_PASSWORD_FILE
@click.option("--secure-cookies", is_flag=True,
              help="Send the login cookie over HTTPS only (when a TLS proxy is in front).")  # fmt: skip
@click.option("--behind-proxy", type=click.IntRange(0, 5), default=0, show_default=True, metavar="N",
              help="Trust X-Forwarded-For from N proxies in front (a TLS proxy: 1); 0 ignores it.")  # fmt: skip
def serve(
    data_dir: Path, host: str, port: int, passphrase_file: Path | None, secure_cookies: bool, behind_proxy: int
) -> None:
    """Serve the hub: the API kits push to, and the operator's pages (waitress).

    On the first run, with no operator yet, it asks for a password (or reads
    --passphrase-file) and makes operator 'admin', an admin; later, --passphrase-file
    must hold the password of one of the hub's admins. 'fieldkit hub operators' adds
    the others.
    """
    forbid_core_dumps()  # the receipt key and the password are in memory from here
    with HubStore(data_dir, cache_mib=IMPORT_CACHE_MIB) as store:  # a missing or damaged hub folder is reported first
        _ensure_operator(store, passphrase_file)
        settings = HubSettings(secure_cookies=secure_cookies, behind_proxy=behind_proxy)
        serve_hub(store, settings, host=host, port=port, echo=click.echo)


def _ensure_operator(store: HubStore, passphrase_file: Path | None) -> None:
    # Asking on the terminal (or reading the file) is the command line's part of serving.
    adopt(store)
    accounts = Operators(store)
    if not accounts.any():
        accounts.add(ADMIN, ADMIN, _new_password(passphrase_file))
        click.echo("Operator admin (role admin) set up: log in with the name admin.")
    elif passphrase_file is not None:
        given = read_passphrase(passphrase_file, prompt="Hub operator password")
        admins = [o for o in accounts.list() if o.role == ADMIN and not o.disabled]
        if not any(accounts.check(o.name, given) for o in admins):
            raise FieldkitError(
                f"the password in {passphrase_file} is not the password of an admin of this hub "
                "(change one with 'fieldkit hub operators password NAME')"
            )


def _token(token_text: str | None, token_file: Path | None) -> EnrolmentToken:
    if (token_text is None) == (token_file is None):
        raise FieldkitError("give exactly one of --token or --token-file")
    if token_file is not None:
        try:
            data = token_file.read_bytes()
        except OSError as error:
            raise FieldkitError(f"cannot read {token_file}: {error.strerror or error}") from None
        return EnrolmentToken.from_file_bytes(data)
    return EnrolmentToken.from_text(token_text or "")


@click.command("enrol-upstream")
@HUB_DATA_OPTION
@click.option("--to", "url", required=True, help="The upstream (national) hub's address, e.g. https://hub.example.org")
@click.option("--token", "token_text", default=None, help="A token from the upstream hub ('fieldkit hub enrol').")
@click.option("--token-file", type=EXISTING_FILE, default=None, help="A token file from the upstream hub.")
def enrol_upstream_command(data_dir: Path, url: str, token_text: str | None, token_file: Path | None) -> None:
    """Enrol this hub at an upstream hub over HTTP, so that 'hub forward' can send there.

    This hub gets a forwarding key of its own (HUBDIR/forward-key.pem); the upstream hub
    enrols it as a source of kind 'hub' with the one-time token.
    """
    token = _token(token_text, token_file)
    with HubStore(data_dir) as store:
        upstream = enrol_upstream(store, url, token)
        recipient = store.config.recipient
        store.audit(None, "upstream.enrolled", upstream.hub_id, {"url": upstream.url})
    click.echo(f"Enrolled at hub {upstream.hub_id} ({upstream.url}); 'fieldkit hub forward' now sends there.")
    if upstream.recipient and upstream.recipient != recipient:
        click.echo(
            f"Note: hub {upstream.hub_id} has another recipient ({upstream.recipient}). 'fieldkit hub forward' "
            "sends it only records of kits that seal to it too (for example as their --escrow-recipient, "
            "so that their consent script names its holder); 'fieldkit hub rollup' sends counts instead.",
            err=True,
        )


@click.command("forward")
@HUB_DATA_OPTION
@click.option("--to", "url", default=None, help="The upstream hub (default: the one this hub enrolled at).")
@click.option("--batch", type=click.IntRange(1, 10_000), default=500, show_default=True,
              help="At most this many records per bundle.")  # fmt: skip
@click.option("--attempts", type=click.IntRange(1, 1000), default=6, show_default=True,
              help="Give up after this many failed tries.")  # fmt: skip
@click.option("--forever", is_flag=True, help="Keep trying until everything is acknowledged.")
@click.option("--max-wait", type=click.FloatRange(0.01, 86_400), default=300.0, show_default=True,
              help="Longest wait between tries, in seconds.")  # fmt: skip
@refuse_together(("attempts", "forever"))
def forward(data_dir: Path, url: str | None, batch: int, attempts: int, forever: bool, max_wait: float) -> None:
    """Send this hub's merged ciphertext to the upstream hub, without decrypting it.

    Bundles are signed with this hub's forwarding key; records keep their kit id and
    metadata. Only records a verified receipt lists count as forwarded, so running it
    again sends only what is new. Only records of kits that declared the upstream hub's
    key at enrolment go (their consent script names its holder); the others stay, and
    the exit status is then 1.
    """
    with HubStore(data_dir) as store:
        if not (data_dir / FORWARD_DB_FILE).exists():
            raise FieldkitError(
                "this hub forwards nowhere yet: run 'fieldkit hub enrol-upstream --data HUBDIR --to URL "
                "--token TOKEN' with a token from the upstream hub first"
            )
        with ForwardState(data_dir) as state:
            upstream = state.find(url)
        undeclared = undeclared_records(store, upstream)
        outcome = forward_with_retries(
            store,
            upstream,
            attempts=None if forever else attempts,
            backoff=Backoff(first=min(2.0, max_wait), cap=max_wait),
            batch=batch,
            echo=click.echo,
        )
        with ForwardState(data_dir) as state:
            latest = next((u for u in state.upstreams() if u.hub_id == upstream.hub_id), upstream)
        if outcome.bundles or outcome.error is not None:  # ciphertext left the hub, or tried to
            store.audit(None, "records.forwarded", upstream.hub_id, {
                "result": "stopped" if outcome.error is not None else "done", "records": outcome.marked,
                "bundles": outcome.bundles, "remaining": outcome.remaining})  # fmt: skip
    if outcome.error is not None:
        raise FieldkitError(
            f"forwarding stopped: {outcome.error} ({outcome.marked} records acknowledged before that, "
            f"{outcome.remaining} still to send)"
        )
    if outcome.bundles == 0:
        click.echo(f"Nothing to forward: hub {upstream.hub_id} has acknowledged every accepted record.")
    else:
        click.echo(f"Forwarded {outcome.marked} records in {outcome.bundles} bundle(s) to hub {upstream.hub_id}.")
    click.echo(f"Upstream: {upstream_summary(latest)}")
    if undeclared:
        kits = ", ".join(f"{kit} ({count})" for kit, count in sorted(undeclared.items())[:10])
        more = f" and {len(undeclared) - 10} more kits" if len(undeclared) > 10 else ""
        raise FieldkitError(
            f"{sum(undeclared.values())} records not forwarded, from kits {kits}{more}: those kits did not "
            f"declare hub {upstream.hub_id}'s key among the keys they seal to, so their consent script does not "
            "name it as a holder of the answers. Send counts instead with 'fieldkit hub rollup'."
        )


__all__ = ["enrol_upstream_command", "forward", "password", "serve", "unlock_login"]

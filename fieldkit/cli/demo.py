"""``fieldkit demo``: a throwaway hub and kit, enrolled and following a DEMO form pack, served at once.

Everything is real but thrown away: a hub folder made by ``init_hub``, a kit enrolled with
it in-process (the same token, request and response as over HTTP), and a form pack the
hub signs and the kit applies with :func:`fieldkit.kit.packs.apply`, holding the shipped
forms, 4 DEMO centres in 2 regions and a DEMO cycle, so the phone offers the centre picker.
"""

from __future__ import annotations

import datetime
import secrets
import shutil
import tempfile
from pathlib import Path

import click

from fieldkit.cli.serve import HOST_OPTION, PORT_OPTION
from fieldkit.core import paths
from fieldkit.core.crypto.hubkeys import generate_hub_keys
from fieldkit.core.formengine.catalogue import load_serving_forms
from fieldkit.core.formengine.model import Form
from fieldkit.core.i18n.catalogues import catalogue_languages, catalogue_path
from fieldkit.kit.config import UnlockedKit, init_kit, unlock
from fieldkit.kit.enrolment import apply_enrolment_response, make_enrolment_request
from fieldkit.kit.packs import apply, load_programme, pack_translations, summary
from fieldkit.kit.serving import serve_kit
from fieldkit.kit.web.app import WebSettings
from sync.hub.enrolment import accept_enrolment, create_token
from sync.hub.store import HubStore, init_hub
from sync.protocol.pack import PackCentre, PackContents, PackCycle, PackForm, make_pack

DEMO_WARNING = "DEMO ONLY: the hub key below is thrown away when the demo stops. Never collect real interviews with it."
DEMO_HUB_ID = "demo-hub"
# The scrypt work factor of the demo kit: its passphrase is random and thrown away with
# it, so the slow derivation a real kit needs would only delay the start.
_DEMO_WORK_FACTOR = 10
DEMO_CENTRES = (
    PackCentre("DEMO-01", "DEMO-NORTH", "residential"),
    PackCentre("DEMO-02", "DEMO-NORTH", "community"),
    PackCentre("DEMO-03", "DEMO-SOUTH", "specialised_outpatient"),
    PackCentre("DEMO-04", "DEMO-SOUTH", "specialised_inpatient"),
)


def _enrol(kit: UnlockedKit, hub_dir: Path) -> None:
    """The kit enrols with the hub as over HTTP, without the network in between."""
    with HubStore(hub_dir) as store:
        token = create_token(store, valid_days=1)
        response = accept_enrolment(store, make_enrolment_request(kit, token))
    apply_enrolment_response(kit, response)


def demo_pack(hub_dir: Path, forms: dict[str, Form], translations: Path) -> bytes:
    """Pack 1 of the demo hub: the shipped forms and their wording, DEMO centres, a DEMO cycle."""
    today = datetime.datetime.now(datetime.UTC).date()
    packed = tuple(
        PackForm(form.id, form.version, form.content_hash, (paths.forms_dir() / f"{form.id}.yaml").read_text("utf-8"))
        for form in forms.values()
    )
    wording = {
        language: catalogue_path(translations, language, "forms").read_text("utf-8")
        for language in catalogue_languages(translations)
        if catalogue_path(translations, language, "forms").is_file()
    }
    cycle = PackCycle(
        "demo", "DEMO cycle", today, today + datetime.timedelta(days=90), tuple(f.form_id for f in packed)
    )
    contents = PackContents(
        hub_id=DEMO_HUB_ID, version=1, forms=packed, centres=DEMO_CENTRES, cycle=cycle, translations=wording
    )
    with HubStore(hub_dir) as store:
        return make_pack(contents, store.receipt_signing_key)


@click.command("demo")
@HOST_OPTION
@PORT_OPTION
@click.option("--keep", is_flag=True, help="Keep the temporary folder (hub and kit) and print where it is.")
def demo(host: str, port: int, keep: bool) -> None:
    """Make a throwaway DEMO hub and kit in a temporary folder and serve the shipped forms.

    The kit is enrolled with the DEMO hub and follows its DEMO form pack: 4 DEMO
    centres in 2 regions and a DEMO cycle, so the phone offers the centre picker.
    """
    click.secho(DEMO_WARNING, fg="yellow", err=True)
    forms, broken_forms = load_serving_forms(paths.forms_dir())
    workdir = Path(tempfile.mkdtemp(prefix="fieldkit-demo-"))
    try:
        hub = generate_hub_keys(workdir / "hub-keys", None)
        init_hub(workdir / "hub", hub.recipient, hub_id=DEMO_HUB_ID)
        passphrase = secrets.token_urlsafe(16)
        config = init_kit(workdir / "kit", hub.recipient, passphrase, work_factor=_DEMO_WORK_FACTOR)
        click.echo(f"demo hub recipient: {hub.recipient}")
        kit = unlock(config.data_dir, passphrase)
        _enrol(kit, workdir / "hub")
        applied = apply(config.data_dir, demo_pack(workdir / "hub", forms, paths.translations_dir()), forms.values())
        click.echo(
            f"DEMO hub {DEMO_HUB_ID}: pack {applied.version} with {len(DEMO_CENTRES)} DEMO centres "
            "in 2 regions and the DEMO cycle"
        )
        programme = load_programme(config.data_dir, forms)
        settings = WebSettings(translations_dir=pack_translations(config.data_dir, programme, paths.translations_dir()))
        # Never announced by mDNS: a demo on the same Wi-Fi must not answer for a real kit's fieldkit.local.
        serve_kit(
            kit, programme, settings, host=host, port=port, broken_forms=broken_forms,
            pack=summary(applied), shipped=tuple(forms.values()), mdns_name=None,
        )  # fmt: skip
    finally:
        if keep:
            click.echo(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

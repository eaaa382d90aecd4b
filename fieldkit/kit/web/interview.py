"""The interviewer's pages: pair, choose a form and language, consent, sections, review, finalise.

Everything works with JavaScript off. The server checks every answer against
the form definition on every POST, saves each page into the encrypted draft
before moving on, and says "saved" only once a record is durable.
"""

from __future__ import annotations

import datetime
import functools
import logging
from collections.abc import Callable
from typing import Any

import flask_babel
from flask import Blueprint, abort, g, make_response, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from fieldkit.core.formengine.answers import (
    AnswerError,
    check_answer,
    is_relevant,
    missing_consent,
    section_is_relevant,
    stop_holds,
    stopping_item,
    with_calculations,
)
from fieldkit.core.formengine.model import CENTRE_OPTIONAL, CONSENT_DECLINED, CONSENT_GIVEN, Form, Item, Section
from fieldkit.core.formengine.wording import item_context
from fieldkit.core.memory import trim_heap
from fieldkit.core.storage.atomic import StorageError
from fieldkit.kit.drafts import Draft, DraftUnreadable
from fieldkit.kit.programme import Centre
from fieldkit.kit.sealing import receipt_code, to_hour
from fieldkit.kit.web import centres, views
from fieldkit.kit.web.clock import from_epoch, local_time
from fieldkit.kit.web.i18n import (
    current_language,
    form_text,
    interface_languages,
    keep_language,
    remember_interview_language,
    translate_message,
)
from fieldkit.kit.web.pairing import PairedSession, RateLimited
from fieldkit.kit.web.sectionforms import answer_fields, looks_identifying, section_form_class
from fieldkit.kit.web.services import services

bp = Blueprint("interview", __name__)
# kit.js sends a page with this header and gets the next page itself, its address in
# PAGE_URL_HEADER, instead of a redirect: one round trip per Next, not two (or three).
IN_PLACE_HEADER = "Fk-Save"
PAGE_URL_HEADER = "Fk-Url"
log = logging.getLogger("fieldkit.kit.web")


# -- sessions -------------------------------------------------------------------------------


def paired() -> PairedSession | None:
    return services().pairing.session(session.get("sid"))


def require_pairing(view: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        current = paired()
        if current is None:
            session.pop("sid", None)
            return redirect(url_for("interview.pair"))
        g.paired = current
        return view(*args, **kwargs)

    return wrapper


@bp.route("/", methods=["GET"])
def index() -> Response:
    return redirect(url_for("interview.home" if paired() else "interview.pair"))


@bp.route("/pair", methods=["GET", "POST"])
def pair() -> Any:
    kit = services()
    error = None
    status = 200
    if request.method == "POST":
        try:
            new = kit.pairing.pair(
                request.remote_addr or "?", request.form.get("code", ""), request.form.get("interviewer", "")
            )
        except RateLimited as limited:
            error = _("Too many wrong codes. Wait %(seconds)s seconds, then try again.", seconds=limited.retry_after)
            status = 429
        else:
            if new is not None:
                language = session.get("lang")  # chosen on this page: the phone keeps it
                session.clear()
                session["sid"] = new.session_id
                if language in interface_languages():
                    session["lang"] = language
                return redirect(url_for("interview.home"))
            error = _("That code is not right. Check the code on the kit's screen.")
            status = 403
    prefilled = request.args.get("code", "") if request.method == "GET" else ""
    return render_template("pair.html", codes=kit.pairing.interviewer_codes, error=error, prefilled=prefilled), status


@bp.route("/lang", methods=["POST"])
def choose_language() -> Response:
    keep_language(request.form.get("lang"))
    target = request.form.get("next", "")
    local = target.startswith("/") and not target.startswith("//") and "\\" not in target
    return redirect(target if local else url_for("interview.index"))


@bp.route("/x")
def quick_exit() -> str:
    """Hide everything at once: end the session and show a page with nothing on it."""
    language = current_language()
    services().pairing.end(session.get("sid"))
    session.clear()
    session["lang"] = g.language = language  # the neutral page stays in the phone's language
    return render_template("exit.html")


# -- choosing and resuming ---------------------------------------------------------------------


@bp.route("/home")
@require_pairing
def home() -> str:
    kit = services()
    mine = []
    elsewhere = 0  # this interviewer code's drafts that another pairing holds (or none, after a restart)
    for draft_id in kit.drafts.ids():
        try:
            draft = kit.drafts.load(draft_id)
        except DraftUnreadable:
            continue
        if draft.owner == g.paired.interviewer and kit.form_of(draft) is not None:
            if kit.pairing.holds(g.paired, draft_id):
                mine.append(draft)
            else:
                elsewhere += 1
    discarded = [
        {**views.draft_summary(form, r.draft), "until": local_time(from_epoch(r.wiped_at))}
        for r in kit.discarded.restorable(g.paired.interviewer)
        if (form := kit.form_of(r.draft)) is not None and kit.pairing.holds(g.paired, r.draft.draft_id)
    ]
    return render_template(
        "home.html",
        forms=[views.form_choice(form) for form in kit.forms.values()],
        drafts=[views.draft_summary(form, d) for d in mine if (form := kit.form_of(d)) is not None],
        discarded=discarded,
        elsewhere=elsewhere,
        device=g.paired,
    )


def _chosen_form_and_language(values: Any) -> tuple[Form, str, views.Availability]:
    """The current form and a language it may be used in, from a request's fields; 404/400 otherwise."""
    form = services().forms.get(values.get("form", ""))
    if form is None:
        abort(404)
    language = values.get("lang", "")
    availability = views.form_languages(form)
    if language not in availability or not availability[language].usable:
        abort(400, description=_("This form is not available in that language."))
    return form, language, availability[language]


@bp.route("/start", methods=["POST"])
@require_pairing
def start() -> Any:
    form, language, availability = _chosen_form_and_language(request.form)
    if services().programme.centres_for(form.id):
        # The pack lists centres: the interviewer picks one before the first page.
        return redirect(url_for("interview.centre", form=form.id, lang=language))
    return _start_draft(form, language, availability, None)


@bp.route("/centre", methods=["GET", "POST"])
@require_pairing
def centre() -> Any:
    """Pick the centre the new interview is about, from the pack's list (works with JavaScript off).

    GET shows the list, filtered by ``q`` when given (the search without a script);
    POST starts the interview about the chosen centre. Nothing is created until a
    centre on the list (or, where the form allows it, "prefers not to say") is posted.
    """
    values = request.form if request.method == "POST" else request.args
    form, language, availability = _chosen_form_and_language(values)
    kit = services()
    offered = kit.programme.centres_for(form.id)
    if not offered:
        return redirect(url_for("interview.home"))
    g.language = language  # the picker is the interview's first page: in its language
    flask_babel.refresh()  # in case a message above was already translated in the phone's language
    query = request.args.get("q", "") if request.method == "GET" else ""
    if request.method == "GET":
        return centres.render_picker(kit.programme, form, language, offered, query=query)
    chosen = request.form.get("centre", "")
    if not chosen:
        error = _("Choose the centre this interview is about.")
        return centres.render_picker(kit.programme, form, language, offered, error=error, status=422)
    if chosen == centres.PREFERS_NOT and form.centre == CENTRE_OPTIONAL:
        return _start_draft(form, language, availability, None)
    found = next((c for c in offered if c.code == chosen), None)
    if found is None:
        error = _("That centre is not on this kit's list. Choose a centre from the list.")
        return centres.render_picker(kit.programme, form, language, offered, error=error, status=422)
    return _start_draft(form, language, availability, found)


def _start_draft(form: Form, language: str, availability: views.Availability, about: Centre | None) -> Any:
    kit = services()
    programme = kit.programme
    cycle = programme.cycle
    now = datetime.datetime.now(datetime.UTC)
    draft = Draft(
        form_id=form.id,
        form_version=form.version,
        language=language,
        owner=g.paired.interviewer,
        started=to_hour(now),
        pilot=not availability.complete,
        interviewer=g.paired.interviewer,
        languages=[language],
        centre=about.code if about is not None else None,
        region=about.region if about is not None else None,
        cycle=cycle.cycle_id if cycle is not None and cycle.covers_form(form.id) else None,
        pack_version=programme.pack_version,
    )
    draft.section = form.sections[0].id
    try:
        kit.drafts.save(draft)
    except StorageError as error:
        return views.storage_failure(error)
    kit.pairing.hold(g.paired, draft.draft_id)
    return redirect(url_for("interview.section", draft_id=draft.draft_id, section_id=draft.section))


def _own_draft(draft_id: str) -> tuple[Form, Draft]:
    kit = services()
    try:
        draft = kit.drafts.load(draft_id)
    except DraftUnreadable:
        abort(404)
    form = kit.form_of(draft)  # the version it started with, which need not be the current one
    if form is None or draft.owner != g.paired.interviewer:
        abort(404)
    if not kit.pairing.holds(g.paired, draft_id):  # same interviewer code, another pairing
        abort(404)
    g.language = draft.language
    remember_interview_language(draft.draft_id, draft.language)
    return form, draft


@bp.route("/d/<draft_id>")
@require_pairing
def resume(draft_id: str) -> Any:
    form, draft = _own_draft(draft_id)
    refused = _consent_first(form, draft, draft.section or form.sections[0].id) or _stop_first(form, draft)
    if refused is not None:
        return refused
    section_id = draft.section or form.sections[0].id
    if section_id == "review":
        return redirect(url_for("interview.review", draft_id=draft_id))
    return redirect(url_for("interview.section", draft_id=draft_id, section_id=section_id))


@bp.route("/d/<draft_id>/discard", methods=["GET", "POST"])
@require_pairing
def discard(draft_id: str) -> Any:
    """Ask first (a page of its own, so it works with JavaScript off), then move the draft aside."""
    form, draft = _own_draft(draft_id)
    g.language = None  # this page is about the draft, in the interface's language
    kit = services()
    if request.method == "GET" or request.form.get("confirm") != "yes":
        return render_template(
            "discard.html",
            draft=views.draft_summary(form, draft),
            minutes=kit.settings.discard_minutes,
        )
    try:
        kit.discarded.discard(draft_id)
    except StorageError as error:
        return views.storage_failure(error)
    return redirect(url_for("interview.home"))


@bp.route("/d/<draft_id>/restore", methods=["POST"])
@require_pairing
def restore(draft_id: str) -> Any:
    kit = services()
    try:
        held = kit.pairing.holds(g.paired, draft_id)
        restored = held and kit.discarded.restore(draft_id, g.paired.interviewer)
    except StorageError as error:
        return views.storage_failure(error)
    except DraftUnreadable:
        restored = False
    if not restored:
        message = _("This interview can no longer be restored: its time ran out, or the kit restarted.")
        return render_template("error.html", title=_("Not restored"), message=message), 404
    return redirect(url_for("interview.home"))


# -- consent -----------------------------------------------------------------------------------


def _consent_first(form: Form, draft: Draft, section_id: str) -> Any:
    """Send the interviewer to the consent question while it stands between them and this page.

    Every route that shows, saves or seals answers asks this first, so a crafted request,
    an old bookmark or a draft saved before consent cannot get past it. The page it
    names may be the consent page itself: there, the consent is what is asked.
    Returns None to go on, or the response to send instead.
    """
    missing = missing_consent(form, draft.answers, through=None if section_id == "review" else section_id)
    if missing is None:
        return None
    where = form.section_of(missing.id)
    asked_before = {item.id for s in form.sections[: form.sections.index(where)] for item in s.items}
    if set(draft.answers) - asked_before:
        # Older kits saved answers before consent: they are not kept a moment longer.
        draft.answers = {key: value for key, value in draft.answers.items() if key in asked_before}
        draft.section = where.id
        try:
            services().drafts.save(draft)
        except StorageError as error:
            return views.storage_failure(error)
    if where.id == section_id:
        return None
    return redirect(url_for("interview.section", draft_id=draft.draft_id, section_id=where.id, consent="needed"))


def _consent_needed(item: Item) -> str:
    labels = dict(views.item_choices(item))
    # TRANSLATORS: %(given)s and %(declined)s are your own translations of "Consent given" and "Declined".
    return _(
        "Choose “%(given)s” or “%(declined)s”. No answer is saved before the person gives consent.",
        given=labels.get("given", ""),
        declined=labels.get("declined", ""),
    )


# -- sections ----------------------------------------------------------------------------------


def _relevant_sections(form: Form, answers: dict[str, Any]) -> list[Section]:
    return [s for s in form.sections if section_is_relevant(form, s.id, answers)]


def _neighbour(form: Form, answers: dict[str, Any], section_id: str, step: int) -> str | None:
    """The id of the next (step=1) or previous (step=-1) section shown, None past either end."""
    ids = [s.id for s in form.sections]
    index = ids.index(section_id) + step
    while 0 <= index < len(ids):
        if section_is_relevant(form, ids[index], answers):
            return ids[index]
        index += step
    return None


@bp.route("/d/<draft_id>/s/<section_id>", methods=["GET", "POST"])
@require_pairing
def section(draft_id: str, section_id: str) -> Any:
    form, draft = _own_draft(draft_id)
    current = next((s for s in form.sections if s.id == section_id), None)
    if current is None:
        abort(404)
    refused = _consent_first(form, draft, section_id) or _stop_first(form, draft)
    if refused is not None:
        return refused
    consent_items = [item for item in current.items if item.type == "consent"]
    page = section_form_class(form, section_id)()
    if request.method == "GET":
        errors: dict[str, str] = {}
        if request.args.get("consent") == "needed":  # sent here by _consent_first: say why
            missing = missing_consent(form, draft.answers, through=section_id)
            if missing is not None and missing in consent_items:
                errors[missing.id] = _consent_needed(missing)
        return views.render_section(form, draft, current, page, answers=draft.answers, errors=errors)

    action = request.form.get("action", "next")
    switching = action == "language"
    if switching:  # before the answers are read, so that every message comes in the new language
        _switch_language(form, draft)
    page.validate()  # CSRF is checked by CSRFProtect before the view; fields parse here
    answers = dict(draft.answers)  # _consent_first left nothing here from before consent
    errors = {}
    for field in answer_fields(page):
        if field.errors:
            errors[field.item.id] = field.errors[0]
        answers[field.item.id] = field.data
    answers = with_calculations(form, answers)  # the kit's own values, whatever the phone sent
    for item in consent_items:
        if answers.get(item.id) == CONSENT_DECLINED and not switching:
            return _declined(form, draft)  # whatever else the page holds is dropped with it
    if not switching and missing_consent(form, answers, through=section_id) is None:
        # An answer whose stop_if holds ends the interview at once, whatever else the page holds.
        stopping = stopping_item(form, answers, [item for item in current.items if item.id not in errors])
        if stopping is not None:
            return _stopped(form, draft, stopping, answers[stopping.id])
    errors.update(_check_page(form, current, answers, errors))
    for item in consent_items:
        if answers.get(item.id) != CONSENT_GIVEN and not switching:  # blank, or hidden by a skip rule
            errors.setdefault(item.id, _consent_needed(item))
    confirmed = set(request.form.getlist("keep_as_written"))
    for item in current.items:
        value = answers.get(item.id)
        if item.type == "text" and isinstance(value, str) and looks_identifying(value) and item.id not in confirmed:
            message = _("This looks like a phone number or e-mail address. Remove it, or tick “Keep as written”.")
            errors.setdefault(item.id, message)
    if switching:
        return _save_switched(form, draft, current, page, answers, errors)
    if errors:
        return views.render_section(form, draft, current, page, answers=answers, errors=errors, status=422)

    _keep_answers(form, draft, current, answers)
    if action == "back":
        target = _neighbour(form, draft.answers, section_id, -1) or section_id
    else:
        target = _neighbour(form, draft.answers, section_id, 1) or "review"
    draft.section = target
    try:
        services().drafts.save(draft)
    except StorageError as error:
        return views.storage_failure(error)
    if request.headers.get(IN_PLACE_HEADER):
        return _next_page_in_place(form, draft, target)
    if target == "review":
        return redirect(url_for("interview.review", draft_id=draft_id))
    return redirect(url_for("interview.section", draft_id=draft_id, section_id=target))


# -- switching the interview's language ----------------------------------------------------------


def _switch_language(form: Form, draft: Draft) -> None:
    """Go on in the language the page's "_lang" names; a language the form cannot use is refused."""
    language = request.form.get("_lang", "")
    availability = views.form_languages(form)
    if language not in availability or not availability[language].usable:
        abort(400, description=_("This form is not available in that language."))
    draft.show_in(language)
    draft.pilot = draft.pilot or not availability[language].complete  # the record says so
    g.language = language
    remember_interview_language(draft.draft_id, language)


def _save_switched(
    form: Form, draft: Draft, current: Section, page: Any, answers: dict[str, Any], errors: dict[str, str]
) -> Any:
    """Keep the page's answers across a change of language, and show the page again in it.

    Answers that pass every check are saved with the new language; one with a problem is
    shown again with its message, now in the new language, as "Save and continue" would.
    Before consent stands nothing of the page is saved: only the language changes.
    """
    if missing_consent(form, answers, through=current.id) is None:
        # An answer that would stop the interview is not saved: it stays picked on the page,
        # and "Save and continue" stops the interview.
        stops = {item.id for item in current.items if item.id not in errors and stop_holds(form, item, answers)}
        _keep_answers(form, draft, current, {k: v for k, v in answers.items() if k not in stops and k not in errors})
    draft.section = current.id
    try:
        services().drafts.save(draft)
    except StorageError as error:
        return views.storage_failure(error)
    if errors:
        return views.render_section(form, draft, current, page, answers=answers, errors=errors, status=422)
    return redirect(url_for("interview.section", draft_id=draft.draft_id, section_id=current.id))


def _keep_answers(form: Form, draft: Draft, current: Section, answers: dict[str, Any]) -> None:
    """Put the page's answers in the draft, calculations worked out again from what is kept."""
    draft.answers = {key: value for key, value in with_calculations(form, answers).items() if value is not None}
    if current.id not in draft.saved:
        draft.saved.append(current.id)  # from now on its items' defaults are not offered again


def _next_page_in_place(form: Form, draft: Draft, target: str) -> Response:
    """The page a redirect would lead to, rendered now, as its GET would show it."""
    if target == "review":
        url = url_for("interview.review", draft_id=draft.draft_id)
        html, status = _render_review(form, draft)
    else:
        url = url_for("interview.section", draft_id=draft.draft_id, section_id=target)
        shown = next(s for s in form.sections if s.id == target)
        page = section_form_class(form, target)(formdata=None)  # not this POST's fields
        html, status = views.render_section(form, draft, shown, page, answers=draft.answers, errors={})
    response = make_response(html, status)
    response.headers[PAGE_URL_HEADER] = url
    return response


def _check_page(form: Form, current: Section, answers: dict[str, Any], errors: dict[str, str]) -> dict[str, str]:
    """Drop answers that skip logic hides; check the others against their constraints."""
    found: dict[str, str] = {}
    for item in current.items:
        if not item.takes_answer or item.id in errors:
            continue
        if not is_relevant(form, item, answers):
            answers[item.id] = None
            continue
        problem = check_answer(form, item, answers.get(item.id), answers)
        if problem:
            found[item.id] = translate_message(problem)
    return found


def _declined(form: Form, draft: Draft) -> Any:
    kit = services()
    try:
        kit.count_declined(form.id, draft.centre, draft.cycle)
        kit.drafts.delete(draft.draft_id)
    except StorageError as error:
        return views.storage_failure(error)
    kit.pairing.release(draft.draft_id)
    return render_template("declined.html")


# -- stop rules (an item's stop_if, such as "under 18") --------------------------------------------


def _stop_first(form: Form, draft: Draft) -> Any:
    """End the interview when a saved answer already stops it (a draft saved before the rule held).

    The page that takes such an answer stops at once, so a draft should never hold one;
    every route that shows, saves or seals answers asks this too, so none can get past it.
    """
    stopping = stopping_item(form, draft.answers)
    return None if stopping is None else _stopped(form, draft, stopping, draft.answers[stopping.id])


def _stopped(form: Form, draft: Draft, item: Item, answer: Any) -> Any:
    """Count the stop, delete the draft (nothing of it is kept) and show the item's stop note."""
    kit = services()
    try:
        kit.count_stopped(form.id, draft.centre, draft.cycle, item.id, str(answer))
        kit.drafts.delete(draft.draft_id)
    except StorageError as error:
        return views.storage_failure(error)
    kit.pairing.release(draft.draft_id)
    g.language = draft.language  # the note is read aloud in the interview's language
    flask_babel.refresh()
    note = form_text(draft.language, item_context(form, item, ":stop"), item.stop_note)
    response = make_response(render_template("stopped.html", note=note))
    if request.headers.get(IN_PLACE_HEADER):
        response.headers[PAGE_URL_HEADER] = url_for("interview.home")  # the phone keeps no address of it
    return response


# -- review and finalise -----------------------------------------------------------------------


def _unanswered_required(form: Form, draft: Draft) -> list[tuple[Section, Item]]:
    missing = []
    for current in _relevant_sections(form, draft.answers):
        for item in current.items:
            unanswered = item.required and item.takes_answer and draft.answers.get(item.id) is None
            if unanswered and is_relevant(form, item, draft.answers):
                missing.append((current, item))
    return missing


def _answer_problems(form: Form, draft: Draft) -> list[tuple[Section, Item, str]]:
    """Saved answers that no longer pass their checks, such as a constraint on another page's answer.

    Each page was checked when it was saved, but a later page can change what an
    earlier answer must meet; the review lists these so nothing fails at sealing.
    """
    today = datetime.datetime.now(datetime.UTC).date()
    found = []
    for current in _relevant_sections(form, draft.answers):
        for item in current.items:
            value = draft.answers.get(item.id)
            if value is None or not item.takes_answer or not is_relevant(form, item, draft.answers, today=today):
                continue
            problem = check_answer(form, item, value, draft.answers, today=today)
            if problem:
                found.append((current, item, translate_message(problem)))
    return found


def _render_review(form: Form, draft: Draft, refusal: str | None = None, status: int = 200) -> Any:
    page = views.render_review(
        form,
        draft,
        _unanswered_required(form, draft),
        _relevant_sections(form, draft.answers),
        problems=_answer_problems(form, draft),
        refusal=refusal,
    )
    return page, status


@bp.route("/d/<draft_id>/review")
@require_pairing
def review(draft_id: str) -> Any:
    form, draft = _own_draft(draft_id)
    refused = _consent_first(form, draft, "review") or _stop_first(form, draft)
    if refused is not None:
        return refused
    return _render_review(form, draft)


@bp.route("/d/<draft_id>/finalise", methods=["POST"])
@require_pairing
def finalise(draft_id: str) -> Any:
    form, draft = _own_draft(draft_id)
    refused = _consent_first(form, draft, "review")  # "Finish without these answers" cannot skip it
    refused = refused or _stop_first(form, draft)  # nor can a saved answer that stops the interview
    if refused is not None:
        return refused
    if _answer_problems(form, draft):
        message = _("Not sealed yet: some answers need another look. Open each page listed below and correct them.")
        return _render_review(form, draft, message, 422)
    if _unanswered_required(form, draft) and request.form.get("confirm_missing") != "yes":
        message = _(
            "Not sealed yet: required questions have no answer. Answer them, "
            "or tick “Finish without these answers” and finish again."
        )
        return _render_review(form, draft, message, 422)
    kit = services()
    try:
        record_id = kit.finaliser.finalise(form, draft, catalogue_hash=views.catalogue_hash(draft.language))
    except StorageError as error:
        return views.storage_failure(error)
    except AnswerError:
        # A check the review did not foresee (the date changed at midnight, say): nothing was sealed.
        log.warning("finalise refused an answer in a draft of %s", form.key)
        message = _("Not sealed: an answer no longer fits the form. Nothing was lost; check the pages and try again.")
        return _render_review(form, draft, message, 422)
    kit.pairing.release(draft_id)
    trim_heap()  # the interview's pages and answers are freed: give their memory back (docs/performance.md)
    return redirect(url_for("interview.done", receipt=receipt_code(record_id), lang=draft.language))


@bp.route("/done/<receipt>")
@require_pairing
def done(receipt: str) -> str:
    if not receipt.isalnum() or len(receipt) != 8:
        abort(404)
    language = request.args.get("lang", "")
    if language in interface_languages():
        g.language = language
    return render_template("done.html", receipt=receipt)

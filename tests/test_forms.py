"""The form engine: shipped forms load, broken definitions give specific errors."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from fieldkit.cli import cli
from fieldkit.core import paths
from fieldkit.core.formengine.catalogue import LOCK_NAME, check_directory, load_directory
from fieldkit.core.formengine.loader import FormDefinitionError, load_form, load_form_collecting
from fieldkit.core.formengine.model import LEVELS, PRINCIPLES, TAGS

BROKEN = Path(__file__).parent / "broken_forms"
SHIPPED = ("centre-assessment", "peer-interview")


def _expected(path: Path) -> str:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    match = re.match(r"# expect: (.+)", first)
    assert match, f"{path.name} must start with '# expect: <message>'"
    return match.group(1)


@pytest.fixture(scope="module")
def shipped_forms():
    return load_directory(paths.forms_dir())


def test_shipped_forms_load_and_pass_the_lock(shipped_forms) -> None:
    assert set(SHIPPED) <= set(shipped_forms)
    assert check_directory(paths.forms_dir()).problems == ()


def test_centre_assessment_covers_every_principle(shipped_forms) -> None:
    form = shipped_forms["centre-assessment"]
    assert 50 <= len(form.items) <= 90
    tags = {tag for item in form.items for tag in item.tags}
    assert set(TAGS) <= tags
    for principle in PRINCIPLES:
        scored = [item for item in form.items if principle in item.tags and item.scoring]
        assert len(scored) >= 4, principle


def test_peer_interview_is_consent_first_and_skippable(shipped_forms) -> None:
    form = shipped_forms["peer-interview"]
    first = form.sections[0].items[0]
    assert first.type == "consent"
    for item in form.items:
        if item.takes_answer and item.type != "consent":
            assert not item.required, item.id
            assert "prefer_not" in item.offer, item.id
    rights = [item for item in form.items if "rights" in item.tags and item.takes_answer]
    assert rights and all(item.sensitive for item in rights)


@pytest.mark.parametrize("form_id", SHIPPED)
def test_every_shipped_item_is_tagged_and_scored_sensibly(shipped_forms, form_id: str) -> None:
    for item in shipped_forms[form_id].items:
        assert item.tags, item.id
        assert all(rule.level in LEVELS for rule in item.scoring)


@pytest.mark.parametrize("path", sorted(BROKEN.glob("*.yaml")), ids=lambda p: p.stem)
def test_broken_definition_gives_its_specific_error(path: Path) -> None:
    form, problems = load_form_collecting(path)
    assert form is None
    messages = [str(problem) for problem in problems]
    assert any(_expected(path) in message for message in messages), messages
    with pytest.raises(FormDefinitionError):
        load_form(path)


def test_problems_carry_file_item_and_line() -> None:
    _, problems = load_form_collecting(BROKEN / "unknown-reference.yaml")
    (problem,) = problems
    assert problem.path.endswith("unknown-reference.yaml")
    assert problem.where == "item n"
    assert problem.line == 9
    assert str(problem).startswith(f"{problem.path}:9: [item n]")


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    for name in ("bad-type", "unknown-tag", "cycle"):
        shutil.copy(BROKEN / f"{name}.yaml", tmp_path)
    result = check_directory(tmp_path, lock=False)
    found = "\n".join(map(str, result.problems))
    for name in ("bad-type", "unknown-tag", "cycle"):
        assert _expected(BROKEN / f"{name}.yaml") in found


def _copy_shipped(tmp_path: Path) -> Path:
    target = tmp_path / "forms"
    shutil.copytree(paths.forms_dir(), target)
    return target


def test_changed_form_without_new_version_is_refused(tmp_path: Path) -> None:
    forms_dir = _copy_shipped(tmp_path)
    path = forms_dir / "peer-interview.yaml"
    path.write_text(
        path.read_text(encoding="utf-8").replace("title: Peer interview", "title: Peer talk", 1), encoding="utf-8"
    )
    problems = check_directory(forms_dir).problems
    assert any("changed but its version is still" in str(p) for p in problems)

    runner = CliRunner()
    refused = runner.invoke(cli, ["forms", "check", "--forms-dir", str(forms_dir)])
    assert refused.exit_code == 1
    assert "raise 'version'" in refused.output

    # --update-lock never rewrites a recorded version's hash.
    still = runner.invoke(cli, ["forms", "check", "--forms-dir", str(forms_dir), "--update-lock"])
    assert still.exit_code == 1

    text = path.read_text(encoding="utf-8")
    version = re.search(r"^version: (\d+)", text, re.M)
    assert version
    path.write_text(text.replace(version.group(0), f"version: {int(version.group(1)) + 1}", 1), encoding="utf-8")
    unrecorded = runner.invoke(cli, ["forms", "check", "--forms-dir", str(forms_dir)])
    assert unrecorded.exit_code == 1 and "--update-lock" in unrecorded.output
    recorded = runner.invoke(cli, ["forms", "check", "--forms-dir", str(forms_dir), "--update-lock"])
    assert recorded.exit_code == 0, recorded.output
    assert "peer-interview@" in recorded.output
    assert runner.invoke(cli, ["forms", "check", "--forms-dir", str(forms_dir)]).exit_code == 0
    assert (forms_dir / LOCK_NAME).read_text(encoding="utf-8").count("sha256:") >= 3


def test_forms_check_cli_reports_and_fails_on_broken_forms(tmp_path: Path) -> None:
    shutil.copy(BROKEN / "missing-choice-list.yaml", tmp_path)
    result = CliRunner().invoke(cli, ["forms", "check", "--forms-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "choice list 'colours' does not exist" in result.output
    assert "Traceback" not in result.output


def test_forms_check_cli_passes_on_shipped_forms() -> None:
    result = CliRunner().invoke(cli, ["forms", "check"])
    assert result.exit_code == 0, result.output
    assert "ok  centre-assessment@" in result.output

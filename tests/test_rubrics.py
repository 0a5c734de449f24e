"""Rubric loading and validation: the bundled set, user overrides, errors naming file and field."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from agenteval._resources import data_dir
from agenteval.errors import RubricError
from agenteval.models import JUDGED_TYPES, StepType
from agenteval.rubrics import Check, load_rubrics, validate_rubric_dir

EXPECTED_METRICS = {
    StepType.PLAN: ["covers_goal", "feasible_with_tools", "sensible_order"],
    StepType.TOOLSEL: ["right_tool"],
    StepType.PARAMGEN: ["schema_valid", "faithful_arguments", "no_invented_values"],
    StepType.EXEC: ["call_succeeded", "result_usable"],
    StepType.SYNTH: ["faithful_to_outputs", "complete", "answers_task"],
}


@pytest.fixture(scope="module")
def plan_data() -> dict[str, Any]:
    return yaml.safe_load((data_dir("rubrics") / "plan.yaml").read_text(encoding="utf-8"))


def write(directory: Path, name: str, data: Any) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def test_bundled_set_is_valid_and_complete():
    rubrics = load_rubrics()
    assert set(rubrics.rubrics) == set(JUDGED_TYPES)
    assert validate_rubric_dir(data_dir("rubrics")) == []
    for step_type, names in EXPECTED_METRICS.items():
        rubric = rubrics.for_type(step_type)
        assert rubric.step_type is step_type
        assert rubric.version == "1.1"
        assert rubric.metric_names == names
        for metric in rubric.metrics:
            assert list(metric.levels) == [1, 2, 3, 4, 5]
            assert [a.score for a in metric.anchors] == [1, 2, 3, 4, 5]
            assert 2 <= len(metric.checks) <= 4
            for check in metric.checks:
                assert check.weight > 0
                assert (check.pass_answer is not None) == (check.kind == "yes_no")


def test_toolsel_has_a_tool_choice_check():
    checks = load_rubrics().for_type("toolsel").metrics[0].checks
    assert any(c.kind == "choice" and c.choices_from == "tools" for c in checks)


def test_for_type_rejects_unjudged_and_unknown_types():
    rubrics = load_rubrics()
    with pytest.raises(RubricError, match="no rubric for USER steps"):
        rubrics.for_type(StepType.USER)
    with pytest.raises(RubricError, match="unknown step type 'bogus'"):
        rubrics.for_type("bogus")


def _set(data: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    data = copy.deepcopy(data)
    target = data
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return data


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (("metrics", 0, "anchors"), "FIRST4", "metrics.0.anchors: need 5 anchors scoring 1..5 (got scores 1, 2, 3, 4)"),
        (("metrics", 0, "anchors", 4, "score"), 4, "metrics.0.anchors: need 5 anchors scoring 1..5"),
        (("metrics", 0, "anchors", 0, "score"), 0, "metrics.0.anchors.0.score: Input should be greater than or equal to 1"),
        (("metrics", 0, "anchors", 2, "rationale"), "  ", "metrics.0.anchors.2.rationale:"),
        (("metrics", 1, "levels", 3), _DELETE, "metrics.1.levels: need levels 1, 2, 3, 4 and 5 (got 1, 2, 4, 5)"),
        (("metrics", 0, "checks", 0, "weight"), 0, "metrics.0.checks.0.weight: Input should be greater than 0"),
        (("metrics", 0, "checks", 0, "pass_answer"), _DELETE, "metrics.0.checks.0: a yes_no check needs pass_answer"),
        (("metrics", 0, "checks", 0, "kind"), "choice", "metrics.0.checks.0: a choice check needs choices_from"),
        (("metrics", 0, "checks", 0, "kind"), "scale", "metrics.0.checks.0.kind: Input should be 'yes_no' or 'choice'"),
        (("metrics", 0, "checks", 0, "choices_from"), "tools", "metrics.0.checks.0: a yes_no check takes no choices_from"),
        (("metrics", 2, "checks"), [], "metrics.2.checks: need at least one check"),
        (("metrics", 0, "colour"), "red", "metrics.0.colour: unknown field"),
        (("version",), _DELETE, "version: required field missing"),
        (("metrics",), [], "metrics: List should have at least 1 item"),
        (("metrics", 1, "name"), "covers_goal", "duplicate metric name(s): covers_goal"),
        (("metrics", 1, "checks", 0, "id"), "plan_has_actions", "duplicate check id(s): plan_has_actions"),
        (("metrics", 1, "name"), "Covers Goal", "metrics.1.name: String should match pattern"),
        (("step_type",), "TOOLSEL", "step_type: TOOLSEL does not match the file name (expected PLAN)"),
        (("step_type",), "USER", "step_type: USER steps are not judged"),
        (("step_type",), "NOPE", "step_type: Input should be"),
    ],
)
def test_invalid_rubric_names_file_and_field(tmp_path, plan_data, path, value, expected):
    if value == "FIRST4":
        value = plan_data["metrics"][0]["anchors"][:4]
    plan = write(tmp_path / "rubrics", "plan.yaml", _set(plan_data, path, value))
    with pytest.raises(RubricError) as info:
        load_rubrics(tmp_path / "rubrics")
    message = str(info.value)
    assert message.startswith(f"{plan}: {expected}")
    assert "\n" not in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("step_type: PLAN\nversion: [1\n", "line 3: invalid YAML"),
        ("- just\n- a list\n", "expected a mapping"),
        ("", "expected a mapping"),
    ],
)
def test_unreadable_rubric_file(tmp_path, text, expected):
    plan = write(tmp_path, "plan.yaml", text)
    with pytest.raises(RubricError, match=expected) as info:
        load_rubrics(tmp_path)
    assert str(info.value).startswith(f"{plan}: ")


def test_unknown_file_name_and_missing_directory(tmp_path, plan_data):
    notes = write(tmp_path, "notes.yaml", plan_data)
    with pytest.raises(RubricError, match="not a rubric file name; use one of plan.yaml") as info:
        load_rubrics(tmp_path)
    assert str(info.value).startswith(str(notes))
    with pytest.raises(RubricError, match="no such rubric directory"):
        load_rubrics(tmp_path / "absent")


def test_user_directory_overrides_some_types(tmp_path, plan_data):
    custom = _set(plan_data, ("version",), "2.0-team")
    plan = write(tmp_path, "plan.yaml", custom)
    rubrics = load_rubrics(tmp_path)
    assert rubrics.for_type(StepType.PLAN).version == "2.0-team"
    assert rubrics.sources[StepType.PLAN] == str(plan)
    # Types the folder lacks come from the bundled set.
    assert rubrics.for_type(StepType.SYNTH) == load_rubrics().for_type(StepType.SYNTH)
    assert rubrics.sources[StepType.SYNTH] == str(data_dir("rubrics") / "synth.yaml")


def test_yaml_one_point_one_quirks_are_read_as_written(tmp_path, plan_data):
    text = (data_dir("rubrics") / "plan.yaml").read_text(encoding="utf-8")
    text = text.replace('version: "1.1"', "version: 1.1").replace('pass_answer: "yes"', "pass_answer: yes")
    rubric = load_rubrics(write(tmp_path, "plan.yaml", text).parent).for_type("PLAN")
    assert rubric.version == "1.1"
    assert rubric.metrics[0].checks[0].pass_answer == "yes"
    assert rubric == load_rubrics().for_type("PLAN")


def test_fingerprint_changes_on_a_silent_edit(tmp_path, plan_data):
    bundled = load_rubrics()
    same = load_rubrics(write(tmp_path / "same", "plan.yaml", plan_data).parent)
    assert same.for_type("PLAN").fingerprint == bundled.for_type("PLAN").fingerprint
    assert same.fingerprint == bundled.fingerprint

    edited = _set(plan_data, ("metrics", 0, "levels", 3), "Half the goal is covered.")
    changed = load_rubrics(write(tmp_path / "edited", "plan.yaml", edited).parent)
    assert changed.for_type("PLAN").version == bundled.for_type("PLAN").version
    assert changed.for_type("PLAN").fingerprint != bundled.for_type("PLAN").fingerprint
    assert changed.fingerprint != bundled.fingerprint
    assert len(changed.for_type("PLAN").fingerprint) == 16


def test_validate_rubric_dir_lists_every_problem(tmp_path, plan_data):
    assert validate_rubric_dir(tmp_path) == [f"{tmp_path}: no rubric files (expected plan.yaml, toolsel.yaml, paramgen.yaml, exec.yaml, synth.yaml)"]
    write(tmp_path, "plan.yaml", plan_data)
    assert validate_rubric_dir(tmp_path) == []

    broken = _set(plan_data, ("metrics", 0, "checks", 0, "weight"), -1)
    broken = _set(broken, ("metrics", 1, "levels", 5), _DELETE)
    plan = write(tmp_path, "plan.yaml", broken)
    synth = write(tmp_path, "synth.yml", "metrics: [")
    other = write(tmp_path, "readme.yaml", "x: 1")
    problems = validate_rubric_dir(tmp_path)
    assert len(problems) == 4
    assert f"{plan}: metrics.0.checks.0.weight: Input should be greater than 0" in problems
    assert f"{plan}: metrics.1.levels: need levels 1, 2, 3, 4 and 5 (got 1, 2, 3, 4)" in problems
    assert any(p.startswith(f"{synth}: line ") and "invalid YAML" in p for p in problems)
    assert any(p.startswith(f"{other}: not a rubric file name") for p in problems)
    assert validate_rubric_dir(tmp_path / "absent") == [f"{tmp_path / 'absent'}: no such rubric directory"]


def test_check_model_reads_yaml_booleans():
    check = Check(id="x", question="Is it?", kind="yes_no", weight=1, pass_answer=False)
    assert check.pass_answer == "no"

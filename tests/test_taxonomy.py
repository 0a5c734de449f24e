"""The bundled failure taxonomy, its loader's validation, lookups and the tree renderer."""

from __future__ import annotations

import copy
from io import StringIO
from pathlib import Path

import pytest
import yaml
from rich.console import Console

from agenteval._resources import data_dir
from agenteval.errors import TaxonomyError
from agenteval.models import StepType
from agenteval.reports.taxonomy_tree import render_taxonomy
from agenteval.taxonomy import FailureCode, Taxonomy, load_taxonomy, normalize_label

BUNDLED = data_dir("taxonomy") / "taxonomy.yaml"

# The codes the team brief (and every judge) relies on.
BRIEF_CODES = {
    "P1.1": "goal_misread",
    "P1.2": "constraint_ignored",
    "P2.1": "incomplete_plan",
    "P2.2": "infeasible_plan",
    "P2.3": "wrong_order",
    "P3.1": "nonexistent_tool",
    "P3.2": "wrong_tool",
    "P3.3": "redundant_call",
    "E1.1": "schema_violation",
    "E1.2": "invented_value",
    "E1.3": "unfaithful_argument",
    "E2.1": "tool_error",
    "E2.2": "tool_timeout",
    "E2.3": "empty_result",
    "E3.1": "misread_output",
    "E3.2": "ignored_error",
    "I1.1": "ungrounded_claim",
    "I1.2": "false_success",
    "I2.1": "incomplete_answer",
    "I2.2": "off_task_answer",
    "I3.1": "handoff_error",
}
BRIEF_LEVEL2 = {
    "P1": "Goal understanding",
    "P2": "Plan construction",
    "P3": "Tool selection",
    "E1": "Parameter generation",
    "E2": "Tool execution",
    "E3": "Result handling",
    "I1": "Grounding",
    "I2": "Completeness",
    "I3": "Coordination",
}


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return load_taxonomy()


@pytest.fixture
def raw() -> dict:
    return yaml.safe_load(BUNDLED.read_text(encoding="utf-8"))


def _write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "taxonomy.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _failure(raw: dict, code: str) -> dict:
    for level1 in raw["levels"]:
        for level2 in level1["categories"]:
            for failure in level2["failures"]:
                if failure["code"] == code:
                    return failure
    raise AssertionError(code)


def _load_error(path: Path) -> str:
    with pytest.raises(TaxonomyError) as info:
        load_taxonomy(path)
    message = str(info.value)
    assert message.startswith(f"{path}: "), message
    assert "\n" not in message
    return message


# --- the bundled taxonomy ---------------------------------------------------------------------


def test_bundled_structure(taxonomy: Taxonomy) -> None:
    assert taxonomy.version == "1"
    assert [(l1.code, l1.name) for l1 in taxonomy.levels] == [
        ("P", "Planning"),
        ("E", "Execution"),
        ("I", "Integration"),
    ]
    level2 = {l2.code: l2.name for l1 in taxonomy.levels for l2 in l1.categories}
    assert level2 == BRIEF_LEVEL2
    codes = [f.code for f in taxonomy.codes()]
    assert len(codes) == 21
    assert len(set(codes)) == 21


def test_every_brief_code_is_present_with_its_slug(taxonomy: Taxonomy) -> None:
    assert {f.code: f.name for f in taxonomy.codes()} == BRIEF_CODES
    for code, slug in BRIEF_CODES.items():
        failure = taxonomy.get(code)
        assert isinstance(failure, FailureCode)
        assert taxonomy.label(code) == f"{code} {slug}"


def test_every_code_is_fully_described(taxonomy: Taxonomy) -> None:
    judged = set(StepType) - {StepType.USER, StepType.SYSTEM}
    for failure in taxonomy.codes():
        assert failure.definition and failure.example
        assert set(failure.step_types) <= judged
        assert failure.severity in ("low", "medium", "high", "critical")
    assert taxonomy.get("I1.2").severity == "critical"
    assert taxonomy.get("P3.1").severity == "critical"


def test_default_path_is_the_bundled_file() -> None:
    assert load_taxonomy() == load_taxonomy(BUNDLED)


# --- lookups ----------------------------------------------------------------------------------


def test_get_is_none_for_unknown_and_non_level3_codes(taxonomy: Taxonomy) -> None:
    assert taxonomy.get("E9.9") is None
    assert taxonomy.get("E2") is None
    assert taxonomy.get("") is None
    assert taxonomy.get(None) is None
    assert taxonomy.get(" E2.1 ").name == "tool_error"


def test_label(taxonomy: Taxonomy) -> None:
    assert taxonomy.label("E2.1") == "E2.1 tool_error"
    assert taxonomy.label("E2") == "E2 Tool execution"
    assert taxonomy.label("I") == "I Integration"
    assert taxonomy.label("Z9.9") == "Z9.9"


def test_level1_and_level2(taxonomy: Taxonomy) -> None:
    assert taxonomy.level1("E2.1").name == "Execution"
    assert taxonomy.level2("E2.1").name == "Tool execution"
    assert taxonomy.level1("P3").code == "P"
    assert taxonomy.level2("P3").code == "P3"
    assert taxonomy.level1("I").code == "I"
    assert taxonomy.level2("I") is None
    assert taxonomy.level1("X1.1") is None
    assert taxonomy.level2("X1.1") is None


def test_for_step_type(taxonomy: Taxonomy) -> None:
    exec_codes = [f.code for f in taxonomy.for_step_type(StepType.EXEC)]
    assert {"E2.1", "E2.2", "E2.3"} <= set(exec_codes)
    assert "I1.2" not in exec_codes
    assert [f.code for f in taxonomy.for_step_type("toolsel")] == [
        f.code for f in taxonomy.for_step_type(StepType.TOOLSEL)
    ]
    assert "P3.1" in [f.code for f in taxonomy.for_step_type("TOOLSEL")]
    assert "I1.2" in [f.code for f in taxonomy.for_step_type("SYNTH")]
    assert "E1.1" in [f.code for f in taxonomy.for_step_type("PARAMGEN")]
    assert "P2.1" in [f.code for f in taxonomy.for_step_type("PLAN")]
    assert taxonomy.for_step_type(StepType.USER) == []
    every_code = {f.code for t in StepType for f in taxonomy.for_step_type(t)}
    assert every_code == set(BRIEF_CODES)
    with pytest.raises(ValueError):
        taxonomy.for_step_type("THINK")


# AgentRx's failure_category values as they appear in its ground truth (case and spacing vary).
@pytest.mark.parametrize(
    ("label", "code"),
    [
        ("Instruction/Plan Adherence Failure", "P1.2"),
        ("Instruction Adherence Failure", "P1.2"),
        ("Invention of new information", "I1.1"),
        ("Invalid Invocation", "E1.1"),
        ("Misinterpretation of Tool Output", "E3.1"),
        ("Intent Plan Misalignment", "P1.1"),
        ("intent-plan misalignment", "P1.1"),
        ("Guardrails Triggered", "E2.1"),
        ("System Failure", "E2.1"),
        ("  misinterpretation  of tool-output ", "E3.1"),
        ("tool_error", "E2.1"),
        ("E2.1", "E2.1"),
    ],
)
def test_lookup_alias(taxonomy: Taxonomy, label: str, code: str) -> None:
    assert taxonomy.lookup_alias(label) == code
    assert not taxonomy.is_unmapped(label)


@pytest.mark.parametrize(
    "label", ["Underspecified User Intent", "Intent not supported", "Intent Not Supported", "Inconclusive"]
)
def test_unmapped_labels(taxonomy: Taxonomy, label: str) -> None:
    assert taxonomy.lookup_alias(label) is None
    assert taxonomy.is_unmapped(label)


def test_unknown_label(taxonomy: Taxonomy) -> None:
    assert taxonomy.lookup_alias("cosmic rays") is None
    assert not taxonomy.is_unmapped("cosmic rays")


def test_normalize_label() -> None:
    assert normalize_label("Instruction/Plan  Adherence-Failure ") == "instruction plan adherence failure"


# --- validation errors name the file ----------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    assert "no such file" in _load_error(tmp_path / "nope.yaml")


def test_invalid_yaml(tmp_path: Path) -> None:
    path = tmp_path / "taxonomy.yaml"
    path.write_text('version: "1"\nlevels: [\n  - code: P\n', encoding="utf-8")
    assert "invalid YAML at line" in _load_error(path)


@pytest.mark.parametrize(("content", "expected"), [("", "empty file"), ("- a\n- b\n", "got list")])
def test_not_a_mapping(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "taxonomy.yaml"
    path.write_text(content, encoding="utf-8")
    assert expected in _load_error(path)


def test_duplicate_code(tmp_path: Path, raw: dict) -> None:
    failures = raw["levels"][1]["categories"][1]["failures"]
    twin = copy.deepcopy(failures[0])
    twin["name"] = "tool_error_again"
    twin["aliases"] = []
    failures.append(twin)
    assert "duplicate code E2.1" in _load_error(_write(tmp_path, raw))


def test_duplicate_level2_code(tmp_path: Path, raw: dict) -> None:
    raw["levels"][1]["categories"][2]["code"] = "E2"
    for failure in raw["levels"][1]["categories"][2]["failures"]:
        failure["code"] = failure["code"].replace("E3.", "E2.")
    assert "duplicate code E2" in _load_error(_write(tmp_path, raw))


def test_level3_code_under_the_wrong_level2(tmp_path: Path, raw: dict) -> None:
    _failure(raw, "E2.3")["code"] = "E1.9"
    message = _load_error(_write(tmp_path, raw))
    assert "levels[E].categories[E2]" in message
    assert "E1.9 is listed under E2" in message


def test_level2_code_under_the_wrong_level1(tmp_path: Path, raw: dict) -> None:
    raw["levels"][2]["categories"][0]["code"] = "P7"
    for failure in raw["levels"][2]["categories"][0]["failures"]:
        failure["code"] = failure["code"].replace("I1.", "P7.")
    assert "P7 is listed under I" in _load_error(_write(tmp_path, raw))


def test_malformed_code(tmp_path: Path, raw: dict) -> None:
    _failure(raw, "E2.1")["code"] = "E2-1"
    message = _load_error(_write(tmp_path, raw))
    assert "levels[E].categories[E2].failures[E2-1].code" in message


@pytest.mark.parametrize("step_type", ["THINK", "USER"])
def test_unknown_step_type(tmp_path: Path, raw: dict, step_type: str) -> None:
    _failure(raw, "E2.1")["step_types"] = ["EXEC", step_type]
    message = _load_error(_write(tmp_path, raw))
    assert "failures[E2.1].step_types" in message
    assert f"unknown step type '{step_type}'" in message


def test_empty_step_types(tmp_path: Path, raw: dict) -> None:
    _failure(raw, "E2.1")["step_types"] = []
    assert "failures[E2.1].step_types" in _load_error(_write(tmp_path, raw))


def test_unknown_severity(tmp_path: Path, raw: dict) -> None:
    _failure(raw, "E2.1")["severity"] = "catastrophic"
    assert "failures[E2.1].severity" in _load_error(_write(tmp_path, raw))


def test_unknown_key(tmp_path: Path, raw: dict) -> None:
    _failure(raw, "E2.1")["colour"] = "red"
    assert "failures[E2.1].colour: Extra inputs are not permitted" in _load_error(_write(tmp_path, raw))


def test_missing_definition(tmp_path: Path, raw: dict) -> None:
    del raw["levels"][0]["categories"][0]["definition"]
    assert "levels[P].categories[P1].definition: Field required" in _load_error(_write(tmp_path, raw))


def test_level3_without_failures(tmp_path: Path, raw: dict) -> None:
    raw["levels"][2]["categories"][2]["failures"] = []
    assert "categories[I3].failures" in _load_error(_write(tmp_path, raw))


def test_alias_naming_two_codes(tmp_path: Path, raw: dict) -> None:
    _failure(raw, "E2.2")["aliases"].append("Tool Error")
    assert "alias 'Tool Error' names both E2.1 and E2.2" in _load_error(_write(tmp_path, raw))


def test_unmapped_label_that_is_also_an_alias(tmp_path: Path, raw: dict) -> None:
    raw["unmapped"].append("system failure")
    assert "unmapped label 'system failure' is also an alias of E2.1" in _load_error(_write(tmp_path, raw))


def test_several_problems_are_counted(tmp_path: Path, raw: dict) -> None:
    _failure(raw, "E2.1")["severity"] = "huge"
    _failure(raw, "E2.2")["severity"] = "huge"
    assert "(and 1 more problem)" in _load_error(_write(tmp_path, raw))


# --- rendering --------------------------------------------------------------------------------


def test_render_taxonomy(taxonomy: Taxonomy) -> None:
    console = Console(file=StringIO(), width=100)
    render_taxonomy(taxonomy, console)
    out = console.file.getvalue()
    lines = out.splitlines()
    assert lines[0] == "Failure taxonomy (version 1)"
    assert "\x1b[" not in out
    assert "├── P Planning" in out
    assert "└── I Integration" in out
    assert "E2 Tool execution" in out
    assert any("├── E2.1 tool_error — The tool, or the model or service" in line for line in lines)
    assert any("└── I3.1 handoff_error — " in line for line in lines)
    assert "[EXEC]" in out
    for code, slug in BRIEF_CODES.items():
        assert f"{code} {slug} — " in out
    assert all(len(line) <= 100 for line in lines)

"""Checks the reader tests share.

The §8 expectations every reader's rendering of the worked example must meet (``assert_weather_dag``),
the fuzz tests each reader runs on its own fixtures (``random_json_test``, ``wrong_types_test``,
``truncated_files_test``), detection over every fixture file, ``agenteval parse --json``, and the wording
of parse errors.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agenteval.dag import StepDAG
from agenteval.errors import TraceError
from agenteval.formats import get_reader, read_file
from agenteval.formats.base import Document, FormatReader, load_document
from agenteval.models import Trace, Usage

FIXTURES = Path(__file__).parent / "fixtures"
FIXTURE_SUFFIXES = (".json", ".jsonl", ".ndjson", ".logs", ".eval")

ARGS1 = {"city": "Paris", "date": "2025-06-12"}
ARGS2 = {"city": "Paris", "date": "2025-06-12", "units": "metric"}
USER = "What will the weather be in Paris on 2025-06-12?"

#: §8: (canonical name, tool, PARAMGEN/EXEC arguments, status, parents)
WEATHER = [
    ("PLAN1", None, None, "ok", []),
    ("TOOLSEL1", "get_weather", None, "ok", ["PLAN1"]),
    ("PARAMGEN1", "get_weather", ARGS1, "ok", ["TOOLSEL1"]),
    ("EXEC1", "get_weather", ARGS1, "timeout", ["PARAMGEN1"]),
    ("TOOLSEL2", "get_weather", None, "ok", ["EXEC1"]),
    ("PARAMGEN2", "get_weather", ARGS2, "ok", ["TOOLSEL2"]),
    ("EXEC2", "get_weather", ARGS2, "ok", ["PARAMGEN2"]),
    ("SYNTH1", None, None, "ok", ["EXEC2"]),
]
WEATHER_USAGE = {"PLAN1": (212, 47), "TOOLSEL2": (290, 26), "SYNTH1": (368, 34)}

FUZZ = settings(max_examples=50, deadline=5000, suppress_health_check=[HealthCheck.too_slow])


# -- the worked example ---------------------------------------------------------------------------------


def canonical(trace: Trace) -> dict[str, str]:
    """Step id -> canonical name (type + running number, in trace order)."""
    counts: dict[str, int] = {}
    names = {}
    for step in trace.steps:
        counts[step.type.value] = counts.get(step.type.value, 0) + 1
        names[step.id] = f"{step.type.value}{counts[step.type.value]}"
    return names


def shape(trace: Trace) -> list[tuple[str, list[str]]]:
    """(canonical name, canonical parent names) per step: the DAG independent of id schemes."""
    names = canonical(trace)
    return [(names[s.id], [names[p] for p in s.parents]) for s in trace.steps]


def assert_weather_steps(trace: Trace, *, exec_args: bool = True, exec1_status: str = "timeout") -> dict[str, Any]:
    """The §8 DAG, tools, statuses (EXEC1's as given), arguments (EXEC ones if ``exec_args``), per-call
    usage and no roll-ups. Returns the steps by canonical name."""
    StepDAG.from_trace(trace)
    names = canonical(trace)
    by_name = {names[s.id]: s for s in trace.steps}
    assert shape(trace) == [(name, parents) for name, _, _, _, parents in WEATHER]
    for name, tool, args, status, _ in WEATHER:
        step = by_name[name]
        assert step.tool == tool, name
        assert step.status == (exec1_status if name == "EXEC1" else status), name
        if name.startswith("PARAMGEN") or (exec_args and name.startswith("EXEC")):
            assert step.arguments == args, name
        usage = WEATHER_USAGE.get(name)
        assert (step.usage.input_tokens, step.usage.output_tokens) == usage if usage else step.usage is None, name
    return by_name


def assert_weather_answer(trace: Trace, by_name: dict[str, Any]) -> None:
    """The plan, the answer (the only final step), the usage total and the task of §8."""
    names = canonical(trace)
    assert by_name["PLAN1"].output.startswith("Plan:")
    assert "sunny" in by_name["SYNTH1"].output
    assert [names[s.id] for s in trace.steps if s.is_final] == ["SYNTH1"]
    total = sum((s.usage for s in trace.steps if s.usage), Usage())
    assert (total.input_tokens, total.output_tokens) == (870, 107)
    assert trace.task == USER


def assert_weather_dag(trace: Trace, *, exec_args: bool = True) -> None:
    """The worked example parsed to the 8-step DAG of §8, with per-call usage and no roll-ups."""
    by_name = assert_weather_steps(trace, exec_args=exec_args)
    assert by_name["TOOLSEL1"].output == "get_weather"
    assert by_name["PARAMGEN2"].output == ARGS2
    assert by_name["EXEC1"].error is not None and by_name["EXEC1"].error.type == "TimeoutError"
    assert by_name["EXEC1"].tool_call_id == by_name["PARAMGEN1"].tool_call_id
    assert_weather_answer(trace, by_name)
    assert all(s.start_time is not None and s.start_time.tzinfo is not None for s in trace.steps)


def read_only_trace(path: Path, format: str) -> Trace:
    """The one trace ``read_file`` finds in ``path``, having detected ``format``."""
    parsed = read_file(path)
    assert parsed.format == format
    [trace] = parsed.traces
    return trace


def only_trace(reader: FormatReader, document: Document, *, check_dag: bool = True) -> Trace:
    """The one trace ``reader`` reads from ``document`` (checked to make a valid step DAG unless told not to)."""
    traces = reader.parse(document, "test.json")
    assert len(traces) == 1
    if check_dag:
        StepDAG.from_trace(traces[0])
    return traces[0]


# -- fuzzing --------------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


def paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path to a value inside nested JSON."""
    found = [prefix]
    if isinstance(value, dict):
        for key, inner in value.items():
            found += paths(inner, prefix + (key,))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found += paths(inner, prefix + (index,))
    return found


def replaced(value: Any, path: tuple, new: Any) -> Any:
    """A copy of nested JSON with the value at ``path`` replaced."""
    if not path:
        return new
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = replaced(value[path[0]], path[1:], new)
    return copy


def parse_or_trace_error(reader: FormatReader, document: Document, *, dump: bool = True) -> None:
    """``reader`` reads ``document`` into valid DAGs (JSON-serialisable if ``dump``) or raises a one-line
    TraceError; anything else is a bug."""
    try:
        traces = reader.parse(document, "fuzz.json")
    except TraceError as exc:
        assert "\n" not in str(exc)
        return
    for trace in traces:
        StepDAG.from_trace(trace)
        if dump:
            json.dumps(trace.model_dump(mode="json"))


def random_json_test(reader: FormatReader, documents: Callable[[Any], list[Document]], *, dump: bool = True):
    """A test: random JSON where ``documents`` puts it never crashes ``reader``."""

    @FUZZ
    @given(json_values)
    def test_random_json_never_crashes(value):
        for document in documents(value):
            parse_or_trace_error(reader, document, dump=dump)

    return test_random_json_never_crashes


def wrong_types_test(reader: FormatReader, files: list[Path], *, dump: bool = True):
    """A test: any value of one of ``files`` replaced by random JSON never crashes ``reader``."""

    @FUZZ
    @given(st.data())
    def test_wrong_types_in_fields_never_crash(data):
        source = load_document(data.draw(st.sampled_from(files)))
        original, json_lines = source.data, source.json_lines
        path = data.draw(st.sampled_from(paths(original)[1 if json_lines else 0:]))  # JSON Lines are always a list
        parse_or_trace_error(reader, Document(replaced(original, path, data.draw(json_values)), json_lines), dump=dump)

    return test_wrong_types_in_fields_never_crash


def truncated_files_test(reader: FormatReader, files: list[Path], *, dump: bool = True):
    """A test: any of ``files`` cut short either does not load (a TraceError) or never crashes ``reader``."""

    @FUZZ
    @given(data=st.data())
    def test_truncated_files_never_crash(data, tmp_path_factory):
        source = data.draw(st.sampled_from(files))
        text = source.read_text(encoding="utf-8")
        cut = tmp_path_factory.mktemp("cut") / source.name
        cut.write_text(text[: data.draw(st.integers(0, len(text) - 1))], encoding="utf-8")
        try:
            parse_or_trace_error(reader, load_document(cut), dump=dump)
        except TraceError:
            pass

    return test_truncated_files_never_crash


# -- detection, the command line, errors --------------------------------------------------------------


def fixture_files() -> list[Path]:
    """Every trace-like file under tests/fixtures."""
    return sorted(p for p in FIXTURES.rglob("*") if p.is_file() and p.suffix in FIXTURE_SUFFIXES)


def check_detection(name: str, claims: Callable[[Path], bool], extra: Iterable[Path] = ()) -> tuple[int, int]:
    """Reader ``name`` detects exactly the fixture files (and ``extra`` files) ``claims`` picks, and auto
    detection reads those as ``name``. Returns (files checked, files claimed); unloadable files are skipped."""
    reader = get_reader(name)
    checked = claimed = 0
    for path in [*fixture_files(), *extra]:
        try:
            document = load_document(path)
        except TraceError:
            continue
        expected = claims(path)
        assert reader.detect(document) is expected, path
        if expected:
            claimed += 1
            assert read_file(path).format == name, path
        checked += 1
    return checked, claimed


def cli_parse_json(path: Path) -> dict[str, Any]:
    """``agenteval parse FILE --json`` succeeds and prints one trace: that trace."""
    from typer.testing import CliRunner

    from agenteval.cli import app

    result = CliRunner().invoke(app, ["parse", str(path), "--json"])
    assert result.exit_code == 0, result.output
    [trace] = json.loads(result.stdout)["traces"]
    return trace


def assert_parse_error(reader: FormatReader, data: Any, message: str, *, one_line: bool = True) -> None:
    """Parsing ``data`` raises a TraceError matching ``message`` that names the file (on one line)."""
    with pytest.raises(TraceError, match=message) as caught:
        reader.parse(Document(data, json_lines=False), "bad.json")
    assert caught.value.source == "bad.json"
    if one_line:
        assert "\n" not in str(caught.value)

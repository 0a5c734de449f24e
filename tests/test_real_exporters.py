"""The worked example as real exporters wrote it (tests/fixtures/real/, made by its generate.py).

Each file is the §8 run (a plan, a get_weather call that times out, a retry with units="metric", an
answer) traced by a framework's own exporter against a scripted model; see the README there for the
package versions. Every file must read back as the canonical 8-step DAG of design/trace-formats.md §8,
as far as the exporter kept the content for it (§10 lists what each one drops).

A case exists only once its reader is registered (``available_formats()``), so readers that land later
pick up their files without editing this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from format_checks import (
    ARGS1,
    ARGS2,
    WEATHER,
    assert_weather_answer,
    assert_weather_dag,
    assert_weather_steps,
    canonical,
    shape,
)

from agenteval.dag import StepDAG
from agenteval.formats import available_formats, read_file, read_paths
from agenteval.models import Trace

REAL = Path(__file__).parent / "fixtures" / "real"
NOT_FIXTURES = {"README.md", "generate.py"}


@dataclass(frozen=True)
class Case:
    """One real file and what its exporter kept.

    Attributes:
        file: path under tests/fixtures/real.
        reader: the format ``read_file(..., "auto")`` must pick.
        logs: a companion OTLP logs file to join before parsing (default OTel content capture).
        content: whether the file holds the messages (plan, arguments, answer) at all.
        exec_args: whether tool spans record exactly the arguments the model sent.
        exec1_status: the status of the call that timed out.
        exec1_error: the error type that call keeps (None where the exporter redacts it).
    """

    file: str
    reader: str
    logs: str | None = None
    content: bool = True
    exec_args: bool = True
    exec1_status: str = "timeout"
    exec1_error: str | None = "TimeoutError"

    @property
    def id(self) -> str:
        return self.file + (" + logs" if self.logs else "" if self.content else " (spans only)")


ALL_CASES = [
    # Redacted by default: the span's error says only "Tool execution failed. Error details are redacted."
    Case("openai_agents/weather_chat.jsonl", "openai-agents", exec1_status="error", exec1_error=None),
    Case("openai_agents/weather_ingest.json", "openai-agents", exec1_status="error", exec1_error=None),
    Case("otel/weather_latest.jsonl", "otel"),
    Case("otel/weather_legacy.jsonl", "otel", logs="otel/weather_legacy.logs"),
    Case("otel/weather_legacy.jsonl", "otel", content=False),
    # @tracer.tool records the default units=None the model never sent.
    Case("openinference/weather_otlp.jsonl", "openinference", exec_args=False),
    Case("openinference/weather_protobuf.jsonl", "openinference", exec_args=False),
    Case("inspect/weather.json", "inspect"),
    Case("langsmith/weather_ingest.jsonl", "langsmith"),
    Case("langfuse/weather_otlp.jsonl", "langfuse", exec1_status="error", exec1_error=None),
]

#: Real files no registered reader turns into the §8 DAG yet, and why.
PENDING: dict[str, str] = {}  # files no reader handles yet, with why

FORMATS = available_formats()
CASES = [pytest.param(case, id=case.id) for case in ALL_CASES if case.reader in FORMATS]


def parse(case: Case) -> Trace:
    path = REAL / case.file
    if case.logs:
        # the product path: both files given, the log file joined to the spans as their companion
        files, errors = read_paths([path, REAL / case.logs])
        assert errors == [] and len(files) == 1 and files[0].format == case.reader
        traces = files[0].traces
    else:
        parsed = read_file(path, "auto")
        assert parsed.format == case.reader
        traces = parsed.traces
    assert len(traces) == 1
    return traces[0]


def assert_weather(trace: Trace, case: Case) -> None:
    """§8 with the exceptions the case's exporter forces; the full check where it keeps everything."""
    if case.exec1_status == "timeout" and case.exec1_error == "TimeoutError":
        assert_weather_dag(trace, exec_args=case.exec_args)
        return
    by_name = assert_weather_steps(trace, exec_args=case.exec_args, exec1_status=case.exec1_status)
    exec1 = by_name["EXEC1"]
    assert exec1.error is not None and exec1.error.type == case.exec1_error
    assert exec1.tool_call_id == by_name["PARAMGEN1"].tool_call_id
    assert by_name["EXEC2"].tool_call_id == by_name["PARAMGEN2"].tool_call_id
    assert_weather_answer(trace, by_name)


def assert_structure(trace: Trace, case: Case) -> None:
    """Spans without content: no plan to read, but the calls, executions, statuses and usage are there."""
    StepDAG.from_trace(trace)
    names = canonical(trace)
    by_name = {names[s.id]: s for s in trace.steps}
    expected = [(name, parents) for name, _, _, _, parents in WEATHER if name != "PLAN1"]
    expected[0] = ("TOOLSEL1", [])
    assert shape(trace) == expected
    assert [(n, by_name[n].tool) for n in ("TOOLSEL1", "EXEC1", "TOOLSEL2", "EXEC2")] == [
        (n, "get_weather") for n in ("TOOLSEL1", "EXEC1", "TOOLSEL2", "EXEC2")
    ]
    assert [by_name[n].status for n in ("EXEC1", "EXEC2")] == [case.exec1_status, "ok"]
    assert by_name["EXEC1"].error.type == case.exec1_error
    assert [by_name[n].tool_call_id for n in ("PARAMGEN1", "EXEC1", "PARAMGEN2", "EXEC2")] == [
        "call_w1", "call_w1", "call_w2", "call_w2"
    ]
    assert [s.usage.input_tokens for s in trace.steps if s.usage] == [212, 290, 368]
    assert [names[s.id] for s in trace.steps if s.is_final] == ["SYNTH1"]


@pytest.mark.parametrize("case", CASES)
def test_real_export_reads_as_the_section_8_dag(case):
    trace = parse(case)
    if case.content:
        assert_weather(trace, case)
    else:
        assert_structure(trace, case)


@pytest.mark.parametrize("case", [c for c in CASES if not c.values[0].exec_args])
def test_tool_span_defaults_do_not_leak_into_paramgen(case):
    trace = parse(case)
    names = canonical(trace)
    by_name = {names[s.id]: s for s in trace.steps}
    assert by_name["EXEC1"].arguments == {**ARGS1, "units": None}
    assert (by_name["PARAMGEN1"].arguments, by_name["PARAMGEN2"].arguments) == (ARGS1, ARGS2)


def test_every_real_file_has_a_case():
    files = {str(p.relative_to(REAL)) for p in REAL.rglob("*") if p.is_file() and p.name not in NOT_FIXTURES}
    covered = {c.file for c in ALL_CASES} | {c.logs for c in ALL_CASES if c.logs} | set(PENDING)
    assert files == covered

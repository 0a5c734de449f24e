"""Trace text on the terminal is shown literally: rich markup is not parsed, control characters and
escape sequences are shown as visible escapes, in every report and CLI message."""

from __future__ import annotations

from io import StringIO

import pytest
from rich.console import Console
from typer.testing import CliRunner

from agenteval.cli import app
from agenteval.models import Step, Tool, Trace
from agenteval.reports.terminal_text import markup_safe, plain, safe

EVIL_ID = "evil[/nope][bold]x"
# A colour change, an OSC 52 clipboard write, an OSC 8 link, a carriage return and a bidi override.
ESCAPES = "\x1b[31mred\x1b]52;c;ZWNobyBwd25lZA==\x07\x1b]8;;http://x.invalid\x1b\\link\rover\u202eevil"
ESCAPED = "\\x1b[31mred\\x1b]52;c;ZWNobyBwd25lZA==\\x07\\x1b]8;;http://x.invalid\\x1b\\link\\x0dover\\u202eevil"


def test_plain_escapes_control_characters():
    assert plain(ESCAPES) == ESCAPED
    assert plain("a\nb\tc") == "a\\x0ab\\x09c"
    assert plain("a\nb\tc\x1b", multiline=True) == "a\nb\tc\\x1b"
    assert plain("ordinary text: café, 日本, emoji 🙂") == "ordinary text: café, 日本, emoji 🙂"
    assert plain(3) == "3"


def test_safe_and_markup_safe_show_brackets_literally():
    console = Console(file=StringIO(), width=100, color_system=None)
    console.print(safe(EVIL_ID))
    console.print(f"[bold]{markup_safe(EVIL_ID)}[/]")
    assert console.file.getvalue().splitlines() == [EVIL_ID, EVIL_ID]


def _trace(trace_id: str) -> Trace:
    return Trace(
        id=trace_id,
        task=f"task {ESCAPES}",
        tools=[Tool(name="lookup", parameters={"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]})],
        steps=[
            Step(id="u", type="USER", output="hi"),
            Step(id=f"s[/x]{ESCAPES}", type="PARAMGEN", parents=["u"], tool=f"lookup[/t]{ESCAPES}", arguments={}),
            Step(id="p", type="PARAMGEN", parents=["u"], tool="lookup", arguments={"z": ESCAPES}),
        ],
    )


@pytest.fixture
def stored(tmp_path, monkeypatch):
    """A store holding one run of two traces whose ids carry markup and escape sequences."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "300")
    folder = tmp_path / "traces"
    folder.mkdir()
    (folder / "a.json").write_text(_trace(EVIL_ID).model_dump_json())
    (folder / "b.json").write_text(_trace(f"id-{ESCAPES}").model_dump_json())
    runner = CliRunner()
    first = runner.invoke(app, ["eval", str(folder), "--db", "x.duckdb", "--run", f"run[/r]{ESCAPES}"])
    return runner, first


def _no_raw_controls(text: str) -> None:
    assert "\x1b" not in text and "\x07" not in text and "\r" not in text and "\u202e" not in text


def test_eval_show_and_runs_survive_markup_and_escapes_in_trace_text(stored):
    runner, first = stored
    assert first.exit_code == 0, first.output
    outputs = [first.output]
    for args in (["show"], ["show", "--trace", EVIL_ID], ["show", "--trace", f"id-{ESCAPES}"], ["runs"]):
        result = runner.invoke(app, [*args, "--db", "x.duckdb"])
        assert result.exit_code == 0, (args, result.output)
        assert "Traceback" not in result.output
        outputs.append(result.output)
    summary, tree, escaped_tree, runs = outputs[1:]
    assert EVIL_ID in summary and f"id-{ESCAPED}" in summary
    assert f"{EVIL_ID} failed" in tree and f"lookup[/t]{ESCAPED}" in tree and f"task {ESCAPED}" in tree
    assert f"id-{ESCAPED}" in escaped_tree
    assert f"run[/r]{ESCAPED}" in runs
    for output in outputs:
        _no_raw_controls(output)


def test_error_messages_quote_trace_text_literally(stored):
    runner, _ = stored
    result = runner.invoke(app, ["show", "--db", "x.duckdb", "--trace", f"missing[/m]{ESCAPES}"])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert f"has no trace 'missing[/m]{ESCAPED}'" in result.stderr
    assert EVIL_ID in result.stderr
    _no_raw_controls(result.stderr)


def test_parse_lists_steps_literally(tmp_path):
    path = tmp_path / "t.json"
    path.write_text(_trace(EVIL_ID).model_dump_json())
    result = CliRunner().invoke(app, ["parse", str(path)])
    assert result.exit_code == 0, result.output
    assert EVIL_ID in result.output and f"s[/x]{ESCAPED}" in result.output
    _no_raw_controls(result.output)


def test_compare_shows_run_names_and_trace_ids_literally(stored, tmp_path):
    runner, _ = stored
    again = runner.invoke(app, ["eval", str(tmp_path / "traces"), "--db", "x.duckdb", "--run", "second[/s]"])
    assert again.exit_code == 0, again.output
    result = runner.invoke(app, ["compare", f"run[/r]{ESCAPES}", "second[/s]", "--db", "x.duckdb"])
    assert result.exit_code == 0, result.output
    assert "second[/s]" in result.output and f"run[/r]{ESCAPED}" in result.output
    _no_raw_controls(result.output)

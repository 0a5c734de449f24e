"""The LLM judge under faults, end to end: `agenteval eval` -> real openai client -> scripted local
server on 127.0.0.1 -> verdicts in a real DuckDB file.

Whatever the endpoint does (rate limits, 5xx, hangs, malformed bodies, out-of-range scores, no
server at all), every agent step ends judged or judge_error, a fault never becomes a pass, secrets in
the traces never leave the machine or reach the database, and the cache, the cost ceiling and the
concurrency bound hold.
"""

from __future__ import annotations

import itertools
import json
import socket
import threading
import time
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from agenteval.cli import app
from agenteval.rubrics import load_rubrics
from agenteval.testing import FakeOpenAIServer, Reply, schema_filler

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "traces"
MODEL = "gpt-4o-mini"  # a priced model, so --max-cost has something to count
AGENT_TYPES = {"PLAN", "TOOLSEL", "PARAMGEN", "EXEC", "SYNTH"}
#: Every metric of every bundled rubric: a reply scoring all of them is valid for any step type
#: (the judge ignores metrics that are not in the step's rubric).
METRICS = tuple(dict.fromkeys(name for r in load_rubrics().rubrics.values() for name in r.metric_names))


def good(score: int = 4) -> Reply:
    return Reply.judgment(score, METRICS)


@pytest.fixture
def runner(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")
    for name in list(__import__("os").environ):
        if name.startswith("AGENTEVAL_") or name.startswith("OPENAI_"):
            monkeypatch.delenv(name)
    return CliRunner()


def run_eval(runner, base_url: str, *paths, db: Path, timeout: float = 2, retries: int = 0, extra=(), as_json=True):
    args = ["eval", *map(str, paths), "--db", str(db), "--model", MODEL, "--base-url", base_url,
            "--timeout", str(timeout), "--max-retries", str(retries), *map(str, extra)]
    result = runner.invoke(app, args + (["--json"] if as_json else []))
    assert "Traceback" not in result.output, result.output
    return result, (json.loads(result.stdout) if as_json and result.exit_code in (0, 1, 2) else None)


def assert_judge_unusable(result) -> None:
    """Not one step judged: exit 2 with one line naming the judge and why (the run is still stored)."""
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: judge openai:{MODEL} could not judge any step"), lines


def steps_of(data: dict) -> list[dict]:
    return [step for trace in data["traces"] for step in trace["steps"]]


def query(db: Path, sql: str, params=()) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


def llm_judged(db: Path, run_id: str) -> int:
    """Agent steps of the run that went to the model (not decided by the rules alone)."""
    return query(db, "SELECT count(*) FROM judgments WHERE run_id = ? AND NOT decisive", [run_id])[0][0]


# -- (a) retries ---------------------------------------------------------------------------------


def test_429_and_5xx_are_retried_and_every_step_is_still_judged(runner, tmp_path):
    faults = [Reply.rate_limited(0.2), Reply.server_error(500), Reply.rate_limited(0.01), Reply.server_error(503)]
    db = tmp_path / "a.duckdb"
    with FakeOpenAIServer(faults, responder=lambda request: good()) as server:
        started = time.perf_counter()
        result, data = run_eval(runner, server.base_url, EXAMPLES / "refund.json", db=db, retries=4,
                                extra=["--concurrency", "1"])
        elapsed = time.perf_counter() - started
    assert result.exit_code == 0, result.output
    judged = llm_judged(db, data["run_id"])
    assert judged == 11  # every agent step of the refund trace; no rule is decisive there
    assert server.request_count == judged + len(faults)  # the server saw each retry
    assert elapsed >= 0.2  # Retry-After was honoured
    assert {s["verdict"] for s in steps_of(data) if s["type"] in AGENT_TYPES} == {"pass"}
    assert data["traces"][0]["status"] == "passed"


# -- (b) no fault is ever a pass -----------------------------------------------------------------


FAULTS = {
    "hang": lambda: Reply.hang(10),
    "malformed_json": Reply.malformed,
    "score_out_of_range": lambda: Reply.out_of_range(METRICS, score=7),
    "missing_field": lambda: Reply.missing_field("confidence", METRICS),
    "prose_without_json": lambda: Reply.text("Looks fine to me, I'd say a 5."),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_a_judge_that_always_fails_never_produces_a_pass(runner, tmp_path, fault):
    db = tmp_path / "b.duckdb"
    make = FAULTS[fault]
    with FakeOpenAIServer(responder=lambda request: make()) as server:
        result, data = run_eval(runner, server.base_url, EXAMPLES, db=db, timeout=0.1,
                                extra=["--concurrency", "16"])
    assert_judge_unusable(result)  # judge errors are data, and a judge that never answers is named
    assert server.request_count > 0
    for trace in data["traces"]:
        assert trace["status"] in ("incomplete", "failed"), trace
        for step in trace["steps"]:
            if step["type"] not in AGENT_TYPES:
                assert step["verdict"] == "skipped"
            else:
                assert step["verdict"] != "pass", (trace["trace_id"], step)
    rows = query(db, """
        SELECT v.verdict, j.decisive, j.error, j.score FROM verdicts v
        JOIN judgments j USING (run_id, trace_id, step_id) WHERE v.run_id = ?""", [data["run_id"]])
    assert rows and all(verdict != "pass" for verdict, *_ in rows)
    for verdict, decisive, error, score in rows:
        if decisive:  # a hard failure the rules proved without asking the model
            assert verdict in ("direct", "cascade") and error is None
        else:
            assert verdict == "judge_error" and error and score is None
    assert sum(1 for v, *_ in rows if v == "judge_error") == llm_judged(db, data["run_id"]) > 0


# -- (c) every step ends judged or judge_error ---------------------------------------------------


def test_under_mixed_faults_every_agent_step_is_judged_or_a_judge_error(runner, tmp_path):
    turns = itertools.cycle([good(4), Reply.malformed(), good(2), Reply.server_error(500), Reply.out_of_range(METRICS)])
    lock = threading.Lock()

    def respond(request):
        with lock:
            return next(turns)

    db = tmp_path / "c.duckdb"
    with FakeOpenAIServer(responder=respond) as server:
        result, data = run_eval(runner, server.base_url, EXAMPLES, db=db, extra=["--concurrency", "4"])
    assert result.exit_code == 0, result.output  # some steps were judged: judge errors are data
    assert result.stderr.startswith("Warning: ") and "could not be judged (judge_error)" in result.stderr
    verdicts = {}
    for step in steps_of(data):
        if step["type"] in AGENT_TYPES:
            assert step["verdict"] in ("pass", "direct", "cascade", "judge_error"), step
            assert (step["score"] is None) == (step["verdict"] == "judge_error"), step
        else:
            assert step["verdict"] == "skipped", step
        verdicts[step["verdict"]] = verdicts.get(step["verdict"], 0) + 1
    assert verdicts.get("judge_error") and verdicts.get("pass")  # both outcomes really happened
    assert all(t["status"] != "passed" or all(s["verdict"] != "judge_error" for s in t["steps"]) for t in data["traces"])
    stored = query(db, "SELECT count(*) FROM verdicts WHERE run_id = ? AND verdict = 'judge_error'", [data["run_id"]])
    assert stored[0][0] == verdicts["judge_error"]


# -- (d) the cache ----------------------------------------------------------------------------------


def test_a_second_identical_run_is_served_from_the_cache_and_no_cache_asks_again(runner, tmp_path):
    db = tmp_path / "d.duckdb"
    with FakeOpenAIServer(responder=lambda request: good(4)) as server:
        first, data1 = run_eval(runner, server.base_url, EXAMPLES, db=db, extra=["--concurrency", "8"])
        sent = server.request_count
        second, data2 = run_eval(runner, server.base_url, EXAMPLES, db=db, extra=["--concurrency", "8"])
        assert server.request_count == sent  # nothing was sent the second time
        third, data3 = run_eval(runner, server.base_url, EXAMPLES, db=db, extra=["--concurrency", "8", "--no-cache"])
        assert server.request_count == 2 * sent  # --no-cache asks the model again
    assert first.exit_code == second.exit_code == third.exit_code == 0
    assert sent == llm_judged(db, data1["run_id"]) > 0
    verdicts = [[(s["id"], s["verdict"], s["score"]) for s in steps_of(d)] for d in (data1, data2, data3)]
    assert verdicts[0] == verdicts[1] == verdicts[2]
    cached = dict(query(db, "SELECT run_id, count(*) FILTER (WHERE cached) FROM judgments GROUP BY run_id"))
    assert cached == {data1["run_id"]: 0, data2["run_id"]: sent, data3["run_id"]: 0}


# -- (e) secrets ------------------------------------------------------------------------------------

API_KEY = "sk-proj-Zq8WvT3kLm9NpR2sXy7Ub4Hc6Jd1Fg5Ke0Ao"
PASSWORD = "Tr0ub4dor-and-3-horse-staple"
BEARER = "ya29.Gl0bAlBeArErToKeN-x7y8z9"
METADATA_KEY = "AKIAIOSFODNN7EXAMPLE"
SECRETS = (API_KEY, PASSWORD, BEARER, METADATA_KEY)


def plant_secrets(folder: Path) -> Path:
    """A copy of the refund example with credentials in the task, arguments, headers, output and metadata."""
    data = json.loads((EXAMPLES / "refund.json").read_text(encoding="utf-8"))
    data["id"] = "refund-with-secrets"
    data["task"] += f" Use the admin key {API_KEY} if the order API asks for one."
    tool = next(t for t in data["tools"] if t["name"] == "get_order")
    tool["parameters"]["properties"]["password"] = {"type": "string"}
    steps = {s["id"]: s for s in data["steps"]}
    steps["u1"]["output"] += f" (curl -H 'Authorization: Bearer {BEARER}' https://shop.example/orders)"
    for sid in ("pg1", "ex1"):
        steps[sid]["arguments"] = {**steps[sid].get("arguments", {}), "order_id": "ORD-48213", "password": PASSWORD}
    steps["ex1"]["input"] = {"headers": {"Authorization": f"Bearer {BEARER}", "X-Api-Key": API_KEY}}
    steps["ex1"]["metadata"] = {"aws_access_key_id": METADATA_KEY, "note": f"debug key {METADATA_KEY}"}
    steps["s1"]["output"] += f" (internal: token {API_KEY})"
    path = folder / "refund_with_secrets.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_planted_secrets_reach_neither_the_judge_nor_the_database(runner, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    path = plant_secrets(inputs)
    assert all(secret in path.read_text() for secret in SECRETS)
    db = tmp_path / "e.duckdb"
    with FakeOpenAIServer(responder=lambda request: good()) as server:
        # --judge-all: every agent step goes to the model, so every planted value had a way out.
        result, data = run_eval(runner, server.base_url, path, db=db, extra=["--judge-all"], as_json=False)
        shown = runner.invoke(app, ["show", "--db", str(db), "--trace", "refund-with-secrets"])
    assert result.exit_code == 0 and shown.exit_code == 0, result.output + shown.output
    sent = json.dumps(server.requests)
    assert server.request_count == 11
    assert "[MASKED]" in sent  # the values were there and were masked, not dropped
    for secret in SECRETS:
        assert secret not in sent, f"{secret} was sent to the judge"
        assert secret not in result.output and secret not in shown.output
    # The raw database file (and any write-ahead log beside it) ...
    for file in (db, db.with_name(db.name + ".wal")):
        if file.exists():
            raw = file.read_bytes()
            assert not any(secret.encode() in raw for secret in SECRETS), f"a secret is in {file.name}"
    # ... and every text column of every table, as DuckDB returns it.
    with duckdb.connect(str(db), read_only=True) as con:
        columns = con.execute("""
            SELECT table_name, column_name FROM information_schema.columns
            WHERE data_type IN ('VARCHAR', 'JSON') OR data_type LIKE 'VARCHAR[%' OR data_type LIKE 'STRUCT%'
        """).fetchall()
        assert {("traces", "result"), ("judge_cache", "judgment"), ("runs", "config"), ("steps", "tool")} <= set(columns)
        for table, column in columns:
            for secret in SECRETS:
                sql = f'SELECT count(*) FROM "{table}" WHERE CAST("{column}" AS VARCHAR) LIKE ?'
                assert con.execute(sql, [f"%{secret}%"]).fetchone()[0] == 0, f"{secret} is stored in {table}.{column}"
        assert "[MASKED]" in con.execute("SELECT result FROM traces").fetchone()[0]


# -- (f) --max-cost -------------------------------------------------------------------------------


def test_max_cost_stops_judging_records_the_rest_as_not_judged_and_saves_the_run(runner, tmp_path):
    db = tmp_path / "f.duckdb"
    with FakeOpenAIServer(responder=lambda request: good(), latency=0.01) as server:
        # One request of a few thousand tokens on gpt-4o-mini costs far more than this ceiling.
        result, data = run_eval(runner, server.base_url, EXAMPLES, db=db,
                                extra=["--max-cost", "0.000001", "--concurrency", "2"])
    assert result.exit_code == 0, result.output
    run_id = data["run_id"]
    to_judge = llm_judged(db, run_id)
    assert 1 <= server.request_count <= 2  # the calls in flight when the ceiling was reached
    not_judged = query(db, """
        SELECT count(*) FROM judgments j JOIN verdicts v USING (run_id, trace_id, step_id)
        WHERE run_id = ? AND NOT j.assessed AND j.reason LIKE '%max-cost%' AND v.verdict = 'skipped'""", [run_id])
    assert not_judged[0][0] == to_judge - server.request_count > 0
    assert not any(s["verdict"] == "judge_error" for s in steps_of(data))
    stored = query(db, "SELECT count(*) FROM traces WHERE run_id = ?", [run_id])
    assert stored[0][0] == len(data["traces"]) == 5  # the run is still saved, every trace of it


# -- (g) concurrency bound -------------------------------------------------------------------------


@pytest.mark.parametrize("concurrency, latency", [(1, 0.01), (4, 0.05)])
def test_requests_in_flight_never_exceed_concurrency(runner, tmp_path, concurrency, latency):
    db = tmp_path / "g.duckdb"
    with FakeOpenAIServer(responder=lambda request: good(), latency=latency) as server:
        result, data = run_eval(runner, server.base_url, EXAMPLES, db=db, extra=["--concurrency", str(concurrency)])
    assert result.exit_code == 0, result.output
    assert server.request_count == llm_judged(db, data["run_id"]) > concurrency
    assert server.max_in_flight == concurrency  # reached, never passed


# -- (h) no server at all ------------------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_judge_is_a_one_line_error_exit_2_and_the_run_is_stored(runner, tmp_path):
    db = tmp_path / "h.duckdb"
    url = f"http://127.0.0.1:{closed_port()}/v1"
    result, data = run_eval(runner, url, EXAMPLES, db=db, timeout=0.5)
    assert_judge_unusable(result)
    assert "connection failed" in result.stderr
    agent = [s for s in steps_of(data) if s["type"] in AGENT_TYPES]
    assert {s["verdict"] for s in agent} <= {"judge_error", "direct", "cascade"}
    assert sum(s["verdict"] == "judge_error" for s in agent) == llm_judged(db, data["run_id"]) > 0
    assert {t["status"] for t in data["traces"]} <= {"incomplete", "failed"}
    assert "incomplete" in {t["status"] for t in data["traces"]}
    reason = query(db, "SELECT any_value(error) FROM judgments WHERE run_id = ? AND error IS NOT NULL", [data["run_id"]])
    assert "connection failed" in reason[0][0] and "\n" not in reason[0][0]

    text, _ = run_eval(runner, url, EXAMPLES, db=db, timeout=0.5, as_json=False)
    assert_judge_unusable(text)
    assert "incomplete (judge errors)" in text.stdout and "0 passed" in text.stdout
    assert "Traceback" not in text.stderr


# -- a server that knows nothing about agenteval but the JSON schema it is sent ----------------


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("structured", [True, False], ids=["json_schema", "json_object"])
@pytest.mark.parametrize("mode", ["holistic", "checklist"])
def test_a_server_that_only_follows_the_schema_gives_no_judge_errors(runner, tmp_path, mode, structured, seed):
    # Random but valid replies: any scores, any code of the type's enum or null, any answer. Without
    # json_schema support the server fills the JSON template the prompt shows, as best it can.
    db = tmp_path / "filled.duckdb"
    with FakeOpenAIServer(responder=schema_filler(seed), reject_json_schema=not structured) as server:
        result, data = run_eval(runner, server.base_url, EXAMPLES, db=db,
                                extra=["--judge-mode", mode, "--judge-all", "--no-cache"])
    assert result.exit_code == 0, result.output
    steps = [s for s in steps_of(data) if s["type"] in AGENT_TYPES]
    assert len(steps) > 30 and not [s for s in steps if s["verdict"] == "judge_error"]
    rows = query(db, "SELECT score, error, model, decisive FROM judgments WHERE run_id = ?", [data["run_id"]])
    assert len(rows) == len(steps) and all(error is None and 1 <= score <= 5 for score, error, _, _ in rows)
    # Every step went to the model (--judge-all); a failure the rules prove stands over a higher score.
    assert all(model == MODEL or decisive for _, _, model, decisive in rows)
    formats = {r.get("response_format", {}).get("type", "text") for r in server.requests}
    assert formats <= ({"json_schema"} if structured else {"json_schema", "json_object"})
    if mode == "checklist":
        assert all(r["messages"][1]["content"].rstrip().endswith("}") for r in server.requests)


@pytest.mark.parametrize("mode", ["holistic", "checklist"])
def test_llama_slots_give_each_step_type_its_own_slot(runner, tmp_path, mode):
    with FakeOpenAIServer(responder=schema_filler(5)) as server:
        result, _ = run_eval(runner, server.base_url, EXAMPLES, db=tmp_path / "s.duckdb",
                             extra=["--judge-mode", mode, "--llama-slots", "5", "--no-cache"])
    assert result.exit_code == 0, result.output
    slots: dict[int, set[str]] = {}
    for request in server.requests:
        assert request["cache_prompt"] is True
        slots.setdefault(request["id_slot"], set()).add(request["messages"][0]["content"])
    # Five step types, five slots: each slot only ever sees the one static prefix of its type.
    assert set(slots) <= set(range(5)) and len(slots) >= 4
    assert all(len(prefixes) == 1 for prefixes in slots.values())


def test_bench_with_a_model_prints_the_papers_table_beside_ours(runner, tmp_path):
    data = Path(__file__).resolve().parents[2] / "shared" / "data" / "agentrx"
    with FakeOpenAIServer(responder=schema_filler(9)) as server:
        result = runner.invoke(app, ["bench", str(data), "--dataset", "agentrx-tau", "--model", MODEL,
                                     "--base-url", server.base_url, "--judge-mode", "checklist", "--limit", "2",
                                     "--mode", "dag", "--mode", "flat", "--db", str(tmp_path / "b.duckdb")])
        as_json = runner.invoke(app, ["bench", str(data), "--dataset", "agentrx-tau", "--model", MODEL,
                                      "--base-url", server.base_url, "--judge-mode", "checklist", "--limit", "2",
                                      "--mode", "dag", "--mode", "flat", "--db", str(tmp_path / "b.duckdb"), "--json"])
    assert result.exit_code == 0, result.output
    table = result.output[result.output.index("Beside the paper"):]
    for label in ("FDRec", "FPR", "kappa", "RCA", "ours: dag", "ours: flat", "paper: AgentEval (DAG)"):
        assert label in table
    assert "0.89" in table and "0.72" in table  # the paper's DAG recall and root-cause accuracy
    paper = json.loads(as_json.stdout)["paper"]["AgentEval (DAG)"]
    assert paper == {"fd_recall": 0.89, "fpr": 0.07, "kappa": 0.84, "rca_exact": 0.72}

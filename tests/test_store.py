"""Tests of the DuckDB store against real database files in tmp_path."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pytest

from agenteval.errors import StoreError
from agenteval.models import (
    ErrorInfo,
    InputError,
    Judgment,
    RootCause,
    Run,
    Step,
    StepType,
    StepVerdict,
    Trace,
    TraceResult,
    Usage,
)
from agenteval.store import DEFAULT_DB, MIGRATIONS, RunSummary, Store, open_store

T0 = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)


def make_run(run_id: str = "run-aaaa1111", name: str = "baseline", created_at: datetime = T0) -> Run:
    return Run(
        id=run_id,
        name=name,
        created_at=created_at,
        judge="rules",
        config={"threshold": 3, "paths": ["traces/"]},
        git_commit="abc123",
    )


def failed_result() -> TraceResult:
    """A trace whose EXEC step fails directly and whose answer fails in cascade."""
    trace = Trace(
        id="t-failed",
        task="Book a flight to Paris",
        steps=[
            Step(id="u", type=StepType.USER, input="Book a flight to Paris"),
            Step(id="p", type=StepType.PLAN, parents=["u"], agent="planner", output="search, then book",
                 usage=Usage(input_tokens=120, output_tokens=30), model="gpt-4o"),
            Step(id="x", type=StepType.EXEC, parents=["p"], tool="search_flights", arguments={"to": "CDG"},
                 status="error", error=ErrorInfo(type="TimeoutError", message="upstream timed out"),
                 start_time=T0, end_time=T0 + timedelta(seconds=3)),
            Step(id="s", type=StepType.SYNTH, parents=["x"], output="Booked!", is_final=True,
                 metadata={"raw": {"k": [1, 2]}}),
        ],
    )
    plan_j = Judgment(step_id="p", judge="rules", score=5, reason="plan fits", rubric_version="1",
                      usage=Usage(input_tokens=10, output_tokens=2), cost_usd=0.001, metric_scores={"fit": 5.0})
    exec_j = Judgment(step_id="x", judge="rules", score=1, failure_code="E2.2", reason="timed out",
                      decisive=True, confidence=1.0, details={"check": "status"})
    synth_j = Judgment(step_id="s", judge="rules", score=2, failure_code="I1.2", reason="claims success",
                       cached=True)
    return TraceResult(
        trace=trace,
        source="traces/failed.json",
        format="agenteval",
        status="failed",
        judge="rules",
        verdicts=[
            StepVerdict(step_id="u", type=StepType.USER, verdict="skipped"),
            StepVerdict(step_id="p", type=StepType.PLAN, verdict="pass", score=5, threshold=3, judgment=plan_j),
            StepVerdict(step_id="x", type=StepType.EXEC, verdict="direct", score=1, threshold=3,
                        failure_code="E2.2", reason="timed out", judgment=exec_j),
            StepVerdict(step_id="s", type=StepType.SYNTH, verdict="cascade", score=2, threshold=3,
                        failure_code="I1.2", upstream_failures=["x"], judgment=synth_j),
        ],
        root_causes=[RootCause(step_id="x", algorithm="earliest", chain=["x", "s"], failure_code="E2.2", score=1)],
    )


def passed_result(trace_id: str = "t-passed", n_steps: int = 2) -> TraceResult:
    """A linear PLAN -> EXEC ... trace where every step passes."""
    steps = [Step(id="s0", type=StepType.PLAN, output="plan")]
    steps += [Step(id=f"s{i}", type=StepType.EXEC, parents=[f"s{i - 1}"], tool="t") for i in range(1, n_steps)]
    verdicts = [
        StepVerdict(step_id=s.id, type=s.type, verdict="pass", score=4, threshold=3,
                    judgment=Judgment(step_id=s.id, judge="rules", score=4,
                                      usage=Usage(input_tokens=1, output_tokens=1)))
        for s in steps
    ]
    return TraceResult(trace=Trace(id=trace_id, steps=steps), status="passed", judge="rules", verdicts=verdicts)


def test_migrations_are_recorded_and_applied_once(tmp_path: Path) -> None:
    db = tmp_path / "nested" / "dir" / "a.duckdb"
    with Store(db) as store:
        store.start_run(make_run())
    assert db.is_file()
    with Store(db):
        pass
    con = duckdb.connect(str(db))
    try:
        names = [r[0] for r in con.execute("SELECT name FROM schema_migrations ORDER BY name").fetchall()]
        assert names == sorted(name for name, _ in MIGRATIONS)
        assert names[0] == "m001_initial"
        # Reopening neither re-ran the migration (it would have failed on existing tables) nor lost data.
        assert con.execute("SELECT count(*) FROM runs").fetchone() == (1,)
    finally:
        con.close()


def test_default_path_is_under_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert DEFAULT_DB == Path(".agenteval/agenteval.duckdb")
    with Store() as store:
        assert store.list_runs() == []
    assert (tmp_path / ".agenteval" / "agenteval.duckdb").is_file()


def test_run_round_trip(tmp_path: Path) -> None:
    run = make_run()
    run.results = [failed_result(), passed_result()]
    run.input_errors = [InputError(source="traces/bad.json", message="not JSON"),
                        InputError(source="traces/worse.json", message="no steps")]
    with Store(tmp_path / "a.duckdb") as store:
        store.start_run(run)
        store.add_result(run.id, run.results[0])
        store.add_input_error(run.id, run.input_errors[0])
        store.add_result(run.id, run.results[1])
        store.add_input_error(run.id, run.input_errors[1])
    with Store(tmp_path / "a.duckdb") as store:
        loaded = store.load_run(run.id)
    assert loaded == run
    assert loaded.created_at.tzinfo is not None and loaded.created_at == T0


def test_flat_tables_hold_steps_judgments_verdicts_and_root_causes(tmp_path: Path) -> None:
    with Store(tmp_path / "a.duckdb") as store:
        store.start_run(make_run())
        store.add_result("run-aaaa1111", failed_result())
    con = duckdb.connect(str(tmp_path / "a.duckdb"))
    try:
        steps = con.execute(
            "SELECT step_id, position, type, parents, status, input_tokens FROM steps ORDER BY position"
        ).fetchall()
        assert steps == [("u", 0, "USER", [], "ok", None), ("p", 1, "PLAN", ["u"], "ok", 120),
                         ("x", 2, "EXEC", ["p"], "error", None), ("s", 3, "SYNTH", ["x"], "ok", None)]
        judgments = con.execute(
            "SELECT step_id, score, failure_code, decisive, cached, cost_usd FROM judgments ORDER BY step_id"
        ).fetchall()
        assert judgments == [("p", 5.0, None, False, False, 0.001), ("s", 2.0, "I1.2", False, True, None),
                             ("x", 1.0, "E2.2", True, False, None)]
        verdicts = con.execute(
            "SELECT step_id, verdict, upstream_failures FROM verdicts WHERE verdict <> 'pass' ORDER BY step_id"
        ).fetchall()
        assert verdicts == [("s", "cascade", ["x"]), ("u", "skipped", []), ("x", "direct", [])]
        roots = con.execute("SELECT step_id, algorithm, chain, failure_code FROM root_causes").fetchall()
        assert roots == [("x", "earliest", ["x", "s"], "E2.2")]
        status = con.execute("SELECT result->>'status' FROM traces").fetchone()
        assert status == ("failed",)
    finally:
        con.close()


def test_resolve_run(tmp_path: Path) -> None:
    with Store(tmp_path / "a.duckdb") as store:
        with pytest.raises(StoreError, match="no runs stored yet"):
            store.resolve_run(None)
        store.start_run(make_run("abcd1111", "nightly", T0))
        store.start_run(make_run("abcd2222", "nightly", T0 + timedelta(hours=1)))
        store.start_run(make_run("ef001234", "baseline", T0 + timedelta(hours=2)))
        store.start_run(make_run("older999", "old", T0 - timedelta(days=1)))  # stored last, created first
        assert store.resolve_run(None) == "ef001234"
        assert store.resolve_run("latest") == "ef001234"
        assert store.resolve_run("abcd1111") == "abcd1111"
        assert store.resolve_run("nightly") == "abcd2222"
        assert store.resolve_run("ef00") == "ef001234"
        assert store.load_run("old").id == "older999"
        with pytest.raises(StoreError, match="ambiguous: abcd2222, abcd1111"):
            store.resolve_run("abcd")
        with pytest.raises(StoreError, match="no run matches 'ef0'"):
            store.resolve_run("ef0")  # too short to be a prefix
        with pytest.raises(StoreError, match="a.duckdb: no run matches 'nope'"):
            store.load_run("nope")


def test_list_runs_counts_newest_first(tmp_path: Path) -> None:
    with Store(tmp_path / "a.duckdb") as store:
        store.start_run(make_run("r1", "first", T0))
        store.add_result("r1", failed_result())
        store.add_result("r1", passed_result("t1"))
        store.add_result("r1", passed_result("t2"))
        incomplete = passed_result("t3")
        incomplete.status = "incomplete"
        store.add_result("r1", incomplete)
        store.add_input_error("r1", InputError(source="x.json", message="bad"))
        store.start_run(make_run("r2", "second", T0 + timedelta(minutes=5)))
        summaries = store.list_runs()
    assert summaries == [
        RunSummary(id="r2", name="second", created_at=T0 + timedelta(minutes=5), judge="rules", n_traces=0,
                   n_passed=0, n_failed=0, n_incomplete=0, n_input_errors=0, git_commit="abc123"),
        RunSummary(id="r1", name="first", created_at=T0, judge="rules", n_traces=4, n_passed=2, n_failed=1,
                   n_incomplete=1, n_input_errors=1, git_commit="abc123"),
    ]


def test_timestamps_are_stored_as_utc(tmp_path: Path) -> None:
    paris = timezone(timedelta(hours=2))
    with Store(tmp_path / "a.duckdb") as store:
        store.start_run(make_run(created_at=datetime(2024, 5, 1, 14, 0, tzinfo=paris)))
        assert store.load_run(None).created_at == datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
        assert store.list_runs()[0].created_at.utcoffset() == timedelta(0)


def test_judgment_cache_get_put_upsert(tmp_path: Path) -> None:
    first = Judgment(step_id="p", judge="openai:gpt-4o", score=4, reason="ok", model="gpt-4o",
                     usage=Usage(input_tokens=100, output_tokens=20), cost_usd=0.002)
    second = first.model_copy(update={"score": 2.0, "reason": "changed"})
    with Store(tmp_path / "a.duckdb") as store:
        assert store.cache_get("k1") is None
        store.cache_put("k1", first)
        assert store.cache_get("k1") == first.model_copy(update={"cached": True})
        store.cache_put("k1", second)
        assert store.cache_get("k1") == second.model_copy(update={"cached": True})
        assert store.cache_get("k2") is None
    with Store(tmp_path / "a.duckdb") as store:
        assert store.cache_get("k1").reason == "changed"


def test_garbage_file_is_a_store_error_naming_the_path(tmp_path: Path) -> None:
    db = tmp_path / "garbage.duckdb"
    db.write_bytes(b"this is not a database\n" * 100)
    with pytest.raises(StoreError) as info:
        Store(db)
    message = str(info.value)
    assert message.startswith(f"{db}: cannot open database")
    assert "\n" not in message


def test_database_of_another_program_is_a_store_error(tmp_path: Path) -> None:
    db = tmp_path / "other.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE runs (x INTEGER)")
    con.close()
    with pytest.raises(StoreError, match="migration m001_initial failed"):
        Store(db)


def test_unusable_directory_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(StoreError, match="cannot create directory"):
        Store(tmp_path / "file" / "a.duckdb")


def test_locked_database_is_a_store_error(tmp_path: Path) -> None:
    db = tmp_path / "locked.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import duckdb, sys; con = duckdb.connect(sys.argv[1]); print('ready', flush=True); sys.stdin.read()",
         str(db)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(StoreError, match=f"^{db}: cannot open database: .*lock"):
            Store(db)
    finally:
        holder.communicate("")


def test_interrupted_run_keeps_finished_traces(tmp_path: Path) -> None:
    """A process killed mid-run (no close, no further commits) keeps each trace it finished."""
    db = tmp_path / "a.duckdb"
    (tmp_path / "run.json").write_text(make_run().model_dump_json())
    (tmp_path / "result.json").write_text(failed_result().model_dump_json())
    script = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from agenteval.models import Run, TraceResult\n"
        "from agenteval.store import Store\n"
        "tmp = Path(sys.argv[1])\n"
        "store = Store(tmp / 'a.duckdb')\n"
        "store.start_run(Run.model_validate_json((tmp / 'run.json').read_text()))\n"
        "store.add_result('run-aaaa1111', TraceResult.model_validate_json((tmp / 'result.json').read_text()))\n"
        "os._exit(3)\n"
    )
    # Run from the repository root so agenteval imports even without an installed package.
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path)],
                          cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True)
    assert done.returncode == 3, done.stderr
    with Store(db) as store:
        run = store.load_run("latest")
        assert [r.trace_id for r in run.results] == ["t-failed"]
        assert run.results[0] == failed_result()
        assert store.list_runs()[0].n_failed == 1


def test_large_trace_is_stored_in_one_transaction(tmp_path: Path) -> None:
    big = passed_result("big", n_steps=500)
    with Store(tmp_path / "a.duckdb") as store:
        store.start_run(make_run())
        store.add_result("run-aaaa1111", big)
        broken = passed_result("broken", n_steps=500)
        # A value the judgments table cannot hold, on the last step: traces, steps and most judgments
        # are already inserted when it fails, so only a rollback leaves nothing behind.
        broken.verdicts[-1].judgment.usage.output_tokens = 2**70
        with pytest.raises(StoreError, match="cannot store trace broken of run run-aaaa1111"):
            store.add_result("run-aaaa1111", broken)
        run = store.load_run(None)
        assert [r.trace_id for r in run.results] == ["big"]
        assert run.results[0] == big
        counts = {
            table: store._con.execute(f"SELECT count(*) FROM {table} WHERE trace_id = 'broken'").fetchone()[0]
            for table in ("traces", "steps", "judgments", "verdicts")
        }
        assert counts == {"traces": 0, "steps": 0, "judgments": 0, "verdicts": 0}
        assert store._con.execute("SELECT count(*) FROM steps WHERE trace_id = 'big'").fetchone() == (500,)
        # The store stays usable after the failed write.
        store.add_result("run-aaaa1111", passed_result("after"))
        assert [r.trace_id for r in store.load_run(None).results] == ["big", "after"]


def test_store_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "a.duckdb"
    Store(db).close()
    con = duckdb.connect(str(db))
    con.execute("INSERT INTO schema_migrations VALUES ('m999_future', now()::TIMESTAMP)")
    con.close()
    with pytest.raises(StoreError, match="newer agenteval .unknown migration m999_future"):
        Store(db)


def test_open_store_must_exist(tmp_path: Path) -> None:
    db = tmp_path / "sub" / "a.duckdb"
    with pytest.raises(StoreError, match=r"a.duckdb: no such store; run `agenteval eval` first"):
        open_store(db, must_exist=True)
    assert not db.parent.exists()
    with open_store(db) as store:
        store.start_run(make_run())
    with open_store(db, must_exist=True) as store:
        assert store.resolve_run(None) == "run-aaaa1111"

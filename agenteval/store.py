"""DuckDB storage of runs, per-trace results and the judgment cache.

This is the only module that imports ``duckdb``. A store is one database file (by default
``.agenteval/agenteval.duckdb`` under the working directory) whose schema is built by named,
forward-only migrations (SQL in ``agenteval._schema``) applied on open and recorded in
``schema_migrations``.

Each trace result is written in its own transaction, so an interrupted run keeps every trace it
finished. The full ``TraceResult`` JSON is kept for exact reloads; the flat tables (steps, judgments,
verdicts, root_causes) are there for SQL queries. Timestamps are stored as naive UTC ``TIMESTAMP``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb
from pydantic import BaseModel, ConfigDict, Field

from agenteval._schema import JUDGMENT_COLUMNS, MIGRATIONS, ROOT_CAUSE_COLUMNS, STEP_COLUMNS, VERDICT_COLUMNS
from agenteval.config import DEFAULT_DB
from agenteval.errors import StoreError
from agenteval.models import InputError, Judgment, Run, TraceResult
from agenteval.portable import read_jsonl, run_from_records, run_records, write_jsonl

# Multi-row INSERTs are chunked so one huge trace does not become one enormous statement.
_ROWS_PER_INSERT = 256


class RunSummary(BaseModel):
    """One line of ``list_runs``: a run and its trace counts."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="Run id.")
    name: str = Field(description="Human-friendly run name.")
    created_at: datetime = Field(description="When the run started (UTC).")
    judge: str = Field(description="Judge that ran.")
    n_traces: int = Field(description="Traces stored for the run.")
    n_passed: int = Field(description="Traces that passed.")
    n_failed: int = Field(description="Traces that failed.")
    n_incomplete: int = Field(description="Traces with a step that could not be judged.")
    n_input_errors: int = Field(description="Inputs that could not be read.")
    git_commit: str | None = Field(None, description="Git commit of the working directory, if any.")


class Store:
    """A DuckDB file holding runs, results and the judgment cache; implements ``JudgmentCache``.

    Use it as a context manager, or call ``close()``. Not safe to share between threads.
    """

    def __init__(self, path: str | Path = DEFAULT_DB) -> None:
        """Open (creating if needed) the database at ``path`` and apply pending migrations.

        Raises:
            StoreError: the path cannot be created, is locked, or is not an agenteval DuckDB file.
        """
        self.path = Path(path)
        self._source = str(self.path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            message = f"cannot create directory {self.path.parent}: {exc.strerror}"
            raise StoreError(message, source=self._source) from exc
        try:
            self._con = duckdb.connect(self._source)
        except duckdb.Error as exc:
            raise StoreError(f"cannot open database: {_first_line(exc)}", source=self._source) from exc
        try:
            self._migrate()
        except BaseException:
            self._con.close()
            raise

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the database connection."""
        self._con.close()

    def _migrate(self) -> None:
        with self._transaction("cannot prepare database"):
            self._con.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations"
                " (name VARCHAR PRIMARY KEY, applied_at TIMESTAMP NOT NULL)"
            )
        applied = {row[0] for row in self._con.execute("SELECT name FROM schema_migrations").fetchall()}
        unknown = sorted(applied - {name for name, _ in MIGRATIONS})
        if unknown:
            message = f"written by a newer agenteval (unknown migration {unknown[0]}); upgrade agenteval"
            raise StoreError(message, source=self._source)
        for name, sql in MIGRATIONS:
            if name in applied:
                continue
            with self._transaction(f"migration {name} failed"):
                self._con.execute(sql)
                self._con.execute("INSERT INTO schema_migrations VALUES (?, ?)", [name, _utc_now()])

    @contextmanager
    def _transaction(self, what: str) -> Iterator[None]:
        """Run the block in one transaction; on a database error roll back and raise StoreError."""
        self._con.begin()
        try:
            yield
            self._con.commit()
        except duckdb.Error as exc:
            self._con.rollback()
            raise StoreError(f"{what}: {_first_line(exc)}", source=self._source) from exc
        except BaseException:
            self._con.rollback()
            raise

    def _insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Insert rows with multi-row ``VALUES`` statements (one per chunk), not one per row."""
        placeholders = "(" + ", ".join("?" * len(columns)) + ")"
        head = f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
        for start in range(0, len(rows), _ROWS_PER_INSERT):
            chunk = rows[start : start + _ROWS_PER_INSERT]
            params = [value for row in chunk for value in row]
            self._con.execute(head + ", ".join([placeholders] * len(chunk)), params)

    def start_run(self, run: Run) -> None:
        """Record a new run (its results and input errors are added separately).

        Raises:
            StoreError: a run with the same id exists, or the write failed.
        """
        config = json.dumps(run.model_dump(mode="json", include={"config"})["config"])
        with self._transaction(f"cannot store run {run.id}"):
            self._con.execute(
                "INSERT INTO runs (id, name, created_at, judge, config, git_commit, version)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [run.id, run.name, _to_utc_naive(run.created_at), run.judge, config, run.git_commit, run.version],
            )

    def add_result(self, run_id: str, result: TraceResult) -> None:
        """Store one trace's result, its steps, judgments, verdicts and root causes in one transaction.

        Raises:
            StoreError: the write failed; nothing of this trace is stored.
        """
        tid = result.trace_id
        steps = [
            (run_id, tid, s.id, i, s.type.value, s.parents, s.agent, s.tool, s.status, s.model,
             s.usage.input_tokens if s.usage else None, s.usage.output_tokens if s.usage else None)
            for i, s in enumerate(result.trace.steps)
        ]
        judgments = [
            (run_id, tid, j.step_id, j.judge, j.score, j.assessed, j.reason, j.failure_code, j.error,
             j.rubric_version, j.model, j.usage.input_tokens if j.usage else None,
             j.usage.output_tokens if j.usage else None, j.cost_usd, j.cached, j.decisive)
            for j in (v.judgment for v in result.verdicts) if j is not None
        ]
        verdicts = [
            (run_id, tid, v.step_id, v.type.value, v.verdict, v.score, v.threshold, v.failure_code,
             v.upstream_failures, v.recovered)
            for v in result.verdicts
        ]
        roots = [
            (run_id, tid, r.step_id, r.algorithm, r.chain, r.failure_code, r.agent) for r in result.root_causes
        ]
        with self._transaction(f"cannot store trace {tid} of run {run_id}"):
            self._insert(
                "traces", ("run_id", "trace_id", "source", "format", "status", "judge", "result"),
                [(run_id, tid, result.source, result.format, result.status, result.judge, result.model_dump_json())],
            )
            self._insert("steps", STEP_COLUMNS, steps)
            self._insert("judgments", JUDGMENT_COLUMNS, judgments)
            self._insert("verdicts", VERDICT_COLUMNS, verdicts)
            self._insert("root_causes", ROOT_CAUSE_COLUMNS, roots)

    def add_input_error(self, run_id: str, error: InputError) -> None:
        """Record an input of the run that could not be read."""
        with self._transaction(f"cannot store input error of run {run_id}"):
            self._con.execute(
                "INSERT INTO input_errors (run_id, source, message) VALUES (?, ?, ?)",
                [run_id, error.source, error.message],
            )

    def list_runs(self) -> list[RunSummary]:
        """All runs with their trace counts, newest first."""
        rows = self._con.execute(
            """
            WITH t AS (
                SELECT run_id, count(*) AS n,
                       count(*) FILTER (WHERE status = 'passed') AS passed,
                       count(*) FILTER (WHERE status = 'failed') AS failed,
                       count(*) FILTER (WHERE status = 'incomplete') AS incomplete
                FROM traces GROUP BY run_id),
            e AS (SELECT run_id, count(*) AS n FROM input_errors GROUP BY run_id)
            SELECT r.id, r.name, r.created_at, r.judge, coalesce(t.n, 0), coalesce(t.passed, 0),
                   coalesce(t.failed, 0), coalesce(t.incomplete, 0), coalesce(e.n, 0), r.git_commit
            FROM runs r LEFT JOIN t ON t.run_id = r.id LEFT JOIN e ON e.run_id = r.id
            ORDER BY r.created_at DESC, r.seq DESC
            """
        ).fetchall()
        return [
            RunSummary(
                id=row[0], name=row[1], created_at=_from_utc_naive(row[2]), judge=row[3], n_traces=row[4],
                n_passed=row[5], n_failed=row[6], n_incomplete=row[7], n_input_errors=row[8], git_commit=row[9],
            )
            for row in rows
        ]

    def resolve_run(self, ref: str | None) -> str:
        """The id of the run ``ref`` names.

        Args:
            ref: None or "latest" (the newest run), an exact run id, an exact run name (the newest run
                with that name), or a unique prefix of a run id of at least 4 characters.

        Raises:
            StoreError: no run, or more than one run, matches.
        """
        newest = "ORDER BY created_at DESC, seq DESC"
        if ref is None or ref == "latest":
            row = self._con.execute(f"SELECT id FROM runs {newest} LIMIT 1").fetchone()
            if row is None:
                raise StoreError("no runs stored yet", source=self._source)
            return row[0]
        if self._con.execute("SELECT 1 FROM runs WHERE id = ?", [ref]).fetchone():
            return ref
        row = self._con.execute(f"SELECT id FROM runs WHERE name = ? {newest} LIMIT 1", [ref]).fetchone()
        if row is not None:
            return row[0]
        if len(ref) >= 4:
            rows = self._con.execute(f"SELECT id FROM runs WHERE starts_with(id, ?) {newest}", [ref]).fetchall()
            ids = [r[0] for r in rows]
            if len(ids) == 1:
                return ids[0]
            if ids:
                shown = ", ".join(ids[:5]) + (", ..." if len(ids) > 5 else "")
                raise StoreError(f"run id prefix '{ref}' is ambiguous: {shown}", source=self._source)
        raise StoreError(f"no run matches '{ref}'", source=self._source)

    def runs_named(self, name: str) -> list[tuple[str, datetime]]:
        """(id, created_at) of every run called ``name``, newest first (a name may be used twice)."""
        rows = self._con.execute(
            "SELECT id, created_at FROM runs WHERE name = ? ORDER BY created_at DESC, seq DESC", [name]
        ).fetchall()
        return [(row[0], _from_utc_naive(row[1])) for row in rows]

    def load_run(self, ref: str | None) -> Run:
        """The full run ``ref`` names (see ``resolve_run``), results and input errors in insertion order."""
        run_id = self.resolve_run(ref)
        row = self._con.execute(
            "SELECT id, name, created_at, judge, config, git_commit, version FROM runs WHERE id = ?", [run_id]
        ).fetchone()
        results = self._con.execute("SELECT result FROM traces WHERE run_id = ? ORDER BY seq", [run_id]).fetchall()
        errors = self._con.execute(
            "SELECT source, message FROM input_errors WHERE run_id = ? ORDER BY seq", [run_id]
        ).fetchall()
        return Run(
            id=row[0], name=row[1], created_at=_from_utc_naive(row[2]), judge=row[3], config=json.loads(row[4]),
            git_commit=row[5], version=row[6],
            results=[TraceResult.model_validate_json(r[0]) for r in results],
            input_errors=[InputError(source=source, message=message) for source, message in errors],
        )

    def cache_get(self, key: str) -> Judgment | None:
        """The cached judgment for ``key`` (marked ``cached=True``), or None."""
        row = self._con.execute("SELECT judgment FROM judge_cache WHERE key = ?", [key]).fetchone()
        if row is None:
            return None
        return Judgment.model_validate_json(row[0]).model_copy(update={"cached": True})

    def cache_put(self, key: str, judgment: Judgment) -> None:
        """Cache ``judgment`` under ``key``, replacing any earlier entry."""
        with self._transaction("cannot write judgment cache"):
            self._con.execute(
                "INSERT OR REPLACE INTO judge_cache (key, judgment, created_at) VALUES (?, ?, ?)",
                [key, judgment.model_dump_json(), _utc_now()],
            )

    def export_run(self, ref: str | None, path: str | Path) -> Run:
        """Write the run ``ref`` names to ``path``: Parquet for ``.parquet``, else JSON Lines.

        Raises:
            StoreError: no such run, or the file cannot be written.
        """
        run = self.load_run(ref)
        write_run_file(run, Path(path))
        return run

    def import_run(self, path: str | Path) -> Run:
        """Store the run exported to ``path`` (JSON Lines or Parquet) under its own id.

        Raises:
            StoreError: the file is not a run export, or a run with the same id is already stored.
        """
        run = read_run_file(Path(path))
        if self._con.execute("SELECT 1 FROM runs WHERE id = ?", [run.id]).fetchone():
            raise StoreError(f"run {run.id} ({run.name}) is already stored in {self._source}", source=str(path))
        self.start_run(run)
        for result in run.results:
            self.add_result(run.id, result)
        for error in run.input_errors:
            self.add_input_error(run.id, error)
        return run


def open_store(path: str | Path = DEFAULT_DB, *, must_exist: bool = False) -> Store:
    """Open the store at ``path``.

    Args:
        path: the DuckDB file.
        must_exist: for read-only commands: a missing file is an error instead of a new, empty store.

    Raises:
        StoreError: the file is missing (with ``must_exist``) or cannot be opened.
    """
    if must_exist and not Path(path).is_file():
        raise StoreError("no such store; run `agenteval eval` first", source=str(path))
    return Store(path)


def write_run_file(run: Run, path: Path) -> None:
    """Export ``run`` to ``path``: Parquet (one record per row) for ``.parquet``, else JSON Lines."""
    if path.suffix.lower() != ".parquet":
        write_jsonl(run, path)
        return
    con = duckdb.connect(":memory:")
    try:
        con.execute("CREATE TABLE records (line BIGINT, kind VARCHAR, trace_id VARCHAR, status VARCHAR, record VARCHAR)")
        rows = [
            (i, "run" if i == 1 else "result", None if i == 1 else r.trace_id, None if i == 1 else r.status, text)
            for i, (text, r) in enumerate(zip(run_records(run), [None, *run.results], strict=True), start=1)
        ]
        con.executemany("INSERT INTO records VALUES (?, ?, ?, ?, ?)", rows)
        con.execute(f"COPY records TO {_sql_string(str(path))} (FORMAT parquet)")
    except duckdb.Error as exc:
        raise StoreError(f"cannot write Parquet: {_first_line(exc)}", source=str(path)) from None
    finally:
        con.close()


def read_run_file(path: Path) -> Run:
    """Read a run exported by ``write_run_file`` (JSON Lines, or Parquet for ``.parquet``).

    Raises:
        StoreError: the file is missing or is not an agenteval run export; the message names it.
    """
    if path.suffix.lower() != ".parquet":
        return read_jsonl(path)
    if not path.is_file():
        raise StoreError("no such file", source=str(path))
    con = duckdb.connect(":memory:")
    try:
        rows = con.execute("SELECT line, record FROM read_parquet(?) ORDER BY line", [str(path)]).fetchall()
    except duckdb.Error as exc:
        raise StoreError(f"not an agenteval run export: {_first_line(exc)}", source=str(path)) from None
    finally:
        con.close()
    return run_from_records(((int(n), text) for n, text in rows), str(path))


def _sql_string(value: str) -> str:
    # COPY ... TO takes no bound parameter for the file name.
    return "'" + value.replace("'", "''") + "'"


def _first_line(exc: BaseException) -> str:
    """DuckDB's message without its 'IO Error: ' style prefix or the SQL excerpt below it."""
    lines = str(exc).strip().splitlines()
    return re.sub(r"^[A-Za-z ]+ Error: ", "", lines[0]) if lines else type(exc).__name__


def _utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _to_utc_naive(value: datetime) -> datetime:
    # A naive datetime is taken to be UTC already; the column holds naive UTC.
    return value if value.tzinfo is None else value.astimezone(timezone.utc).replace(tzinfo=None)


def _from_utc_naive(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc)

"""Orchestration: trace files -> DAGs -> judgments (bounded async concurrency) -> verdicts -> store.

One public coroutine, :func:`evaluate_async`, and its one-line sync wrapper :func:`evaluate`.
Per-file and per-trace problems become ``InputError`` records; the rest of the run goes on.
"""

from __future__ import annotations

import asyncio
import secrets
import subprocess
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from agenteval.config import Settings
from agenteval.dag import StepDAG
from agenteval.errors import AgentEvalError, ConfigError, TraceError
from agenteval.formats import get_reader, read_paths
from agenteval.judges.base import Judge, StepContext
from agenteval.models import InputError, Judgment, Run, Step, Trace, TraceResult
from agenteval.propagation import ROOT_CAUSE_ALGORITHMS, classify, root_causes, trace_status
from agenteval.secrets import mask_trace
from agenteval.identity import name_taken
from agenteval.selection import screen_inputs, select_paths

#: Traces judged at once; step-level concurrency is bounded by the judge's own limit.
TRACES_IN_FLIGHT = 32


@dataclass
class Progress:
    """Callbacks a caller may pass to follow a run (the CLI draws a progress bar from them)."""

    on_start: Callable[[int], None] = lambda total: None
    on_trace: Callable[[TraceResult], None] = lambda result: None
    on_error: Callable[[InputError], None] = lambda error: None
    on_warning: Callable[[str], None] = lambda message: None


class ResultSink(Protocol):
    """Where finished traces go; the store implements it."""

    def start_run(self, run: Run) -> None:
        """Record a new run before any of its traces."""

    def add_result(self, run_id: str, result: TraceResult) -> None:
        """Record one finished trace."""

    def add_input_error(self, run_id: str, error: InputError) -> None:
        """Record an input that could not be read."""


def new_run_id(now: datetime) -> str:
    """A sortable, unique run id: UTC time plus random hex."""
    return f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def git_commit(directory: Path | None = None) -> str | None:
    """The HEAD commit of the working directory's git checkout, if any."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=directory, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


async def judge_trace(
    trace: Trace,
    dag: StepDAG,
    judge: Judge,
    steps_in_flight: asyncio.Semaphore | None = None,
    steps: Sequence[Step] | None = None,
) -> dict[str, Judgment]:
    """Judge a trace's agent steps (or the given ``steps``) concurrently; non-agent steps are not
    sent to the judge.

    ``steps_in_flight`` bounds the steps being judged at once across traces, so each step's local
    work (rules, prompt building) happens just before its request instead of all of it up front,
    which would hold back the first requests.
    """
    slots = steps_in_flight or asyncio.Semaphore(len(trace.steps) or 1)

    async def one(step: Step) -> Judgment:
        async with slots:
            return await judge.judge_step(StepContext(trace, dag, step))

    chosen = [s for s in trace.steps if s.type.judged] if steps is None else steps
    judgments = await asyncio.gather(*(one(s) for s in chosen))
    return {j.step_id: j for j in judgments}


async def evaluate_trace(
    trace: Trace,
    judge: Judge,
    settings: Settings,
    *,
    source: str | None = None,
    format: str | None = None,
    steps_in_flight: asyncio.Semaphore | None = None,
) -> TraceResult:
    """Evaluate one trace: DAG, judgments, verdicts, root causes.

    Raises:
        DagError: the trace's steps do not form a DAG.
    """
    trace = mask_trace(trace, settings.secret_patterns)
    dag = StepDAG.from_trace(trace, source=source)
    judgments = await judge_trace(trace, dag, judge, steps_in_flight)
    verdicts = classify(dag, judgments, settings.thresholds)
    return TraceResult(
        trace=trace,
        source=source,
        format=format,
        status=trace_status(verdicts),
        verdicts=verdicts,
        root_causes=root_causes(dag, verdicts, settings.root_cause),
        judge=judge.name,
    )


async def evaluate_async(
    paths: Iterable[Path],
    settings: Settings,
    *,
    judge: Judge,
    sink: ResultSink | None = None,
    name: str | None = None,
    progress: Progress | None = None,
) -> Run:
    """Evaluate trace files as one run, handing each finished trace to ``sink`` as it completes.

    Args:
        paths: files or folders of traces.
        settings: resolved settings (thresholds, root-cause algorithm, format, secrets).
        judge: the judge to use (see ``agenteval.judges.registry.build_judge``).
        sink: where results are stored trace by trace (the DuckDB store), if anywhere.
        name: run name; defaults to the run id.
        progress: callbacks for progress display.

    Returns:
        The run with every result and every input error, in input order.
    """
    if settings.root_cause not in ROOT_CAUSE_ALGORITHMS:
        raise ConfigError(
            f"root_cause: unknown algorithm '{settings.root_cause}' (choose from: {', '.join(ROOT_CAUSE_ALGORITHMS)})"
        )
    if settings.format != "auto":
        get_reader(settings.format)  # an unknown name is a usage error, not a per-file one, and stops here
    progress = progress or Progress()
    now = datetime.now(timezone.utc)
    run_id = new_run_id(now)
    run = Run(
        id=run_id,
        name=name or run_id,
        created_at=now,
        judge=judge.name,
        config=settings.model_dump(mode="json"),
        git_commit=git_commit(),
    )

    def record_error(item: InputError) -> None:
        run.input_errors.append(item)
        if sink:
            sink.add_input_error(run_id, item)
        progress.on_error(item)

    parsed, unreadable = read_paths(select_paths(list(paths), settings.include, settings.exclude), settings.format, settings.mapping)
    screened = screen_inputs(parsed, unreadable, strict=settings.strict)
    for warning in screened.warnings:
        progress.on_warning(warning)
    if not screened.jobs:  # nothing to judge is an error, not an empty run in the store
        for item in screened.errors:
            progress.on_error(item)
        raise TraceError(screened.nothing_to_evaluate())
    jobs, unreadable = screened.jobs, screened.errors
    if sink:
        sink.start_run(run)
    for item in unreadable:
        record_error(item)
    progress.on_start(len(jobs))

    slots = asyncio.Semaphore(TRACES_IN_FLIGHT)
    # Twice the judge's concurrency: enough prepared steps to keep every request slot busy.
    steps_in_flight = asyncio.Semaphore(2 * settings.concurrency)
    done: dict[int, TraceResult] = {}

    async def one(index: int, file, trace: Trace) -> None:
        async with slots:
            try:
                result = await evaluate_trace(
                    trace, judge, settings, source=str(file.path), format=file.format, steps_in_flight=steps_in_flight
                )
            except AgentEvalError as exc:
                record_error(InputError(source=exc.source or str(file.path), message=exc.message))
                return
        done[index] = result
        if sink:
            sink.add_result(run_id, result)
        progress.on_trace(result)

    await asyncio.gather(*(one(i, f, t) for i, (f, t) in enumerate(jobs)))
    run.results = [done[i] for i in sorted(done)]
    return run


def evaluate(paths: Iterable[Path], settings: Settings, **kwargs) -> Run:
    """Synchronous wrapper of :func:`evaluate_async`."""
    return asyncio.run(evaluate_async(paths, settings, **kwargs))


def judge_options(settings: Settings) -> dict[str, Any]:
    """The keyword options ``agenteval.judges.registry.build_judge`` takes, from a run's settings."""
    return {
        "judge": settings.judge, "model": settings.model, "base_url": settings.base_url,
        "api_key_env": settings.api_key_env, "fallback": [t.model_dump() for t in settings.fallback],
        "judge_mode": settings.judge_mode, "judge_all": settings.judge_all, "samples": settings.samples,
        "concurrency": settings.concurrency, "timeout": settings.timeout, "max_retries": settings.max_retries,
        "max_cost": settings.max_cost, "prices": dict(settings.prices), "rubrics": settings.rubrics,
        "llama_slots": settings.llama_slots, "checklist_batch": settings.checklist_batch,
    }


def run_evaluation(
    paths: Iterable[Path], settings: Settings, *, name: str | None = None, progress: Progress | None = None
) -> Run:
    """What `agenteval eval` does: open the store, build the judge, evaluate and store the run.

    The judge's cache is the store, so unchanged steps are not judged twice.
    """
    from agenteval.judges.registry import build_judge
    from agenteval.store import open_store

    async def main() -> Run:
        with open_store(settings.db) as store:
            if name and store.runs_named(name):
                (progress or Progress()).on_warning(name_taken(name, store.runs_named(name)))
            judge = build_judge(**judge_options(settings), cache=store if settings.cache else None)
            try:
                return await evaluate_async(paths, settings, judge=judge, sink=store, name=name, progress=progress)
            finally:
                await close_judge(judge)

    return asyncio.run(main())


async def close_judge(judge: object) -> None:
    """Close a judge's connections in the event loop that opened them (an HTTP client left open is
    otherwise closed by the garbage collector after its loop is gone: leaked sockets, loop errors)."""
    close = getattr(judge, "aclose", None)
    if close is not None:
        await close()

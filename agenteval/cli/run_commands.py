"""Commands that evaluate and show runs: eval, parse, show, runs."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from agenteval.cli import options
from agenteval.cli import (
    EXIT_BAD_INPUT,
    EXIT_FAILURES,
    DbOption,
    _out,
    _err,
    _print_error,
    _print_json,
    _progress_bar,
    _settings,
    app,
    user_errors,
)
from agenteval.reports.terminal_text import markup_safe
from agenteval.errors import AgentEvalError
from agenteval.identity import name_clash

from agenteval.models import Run, TraceResult


@app.command("eval")
def eval_command(
    paths: Optional[list[Path]] = typer.Argument(None, help="Trace files or folders (or none, with --include globs)."),
    run: Optional[str] = typer.Option(None, "--run", help="Name of the run [default: its id]."),
    db: Optional[Path] = DbOption,
    judge: Optional[str] = options.Judge,
    model: Optional[str] = options.Model,
    base_url: Optional[str] = options.BaseUrl,
    format: Optional[str] = options.Format,
    root_cause: Optional[str] = options.RootCause,
    api_key_env: Optional[str] = options.ApiKeyEnv,
    judge_mode: Optional[str] = options.JudgeMode,
    judge_all: Optional[bool] = options.JudgeAll,
    samples: Optional[int] = options.Samples,
    concurrency: Optional[int] = options.Concurrency,
    timeout: Optional[float] = options.Timeout,
    max_retries: Optional[int] = options.MaxRetries,
    max_cost: Optional[float] = options.MaxCost,
    no_cache: Optional[bool] = options.NoCache,
    rubrics: Optional[Path] = options.Rubrics,
    llama_slots: Optional[int] = options.LlamaSlots,
    checklist_batch: Optional[bool] = options.ChecklistBatch,
    include: Optional[list[str]] = options.Include,
    exclude: Optional[list[str]] = options.Exclude,
    strict: Optional[bool] = options.Strict,
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON instead of the report."),
    fail_on_failures: bool = typer.Option(False, "--fail-on-failures", help="Exit 1 when any trace failed."),
) -> None:
    """Evaluate traces, store them as a run, and print a summary."""
    from agenteval.evaluate import run_evaluation
    from agenteval.reports.json_report import run_json
    from agenteval.reports.summary import summarize
    from agenteval.reports.terminal import render_run

    with user_errors():
        settings = _settings(
            db=db, **options.judge_flags(
                judge=judge, model=model, base_url=base_url, format=format, root_cause=root_cause,
                api_key_env=api_key_env, judge_mode=judge_mode, judge_all=judge_all, samples=samples,
                concurrency=concurrency, timeout=timeout, max_retries=max_retries, max_cost=max_cost,
                no_cache=no_cache, rubrics=rubrics, llama_slots=llama_slots, checklist_batch=checklist_batch,
            ), **options.input_flags(include=include, exclude=exclude, strict=strict),
        )
        if not paths and not settings.include:
            raise AgentEvalError("give trace files or folders to evaluate, or --include globs")
        with _progress_bar(enabled=not as_json) as progress:
            result = run_evaluation(paths or [], settings, name=run, progress=progress)
    if as_json:
        _print_json(run_json(result))
    else:
        render_run(result, _out())
    summary = summarize(result)
    if summary.judge_errors and not summary.judged_by_model:
        # Not one step judged: the judge is unreachable or misconfigured. The run is stored anyway.
        _print_error(f"judge {result.judge} could not judge any step ({summary.judge_errors} judge errors): {summary.first_judge_error}")
        raise typer.Exit(EXIT_BAD_INPUT)
    if summary.judge_errors:
        _err().print(f"[yellow]Warning:[/] {summary.judge_errors} steps could not be judged (judge_error), e.g.: {markup_safe(summary.first_judge_error)}", highlight=False, soft_wrap=True)
    if result.input_errors:
        raise typer.Exit(EXIT_BAD_INPUT)
    if fail_on_failures and any(not r.passed for r in result.results):
        raise typer.Exit(EXIT_FAILURES)


@app.command("parse")
def parse_command(
    paths: list[Path] = typer.Argument(..., help="Trace files or folders."),
    format: str = typer.Option("auto", "--format", help="Trace format, or auto to detect."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """Read traces into step DAGs without judging them; show their steps and edges."""
    from collections import Counter

    from agenteval.formats import read_paths
    from agenteval.reports.json_report import parse_json
    from agenteval.reports.summary import unmapped_line

    with user_errors():
        files, errors = read_paths(paths, format, _settings().mapping)
    for error in errors:
        _print_error(f"{error.source}: {error.message}")
    if as_json:
        _print_json(parse_json(files, errors))
    else:
        console = _out()
        for file in files:
            for trace in file.traces:
                console.print(f"[bold]{markup_safe(trace.id)}[/] ({file.format}, {markup_safe(file.path)}): {len(trace.steps)} steps")
                for step in trace.steps:
                    parents = markup_safe(", ".join(step.parents) or "-")
                    missing = f"  (not recorded: {', '.join(step.unrecorded)})" if step.unrecorded else ""
                    console.print(f"  {markup_safe(step.id):<24} {step.type.value:<9} {markup_safe(step.tool or ''):<20} <- {parents}{missing}", highlight=False, soft_wrap=True)
                spans = trace.metadata.get("unmapped_spans") or []
                line = unmapped_line(Counter(str(s.get("name")) for s in spans), sum(bool(s.get("error")) for s in spans))
                if line:
                    console.print(f"  {markup_safe(line)}", highlight=False, soft_wrap=True)
    if errors:
        raise typer.Exit(EXIT_BAD_INPUT)


@app.command("show")
def show_command(
    run: Optional[str] = typer.Argument(None, help="Run id, name or 'latest' [default: latest]."),
    trace: Optional[str] = typer.Option(None, "--trace", help="Show one trace (its id or a unique prefix of it): every step, its verdict and content, the root-cause chain."),
    layout: str = typer.Option("auto", "--layout", help="With --trace: tree, flat (one line per step, in topological order, parents named) or auto (tree when it fits the width)."),
    full: bool = typer.Option(False, "--full", help="With --trace: show each step's content and the judge's reason whole, not cut to one line."),
    dot: bool = typer.Option(False, "--dot", help="With --trace: print the trace's DAG as Graphviz DOT."),
    db: Optional[Path] = DbOption,
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """Show a stored run's summary, or one trace's DAG with verdicts and the root-cause chain."""
    from agenteval.reports.json_report import run_json, trace_result_json
    from agenteval.reports.terminal import render_run, render_trace
    from agenteval.reports.terminal_trace import LAYOUTS
    from agenteval.store import open_store

    with user_errors():
        if layout not in LAYOUTS:
            raise AgentEvalError(f"unknown --layout '{layout}' (choose from {', '.join(LAYOUTS)})")
        if (dot or full or layout != "auto") and not trace:
            raise AgentEvalError("--dot, --full and --layout apply to one trace: add --trace ID")
        settings = _settings(db=db)
        with open_store(settings.db, must_exist=True) as store:
            stored = store.load_run(run)
            clash = name_clash(run, store.runs_named(run)) if run and stored.name == run and stored.id != run else None
        result = _find_trace(stored, trace) if trace else None
    if clash:
        _err().print(f"[yellow]Note:[/] {markup_safe(clash)}", highlight=False, soft_wrap=True)
    if result is not None and dot:
        from agenteval.reports.diagram import dot_graph

        sys.stdout.write(dot_graph(result))
    elif result is not None:
        _print_json(trace_result_json(result)) if as_json else render_trace(result, _out(), layout=layout, full=full)
    else:
        _print_json(run_json(stored)) if as_json else render_run(stored, _out())


def _find_trace(run: Run, trace_id: str) -> TraceResult:
    from agenteval.identity import resolve_prefix

    try:
        found = resolve_prefix((r.trace_id for r in run.results), trace_id)
    except AgentEvalError as exc:
        raise AgentEvalError(f"run {run.name} has {exc}" if str(exc).startswith("no ") else f"run {run.name}: {exc}") from None
    return next(r for r in run.results if r.trace_id == found)


@app.command("runs")
def runs_command(
    db: Optional[Path] = DbOption,
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """List stored runs, newest first."""
    from agenteval.reports.terminal import render_runs
    from agenteval.store import open_store

    with user_errors():
        settings = _settings(db=db)
        with open_store(settings.db, must_exist=True) as store:
            runs = store.list_runs()
    if as_json:
        _print_json([r.model_dump(mode="json") for r in runs])
    else:
        render_runs(runs, _out())

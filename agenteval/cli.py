"""The `agenteval` command line. Each command gathers options, calls one library function, renders the
result, and maps errors to exit codes: 0 ok, 1 failures/blocked where promised, 2 bad input, 130 interrupted.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress as Bar, TextColumn, TimeElapsedColumn

from agenteval import __version__
from agenteval.config import Settings, load_settings
from agenteval.errors import AgentEvalError
from agenteval.models import InputError, Run, TraceResult

app = typer.Typer(
    name="agenteval",
    help="Step-level evaluation of LLM agent traces: which step failed, direct or cascade, and why.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
schema_app = typer.Typer(help="Print JSON Schemas of agenteval's file formats.", no_args_is_help=True)
app.add_typer(schema_app, name="schema")

EXIT_FAILURES = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


def _out() -> Console:
    return Console()


def _err() -> Console:
    return Console(stderr=True)


def _print_error(message: str) -> None:
    _err().print(f"[bold red]Error:[/] {message}", highlight=False, soft_wrap=True)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn user errors into a one-line message and exit code 2; Ctrl-C into 130."""
    try:
        yield
    except AgentEvalError as exc:
        _print_error(str(exc))
        raise typer.Exit(EXIT_BAD_INPUT) from None
    except KeyboardInterrupt:
        _print_error("interrupted")
        raise typer.Exit(EXIT_INTERRUPTED) from None


def _settings(**flags: Any) -> Settings:
    return load_settings(flags)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"agenteval {__version__}\n")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version and exit."),
) -> None:
    """agenteval: which step of an agent run failed, on its own or because of an earlier step."""


DbOption = typer.Option(None, "--db", help="DuckDB file [default: .agenteval/agenteval.duckdb].")


@app.command("eval")
def eval_command(
    paths: list[Path] = typer.Argument(..., help="Trace files or folders."),
    run: Optional[str] = typer.Option(None, "--run", help="Name of the run [default: its id]."),
    db: Optional[Path] = DbOption,
    judge: Optional[str] = typer.Option(None, "--judge", help="auto, rules or openai [default: auto: openai when a judge model is configured, else rules]."),
    model: Optional[str] = typer.Option(None, "--model", help="Judge model name."),
    base_url: Optional[str] = typer.Option(None, "--base-url", help="OpenAI-compatible endpoint of the judge."),
    format: Optional[str] = typer.Option(None, "--format", help="Trace format, or auto to detect [default: auto]."),
    root_cause: Optional[str] = typer.Option(None, "--root-cause", help="Root-cause algorithm: dag, greedy (the paper's) or earliest [default: dag]."),
    api_key_env: Optional[str] = typer.Option(None, "--api-key-env", help="Environment variable holding the judge's API key [default: OPENAI_API_KEY]."),
    judge_mode: Optional[str] = typer.Option(None, "--judge-mode", help="holistic (one 1-5 call per step) or checklist (narrow questions, for small local judges)."),
    judge_all: Optional[bool] = typer.Option(None, "--judge-all", help="Ask the LLM judge even where rules proved a hard failure."),
    samples: Optional[int] = typer.Option(None, "--samples", help="Judgments per step; the median is kept and disagreement reported."),
    concurrency: Optional[int] = typer.Option(None, "--concurrency", help="Judge requests in flight at once [default: 8]."),
    timeout: Optional[float] = typer.Option(None, "--timeout", help="Seconds per judge request [default: 60]."),
    max_retries: Optional[int] = typer.Option(None, "--max-retries", help="Retries on 429/5xx/timeouts, honouring Retry-After [default: 3]."),
    max_cost: Optional[float] = typer.Option(None, "--max-cost", help="Stop judge calls once this many USD are spent; the rest are recorded as not judged."),
    no_cache: Optional[bool] = typer.Option(None, "--no-cache", help="Do not reuse cached judgments."),
    rubrics: Optional[Path] = typer.Option(None, "--rubrics", help="Folder of rubric YAML files overriding the bundled ones."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON instead of the report."),
    fail_on_failures: bool = typer.Option(False, "--fail-on-failures", help="Exit 1 when any trace failed."),
) -> None:
    """Evaluate traces, store them as a run, and print a summary."""
    from agenteval.evaluate import run_evaluation
    from agenteval.reports.json_report import run_json
    from agenteval.reports.terminal import render_run

    with user_errors():
        settings = _settings(
            db=db, judge=judge, model=model, base_url=base_url, format=format, root_cause=root_cause,
            api_key_env=api_key_env, judge_mode=judge_mode, judge_all=judge_all, samples=samples,
            concurrency=concurrency, timeout=timeout, max_retries=max_retries, max_cost=max_cost,
            cache=False if no_cache else None, rubrics=rubrics,
        )
        with _progress_bar(enabled=not as_json) as progress:
            result = run_evaluation(paths, settings, name=run, progress=progress)
    if as_json:
        _print_json(run_json(result))
    else:
        render_run(result, _out())
    if result.input_errors:
        raise typer.Exit(EXIT_BAD_INPUT)
    if fail_on_failures and any(not r.passed for r in result.results):
        raise typer.Exit(EXIT_FAILURES)


@contextmanager
def _progress_bar(*, enabled: bool) -> Iterator[Any]:
    """Progress callbacks that print input errors at once and draw a bar for more than one trace."""
    from agenteval.evaluate import Progress

    err = _err()
    bar = Bar(TextColumn("judging"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err, transient=True)
    task = None

    def on_start(total: int) -> None:
        nonlocal task
        if enabled and total > 1 and err.is_terminal:
            bar.start()
            task = bar.add_task("judging", total=total)

    def on_trace(result: TraceResult) -> None:
        if task is not None:
            bar.advance(task)

    def on_error(error: InputError) -> None:
        (bar.console if task is not None else err).print(
            f"[bold red]Error:[/] {error.source}: {error.message}", highlight=False, soft_wrap=True
        )

    try:
        yield Progress(on_start=on_start, on_trace=on_trace, on_error=on_error)
    finally:
        if task is not None:
            bar.stop()


@app.command("parse")
def parse_command(
    paths: list[Path] = typer.Argument(..., help="Trace files or folders."),
    format: str = typer.Option("auto", "--format", help="Trace format, or auto to detect."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """Read traces into step DAGs without judging them; show their steps and edges."""
    from agenteval.formats import read_paths
    from agenteval.reports.json_report import parse_json

    with user_errors():
        files, errors = read_paths(paths, format)
    for error in errors:
        _print_error(f"{error.source}: {error.message}")
    if as_json:
        _print_json(parse_json(files, errors))
    else:
        console = _out()
        for file in files:
            for trace in file.traces:
                console.print(f"[bold]{trace.id}[/] ({file.format}, {file.path}): {len(trace.steps)} steps")
                for step in trace.steps:
                    parents = ", ".join(step.parents) or "-"
                    console.print(f"  {step.id:<24} {step.type.value:<9} {step.tool or '':<20} <- {parents}", highlight=False, soft_wrap=True)
    if errors:
        raise typer.Exit(EXIT_BAD_INPUT)


@app.command("show")
def show_command(
    run: Optional[str] = typer.Argument(None, help="Run id, name or 'latest' [default: latest]."),
    trace: Optional[str] = typer.Option(None, "--trace", help="Show one trace as a tree of its DAG."),
    db: Optional[Path] = DbOption,
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """Show a stored run's summary, or one trace's DAG with verdicts and the root-cause chain."""
    from agenteval.reports.json_report import run_json, trace_result_json
    from agenteval.reports.terminal import render_run, render_trace
    from agenteval.store import open_store

    with user_errors():
        settings = _settings(db=db)
        with open_store(settings.db, must_exist=True) as store:
            stored = store.load_run(run)
        result = _find_trace(stored, trace) if trace else None
    if result is not None:
        _print_json(trace_result_json(result)) if as_json else render_trace(result, _out())
    else:
        _print_json(run_json(stored)) if as_json else render_run(stored, _out())


def _find_trace(run: Run, trace_id: str) -> TraceResult:
    for result in run.results:
        if result.trace_id == trace_id:
            return result
    known = ", ".join(r.trace_id for r in run.results[:10])
    raise AgentEvalError(f"run {run.name} has no trace '{trace_id}' (traces: {known})")


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


@schema_app.command("trace")
def schema_trace_command() -> None:
    """JSON Schema of agenteval's own trace format."""
    from agenteval.models import Trace

    _print_json(Trace.model_json_schema())


@app.command("formats")
def formats_command() -> None:
    """List the trace formats agenteval reads."""
    from agenteval.formats import available_formats, get_reader

    console = _out()
    with user_errors():
        for name in available_formats():
            console.print(f"[bold]{name:<14}[/] {get_reader(name).description}", highlight=False)


@app.command("bench")
def bench_command(
    directory: Path = typer.Argument(..., help="The dataset's folder (e.g. who_and_when/ or agentrx/ of the public datasets)."),
    dataset: str = typer.Option(..., "--dataset", help="who-and-when, agentrx or tau-bench (also who-and-when-hand-crafted, agentrx-tau, agentrx-magentic-one, ...)."),
    mode: Optional[list[str]] = typer.Option(None, "--mode", help="end-to-end, flat, rules or dag; repeat for several [default: every mode that can run]."),
    oracle: bool = typer.Option(False, "--oracle", help="Use the human failing-step labels instead of a judge: measures root-cause attribution alone."),
    algorithm: Optional[str] = typer.Option(None, "--algorithm", help="Root-cause algorithm [default: compare all with --oracle, else dag]."),
    judge: Optional[str] = typer.Option(None, "--judge", help="auto, rules or openai (judge options as for eval come from config/env)."),
    model: Optional[str] = typer.Option(None, "--model", help="Judge model name."),
    base_url: Optional[str] = typer.Option(None, "--base-url", help="OpenAI-compatible endpoint of the judge."),
    judge_mode: Optional[str] = typer.Option(None, "--judge-mode", help="holistic or checklist."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Only the first N traces (a sample for slow judges)."),
    db: Optional[Path] = DbOption,
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """Measure agreement with human labels on a labeled dataset: recall, FPR, kappa, root-cause accuracy."""
    from agenteval.benchmark import bench_suite
    from agenteval.judges.registry import build_judge
    from agenteval.reports.bench_table import render_bench
    from agenteval.store import open_store

    with user_errors():
        settings = _settings(db=db, judge=judge, model=model, base_url=base_url, judge_mode=judge_mode)
        if oracle or not settings.uses_llm:
            reports = bench_suite(directory, dataset, judge=None, modes=mode, oracle=oracle, algorithm=algorithm, thresholds=settings.thresholds, limit=limit)
            judge_name = "oracle (human labels)" if oracle else "rules"
        else:
            with open_store(settings.db) as store:
                chosen = build_judge(settings, cache=store if settings.cache else None)
                reports = bench_suite(directory, dataset, judge=chosen, modes=mode, algorithm=algorithm, thresholds=settings.thresholds, limit=limit)
            judge_name = chosen.name
    if as_json:
        if mode and len(mode) == 1 and len(reports) == 1:
            _print_json(next(iter(reports.values())).model_dump(mode="json"))
        else:
            _print_json({"dataset": dataset, "judge": judge_name, "oracle": oracle,
                         "results": {k: v.model_dump(mode="json") for k, v in reports.items()}})
    else:
        render_bench(f"{dataset} ({directory}), judge: {judge_name}", reports, _out())


@app.command("calibrate")
def calibrate_command(
    directory: Path = typer.Argument(..., help="The labeled dataset's folder."),
    dataset: str = typer.Option(..., "--dataset", help="who-and-when, agentrx or tau-bench (or a subset name)."),
    max_fpr: float = typer.Option(0.10, "--max-fpr", help="False-positive ceiling the thresholds must respect."),
    config: Path = typer.Option(Path("agenteval.toml"), "--config", help="Config file to write the thresholds to."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the thresholds without writing them."),
    judge: Optional[str] = typer.Option(None, "--judge", help="auto, rules or openai."),
    model: Optional[str] = typer.Option(None, "--model", help="Judge model name."),
    base_url: Optional[str] = typer.Option(None, "--base-url", help="OpenAI-compatible endpoint of the judge."),
    db: Optional[Path] = DbOption,
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """Grid-search per-type thresholds on labeled data (max kappa under an FPR ceiling) and write them to the config."""
    from agenteval.benchmark import judge_labeled
    from agenteval.calibrate import calibrate
    from agenteval.config import write_thresholds
    from agenteval.datasets import load_dataset
    from agenteval.judges.registry import build_judge
    from agenteval.store import open_store

    with user_errors():
        settings = _settings(db=db, judge=judge, model=model, base_url=base_url)
        labeled = load_dataset(dataset, directory)
        with open_store(settings.db) as store:
            chosen = build_judge(settings, cache=store if settings.cache else None)
            judgments = judge_labeled(labeled, chosen)
        result = calibrate(labeled, judgments, max_fpr=max_fpr)
        if not dry_run:
            write_thresholds(result.thresholds, config)
    if as_json:
        _print_json(result.model_dump(mode="json"))
        return
    console = _out()
    fmt = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
    console.print(f"{result.n_steps} labeled steps judged by {chosen.name}")
    console.print("thresholds: " + ", ".join(f"{t.value} {v:.2f}" for t, v in result.thresholds.items()))
    console.print(f"kappa {fmt(result.default_kappa)} -> {fmt(result.kappa)}, FPR {fmt(result.default_fpr)} -> {fmt(result.fpr)} (ceiling {max_fpr})")
    if not dry_run:
        console.print(f"written to {config}")


rubrics_app = typer.Typer(help="List, show and validate the judge's rubrics.", no_args_is_help=True)
app.add_typer(rubrics_app, name="rubrics")
RubricsDir = typer.Option(None, "--rubrics", help="Folder of rubric YAML files [default: the bundled ones].")


@rubrics_app.command("list")
def rubrics_list_command(rubrics: Optional[Path] = RubricsDir) -> None:
    """List the rubric of each step type: version, metrics, source file."""
    from agenteval.rubrics import load_rubrics

    with user_errors():
        rubric_set = load_rubrics(rubrics)
    console = _out()
    for step_type, rubric in rubric_set.rubrics.items():
        metrics = ", ".join(m.name for m in rubric.metrics)
        console.print(f"[bold]{step_type.value:<9}[/] v{rubric.version} ({rubric.fingerprint})  {metrics}  [dim]{rubric_set.sources.get(step_type, '')}[/]", highlight=False)


@rubrics_app.command("show")
def rubrics_show_command(
    step_type: str = typer.Argument(..., help="PLAN, TOOLSEL, PARAMGEN, EXEC or SYNTH."),
    rubrics: Optional[Path] = RubricsDir,
) -> None:
    """Print one step type's rubric: metrics, level descriptions, anchors and checks."""
    import yaml

    from agenteval.models import StepType
    from agenteval.rubrics import load_rubrics

    with user_errors():
        try:
            kind = StepType(step_type.upper())
        except ValueError:
            raise AgentEvalError(f"unknown step type '{step_type}' (choose from PLAN, TOOLSEL, PARAMGEN, EXEC, SYNTH)") from None
        rubric = load_rubrics(rubrics).for_type(kind)
    sys.stdout.write(yaml.safe_dump(rubric.model_dump(mode="json"), sort_keys=False, allow_unicode=True, width=100))


@rubrics_app.command("validate")
def rubrics_validate_command(directory: Path = typer.Argument(..., help="Folder of rubric YAML files.")) -> None:
    """Check a folder of rubric files; print each problem and exit 2 if there are any."""
    from agenteval.rubrics import validate_rubric_dir

    with user_errors():
        problems = validate_rubric_dir(directory)
    for problem in problems:
        _print_error(problem)
    if problems:
        raise typer.Exit(EXIT_BAD_INPUT)
    _out().print(f"{directory}: rubrics are valid")


@app.command("taxonomy")
def taxonomy_command(
    file: Optional[Path] = typer.Option(None, "--file", help="A taxonomy YAML file [default: the bundled one]."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """Print the failure taxonomy as a tree (3 levels, codes, definitions, step types)."""
    from agenteval.reports.taxonomy_tree import render_taxonomy
    from agenteval.taxonomy import load_taxonomy

    with user_errors():
        taxonomy = load_taxonomy(file)
    if as_json:
        _print_json(taxonomy.model_dump(mode="json"))
    else:
        render_taxonomy(taxonomy, _out())


# --- compare, gate, export, import: regression reports and the deploy gate -------------------------


_RUN_REF = "A stored run (name, id, id prefix or 'latest') or an exported run file (.jsonl or .parquet)."


@app.command("compare")
def compare_command(
    base: str = typer.Argument(..., help="Base run. " + _RUN_REF),
    candidate: str = typer.Argument(..., help="Candidate run. " + _RUN_REF),
    db: Optional[Path] = DbOption,
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
    markdown: bool = typer.Option(False, "--markdown", help="Print GitHub-flavoured Markdown (for a PR comment)."),
) -> None:
    """Compare two runs: failure rates and scores per step type and code, McNemar test, new and fixed failures."""
    from agenteval.gating import compare_refs
    from agenteval.reports.json_report import comparison_json
    from agenteval.reports.markdown import comparison_markdown
    from agenteval.reports.terminal_compare import render_comparison

    with user_errors():
        comparison = compare_refs(base, candidate, _settings(db=db))
    if as_json:
        _print_json(comparison_json(comparison))
    elif markdown:
        sys.stdout.write(comparison_markdown(comparison))
    else:
        render_comparison(comparison, _out())


@app.command("gate")
def gate_command(
    paths: Optional[list[Path]] = typer.Argument(None, help="Candidate trace files or folders to evaluate."),
    baseline: str = typer.Option(..., "--baseline", help="Baseline run. " + _RUN_REF),
    run: Optional[str] = typer.Option(None, "--run", help="Gate this stored run (or run file) instead of evaluating PATHs."),
    name: Optional[str] = typer.Option(None, "--name", help="Name of the candidate run evaluated from PATHs (default: its id)."),
    junit: Optional[Path] = typer.Option(None, "--junit", help="Write JUnit XML (one test per trace, one for the gate) to this file."),
    markdown: Optional[Path] = typer.Option(None, "--markdown", help="Write the Markdown report to this file."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON instead of the report."),
    config: Optional[Path] = typer.Option(None, "--config", help="agenteval.toml / pyproject.toml (or its folder) to read settings and the gate policy from."),
    db: Optional[Path] = DbOption,
    judge: Optional[str] = typer.Option(None, "--judge", help="auto, rules or openai (default: auto)."),
    model: Optional[str] = typer.Option(None, "--model", help="Judge model name."),
    base_url: Optional[str] = typer.Option(None, "--base-url", help="OpenAI-compatible endpoint of the judge."),
    api_key_env: Optional[str] = typer.Option(None, "--api-key-env", help="Environment variable holding the judge's API key (default: OPENAI_API_KEY)."),
    format: Optional[str] = typer.Option(None, "--format", help="Trace format, or auto to detect (default: auto)."),
) -> None:
    """Evaluate candidate traces, compare them with a baseline and decide: exit 0 pass or warn, 1 block, 2 bad input.

    Writes the Markdown report to $GITHUB_STEP_SUMMARY and verdict=/failure_rate= to $GITHUB_OUTPUT when set.
    """
    from agenteval.gating import config_directory, publish_to_github, run_gate
    from agenteval.reports.json_report import gate_json
    from agenteval.reports.junit import junit_xml
    from agenteval.reports.markdown import comparison_markdown
    from agenteval.reports.terminal_compare import render_comparison

    with user_errors():
        flags = dict(db=db, judge=judge, model=model, base_url=base_url, api_key_env=api_key_env, format=format)
        settings = load_settings(flags, directory=config_directory(config) if config else None)
        with _progress_bar(enabled=not as_json) as progress:
            outcome = run_gate(paths or [], baseline, settings, run=run, name=name, progress=progress)
        report = comparison_markdown(outcome.comparison, outcome.result)
        if markdown:
            _write_report(markdown, report)
        if junit:
            _write_report(junit, junit_xml(outcome.candidate, comparison=outcome.comparison, gate=outcome.result))
        publish_to_github(outcome, report)
    if as_json:
        _print_json(gate_json(outcome.comparison, outcome.result, outcome.candidate))
    else:
        render_comparison(outcome.comparison, _out(), outcome.result)
    if outcome.result.verdict == "block":
        raise typer.Exit(EXIT_FAILURES)


def _write_report(path: Path, text: str) -> None:
    from agenteval.errors import ConfigError

    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write: {exc.strerror or exc}", source=str(path)) from None


@app.command("export")
def export_command(
    run: str = typer.Argument(..., help="Run id, name or 'latest'."),
    file: Path = typer.Argument(..., help="File to write: .jsonl (JSON Lines) or .parquet."),
    db: Optional[Path] = DbOption,
) -> None:
    """Export a stored run to a portable file, e.g. a baseline for `agenteval gate --baseline FILE`."""
    from agenteval.store import open_store

    with user_errors():
        with open_store(_settings(db=db).db, must_exist=True) as store:
            exported = store.export_run(run, file)
    _out().print(f"exported run {exported.name} ({exported.id}, {len(exported.results)} traces) to {file}", highlight=False)


@app.command("import")
def import_command(
    file: Path = typer.Argument(..., help="A run exported with `agenteval export` (.jsonl or .parquet)."),
    db: Optional[Path] = DbOption,
) -> None:
    """Import an exported run into the store (it keeps its id and name)."""
    from agenteval.store import open_store

    with user_errors():
        settings = _settings(db=db)
        with open_store(settings.db) as store:
            imported = store.import_run(file)
    _out().print(f"imported run {imported.name} ({imported.id}, {len(imported.results)} traces) into {settings.db}", highlight=False)


def main() -> None:
    """Console-script entry point."""
    app()

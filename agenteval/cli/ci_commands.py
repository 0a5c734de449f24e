"""Commands for CI: compare, gate, export, import, config, github-comment."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from agenteval.cli import (
    EXIT_FAILURES,
    DbOption,
    _err,
    _out,
    _print_json,
    _progress_bar,
    _settings,
    app,
    options,
    user_errors,
)
from agenteval.reports.terminal_text import markup_safe
from agenteval.config import load_settings
from agenteval.errors import ConfigError, TraceError

ConfigOption = typer.Option(None, "--config", help="agenteval.toml / pyproject.toml (or its folder) to read settings and the gate policy from [default: found from here up to the repository root].")

_RUN_REF = "A stored run (name, id, id prefix or 'latest') or an exported run file (.jsonl or .parquet)."


@app.command("compare")
def compare_command(
    base: str = typer.Argument(..., help="Base run. " + _RUN_REF),
    candidate: str = typer.Argument(..., help="Candidate run. " + _RUN_REF),
    db: Optional[Path] = DbOption,
    pair_by: Optional[str] = options.PairBy,
    config: Optional[Path] = ConfigOption,
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
    markdown: bool = typer.Option(False, "--markdown", help="Print GitHub-flavoured Markdown (for a PR comment)."),
    html: Optional[Path] = typer.Option(None, "--html", help="Also write both runs and the comparison as one self-contained HTML file."),
) -> None:
    """Compare two runs case by case: failure rates and scores per step type and code with their tests, new and fixed failures."""
    from agenteval.gating import compare_refs, config_directory
    from agenteval.reports.json_report import comparison_json
    from agenteval.reports.markdown import comparison_markdown
    from agenteval.reports.terminal_compare import render_comparison

    notes: list[str] = []
    with user_errors():
        settings = load_settings({"db": db, "gate.pair_by": pair_by}, directory=config_directory(config) if config else None)
        comparison = compare_refs(base, candidate, settings, notes)
        if html:
            from agenteval.cli.report_commands import write_comparison_report

            write_comparison_report(base, candidate, comparison, settings, html)
    _notes(notes)
    if as_json:
        _print_json(comparison_json(comparison))
    elif markdown:
        sys.stdout.write(comparison_markdown(comparison))
    else:
        render_comparison(comparison, _out())


def _notes(notes: list[str]) -> None:
    for note in notes:
        _err().print(f"[yellow]Note:[/] {markup_safe(note)}", highlight=False, soft_wrap=True)


@app.command("gate")
def gate_command(
    paths: Optional[list[Path]] = typer.Argument(None, help="Candidate trace files or folders to evaluate."),
    baseline: str = typer.Option(..., "--baseline", help="Baseline run. " + _RUN_REF),
    run: Optional[str] = typer.Option(None, "--run", help="Gate this stored run (or run file) instead of evaluating PATHs."),
    name: Optional[str] = typer.Option(None, "--name", help="Name of the candidate run evaluated from PATHs (default: its id)."),
    allow_missing_baseline: bool = typer.Option(False, "--allow-missing-baseline", help="When the baseline does not exist yet (a first pull request), evaluate the candidate and pass with a note."),
    junit: Optional[Path] = typer.Option(None, "--junit", help="Write JUnit XML (one test per trace, one for the gate) to this file."),
    markdown: Optional[Path] = typer.Option(None, "--markdown", help="Write the Markdown report to this file."),
    export: Optional[Path] = typer.Option(None, "--export", help="Write the candidate run to this file (.jsonl or .parquet): the baseline of later runs."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON instead of the report."),
    config: Optional[Path] = ConfigOption,
    db: Optional[Path] = DbOption,
    pair_by: Optional[str] = options.PairBy,
    include: Optional[list[str]] = options.Include,
    exclude: Optional[list[str]] = options.Exclude,
    strict: Optional[bool] = options.Strict,
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
) -> None:
    """Evaluate candidate traces, compare them with a baseline case by case and decide: exit 0 pass or warn, 1 block, 2 bad input.

    Writes the Markdown report to $GITHUB_STEP_SUMMARY and verdict=, failure-rate=, paired-cases=,
    run-id= to $GITHUB_OUTPUT when set.
    """
    from agenteval.gating import config_directory, publish_to_github, run_gate
    from agenteval.reports.json_report import gate_json
    from agenteval.reports.junit import junit_xml
    from agenteval.reports.markdown import comparison_markdown, first_run_markdown
    from agenteval.reports.terminal_compare import render_comparison

    with user_errors():
        flags = dict(
            db=db, **{"gate.pair_by": pair_by}, **options.input_flags(include=include, exclude=exclude, strict=strict),
            **options.judge_flags(
                judge=judge, model=model, base_url=base_url, format=format, root_cause=root_cause,
                api_key_env=api_key_env, judge_mode=judge_mode, judge_all=judge_all, samples=samples,
                concurrency=concurrency, timeout=timeout, max_retries=max_retries, max_cost=max_cost,
                no_cache=no_cache, rubrics=rubrics, llama_slots=llama_slots, checklist_batch=checklist_batch,
            ),
        )
        settings = load_settings(flags, directory=config_directory(config) if config else None)
        with _progress_bar(enabled=not as_json) as progress:
            outcome = run_gate(
                paths or [], baseline, settings, run=run, name=name, progress=progress,
                allow_missing_baseline=allow_missing_baseline,
            )
        if settings.strict and outcome.candidate.input_errors:
            first = outcome.candidate.input_errors[0]
            raise TraceError(f"{len(outcome.candidate.input_errors)} candidate input(s) could not be read (--strict), first: {first.source}: {first.message}")
        if outcome.comparison is None:
            report = first_run_markdown(outcome.candidate, outcome.result)
        else:
            report = comparison_markdown(outcome.comparison, outcome.result, candidate=outcome.candidate)
        if markdown:
            _write_report(markdown, report)
        if junit:
            _write_report(junit, junit_xml(outcome.candidate, comparison=outcome.comparison, gate=outcome.result))
        if export:
            from agenteval.store import write_run_file

            write_run_file(outcome.candidate, export)
        publish_to_github(outcome, report)
    if as_json:
        _print_json(gate_json(outcome.comparison, outcome.result, outcome.candidate))
    elif outcome.comparison is None:
        _first_run(outcome)
    else:
        render_comparison(outcome.comparison, _out(), outcome.result)
    if outcome.result.verdict == "block":
        raise typer.Exit(EXIT_FAILURES)


def _first_run(outcome) -> None:
    from agenteval.reports.terminal import render_run

    console = _out()
    console.print(f"gate: {outcome.result.verdict.upper()}", highlight=False)
    for note in outcome.result.notes:
        console.print(note, highlight=False, markup=False, soft_wrap=True)
    render_run(outcome.candidate, console)


def _write_report(path: Path, text: str) -> None:
    from agenteval.errors import ConfigError

    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write: {exc.strerror or exc}", source=str(path)) from None


@app.command("config")
def config_command(
    config: Optional[Path] = ConfigOption,
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """Print the effective settings and where each came from (default, config file, AGENTEVAL_* variable)."""
    from agenteval.config import resolve_settings
    from agenteval.gating import config_directory
    from agenteval.reports.settings_table import render_settings, settings_rows

    with user_errors():
        resolved = resolve_settings(directory=config_directory(config) if config else None)
    if as_json:
        _print_json({
            "config_file": resolved.config_file,
            "settings": resolved.settings.model_dump(mode="json"),
            "sources": {key: origin for key, _, origin in settings_rows(resolved)},
        })
    else:
        render_settings(resolved, _out())


@app.command("github-comment")
def github_comment_command(
    file: Path = typer.Argument(..., help="Markdown to post, e.g. the report of `agenteval gate --markdown FILE`."),
    pr: Optional[int] = typer.Option(None, "--pr", help="Pull request number [default: from $GITHUB_EVENT_PATH]."),
    marker: str = typer.Option("agenteval-gate", "--marker", help="Hidden marker that finds the comment to update (one sticky comment per marker)."),
) -> None:
    """Post FILE as a sticky pull-request comment: created once, then updated in place on every push.

    Reads GITHUB_TOKEN, GITHUB_REPOSITORY, GITHUB_API_URL and GITHUB_EVENT_PATH, as GitHub Actions sets them.
    """
    from agenteval.github import post_sticky_comment

    with user_errors():
        done = post_sticky_comment(file, pr=pr, marker=marker)
    _out().print(f"{done.action} comment {done.url}", highlight=False, markup=False)


@app.command("export")
def export_command(
    run: str = typer.Argument(..., help="Run id, name or 'latest'."),
    file: Optional[Path] = typer.Argument(None, help="File to write: .jsonl (JSON Lines) or .parquet; with --format otlp, OTLP/JSON logs."),
    format: Optional[str] = typer.Option(None, "--format", help="run (a portable run file, the default) or otlp (one gen_ai.evaluation.result event per judged step)."),
    otlp_endpoint: Optional[str] = typer.Option(None, "--otlp-endpoint", help="Send the evaluation events over OTLP/HTTP to this URL (e.g. http://127.0.0.1:4318)."),
    db: Optional[Path] = DbOption,
) -> None:
    """Export a stored run to a portable file, e.g. a baseline for `agenteval gate --baseline FILE`."""
    from agenteval.store import open_store

    if format == "otlp" or otlp_endpoint:
        from agenteval.cli.report_commands import export_otlp

        export_otlp(run, file, otlp_endpoint, db, format)
        return
    with user_errors():
        if format not in (None, "run"):
            raise ConfigError(f"unknown --format '{format}' (choose run or otlp)")
        if file is None:
            raise ConfigError("missing FILE to export to")
        with open_store(_settings(db=db).db, must_exist=True) as store:
            exported = store.export_run(run, file)
    _out().print(f"exported run {markup_safe(exported.name)} ({markup_safe(exported.id)}, {len(exported.results)} traces) to {markup_safe(file)}", highlight=False)


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
    _out().print(f"imported run {markup_safe(imported.name)} ({markup_safe(imported.id)}, {len(imported.results)} traces) into {markup_safe(settings.db)}", highlight=False)

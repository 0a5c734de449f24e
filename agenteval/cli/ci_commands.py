"""Commands for CI: compare, gate, export, import."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from agenteval.cli import (
    EXIT_FAILURES,
    DbOption,
    _out,
    _print_json,
    _progress_bar,
    _settings,
    app,
    user_errors,
)
from agenteval.reports.terminal_text import markup_safe
from agenteval.config import load_settings
from agenteval.errors import ConfigError

_RUN_REF = "A stored run (name, id, id prefix or 'latest') or an exported run file (.jsonl or .parquet)."


@app.command("compare")
def compare_command(
    base: str = typer.Argument(..., help="Base run. " + _RUN_REF),
    candidate: str = typer.Argument(..., help="Candidate run. " + _RUN_REF),
    db: Optional[Path] = DbOption,
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
    markdown: bool = typer.Option(False, "--markdown", help="Print GitHub-flavoured Markdown (for a PR comment)."),
    html: Optional[Path] = typer.Option(None, "--html", help="Also write both runs and the comparison as one self-contained HTML file."),
) -> None:
    """Compare two runs: failure rates and scores per step type and code, McNemar test, new and fixed failures."""
    from agenteval.gating import compare_refs
    from agenteval.reports.json_report import comparison_json
    from agenteval.reports.markdown import comparison_markdown
    from agenteval.reports.terminal_compare import render_comparison

    with user_errors():
        comparison = compare_refs(base, candidate, _settings(db=db))
        if html:
            from agenteval.cli.report_commands import write_comparison_report

            write_comparison_report(base, candidate, comparison, _settings(db=db), html)
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
        report = comparison_markdown(outcome.comparison, outcome.result, candidate=outcome.candidate)
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

"""Commands that write reports to files: report."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from agenteval.cli import DbOption, _out, _settings, app, user_errors
from agenteval.reports.terminal_text import plain


def write_report_file(path: Path, text: str) -> None:
    """Write a report file; a path that cannot be written is a one-line error (exit 2)."""
    from agenteval.errors import ConfigError

    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write: {exc.strerror or exc}", source=str(path)) from None


@app.command("report")
def report_command(
    run: Optional[str] = typer.Argument(None, help="Run id, name, 'latest', or an exported run file [default: latest]."),
    html: Path = typer.Option(..., "--html", help="Write a self-contained HTML report (works offline) to this file."),
    db: Optional[Path] = DbOption,
) -> None:
    """Write a run as one HTML file: the summary with filters, and each trace's DAG at FILE#trace=ID."""
    from agenteval.gating import load_run
    from agenteval.reports.html import run_html

    with user_errors():
        stored = load_run(run, _settings(db=db))
        write_report_file(html, run_html(stored))
    _out().print(
        f"wrote {plain(html)} ({len(stored.results)} traces); open {plain(html)}#trace=ID for one trace's DAG",
        markup=False, highlight=False, soft_wrap=True,
    )


def write_comparison_report(base: str, candidate: str, comparison, settings, path: Path) -> None:
    """What `compare --html FILE` adds: both runs and their comparison as one HTML file."""
    from agenteval.gating import load_run
    from agenteval.reports.html import comparison_html

    write_report_file(path, comparison_html(comparison, load_run(base, settings), load_run(candidate, settings)))


def export_otlp(run: str, file: Path | None, endpoint: str | None, db: Path | None, format: str | None) -> None:
    """What `export RUN [FILE] --format otlp [--otlp-endpoint URL]` does: write and/or send the events."""
    import os

    from agenteval.errors import ConfigError
    from agenteval.gating import load_run
    from agenteval.reports.otlp_export import send_otlp, write_otlp_file

    console = _out()
    with user_errors():
        if format not in (None, "otlp"):
            raise ConfigError("--otlp-endpoint sends OTLP events: use it with --format otlp (or alone)")
        if file is None and endpoint is None:
            raise ConfigError("--format otlp needs a FILE to write, --otlp-endpoint URL, or both")
        stored = load_run(run, _settings(db=db))
        if file is not None:
            count = write_otlp_file(stored, file)
            console.print(f"wrote {count} gen_ai.evaluation.result events of run {plain(stored.name)} to {plain(file)}",
                          markup=False, highlight=False, soft_wrap=True)
        if endpoint is not None:
            headers = _otlp_headers(os.environ.get("OTEL_EXPORTER_OTLP_LOGS_HEADERS") or os.environ.get("OTEL_EXPORTER_OTLP_HEADERS", ""))
            count = send_otlp(stored, endpoint, headers=headers)
            console.print(f"sent {count} gen_ai.evaluation.result events of run {plain(stored.name)} to {plain(endpoint)}",
                          markup=False, highlight=False, soft_wrap=True)


def _otlp_headers(text: str) -> dict[str, str]:
    """``OTEL_EXPORTER_OTLP_HEADERS``: ``key=value`` pairs separated by commas, values URL-encoded."""
    from urllib.parse import unquote

    pairs = (item.split("=", 1) for item in text.split(",") if "=" in item)
    return {unquote(k).strip(): unquote(v).strip() for k, v in pairs}

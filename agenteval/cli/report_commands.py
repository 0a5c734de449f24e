"""Commands that write reports to files: report."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from agenteval.cli import DbOption, _out, _settings, app, user_errors


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
        f"wrote {html} ({len(stored.results)} traces); open {html}#trace=ID for one trace's DAG",
        markup=False, highlight=False, soft_wrap=True,
    )


def write_comparison_report(base: str, candidate: str, comparison, settings, path: Path) -> None:
    """What `compare --html FILE` adds: both runs and their comparison as one HTML file."""
    from agenteval.gating import load_run
    from agenteval.reports.html import comparison_html

    write_report_file(path, comparison_html(comparison, load_run(base, settings), load_run(candidate, settings)))

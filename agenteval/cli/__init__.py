"""The `agenteval` command line: the app, error handling and shared helpers.

The commands live in the modules beside this one, by job.  Each command gathers options, calls one library function, renders the
result, and maps errors to exit codes: 0 ok, 1 failures/blocked where promised, 2 bad input, 130 interrupted.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console
from rich.text import Text
from rich.progress import BarColumn, MofNCompleteColumn, Progress as Bar, TextColumn, TimeElapsedColumn

from agenteval import __version__
from agenteval.config import Settings, load_settings
from agenteval.errors import AgentEvalError
from agenteval.models import InputError, TraceResult
from agenteval.reports.terminal_text import safe

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
    # Messages quote file names and trace ids: shown literally, never as markup or escape sequences.
    _err().print(Text.assemble(("Error:", "bold red"), " ", safe(message)), highlight=False, soft_wrap=True)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn user errors into a one-line message and exit code 2; Ctrl-C into 130."""
    try:
        yield
    except AgentEvalError as exc:
        for line in getattr(exc, "problems", None) or [str(exc)]:  # every config problem on its own line
            _print_error(line)
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


#: Seconds between progress lines when stderr is not a terminal (a CI log).
PROGRESS_EVERY = 10.0


def _duration(seconds: float) -> str:
    seconds = int(seconds + 0.5)
    return f"{seconds // 3600}h{seconds // 60 % 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"


class ProgressLines:
    """Progress as plain lines for logs: count, rate and ETA, at most every ``every`` seconds."""

    def __init__(self, write: Callable[[str], None], *, every: float = PROGRESS_EVERY, clock: Callable[[], float] = time.monotonic) -> None:
        """Write lines with ``write``; ``clock`` is injectable for tests."""
        self.write, self.every, self.clock = write, every, clock
        self.total = self.done = 0
        self.started = self.last = 0.0

    def start(self, total: int) -> None:
        """A run of ``total`` traces begins."""
        self.total, self.done = total, 0
        self.started = self.last = self.clock()

    def advance(self) -> None:
        """One more trace is done; print a line when ``every`` seconds passed since the last."""
        self.done += 1
        now = self.clock()
        if now - self.last >= self.every and self.done < self.total:
            self.last = now
            self.write(self.line(now))

    def line(self, now: float) -> str:
        """The progress line at time ``now``."""
        elapsed = max(now - self.started, 1e-9)
        rate = self.done / elapsed
        eta = (self.total - self.done) / rate if rate else 0.0
        share = self.done / self.total if self.total else 1.0
        return f"judged {self.done}/{self.total} traces ({share:.0%}), {rate:.1f} traces/s, {_duration(elapsed)} elapsed, ETA {_duration(eta)}"


@contextmanager
def _progress_bar(*, enabled: bool) -> Iterator[Any]:
    """Progress callbacks: input errors and warnings print at once; a bar on a terminal, and on a log
    (CI) a line with count, rate and ETA every few seconds."""
    from agenteval.evaluate import Progress

    err = _err()
    bar = Bar(TextColumn("judging"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err, transient=True)
    task = None
    lines = ProgressLines(lambda text: err.print(text, highlight=False, markup=False, soft_wrap=True), every=PROGRESS_EVERY)
    log = enabled and not err.is_terminal

    def on_start(total: int) -> None:
        nonlocal task
        if enabled and total > 1 and err.is_terminal:
            bar.start()
            task = bar.add_task("judging", total=total)
        lines.start(total)

    def on_trace(result: TraceResult) -> None:
        if task is not None:
            bar.advance(task)
        if log:
            lines.advance()

    def on_error(error: InputError) -> None:
        (bar.console if task is not None else err).print(
            Text.assemble(("Error:", "bold red"), " ", safe(f"{error.source}: {error.message}")),
            highlight=False, soft_wrap=True,
        )

    def on_warning(message: str) -> None:
        (bar.console if task is not None else err).print(
            Text.assemble(("Warning:", "yellow"), " ", safe(message)), highlight=False, soft_wrap=True
        )

    try:
        yield Progress(on_start=on_start, on_trace=on_trace, on_error=on_error, on_warning=on_warning)
    finally:
        if task is not None:
            bar.stop()


def main() -> None:
    """Console-script entry point."""
    app()


# Registering the commands: each module adds its commands to ``app`` when imported.
from agenteval.cli import ci_commands, data_commands, info_commands, report_commands, run_commands  # noqa: E402,F401

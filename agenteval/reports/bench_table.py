"""Benchmark results as a rich table: one row per mode, one column per metric."""

from __future__ import annotations

from collections.abc import Mapping

from rich.console import Console
from rich.table import Table

from agenteval.metrics import BenchReport

COLUMNS = (
    ("fd_recall", "recall"), ("fpr", "FPR"), ("kappa", "kappa"), ("rca_exact", "RCA exact"),
    ("rca_1hop", "RCA 1-hop"), ("agent_accuracy", "agent"), ("trace_recall", "trace recall"),
    ("trace_fpr", "trace FPR"),
)


def render_bench(title: str, reports: Mapping[str, BenchReport], console: Console) -> None:
    """Print each mode's metrics; '-' where the dataset cannot support a metric."""
    table = Table(title=title, title_justify="left")
    table.add_column("mode")
    table.add_column("traces", justify="right")
    for _, label in COLUMNS:
        table.add_column(label, justify="right")
    for mode, report in reports.items():
        values = [getattr(report, key) for key, _ in COLUMNS]
        table.add_row(mode, str(report.n_traces), *("-" if v is None else f"{v:.2f}" for v in values))
    console.print(table)

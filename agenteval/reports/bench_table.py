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


#: The AgentEval paper's results on its 450 production cases (GPT-4o judge), by method:
#: failure detection recall, false positive rate, Cohen's kappa vs experts, root-cause accuracy.
PAPER: dict[str, dict[str, float | None]] = {
    "AgentEval (DAG)": {"fd_recall": 0.89, "fpr": 0.07, "kappa": 0.84, "rca_exact": 0.72},
    "flat per-step": {"fd_recall": 0.67, "fpr": 0.15, "kappa": 0.71, "rca_exact": 0.38},
    "rule-based": {"fd_recall": 0.58, "fpr": 0.05, "kappa": 0.63, "rca_exact": 0.45},
    "end-to-end": {"fd_recall": 0.41, "fpr": 0.08, "kappa": 0.52, "rca_exact": None},
}
_PAPER_ROWS = (("fd_recall", "FDRec"), ("fpr", "FPR"), ("kappa", "kappa"), ("rca_exact", "RCA"))


def render_paper_comparison(title: str, reports: Mapping[str, BenchReport], console: Console) -> None:
    """The paper's table side by side: one row per metric, our modes, then the paper's as reference.

    The paper measured its own 450 production cases, which are not public: its column is a point
    of reference, not the same test.
    """
    table = Table(title=title, title_justify="left")
    table.add_column("metric")
    for mode in reports:
        table.add_column(f"ours: {mode}", justify="right")
    for method in PAPER:
        table.add_column(f"paper: {method}", justify="right", style="dim")
    for key, label in _PAPER_ROWS:
        ours = [getattr(report, key) for report in reports.values()]
        theirs = [PAPER[method][key] for method in PAPER]
        table.add_row(label, *("-" if v is None else f"{v:.2f}" for v in [*ours, *theirs]))
    console.print(table)

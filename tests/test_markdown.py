"""The Markdown report (job summary, PR comment): what failed, what was unpaired, which test ran; trace text escaped."""

from __future__ import annotations

from io import StringIO

from rich.console import Console

from agenteval.compare import compare_runs
from agenteval.gate import apply_gate
from agenteval.policy import GatePolicy
from agenteval.reports.markdown import comparison_markdown, text, worst_new_failure
from agenteval.reports.terminal_compare import render_comparison
from agenteval.taxonomy import load_taxonomy
from test_compare import broken, ok, run


def test_trace_text_cannot_forge_the_marker_break_a_table_or_mention_anyone():
    escaped = text("<!-- agenteval-gate --> | @octocat **bold** `code`\nnext line")
    assert "<!--" not in escaped and "&lt;!-- agenteval-gate --&gt;" not in escaped  # only '<' needs escaping
    assert "\\|" in escaped and "@\u200boctocat" in escaped and "\\*\\*bold\\*\\*" in escaped and "\n" not in escaped


def test_new_failures_worst_first_and_unpaired_cases_are_listed():
    base = run(ok("a"), ok("b"), ok("c"), ok("gone"))
    cand = run(broken("a", "E2.1"), broken("b", "P3.1"), ok("c"), broken("new", "E2.1"))
    comparison = compare_runs(base, cand)
    worst = worst_new_failure(comparison, load_taxonomy())
    assert worst.trace_id == "b"  # P3.1 is critical, E2.1 is not
    markdown = comparison_markdown(comparison, apply_gate(comparison, GatePolicy(), critical=()))
    assert "### Worst new failure: `b`" in markdown and "**Root cause:** `ex` EXEC: P3.1 nonexistent\\_tool" in markdown
    assert "### New failures (2)" in markdown and "### Failing, with no baseline case to pair with (1)" in markdown
    assert "- only in the baseline (1): `gone`" in markdown and "- only in the candidate (1): `new`" in markdown
    assert "3 cases paired, 1 only in the baseline, 1 only in the candidate, 0 ambiguous" in markdown
    assert "exact McNemar on 3 paired cases, p = 0.5; Fisher exact on 1 + 1 unpaired traces, p = 1 (Bonferroni x2" in markdown


def test_without_pairs_the_report_says_so_and_names_the_unpaired_test():
    comparison = compare_runs(run(ok("a"), ok("b")), run(broken("x"), ok("y")))
    markdown = comparison_markdown(comparison)
    assert "No case is in both runs: no paired statistics" in markdown
    assert "Fisher exact on 2 + 2 unpaired traces, p = 1" in markdown
    console = Console(file=StringIO(), width=120, color_system=None)
    render_comparison(comparison, console)
    out = console.file.getvalue()
    assert "no case in both runs: no paired statistics" in out and "Fisher exact on 2 + 2 unpaired traces" in out
    assert "only in base (2): a, b" in out and "failing, with no baseline case to pair with (1)" in out

"""A run (or a comparison of two runs) as one self-contained HTML file: the run summary with filters,
and at ``FILE#trace=ID`` one trace's step DAG drawn as SVG, verdict colours, the root-cause chain,
and each step's content on click.

Nothing is fetched: the stylesheet, the script and the data are inlined, so the file works offline
from ``file://``. Trace text is untrusted: it is embedded as JSON in ``<script type="application/json">``
with ``<``, ``>`` and ``&`` escaped (no ``</script>`` or ``<!--`` can close the block) and the page
writes it with ``textContent`` only. The summary is parsed at load; each trace's detail (layout and
content, computed by :mod:`agenteval.reports.dag_layout`) is parsed only when that trace is opened.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from agenteval import __version__
from agenteval.compare import Comparison
from agenteval.models import Run
from agenteval.reports.html_data import run_header, trace_detail, trace_row
from agenteval.reports.step_text import clean
from agenteval.reports.summary import summarize

_ASSETS = Path(__file__).resolve().parent / "html_assets"
_ESCAPES = {ord("<"): "\\u003c", ord(">"): "\\u003e", ord("&"): "\\u0026", 0x2028: "\\u2028", 0x2029: "\\u2029"}


def json_for_script(data: Any) -> str:
    """``data`` as JSON that is safe inside ``<script type="application/json">``: no character of it
    can end the element or open a comment."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str).translate(_ESCAPES)


def run_html(run: Run) -> str:
    """The HTML report of one run."""
    return _page(clean(run.name), [("run", run)], None)


def comparison_html(comparison: Comparison, base: Run, candidate: Run) -> str:
    """The HTML report of a comparison: its tables, the candidate's traces, and both runs' DAGs."""
    title = f"{clean(base.name)} \u2192 {clean(candidate.name)}"
    return _page(title, [("base", base), ("candidate", candidate)], comparison.model_dump(mode="json"))


def write_html(text: str, path: Path) -> None:
    """Write a report to ``path`` (UTF-8).

    Raises:
        OSError: the file cannot be written (the CLI turns it into a one-line error).
    """
    path.write_text(text, encoding="utf-8")


def _tally(run: Run) -> dict[str, Any]:
    s = summarize(run)
    verdicts = [v for r in run.results for v in r.verdicts]
    return {
        "traces": s.traces, "passed": s.passed, "failed": s.failed, "incomplete": s.incomplete,
        "direct": s.direct, "cascade": s.cascade, "judge_errors": s.judge_errors,
        "not_assessable": sum(v.verdict == "not_assessable" for v in verdicts),
        "recovered": sum(v.recovered for v in verdicts),
        "byType": dict(s.failures_by_type), "byCode": dict(s.failures_by_code),
        "rootByCode": dict(s.root_causes_by_code),
    }


def _code_names(runs: list[Run]) -> dict[str, str]:
    from agenteval.errors import TaxonomyError
    from agenteval.taxonomy import load_taxonomy

    codes = {v.failure_code for run in runs for r in run.results for v in r.verdicts if v.failure_code}
    try:
        taxonomy = load_taxonomy()
    except TaxonomyError:
        return {}
    names = {}
    for code in codes:
        node = taxonomy.get(code)
        if node is not None:
            names[code] = taxonomy.label(code).removeprefix(code).strip()
    return names


def _page(title: str, runs: list[tuple[str, Run]], comparison: dict[str, Any] | None) -> str:
    data = {
        "title": title,
        "generator": f"agenteval {__version__}",
        "codeNames": _code_names([run for _, run in runs]),
        "comparison": comparison,
        "runs": [
            {"key": key, "header": run_header(run), "tally": _tally(run), "rows": [trace_row(r) for r in run.results]}
            for key, run in runs
        ],
    }
    parts = [
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n",
        # Inline only: nothing may be fetched, from the network or elsewhere.
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n",
        f"<title>{html.escape(title)} \u00b7 agenteval</title>\n<style>\n",
        (_ASSETS / "report.css").read_text(encoding="utf-8"),
        "</style>\n</head>\n<body>\n",
        "<header class=\"top\"><h1 id=\"run-name\"></h1><span class=\"meta\" id=\"run-meta\"></span></header>\n",
        "<main>\n<section id=\"summary\"></section>\n<section id=\"trace\" hidden></section>\n</main>\n",
        "<noscript><p>This report needs JavaScript to draw the run.</p></noscript>\n",
        f"<script type=\"application/json\" id=\"agenteval-data\">{json_for_script(data)}</script>\n",
    ]
    for run_index, (_, run) in enumerate(runs):
        for trace_index, result in enumerate(run.results):
            parts.append(
                f"<script type=\"application/json\" id=\"d-{run_index}-{trace_index}\">"
                f"{json_for_script(trace_detail(result))}</script>\n"
            )
    parts += ["<script>\n", (_ASSETS / "report.js").read_text(encoding="utf-8"), "</script>\n</body>\n</html>\n"]
    return "".join(parts)

"""The HTML report, opened in real headless Chromium: the bundled examples' DAGs drawn with their
verdicts, the root cause marked, step details, filters, the comparison page, a screenshot checked
pixel by pixel, and trace text that tries to inject script."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import quote

import pytest
from browser import Elements, dump_dom, screenshot
from typer.testing import CliRunner

from agenteval.cli import app
from agenteval.compare import compare_runs
from agenteval.models import Run
from agenteval.reports.html import comparison_html, json_for_script, run_html
from agenteval.store import open_store

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "traces"
runner = CliRunner()


@pytest.fixture(scope="module")
def examples(tmp_path_factory) -> tuple[Path, Run]:
    """The bundled examples evaluated into a store, and their report written by the CLI."""
    folder = tmp_path_factory.mktemp("html")
    db = folder / "db.duckdb"
    assert runner.invoke(app, ["eval", str(EXAMPLES), "--db", str(db), "--run", "examples"]).exit_code == 0
    out = folder / "report.html"
    done = runner.invoke(app, ["report", "--db", str(db), "--html", str(out)])
    assert done.exit_code == 0, done.output
    assert "#trace=ID" in done.output
    with open_store(db) as store:
        run = store.load_run("examples")
    return out, run


def nodes(dom: str) -> dict[str, dict]:
    return {a["data-step-id"]: a for a in Elements(dom).with_attr("data-step-id") if "data-verdict" in a}


def test_trace_view_draws_every_step_with_its_verdict_and_marks_the_root_cause(examples):
    report, run = examples
    dom = dump_dom(f"{report.as_uri()}#trace=ticket-double-charge")
    drawn = nodes(dom)
    result = next(r for r in run.results if r.trace_id == "ticket-double-charge")
    assert len(drawn) == 9
    assert {sid: a["data-verdict"] for sid, a in drawn.items()} == {v.step_id: v.verdict for v in result.verdicts}
    assert drawn["pg2"]["data-verdict"] == "direct" and drawn["ex2"]["data-verdict"] == "cascade"
    assert [sid for sid, a in drawn.items() if a.get("data-root-cause") == "true"] == ["pg2"]
    # The chain pg2 -> ex2 is drawn as a highlighted edge.
    chain = [a for a in Elements(dom).with_attr("data-from") if "chain" in (a.get("class") or "")]
    assert [(a["data-from"], a["data-to"]) for a in chain] == [("pg2", "ex2")]


def test_every_example_trace_is_drawn_whole(examples):
    report, run = examples
    for result in run.results:
        drawn = nodes(dump_dom(f"{report.as_uri()}#trace={result.trace_id}"))
        assert set(drawn) == {s.id for s in result.trace.steps}, result.trace_id
        assert {a.get("data-root-cause") == "true" for a in drawn.values()} >= ({True} if result.root_causes else set())


def test_a_step_link_shows_its_content_and_judgment(examples):
    report, _ = examples
    page = Elements(dump_dom(f"{report.as_uri()}#trace=ticket-double-charge&step=pg2"))
    panel = page.text("step-detail")
    for expected in ("pg2", "PARAMGEN", "create_ticket", "1.0 (fails under 2.5)", "E1.1 schema_violation",
                     "missing required 'subject'", "arguments", '"priority": "critical"', "root cause", "ts2, ex1, u1"):
        assert expected in panel, expected
    assert [a["data-step-id"] for a in page.with_attr("data-step-id") if "selected" in (a.get("class") or "")] == ["pg2"]


def test_summary_lists_traces_and_filters_from_the_address(examples):
    report, run = examples
    rows = lambda dom: [a for a in Elements(dom).with_attr("data-trace-id")]  # noqa: E731
    everything = rows(dump_dom(report.as_uri()))
    assert [r["data-trace-id"] for r in everything] == [r.trace_id for r in run.results]
    assert not any("hidden" in r for r in everything)
    shown = lambda dom: {r["data-trace-id"] for r in rows(dom) if "hidden" not in r}  # noqa: E731
    assert shown(dump_dom(f"{report.as_uri()}#status=failed")) == {r.trace_id for r in run.results if r.status == "failed"}
    assert shown(dump_dom(f"{report.as_uri()}#code=P3.1")) == {"booking-trattoria-lucia"}
    assert shown(dump_dom(f"{report.as_uri()}#type=EXEC&status=failed")) == {"analysis-q3-revenue", "ticket-double-charge", "booking-trattoria-lucia"}
    assert shown(dump_dom(f"{report.as_uri()}#agent=docs-agent")) == {"summary-checkout-postmortem"}
    assert shown(dump_dom(f"{report.as_uri()}#q=TRATTORIA")) == {"booking-trattoria-lucia"}


def test_an_unknown_trace_says_so(examples):
    report, _ = examples
    assert "No trace nope in run examples" in dump_dom(f"{report.as_uri()}#trace=nope")


def test_the_file_fetches_nothing(examples):
    text = examples[0].read_text(encoding="utf-8")
    assert "<link" not in text and "@import" not in text
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)
    assert "default-src 'none'" in text  # the page may not load anything, even if a future edit tried


def test_screenshot_shows_the_dag_in_verdict_colours(examples, tmp_path):
    from PIL import Image

    report, _ = examples
    shot = screenshot(f"{report.as_uri()}#trace=ticket-double-charge", tmp_path / "trace.png")
    image = Image.open(shot).convert("RGB")
    assert image.size == (1400, 900)
    colours = image.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 200, "the page looks blank"

    pixels = image.load()

    def boxes(rgb: tuple[int, int, int]) -> list[tuple[int, int, int, int]]:
        """Bounding boxes of the connected areas of one colour at least 40x20 pixels: node boxes,
        not the pills and legend swatches that share the colour."""
        seen, found = set(), []
        for y in range(0, image.size[1], 3):
            for x in range(0, image.size[0], 3):
                if (x, y) in seen or pixels[x, y] != rgb:
                    continue
                stack, box = [(x, y)], [x, y, x, y]
                seen.add((x, y))
                while stack:
                    px, py = stack.pop()
                    box = [min(box[0], px), min(box[1], py), max(box[2], px), max(box[3], py)]
                    for q in ((px + 1, py), (px - 1, py), (px, py + 1), (px, py - 1)):
                        if q not in seen and 0 <= q[0] < image.size[0] and 0 <= q[1] < image.size[1] and pixels[q] == rgb:
                            seen.add(q)
                            stack.append(q)
                if box[2] - box[0] >= 40 and box[3] - box[1] >= 20:
                    found.append(tuple(box))
        return found

    # Fill colours of report.css: the direct failure pg2 is one node-sized red box, the cascade ex2
    # one amber box below it, and the five passing steps green boxes.
    direct, cascade, passing = (boxes(c) for c in ((0xFF, 0xEB, 0xE9), (0xFF, 0xF1, 0xC2), (0xDA, 0xFB, 0xE1)))
    assert len(direct) == 1 and len(cascade) == 1 and len(passing) == 5, (direct, cascade, passing)
    width, height = direct[0][2] - direct[0][0], direct[0][3] - direct[0][1]
    assert 100 <= width <= 180 and 25 <= height <= 45, direct
    assert cascade[0][1] > direct[0][3], "the cascade is drawn below its root cause"


def test_trace_text_cannot_inject_script(tmp_path):
    hostile = '</script><script>document.title="pwned"</script><!--'
    data = {
        "id": f"evil{hostile}",
        "task": '<img src=x onerror="document.title=\'pwned\'">',
        "steps": [
            {"id": "u1", "type": "USER", "output": hostile},
            {"id": "e1", "type": "EXEC", "parents": ["u1"], "tool": "t<b>x</b>", "status": "error",
             "error": '<svg onload="document.title=1">', "output": "</script><!--"},
        ],
    }
    trace_file = tmp_path / "evil.json"
    trace_file.write_text(json.dumps(data), encoding="utf-8")
    db, out = tmp_path / "db.duckdb", tmp_path / "evil.html"
    assert runner.invoke(app, ["eval", str(trace_file), "--db", str(db)]).exit_code == 0
    assert runner.invoke(app, ["report", "--db", str(db), "--html", str(out)]).exit_code == 0
    text = out.read_text(encoding="utf-8")
    assert "</script><script>document" not in text and "<!--" not in text.split("<body>", 1)[1]
    for view in ("", f"#trace={quote(data['id'])}&step=e1"):
        dom = dump_dom(out.as_uri() + view)
        page = Elements(dom)
        title = dom.split("<title>")[1].split("</title>")[0]
        assert title not in ("pwned", "1") and (title.startswith("evil&lt;/script&gt;") if view else "\u00b7 agenteval" not in title)
        assert not [t for t, a in page.tags if t == "img" or any(k.startswith("on") for k in a)]
        if view:  # shown as text in the step panel
            assert "&lt;svg onload" in page_text(dom) and "t&lt;b&gt;x&lt;/b&gt;" in dom


def page_text(dom: str) -> str:
    return dom.split('id="step-detail"', 1)[1]


def test_json_for_script_escapes_what_could_end_the_block():
    text = json_for_script({"a": "</script><!-- & \u2028"})
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == {"a": "</script><!-- & \u2028"}


def test_compare_html_has_the_comparison_and_both_runs(tmp_path):
    db = tmp_path / "db.duckdb"
    base, cand = tmp_path / "base", tmp_path / "cand"
    base.mkdir()
    cand.mkdir()
    for name in ("refund.json", "hallucinated_tool.json"):
        (base / name).write_text((EXAMPLES / name).read_text(encoding="utf-8"), encoding="utf-8")
    (cand / "refund.json").write_text((EXAMPLES / "refund.json").read_text(encoding="utf-8"), encoding="utf-8")
    (cand / "hallucinated_tool.json").write_text((EXAMPLES / "hallucinated_tool.json").read_text(encoding="utf-8"), encoding="utf-8")
    assert runner.invoke(app, ["eval", str(base), "--db", str(db), "--run", "base"]).exit_code == 0
    assert runner.invoke(app, ["eval", str(cand), "--db", str(db), "--run", "cand"]).exit_code == 0
    out = tmp_path / "compare.html"
    done = runner.invoke(app, ["compare", "base", "cand", "--db", str(db), "--html", str(out)])
    assert done.exit_code == 0, done.output
    summary = dump_dom(out.as_uri())
    assert "Comparison" in summary and "Trace failure rate" in summary
    both = [nodes(dump_dom(f"{out.as_uri()}#trace=booking-trattoria-lucia&run={side}")) for side in ("base", "candidate")]
    assert all(len(drawn) == 9 for drawn in both)


def test_report_bad_input_is_one_line_exit_2(examples, tmp_path):
    report, _ = examples
    db = tmp_path / "none.duckdb"
    done = runner.invoke(app, ["report", "--db", str(db), "--html", str(tmp_path / "x.html")])
    assert done.exit_code == 2 and "no such store" in done.output
    folder_db = report.parent / "db.duckdb"
    done = runner.invoke(app, ["report", "nosuchrun", "--db", str(folder_db), "--html", str(tmp_path / "x.html")])
    assert done.exit_code == 2 and "no run matches 'nosuchrun'" in done.output
    done = runner.invoke(app, ["report", "--db", str(folder_db), "--html", str(tmp_path / "missing" / "x.html")])
    assert done.exit_code == 2 and "cannot write" in done.output and "Traceback" not in done.output


def test_run_html_is_a_library_call(examples):
    _, run = examples
    text = run_html(run)
    assert text.startswith("<!DOCTYPE html>") and text.count('type="application/json"') == 1 + len(run.results)
    pair = comparison_html(compare_runs(run, run), run, run)
    assert '"comparison":{' in pair

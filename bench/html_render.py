"""How fast the HTML report's first view renders in headless Chromium on a large run.

Generates N synthetic traces of S steps (plans, tool calls with arguments and outputs, answers; some
tool errors that cascade), evaluates them with the rules judge, writes the report with
`agenteval report --html`, then loads it in headless Chromium R times and reads the time from
navigation start to the end of the page's first render (``performance.now()``, which the page writes
to ``<html data-rendered-ms>``), for the summary and for one trace's DAG view.

    python bench/html_render.py                 # 1,000 traces of 20 steps, 3 loads each
    python bench/html_render.py --traces 200 --steps 60

Needs Debian's chromium (apt-get install -y chromium).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TOOLS = ["search_orders", "lookup_customer", "create_ticket", "refund_payment", "send_email"]


def synthetic_trace(n: int, steps: int, rng: random.Random) -> dict:
    """One agent run: a user message, a plan, then tool rounds (TOOLSEL, PARAMGEN, EXEC), an answer."""
    out = [{"id": "u1", "type": "USER", "output": f"Customer request #{n}: please check order ORD-{n:05d} and fix it."},
           {"id": "p1", "type": "PLAN", "parents": ["u1"], "output": "1. Look up the order. 2. Act on it. 3. Report back."}]
    rounds = max((steps - 3) // 3, 1)
    last = "p1"
    failing = rng.random() < 0.3
    for r in range(rounds):
        tool = rng.choice(TOOLS)
        ts, pg, ex = f"ts{r + 1}", f"pg{r + 1}", f"ex{r + 1}"
        out.append({"id": ts, "type": "TOOLSEL", "parents": [last], "tool": tool, "output": tool})
        args = {"order_id": f"ORD-{n:05d}", "note": "x" * rng.randint(10, 80)}
        out.append({"id": pg, "type": "PARAMGEN", "parents": [ts, "u1"], "tool": tool, "arguments": args})
        step = {"id": ex, "type": "EXEC", "parents": [ts, pg], "tool": tool, "arguments": args,
                "output": {"ok": True, "rows": [{"id": i, "value": rng.randint(0, 999)} for i in range(5)]}}
        if failing and r == rounds // 2:
            step.update(status="error", error={"type": "TimeoutError", "message": "upstream did not answer"}, output=None)
        out.append(step)
        last = ex
    out.append({"id": "s1", "type": "SYNTH", "parents": [last, "u1"], "is_final": True,
                "output": "Done: the order was checked and the customer was told." if not failing else "All done, refund issued."})
    return {"id": f"trace-{n:05d}", "task": f"Handle request #{n}", "steps": out[:steps] if len(out) > steps else out}


def load_ms(chromium: str, url: str) -> float:
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--no-first-run", f"--user-data-dir={profile}",
             "--window-size=1400,900", "--dump-dom", url],
            capture_output=True, text=True, timeout=300, check=True,
        )
    found = re.search(r'data-rendered-ms="([0-9.]+)"', done.stdout)
    if not found:
        raise SystemExit(f"the page did not finish rendering: {url}")
    return float(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        raise SystemExit("needs chromium: apt-get update && apt-get install -y chromium")
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "traces"
        folder.mkdir()
        with (folder / "run.jsonl").open("w", encoding="utf-8") as f:
            for n in range(args.traces):
                f.write(json.dumps(synthetic_trace(n, args.steps, rng)) + "\n")
        db, report = Path(tmp) / "db.duckdb", Path(tmp) / "report.html"
        cli = [sys.executable, "-m", "agenteval"]
        subprocess.run([*cli, "eval", str(folder), "--db", str(db), "--run", "bench", "--json"],
                       check=True, stdout=subprocess.DEVNULL)
        started = time.perf_counter()
        subprocess.run([*cli, "report", "bench", "--db", str(db), "--html", str(report)], check=True, stdout=subprocess.DEVNULL)
        written = time.perf_counter() - started
        size = report.stat().st_size
        summary = [load_ms(chromium, report.as_uri()) for _ in range(args.repeat)]
        trace = [load_ms(chromium, f"{report.as_uri()}#trace=trace-00000") for _ in range(args.repeat)]
    print(f"{args.traces} traces x {args.steps} steps: report {size / 1e6:.1f} MB, written in {written:.1f} s "
          f"(agenteval report, including loading the run)")
    print(f"first view (summary) rendered at {statistics.median(summary):.0f} ms after navigation start "
          f"(median of {args.repeat}: {', '.join(f'{v:.0f}' for v in summary)})")
    print(f"trace view (#trace=trace-00000) rendered at {statistics.median(trace):.0f} ms "
          f"(median of {args.repeat}: {', '.join(f'{v:.0f}' for v in trace)})")


if __name__ == "__main__":
    main()

"""Trace parsing throughput per format, and peak memory on a big OTLP JSON Lines file.

Each format's worked example (tests/fixtures/<format>/) is copied with fresh trace, span and run ids
until the file holds about ``--spans`` source records (OTLP spans, LangSmith runs, Langfuse observations,
Agents SDK spans, Inspect events, chat messages, native steps), one copy a line (Inspect: one sample a
copy in one log). The file is then read through ``agenteval.formats.read_file`` (``read_paths`` for an
OTel span file with its companion log file), with the readers imported beforehand, and the best of
``--runs`` is reported as spans, steps and MB per second.

    python bench/parse_throughput.py --spans 20000

``--memory`` writes an OTLP JSON Lines file of about ``--size-mb`` MB (many traces, as the OTel file
exporter writes them) and reads it in a fresh process, twice: through ``read_file`` (which decodes a
plain OTLP JSON Lines file line by line) and by loading the whole document first (``load_document`` +
``parse_document``, the path of every other file). It reports the peak resident set size
(``ru_maxrss``) over the file size, as is and above the interpreter's own after imports.

    python bench/parse_throughput.py --memory --size-mb 100
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
#: Keys whose string values are ids to renew in every copy (they also appear inside other strings:
#: LangSmith's dotted_order, Langfuse's htmlPath, the JSON held in attribute strings).
ID_KEYS = {"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_id", "id", "parent_run_id",
           "parentObservationId", "uuid"}
_HEX = re.compile(r"([A-Za-z_-]*?)([0-9a-f]{12,})")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass
class Case:
    """One format: a fixture, how a copy becomes a line, and what counts as a span in it."""

    name: str
    fixture: str
    format: str
    count: Callable[[Any], int]
    line: Callable[[Any], Any] = lambda data: data
    logs: str | None = None
    """A companion OTLP logs fixture: read with ``read_paths`` next to the span file."""
    single_log: bool = False
    """Inspect: copies are samples of one eval log, not lines."""


def _otlp_spans(data: Any) -> int:
    items = data if isinstance(data, list) else [data]
    return sum(len(scope.get("spans", [])) for batch in items for resource in batch.get("resourceSpans", [])
               for scope in resource.get("scopeSpans", []))


CASES = [
    Case("otel", "otel/weather_messages.json", "otel", _otlp_spans),
    Case("otel+logs", "otel/weather_no_content.json", "otel", _otlp_spans, logs="otel/weather_no_content.logs.json"),
    Case("openinference", "openinference/weather_otlp.json", "openinference", _otlp_spans),
    Case("phoenix", "openinference/weather_phoenix.json", "openinference", lambda d: len(d["data"]),
         lambda d: {"data": d["data"]}),
    Case("langfuse", "langfuse/weather_trace.json", "langfuse", lambda d: len(d["observations"])),
    Case("langsmith", "langsmith/weather_runs.json", "langsmith", len, lambda d: {"runs": d}),
    Case("openai-agents", "openai_agents/weather.json", "openai-agents",
         lambda d: sum(i.get("object") == "trace.span" for i in d["data"])),
    Case("inspect", "inspect/weather.json", "inspect", lambda d: len(d["samples"][0]["events"]), single_log=True),
    Case("openai-chat", "openai_chat/weather.json", "openai-chat", lambda d: len(d["messages"]),
         lambda d: {"id": "weather", **d}),
    Case("native", "otel/weather_messages.json", "native", lambda d: len(d["steps"])),
]


# -- synthetic input ----------------------------------------------------------------------------------


def _ids(value: Any, found: set[str]) -> set[str]:
    if isinstance(value, dict):
        for key, inner in value.items():
            if key in ID_KEYS and isinstance(inner, str) and len(inner) >= 6:
                found.add(inner)
            _ids(inner, found)
    elif isinstance(value, list):
        for inner in value:
            _ids(inner, found)
    return found


def _fresh(old: str, rng: random.Random, copy: int) -> str:
    """A new id shaped like ``old``: a UUID, hex (after a prefix such as ``span_``), base64, or tagged."""
    if _UUID.fullmatch(old):
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))
    match = _HEX.fullmatch(old)
    if match:
        return match.group(1) + "".join(rng.choice("0123456789abcdef") for _ in match.group(2))
    try:
        raw = base64.b64decode(old, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) in (8, 16):
        return base64.b64encode(rng.randbytes(len(raw))).decode()
    return f"{old}-{copy}"


def copies(data: Any, count: int, seed: int = 0) -> Iterator[str]:
    """``count`` compact JSON copies of ``data``, each with every id renewed (consistently within a copy)."""
    text = json.dumps(data, separators=(",", ":"))
    ids = sorted(_ids(data, set()), key=len, reverse=True)
    pattern = re.compile("|".join(map(re.escape, ids)))
    rng = random.Random(seed)
    for copy in range(count):
        fresh = {old: _fresh(old, rng, copy) for old in ids}
        yield pattern.sub(lambda m: fresh[m.group(0)], text)


def _source(case: Case) -> Any:
    data = json.loads((FIXTURES / case.fixture).read_text(encoding="utf-8"))
    if case.format == "native":  # the otel reading of the worked example, as agenteval writes traces
        from agenteval.formats import read_file

        [trace] = read_file(FIXTURES / case.fixture).traces
        data = trace.model_dump(mode="json")
    return data


def write_input(case: Case, spans: int, folder: Path) -> tuple[list[Path], int, int]:
    """The input files of ``case`` with about ``spans`` spans: (files, spans written, copies)."""
    data = _source(case)
    per_copy = case.count(data)
    n = max(1, round(spans / per_copy))
    path = folder / f"{case.name}.{'json' if case.single_log else 'jsonl'}"
    if case.single_log:
        samples = data.pop("samples")
        lines = (json.loads(c) for c in copies(samples, n))
        renumbered = [{**s, "id": f"{s['id']}-{k}"} for k, group in enumerate(lines) for s in group]
        path.write_text(json.dumps({**data, "samples": renumbered}, separators=(",", ":")), encoding="utf-8")
        return [path], per_copy * n, n
    if case.logs is None:
        with path.open("w", encoding="utf-8") as out:
            for text in copies(case.line(data), n):
                out.write(text + "\n")
        return [path], per_copy * n, n
    logs = json.loads((FIXTURES / case.logs).read_text(encoding="utf-8"))
    logs_path = folder / f"{case.name}.logs.jsonl"
    # One copy of spans and logs together, so that both get the same fresh ids; then split them.
    with path.open("w", encoding="utf-8") as out, logs_path.open("w", encoding="utf-8") as out_logs:
        for text in copies({"spans": data, "logs": logs}, n):
            both = json.loads(text)
            out.write(json.dumps(both["spans"], separators=(",", ":")) + "\n")
            out_logs.write(json.dumps(both["logs"], separators=(",", ":")) + "\n")
    return [path, logs_path], per_copy * n, n


# -- throughput -----------------------------------------------------------------------------------------


def measure(case: Case, spans: int, runs: int, folder: Path) -> dict[str, Any]:
    from agenteval.formats import read_file, read_paths

    files, written, n = write_input(case, spans, folder)
    expected = read_file(FIXTURES / case.fixture)  # imports the readers; the traces one copy makes
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        if case.logs is None:
            parsed = [read_file(files[0])]
        else:
            parsed, errors = read_paths(files)
            assert not errors, errors
        best = min(best, time.perf_counter() - start)
    traces = [t for p in parsed for t in p.traces]
    assert {p.format for p in parsed} == {case.format}, [p.format for p in parsed]
    per_copy = 1 if case.format == "native" else len(expected.traces)
    assert len(traces) == per_copy * n, (case.name, len(traces), per_copy * n)
    megabytes = sum(f.stat().st_size for f in files) / 1e6
    steps = sum(len(t.steps) for t in traces)
    return {"format": case.name, "reader": case.format, "file_mb": round(megabytes, 2), "spans": written,
            "traces": len(traces), "steps": steps, "seconds": round(best, 3),
            "spans_per_s": round(written / best), "steps_per_s": round(steps / best),
            "mb_per_s": round(megabytes / best, 2)}


def throughput(args: argparse.Namespace) -> None:
    chosen = [c for c in CASES if not args.formats or c.name in args.formats]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for case in chosen:
            results.append(measure(case, args.spans, args.runs, Path(tmp)))
    print(f"parse throughput: about {args.spans} spans per format, best of {args.runs}")
    print(f"{'format':<14} {'MB':>7} {'spans':>7} {'traces':>6} {'steps':>7} {'s':>7} {'spans/s':>8} "
          f"{'steps/s':>8} {'MB/s':>6}")
    for r in results:
        print(f"{r['format']:<14} {r['file_mb']:>7.2f} {r['spans']:>7} {r['traces']:>6} {r['steps']:>7} "
              f"{r['seconds']:>7.3f} {r['spans_per_s']:>8} {r['steps_per_s']:>8} {r['mb_per_s']:>6.2f}")
    print(json.dumps({"bench": "parse_throughput", "spans": args.spans, "runs": args.runs, "results": results}))


# -- memory ---------------------------------------------------------------------------------------------


_CHILD = """
import json, resource, sys, time
from pathlib import Path
from agenteval.formats import parse_document, read_file
from agenteval.formats.base import load_document
read_file(Path(sys.argv[3]))  # import the readers, so that the baseline holds them
path, how = Path(sys.argv[1]), sys.argv[2]
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
start = time.perf_counter()
parsed = read_file(path) if how == "read_file" else parse_document(path, load_document(path))
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"before": before, "peak": peak, "seconds": seconds, "traces": len(parsed.traces),
                  "format": parsed.format}))
"""


def write_otlp_lines(path: Path, megabytes: float) -> tuple[int, int]:
    """An OTel JSON Lines file of about ``megabytes`` MB, one worked-example trace a line."""
    data = json.loads((FIXTURES / "otel" / "weather_messages.json").read_text(encoding="utf-8"))
    size, lines = 0, 0
    with path.open("w", encoding="utf-8") as out:
        for text in copies(data, 10**9):
            out.write(text + "\n")
            size, lines = size + len(text) + 1, lines + 1
            if size >= megabytes * 1e6:
                break
    return lines, lines * _otlp_spans(data)


def memory(args: argparse.Namespace) -> None:
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "otel.jsonl"
        lines, spans = write_otlp_lines(path, args.size_mb)
        size = path.stat().st_size
        for how in ("read_file", "load_document"):
            done = subprocess.run([sys.executable, "-c", _CHILD, str(path), how,
                                   str(FIXTURES / "otel" / "weather_messages.json")],
                                  capture_output=True, text=True, check=True, cwd=ROOT,
                                  env={**os.environ, "PYTHONPATH": str(ROOT)})
            child = json.loads(done.stdout)
            results.append({"path": how, "file_mb": round(size / 1e6, 1), "lines": lines, "spans": spans,
                            "traces": child["traces"], "seconds": round(child["seconds"], 2),
                            "baseline_mb": round(child["before"] / 1e6, 1), "peak_mb": round(child["peak"] / 1e6, 1),
                            "peak_over_file": round(child["peak"] / size, 2),
                            "above_baseline_over_file": round((child["peak"] - child["before"]) / size, 2)})
    print(f"peak memory reading a {results[0]['file_mb']} MB OTLP JSON Lines file ({lines} traces, {spans} spans)")
    print(f"{'path':<14} {'s':>6} {'baseline MB':>11} {'peak MB':>8} {'peak/file':>9} {'(peak-baseline)/file':>20}")
    for r in results:
        print(f"{r['path']:<14} {r['seconds']:>6.2f} {r['baseline_mb']:>11.1f} {r['peak_mb']:>8.1f} "
              f"{r['peak_over_file']:>9.2f} {r['above_baseline_over_file']:>20.2f}")
    print(json.dumps({"bench": "parse_memory", "results": results}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=20000, help="about how many spans each format's file holds")
    parser.add_argument("--runs", type=int, default=3, help="timed reads per format; the best is reported")
    parser.add_argument("--formats", nargs="*", help=f"only these ({', '.join(c.name for c in CASES)})")
    parser.add_argument("--memory", action="store_true", help="measure peak memory on a big OTLP file instead")
    parser.add_argument("--size-mb", type=float, default=100, help="size of the --memory file in MB")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    unknown = set(args.formats or ()) - {c.name for c in CASES}
    if unknown:
        parser.error(f"unknown format(s): {', '.join(sorted(unknown))}")
    memory(args) if args.memory else throughput(args)


if __name__ == "__main__":
    main()

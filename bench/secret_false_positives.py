"""What secret masking masks on traces that hold no real secret, and what masking costs per trace.

The material is every trace the project ships or shares: the bundled examples (examples/traces), the
test fixtures of every format (tests/fixtures, unreadable files skipped), and the labeled datasets
under ../shared/data (Who&When, AgentRx, tau-bench), each read the way agenteval reads it. None of it
holds a real credential, so everything masked is a false positive or a test's planted fake; the
script prints the count of masked values per kind, and with ``--show`` the masked values themselves
(which is how one looks at what the rules mask).

It then times ``mask_trace`` (the pass every evaluated trace goes through) on the bundled examples
and on one big synthetic trace, best of ``--runs``, beside ``json.loads`` of the same trace, so the
cost reads as a ratio measured in the same run.

    python bench/secret_false_positives.py            # counts per kind, and the cost
    python bench/secret_false_positives.py --show 5   # plus up to 5 masked values per kind
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agenteval.datasets import DATASET_FOLDERS, load_dataset  # noqa: E402
from agenteval.errors import AgentEvalError  # noqa: E402
from agenteval.formats import read_paths  # noqa: E402
from agenteval.models import Step, Trace  # noqa: E402
from agenteval.secret_rules import SecretScanner, is_secret_key  # noqa: E402
from agenteval.secrets import KEY_KIND, SecretMasker, mask_trace  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
#: One loader per shared folder is enough: the others read the same files differently cut.
SHARED_DATASETS = ("who-and-when", "agentrx", "tau-bench")


def material() -> dict[str, list[Trace]]:
    """Traces by source: examples, fixtures, and each shared dataset found."""
    sources: dict[str, list[Trace]] = {}
    for name, folder in (("examples/traces", ROOT / "examples" / "traces"), ("tests/fixtures", ROOT / "tests" / "fixtures")):
        files, _errors = read_paths([folder], "auto")
        sources[name] = [t for f in files for t in f.traces]
    for dataset in SHARED_DATASETS:
        folder = SHARED / DATASET_FOLDERS[dataset]
        if not folder.is_dir():
            continue
        try:
            sources[f"shared/{dataset}"] = [labeled.trace for labeled in load_dataset(dataset, folder)]
        except AgentEvalError as exc:
            print(f"skipped shared/{dataset}: {exc}", file=sys.stderr)
    return sources


def examples_of(trace: Trace, scanner: SecretScanner, into: dict[str, list[str]]) -> None:
    """The values masked in ``trace``, by kind (the same rules, applied to the original texts)."""
    stack: list[Any] = [trace.task, trace.expected_outcome, trace.metadata]
    stack += [t.description for t in trace.tools] + [t.parameters for t in trace.tools]
    for step in trace.steps:
        stack += [step.input, step.output, step.arguments, step.metadata, step.error.message if step.error else None]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            for finding in scanner.find(value):
                into[finding.kind].append(value[finding.start : finding.end])
        elif isinstance(value, dict):
            for key, item in value.items():
                if isinstance(key, str) and is_secret_key(key) and item not in (None, "", True, False):
                    into[KEY_KIND].append(f"{key}={str(item)[:40]}")
                else:
                    stack.append(item)
        elif isinstance(value, (list, tuple)):
            stack.extend(value)


def big_trace(steps: int) -> Trace:
    """A long agent run with realistic text: ids, hashes, UUIDs, timestamps, numbers and prose."""
    built = [Step(id="u0", type="USER", output="Reconcile the March invoices against the ledger and report gaps.")]
    for n in range(1, steps):
        kind = ("PLAN", "TOOLSEL", "PARAMGEN", "EXEC", "SYNTH")[n % 5]
        payload = {
            "invoice_id": f"INV-{48000 + n}",
            "request_id": f"123e4567-e89b-12d3-a456-{n:012d}",
            "commit": f"{n:040x}",
            "at": f"2024-03-{1 + n % 28:02d}T12:{n % 60:02d}:00Z",
            "note": f"Row {n}: amount $1,{n % 1000:03d}.50 matched ledger entry L-{n * 7}; see https://erp.example.com/i/{n}",
            "rows": [{"sku": f"SKU-{n}-{i}", "qty": i, "price": 19.99 + i} for i in range(5)],
        }
        built.append(Step(id=f"s{n}", type=kind, parents=[built[-1].id], tool="ledger_lookup",
                          arguments=payload if kind in ("PARAMGEN", "EXEC") else None,
                          output=json.dumps(payload) if kind == "EXEC" else f"Step {n}: checked {payload['invoice_id']}."))
    return Trace(id="big-reconcile", task="Reconcile invoices", steps=built)


def best_of(runs: int, work) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--show", type=int, default=0, help="Print up to N masked values per kind.")
    parser.add_argument("--runs", type=int, default=5, help="Timing runs; the best is reported.")
    parser.add_argument("--big-steps", type=int, default=2000, help="Steps of the big synthetic trace.")
    args = parser.parse_args()

    start = time.perf_counter()
    masker = SecretMasker()
    scanner = SecretScanner()
    print(f"rules compiled in {time.perf_counter() - start:.2f} s (once per process)")

    print("\nMasked values per kind (material without real secrets: each is a false positive or a planted fake)")
    grand = Counter()
    for source, traces in material().items():
        tally: Counter = Counter()
        values: dict[str, list[str]] = defaultdict(list)
        strings = 0
        for trace in traces:
            mask_trace(trace, masker=masker, tally=tally)
            examples_of(trace, scanner, values)
            strings += len(trace.model_dump_json())
        grand += tally
        detail = ", ".join(f"{kind} {n}" for kind, n in tally.most_common()) or "nothing masked"
        print(f"  {source}: {len(traces)} traces, {strings / 1e6:.1f} MB of JSON: {detail}")
        if args.show:
            for kind, found in sorted(values.items()):
                for value in found[: args.show]:
                    print(f"      {kind}: {value[:100]!r}")
    print(f"  all: {sum(grand.values())} masked values: " + (", ".join(f"{k} {n}" for k, n in grand.most_common()) or "none"))

    print("\nCost of mask_trace (best of %d runs), beside json.loads of the same trace" % args.runs)
    examples, _ = read_paths([ROOT / "examples" / "traces"], "auto")
    bundled = [t for f in examples for t in f.traces]
    for label, traces in (("bundled examples", bundled), (f"big trace ({args.big_steps} steps)", [big_trace(args.big_steps)])):
        texts = [t.model_dump_json() for t in traces]
        size = sum(map(len, texts))
        masking = best_of(args.runs, lambda: [mask_trace(t, masker=masker) for t in traces])
        loading = best_of(args.runs, lambda: [json.loads(x) for x in texts])
        per_trace = masking / len(traces)
        print(f"  {label}: {len(traces)} traces, {size / 1e3:.0f} KB: {per_trace * 1e3:.2f} ms per trace, "
              f"{size / masking / 1e6:.1f} MB/s; {masking / loading:.1f}x the time of json.loads")


if __name__ == "__main__":
    main()

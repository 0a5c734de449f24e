"""Accuracy of an LLM judge on a fixed sample of human-labeled steps, with n and 95% intervals.

Starts nothing: point it at a running OpenAI-compatible endpoint. The judge is the product's own
path (rules first, then the model judge; checklist mode by default), with the judgment cache off so
the timings are real. For a local llama-server, pass its slot count (``-np``) as --llama-slots so
every step type keeps its static prompt prefix cached in a slot of its own.

The sample (fixed by SEED and the rule below; the same for everyone with the same data):

* Part A, labeled steps, from AgentRx (``../shared/data/agentrx``): tau-bench retail and
  Magentic-One. Every gold failing step and every gold known-correct step ("negative") of the
  step-labeled traces is ranked by sha256(f"{SEED}:{dataset}:{trace id}:{step id}"); the first
  --failing gold failing steps and the first --passing negatives of each dataset are judged, each
  with its whole trace as context (a step's judgment does not depend on other judgments).
* Part B, whole traces, for root-cause accuracy and the trace-level false positive rate: AgentRx
  traces ranked by sha256(f"{SEED}:{dataset}:{trace id}"): the first --failed-traces failed and
  --ok-traces successful tau-retail runs with at most --max-tau-steps judged agent steps, and the
  first --magentic-traces Magentic-One runs with at most --max-magentic-steps.

Printed, each with its n and a 95% interval: step recall and FPR (Wilson, over parts A and B's
labeled steps), Cohen's kappa on failing-vs-not (bootstrap over traces, 2,000 resamples), root-cause
accuracy exact and within one hop and the trace FPR (Wilson, part B), seconds per judged step
(bootstrap) and prompt tokens per trace (part B, bootstrap). The default sizes keep a run of
Qwen2.5-Coder-1.5B Q4_K_M on llama-server with 2 CPU cores under 30 minutes.

    llama-server -m qwen.gguf -np 5 -c 20480 -t 2 --host 127.0.0.1 --port 8088 &
    python bench/llm_accuracy.py --model qwen --base-url http://127.0.0.1:8088/v1 --llama-slots 5
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import math
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from statistics import mean

from agenteval.benchmark import run_benchmark
from agenteval.dag import StepDAG
from agenteval.datasets import LabeledTrace, load_dataset
from agenteval.evaluate import close_judge
from agenteval.judges.base import StepContext
from agenteval.judges.registry import build_judge
from agenteval.metrics import cohen_kappa
from agenteval.models import Judgment
from agenteval.propagation import classify

SEED = 20251204
#: Qwen2.5's tokenizer on these prompts gives 1.2 times the 4-characters-a-token estimate (pilot: a
#: Magentic-One trace estimated at 8,258 prompt tokens took 10,530 in llama-server's count).
TOKENIZER_FACTOR = 1.2
DATASETS = ("agentrx-tau", "agentrx-magentic-one")
BOOTSTRAP = 2000
Z = 1.959964


@dataclass
class StepOutcome:
    """One judged step: its gold label, what the judge said, and what that cost."""

    dataset: str
    trace_id: str
    step_id: str
    gold_failing: bool
    judgment: Judgment
    seconds: float
    predicted_failing: bool = False


@dataclass
class TraceOutcome:
    """One whole trace judged step by step."""

    labeled: LabeledTrace
    judgments: dict[str, Judgment]
    seconds: float
    prompt_tokens: int = 0
    cached_tokens: int = 0
    steps: list[StepOutcome] = field(default_factory=list)


# ---- the sample ----------------------------------------------------------------------------


def rank(*parts: str) -> str:
    """The sampling order: a hash of the seed and the item's name."""
    return hashlib.sha256(":".join([str(SEED), *parts]).encode()).hexdigest()


def judged_steps(labeled: LabeledTrace) -> int:
    return sum(s.type.judged for s in labeled.trace.steps)


def sample_steps(data: dict[str, list[LabeledTrace]], failing: int, passing: int) -> list[tuple[LabeledTrace, str, bool]]:
    """Part A: per dataset, the first ``failing`` gold failing steps and ``passing`` negatives by rank."""
    chosen = []
    for dataset, traces in data.items():
        positives, negatives = [], []
        for labeled in traces:
            judged = {s.id for s in labeled.trace.steps if s.type.judged}
            positives += [(labeled, sid, True) for sid in labeled.failing_steps if sid in judged]
            negatives += [(labeled, sid, False) for sid in labeled.negatives or [] if sid in judged]
        for group, size in ((positives, failing), (negatives, passing)):
            group.sort(key=lambda item: rank(dataset, item[0].trace.id, item[1]))
            chosen += group[:size]
    return chosen


def sample_traces(
    data: dict[str, list[LabeledTrace]], failed: int, ok: int, magentic: int, max_tau: int, max_magentic: int
) -> list[LabeledTrace]:
    """Part B: short whole traces by rank: failed and successful tau-retail runs, Magentic-One runs."""
    def pick(dataset: str, keep: Callable[[LabeledTrace], bool], size: int, most: int) -> list[LabeledTrace]:
        pool = [g for g in data[dataset] if keep(g) and judged_steps(g) <= most]
        return sorted(pool, key=lambda g: rank(dataset, g.trace.id))[:size]

    return (pick("agentrx-tau", lambda g: g.failed is True and g.root_cause is not None, failed, max_tau)
            + pick("agentrx-tau", lambda g: g.failed is False, ok, max_tau)
            + pick("agentrx-magentic-one", lambda g: g.root_cause is not None, magentic, max_magentic))


# ---- judging -------------------------------------------------------------------------------


async def judge_sample(judge, steps, traces, concurrency: int, log: Callable[[str], None]) -> tuple[list[StepOutcome], list[TraceOutcome]]:
    limit = asyncio.Semaphore(concurrency)
    dags: dict[str, StepDAG] = {}

    def dag_of(labeled: LabeledTrace) -> StepDAG:
        return dags.setdefault(labeled.trace.id, StepDAG.from_trace(labeled.trace))

    async def one(labeled: LabeledTrace, step_id: str) -> tuple[Judgment, float]:
        dag = dag_of(labeled)
        async with limit:
            started = time.perf_counter()
            judgment = await judge.judge_step(StepContext(labeled.trace, dag, dag.step(step_id)))
            return judgment, time.perf_counter() - started

    done_steps: list[StepOutcome] = []
    for index, (labeled, step_id, gold) in enumerate(steps, 1):
        judgment, seconds = await one(labeled, step_id)
        done_steps.append(StepOutcome((labeled.subset or labeled.dataset), labeled.trace.id, step_id, gold, judgment, seconds))
        log(f"A {index}/{len(steps)} {(labeled.subset or labeled.dataset)} {step_id} gold={'fail' if gold else 'ok'} "
            f"score={judgment.score} {seconds:.1f}s {_answers(judgment)}"
            f"{' ERROR ' + (judgment.error or '') if judgment.error else ''}")
    done_traces: list[TraceOutcome] = []
    for index, labeled in enumerate(traces, 1):
        started = time.perf_counter()
        timed = await asyncio.gather(*(one(labeled, s.id) for s in labeled.trace.steps if s.type.judged))
        outcome = TraceOutcome(labeled, {j.step_id: j for j, _ in timed}, time.perf_counter() - started)
        for judgment, seconds in timed:
            if judgment.usage is not None:
                outcome.prompt_tokens += judgment.usage.input_tokens
                outcome.cached_tokens += judgment.usage.cached_input_tokens
            labels = {**{sid: True for sid in labeled.failing_steps}, **{sid: False for sid in labeled.negatives or []}}
            if judgment.step_id in labels:
                outcome.steps.append(StepOutcome((labeled.subset or labeled.dataset), labeled.trace.id, judgment.step_id,
                                                 labels[judgment.step_id], judgment, seconds))
        done_traces.append(outcome)
        log(f"B {index}/{len(traces)} {labeled.trace.id} {len(timed)} steps {outcome.seconds:.0f}s "
            f"{outcome.prompt_tokens} prompt tokens ({outcome.cached_tokens} cached)")
    return done_steps, done_traces


def _answers(judgment: Judgment) -> str:
    """The model's checklist answers, e.g. ``model: yes yes no``, for the progress lines."""
    checks = [c for c in judgment.details.get("checks") or [] if isinstance(c, dict)]  # the rules list names
    asked = [str(c.get("answer")) for c in checks if c.get("decided_by") == "model"]
    return f"model: {' '.join(asked)}" if asked else ("rules" if judgment.judge == "rules" else "")


def set_predictions(outcomes: Sequence[StepOutcome], traces_by_id: dict[str, LabeledTrace]) -> None:
    """Whether each judged step fails, by the product's own verdict rule (classify)."""
    for outcome in outcomes:
        labeled = traces_by_id[outcome.trace_id]
        verdicts = classify(StepDAG.from_trace(labeled.trace), {outcome.step_id: outcome.judgment})
        outcome.predicted_failing = next(v for v in verdicts if v.step_id == outcome.step_id).failed


class ReplayJudge:
    """Answers with recorded judgments, so the benchmark's own code scores part B."""

    name = "replay"

    def __init__(self, judgments: dict[str, dict[str, Judgment]]) -> None:
        self.judgments = judgments

    async def judge_step(self, ctx: StepContext) -> Judgment:
        return self.judgments[ctx.trace.id][ctx.step.id]


def plan(steps, traces, judge_mode: str, prompt_rate: float, gen_rate: float) -> dict:
    """What the sample will cost, without a model: requests, estimated tokens, and time at given rates.

    Prompt tokens are estimated at 4 characters a token, times TOKENIZER_FACTOR; the static prefix
    of each step type is counted once (it stays cached in its slot). Output: about 8 tokens a checklist answer plus 10,
    or 150 for a holistic judgment.
    """
    from agenteval.judges._prompt_data import Fence
    from agenteval.judges.checklist import _items, _requests
    from agenteval.judges.prompt import build_messages, prompt_parts_tokens
    from agenteval.judges.rules import judge_step_sync
    from agenteval.rubrics import load_rubrics
    from agenteval.taxonomy import load_taxonomy

    rubrics = load_rubrics()
    codes = [(c.code, c.name) for c in load_taxonomy().codes()]
    items = [(g, sid) for g, sid, _ in steps] + [(g, s.id) for g in traces for s in g.trace.steps if s.type.judged]
    requests = variable = output = 0
    static: dict[str, int] = {}
    for labeled, step_id in items:
        dag = StepDAG.from_trace(labeled.trace)
        ctx = StepContext(labeled.trace, dag, dag.step(step_id))
        if judge_step_sync(ctx).decisive:
            continue  # the rules decide it; no request
        rubric = rubrics.for_type(ctx.step.type)
        if judge_mode == "checklist":
            asked = _requests(rubric, ctx, _items(rubric, ctx), Fence.new(), batch=True)
            messages = [r.messages for r in asked]
            output += sum(10 + 8 * len(r.items) for r in asked)
        else:
            messages = [build_messages(rubric, ctx, taxonomy_codes=codes)]
            output += 150
        for message in messages:
            fixed, varied = prompt_parts_tokens(message)
            static[ctx.step.type.value] = fixed
            variable += varied
            requests += 1
    prompt = round((variable + sum(static.values())) * TOKENIZER_FACTOR)
    return {"steps": len(items), "requests": requests, "prompt_tokens": prompt, "output_tokens": output,
            "minutes": round((prompt / prompt_rate + output / gen_rate) / 60, 1),
            "rates": {"prompt_tokens_per_s": prompt_rate, "output_tokens_per_s": gen_rate}}


# ---- statistics ----------------------------------------------------------------------------


def wilson(hits: int, n: int) -> tuple[float | None, float | None, float | None]:
    """The proportion and its 95% Wilson score interval."""
    if n == 0:
        return None, None, None
    p = hits / n
    centre = (p + Z * Z / (2 * n)) / (1 + Z * Z / n)
    half = Z * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n)) / (1 + Z * Z / n)
    return p, max(0.0, centre - half), min(1.0, centre + half)


def bootstrap(groups: Sequence, statistic: Callable[[Sequence], float | None]) -> tuple[float | None, float | None, float | None]:
    """The statistic and its 95% percentile interval, resampling ``groups`` (e.g. traces) with replacement."""
    value = statistic(groups)
    if value is None or len(groups) < 2:
        return value, None, None
    rng = random.Random(SEED)
    draws = sorted(v for _ in range(BOOTSTRAP) if (v := statistic([rng.choice(groups) for _ in groups])) is not None)
    if not draws:
        return value, None, None
    return value, draws[int(0.025 * (len(draws) - 1))], draws[int(0.975 * (len(draws) - 1))]


def kappa_of(groups: Sequence[list[StepOutcome]]) -> float | None:
    pairs = [(o.gold_failing, o.predicted_failing) for group in groups for o in group]
    if not any(g for g, _ in pairs) or all(g for g, _ in pairs):
        return None
    return cohen_kappa(pairs)


def ratio_of_sums(groups: Sequence[tuple[float, int]]) -> float | None:
    total = sum(n for _, n in groups)
    return sum(x for x, _ in groups) / total if total else None


# ---- main ----------------------------------------------------------------------------------


def measure(args: argparse.Namespace) -> dict:
    log = (lambda line: print(line, file=sys.stderr, flush=True)) if not args.quiet else (lambda line: None)
    data = {name: load_dataset(name, args.data / "agentrx") for name in DATASETS}
    steps = sample_steps(data, args.failing, args.passing)
    traces = sample_traces(data, args.failed_traces, args.ok_traces, args.magentic_traces, args.max_tau_steps,
                           args.max_magentic_steps)
    if args.pilot is not None:
        # Every k-th labeled step, so a small pilot spans both datasets, failing and passing steps.
        steps = steps[:: max(1, len(steps) // args.pilot)][: args.pilot]
    if args.plan:
        return {"plan": plan(steps, traces, args.judge_mode, args.prompt_rate, args.gen_rate)}
    options = {
        "judge": "openai", "model": args.model, "base_url": args.base_url, "judge_mode": args.judge_mode,
        "concurrency": args.concurrency, "timeout": args.timeout, "max_retries": args.max_retries,
        "llama_slots": args.llama_slots, "checklist_batch": not args.single,
    }
    log(f"sample: {len(steps)} labeled steps, {len(traces)} whole traces "
        f"({sum(judged_steps(g) for g in traces)} agent steps); judge {json.dumps(options)}")

    async def run():
        judge = build_judge(**options, cache=None)
        try:
            return await judge_sample(judge, steps, traces, args.concurrency, log)
        finally:
            await close_judge(judge)

    started = time.perf_counter()
    step_outcomes, trace_outcomes = asyncio.run(run())
    wall = time.perf_counter() - started
    by_id = {g.trace.id: g for traces_ in data.values() for g in traces_}
    labeled_steps = step_outcomes + [o for t in trace_outcomes for o in t.steps
                                     if (o.trace_id, o.step_id) not in {(s.trace_id, s.step_id) for s in step_outcomes}]
    set_predictions(labeled_steps, by_id)
    scored = [o for o in labeled_steps if o.judgment.error is None]
    failing = [o for o in scored if o.gold_failing]
    passing = [o for o in scored if not o.gold_failing]
    by_trace: dict[str, list[StepOutcome]] = {}
    for outcome in scored:
        by_trace.setdefault(outcome.trace_id, []).append(outcome)

    report = run_benchmark(args.data / "agentrx", "agentrx", mode="dag", traces=[t.labeled for t in trace_outcomes],
                           judge=ReplayJudge({t.labeled.trace.id: t.judgments for t in trace_outcomes})) if trace_outcomes else None
    rca_n = report.n_root_cause_traces if report else 0
    ok_runs = [t for t in trace_outcomes if t.labeled.failed is False]
    all_judged = [o for o in step_outcomes] + [
        StepOutcome("", t.labeled.trace.id, sid, False, j, 0.0) for t in trace_outcomes for sid, j in t.judgments.items()
    ]
    model_steps = [(o.seconds, 1) for o in step_outcomes if o.judgment.judge != "rules" and not o.judgment.details.get("llm_call_saved")]
    per_trace = [(t.seconds, sum(1 for j in t.judgments.values() if not j.details.get("llm_call_saved"))) for t in trace_outcomes]
    rows = {
        "step recall": (*wilson(sum(o.predicted_failing for o in failing), len(failing)), len(failing)),
        "step FPR": (*wilson(sum(o.predicted_failing for o in passing), len(passing)), len(passing)),
        "kappa (failing vs not)": (*bootstrap(list(by_trace.values()), kappa_of), len(scored)),
        "RCA exact": (*wilson(round((report.rca_exact or 0) * rca_n), rca_n), rca_n) if report else (None, None, None, 0),
        "RCA within one hop": (*wilson(round((report.rca_1hop or 0) * rca_n), rca_n), rca_n) if report else (None, None, None, 0),
        "trace FPR (successful runs)": (*wilson(round((report.trace_fpr or 0) * len(ok_runs)), len(ok_runs)), len(ok_runs))
        if report and report.trace_fpr is not None else (None, None, None, 0),
        "seconds per model-judged step": (*bootstrap(model_steps + per_trace, ratio_of_sums), sum(n for _, n in model_steps + per_trace)),
        "prompt tokens per trace": (*bootstrap([t.prompt_tokens for t in trace_outcomes], lambda xs: mean(xs) if xs else None),
                                    len(trace_outcomes)),
        "cached prompt tokens per trace": (*bootstrap([t.cached_tokens for t in trace_outcomes], lambda xs: mean(xs) if xs else None),
                                           len(trace_outcomes)),
    }
    errors = [o for o in all_judged if o.judgment.error]
    return {
        "model": args.model, "judge_mode": args.judge_mode, "batch": not args.single, "llama_slots": args.llama_slots,
        "seed": SEED, "sample": {"labeled_steps": len(steps), "whole_traces": [t.labeled.trace.id for t in trace_outcomes]},
        "wall_s": round(wall, 1), "judge_errors": len(errors), "first_judge_error": errors[0].judgment.error if errors else None,
        "metrics": {name: {"value": v, "low": lo, "high": hi, "n": n} for name, (v, lo, hi, n) in rows.items()},
    }


def render(result: dict) -> str:
    def cell(value: float | None, digits: int) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    lines = [f"model {result['model']}, {result['judge_mode']}"
             + (f" ({'batched' if result['batch'] else 'one question per request'})" if result["judge_mode"] == "checklist" else "")
             + f", llama slots {result['llama_slots']}, seed {result['seed']}; wall {result['wall_s']} s, "
             f"{result['judge_errors']} judge errors",
             "", "| metric | value | 95% interval | n |", "|---|---|---|---|"]
    for name, m in result["metrics"].items():
        digits = 0 if "tokens" in name else (1 if "seconds" in name else 2)
        interval = "-" if m["low"] is None else f"{cell(m['low'], digits)}-{cell(m['high'], digits)}"
        lines.append(f"| {name} | {cell(m['value'], digits)} | {interval} | {m['n']} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"), help="The shared data root.")
    parser.add_argument("--model", default="", help="Judge model name.")
    parser.add_argument("--base-url", default="", help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8088/v1.")
    parser.add_argument("--judge-mode", default="checklist", choices=("checklist", "holistic"))
    parser.add_argument("--single", action="store_true", help="Checklist: one request per question (default: batched).")
    parser.add_argument("--llama-slots", type=int, help="llama-server's -np: pin each step type to one slot.")
    parser.add_argument("--concurrency", type=int, default=1,
                        help="Judge requests in flight at once (1: per-step timings are not shared).")
    parser.add_argument("--timeout", type=float, default=600, help="Seconds per request.")
    parser.add_argument("--max-retries", type=int, default=1)
    parser.add_argument("--failing", type=int, default=10, help="Part A: gold failing steps per dataset.")
    parser.add_argument("--passing", type=int, default=10, help="Part A: known-correct steps per dataset.")
    parser.add_argument("--failed-traces", type=int, default=2, help="Part B: failed tau-retail runs.")
    parser.add_argument("--ok-traces", type=int, default=1, help="Part B: successful tau-retail runs.")
    parser.add_argument("--magentic-traces", type=int, default=2, help="Part B: Magentic-One runs.")
    parser.add_argument("--max-tau-steps", type=int, default=22, help="Part B: tau-retail runs with at most this many agent steps.")
    parser.add_argument("--max-magentic-steps", type=int, default=11, help="Part B: Magentic-One runs with at most this many.")
    parser.add_argument("--pilot", type=int, help="Part A: judge only N labeled steps spread over the sample (sizing runs).")
    parser.add_argument("--plan", action="store_true", help="Only estimate the sample's requests, tokens and time.")
    parser.add_argument("--prompt-rate", type=float, default=100.0, help="--plan: prompt tokens per second.")
    parser.add_argument("--gen-rate", type=float, default=30.0, help="--plan: output tokens per second.")
    parser.add_argument("--json", action="store_true", help="Print the result as JSON.")
    parser.add_argument("--quiet", action="store_true", help="No progress lines on stderr.")
    args = parser.parse_args()
    if not args.plan and not (args.model and args.base_url):
        parser.error("--model and --base-url are needed (or --plan)")
    result = measure(args)
    print(json.dumps(result, indent=2) if args.json or "plan" in result else render(result))


if __name__ == "__main__":
    main()

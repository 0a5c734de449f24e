"""Accuracy of predictions against labeled traces: detection, agreement and root-cause metrics. Pure.

Conventions:

* Step-level metrics count only labeled steps: gold failing steps and known-correct steps
  (``negatives``). Unlabeled steps (after Who&When's mistake step) count for nothing.
* A prediction is read at the labeled step it is part of (``LabeledTrace.units``): a label on a
  message covers the steps derived from it, and on AgentRx tau-bench a label on a tool call covers
  the tool's answer. So a failing EXEC whose call the annotators marked counts as finding it.
* The predicted root cause is the FIRST one a prediction lists.
* A gold root cause on a step that is not agent work (a USER or SYSTEM message, e.g. AgentRx's
  "underspecified user intent") lies outside what agenteval blames: the right prediction there
  is no agent root cause at all, and that counts as exact (and as the right agent). Blaming an
  agent step for it counts as wrong. ``n_external_root_causes`` says how many traces this concerns.
* A metric is None when the labels or the predictions do not support it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence

from pydantic import BaseModel, ConfigDict, Field

from agenteval.dag import StepDAG
from agenteval.datasets.base import LabeledTrace, normalise_agent
from agenteval.models import Step


class TracePrediction(BaseModel):
    """What an evaluation method said about one trace."""

    model_config = ConfigDict(extra="forbid")

    trace_id: str = Field(description="The trace.")
    failed: bool | None = Field(None, description="Predicted trace outcome; None when the method gives none.")
    failing: dict[str, str | None] | None = Field(
        None, description="Predicted failing step id -> failure code; None when the method judges no steps."
    )
    root_causes: list[str] | None = Field(
        None, description="Blamed step ids, most to blame first; None when the method attributes no root cause."
    )
    agent: str | None = Field(None, description="Agent of the first root cause.")


class BenchReport(BaseModel):
    """Accuracy of one method on one dataset; None where unsupported."""

    model_config = ConfigDict(extra="forbid")

    n_traces: int = Field(description="Traces evaluated.")
    fd_recall: float | None = Field(None, description="Gold failing steps predicted failing / gold failing steps.")
    fpr: float | None = Field(None, description="Known-correct steps predicted failing / known-correct steps.")
    kappa: float | None = Field(None, description="Cohen's kappa, failing vs not, over labeled steps.")
    category_kappa: float | None = Field(None, description="Cohen's kappa on failure categories over labeled steps.")
    rca_exact: float | None = Field(None, description="Traces whose first predicted root cause is the gold one.")
    rca_1hop: float | None = Field(None, description="... or within one DAG hop (one step index when unconnected).")
    agent_accuracy: float | None = Field(None, description="Traces whose blamed agent is the gold one.")
    trace_recall: float | None = Field(None, description="Failed traces predicted failed / failed traces.")
    trace_fpr: float | None = Field(None, description="Successful traces predicted failed / successful traces.")
    n_root_cause_traces: int = Field(0, description="Traces behind rca_exact and rca_1hop.")
    n_external_root_causes: int = Field(0, description="Of those, traces whose gold root cause is not agent work.")
    rca_exact_agent_caused: float | None = Field(
        None, description="rca_exact over traces whose gold root cause is an agent step (external causes left out)."
    )


def _ratio(hits: int, total: int) -> float | None:
    return hits / total if total else None


def cohen_kappa(pairs: Sequence[tuple[Hashable, Hashable]]) -> float | None:
    """Cohen's kappa of (gold, predicted) label pairs; 1.0 for perfect agreement on one label,
    None for no pairs."""
    if not pairs:
        return None
    n = len(pairs)
    observed = sum(a == b for a, b in pairs) / n
    gold = Counter(a for a, _ in pairs)
    predicted = Counter(b for _, b in pairs)
    expected = sum(gold[label] * predicted[label] for label in gold) / (n * n)
    if expected >= 1.0:
        return 1.0 if observed >= 1.0 else 0.0
    return (observed - expected) / (1.0 - expected)


def _steps(trace_steps: Iterable[Step]) -> dict[str, Step]:
    return {s.id: s for s in trace_steps}


def _index(step: Step, position: int) -> int:
    index = step.metadata.get("message_index")
    return index if isinstance(index, int) else position


def within_one_hop(dag: StepDAG, predicted: str, gold: str) -> bool:
    """Same step, adjacent on the DAG, or (when the DAG does not connect them) one index apart."""
    if predicted == gold:
        return True
    if predicted not in dag or gold not in dag:
        return False
    hops = dag.hops(predicted, gold)
    if hops is not None:
        return hops <= 1
    a, b = dag.step(predicted), dag.step(gold)
    return abs(_index(a, dag.position(predicted)) - _index(b, dag.position(gold))) <= 1


def evaluate(
    predictions: Mapping[str, TracePrediction],
    labeled: Sequence[LabeledTrace],
    *,
    category_of: Callable[[str | None], str | None] | None = None,
    dags: Mapping[str, StepDAG] | None = None,
) -> BenchReport:
    """Score predictions (keyed by trace id) against labeled traces.

    Args:
        predictions: one prediction per trace id; traces without one are skipped.
        labeled: the gold traces.
        category_of: maps a predicted failure code to the gold category vocabulary; without it,
            category kappa is None.
        dags: prebuilt DAGs by trace id (built here when missing).
    """
    detected = gold_failing = false_pos = negatives = 0
    binary: list[tuple[bool, bool]] = []
    categories: list[tuple[str, str]] = []
    exact = near = rca_total = external = agent_hits = agent_total = exact_internal = 0
    trace_hits = trace_failed = trace_false = trace_ok = 0
    evaluated = 0
    for gold in labeled:
        pred = predictions.get(gold.trace.id)
        if pred is None:
            continue
        evaluated += 1
        steps = _steps(gold.trace.steps)
        if pred.failing is not None and gold.step_labeled:
            failing = _by_unit(gold, pred.failing)
            hit = [sid for sid in gold.failing_steps if sid in failing]
            detected += len(hit)
            gold_failing += len(gold.failing_steps)
            for sid, cat in gold.failing_steps.items():
                binary.append((True, sid in failing))
                if cat is not None and category_of is not None:
                    categories.append((cat, _predicted_category(failing, sid, category_of)))
            for sid in gold.negatives or []:
                flagged = sid in pred.failing
                false_pos += flagged
                negatives += 1
                binary.append((False, flagged))
                if category_of is not None:
                    categories.append(("none", _predicted_category(pred.failing, sid, category_of)))
        if gold.root_cause is not None and pred.root_causes is not None:
            rca_total += 1
            gold_step = steps.get(gold.root_cause)
            is_external = gold_step is not None and not gold_step.type.judged
            external += is_external
            first = gold.unit(pred.root_causes[0]) if pred.root_causes else None
            if first is None:
                ok = near_ok = agent_ok = is_external
            else:
                ok = first == gold.root_cause
                dag = (dags or {}).get(gold.trace.id) or StepDAG.from_trace(gold.trace)
                near_ok = within_one_hop(dag, first, gold.root_cause)
                agent_ok = normalise_agent(pred.agent) == normalise_agent(gold.root_cause_agent)
            exact += ok
            exact_internal += ok and not is_external
            near += near_ok
            if gold.root_cause_agent is not None:
                agent_total += 1
                agent_hits += agent_ok
        if gold.failed is not None and pred.failed is not None:
            if gold.failed:
                trace_failed += 1
                trace_hits += pred.failed
            else:
                trace_ok += 1
                trace_false += pred.failed
    return BenchReport(
        n_traces=evaluated,
        fd_recall=_ratio(detected, gold_failing),
        fpr=_ratio(false_pos, negatives),
        kappa=cohen_kappa(binary) if gold_failing and negatives else None,
        category_kappa=cohen_kappa(categories) if any(a != "none" for a, _ in categories) else None,
        rca_exact=_ratio(exact, rca_total),
        rca_1hop=_ratio(near, rca_total),
        agent_accuracy=_ratio(agent_hits, agent_total),
        trace_recall=_ratio(trace_hits, trace_failed),
        trace_fpr=_ratio(trace_false, trace_ok),
        n_root_cause_traces=rca_total,
        n_external_root_causes=external,
        rca_exact_agent_caused=_ratio(exact_internal, rca_total - external),
    )


def _by_unit(gold: LabeledTrace, failing: Mapping[str, str | None]) -> dict[str, str | None]:
    """Predicted failing steps read at the labeled step each is part of (the first code wins)."""
    found: dict[str, str | None] = {}
    for sid, code in failing.items():
        found.setdefault(gold.unit(sid), code)
    return found


def _predicted_category(
    failing: Mapping[str, str | None] | None, step_id: str, category_of: Callable[[str | None], str | None]
) -> str:
    if failing is None or step_id not in failing:
        return "none"
    return category_of(failing[step_id]) or "other"

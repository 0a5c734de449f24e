"""Two runs matched up case by case (see ``agenteval.cases``), with a count of everything left unmatched. Pure.

A case found in both runs is *paired*: its traces there are compared with paired tests. A case found
in one run only, a case whose key is ambiguous (a task text repeated within a run), and a trace the
rule found no key for are *unpaired*: they are compared as independent samples.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field

from agenteval.cases import CaseKey, case_key
from agenteval.identity import display_name, trace_label
from agenteval.models import TraceResult

#: Case names listed per side in a ``Pairing``; the counts are always complete.
LISTED = 20


@dataclass
class Case:
    """One case and its traces (its trials) in each run."""

    key: str
    label: str
    base: list[TraceResult] = field(default_factory=list)
    candidate: list[TraceResult] = field(default_factory=list)

    @property
    def trials(self) -> int:
        """Most traces of this case in either run."""
        return max(len(self.base), len(self.candidate))


class Pairing(BaseModel):
    """How the two runs' traces were matched by case (``compare --json`` carries it as ``pairing``)."""

    model_config = ConfigDict(extra="forbid")

    rule: str = Field(description="The --pair-by rule asked for.")
    used: str = Field(description="The rule that paired the traces (auto may fall back to trace-id).")
    note: str = Field("", description="Why the rule used differs from the one asked for, if it does.")
    key_sources: dict[str, int] = Field(default_factory=dict, description="Traces of both runs per where the case key came from.")
    base_cases: int = Field(0, description="Cases in the base run.")
    candidate_cases: int = Field(0, description="Cases in the candidate run.")
    pairs: int = Field(0, description="Cases found in both runs and compared pairwise.")
    base_only: int = Field(0, description="Cases found in the base run only.")
    candidate_only: int = Field(0, description="Cases found in the candidate run only.")
    ambiguous: int = Field(0, description="Cases whose key (a task text) repeats within a run: compared unpaired.")
    missing_key: int = Field(0, description="Traces the rule found no key for: compared unpaired.")
    trials: int = Field(1, description="Most traces (trials) of one case in either run; above 1 trials are clustered by case.")
    base_only_cases: list[str] = Field(default_factory=list, description=f"Up to {LISTED} base-only cases.")
    candidate_only_cases: list[str] = Field(default_factory=list, description=f"Up to {LISTED} candidate-only cases.")
    ambiguous_cases: list[str] = Field(default_factory=list, description=f"Up to {LISTED} ambiguous cases.")

    @property
    def unpaired(self) -> int:
        """Cases and keyless traces compared unpaired."""
        return self.base_only + self.candidate_only + self.ambiguous + self.missing_key


@dataclass
class Matched:
    """The pairing, and the cases on each side of it."""

    pairing: Pairing
    paired: list[Case]
    base_unpaired: list[Case]
    candidate_unpaired: list[Case]


def _name(result: TraceResult) -> str:
    return display_name(result.trace_id, trace_label(result.trace))


def _group(results: Sequence[TraceResult], keys: Sequence[CaseKey]) -> tuple[dict[str, Case], list[Case], set[str]]:
    cases: dict[str, Case] = {}
    keyless: list[Case] = []
    fallback: set[str] = set()
    for result, key in zip(results, keys, strict=True):
        if key.key is None:
            keyless.append(Case(key=f"trace:{result.trace_id}", label=_name(result), base=[result]))
            continue
        if key.key not in cases:
            explicit = key.source not in ("task text", "trace id")
            label = key.key if explicit else _name(result)
            cases[key.key] = Case(key=key.key, label=label)
        cases[key.key].base.append(result)
        if not key.explicit:
            fallback.add(key.key)
    return cases, keyless, fallback


def _match(base: Sequence[TraceResult], cand: Sequence[TraceResult], rule: str) -> Matched:
    base_keys = [case_key(r.trace, rule) for r in base]
    cand_keys = [case_key(r.trace, rule) for r in cand]
    b_cases, b_keyless, b_fallback = _group(base, base_keys)
    c_cases, c_keyless, c_fallback = _group(cand, cand_keys)
    # A task-text key seen more than once in a run may be one case's trials or two cases sharing a prompt.
    ambiguous = {k for k in b_fallback if len(b_cases[k].base) > 1} | {k for k in c_fallback if len(c_cases[k].base) > 1}
    paired, base_unpaired, cand_unpaired = [], list(b_keyless), []
    for key, case in b_cases.items():
        other = c_cases.get(key)
        if other is not None and key not in ambiguous:
            paired.append(Case(key=key, label=case.label, base=case.base, candidate=other.base))
        else:
            base_unpaired.append(case)
    for key, case in c_cases.items():
        if key not in b_cases or key in ambiguous:
            cand_unpaired.append(Case(key=key, label=case.label, candidate=case.base))
    cand_unpaired += [Case(key=c.key, label=c.label, candidate=c.base) for c in c_keyless]
    sources = Counter(k.source for k in [*base_keys, *cand_keys])
    base_only = [c for k, c in b_cases.items() if k not in c_cases and k not in ambiguous]
    cand_only = [c for k, c in c_cases.items() if k not in b_cases and k not in ambiguous]
    ambiguous_cases = [b_cases.get(k) or c_cases[k] for k in sorted(ambiguous)]
    trials = max([c.trials for c in paired] + [len(c.base) for c in base_unpaired] + [len(c.candidate) for c in cand_unpaired] + [1])
    pairing = Pairing(
        rule=rule, used=rule, key_sources=dict(sources.most_common()),
        base_cases=len(b_cases) + len(b_keyless), candidate_cases=len(c_cases) + len(c_keyless),
        pairs=len(paired), base_only=len(base_only), candidate_only=len(cand_only), ambiguous=len(ambiguous),
        missing_key=len(b_keyless) + len(c_keyless), trials=trials,
        base_only_cases=[c.label for c in base_only[:LISTED]],
        candidate_only_cases=[c.label for c in cand_only[:LISTED]],
        ambiguous_cases=[c.label for c in ambiguous_cases[:LISTED]],
    )
    return Matched(pairing, paired, base_unpaired, cand_unpaired)


def match_runs(base: Sequence[TraceResult], cand: Sequence[TraceResult], rule: str = "auto") -> Matched:
    """Match the traces of two runs by case under ``rule`` (see ``agenteval.cases``).

    With ``auto``, when the two runs share more trace ids than case keys (stable ids, tasks that repeat
    or differ from run to run), the trace ids pair them instead, and ``note`` says so.
    """
    matched = _match(base, cand, rule)
    if rule != "auto":
        return matched
    shared_ids = len({r.trace_id for r in base} & {r.trace_id for r in cand})
    if shared_ids > matched.pairing.pairs:
        by_id = _match(base, cand, "trace-id")
        by_id.pairing.rule = "auto"
        by_id.pairing.note = (
            f"paired by trace id: the runs share {shared_ids} trace ids but only {matched.pairing.pairs} case keys"
        )
        return by_id
    return matched

"""What `agenteval compare` and `agenteval gate` do, as library calls.

A run reference is a stored run (name, id, unique id prefix, or ``latest``) or an exported run file
(``.jsonl`` or ``.parquet``, see ``agenteval export``), so CI can gate against a baseline that was
exported from the main branch and checked in or downloaded. A first pull request has no baseline yet:
with ``allow_missing_baseline`` the gate evaluates the candidate, passes, and says so.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from agenteval.compare import Comparison, compare_runs
from agenteval.config import CONFIG_FILE, Settings
from agenteval.errors import ConfigError, StoreError, TraceError
from agenteval.gate import GateResult, apply_gate
from agenteval.identity import name_clash
from agenteval.models import Run
from agenteval.portable import RUN_FILE_SUFFIXES

if TYPE_CHECKING:
    from agenteval.evaluate import Progress
    from agenteval.taxonomy import Taxonomy


class GateOutcome(BaseModel):
    """Everything the gate looked at and decided."""

    model_config = ConfigDict(extra="forbid")

    baseline: Run | None = Field(description="The baseline run; None when there was none yet (allow_missing_baseline).")
    candidate: Run = Field(description="The candidate run (evaluated now, or a stored one).")
    comparison: Comparison | None = Field(description="Baseline -> candidate; None without a baseline.")
    result: GateResult = Field(description="pass, warn or block, with the reasons.")


def is_run_file(ref: str) -> bool:
    """Whether a run reference names an exported run file rather than a stored run."""
    return Path(ref).suffix.lower() in RUN_FILE_SUFFIXES


def load_run(ref: str | None, settings: Settings, notes: list[str] | None = None) -> Run:
    """The run ``ref`` names: an exported ``.jsonl``/``.parquet`` file, or a run in the store.

    Args:
        ref: the run reference (None: the newest stored run).
        settings: where the store is.
        notes: when given, a note is added to it if ``ref`` is a name several stored runs share.

    Raises:
        StoreError: no such file or run, or the file is not a run export.
    """
    from agenteval.store import open_store, read_run_file

    if ref is not None and is_run_file(ref):
        return read_run_file(Path(ref))
    with open_store(settings.db, must_exist=True) as store:
        run = store.load_run(ref)
        if notes is not None and ref is not None and run.name == ref and run.id != ref:
            note = name_clash(ref, store.runs_named(ref))
            if note:
                notes.append(note)
        return run


def baseline_missing(ref: str, settings: Settings) -> bool:
    """Whether ``ref`` names a baseline that does not exist yet (as opposed to one that is broken)."""
    from agenteval.store import open_store

    if is_run_file(ref):
        return not Path(ref).exists()
    if not Path(settings.db).is_file():
        return True
    with open_store(settings.db, must_exist=True) as store:
        try:
            store.resolve_run(ref)
        except StoreError:
            return True
    return False


def compare_refs(base: str, candidate: str, settings: Settings, notes: list[str] | None = None) -> Comparison:
    """What `agenteval compare BASE CAND` does: load both runs and compare them with the gate's tolerance,
    pairing rule and significance level."""
    policy = settings.gate
    return compare_runs(
        load_run(base, settings, notes), load_run(candidate, settings, notes),
        tolerance=policy.tolerance, pair_by=policy.pair_by, alpha=policy.alpha,
    )


def run_gate(
    paths: Iterable[Path],
    baseline: str,
    settings: Settings,
    *,
    run: str | None = None,
    name: str | None = None,
    progress: Progress | None = None,
    taxonomy: Taxonomy | None = None,
    allow_missing_baseline: bool = False,
) -> GateOutcome:
    """What `agenteval gate` does: evaluate the candidate traces, compare them with the baseline, apply the policy.

    Args:
        paths: candidate trace files or folders (evaluated and stored as a new run).
        baseline: run reference of the baseline (stored run or exported file).
        settings: resolved settings; ``settings.gate`` is the policy.
        run: take this stored run (or run file) as the candidate instead of evaluating ``paths``.
        name: name of the new candidate run.
        progress: progress callbacks for the evaluation.
        taxonomy: where default critical codes come from (default: the bundled taxonomy).
        allow_missing_baseline: when the baseline does not exist yet, evaluate the candidate and pass
            with a note instead of failing.

    Raises:
        AgentEvalError: the baseline cannot be loaded, nothing to evaluate, or no candidate trace
            could be read.
    """
    from agenteval.evaluate import run_evaluation

    paths = list(paths)
    if run is not None and paths:
        raise ConfigError("give candidate trace paths or --run, not both")
    if run is None and not paths and not settings.include:
        raise ConfigError("give candidate trace paths (or --include globs) to evaluate, or --run with a stored run")
    notes: list[str] = []
    missing = allow_missing_baseline and baseline_missing(baseline, settings)
    # A bad baseline fails before any judging is paid for.
    base = None if missing else load_run(baseline, settings, notes)
    if run is not None:
        cand = load_run(run, settings, notes)
    else:
        cand = run_evaluation(paths, settings, name=name, progress=progress)
    if not cand.results:
        first = cand.input_errors[0] if cand.input_errors else None
        detail = f": {first.source}: {first.message}" if first else ""
        raise TraceError(f"no candidate traces could be evaluated{detail}")
    if base is None:
        note = (
            f"No baseline yet ({baseline} does not exist): nothing to compare with, so the gate passes. "
            f"The candidate run ({len(cand.results)} traces) can become the baseline of later runs."
        )
        failed = sum(not r.passed for r in cand.results)
        result = GateResult(verdict="pass", failure_rate=failed / len(cand.results), alpha=settings.gate.alpha, notes=[note])
        return GateOutcome(baseline=None, candidate=cand, comparison=None, result=result)
    policy = settings.gate
    comparison = compare_runs(base, cand, tolerance=policy.tolerance, pair_by=policy.pair_by, alpha=policy.alpha)
    result = apply_gate(comparison, policy, taxonomy=taxonomy)
    result.notes += notes
    return GateOutcome(baseline=base, candidate=cand, comparison=comparison, result=result)


def config_directory(config: Path) -> Path:
    """The directory to load settings from for ``--config``: a folder, or an agenteval.toml/pyproject.toml.

    Raises:
        ConfigError: the path is missing or is another kind of file.
    """
    if config.is_dir():
        return config
    if not config.is_file():
        raise ConfigError("no such file", source=str(config))
    if config.name not in (CONFIG_FILE, "pyproject.toml"):
        raise ConfigError(f"expected a file named {CONFIG_FILE} or pyproject.toml, or a folder", source=str(config))
    return config.parent


def github_outputs(outcome: GateOutcome) -> dict[str, str]:
    """The step outputs the GitHub Action exposes, spelled as the Action spells them.

    ``verdict`` (pass, warn, block), ``failure-rate`` (the candidate's, 0-1), ``paired-cases`` (cases
    compared pairwise; empty without a baseline) and ``run-id`` (the candidate run).
    """
    rate = outcome.result.failure_rate
    pairs = outcome.comparison.pairing.pairs if outcome.comparison is not None else None
    return {
        "verdict": outcome.result.verdict,
        "failure-rate": "" if rate is None else f"{rate:.4f}",
        "paired-cases": "" if pairs is None else str(pairs),
        "run-id": outcome.candidate.id,
    }


def publish_to_github(outcome: GateOutcome, markdown: str, environ: Mapping[str, str] | None = None) -> None:
    """Append the Markdown report to ``$GITHUB_STEP_SUMMARY`` and the outputs to ``$GITHUB_OUTPUT`` when set.

    Raises:
        ConfigError: one of the files cannot be written.
    """
    environ = os.environ if environ is None else environ
    writes = (
        ("GITHUB_STEP_SUMMARY", markdown.rstrip("\n") + "\n"),
        ("GITHUB_OUTPUT", "".join(f"{k}={v}\n" for k, v in github_outputs(outcome).items())),
    )
    for variable, text in writes:
        target = environ.get(variable)
        if not target:
            continue
        try:
            with open(target, "a", encoding="utf-8") as out:
                out.write(text)
        except OSError as exc:
            raise ConfigError(f"cannot write {target}: {exc.strerror or exc}", source=variable) from None

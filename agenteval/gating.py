"""What `agenteval compare` and `agenteval gate` do, as library calls.

A run reference is a stored run (name, id, unique id prefix, or ``latest``) or an exported run file
(``.jsonl`` or ``.parquet``, see ``agenteval export``), so CI can gate against a baseline that was
exported from the main branch and checked in or downloaded.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from agenteval.compare import Comparison, compare_runs
from agenteval.config import CONFIG_FILE, Settings
from agenteval.errors import ConfigError, TraceError
from agenteval.gate import GateResult, apply_gate
from agenteval.models import Run
from agenteval.portable import RUN_FILE_SUFFIXES

if TYPE_CHECKING:
    from agenteval.evaluate import Progress
    from agenteval.taxonomy import Taxonomy


class GateOutcome(BaseModel):
    """Everything the gate looked at and decided."""

    model_config = ConfigDict(extra="forbid")

    baseline: Run = Field(description="The baseline run.")
    candidate: Run = Field(description="The candidate run (evaluated now, or a stored one).")
    comparison: Comparison = Field(description="Baseline -> candidate.")
    result: GateResult = Field(description="pass, warn or block, with the reasons.")


def is_run_file(ref: str) -> bool:
    """Whether a run reference names an exported run file rather than a stored run."""
    return Path(ref).suffix.lower() in RUN_FILE_SUFFIXES


def load_run(ref: str | None, settings: Settings) -> Run:
    """The run ``ref`` names: an exported ``.jsonl``/``.parquet`` file, or a run in the store.

    Raises:
        StoreError: no such file or run, or the file is not a run export.
    """
    from agenteval.store import open_store, read_run_file

    if ref is not None and is_run_file(ref):
        return read_run_file(Path(ref))
    with open_store(settings.db, must_exist=True) as store:
        return store.load_run(ref)


def compare_refs(base: str, candidate: str, settings: Settings) -> Comparison:
    """What `agenteval compare BASE CAND` does: load both runs and compare them with the gate's tolerance."""
    return compare_runs(load_run(base, settings), load_run(candidate, settings), tolerance=settings.gate.tolerance)


def run_gate(
    paths: Iterable[Path],
    baseline: str,
    settings: Settings,
    *,
    run: str | None = None,
    name: str | None = None,
    progress: Progress | None = None,
    taxonomy: Taxonomy | None = None,
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

    Raises:
        AgentEvalError: the baseline cannot be loaded, nothing to evaluate, or no candidate trace
            could be read.
    """
    from agenteval.evaluate import run_evaluation

    paths = list(paths)
    if run is not None and paths:
        raise ConfigError("give candidate trace paths or --run, not both")
    base = load_run(baseline, settings)  # a bad baseline fails before any judging is paid for
    if run is not None:
        cand = load_run(run, settings)
    elif paths:
        cand = run_evaluation(paths, settings, name=name, progress=progress)
    else:
        raise ConfigError("give candidate trace paths to evaluate, or --run with a stored run")
    if not cand.results:
        first = cand.input_errors[0] if cand.input_errors else None
        detail = f": {first.source}: {first.message}" if first else ""
        raise TraceError(f"no candidate traces could be evaluated{detail}")
    comparison = compare_runs(base, cand, tolerance=settings.gate.tolerance)
    result = apply_gate(comparison, settings.gate, taxonomy=taxonomy)
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
    """The step outputs the GitHub Action exposes: ``verdict`` and ``failure_rate``."""
    rate = outcome.result.failure_rate
    return {"verdict": outcome.result.verdict, "failure_rate": "" if rate is None else f"{rate:.4f}"}


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

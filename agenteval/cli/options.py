"""Options several commands share, defined once: the judge options of `eval` and `gate`, input
selection, and pairing. A command declares a parameter with one of these as its default and passes
the values on with ``judge_flags`` / ``input_flags``, so `gate` takes every judge option `eval` takes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

Judge = typer.Option(None, "--judge", help="auto, rules or openai [default: auto: openai when a judge model is configured, else rules].")
Model = typer.Option(None, "--model", help="Judge model name.")
BaseUrl = typer.Option(None, "--base-url", help="OpenAI-compatible endpoint of the judge.")
Format = typer.Option(None, "--format", help="Trace format, or auto to detect [default: auto].")
RootCause = typer.Option(None, "--root-cause", help="Root-cause algorithm: dag, greedy (the paper's) or earliest [default: dag].")
ApiKeyEnv = typer.Option(None, "--api-key-env", help="Environment variable holding the judge's API key [default: OPENAI_API_KEY].")
JudgeMode = typer.Option(None, "--judge-mode", help="holistic (one 1-5 call per step) or checklist (narrow questions, for small local judges).")
JudgeAll = typer.Option(None, "--judge-all", help="Ask the LLM judge even where rules proved a hard failure.")
Samples = typer.Option(None, "--samples", help="Judgments per step; the median is kept and disagreement reported.")
Concurrency = typer.Option(None, "--concurrency", help="Judge requests in flight at once [default: 8].")
Timeout = typer.Option(None, "--timeout", help="Seconds per judge request [default: 60].")
MaxRetries = typer.Option(None, "--max-retries", help="Retries on 429/5xx/timeouts, honouring Retry-After [default: 3].")
MaxCost = typer.Option(None, "--max-cost", help="Stop judge calls once this many USD are spent; the rest are recorded as not judged.")
NoCache = typer.Option(None, "--no-cache", help="Do not reuse cached judgments.")
Rubrics = typer.Option(None, "--rubrics", help="Folder of rubric YAML files overriding the bundled ones.")
LlamaSlots = typer.Option(None, "--llama-slots", min=1, help="The judge is llama-server started with this many slots (-np): pin each step type to one, so its prompt prefix stays cached.")
ChecklistBatch = typer.Option(None, "--checklist-batch/--checklist-single", help="Checklist mode: ask a step's questions in one request [default] or one request each.")

Include = typer.Option(None, "--include", help="Glob of trace files to read, '**' for any depth (repeatable); with no PATH, globbed from the working directory.")
Exclude = typer.Option(None, "--exclude", help="Glob of files to leave out (repeatable).")
Strict = typer.Option(None, "--strict", help="Files that are not traces are errors (exit 2) instead of skipped with a warning.")

PairBy = typer.Option(
    None, "--pair-by",
    help="How traces of the two runs are matched: auto, trace-id, task, metadata:FIELD or attr:NAME [default: auto].",
)


def judge_flags(
    *,
    judge: str | None = None,
    model: str | None = None,
    base_url: str | None = None,
    format: str | None = None,
    root_cause: str | None = None,
    api_key_env: str | None = None,
    judge_mode: str | None = None,
    judge_all: bool | None = None,
    samples: int | None = None,
    concurrency: int | None = None,
    timeout: float | None = None,
    max_retries: int | None = None,
    max_cost: float | None = None,
    no_cache: bool | None = None,
    rubrics: Path | None = None,
    llama_slots: int | None = None,
    checklist_batch: bool | None = None,
) -> dict[str, Any]:
    """The judge options as settings overrides (None: not given)."""
    return dict(
        judge=judge, model=model, base_url=base_url, format=format, root_cause=root_cause, api_key_env=api_key_env,
        judge_mode=judge_mode, judge_all=judge_all, samples=samples, concurrency=concurrency, timeout=timeout,
        max_retries=max_retries, max_cost=max_cost, cache=False if no_cache else None, rubrics=rubrics,
        llama_slots=llama_slots, checklist_batch=checklist_batch,
    )


def input_flags(*, include: list[str] | None = None, exclude: list[str] | None = None, strict: bool | None = None) -> dict[str, Any]:
    """The input selection options as settings overrides (None: not given)."""
    return dict(include=include or None, exclude=exclude or None, strict=strict)

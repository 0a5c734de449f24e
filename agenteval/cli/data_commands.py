"""Commands that measure agenteval on labeled data: bench, calibrate."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from agenteval.cli import options
from agenteval.cli import (
    DbOption,
    _out,
    _print_json,
    _settings,
    app,
    user_errors,
)
from agenteval.reports.terminal_text import markup_safe


@app.command("bench")
def bench_command(
    directory: Path = typer.Argument(..., help="The dataset's folder (e.g. who_and_when/ or agentrx/ of the public datasets)."),
    dataset: str = typer.Option(..., "--dataset", help="who-and-when, agentrx or tau-bench (also who-and-when-hand-crafted, agentrx-tau, agentrx-magentic-one, ...)."),
    mode: Optional[list[str]] = typer.Option(None, "--mode", help="end-to-end, flat, rules or dag; repeat for several [default: every mode that can run]."),
    oracle: bool = typer.Option(False, "--oracle", help="Use the human failing-step labels instead of a judge: measures root-cause attribution alone."),
    algorithm: Optional[str] = typer.Option(None, "--algorithm", help="Root-cause algorithm [default: compare all with --oracle, else dag]."),
    judge: Optional[str] = typer.Option(None, "--judge", help="auto, rules or openai (judge options as for eval come from config/env)."),
    model: Optional[str] = typer.Option(None, "--model", help="Judge model name."),
    base_url: Optional[str] = typer.Option(None, "--base-url", help="OpenAI-compatible endpoint of the judge."),
    judge_mode: Optional[str] = typer.Option(None, "--judge-mode", help="holistic or checklist."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Only the first N traces (a sample for slow judges)."),
    cascade: str = typer.Option("reached", "--cascade", help="Direct/cascade rule: reached (the bad input reached the step), or ancestor (any failing ancestor: the earlier rule, to compare)."),
    llama_slots: Optional[int] = options.LlamaSlots,
    db: Optional[Path] = DbOption,
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """Measure agreement with human labels on a labeled dataset: recall, FPR, kappa, root-cause accuracy."""
    from agenteval.benchmark import bench_suite
    from agenteval.evaluate import judge_options
    from agenteval.judges.registry import build_judge
    from agenteval.reports.bench_table import PAPER, render_bench, render_paper_comparison
    from agenteval.store import open_store

    with user_errors():
        settings = _settings(db=db, judge=judge, model=model, base_url=base_url, judge_mode=judge_mode, llama_slots=llama_slots)
        if oracle or not settings.uses_llm:
            reports = bench_suite(directory, dataset, judge=None, modes=mode, oracle=oracle, algorithm=algorithm, thresholds=settings.thresholds, limit=limit, cascade=cascade)
            judge_name = "oracle (human labels)" if oracle else "rules"
        else:
            with open_store(settings.db) as store:
                chosen = build_judge(**judge_options(settings), cache=store if settings.cache else None)
                reports = bench_suite(directory, dataset, judge=chosen, modes=mode, algorithm=algorithm, thresholds=settings.thresholds, limit=limit, cascade=cascade)
            judge_name = chosen.name
    with_model = not oracle and settings.uses_llm
    if as_json:
        if mode and len(mode) == 1 and len(reports) == 1:
            _print_json(next(iter(reports.values())).model_dump(mode="json"))
        else:
            _print_json({"dataset": dataset, "judge": judge_name, "oracle": oracle,
                         "results": {k: v.model_dump(mode="json") for k, v in reports.items()},
                         **({"paper": PAPER} if with_model else {})})
    else:
        render_bench(f"{dataset} ({directory}), judge: {judge_name}", reports, _out())
        if with_model:
            render_paper_comparison(f"Beside the paper (its 450 production cases, GPT-4o; {dataset} here)", reports, _out())


@app.command("calibrate")
def calibrate_command(
    directory: Path = typer.Argument(..., help="The labeled dataset's folder."),
    dataset: str = typer.Option(..., "--dataset", help="who-and-when, agentrx or tau-bench (or a subset name)."),
    max_fpr: float = typer.Option(0.10, "--max-fpr", help="False-positive ceiling the thresholds must respect."),
    config: Path = typer.Option(Path("agenteval.toml"), "--config", help="Config file to write the thresholds to."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the thresholds without writing them."),
    judge: Optional[str] = typer.Option(None, "--judge", help="auto, rules or openai."),
    model: Optional[str] = typer.Option(None, "--model", help="Judge model name."),
    base_url: Optional[str] = typer.Option(None, "--base-url", help="OpenAI-compatible endpoint of the judge."),
    db: Optional[Path] = DbOption,
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """Grid-search per-type thresholds on labeled data (max kappa under an FPR ceiling) and write them to the config."""
    from agenteval.benchmark import judge_labeled
    from agenteval.calibrate import calibrate
    from agenteval.config import write_thresholds
    from agenteval.datasets import load_dataset
    from agenteval.evaluate import judge_options
    from agenteval.judges.registry import build_judge
    from agenteval.store import open_store

    with user_errors():
        settings = _settings(db=db, judge=judge, model=model, base_url=base_url)
        labeled = load_dataset(dataset, directory)
        with open_store(settings.db) as store:
            chosen = build_judge(**judge_options(settings), cache=store if settings.cache else None)
            judgments = judge_labeled(labeled, chosen)
        result = calibrate(labeled, judgments, max_fpr=max_fpr)
        if not dry_run:
            write_thresholds(result.thresholds, config)
    if as_json:
        _print_json(result.model_dump(mode="json"))
        return
    console = _out()
    fmt = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
    console.print(f"{result.n_steps} labeled steps judged by {chosen.name}")
    console.print("thresholds: " + ", ".join(f"{t.value} {v:.2f}" for t, v in result.thresholds.items()))
    console.print(f"kappa {fmt(result.default_kappa)} -> {fmt(result.kappa)}, FPR {fmt(result.default_fpr)} -> {fmt(result.fpr)} (ceiling {max_fpr})")
    if not dry_run:
        console.print(f"written to {markup_safe(config)}")

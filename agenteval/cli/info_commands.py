"""Commands that describe agenteval itself: schema, formats, rubrics, taxonomy."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from agenteval.cli import (
    EXIT_BAD_INPUT,
    _out,
    _print_error,
    _print_json,
    app,
    user_errors,
)
from agenteval.reports.terminal_text import markup_safe
from agenteval.errors import AgentEvalError
from agenteval.cli import schema_app


@schema_app.command("trace")
def schema_trace_command() -> None:
    """JSON Schema of agenteval's own trace format."""
    from agenteval.models import Trace

    _print_json(Trace.model_json_schema())


@app.command("formats")
def formats_command() -> None:
    """List the trace formats agenteval reads."""
    from agenteval.formats import available_formats, get_reader

    console = _out()
    with user_errors():
        for name in available_formats():
            console.print(f"[bold]{name:<14}[/] {get_reader(name).description}", highlight=False)



rubrics_app = typer.Typer(help="List, show and validate the judge's rubrics.", no_args_is_help=True)
app.add_typer(rubrics_app, name="rubrics")
RubricsDir = typer.Option(None, "--rubrics", help="Folder of rubric YAML files [default: the bundled ones].")


@rubrics_app.command("list")
def rubrics_list_command(rubrics: Optional[Path] = RubricsDir) -> None:
    """List the rubric of each step type: version, metrics, source file."""
    from agenteval.rubrics import load_rubrics

    with user_errors():
        rubric_set = load_rubrics(rubrics)
    console = _out()
    for step_type, rubric in rubric_set.rubrics.items():
        metrics = ", ".join(m.name for m in rubric.metrics)
        console.print(f"[bold]{step_type.value:<9}[/] v{rubric.version} ({rubric.fingerprint})  {metrics}  [dim]{markup_safe(rubric_set.sources.get(step_type, ''))}[/]", highlight=False)


@rubrics_app.command("show")
def rubrics_show_command(
    step_type: str = typer.Argument(..., help="PLAN, TOOLSEL, PARAMGEN, EXEC or SYNTH."),
    rubrics: Optional[Path] = RubricsDir,
) -> None:
    """Print one step type's rubric: metrics, level descriptions, anchors and checks."""
    import yaml

    from agenteval.models import StepType
    from agenteval.rubrics import load_rubrics

    with user_errors():
        try:
            kind = StepType(step_type.upper())
        except ValueError:
            raise AgentEvalError(f"unknown step type '{step_type}' (choose from PLAN, TOOLSEL, PARAMGEN, EXEC, SYNTH)") from None
        rubric = load_rubrics(rubrics).for_type(kind)
    sys.stdout.write(yaml.safe_dump(rubric.model_dump(mode="json"), sort_keys=False, allow_unicode=True, width=100))


@rubrics_app.command("validate")
def rubrics_validate_command(directory: Path = typer.Argument(..., help="Folder of rubric YAML files.")) -> None:
    """Check a folder of rubric files; print each problem and exit 2 if there are any."""
    from agenteval.rubrics import validate_rubric_dir

    with user_errors():
        problems = validate_rubric_dir(directory)
    for problem in problems:
        _print_error(problem)
    if problems:
        raise typer.Exit(EXIT_BAD_INPUT)
    _out().print(f"{markup_safe(directory)}: rubrics are valid")


@app.command("taxonomy")
def taxonomy_command(
    file: Optional[Path] = typer.Option(None, "--file", help="A taxonomy YAML file [default: the bundled one]."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """Print the failure taxonomy as a tree (3 levels, codes, definitions, step types)."""
    from agenteval.reports.taxonomy_tree import render_taxonomy
    from agenteval.taxonomy import load_taxonomy

    with user_errors():
        taxonomy = load_taxonomy(file)
    if as_json:
        _print_json(taxonomy.model_dump(mode="json"))
    else:
        render_taxonomy(taxonomy, _out())


# --- compare, gate, export, import: regression reports and the deploy gate -------------------------

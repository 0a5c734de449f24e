"""What every dataset importer returns: a trace with the labels humans gave it."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agenteval.errors import TraceError
from agenteval.models import Trace


class LabeledTrace(BaseModel):
    """One trace of a labeled dataset and its gold labels (all step ids are ids of ``trace``)."""

    model_config = ConfigDict(extra="forbid")

    trace: Trace = Field(description="The trace, with step ids that keep the dataset's indexing.")
    dataset: str = Field(description="Registry name of the dataset, e.g. 'agentrx'.")
    subset: str | None = Field(None, description="Part of the dataset, e.g. 'tau-retail', 'hand-crafted'.")
    failed: bool | None = Field(None, description="Gold trace outcome: True failed, False succeeded, None unknown.")
    failing_steps: dict[str, str | None] = Field(
        default_factory=dict,
        description="Gold failing step id -> normalised (lowercase) category, None when uncategorised.",
    )
    root_cause: str | None = Field(None, description="Gold decisive step id.")
    root_cause_agent: str | None = Field(None, description="Agent the annotators blamed, as they spelled it.")
    negatives: list[str] | None = Field(
        None, description="Step ids known to be correct (for false positive rates); None when unknown."
    )
    units: dict[str, str] = Field(
        default_factory=dict,
        description="Step id -> the labeled step it is part of, where one label covers several steps (a "
        "message split into TOOLSEL and PARAMGEN, a tool's answer to the call that requested it); others "
        "are their own unit.",
    )

    def unit(self, step_id: str) -> str:
        """The labeled step a step's prediction is read at (itself unless ``units`` says otherwise)."""
        return self.units.get(step_id, step_id)

    @property
    def step_labeled(self) -> bool:
        """Whether the trace has step-level labels (gold failing steps or known-correct steps)."""
        return bool(self.failing_steps) or self.negatives is not None


Loader = Callable[[Path], list[LabeledTrace]]


def normalise_category(category: str | None) -> str | None:
    """Lowercase, single-spaced category text; None for empty."""
    if category is None:
        return None
    text = " ".join(str(category).lower().split())
    return text or None


def normalise_agent(name: str | None) -> str:
    """An agent name for comparisons: lowercase letters and digits only ('Websurfer' == 'WebSurfer')."""
    return re.sub(r"[^a-z0-9]", "", (name or "").lower())


def require_dir(directory: Path, *, holds: tuple[str, ...] = ()) -> Path:
    """The dataset folder, checked to exist and to hold at least one of ``holds``.

    Raises:
        TraceError: the folder is missing or holds none of the expected entries.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise TraceError("dataset folder not found", source=str(directory))
    if holds and not any((directory / name).exists() for name in holds):
        raise TraceError(f"not a dataset folder: expected {' or '.join(holds)} inside", source=str(directory))
    return directory


def read_json(path: Path) -> Any:
    """A JSON file's value.

    Raises:
        TraceError: unreadable or invalid JSON (names the file).
    """
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TraceError("no such file", source=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TraceError(f"cannot read file: {exc}", source=str(path)) from None
    except json.JSONDecodeError as exc:
        raise TraceError(f"invalid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})", source=str(path)) from None

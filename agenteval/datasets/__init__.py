"""Labeled public datasets as :class:`~agenteval.datasets.base.LabeledTrace` lists, by name.

``DATASETS`` maps a name to a loader ``load(directory) -> list[LabeledTrace]``; each loader
imports its module only when called. ``DATASET_FOLDERS`` says which folder of a data root
(such as the one the project's data README describes) each name reads.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from agenteval.datasets.base import LabeledTrace, Loader
from agenteval.errors import TraceError

__all__ = ["DATASETS", "DATASET_FOLDERS", "LabeledTrace", "Loader", "load_dataset"]


def _lazy(target: str) -> Loader:
    module, _, attr = target.partition(":")

    def load(directory: Path) -> list[LabeledTrace]:
        return getattr(importlib.import_module(module), attr)(Path(directory))

    load.__name__ = attr
    load.__doc__ = f"Load with {target} (imported on first use)."
    return load


DATASETS: dict[str, Loader] = {
    "who-and-when": _lazy("agenteval.datasets.whoandwhen:load"),
    "who-and-when-algorithm-generated": _lazy("agenteval.datasets.whoandwhen:load_algorithm_generated"),
    "who-and-when-hand-crafted": _lazy("agenteval.datasets.whoandwhen:load_hand_crafted"),
    "agentrx": _lazy("agenteval.datasets.agentrx:load"),
    "agentrx-tau": _lazy("agenteval.datasets.agentrx:load_tau"),
    "agentrx-magentic-one": _lazy("agenteval.datasets.agentrx:load_magentic"),
    "tau-bench": _lazy("agenteval.datasets.taubench:load"),
}

#: Folder each dataset reads, relative to a data root laid out like the project's shared data.
DATASET_FOLDERS: dict[str, str] = {
    "who-and-when": "who_and_when",
    "who-and-when-algorithm-generated": "who_and_when",
    "who-and-when-hand-crafted": "who_and_when",
    "agentrx": "agentrx",
    "agentrx-tau": "agentrx",
    "agentrx-magentic-one": "agentrx",
    "tau-bench": "agentrx/tau_retail",
}


def load_dataset(name: str, directory: Path) -> list[LabeledTrace]:
    """Load a registered dataset from its folder.

    Raises:
        TraceError: unknown dataset name, or a missing or malformed folder (names it).
    """
    if name not in DATASETS:
        raise TraceError(f"unknown dataset '{name}' (choose from: {', '.join(DATASETS)})")
    return DATASETS[name](Path(directory))

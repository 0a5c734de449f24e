"""Plain tau-bench run files (lists of ``{task_id, traj, reward, info, trial}``): outcomes only.

A run succeeded when its reward is 1.0. There are no step labels, so these traces measure
trace-level recall and false positive rate. Step ids are 0-based message indices. A run that
appears in several files (same task and trial) is read once.
"""

from __future__ import annotations

from pathlib import Path

from agenteval.datasets.base import LabeledTrace, read_json
from agenteval.errors import TraceError
from agenteval.formats.openai_chat import taubench_to_trace, taubench_trace_id

DATASET = "tau-bench"


def load(directory: Path) -> list[LabeledTrace]:
    """Every run in the tau-bench result files of a folder (or one file).

    Raises:
        TraceError: the path is missing, holds no run files, or a file is malformed (names it).
    """
    directory = Path(directory)
    if directory.is_file():
        files = [directory]
    elif directory.is_dir():
        files = sorted(directory.glob("*.json"))
    else:
        raise TraceError("dataset folder not found", source=str(directory))
    traces: list[LabeledTrace] = []
    seen: set[str] = set()
    for path in files:
        data = read_json(path)
        if not isinstance(data, list) or not all(
            isinstance(r, dict) and isinstance(r.get("traj"), list) and "task_id" in r for r in data
        ):
            continue  # not a run file (ground truth, schemas, ...)
        for record in data:
            trace_id = taubench_trace_id(record)
            if trace_id in seen:
                continue
            seen.add(trace_id)
            try:
                trace = taubench_to_trace(record, trace_id=trace_id)
            except TraceError as exc:
                raise TraceError(exc.message, source=str(path)) from None
            reward = record.get("reward")
            trace.metadata.update(dataset=DATASET, source=path.name)
            traces.append(
                LabeledTrace(trace=trace, dataset=DATASET, failed=None if reward is None else float(reward) < 1.0)
            )
    if not traces:
        raise TraceError("no tau-bench run files (lists of {task_id, traj, reward}) found", source=str(directory))
    return traces

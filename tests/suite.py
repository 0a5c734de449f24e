"""A test suite of stock-lookup cases recorded as an exporter records them: a fresh trace id on every run.

Each case is one native trace whose ``metadata.case_id`` names the case; ``record`` writes one run of
the suite to a folder, with the given cases failing (the tool raises), as a rerun of a real suite
would look to agenteval.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection
from pathlib import Path

CITIES = ("Leeds", "Porto", "Lyon", "Graz")


def case(i: int, *, failing: bool = False, trial: int | None = None, case_id: bool = True) -> dict:
    """Case ``i`` of the suite as a native trace dict with a fresh trace id."""
    sku, city, units = f"SKU-{1000 + i}", CITIES[i % len(CITIES)], 12 + 7 * i
    args = {"sku": sku, "warehouse": city}
    tool = {"name": "get_stock", "description": "Units in stock of a SKU in a warehouse.",
            "parameters": {"type": "object", "properties": {"sku": {"type": "string"}, "warehouse": {"type": "string"}},
                           "required": ["sku", "warehouse"], "additionalProperties": False}}
    execution = {"id": "ex1", "type": "EXEC", "parents": ["pg1"], "tool": "get_stock", "arguments": args,
                 "output": {"sku": sku, "warehouse": city, "units": units, "updated": "2024-06-01"}}
    answer = f"There are {units} units of {sku} in stock in {city} (as of 2024-06-01)."
    if failing:
        execution.update(status="error", error={"type": "UpstreamError", "message": "503 from the stock service"}, output=None)
        answer = f"I could not look up the stock of {sku} in {city}: the stock service is unavailable."
    steps = [
        {"id": "u1", "type": "USER", "output": f"How many units of {sku} are in stock in {city}?"},
        {"id": "p1", "type": "PLAN", "parents": ["u1"], "output": f"1. Look up stock of {sku} in {city}. 2. Answer."},
        {"id": "ts1", "type": "TOOLSEL", "parents": ["p1"], "tool": "get_stock"},
        {"id": "pg1", "type": "PARAMGEN", "parents": ["ts1", "u1"], "tool": "get_stock", "arguments": args},
        execution,
        {"id": "s1", "type": "SYNTH", "parents": ["ex1", "u1"], "is_final": True, "output": answer},
    ]
    metadata: dict = {"case_id": f"stock-{i:03d}"} if case_id else {}
    if trial is not None:
        metadata["trial"] = trial
    return {"id": uuid.uuid4().hex, "task": f"Report the stock of {sku} in {city}.", "tools": [tool], "steps": steps,
            "metadata": metadata}


def record(folder: Path, n: int = 60, failing: Collection = (), *, trials: int = 1, case_id: bool = True) -> Path:
    """One run of the suite: case i fails when i (every trial) or (i, trial) is in ``failing``; one file
    per case and trial."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        for t in range(trials):
            fails = i in failing or (i, t) in failing
            trace = case(i, failing=fails, trial=t if trials > 1 else None, case_id=case_id)
            name = f"case-{i:03d}" + (f"-trial-{t}" if trials > 1 else "") + ".json"
            (folder / name).write_text(json.dumps(trace), encoding="utf-8")
    return folder

"""identity: unique trace ids within a run, id prefixes, labels and display names, run-name notes."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from agenteval.errors import AgentEvalError
from agenteval.identity import UniqueIds, display_name, is_minted, name_clash, resolve_prefix, trace_label
from agenteval.models import Step, Trace


def trace(tid: str, task: str = "", **metadata) -> Trace:
    return Trace(id=tid, task=task, steps=[Step(id="s", type="SYNTH", agent=metadata.pop("agent", None))], metadata=metadata)


def test_repeated_ids_are_kept_under_ids_derived_from_their_file():
    ids = UniqueIds()
    first = ids.claim(trace("t1"), "exports/a.json")
    second = ids.claim(trace("t1"), "exports/b.json")
    third = ids.claim(trace("t1"), "other/b.json")
    fourth = ids.claim(trace("t1"), "other/b.json")
    fifth = ids.claim(trace("t1"))
    assert [t.id for t in (first, second, third, fourth, fifth)] == [
        "t1", "t1@b.json", "t1@other/b.json", "t1@other/b.json#2", "t1#2",
    ]
    assert second.metadata["original_id"] == "t1" and "original_id" not in first.metadata
    assert ids.renamed == 4


def test_prefixes_resolve_to_one_id():
    ids = ["3fa9c2e1aa", "3fa9ffff00", "b0c1"]
    assert resolve_prefix(ids, "3fa9c") == "3fa9c2e1aa"
    assert resolve_prefix(ids, "b0c1") == "b0c1"
    with pytest.raises(AgentEvalError, match=r"trace id prefix '3fa9' is ambiguous \(2 match: 3fa9c2e1aa, 3fa9ffff00\)"):
        resolve_prefix(ids, "3fa9")
    with pytest.raises(AgentEvalError, match="no step 'zz', and no step id starts with it"):
        resolve_prefix(ids, "zz", "step")


@pytest.mark.parametrize(
    "t, label",
    [
        (trace("abc", "Refund order 7", agent="support"), "support: Refund order 7"),
        (trace("abc", "Refund order 7", workflow_name="Refunds"), "Refunds: Refund order 7"),
        (trace("abc", "Refund order 7", root_span="invoke_agent support"), "invoke_agent support: Refund order 7"),
        (trace("abc", "x " * 40), "x x x x x x x x x x x x x x x x x x x x x x x x…"),
        (trace("abc"), "abc"),
    ],
)
def test_labels(t, label):
    assert trace_label(t) == label


def test_minted_ids_are_shown_by_label_and_a_short_prefix():
    assert is_minted("de2adbaf3923c7ebca5c0123456789ab") and is_minted("01a1fcc9-b199-730f-a2b3-0123456789ab")
    assert not is_minted("refund-ORD-48213") and not is_minted("weather/paris/1")
    assert display_name("de2adbaf3923c7ebca5c0123456789ab", "support: Refund") == "support: Refund (de2adbaf)"
    assert display_name("refund-ORD-48213", "support: Refund") == "refund-ORD-48213"


def test_name_clash_note():
    runs = [("r2", datetime(2026, 3, 2, 9, 30, tzinfo=timezone.utc)), ("r1", datetime(2026, 3, 1, tzinfo=timezone.utc))]
    assert name_clash("nightly", runs) == "2 runs are named 'nightly': using the newest, r2 (2026-03-02 09:30 UTC); others: r1"
    assert name_clash("nightly", runs[:1]) is None

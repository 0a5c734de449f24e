"""Case keys (cases.py) and pairing two runs by case (pairing.py): per format, per rule, and what is left unpaired."""

from __future__ import annotations

from pathlib import Path

import pytest

from agenteval.cases import case_key, validate_rule
from agenteval.errors import ConfigError
from agenteval.formats import read_paths
from agenteval.models import Step, Trace
from agenteval.pairing import match_runs
from test_compare import ok, result

REAL = Path(__file__).resolve().parent / "fixtures" / "real"


def trace(tid: str = "t1", text: str = "do it", **metadata) -> Trace:
    return Trace(id=tid, task=text, steps=[Step(id="s", type="SYNTH")], metadata=metadata)


@pytest.mark.parametrize(
    "metadata, key, source, trial",
    [
        ({"case_id": "refund-7", "epoch": 2}, "refund-7", "metadata.case_id", "2"),
        ({"example_id": 42}, "42", "metadata.example_id", None),
        ({"reference_example_id": "ex-uuid"}, "ex-uuid", "LangSmith reference_example_id", None),
        ({"attributes": {"reference_example_id": "ex-uuid"}}, "ex-uuid", "LangSmith reference_example_id", None),
        ({"format": "inspect", "task": "weather", "sample_id": "paris", "epoch": 3}, "weather/paris", "Inspect sample", "3"),
        ({"task_id": 12, "trial": 1}, "task-12", "tau-bench task_id", "1"),
        ({"case_id": ""}, None, "task text", None),  # an empty id is no id: the task text decides
    ],
)
def test_natural_keys(metadata, key, source, trial):
    found = case_key(trace(**metadata))
    if key is None:
        assert found.source == source and not found.explicit
    else:
        assert (found.key, found.source, found.trial, found.explicit) == (key, source, trial, True)


def test_task_text_then_trace_id():
    one, two = case_key(trace("a", text="Book a  table\nfor 4")), case_key(trace("b", text="Book a table for 4"))
    assert one.key == two.key and one.key.startswith("task:") and not one.explicit
    assert case_key(trace("x", text="")).key == "x"


@pytest.mark.parametrize(
    "rule, key",
    [
        ("trace-id", "t1"),
        ("task", None),  # filled below: the hash
        ("metadata:suite.row", "17"),
        ("metadata:missing", None),
        ("attr:test.case", "c-9"),
        ("attr:service.name", "billing-agent"),
        ("attr:nope", None),
    ],
)
def test_rules(rule, key):
    t = Trace(
        id="t1", task="Refund order 7",
        steps=[Step(id="s", type="SYNTH", metadata={"attributes": {"test.case": "c-9"}})],
        metadata={"suite": {"row": 17}, "attributes": {"resource.service.name": "billing-agent"}},
    )
    found = case_key(t, rule)
    if rule == "task":
        assert found.key == case_key(trace(text="Refund  order 7"), "task").key
    else:
        assert found.key == key


@pytest.mark.parametrize("rule", ["auto", " trace-id ", "metadata:case", "attr:x.y"])
def test_valid_rules(rule):
    assert validate_rule(rule) == rule.strip()


@pytest.mark.parametrize("rule", ["", "vibes", "metadata:", "attr: "])
def test_invalid_rules(rule):
    with pytest.raises(ConfigError, match="unknown pairing rule"):
        validate_rule(rule)


def test_real_exporter_output_gets_a_key():
    files, errors = read_paths([REAL])
    assert not errors
    sources = {f.format: case_key(f.traces[0]).source for f in files}
    assert sources["inspect"] == "Inspect sample"
    assert all(s in ("task text", "trace id", "Inspect sample") for s in sources.values())
    otel = next(f for f in files if f.format == "otel" and f.path.name == "weather_latest.jsonl").traces[0]
    assert case_key(otel, "attr:service.name").key is not None  # a resource attribute, through the root span


def run_results(*specs):
    """TraceResults from (trace id, case id or None, passed) specs."""
    out = []
    for tid, case, passed in specs:
        r = ok(tid) if passed else result(tid, ("ex", "EXEC", 1.0, "E2.1"))
        meta = {"case_id": case} if case else {}
        out.append(r.model_copy(update={"trace": r.trace.model_copy(update={"metadata": meta})}))
    return out


def test_fresh_trace_ids_pair_by_case():
    base = run_results(*((f"b{i}", f"c{i}", True) for i in range(60)))
    cand = run_results(*((f"x{i}", f"c{i}", True) for i in range(60)))
    matched = match_runs(base, cand)
    assert matched.pairing.pairs == 60 and matched.pairing.key_sources == {"metadata.case_id": 120}
    assert (matched.pairing.base_only, matched.pairing.candidate_only, matched.pairing.ambiguous) == (0, 0, 0)


def test_unmatched_ambiguous_and_keyless_are_counted():
    base = [*run_results(("b1", "c1", True), ("b2", "c2", True)), ok("same-a"), ok("same-b")]
    cand = [*run_results(("x1", "c1", True), ("x3", "c3", True)), ok("same-c")]
    for r in (base[2], base[3], cand[2]):
        r.trace.task = "identical prompt"
    matched = match_runs(base, cand)
    p = matched.pairing
    assert (p.pairs, p.base_only, p.candidate_only, p.ambiguous) == (1, 1, 1, 1)
    assert p.base_only_cases == ["c2"] and p.candidate_only_cases == ["c3"] and p.ambiguous_cases == ["same-a"]
    # the ambiguous task is compared unpaired on both sides
    assert sorted(len(c.base) for c in matched.base_unpaired) == [1, 2]
    assert [len(c.candidate) for c in matched.candidate_unpaired] == [1, 1]
    keyless = match_runs(base, cand, "metadata:case_id").pairing
    assert keyless.missing_key == 3 and keyless.pairs == 1


def test_auto_falls_back_to_trace_ids_when_they_pair_more():
    base = [ok("t1"), ok("t2")]
    cand = [ok("t1"), ok("t2")]
    for r in (*base, *cand):
        r.trace.task = "same prompt for every case"
    matched = match_runs(base, cand)
    assert matched.pairing.used == "trace-id" and matched.pairing.pairs == 2
    assert "the runs share 2 trace ids but only 0 case keys" in matched.pairing.note


def test_repeated_trials_are_clusters():
    base = run_results(*((f"b{i}{t}", f"c{i}", True) for i in range(4) for t in range(3)))
    cand = run_results(*((f"x{i}{t}", f"c{i}", t != 0) for i in range(4) for t in range(3)))
    matched = match_runs(base, cand)
    assert matched.pairing.pairs == 4 and matched.pairing.trials == 3
    assert all(len(c.base) == len(c.candidate) == 3 for c in matched.paired)


def test_langsmith_reference_example_id_reaches_the_case_key(tmp_path):
    import json

    batch = json.loads((REAL / "langsmith" / "weather_ingest.jsonl").read_text(encoding="utf-8"))
    root = next(r for r in batch["post"] if r["id"] == r["trace_id"])
    root["reference_example_id"] = "3f1c2d0e-example"
    path = tmp_path / "runs.jsonl"
    path.write_text(json.dumps(batch) + "\n", encoding="utf-8")
    (parsed,), errors = read_paths([path])
    assert not errors
    found = case_key(parsed.traces[0])
    assert (found.key, found.source) == ("3f1c2d0e-example", "LangSmith reference_example_id")


def test_otel_root_span_and_resource_attributes_name_the_case(tmp_path):
    import json

    lines = (REAL / "otel" / "weather_latest.jsonl").read_text(encoding="utf-8").splitlines()
    batches = [json.loads(line) for line in lines]
    for batch in batches:
        for resource in batch["resourceSpans"]:
            resource.setdefault("resource", {}).setdefault("attributes", []).append(
                {"key": "ci.case", "value": {"stringValue": "weather-paris"}})
            for scope in resource["scopeSpans"]:
                for span in scope["spans"]:
                    if not span.get("parentSpanId"):
                        span.setdefault("attributes", []).append({"key": "test.case_id", "value": {"intValue": "17"}})
    path = tmp_path / "spans.jsonl"
    path.write_text("\n".join(json.dumps(b) for b in batches) + "\n", encoding="utf-8")
    (parsed,), errors = read_paths([path])
    assert not errors
    trace = parsed.traces[0]
    assert case_key(trace, "attr:ci.case").key == "weather-paris"
    assert case_key(trace, "attr:test.case_id").key == "17"
    assert trace.metadata["root_span"].startswith("invoke_agent")

import json
from pathlib import Path

import pytest

from agenteval.dag import StepDAG
from agenteval.datasets import DATASET_FOLDERS, DATASETS, load_dataset
from agenteval.datasets.agentrx import category, category_for_code, load_tau
from agenteval.datasets.base import LabeledTrace, normalise_agent
from agenteval.datasets.magentic import history_to_trace
from agenteval.datasets.whoandwhen import group_chat_to_trace, load_hand_crafted
from agenteval.errors import TraceError
from agenteval.models import StepType

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="module")
def data_root() -> Path:
    """The shared labeled data (read in place, never copied into the repository)."""
    if not (SHARED / "who_and_when").is_dir() or not (SHARED / "agentrx").is_dir():
        pytest.fail(f"shared labeled data not found at {SHARED} (expected who_and_when/ and agentrx/ there)")
    return SHARED


@pytest.fixture(scope="module")
def loaded(data_root) -> dict[str, list[LabeledTrace]]:
    names = ("who-and-when", "agentrx-tau", "agentrx-magentic-one", "tau-bench")
    return {name: load_dataset(name, data_root / DATASET_FOLDERS[name]) for name in names}


def test_every_shared_trace_loads(loaded, data_root):
    counts = {name: len(traces) for name, traces in loaded.items()}
    assert counts == {"who-and-when": 134, "agentrx-tau": 73, "agentrx-magentic-one": 32, "tau-bench": 73}
    for traces in loaded.values():
        for gold in traces:
            StepDAG.from_trace(gold.trace)
    # Every Magentic-One history parses, labeled or not.
    for path in sorted((data_root / "agentrx" / "magentic_one").glob("*.json")):
        StepDAG.from_trace(history_to_trace(json.loads(path.read_text()), trace_id=path.stem, index_base=1))


def test_registry_covers_the_combined_loaders(data_root):
    assert {"who-and-when", "agentrx", "tau-bench"} <= set(DATASETS)
    both = DATASETS["agentrx"](data_root / "agentrx")
    assert len(both) == 73 + 32


@pytest.mark.parametrize("name", ["who-and-when", "agentrx-tau", "agentrx-magentic-one"])
def test_labels_name_existing_steps(loaded, name):
    for gold in loaded[name]:
        ids = {s.id for s in gold.trace.steps}
        assert set(gold.failing_steps) <= ids
        assert gold.root_cause is None or gold.root_cause in gold.failing_steps
        assert set(gold.negatives or []) <= ids
        assert not set(gold.negatives or []) & set(gold.failing_steps)


@pytest.mark.parametrize("name", ["who-and-when", "agentrx-tau", "agentrx-magentic-one"])
def test_labeled_agent_is_the_speaker_of_the_labeled_step(loaded, name):
    rooted = [g for g in loaded[name] if g.root_cause is not None]
    steps = [{s.id: s for s in g.trace.steps}[g.root_cause] for g in rooted]
    matches = sum(normalise_agent(s.agent) == normalise_agent(g.root_cause_agent) for s, g in zip(steps, rooted))
    assert rooted and matches / len(rooted) >= 0.95


def test_who_and_when_ids_are_zero_based_history_indices(loaded, data_root):
    for gold in loaded["who-and-when"]:
        for position, step in enumerate(gold.trace.steps):
            assert step.id == str(position) == str(step.metadata["message_index"])
        assert gold.failed is True and gold.failing_steps == {gold.root_cause: None}
        mistake = int(gold.root_cause)
        assert gold.negatives == [s.id for s in gold.trace.steps[:mistake] if s.type.judged]
    record = json.loads((data_root / "who_and_when" / "Hand-Crafted" / "1.json").read_text())
    gold = next(g for g in loaded["who-and-when"] if g.trace.id == "hand-crafted/1")
    assert gold.root_cause == record["mistake_step"]
    assert gold.trace.steps[0].type is StepType.USER  # the human question


def test_agentrx_tau_ids_are_the_message_index_field(loaded, data_root):
    runs = json.loads((data_root / "agentrx" / "tau_retail" / "tau_dataset_failed.json").read_text())
    by_task = {str(r["task_id"]): r for r in runs}
    for gold in loaded["agentrx-tau"]:
        task = gold.trace.id.rsplit("-", 1)[1]
        if task not in by_task:
            continue
        firsts = [s for s in gold.trace.steps if "." not in s.id]
        assert [s.id for s in firsts] == [str(m["index"]) for m in by_task[task]["traj"]]
        assert firsts[0].type is StepType.SYSTEM and firsts[0].id == "1"
    labeled = [g for g in loaded["agentrx-tau"] if g.step_labeled]
    assert len(labeled) == 20 and all(g.failed for g in labeled)
    outcomes = [g.failed for g in loaded["agentrx-tau"] if not g.step_labeled]
    assert outcomes.count(False) == 53


def test_agentrx_magentic_ids_are_one_based(loaded):
    for gold in loaded["agentrx-magentic-one"]:
        assert [s.id for s in gold.trace.steps] == [str(i) for i in range(1, len(gold.trace.steps) + 1)]
        assert gold.trace.steps[0].type is StepType.USER
        assert all(cat is not None and cat == cat.lower() for cat in gold.failing_steps.values())


def test_same_histories_differ_only_in_index_base(loaded, data_root):
    hand = {g.trace.metadata["question_id"]: g for g in load_hand_crafted(data_root / "who_and_when")}
    for gold in loaded["agentrx-magentic-one"]:
        twin = hand[gold.trace.id.split("/", 1)[1]].trace
        assert [s.type for s in twin.steps] == [s.type for s in gold.trace.steps]
        assert [int(s.id) + 1 for s in twin.steps] == [int(s.id) for s in gold.trace.steps]


def test_tau_bench_outcomes(loaded):
    traces = loaded["tau-bench"]
    assert sum(g.failed for g in traces) == 20 and not any(g.step_labeled for g in traces)
    assert traces[0].trace.steps[0].id == "0"


@pytest.mark.parametrize("name", list(DATASETS))
def test_missing_folder_is_a_trace_error(tmp_path, name):
    missing = tmp_path / "nope"
    with pytest.raises(TraceError) as caught:
        DATASETS[name](missing)
    assert str(missing) in str(caught.value)


def test_unknown_dataset_name():
    with pytest.raises(TraceError, match="unknown dataset 'x'"):
        load_dataset("x", Path("."))


def test_malformed_who_and_when_record_names_the_file(tmp_path):
    folder = tmp_path / "Hand-Crafted"
    folder.mkdir()
    (folder / "1.json").write_text(json.dumps({"history": [{"role": "human", "content": "q"}], "mistake_step": "4"}))
    with pytest.raises(TraceError) as caught:
        load_dataset("who-and-when", tmp_path)
    assert str(folder / "1.json") in str(caught.value) and "mistake_step 4" in str(caught.value)


def _tau_layout(root: Path, traj: list[dict], failures: list[dict]) -> Path:
    (root / "tau_retail").mkdir(parents=True)
    (root / "ground_truth").mkdir()
    run = {"task_id": 5, "trial": 0, "reward": 0.0, "info": {}, "traj": traj}
    (root / "tau_retail" / "tau_dataset_failed.json").write_text(json.dumps([run]))
    truth = [{"trajectory_id": 5, "failures": failures, "root_cause": {"failure_id": "2"}}]
    (root / "ground_truth" / "tau_ground_truth.json").write_text(json.dumps(truth))
    return root


TRAJ = [
    {"role": "system", "content": "policy", "index": 1},
    {"role": "user", "content": "cancel #W1", "index": 2},
    {
        "role": "assistant",
        "content": None,
        "index": 3,
        "tool_calls": [{"id": "c", "type": "function", "function": {"name": "cancel", "arguments": "{}"}}],
    },
    {"role": "tool", "tool_call_id": "c", "name": "cancel", "content": "done", "index": 4},
    {"role": "assistant", "content": "Cancelled.", "index": 5},
]


def test_agentrx_tau_labels_from_our_own_layout(tmp_path):
    failures = [
        {"failure_id": 1, "step_number": 2, "failure_category": "Underspecified User Intent", "failed_agent": "User"},
        {
            "failure_id": 2,
            "step_number": 3,
            "failure_category": "Instruction Adherence Failure",
            "failed_agent": "Assistant",
        },
    ]
    (gold,) = load_tau(_tau_layout(tmp_path, TRAJ, failures))
    assert gold.failing_steps == {"2": "underspecified user intent", "3": "instruction/plan adherence failure"}
    assert (gold.root_cause, gold.root_cause_agent) == ("3", "Assistant")
    # The other step of the failing message (its PARAMGEN) and the tool's answer to that call (4) are
    # part of the labeled call: neither failing nor negatives, and a prediction on them reads at 3.
    assert gold.negatives == ["5"]
    assert gold.units == {"3.paramgen0": "3", "4": "3"}
    assert (gold.unit("4"), gold.unit("5")) == ("3", "5")


def test_agentrx_tau_index_mismatch_is_reported(tmp_path):
    traj = [dict(m) for m in TRAJ]
    traj[3]["index"] = 7
    with pytest.raises(TraceError, match="message 4 has index 7"):
        load_tau(_tau_layout(tmp_path, traj, [{"failure_id": 2, "step_number": 3}]))


def test_agentrx_label_on_a_missing_step_is_reported(tmp_path):
    with pytest.raises(TraceError, match="step_number 99 is not a step"):
        load_tau(_tau_layout(tmp_path, TRAJ, [{"failure_id": 2, "step_number": 99}]))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Instruction/Plan Adherence Failure", "instruction/plan adherence failure"),
        ("Instruction Adherence Failure", "instruction/plan adherence failure"),
        ("Intent Not Supported", "intent not supported"),
        ("  Invention of new   information ", "invention of new information"),
        (None, None),
    ],
)
def test_category_normalisation(text, expected):
    assert category(text) == expected


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("E3.1", "misinterpretation of tool output"),
        ("E1.1", "invalid invocation"),
        ("I1.1", "invention of new information"),
        ("Z9", None),
        (None, None),
    ],
)
def test_category_for_code(code, expected):
    assert category_for_code(code) == expected


def test_magentic_typing_and_edges():
    trace = history_to_trace(
        [
            {"role": "human", "content": "How tall is the tower?"},
            {"role": "Orchestrator (thought)", "content": "Initial plan: ask WebSurfer."},
            {"role": "Orchestrator (-> WebSurfer)", "content": "Search the tower height."},
            {"role": "Orchestrator (thought)", "content": "Next speaker WebSurfer"},
            {
                "role": "WebSurfer",
                "content": "Error processing publish message\nTraceback (most recent call last): ...",
            },
            {"role": "Orchestrator (thought)", "content": "Updated Ledger: retry"},
            {"role": "Orchestrator (termination condition)", "content": "FINAL ANSWER: 300 m"},
        ],
        trace_id="m",
    )
    steps = trace.steps
    assert [s.type for s in steps] == [
        StepType.USER,
        StepType.PLAN,
        StepType.TOOLSEL,
        StepType.PLAN,
        StepType.EXEC,
        StepType.PLAN,
        StepType.SYNTH,
    ]
    assert [s.parents for s in steps] == [[], ["0"], ["1"], ["2"], ["2"], ["4"], ["5"]]
    assert steps[2].tool == "WebSurfer" and steps[2].arguments == {"request": "Search the tower height."}
    assert steps[4].status == "error" and steps[4].agent == "WebSurfer"
    assert steps[6].is_final and [t.name for t in trace.tools] == ["WebSurfer"]
    assert {s.agent for s in steps[1:4]} == {"Orchestrator"}


def test_group_chat_typing_and_edges():
    trace = group_chat_to_trace(
        [
            {"name": "Math_Expert", "role": "assistant", "content": "Task: add numbers. Plan: write code."},
            {"name": "Math_Expert", "role": "user", "content": "```python\nprint(2 + 3)\n```"},
            {
                "name": "Computer_terminal",
                "role": "user",
                "content": "exitcode: 1 (execution failed)\nCode output: boom",
            },
            {"name": "Math_Expert", "role": "assistant", "content": "```python\nprint(5)\n```"},
            {
                "name": "Computer_terminal",
                "role": "user",
                "content": "exitcode: 0 (execution succeeded)\nCode output: 5",
            },
            {"name": "Checker_Expert", "role": "assistant", "content": "Looks right."},
            {"name": "Math_Expert", "role": "assistant", "content": "The answer is 5. TERMINATE"},
        ],
        trace_id="g",
        task="add",
    )
    types = [s.type for s in trace.steps]
    assert types == [
        StepType.PLAN,
        StepType.PARAMGEN,
        StepType.EXEC,
        StepType.PARAMGEN,
        StepType.EXEC,
        StepType.PLAN,
        StepType.SYNTH,
    ]
    assert [s.parents for s in trace.steps] == [[], ["0"], ["1"], ["2"], ["3"], ["4"], ["5"]]
    assert trace.steps[1].arguments == {"code": "print(2 + 3)"} and trace.steps[1].tool == "Computer_terminal"
    assert trace.steps[2].status == "error" and trace.steps[2].arguments == {"code": "print(2 + 3)"}
    assert trace.steps[4].status == "ok" and trace.steps[6].is_final

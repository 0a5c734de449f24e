from agenteval.calibrate import calibrate
from agenteval.datasets.base import LabeledTrace
from agenteval.models import Judgment, StepType
from helpers import trace


def labeled(scores_and_gold):
    steps = [(f"s{i}", step_type, []) for i, (step_type, _, _) in enumerate(scores_and_gold)]
    t = trace(*steps)
    gold = LabeledTrace(
        trace=t, dataset="test", failed=True,
        failing_steps={f"s{i}": None for i, (_, _, bad) in enumerate(scores_and_gold) if bad},
        root_cause=None, negatives=[f"s{i}" for i, (_, _, bad) in enumerate(scores_and_gold) if not bad],
    )
    marks = {f"s{i}": Judgment(step_id=f"s{i}", judge="j", score=score) for i, (_, score, _) in enumerate(scores_and_gold)}
    return gold, {t.id: marks}


def test_finds_a_threshold_that_separates_the_labels():
    # SYNTH scores: bad steps score 3.5 (the default 3.0 threshold misses them), good ones 4.5.
    rows = [("SYNTH", 3.5, True)] * 4 + [("SYNTH", 4.5, False)] * 6 + [("PLAN", 2.0, True), ("PLAN", 4.0, False)]
    gold, marks = labeled(rows)
    result = calibrate([gold], marks, max_fpr=0.1)
    assert result.default_kappa < result.kappa == 1.0
    assert 3.5 < result.thresholds[StepType.SYNTH] <= 4.5
    assert result.fpr == 0.0 and result.n_steps == 12


def test_respects_the_false_positive_ceiling():
    # Separating all failures would flag a correct step: with a 0 ceiling the defaults stay.
    rows = [("EXEC", 3.5, True), ("EXEC", 3.5, False), ("EXEC", 4.5, False), ("EXEC", 1.0, True)]
    gold, marks = labeled(rows)
    result = calibrate([gold], marks, max_fpr=0.0)
    assert result.fpr == 0.0
    assert result.thresholds[StepType.EXEC] <= 3.5


def test_judge_errors_and_unassessed_steps_are_ignored():
    gold, marks = labeled([("PLAN", 1.0, True), ("PLAN", 5.0, False)])
    marks[gold.trace.id]["s0"] = Judgment(step_id="s0", judge="j", error="boom")
    assert calibrate([gold], marks).n_steps == 1

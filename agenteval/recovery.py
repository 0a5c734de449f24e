"""Whether the agent recovered from a failed tool call: the one definition the rules judge and
propagation share. Pure functions over the trace and its DAG (no judgments, no I/O).

A tool call is the EXEC step that ran it plus the TOOLSEL and PARAMGEN steps that chose the tool and
wrote its arguments. A call *failed in the trace* when its EXEC raised, timed out, or returned
nothing. The agent recovered from such a call when a later step shows the goal was reached or the
damage contained:

* **retried**: a later call of the same tool succeeded (a plain retry, or one with corrected
  arguments); after an empty result, only a call that returned something counts;
* **replaced**: a later call of another tool succeeded with the same request: its arguments carry
  every distinctive value of the failed call's (the same order and items, file, URL or query), so
  another way achieved what the failed call was for;
* **acknowledged**: the failure was noticed and did not turn into a false claim. Which notice counts
  depends on what failed. A tool that *refused* (it worked and answered no: "user not found", "order
  cannot be cancelled") is acknowledged by the agent's first answer after it telling the user, or by
  its own next step on the result saying so. A tool that *malfunctioned* (see ``malfunctioned``: timed
  out, a 5xx, a lost connection, a crash) is acknowledged only by a next step that says so and goes
  on another way (a step that consumed the result and that later steps build on): a final answer
  that only reports the outage means the run stopped short of its goal, so the failure stands.

A failed execution and a wrong decision are undone differently. The EXEC step is recovered by any
of the three. A TOOLSEL or PARAMGEN step of the call whose finding says the call itself was wrong
(``correctable``: a tool that does not exist or does not fit, arguments that break the schema or
are invented or wrong) is recovered only by the same call made again and corrected: a later
successful call of the same tool on the same target (it shares a distinctive argument value:
"retried"), or of another tool with the same request ("replaced").
Acknowledging contains the damage; it does not undo a wrong decision. And a later call of a general
tool (a code runner, a browser) on something else is another decision, not a correction. A call
whose execution did not fail in the trace has nothing to recover from: a model judge's verdict that
the result was wrong is not undone by a later call of that tool.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from agenteval.dag import StepDAG
from agenteval.models import Step, StepType

#: Words by which an answer tells the user something did not work. Courtesy alone ("sorry your
#: blender arrived damaged", "unfortunately") says nothing of a failure and does not count.
ACKNOWLEDGE = re.compile(
    r"\b(?:errors?|fail(?:ed|s|ure)?|unsuccessful|unable|couldn't|could not|can't|cannot|can not"
    r"|not able|n't able|timed out|time[sd]? ?out"
    r"|did not (?:work|go through|succeed)|didn't (?:work|go through|succeed)|was not (?:possible|successful)"
    r"|(?:is|are|was|were)(?: currently| still)? not available|(?:isn't|aren't|wasn't|weren't)(?: currently| still)? available"
    r"|unavailable|inaccessible|unreachable"
    r"|not (?:found|possible|allowed|permitted|supported|eligible|valid|installed|accessible|reachable|responding)|invalid"
    r"|(?:doesn't|does not|don't|do not|won't|will not) (?:allow|permit|support|exist|work)"
    r"|no (?:results?|matches|records?|data) (?:were |was )?(?:found|returned)"
    r"|(?:isn't|aren't|wasn't|weren't|is not|are not|was not|were not) (?:possible|allowed|permitted|found))\b",
    re.IGNORECASE,
)

#: Errors that say the tool broke rather than answered: timeouts, server errors, lost connections,
#: crashes. Anything else a tool reports as an error is taken as its answer (a refusal).
MALFUNCTION = re.compile(
    r"\b(?:50[0-9]|429)\b|time[sd]?[\s_-]?out|deadline[\s_-]exceeded|connection|unreachable"
    r"|(?:service|server|processor|backend|api|upstream|gateway|database|system|provider)s?"
    r" (?:is |are |was |were |currently |temporarily )*(?:unavailable|down|unreachable|overloaded)"
    r"|temporarily unavailable|bad gateway|internal (?:server )?error"
    r"|rate[\s_-]?limit|too many requests|traceback|exit ?code:? ?[1-9]|execution failed"
    r"|segmentation fault|out of memory|crash",
    re.IGNORECASE,
)

#: Argument values this short (or small integers) are too common to identify a call's target.
_MIN_TARGET_CHARS = 3
_TRIVIAL_INT = 10

How = Literal["retried", "replaced", "acknowledged"]


@dataclass(frozen=True)
class Recovery:
    """How the agent recovered from a failed call.

    Attributes:
        how: "retried", "replaced" or "acknowledged" (see the module docstring).
        step_id: The later step that shows it: the successful EXEC, or the acknowledging answer.
        tool: The tool of that successful call (None for an acknowledgement).
    """

    how: How
    step_id: str
    tool: str | None = None

    def describe(self) -> str:
        """One line for reasons and reports, e.g. "retried: lookup succeeded in step e4"."""
        if self.how == "acknowledged":
            return f"acknowledged in step {self.step_id}"
        verb = "retried" if self.how == "retried" else "replaced"
        return f"{verb}: {self.tool or 'a tool'} succeeded in step {self.step_id}"


def is_empty(value: object) -> bool:
    """Whether a step's output holds nothing: None, blank text, or an empty list or object."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    return isinstance(value, (dict, list, tuple)) and not value


def acknowledges_failure(text: str) -> bool:
    """Whether an answer tells the user that something did not work."""
    return bool(ACKNOWLEDGE.search(text.replace("\u2019", "'")))


def returned_nothing(step: Step) -> bool:
    """Whether a step's recorded output is empty (an output the trace did not record is unknown,
    not empty)."""
    return "output" not in step.unrecorded and is_empty(step.output)


def malfunctioned(step: Step) -> bool:
    """Whether a failed EXEC's tool broke (timed out, a server error, a lost connection, a crash)
    rather than answered with a refusal; a bare error status with no text counts as broken."""
    if step.status == "timeout":
        return True
    text = " ".join(p for p in (step.error.type, step.error.message) if p) if step.error else ""
    if not text and isinstance(step.output, str):
        text = step.output
    return not text.strip() or bool(MALFUNCTION.search(text))


def execution_failed(step: Step) -> bool:
    """Whether an EXEC step failed in the trace: it raised, timed out or returned nothing."""
    return step.type is StepType.EXEC and (step.failed_in_trace or returned_nothing(step))


def succeeded(step: Step, *, with_content: bool = False) -> bool:
    """Whether an EXEC step ran without error (and, with ``with_content``, did not come back empty).
    A call whose result the trace did not record counts when the trace shows it completing: missing
    content must not fail a trace."""
    if step.type is not StepType.EXEC or step.failed_in_trace:
        return False
    return not with_content or not returned_nothing(step)


def call_exec(dag: StepDAG, step_id: str) -> Step | None:
    """The EXEC step of the call a step belongs to: the step itself for an EXEC; for a TOOLSEL or
    PARAMGEN, the first EXEC downstream that runs its tool (or shares its tool_call_id)."""
    step = dag.step(step_id)
    if step.type is StepType.EXEC:
        return step
    if step.type not in (StepType.TOOLSEL, StepType.PARAMGEN):
        return None
    tool = step.tool or (step.output.strip() if isinstance(step.output, str) else None)
    for other in dag.descendants(step_id):
        candidate = dag.step(other)
        if candidate.type is not StepType.EXEC:
            continue
        if step.tool_call_id and candidate.tool_call_id:
            if candidate.tool_call_id == step.tool_call_id:
                return candidate
        elif candidate.tool == tool:
            return candidate
    return None


def correctable(code: str | None) -> bool:
    """Whether a failure code says the call itself was wrong (its tool: P3.1, P3.2; its arguments:
    E1.x), so that a corrected call undoes it. Other findings on a TOOLSEL or PARAMGEN step (a wrong
    goal, a redundant call, an uncoded verdict) are about the decision, which a later call does not
    take back."""
    return code is not None and (code in ("P3.1", "P3.2") or code.startswith("E1."))


def recovery(
    dag: StepDAG, step_id: str, *, code: str | None = None, before: int | None = None
) -> Recovery | None:
    """How the agent recovered from the failed call that ``step_id`` belongs to, or None.

    Args:
        dag: the trace's DAG.
        step_id: a step of the call (its TOOLSEL, PARAMGEN or EXEC).
        code: the step's failure code; a TOOLSEL or PARAMGEN step is recoverable only when it is
            ``correctable``.
        before: only look at steps earlier than this trace position (to ask "had it recovered by
            the time of this answer?").

    Returns:
        None when the step is not part of a call, the call's execution did not fail in the trace,
        or nothing later shows a recovery (see the module docstring for what does).
    """
    step = dag.step(step_id)
    if step.type is not StepType.EXEC and not correctable(code):
        return None
    failed = call_exec(dag, step_id)
    if failed is None or not execution_failed(failed):
        return None
    start = dag.position(failed.id) + 1
    end = len(dag.trace.steps) if before is None else min(before, len(dag.trace.steps))
    later = dag.trace.steps[start:end]
    targets = _targets(_arguments(dag, failed))
    # A call that came back empty is made good only by one that returns something.
    needs_content = not failed.failed_in_trace
    answered = False
    acknowledged: Recovery | None = None
    # The agent's own next step on the failed result noticing the failure is handling it.
    limit = len(dag.trace.steps) if before is None else before
    broke = failed.failed_in_trace and malfunctioned(failed)
    for child in dag.children(failed.id):
        consumer = dag.step(child)
        if (
            consumer.type in (StepType.PLAN, StepType.SYNTH)
            and (not broke or (not consumer.is_final and dag.children(child)))
            and dag.position(child) < limit
            and acknowledges_failure(_text(consumer.output))
        ):
            acknowledged = Recovery("acknowledged", consumer.id)
            break
    for other in later:
        if other.type is StepType.SYNTH and not answered:
            answered = True
            if acknowledged is None and not broke and acknowledges_failure(_text(other.output)):
                acknowledged = Recovery("acknowledged", other.id)
        if not succeeded(other, with_content=needs_content):
            continue
        theirs = _targets(_arguments(dag, other))
        if other.tool == failed.tool and (step.type is StepType.EXEC or targets & theirs):
            return Recovery("retried", other.id, other.tool)
        if targets and targets <= theirs:
            return Recovery("replaced", other.id, other.tool)
    if acknowledged is not None and step.type is StepType.EXEC:
        return acknowledged
    return None


def recovered_steps(dag: StepDAG, failing: Mapping[str, str | None]) -> dict[str, Recovery]:
    """The failing steps (step id -> failure code) that the agent recovered from, with how."""
    found = {}
    for sid, code in failing.items():
        how = recovery(dag, sid, code=code)
        if how is not None:
            found[sid] = how
    return found


def unrecovered_failures(dag: StepDAG, before: int) -> list[Step]:
    """EXEC steps before trace position ``before`` that raised or timed out and from which the agent
    had not recovered by then, in trace order (empty results are left out: an answer built on an
    empty lookup is not claiming that a failed action succeeded)."""
    return [
        step
        for step in dag.trace.steps[:before]
        if step.type is StepType.EXEC and step.failed_in_trace and recovery(dag, step.id, before=before) is None
    ]


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return " ".join(_leaves(value))


def _arguments(dag: StepDAG, exec_step: Step) -> Any:
    """The arguments of a call: its EXEC's, else those of the PARAMGEN that feeds it."""
    if exec_step.arguments is not None:
        return exec_step.arguments
    for parent in dag.parents(exec_step.id):
        step = dag.step(parent)
        if step.type is StepType.PARAMGEN and step.arguments is not None:
            return step.arguments
    return None


def _targets(arguments: Any) -> set[str]:
    """Distinctive argument values (ids, names, paths, queries) that identify what a call acts on."""
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except ValueError:
            pass
    found = set()
    for leaf in _leaves(arguments):
        text = leaf.strip().lower()
        if len(text) < _MIN_TARGET_CHARS:
            continue
        if text.lstrip("-").isdigit() and abs(int(text)) <= _TRIVIAL_INT:
            continue
        found.add(text)
    return found


def _leaves(value: Any) -> Iterator[str]:
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, dict):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _leaves(item)
    else:
        yield str(value)

"""The rules judge: deterministic checks that need no model and no network.

It proves the failures a trace shows on its face (a tool raised, arguments break the tool's schema,
the agent called a tool that does not exist, the answer states figures nothing grounds) and leaves
everything else to a model judge, with a neutral, unassessed score. No check keys on a tool's name
or a dataset.

Scores: 5 proven fine, 4 fine as far as rules can tell, 3 not assessed (neutral placeholder),
2 likely failure, 1 proven failure. A proven hard failure (a tool error or timeout, a nonexistent
tool, a schema violation) is ``decisive``: no other judge may overturn it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agenteval.judges._arguments import InvalidSchemaError, parse_arguments, schema_violations, summarise
from agenteval.judges._grounding import grounding
from agenteval.judges._numbers import texts_in, ungrounded_numbers
from agenteval.judges import injection
from agenteval.judges.base import StepContext
from agenteval.judges.evidence import not_assessable
from agenteval.models import Judgment, Step, StepType
from agenteval.recovery import acknowledges_failure, call_exec, is_empty, unrecovered_failures

if TYPE_CHECKING:
    from agenteval.judges.base import JudgmentCache

RULES_VERSION = "2"
RUBRIC_VERSION = f"rules-{RULES_VERSION}"
NEUTRAL_SCORE = 3.0

#: An identical call (same tool, same arguments) made this many times or more is redundant.
REPEAT_LIMIT = 3

_TIMEOUT = re.compile(r"\btimed?[\s_-]?out|timeout|deadline[\s_-]exceeded", re.IGNORECASE)
_DONE = (
    r"(?:processed|refunded|completed?|updated|sent|created|issued|booked|reserved|confirmed|scheduled"
    r"|cancell?ed|approved|submitted|saved|placed|resolved|fixed|applied|added|deleted|removed|uploaded"
    r"|published|generated|analy[sz]ed|calculated|done|finished|paid|transferred|credited|escalated"
    r"|opened|filed|logged|made|set up)"
)
_SUCCESS = re.compile(
    rf"\b(?:successful(?:ly)?|succeeded|all set|done|completed"
    rf"|(?:has|have|had) been {_DONE}|(?:is|are|was|were) (?:now |all )?{_DONE}"
    rf"|I(?:'ve| have) (?:now |just |already )?{_DONE})\b",
    re.IGNORECASE,
)
#: A catalog description saying the tool gives nothing back (it acts, logs or thinks).
_NO_OUTPUT = re.compile(
    r"\b(?:returns? nothing|no (?:return value|output|result)s?\b|does(?:n't| not) return"
    r"|will not (?:obtain|return|retrieve)|not obtain (?:any )?new information"
    r"|(?:only|just) (?:logs?|records?|appends?|writes?|stores?))",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class _Finding:
    score: float
    code: str
    reason: str
    decisive: bool = False


class RulesJudge:
    """Deterministic, offline judge of single steps.

    Checks per step type:
        EXEC: the tool raised (E2.1) or timed out (E2.2), both decisive; it returned nothing where
            another call of the same tool returned content (E2.3; empty by design passes).
        PARAMGEN: the arguments are unparseable or break the tool's JSON Schema (E1.1, decisive).
        TOOLSEL: the tool is not in the catalog (P3.1, decisive); the same call is made for the
            third time or more and gets the same result each time (P3.3).
        PLAN: the plan is empty (P2.1).
        SYNTH: the answer is empty (I2.1), claims success after a tool error since the previous
            answer that the agent had not recovered from (I1.2, see agenteval.recovery), or states
            figures that no source holds and no arithmetic on grounded figures explains (I1.1).
    Whether the agent later recovered from a failure is not the step's judgment: classify marks it
    ``recovered`` with the same definition, so the failure stays visible but does not fail the trace.
    USER and SYSTEM steps are not judged. Where no check applies the judgment is a neutral,
    unassessed 3.0.
    """

    name = "rules"

    async def judge_step(self, ctx: StepContext) -> Judgment:
        """Judge one step; never raises (a crash becomes a judge_error judgment)."""
        try:
            return injection.flag(judge_step_sync(ctx), ctx)
        except Exception as exc:  # noqa: BLE001 - one odd step must not abort a whole run
            return Judgment(
                step_id=ctx.step.id,
                judge=self.name,
                error=f"rules judge failed: {type(exc).__name__}: {_one_line(str(exc))}",
                rubric_version=RUBRIC_VERSION,
            )


def build(*, cache: JudgmentCache | None = None, **_options: object) -> RulesJudge:
    """Registry factory: the rules judge takes no options and caches nothing (it is cheap)."""
    return RulesJudge()


def judge_step_sync(ctx: StepContext) -> Judgment:
    """Judge one step with the rules (the logic behind ``RulesJudge.judge_step``)."""
    missing = not_assessable(ctx.step, RulesJudge.name, rubric_version=RUBRIC_VERSION)
    if missing is not None:
        return missing
    check = _CHECKS.get(ctx.step.type)
    if check is None:
        return _neutral(ctx.step, f"{ctx.step.type.value} steps are not judged", [])
    return check(ctx)


def judge_exec(ctx: StepContext) -> Judgment:
    """EXEC: did the tool raise, time out, or return nothing where it normally returns something?"""
    step, tool = ctx.step, _tool_name(ctx) or "tool"
    checks = ["exec_timeout", "exec_error", "exec_empty"]
    timed_out = step.error and _TIMEOUT.search(f"{step.error.type or ''} {step.error.message}")
    if step.status == "timeout" or timed_out:
        finding = _Finding(1.0, "E2.2", f"{tool} timed out{_error_text(step, ': ')}", decisive=True)
    elif step.failed_in_trace:
        error = _error_text(step, "")
        reason = f"{tool} raised {error}" if error else f"{tool} failed (status '{step.status}', no message)"
        finding = _Finding(1.0, "E2.1", reason, decisive=True)
    elif is_empty(step.output):
        return _judge_empty(ctx, tool, checks)
    else:
        return _judgment(step, 5.0, f"{tool} returned a result", checks)
    return _worst(step, checks, [finding])


def _judge_empty(ctx: StepContext, tool: str, checks: list[str]) -> Judgment:
    """An empty result is a failure only where the trace shows the tool normally returns something.

    By design, some tools return nothing (they act, log or think). The trace tells which: the
    catalog says so, or every call of the tool in the trace came back empty. Only when another call
    of the same tool returned content is this empty result out of the ordinary (E2.3).
    """
    step = ctx.step
    shown = json.dumps(step.output)
    entry = ctx.trace.tool(step.tool)
    if entry is not None and _NO_OUTPUT.search(entry.description):
        return _judgment(step, 4.0, f"{tool} returned nothing ({shown}), as its description says it does", checks)
    others = [
        s for s in ctx.trace.steps
        if s.type is StepType.EXEC and s.id != step.id and s.tool == step.tool and not s.failed_in_trace
        and "output" not in s.unrecorded
    ]
    if not others:
        return _neutral(step, f"{tool} returned nothing ({shown}) in its only call; the trace cannot tell "
                        "whether that is its normal answer", checks)
    full = [s.id for s in others if not is_empty(s.output)]
    if not full:
        return _judgment(step, 4.0, f"{tool} returned nothing ({shown}), as in all its {len(others) + 1} calls "
                         "in this trace: that is its normal answer", checks)
    listed = ", ".join(full[:3]) + (f" (+{len(full) - 3} more)" if len(full) > 3 else "")
    finding = _Finding(2.0, "E2.3", f"{tool} returned an empty result ({shown}), though it returned content "
                       f"in step(s) {listed}")
    return _worst(step, checks, [finding])


def judge_paramgen(ctx: StepContext) -> Judgment:
    """PARAMGEN: do the arguments parse and validate against the tool's JSON Schema?"""
    step, name = ctx.step, _tool_name(ctx)
    tool = ctx.trace.tool(name)
    if tool is None:
        if not ctx.trace.tools:
            why = "no tool catalog to check the arguments against"
        elif name is None:
            why = "no tool name recorded"
        else:
            why = f"{name} is not in the tool catalog; its TOOLSEL step is judged for that"
        return _neutral(step, why, [])
    if not tool.parameters:
        return _neutral(step, f"{name} has no parameter schema", [])
    raw = step.arguments if step.arguments is not None else step.output
    if raw is None:
        return _neutral(step, "no arguments recorded", [])
    checks = ["arguments_json", "arguments_schema"]
    arguments, problem = parse_arguments(raw)
    if problem:
        violations = [problem]
    else:
        try:
            violations = schema_violations(arguments, tool.parameters)
        except InvalidSchemaError as exc:
            return _neutral(step, f"{name}'s parameter schema {exc.phrase}", checks[:1])
    if violations:
        finding = _Finding(1.0, "E1.1", f"{name}: {summarise(violations)}", decisive=True)
        return _worst(step, checks, [finding])
    return _judgment(step, 5.0, f"arguments validate against {name}'s schema", checks)


def judge_toolsel(ctx: StepContext) -> Judgment:
    """TOOLSEL: does the tool exist, and is the same call not made over and over?"""
    step, name = ctx.step, _selected_tool(ctx.step)
    if name is None:
        return _neutral(step, "no tool name recorded", [])
    checks, findings = ["repeated_call"], []
    if ctx.trace.tools:
        checks.insert(0, "tool_exists")
        if ctx.trace.tool(name) is None:
            catalog = [t.name for t in ctx.trace.tools]
            listed = ", ".join(catalog[:8]) + (f" (+{len(catalog) - 8} more)" if len(catalog) > 8 else "")
            reason = f"'{name}' is not in the tool catalog ({listed})"
            findings.append(_Finding(1.0, "P3.1", reason, decisive=True))
    earlier = _earlier_identical_calls(ctx, name)
    if len(earlier) + 1 >= REPEAT_LIMIT and _same_results(ctx, [*earlier, step.id]):
        findings.append(
            _Finding(
                2.0,
                "P3.3",
                f"{name} called with identical arguments for the {_ordinal(len(earlier) + 1)} time "
                f"(earlier: {', '.join(earlier)})",
            )
        )
    if findings:
        return _worst(step, checks, findings)
    if not ctx.trace.tools:
        return _neutral(step, f"no tool catalog to look '{name}' up in", checks)
    return _judgment(step, 4.0, f"{name} exists in the tool catalog", checks)


def judge_plan(ctx: StepContext) -> Judgment:
    """PLAN: rules can only tell an empty plan; anything else is left to a model judge."""
    if is_empty(ctx.step.output):
        return _worst(ctx.step, ["plan_empty"], [_Finding(1.0, "P2.1", "plan is empty")])
    return _neutral(ctx.step, "plan is non-empty", ["plan_empty"])


def judge_synth(ctx: StepContext) -> Judgment:
    """SYNTH: is the answer non-empty, honest about tool errors, and grounded in what tools returned?"""
    step = ctx.step
    answer = "\n".join(texts_in(step.output))
    if not answer.strip():
        return _worst(step, ["answer_empty"], [_Finding(1.0, "I2.1", "answer is empty")])
    checks = ["answer_empty", "false_success", "ungrounded_numbers"]
    findings = []
    failed = _unrecovered_failure(ctx)
    claim = _success_claim(answer) if failed else None
    if failed and claim:
        findings.append(
            _Finding(
                1.0,
                "I1.2",
                f'answer claims success ("{claim}") although {failed.tool or "a tool"} failed in step '
                f"{failed.id} and was not re-run successfully",
            )
        )
    ungrounded = ungrounded_numbers(answer, grounding(ctx.dag).index_for(step.id))
    if ungrounded:
        listed = ", ".join(n.text for n in ungrounded[:3]) + (
            f" (+{len(ungrounded) - 3} more)" if len(ungrounded) > 3 else ""
        )
        findings.append(_Finding(2.0, "I1.1", f"answer states numbers no tool returned: {listed}"))
    if findings:
        return _worst(step, checks, findings)
    honesty = (
        f"does not claim success after {failed.tool or 'a tool'} failed in step {failed.id}"
        if failed
        else "no unrecovered tool error"
    )
    return _judgment(step, 4.0, f"answer is non-empty and grounded in tool outputs; {honesty}", checks)


_CHECKS: dict[StepType, Callable[[StepContext], Judgment]] = {
    StepType.EXEC: judge_exec,
    StepType.PARAMGEN: judge_paramgen,
    StepType.TOOLSEL: judge_toolsel,
    StepType.PLAN: judge_plan,
    StepType.SYNTH: judge_synth,
}


def _judgment(
    step: Step,
    score: float,
    reason: str,
    checks: list[str],
    *,
    code: str | None = None,
    decisive: bool = False,
    assessed: bool = True,
) -> Judgment:
    return Judgment(
        step_id=step.id,
        judge=RulesJudge.name,
        score=score,
        assessed=assessed,
        reason=_one_line(reason),
        failure_code=code,
        decisive=decisive,
        rubric_version=RUBRIC_VERSION,
        details={"checks": checks},
    )


def _neutral(step: Step, why: str, checks: list[str]) -> Judgment:
    return _judgment(step, NEUTRAL_SCORE, f"not assessed by rules ({why})", checks, assessed=False)


def _worst(step: Step, checks: list[str], findings: list[_Finding]) -> Judgment:
    """One judgment from several findings: the lowest score decides, every reason is kept."""
    findings = sorted(findings, key=lambda f: f.score)
    worst = findings[0]
    reason = "; ".join(f.reason for f in findings)
    return _judgment(step, worst.score, reason, checks, code=worst.code, decisive=worst.decisive)


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _error_text(step: Step, prefix: str) -> str:
    if step.error is None:
        return ""
    text = ": ".join(part for part in (step.error.type, step.error.message) if part)
    return prefix + text if text else ""


def _selected_tool(step: Step) -> str | None:
    """The tool a TOOLSEL step chose: its ``tool``, else its output when that is a name."""
    if step.tool:
        return step.tool
    if isinstance(step.output, str) and step.output.strip():
        return step.output.strip()
    return None


def _tool_name(ctx: StepContext) -> str | None:
    """The step's tool, else the one its TOOLSEL or PARAMGEN parent names."""
    if ctx.step.tool:
        return ctx.step.tool
    for parent in ctx.parents:
        if parent.type is StepType.TOOLSEL and _selected_tool(parent):
            return _selected_tool(parent)
        if parent.type is StepType.PARAMGEN and parent.tool:
            return parent.tool
    return None


def _call_signature(ctx: StepContext, toolsel: Step) -> str | None:
    """Canonical arguments of a TOOLSEL's call (from its PARAMGEN children), or None if unknown."""
    children = (ctx.dag.step(c) for c in ctx.dag.children(toolsel.id))
    raws = [
        c.arguments if c.arguments is not None else c.output
        for c in children
        if c.type is StepType.PARAMGEN
    ]
    raws = [r for r in raws if r is not None] or ([toolsel.arguments] if toolsel.arguments is not None else [])
    if not raws:
        return None  # unknown arguments never count as identical: that would flag legitimate calls
    parsed = [value if problem is None else raw for raw in raws for value, problem in [parse_arguments(raw)]]
    return json.dumps(parsed, sort_keys=True, default=str)


def _earlier_identical_calls(ctx: StepContext, name: str) -> list[str]:
    """Ids of earlier TOOLSEL steps that chose the same tool with the same arguments."""
    signature = _call_signature(ctx, ctx.step)
    if signature is None:
        return []
    position = ctx.dag.position(ctx.step.id)
    return [
        s.id
        for s in ctx.trace.steps[:position]
        if s.type is StepType.TOOLSEL
        and _selected_tool(s) == name
        and _call_signature(ctx, s) == signature
    ]


def _same_results(ctx: StepContext, toolsels: list[str]) -> bool:
    """Whether identical calls also got identical results (as far as the trace records them).

    Repeating a call to a stateful tool ("scroll down", "next page") changes what it returns, so
    repetition alone proves no loop; identical results do."""
    results = set()
    for sid in toolsels:
        ran = call_exec(ctx.dag, sid)
        if ran is not None:
            results.add(json.dumps([ran.status, ran.output, _error_text(ran, "")], sort_keys=True, default=str))
    return len(results) <= 1


def _unrecovered_failure(ctx: StepContext) -> Step | None:
    """The latest tool failure an answer reports on (one since the agent's previous answer) that the
    agent had not recovered from by then (see agenteval.recovery), or None.

    An answer speaks for the work done since the agent last spoke; a failure from an earlier turn
    was the earlier answer's to report."""
    position = ctx.dag.position(ctx.step.id)
    previous = max(
        (i for i, s in enumerate(ctx.trace.steps[:position]) if s.type is StepType.SYNTH), default=-1
    )
    failed = [s for s in unrecovered_failures(ctx.dag, position) if ctx.dag.position(s.id) > previous]
    return failed[-1] if failed else None


def _success_claim(answer: str) -> str | None:
    """The success phrase of an answer that does not acknowledge any failure, else None."""
    text = answer.replace("\u2019", "'")
    if acknowledges_failure(text):
        return None
    match = _SUCCESS.search(text)
    return match.group(0) if match else None

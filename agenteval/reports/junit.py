"""JUnit XML of a run, so CI systems show one test per trace (and the gate's verdict as one more test)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from agenteval.compare import Comparison
from agenteval.gate import GateResult
from agenteval.models import Run, TraceResult
from agenteval.reports.summary import status_note


#: Characters XML 1.0 cannot hold; a tool's raw output may contain them.
_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _clean(text: str) -> str:
    return _NOT_XML.sub("?", text)


def _failure_text(result: TraceResult) -> str:
    lines = []
    for rc in result.root_causes:
        lines.append(f"root cause {rc.step_id} ({rc.failure_code or 'uncoded'}) via {rc.algorithm}: {' -> '.join(rc.chain)}")
    for v in result.verdicts:
        if v.failed or v.verdict in ("judge_error", "not_assessable"):
            score = "-" if v.score is None else f"{v.score:.1f}"
            lines.append(f"{v.step_id} {v.type.value} {v.verdict} {v.failure_code or ''} score {score}: {v.reason}".replace("  ", " "))
    return _clean("\n".join(lines))


def _failure_message(result: TraceResult, new: bool) -> str:
    causes = ", ".join(f"{rc.step_id} {rc.failure_code or 'uncoded'}" for rc in result.root_causes) or "none found"
    failing = ", ".join(f"{v.step_id} ({v.verdict})" for v in result.verdicts if v.failed)
    return _clean(f"{'new failure; ' if new else ''}root cause {causes}; failing steps {failing}")


def junit_xml(run: Run, *, comparison: Comparison | None = None, gate: GateResult | None = None) -> str:
    """JUnit XML: one ``testcase`` per trace of ``run``, plus one for the gate when ``gate`` is given.

    A failed trace is a ``failure`` whose message names the root cause and the failing steps (and
    says when the trace passed in the baseline); an incomplete trace (a step the judge could not
    score) is an ``error``; a blocked gate is a failure of the ``gate`` test case, a warning its output.
    """
    new = {c.trace_id for c in comparison.new_failures} if comparison else set()
    suite = ET.Element("testsuite", name=f"agenteval {run.name}", timestamp=run.created_at.isoformat())
    counts = {"tests": 0, "failures": 0, "errors": 0}
    properties = ET.SubElement(suite, "properties")
    for key, value in (("run_id", run.id), ("judge", run.judge), ("git_commit", run.git_commit or "")):
        ET.SubElement(properties, "property", name=key, value=value)
    if comparison:
        ET.SubElement(properties, "property", name="baseline", value=f"{comparison.base.name} ({comparison.base.id})")
    for result in run.results:
        counts["tests"] += 1
        case = ET.SubElement(suite, "testcase", classname=f"agenteval.{run.name}", name=result.trace_id)
        if result.source:
            case.set("file", result.source)
        if result.status == "failed":
            counts["failures"] += 1
            failure = ET.SubElement(case, "failure", message=_failure_message(result, result.trace_id in new),
                                    type=(result.root_causes[0].failure_code or "failure") if result.root_causes else "failure")
            failure.text = _failure_text(result)
        elif result.status == "incomplete":
            counts["errors"] += 1
            unjudged = ", ".join(v.step_id for v in result.verdicts if v.verdict == "judge_error")
            if unjudged:
                error = ET.SubElement(case, "error", message=f"the judge could not score: {unjudged}", type="judge_error")
            else:  # nothing a judge could look at, or an unmapped span that failed: not_assessable is no failure
                error = ET.SubElement(case, "error", message=_clean(f"not assessable: {status_note(result)}"),
                                      type="not_assessable")
            error.text = _failure_text(result)
        elif status_note(result):
            ET.SubElement(case, "system-out").text = _clean(f"passed; {status_note(result)}")
    for error in run.input_errors:
        counts["tests"] += 1
        counts["errors"] += 1
        case = ET.SubElement(suite, "testcase", classname=f"agenteval.{run.name}", name=error.source)
        ET.SubElement(case, "error", message=_clean(error.message), type="input_error")
    if gate is not None:
        counts["tests"] += 1
        case = ET.SubElement(suite, "testcase", classname="agenteval.gate", name="gate")
        lines = _clean("\n".join(f"{r.level}: {r.rule}: {r.message}" for r in gate.reasons))
        if gate.verdict == "block":
            counts["failures"] += 1
            blocking = [r.message for r in gate.reasons if r.level == "block"]
            failure = ET.SubElement(case, "failure", message=_clean("gate blocked: " + "; ".join(blocking)), type="block")
            failure.text = lines
        elif lines:
            ET.SubElement(case, "system-out").text = f"gate verdict {gate.verdict}\n{lines}"
    for key, value in counts.items():
        suite.set(key, str(value))
    root = ET.Element("testsuites", name="agenteval", **{k: str(v) for k, v in counts.items()})
    root.append(suite)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"

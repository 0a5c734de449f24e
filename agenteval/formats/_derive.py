"""Steps and data-flow edges of one trace (design/trace-formats.md §3.1, §3.2, R2, R3, D5).

Walks the step-making spans of a ``SpanTree`` in derivation order, types each one (S1-S6), and links it
to what it consumed (D1-D6). Edges only ever point from an earlier-derived step to a later one (D7), so
the result is a DAG whatever the input.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from pydantic import ValidationError

from agenteval.errors import TraceError
from agenteval.formats._evidence import clear_withheld, unmapped_spans, unrecorded
from agenteval.formats._rawspan import RawSpan, decode_json
from agenteval.formats._spantree import Info, SpanTree
from agenteval.formats.base import describe_validation_error
from agenteval.models import ErrorInfo, Step, StepType, Tool, Trace, Usage

_OTEL_TRACE_ID = re.compile(r"(?!0{32})[0-9a-f]{32}")
_OTEL_SPAN_ID = re.compile(r"(?!0{16})[0-9a-f]{16}")
#: Longest string attribute of the root span kept in trace metadata (ids and names, not content).
_ROOT_ATTRIBUTE_CHARS = 200
_TIMEOUT = re.compile(r"time[ _-]?out|timed out|deadline", re.IGNORECASE)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _when(ns: int | None, where: str) -> datetime | None:
    if ns is None:
        return None
    try:
        return _EPOCH + timedelta(microseconds=ns // 1000)
    except OverflowError:
        raise TraceError(f"{where}: time out of range: {ns}") from None


def _step_status(span: RawSpan) -> str:
    if span.status == "error" and span.error is not None and _TIMEOUT.search(span.error.type or span.error.message):
        return "timeout"
    return span.status


def _tool_ids(span: RawSpan | None) -> list[str]:
    if span is None or span.content_missing:
        return []
    return [m.tool_call_id for m in span.inp if m.role == "tool" and m.tool_call_id]


def _overlap(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return any(k in b and b[k] == v for k, v in a.items())
    return a is not None and a == b


@dataclass
class _Scope:
    """Running state of one agent scope (or the trace root) while steps are derived."""

    agent: str | None
    invoker: str | None = None
    steps: list[dict[str, Any]] = field(default_factory=list)
    unconsumed: list[dict[str, Any]] = field(default_factory=list)
    execs_by_call: dict[str, dict[str, Any]] = field(default_factory=dict)
    last_exec_by_tool: dict[str, dict[str, Any]] = field(default_factory=dict)
    since_prev: list[dict[str, Any]] = field(default_factory=list)
    prev_llm: RawSpan | None = None
    prev_llm_steps: list[dict[str, Any]] = field(default_factory=list)
    children: list[_Scope] = field(default_factory=list)

    def final(self) -> dict[str, Any] | None:
        synths = [s for s in self.steps if s["type"] is StepType.SYNTH]
        return synths[-1] if synths else (self.steps[-1] if self.steps else None)


class Builder(SpanTree):
    """Derives the steps and edges of one trace; ``build`` runs once."""

    def __init__(self, spans: Iterable[RawSpan], trace_id: str, fmt: str) -> None:
        super().__init__(spans)
        self.trace_id, self.fmt = trace_id, fmt
        self.steps: list[dict[str, Any]] = []
        self.index: dict[str, int] = {}
        self.first_step: dict[str, str] = {}
        self.scopes: dict[str | None, _Scope] = {}
        self.bound: dict[str, tuple[dict[str, Any] | None, str]] = {}
        for span in self.spans.values():
            clear_withheld(span)
        self.unmapped, self.failed_unmapped = unmapped_spans(self)
        for span_id in self.failed_unmapped:  # it makes a step: no recorded error is dropped
            self.spans[span_id].kind = "tool"
        if self.failed_unmapped:
            for span in self.spans.values():
                self._classify(span)

    # -- steps and edges -------------------------------------------------------------------------

    def _state(self, scope_id: str | None) -> _Scope:
        if scope_id not in self.scopes:
            invoker = None
            if scope_id is not None:
                host = self.host[scope_id]
                invoker = host if host is not None and self.spans[host].kind == "tool" else None
            state = self.scopes[scope_id] = _Scope(agent=scope_id, invoker=invoker)
            if scope_id is not None and invoker is None:
                self._state(self.scope[scope_id]).children.append(state)
        return self.scopes[scope_id]

    def _add(self, span: RawSpan, role: str, type_: StepType, st: _Scope, **extra: Any) -> dict[str, Any]:
        where = f"trace {self.trace_id}: span {span.id}"
        agent = self.spans[st.agent] if st.agent else None
        meta = {
            "parent_id": span.parent,
            "scope": st.agent,
            "source": {"format": self.fmt, "span_id": span.id, "span_name": span.name,
                       "span_kind_raw": span.kind_raw or span.kind},
        }
        if _OTEL_TRACE_ID.fullmatch(self.trace_id) and _OTEL_SPAN_ID.fullmatch(span.id):
            # The OpenTelemetry span the step came from, so evaluation events can be parented to it.
            meta["otel"] = {"trace_id": self.trace_id, "span_id": span.id}
        meta.update(extra.pop("metadata", {}))
        step = {
            "id": f"{span.id}#{role}", "type": type_, "parents": [],
            "agent": (agent.agent_name or agent.name) if agent else None,
            "start_time": _when(span.start_ns, where), "end_time": _when(span.end_ns, where),
            "metadata": meta, **extra,
        }
        self.index[step["id"]] = len(self.steps)
        self.steps.append(step)
        self.first_step.setdefault(span.id, step["id"])
        st.steps.append(step)
        return step

    def _link(self, step: dict[str, Any], deps: Iterable[dict[str, Any] | None]) -> None:
        """D7: keep an edge only from an earlier-derived step."""
        for dep in deps:
            if dep is None or dep["id"] in step["parents"]:
                continue
            if self.index[dep["id"]] < self.index[step["id"]]:
                step["parents"].append(dep["id"])
            else:
                self.warnings.append(f"dropped edge {dep['id']} -> {step['id']} (would break the order)")
        step["parents"].sort(key=self.index.__getitem__)

    def _scope_entry(self, st: _Scope) -> list[dict[str, Any]]:
        """D5: what the first step of a scope depends on."""
        if st.invoker is not None:
            bound, _ = self._bind(self.spans[st.invoker])
            if bound is not None:
                return [bound]
        return [self.steps[-1]] if self.steps else []

    def _bind(self, tool: RawSpan) -> tuple[dict[str, Any] | None, str]:
        """D2/R3: the step an EXEC consumes (PARAMGEN by call id, earlier EXEC of that id, name, order)."""
        if tool.id in self.bound:
            return self.bound[tool.id]
        st = self._state(self.scope[tool.id])
        found: tuple[dict[str, Any] | None, str] = (None, "code")
        cid = tool.tool_call_id
        same_id = [p for p in st.unconsumed if cid and p["tool_call_id"] == cid]
        same_name = [p for p in st.unconsumed if p["tool"] == tool.tool_name]
        if same_id:
            found = (same_id[-1], "call_id")
        elif cid and cid in st.execs_by_call:
            found = (st.execs_by_call[cid], "reexecution")
        elif same_name:
            found = (same_name[0], "tool_name")
        elif st.unconsumed and tool.mapped_to is None:  # a span the user mapped answers no call by position
            found = (st.unconsumed[0], "order")
        if found[0] is not None and found[0]["type"] is StepType.PARAMGEN:
            st.unconsumed.remove(found[0])
        self.bound[tool.id] = found
        return found

    def _llm(self, span: RawSpan, info: Info, st: _Scope, retried: list[RawSpan]) -> None:
        messages = [m.to_dict() for m in span.inp] if not span.content_missing else None
        base: dict[str, Any] = {"input": messages, "model": span.model}
        meta: dict[str, Any] = {"content_inferred": False, "llm_call_id": span.id}
        if retried:
            base["attempts"] = len(retried) + 1
            meta["retry_errors"] = [(s.error.message if s.error else s.status) for s in retried]
            meta["retried_span_ids"] = [s.id for s in retried]
        entry_deps = self._llm_deps(span, st)
        out, failed = span.out, span.status != "ok"
        calls = out.tool_calls if out else []
        text = (out.text.strip() or out.reasoning.strip()) if out else ""
        marked = span.id in self.marked or (out is not None and _plan_shaped(out.text))
        made: list[dict[str, Any]] = []

        def add(role: str, type_: StepType, **extra: Any) -> dict[str, Any]:
            extra["metadata"] = {**meta, **extra.get("metadata", {})}
            step = self._add(span, role, type_, st, **base, **extra)
            made.append(step)
            return step

        plan, pairs = None, []
        if failed and not calls and not text:  # S3c
            type_ = StepType.TOOLSEL if info.exec_follows else StepType.SYNTH
            add("toolsel.0" if type_ is StepType.TOOLSEL else "synth", type_)
        elif span.content_missing or out is None:  # S6
            meta["content_inferred"] = True
            if info.following:
                for j, ex in enumerate(info.following):
                    common = {"tool": ex.tool_name, "tool_call_id": ex.tool_call_id}
                    sel = add(f"toolsel.{j}", StepType.TOOLSEL, output=ex.tool_name, **common)
                    # The tool span's arguments stand for the call only when they are what the model sent.
                    sent = ex.tool_args if ex.args_as_sent else None
                    gen = add(f"paramgen.{j}", StepType.PARAMGEN, output=sent, arguments=sent, **common)
                    pairs.append((sel, gen))
            elif info.is_last:
                add("synth", StepType.SYNTH)
            else:
                add("plan", StepType.PLAN)
        elif calls:  # S3a
            if text and (info.is_first or marked):
                plan = add("plan", StepType.PLAN, output=text)
            for j, call in enumerate(calls):
                common = {"tool": call.name, "tool_call_id": call.id}
                thought = {"reasoning": text} if text and plan is None and j == 0 else {}
                sel = add(f"toolsel.{j}", StepType.TOOLSEL, output=call.name, metadata=thought, **common)
                gen = add(f"paramgen.{j}", StepType.PARAMGEN, output=call.args, arguments=call.args,
                          metadata={"tool_args_raw": call.args_raw} if call.args_raw is not None else {}, **common)
                pairs.append((sel, gen))
        else:  # S3b, S3d
            synth = not marked and ((info.is_last and not info.exec_follows) or info.user_follows)
            step = add("synth" if synth else "plan", StepType.SYNTH if synth else StepType.PLAN, output=text)
            if out.finish_reason in ("length", "content_filter"):
                step["status"], step["error"] = "error", ErrorInfo(type=out.finish_reason, message="output cut off")
        first = made[0]
        if failed:
            first["status"], first["error"] = _step_status(span), span.error
        first["usage"] = _sum_usage([*retried, span])
        first["metadata"]["attributes"] = span.attributes
        for step in [plan] if plan else [sel for sel, _ in pairs] or made[:1]:
            self._link(step, entry_deps)
        for sel, gen in pairs:
            self._link(sel, [plan])
            self._link(gen, [sel])
            st.unconsumed.append(gen)
        st.prev_llm, st.prev_llm_steps, st.since_prev = span, made, []

    def _llm_deps(self, span: RawSpan, st: _Scope) -> list[dict[str, Any]]:
        """D3 (new tool results in the input), results of sub-agents, then time order, then D4."""
        seen = set(_tool_ids(st.prev_llm))
        deps = [st.execs_by_call.get(i) for i in dict.fromkeys(_tool_ids(span)) if i not in seen]
        deps = [d for d in deps if d is not None]
        for msg in span.inp if not span.content_missing else []:
            done = st.execs_by_call.get(msg.tool_call_id or "")
            if done is not None and done["output"] is None and msg.role == "tool":
                # The span did not record the result; the model's view of it is the next best source.
                done["output"], done["metadata"]["output_from"] = decode_json(msg.text), span.id
        for child in st.children:
            if child.final() is not None:
                deps.append(child.final())
        st.children = [c for c in st.children if c.final() is None]
        if not deps:
            deps = list(st.since_prev) or st.prev_llm_steps[-1:]
        if not st.steps:
            deps += self._scope_entry(st) if not deps or st.invoker else []
        return deps

    def _tool(self, span: RawSpan, st: _Scope) -> None:
        first_in_scope = not st.steps
        bound, how = self._bind(span)
        args = span.tool_args
        meta: dict[str, Any] = {"bound_by": how}
        if args is None and bound is not None and bound["type"] is StepType.PARAMGEN and bound["arguments"] is not None:
            args, meta["arguments_from"] = bound["arguments"], bound["id"]
        if span.tool_args_raw is not None:
            meta["tool_args_raw"] = span.tool_args_raw
        if span.tool_type:
            meta["tool_type"] = span.tool_type
        name = span.tool_name or (bound["tool"] if bound else None)
        prev = st.last_exec_by_tool.get(name or "")
        if prev is not None and prev["status"] != "ok" and _overlap(prev["arguments"], args):
            meta["retry_of"] = prev["id"]  # R2: kept as its own step, only tagged
        if bound is None:
            meta["invoked_by"] = "code"
        if span.mapped_to:
            meta["mapped_to"] = span.mapped_to
        status = _step_status(span)
        step = self._add(span, "exec", StepType.EXEC, st, tool=name, tool_call_id=span.tool_call_id, input=args,
                         arguments=args, output=span.tool_result, status=status, error=span.error,
                         metadata={**meta, "attributes": span.attributes})
        if bound is not None:
            self._link(step, [bound])
        else:
            self._link(step, self._scope_entry(st) if first_in_scope else st.steps[-2:-1])
        for child in (s for s in self.scopes.values() if s.invoker == span.id):  # D5
            final = child.final()
            self._link(step, [final])
            if step["output"] is None and final is not None and final["type"] is StepType.SYNTH:
                step["output"] = final.get("output")
        call_id = span.tool_call_id or (bound["tool_call_id"] if bound is not None else None)
        if call_id:
            st.execs_by_call[call_id] = step
            if not span.tool_call_id:
                step["tool_call_id"], step["metadata"]["tool_call_id_from"] = call_id, bound["id"]
        st.last_exec_by_tool[name or ""] = step
        st.since_prev.append(step)

    def _mapped(self, span: RawSpan, st: _Scope) -> None:
        """A span the user mapped to PLAN or SYNTH: one step with the span's input and output."""
        deps = self._llm_deps(span, st)
        step = self._add(span, span.mapped_to.lower(), StepType(span.mapped_to), st, input=span.tool_args,
                         output=span.tool_result, status=_step_status(span), error=span.error,
                         metadata={"mapped_to": span.mapped_to, "attributes": span.attributes})
        self._link(step, deps)
        st.prev_llm_steps, st.since_prev = [step], []

    def _unmapped_error(self, span: RawSpan, st: _Scope) -> None:
        """An unmapped span that recorded an error: an EXEC judges cannot assess, where the span sat."""
        first_in_scope = not st.steps
        step = self._add(span, "exec", StepType.EXEC, st, status=_step_status(span),
                         error=span.error or ErrorInfo(message=f"span '{span.name}' recorded an error"),
                         metadata={"unmapped_span": span.name, "attributes": span.attributes})
        self._link(step, self._scope_entry(st) if first_in_scope else st.steps[-2:-1])
        st.since_prev.append(step)

    def build(self, task: str | None, tools: list[Tool] | None) -> Trace:
        """The trace: steps in derivation order, edges, the final answer and annotations."""
        order, infos, retries = self.layout()
        dropped = {s.id for spans in retries.values() for s in spans}
        for span in order:
            st = self._state(self.scope[span.id])
            if span.id in self.failed_unmapped:
                self._unmapped_error(span, st)
            elif span.kind == "llm" and span.mapped_to in ("PLAN", "SYNTH"):
                self._mapped(span, st)
            elif span.kind == "llm":
                self._llm(span, infos[span.id], st, retries.get(span.id, []))
            else:
                self._tool(span, st)
        if not self.steps:
            raise TraceError(f"trace {self.trace_id}: no LLM or tool spans to make steps from")
        self._mark_final()
        annotations = self._annotate(dropped)
        for step in self.steps:
            if "unmapped_span" not in step["metadata"]:
                step["unrecorded"] = unrecorded(step, self.spans[step["metadata"]["source"]["span_id"]])
        try:
            steps = [Step(**s) for s in self.steps]
        except ValidationError as exc:
            raise TraceError(f"trace {self.trace_id}: {describe_validation_error(exc)}") from None
        metadata = {"format": self.fmt, "warnings": self.warnings, **annotations}
        if self.unmapped:
            metadata["unmapped_spans"] = self.unmapped
        return Trace(id=self.trace_id, task=task if task is not None else self._task(order), tools=tools or [],
                     steps=steps, metadata={**metadata, **self._root()})

    def _root(self) -> dict[str, Any]:
        """The root span's name and short scalar attributes: what labels and case keys (``--pair-by
        attr:NAME``, LangSmith's ``reference_example_id``) are read from."""
        roots = [s for s in self.spans.values() if s.parent is None]
        if not roots:
            return {}
        root = min(roots, key=lambda s: (s.start_ns is None, s.start_ns or 0, s.seq))
        attributes = {
            k: v for k, v in root.attributes.items()
            if isinstance(v, (int, float, bool)) or (isinstance(v, str) and len(v) <= _ROOT_ATTRIBUTE_CHARS)
        }
        return {**({"root_span": root.name} if root.name else {}), **({"attributes": attributes} if attributes else {})}

    def _mark_final(self) -> None:
        """S5: the last SYNTH of the root scope (the trace root or a top-level agent) is the answer."""
        roots = {None} | {a for a in self.scopes if a is not None and self.scope[a] is None}
        finals = [s for s in self.steps if s["type"] is StepType.SYNTH and s["metadata"]["scope"] in roots]
        if finals:
            finals[-1]["is_final"] = True

    def _annotate(self, dropped: set[str]) -> dict[str, Any]:
        """S1: auxiliary spans become notes on the step of their host span, or the next step in time."""
        loose = []
        timed = sorted((self.spans[s["metadata"]["source"]["span_id"]].start_ns, self.index[s["id"]], s["id"])
                       for s in self.steps if self.spans[s["metadata"]["source"]["span_id"]].start_ns is not None)
        for span in self.spans.values():
            if self.is_step(span) or span.kind in ("agent", "chain") or span.id in dropped:
                continue
            note = {"span_id": span.id, "name": span.name, "kind": span.kind_raw or span.kind}
            host = self.host[span.id]
            target = self.first_step.get(host) if host else None
            if target is None and span.start_ns is not None:
                at = bisect.bisect_left(timed, (span.start_ns,))
                target = timed[at][2] if at < len(timed) else None
            if target is None:
                loose.append(note)
            else:
                self.steps[self.index[target]]["metadata"].setdefault("annotations", []).append(note)
        return {"annotations": loose} if loose else {}

    def _task(self, order: list[RawSpan]) -> str:
        for span in order:
            for msg in span.inp:
                if msg.role == "user" and msg.text.strip():
                    return msg.text.strip()
        return ""


def _plan_shaped(text: str) -> bool:
    """S4: structured output with a ``plan`` or ``steps`` field."""
    value = decode_json(text)
    return isinstance(value, dict) and ("plan" in value or "steps" in value)


def _sum_usage(spans: list[RawSpan]) -> Usage | None:
    usages = [s.usage for s in spans if s.usage is not None]
    if not usages:
        return None
    total = usages[0]
    for usage in usages[1:]:
        total = total + usage
    return total



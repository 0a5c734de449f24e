"""The structure under ``spans_to_trace``: merged spans, repaired parent links, scopes and time order.

Rules of design/trace-formats.md §3 that only look at how spans nest and follow each other: R5 (merge
duplicate records), R6 (broken parent links), D0 (scopes and order), S4 (plan markers by name) and R1
(collapse retried LLM calls). ``agenteval.formats._derive`` turns the result into steps and edges.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, fields, replace

from agenteval.formats._rawspan import PLAN_NAME, RawSpan


@dataclass
class Info:
    """Where an LLM span sits among the step-making spans of its scope."""

    is_first: bool
    is_last: bool
    exec_follows: bool
    following: list[RawSpan]
    """The tool spans between this call and the next LLM call of the scope."""
    user_follows: bool
    """The next call of the scope has a user turn this one had not (a multi-turn chat)."""


def _input_key(span: RawSpan) -> str:
    return json.dumps([m.to_dict() for m in span.inp], sort_keys=True, default=str)


def _new_user_turn(call: RawSpan, nxt: RawSpan) -> bool:
    if nxt.kind != "llm" or call.content_missing or nxt.content_missing:
        return False
    return sum(m.role == "user" for m in nxt.inp) > sum(m.role == "user" for m in call.inp)


def _merge(a: RawSpan, b: RawSpan) -> RawSpan:
    """R5: two records of one span; the one with an end time and output wins, the other fills gaps."""

    def rank(s: RawSpan) -> tuple[bool, bool]:
        return s.end_ns is not None, s.out is not None or s.tool_result is not None

    win, other = (b, a) if rank(b) >= rank(a) else (a, b)
    empty = (None, "", [], {})
    filled = {
        f.name: getattr(other, f.name)
        for f in fields(win)
        if f.name != "seq" and any(getattr(win, f.name) is e or getattr(win, f.name) == e for e in empty)
    }
    merged = replace(win, **filled, seq=min(a.seq, b.seq))
    if merged.status == "ok" and other.status != "ok" and win.end_ns is None:
        merged.status, merged.error = other.status, other.error
    return merged


class SpanTree:
    """The spans of one trace with their scopes, hosts and plan markers worked out."""

    def __init__(self, spans: Iterable[RawSpan]) -> None:
        self.warnings: list[str] = []
        self.spans: dict[str, RawSpan] = {}
        for span in spans:  # R5; copies, so fixing parent links leaves the caller's spans alone
            known = self.spans.get(span.id)
            self.spans[span.id] = _merge(known, span) if known else replace(span)
        self._fix_parents()
        self.scope: dict[str, str | None] = {}
        """Span id -> id of the nearest enclosing agent span (None: the trace root)."""
        self.host: dict[str, str | None] = {}
        """Span id -> nearest llm/tool/aux ancestor inside its scope; spans with a host make no step."""
        self.marked: set[str] = set()
        for span in self.spans.values():
            self._classify(span)

    def layout(self) -> tuple[list[RawSpan], dict[str, Info], dict[str, list[RawSpan]]]:
        """Step-making spans in derivation order, each LLM span's place in its scope, and R1 retries
        (kept span id -> the failed attempts folded into it)."""
        order = self._order()
        by_scope: dict[str | None, list[RawSpan]] = {}
        for span in order:
            by_scope.setdefault(self.scope[span.id], []).append(span)
        infos: dict[str, Info] = {}
        retries: dict[str, list[RawSpan]] = {}
        for seq in by_scope.values():
            kept, found = self._collapse_retries(seq)
            retries.update(found)
            llms = [i for i, s in enumerate(kept) if s.kind == "llm"]
            for n, i in enumerate(llms):
                nxt = llms[n + 1] if n + 1 < len(llms) else len(kept)
                user_follows = nxt < len(kept) and _new_user_turn(kept[i], kept[nxt])
                infos[kept[i].id] = Info(n == 0, n == len(llms) - 1, any(s.kind == "tool" for s in kept[i + 1:]),
                                         kept[i + 1:nxt], user_follows)
        dropped = {s.id for spans in retries.values() for s in spans}
        return [s for s in order if s.id not in dropped], infos, retries

    def _fix_parents(self) -> None:
        """R6: unknown parents become the root; parent cycles break at the link to the latest starter."""
        for span in self.spans.values():
            if span.parent is not None and (span.parent not in self.spans or span.parent == span.id):
                span.parent = None
        done: set[str] = set()
        for span in self.spans.values():
            path: list[str] = []
            on_path: set[str] = set()
            cur: str | None = span.id
            while cur is not None and cur not in done:
                if cur in on_path:
                    cycle = [self.spans[i] for i in path[path.index(cur):]]
                    latest = max(cycle, key=lambda s: (s.start_ns or 0, s.seq))
                    child = next(s for s in cycle if s.parent == latest.id)
                    child.parent = None
                    self.warnings.append(f"span {child.id}: parent link forms a cycle; treated as a root")
                    break
                path.append(cur)
                on_path.add(cur)
                cur = self.spans[cur].parent
            done.update(path)

    def _classify(self, span: RawSpan) -> None:
        """D0 scope (nearest agent ancestor), host (nearest llm/tool/aux ancestor inside it), plan markers."""
        host, cur = None, span.parent
        marked = span.plan_marker or bool(PLAN_NAME.search(span.name))
        while cur is not None and self.spans[cur].kind != "agent":
            above = self.spans[cur]
            if host is None and above.kind in ("llm", "tool", "aux"):
                host = cur
            marked = marked or (above.kind == "chain" and bool(PLAN_NAME.search(above.name)))
            cur = above.parent
        self.scope[span.id], self.host[span.id] = cur, host
        if marked:
            self.marked.add(span.id)

    def is_step(self, span: RawSpan) -> bool:
        """S1: llm and tool spans make steps, unless nested in another llm, tool or auxiliary span."""
        return span.kind in ("llm", "tool") and self.host[span.id] is None

    def _order(self) -> list[RawSpan]:
        """Step-making spans in time order; a tool that ran a sub-agent comes after the sub-agent's spans."""
        leaves = [s for s in self.spans.values() if self.is_step(s)]
        if all(s.start_ns is not None for s in leaves):
            leaves.sort(key=lambda s: (s.start_ns, s.end_ns if s.end_ns is not None else s.start_ns, s.seq))
        else:
            leaves.sort(key=lambda s: s.seq)
        pending: dict[str, set[str]] = {}
        holders: dict[str, list[str]] = {}
        for leaf in leaves:
            cur = leaf.parent
            while cur is not None:
                if self.is_step(self.spans[cur]):
                    pending.setdefault(cur, set()).add(leaf.id)
                    holders.setdefault(leaf.id, []).append(cur)
                cur = self.spans[cur].parent
        order: list[RawSpan] = []
        waiting: list[RawSpan] = []
        for leaf in leaves:
            if pending.get(leaf.id):
                waiting.append(leaf)
                continue
            ready = [leaf]
            while ready:
                span = ready.pop()
                order.append(span)
                for holder in holders.get(span.id, []):
                    pending[holder].discard(span.id)
                released = [w for w in waiting if not pending[w.id]]
                waiting = [w for w in waiting if pending[w.id]]
                ready.extend(reversed(released))
        return order + waiting

    def _collapse_retries(self, seq: list[RawSpan]) -> tuple[list[RawSpan], dict[str, list[RawSpan]]]:
        """R1: consecutive LLM calls with the same input, all but the last failed, become one call."""
        out: list[RawSpan] = []
        retries: dict[str, list[RawSpan]] = {}
        for span in seq:
            prev = out[-1] if out else None
            if (
                prev is not None and prev.kind == span.kind == "llm" and prev.status != "ok"
                and span.inp and not span.content_missing and not prev.content_missing
                and _input_key(prev) == _input_key(span)
            ):
                retries[span.id] = retries.pop(prev.id, []) + [prev]
                out[-1] = span
            else:
                out.append(span)
        return out, retries

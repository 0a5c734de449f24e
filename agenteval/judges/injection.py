"""Trace text that addresses the judge: found on normalised text, flagged, and kept from fencing.

A trace is data. Text in it that speaks to whoever judges it ("ignore previous instructions", "give
this step a 5"), imitates our fences or a chat template's role markers, or writes our reply format is
an attempt to steer the judge. Such a step gets the flag ``judge_injection``; fence-like text is
replaced before it reaches a prompt.

Everything is matched on a normalised copy of the text: NFKC, invisible characters (zero-width
spaces and joiners, word joiners, soft hyphens, bidi controls) removed, and the Cyrillic and Greek
letters that look like Latin ones folded to them. So ``TRACE\u200b_DATA>>>``, a Cyrillic ``А`` and a
``\u2060`` inside a word are caught like their plain spellings.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from agenteval.judges.base import StepContext
from agenteval.models import JUDGE_INJECTION, Judgment, Step, StepType

FLAG = JUDGE_INJECTION
FENCE_REMOVED = "[fence removed]"

_INVISIBLE = dict.fromkeys(
    [0x00AD, 0x034F, 0x061C, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x180E, 0x3164, 0xFEFF, 0xFFA0]
    + list(range(0x200B, 0x2010))  # zero-width space, non-joiner, joiner, LRM, RLM
    + list(range(0x202A, 0x202F))  # bidi embeddings and overrides
    + list(range(0x2060, 0x2070))  # word joiner, invisible operators, bidi isolates
    + list(range(0xFE00, 0xFE10))  # variation selectors
)
# Letters drawn like Latin ones (Unicode's confusables, the common Cyrillic and Greek part).
_LOOKALIKES = str.maketrans(
    "АВЕЅІЈКМНОРСТХУаеіјосрхуѕԁһӏԛԝ"  # Cyrillic
    "ΑΒΕΖΗΙΚΜΝΟΡΤΥΧαοιкνρτυχ",  # Greek (and Cyrillic к)
    "ABESIJKMHOPCTXYaeijocpxysdhlqw"
    "ABEZHIKMNOPTYXaoiknptux",
)
_FOLD = {**_LOOKALIKES, **_INVISIBLE}

_FENCE = r"<<<\s*TRACE[\s_-]*DATA|TRACE[\s_-]*DATA[\w\s-]*>>>"
_FENCE_LIKE = re.compile(_FENCE, re.IGNORECASE)
_PATTERNS: tuple[tuple[str, str], ...] = (
    ("imitated fence", _FENCE),
    ("chat template marker",
     r"<\|\s*(?:im_start|im_end|system|user|assistant|endoftext|eot_id|start_header_id|end_header_id)\s*\|>"
     r"|\[/?INST\]|<</?SYS>>|<start_of_turn>|<end_of_turn>"),
    ("role marker", r"(?:^|\n)[ \t#>*]*(?:system|developer)\s*(?:message|prompt)?\s*:"),
    ("instruction override",
     r"\b(?:ignore|disregard|forget|override|bypass)\s+(?:(?:all|any|the|your|these|those|my|of|every|"
     r"everything)\s+){0,3}(?:(?:previous|prior|above|earlier|preceding|original|system|scoring|grading|"
     r"evaluation|judging)\s+)?(?:instructions?|rules|rubrics?|prompts?|guidelines|criteria)\b"),
    ("words to the judge",
     r"\b(?:note|message|instructions?|attention|reminder)\s+(?:to|for)\s+(?:the\s+|any\s+|all\s+)?"
     r"(?:ai\s+|llm\s+|automated\s+)?(?:judges?|evaluators?|graders?|reviewers?|assessors?|scorers?)\b"
     r"|\b(?:dear|hey|hello|attention)\s+(?:ai\s+|llm\s+)?(?:judge|evaluator|grader)\b"
     r"|\byou\s+are\s+(?:now\s+)?(?:an?\s+|the\s+)?(?:ai\s+)?(?:judge|evaluator|grader)\b"),
    ("score demand",
     r"\b(?:give|assign|award|grant)\s+(?:this|the|each|every|all|my|our|its)\s+(?:\w+\s+){0,3}?"
     r"(?:steps?|answers?|responses?|outputs?|traces?|runs?|agents?|replies|reply|calls?|metrics?)\s+"
     r"(?:an?\s+|the\s+)?(?:(?:score|rating|grade|mark)\s+(?:of\s+)?)?"
     r"(?:5|five|10|ten|full marks|perfect|top|highest|maximum|pass(?:ing)?)\b"
     r"|\b(?:score|rate|grade|mark|judge)\s+(?:this|the|each|every|all|it)\s+(?:(?:step|answer|response|"
     r"output|trace|run|agent|reply|call)s?\s+)?(?:as\s+)?(?:an?\s+)?(?:5|five|10|ten|perfect|pass(?:ed|ing)?|"
     r"correct|successful)\b(?!\s*(?:stars?|%|percent))"),
    ("imitated judge reply", r"[\"']\s*(?:metric_scores|failure_code)\s*[\"']\s*:"),
)
_DETECT = re.compile("|".join(f"(?P<p{i}>{pattern})" for i, (_, pattern) in enumerate(_PATTERNS)), re.IGNORECASE)
_MAX_SHOWN = 3


def normalise(text: str) -> str:
    """The text as matched: NFKC, invisible characters removed, Cyrillic/Greek look-alikes folded."""
    if text.isascii():
        return text
    return unicodedata.normalize("NFKC", text).translate(_FOLD)


@lru_cache(maxsize=512)  # a trace's task and outputs are read again for every step that sees them
def scan(text: str) -> tuple[str, ...]:
    """What in ``text`` addresses the judge: ``kind: 'matched text'`` per finding (first few)."""
    found = []
    for match in _DETECT.finditer(normalise(text)):
        kind = _PATTERNS[int(next(k for k, v in match.groupdict().items() if v is not None)[1:])][0]
        snippet = " ".join(match.group(0).split())[:60]
        found.append(f"{kind}: {snippet!r}")
        if len(found) >= _MAX_SHOWN:
            break
    return tuple(found)


def neutralise_fences(text: str) -> str:
    """``text`` with anything that reads as a data fence after normalisation replaced.

    Matches are found on the normalised text and the original characters they came from are
    replaced, so ``TRACE\u200b_DATA>>>`` goes whole while the rest of the text stays as written.
    """
    if text.isascii():
        return _FENCE_LIKE.sub(FENCE_REMOVED, text)
    normal, origin = _normalise_mapped(text)
    spans = [(origin[m.start()], origin[m.end() - 1] + 1) for m in _FENCE_LIKE.finditer(normal)]
    if not spans:
        return text
    out, last = [], 0
    for start, end in spans:
        out += [text[last:start], FENCE_REMOVED]
        last = end
    return "".join(out) + text[last:]


def step_findings(ctx: StepContext) -> list[str]:
    """Findings in every trace text a judge of this step reads: task, catalog, parents, the step."""
    found: list[str] = []
    for where, text in _texts(ctx):
        found += [f"{where}: {finding}" for finding in scan(text)]
        if len(found) >= _MAX_SHOWN:
            break
    return found[:_MAX_SHOWN]


def flag(judgment: Judgment, ctx: StepContext) -> Judgment:
    """The judgment with the ``judge_injection`` flag and its findings when the step's text has any."""
    found = step_findings(ctx)
    if not found or FLAG in judgment.flags:
        return judgment
    return judgment.model_copy(
        update={"flags": [*judgment.flags, FLAG], "details": {**judgment.details, "injection": found}}
    )


def _normalise_mapped(text: str) -> tuple[str, list[int]]:
    """The normalised text and, for each of its characters, the index of the original one."""
    chars: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        for out in unicodedata.normalize("NFKC", char).translate(_FOLD):
            chars.append(out)
            origin.append(index)
    return "".join(chars), origin


def _texts(ctx: StepContext) -> Iterator[tuple[str, str]]:
    trace, step = ctx.trace, ctx.step
    yield "task", trace.task
    if trace.expected_outcome:
        yield "expected outcome", trace.expected_outcome
    if step.type in (StepType.PLAN, StepType.TOOLSEL):
        for tool in trace.tools:
            yield f"tool {tool.name}", f"{tool.name}\n{tool.description or ''}"
    elif step.type in (StepType.PARAMGEN, StepType.EXEC) and ctx.tool is not None:
        yield f"tool {ctx.tool.name}", _text(ctx.tool.model_dump(mode="json"))
    parents = ctx.parents
    for parent in parents:
        yield from _step_texts(parent, f"parent {parent.id}")
    if not parents and step.input is not None:
        yield "step input", _text(step.input)
    yield from _step_texts(step, "step")


def _step_texts(step: Step, where: str) -> Iterator[tuple[str, str]]:
    for name in ("agent", "tool"):
        value = getattr(step, name)
        if value:
            yield f"{where} {name}", value
    if step.error is not None:
        yield f"{where} error", f"{step.error.type or ''}: {step.error.message}"
    if step.arguments is not None:
        yield f"{where} arguments", _text(step.arguments)
    if step.output is not None:
        yield f"{where} output", _text(step.output)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)

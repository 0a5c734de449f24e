"""Regular expressions that come from a trace (a tool schema's ``pattern``), run in linear time.

A trace is data written by someone else. Python's ``re`` backtracks, so a pattern like ``^(a+)+$``
against 33 a's and a b pins a CPU for minutes. RE2 (google-re2) runs in time linear in the text and
refuses what cannot be run that way (backreferences, lookaround); such a pattern is reported as not
checked and is never handed to a backtracking engine.
"""

from __future__ import annotations

from functools import lru_cache

import re2

#: Longest pattern shown in a reason; the rest is elided so the reason stays on one line.
SHOWN = 60


class UncheckablePattern(Exception):
    """A pattern the linear-time engine cannot run; it is reported as not checked, never run otherwise."""

    def __init__(self, pattern: str, why: str) -> None:
        super().__init__(f"pattern {shown(pattern)} not checked ({why})")
        self.pattern = pattern
        self.why = why


def shown(pattern: str) -> str:
    """A pattern quoted for a one-line reason: control characters escaped, long ones elided."""
    text = pattern if len(pattern) <= SHOWN else pattern[: SHOWN - 3] + "..."
    return repr(text)


def _options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False  # RE2 would otherwise write every refused pattern to stderr
    return options


_OPTIONS = _options()


@lru_cache(maxsize=1024)
def _compile(pattern: str) -> tuple[object | None, str]:
    """The compiled pattern, or None and why RE2 cannot run it (cached: tool schemas repeat)."""
    try:
        return re2.compile(pattern, options=_OPTIONS), ""
    except re2.error as exc:
        return None, _why(exc)
    except (UnicodeEncodeError, TypeError, ValueError):
        return None, "not a valid pattern string"


def _why(exc: re2.error) -> str:
    raw = exc.args[0] if exc.args else ""
    message = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    # Lookaround and backreferences are what a linear-time engine leaves out by design.
    if message.startswith(tuple(f"invalid perl operator: (?{c}" for c in "=!<")):
        return "lookaround cannot run in linear time"
    if message.startswith("invalid escape sequence: \\") and message[-1:].isdigit():
        return "a backreference cannot run in linear time"
    return f"RE2: {message.splitlines()[0]}" if message else "RE2 cannot compile it"


def check(pattern: str) -> None:
    """Raise :class:`UncheckablePattern` unless ``pattern`` can be run in linear time."""
    compiled, why = _compile(pattern)
    if compiled is None:
        raise UncheckablePattern(pattern, why)


def search(pattern: str, text: str) -> bool:
    """Whether ``pattern`` matches somewhere in ``text``, in time linear in ``text``.

    Raises:
        UncheckablePattern: RE2 cannot run the pattern (lookaround, backreferences, too large).
    """
    compiled, why = _compile(pattern)
    if compiled is None:
        raise UncheckablePattern(pattern, why)
    try:
        return compiled.search(text) is not None  # type: ignore[attr-defined]
    except UnicodeEncodeError:  # a lone surrogate cannot be UTF-8 encoded for RE2
        return compiled.search(text.encode("utf-8", "replace").decode("utf-8")) is not None  # type: ignore[attr-defined]

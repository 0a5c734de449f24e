"""Trace text on a terminal: shown literally, never obeyed.

A trace id, tool name, judge reason or task is data written by someone else. Rich reads ``[...]`` in
a plain string as markup (an id like ``evil[/nope]`` crashed the runs table), and a terminal obeys
control characters: ANSI colours and cursor moves, OSC 8 links, OSC 52 clipboard writes, a carriage
return that overwrites the line, bidirectional overrides that reorder it. Every renderer passes such
text through :func:`safe` (a rich ``Text``, never parsed as markup) or :func:`markup_safe` (inside a
markup string), which show each control character as a visible escape such as ``\\x1b``.
"""

from __future__ import annotations

from rich.markup import escape
from rich.text import Text

#: Unicode format characters that reorder or hide text (bidi overrides and isolates, zero-width
#: marks, line/paragraph separators, the byte-order mark); shown escaped like control characters.
_INVISIBLE = (
    [0x061C, 0x180E, 0x2028, 0x2029, 0xFEFF]
    + list(range(0x200B, 0x2010))
    + list(range(0x202A, 0x202F))
    + list(range(0x2060, 0x2070))
)


def _escape_of(code: int) -> str:
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


_CONTROLS = [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0), *_INVISIBLE]
_ONE_LINE = str.maketrans({code: _escape_of(code) for code in _CONTROLS})
_BLOCK = str.maketrans({code: _escape_of(code) for code in _CONTROLS if chr(code) not in "\n\t"})


def plain(value: object, *, multiline: bool = False) -> str:
    """``value`` as text with every control character written as a visible escape.

    Args:
        value: anything; non-strings are shown with ``str``.
        multiline: keep newlines and tabs (for reasons and task text); otherwise they are escaped
            too, so an id or a name stays on one line.
    """
    text = value if isinstance(value, str) else str(value)
    return text.translate(_BLOCK if multiline else _ONE_LINE)


def safe(value: object, style: str = "", *, multiline: bool = False) -> Text:
    """Trace text as a rich ``Text``: never parsed as markup, control characters escaped."""
    return Text(plain(value, multiline=multiline), style=style)


def markup_safe(value: object, *, multiline: bool = False) -> str:
    """Trace text to put inside a rich markup string: brackets and control characters escaped."""
    return escape(plain(value, multiline=multiline))

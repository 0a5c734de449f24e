"""Numbers written in free text, and whether an answer's numbers appear in its sources.

Used by the rules judge to flag answers that state figures no tool returned. Both the answer and the
sources go through the same extractor, so identifiers such as ``ORD-1234`` are split the same way on
both sides and stay grounded.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

# A number not glued to a word or to a preceding dot (so "v2.3.1" gives 2.3 only and "A1B2" nothing),
# with optional sign, currency symbol, thousands separators, decimals, exponent (as json writes
# floats) and percent sign.
_NUMBER = re.compile(
    r"(?<![\w.])(?P<neg>[-\u2212])?[$\u20ac\u00a3]?"
    r"(?P<num>(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?)"
    r"(?P<pct>\s?%)?"
)

#: Integers from 0 to this value are too common ("step 2", "3 items") to count as claims.
TRIVIAL_MAX = 10


@dataclass(frozen=True)
class Number:
    """A number as written in a text.

    Attributes:
        text: The number exactly as written, e.g. ``$1,234.50`` or ``12%``.
        value: Its value; ``12%`` has value 12.
        tolerance: Half a unit of its last written digit, so a rounded figure still matches.
        percent: Whether it was written with a percent sign.
    """

    text: str
    value: Decimal
    tolerance: Decimal
    percent: bool

    @property
    def trivial(self) -> bool:
        """Whether it is a small integer that proves nothing (see ``TRIVIAL_MAX``)."""
        return self.value == self.value.to_integral_value() and 0 <= self.value <= TRIVIAL_MAX

    def candidates(self) -> list[tuple[Decimal, Decimal]]:
        """Values (with tolerance) a source may hold for it: 12% may be stored as 12 or 0.12."""
        found = [(self.value, self.tolerance)]
        if self.percent:
            found.append((self.value / 100, self.tolerance / 100))
        return found


def find_numbers(text: str) -> list[Number]:
    """Every number written in ``text``, in order.

    Examples:
        >>> [str(n.value) for n in find_numbers("Refund $1,234.50 (12%) on 2024-05-01, -3 units")]
        ['1234.50', '12', '2024', '5', '1', '-3']
    """
    numbers = []
    for match in _NUMBER.finditer(text):
        try:
            value = Decimal(match["num"].replace(",", ""))
        except InvalidOperation:  # pragma: no cover - the pattern only matches valid literals
            continue
        if match["neg"]:
            value = -value
        tolerance = Decimal(5).scaleb(value.as_tuple().exponent - 1)
        numbers.append(Number(match.group(0).strip(), value, tolerance, bool(match["pct"])))
    return numbers


def texts_in(value: Any) -> Iterator[str]:
    """The strings and numbers inside a JSON-like value, as texts, in document order.

    Walking the structure instead of ``json.dumps``-ing it keeps escapes such as ``\\n`` from gluing
    a letter to the next number ("\\n3,812" would otherwise hide 3,812). The walk keeps its own
    stack, so no nesting depth can exhaust Python's.
    """
    stack: list[Iterator[Any]] = [iter((value,))]
    while stack:
        item = next(stack[-1], _DONE)
        if item is _DONE:
            stack.pop()
        elif item is None or isinstance(item, bool):
            continue
        elif isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.append(_dict_items(item))
        elif isinstance(item, (list, tuple)):
            stack.append(iter(item))
        else:
            yield _number_text(item)


_DONE = object()


def _dict_items(mapping: dict) -> Iterator[Any]:
    for key, item in mapping.items():
        yield str(key)
        yield item


def _number_text(value: Any) -> str:
    try:
        return str(value)
    except ValueError:  # an integer past Python's 4,300-digit limit for str()
        return ""


class NumberIndex:
    """The numbers found in a set of source texts, for fast grounding look-ups."""

    def __init__(self, texts: Iterable[str]) -> None:
        self._values = sorted({n.value for text in texts for n in find_numbers(text)})

    def grounded(self, number: Number) -> bool:
        """Whether some source number equals ``number`` up to the rounding it was written with."""
        for value, tolerance in number.candidates():
            i = bisect_left(self._values, value - tolerance)
            if i < len(self._values) and self._values[i] <= value + tolerance:
                return True
        return False


def ungrounded_numbers(answer: str, sources: Iterable[str]) -> list[Number]:
    """Non-trivial numbers of ``answer`` that appear in none of ``sources``, in answer order."""
    index = NumberIndex(sources)
    return [n for n in find_numbers(answer) if not n.trivial and not index.grounded(n)]

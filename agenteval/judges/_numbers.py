"""Numbers written in free text, and whether an answer's numbers appear in its sources.

Used by the rules judge to flag answers that state figures no tool returned. Both the answer and the
sources go through the same extractor, so identifiers such as ``ORD-1234`` are split the same way on
both sides and stay grounded.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence
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

#: A list marker at the start of a line: "11. ", "3) ", "- 2. ".
_LIST_MARKER = re.compile(r"[ \t>*#-]*(?P<n>\d{1,3})[.)](?=\s)")
#: A token that names something (a path, URL, code location, key=value or snake_case id): a letter
#: and a separator glued together.
_IDENTIFIER = re.compile(r"[A-Za-z][^\s]*[:/=_\\]|[:/=_\\][^\s]*[A-Za-z]")
#: Digit runs inside words and identifiers ("paypal_7644869", "#W2378156"): sources ground them.
_DIGITS = re.compile(r"(?<=[A-Za-z_])\d+|\d+(?=[A-Za-z_])")
#: Scale words after a number: "1.08 billion" grounds 1080000000.
_SCALE = re.compile(
    r"(?P<num>\d+(?:\.\d+)?)\s?(?P<word>thousand|million|billion|trillion|bn|[kKmMbB])\b"
)
_SCALES = {"thousand": 3, "k": 3, "million": 6, "m": 6, "billion": 9, "bn": 9, "b": 9, "trillion": 12}

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
        """Values (with tolerance) a source may hold for it: 12% may be stored as 12 or 0.12, and
        an amount as a debit or a credit ("difference -16.63", "a refund of $16.63")."""
        found = [(self.value, self.tolerance), (-self.value, self.tolerance)]
        if self.percent:
            found += [(self.value / 100, self.tolerance / 100), (-self.value / 100, self.tolerance / 100)]
        return found


def find_numbers(text: str) -> list[Number]:
    """Every number written in ``text``, in order.

    Examples:
        >>> [str(n.value) for n in find_numbers("Refund $1,234.50 (12%) on 2024-05-01, -3 units")]
        ['1234.50', '12', '2024', '5', '1', '-3']
    """
    return [number for _, number in _matches(text)]


def _matches(text: str) -> Iterator[tuple[re.Match[str], Number]]:
    for match in _NUMBER.finditer(text):
        try:
            value = Decimal(match["num"].replace(",", ""))
            tolerance = Decimal(5).scaleb(value.as_tuple().exponent - 1)  # type: ignore[operator]
        except (InvalidOperation, TypeError):  # an exponent beyond what Decimal can scale: no figure
            continue
        if match["neg"]:
            value = -value
        yield match, Number(match.group(0).strip(), value, tolerance, bool(match["pct"]))


def figures(text: str) -> list[Number]:
    """The numbers an answer states as figures: ``find_numbers`` less list markers ("11. Blue
    kettle") and digits inside identifiers, paths and URLs ("scenario.py:94", "?id=123"), which
    name things rather than state quantities."""
    found = []
    for match, number in _matches(text):
        start = match.start()
        line_start = text.rfind("\n", 0, start) + 1
        if _LIST_MARKER.match(text, line_start) and _LIST_MARKER.match(text, line_start).start("n") == start:
            continue
        if _IDENTIFIER.search(_token_at(text, start)):
            continue
        found.append(number)
    return found


def _token_at(text: str, index: int) -> str:
    """The whitespace-delimited token around ``index``, less surrounding brackets and quotes."""
    begin = max(text.rfind(c, 0, index) for c in " \t\n") + 1
    ends = [i for i in (text.find(c, index) for c in " \t\n") if i != -1]
    return text[begin : min(ends) if ends else len(text)].strip("()[]{}<>\"'`,;")


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
    """The values found in a set of source texts, for fast grounding look-ups.

    Sources are read generously: besides the numbers ``find_numbers`` sees, digit runs inside
    identifiers ("paypal_7644869") and scaled figures ("1.08 billion") count as values there.
    """

    def __init__(self, texts: Iterable[str], extra: Iterable[Decimal] = ()) -> None:
        values = set(extra)
        for text in texts:
            values.update(n.value for n in find_numbers(text))
            values.update(Decimal(d) for d in _DIGITS.findall(text) if len(d) <= 30)
            for match in _SCALE.finditer(text):
                values.add(Decimal(match["num"]).scaleb(_SCALES[match["word"].lower()]))
        self._values = sorted(values)

    def extended(self, values: Iterable[Decimal]) -> NumberIndex:
        """A copy that also holds ``values`` (cheaper than re-reading the sources)."""
        copy = NumberIndex(())
        copy._values = sorted(set(self._values).union(values))
        return copy

    def __contains__(self, value: Decimal) -> bool:
        return self.near(value, Decimal(0))

    def near(self, value: Decimal, tolerance: Decimal) -> bool:
        """Whether some source value lies within ``tolerance`` of ``value``."""
        i = bisect_left(self._values, value - tolerance)
        return i < len(self._values) and self._values[i] <= value + tolerance

    def grounded(self, number: Number) -> bool:
        """Whether some source number equals ``number`` up to the rounding it was written with."""
        return any(self.near(value, tolerance) for value, tolerance in number.candidates())

    @property
    def values(self) -> list[Decimal]:
        """Every source value, sorted."""
        return self._values


#: Quantities an answer may multiply a grounded figure by without writing them ("2 items at $5").
_SMALL_FACTORS = tuple(Decimal(k) for k in range(2, 13))


def grounded_figures(shown: Sequence[Number], index: NumberIndex) -> list[bool]:
    """Which of an answer's figures are grounded: held by a source, or arithmetic on grounded ones.

    An answer computes: a price difference, a total of the items it lists, a quantity times a unit
    price, a percentage of an amount. Starting from the figures the sources hold (and trivial
    ones), a figure joins the grounded ones when it equals, up to the rounding it was written with:

    * a sum, difference, product or quotient of a grounded figure and another figure of the
      answer that is grounded or trivial ("3 x $8.25 = $24.75");
    * a grounded figure plus or minus a source value (a price difference against a listed price);
    * a grounded figure times or divided by a small whole quantity (2-12) it need not write;
    * a grounded percentage of a grounded figure or a source value;
    * the sum of a run of two or more consecutive grounded or trivial figures (a total of listed
      items).

    This repeats until nothing changes. Trivial figures are never the base of a result, so invented
    figures cannot explain each other ("$30 = $10 + $20" with none of them in a source stays
    ungrounded).

    Args:
        shown: every figure of the answer, in order.
        index: the source values.

    Returns:
        One flag per figure of ``shown``.
    """
    held = [index.grounded(n) for n in shown]
    changed = True
    while changed and not all(h or n.trivial for h, n in zip(held, shown)):
        changed = False
        for i, number in enumerate(shown):
            if not held[i] and not number.trivial and _explained(i, shown, held, index):
                held[i] = changed = True
    return [h or n.trivial for h, n in zip(held, shown)]


def _explained(i: int, shown: Sequence[Number], held: Sequence[bool], index: NumberIndex) -> bool:
    """Whether figure ``i`` is arithmetic on held figures (trivial ones may be the second operand
    of a pairwise operation or part of a run, never the base a result is built on)."""
    number = shown[i]
    target, tol = abs(number.value), number.tolerance
    bases = [n for j, n in enumerate(shown) if held[j] and j != i and n.value != 0]
    others = [n for j, n in enumerate(shown) if (held[j] or n.trivial) and j != i and n.value != 0]

    def close(value: Decimal) -> bool:
        return abs(abs(value) - target) <= tol

    for a in bases:
        for b in others:
            if a is not b and (
                close(a.value + b.value) or close(a.value - b.value) or close(a.value * b.value)
                or close(a.value / b.value) or close(b.value / a.value)
            ):
                return True
        base = abs(a.value)
        if any(c > 0 and index.near(c, tol) for c in (target - base, base - target, target + base)):
            return True
        if any(close(a.value * k) or close(a.value / k) for k in _SMALL_FACTORS):
            return True
        if a.percent:
            share = abs(a.value) / 100
            if any(close(b.value * share) for b in bases if b is not a) or index.near(target / share, tol / share):
                return True
    run = [n.value if (held[j] or n.trivial) and j != i else None for j, n in enumerate(shown)]
    for start in range(len(run)):
        total, count = Decimal(0), 0
        for value in run[start:]:
            if value is None:
                break
            total, count = total + value, count + 1
            if count >= 2 and close(total):
                return True
    return False


def ungrounded_numbers(answer: str, index: NumberIndex) -> list[Number]:
    """Figures of ``answer`` that no source value in ``index`` holds and no arithmetic on grounded
    figures explains, in answer order (see ``grounded_figures``)."""
    shown = figures(answer)
    return [n for n, ok in zip(shown, grounded_figures(shown, index)) if not ok]


def grounded_values(answer: str, index: NumberIndex) -> set[Decimal]:
    """The values of ``answer``'s figures that are grounded (see ``grounded_figures``)."""
    shown = figures(answer)
    return {n.value for n, ok in zip(shown, grounded_figures(shown, index)) if ok}

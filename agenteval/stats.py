"""Exact tests for pass/fail outcomes of two runs, and intervals for their difference. Pure, stdlib only.

* ``mcnemar_exact``: paired cases (a binomial test on the cases that moved). With several trials per
  case it is the exact sign test over cases: a case counts once, as worse or better, however many
  trials it ran, so trials of one case are never taken for independent evidence.
* ``fisher_exact``: two independent samples (cases found in only one run).
* ``newcombe_interval``: a confidence interval for the difference of two independent proportions.
* ``bootstrap_ci``: a seeded percentile interval of a mean (score changes per case).

scipy would give these too, but pulls a large compiled dependency into every CI job for a few lines of
``math.comb``; the tests check these functions against values worked out by hand.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

#: Relative slack when comparing probabilities of tables (Fisher's two-sided rule), as R and scipy do.
_REL_SLACK = 1 + 1e-7


@dataclass(frozen=True)
class TestOutcome:
    """What a test found: the p-value, and which way the candidate moved."""

    p_value: float
    observed: float
    expected: float

    @property
    def direction(self) -> int:
        """+1 when the candidate failed more than expected under no change, -1 less, 0 neither."""
        gap = self.observed - self.expected
        return 0 if abs(gap) < 1e-12 else (1 if gap > 0 else -1)


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value: a binomial(b + c, 1/2) test on the discordant pairs."""
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(b, c) + 1))
    return min(1.0, 2 * tail / 2**n)


def _hypergeometric(total: int, failed: int, drawn: int) -> tuple[int, list[float]]:
    """Support start and pmf of the failures among ``drawn`` of ``total`` trials, ``failed`` of which failed."""
    low, high = max(0, drawn - (total - failed)), min(drawn, failed)
    whole = math.comb(total, drawn)
    return low, [math.comb(failed, x) * math.comb(total - failed, drawn - x) / whole for x in range(low, high + 1)]


def fisher_exact(base_failed: int, base_n: int, candidate_failed: int, candidate_n: int) -> TestOutcome:
    """Two-sided Fisher exact test of two independent failure proportions.

    The p-value sums the probabilities of every table with the same margins that is no more likely
    than the one observed (the usual two-sided rule of R's ``fisher.test``).
    """
    total, failed = base_n + candidate_n, base_failed + candidate_failed
    expected = candidate_n * failed / total if total else 0.0
    if not base_n or not candidate_n or failed in (0, total):
        return TestOutcome(1.0, float(candidate_failed), expected)
    low, pmf = _hypergeometric(total, failed, candidate_n)
    seen = pmf[candidate_failed - low]
    p = sum(q for q in pmf if q <= seen * _REL_SLACK)
    return TestOutcome(min(1.0, p), float(candidate_failed), expected)


def wilson_interval(failed: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion."""
    if n == 0:
        return (0.0, 1.0)
    z = NormalDist().inv_cdf(0.5 + level / 2)
    p = failed / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def newcombe_interval(
    base_failed: int, base_n: int, candidate_failed: int, candidate_n: int, level: float = 0.95
) -> tuple[float, float] | None:
    """Interval for candidate rate minus base rate (Newcombe's hybrid score method, from Wilson intervals)."""
    if not base_n or not candidate_n:
        return None
    p1, p2 = base_failed / base_n, candidate_failed / candidate_n
    l1, u1 = wilson_interval(base_failed, base_n, level)
    l2, u2 = wilson_interval(candidate_failed, candidate_n, level)
    d = p2 - p1
    return (d - math.sqrt((p2 - l2) ** 2 + (u1 - p1) ** 2), d + math.sqrt((u2 - p2) ** 2 + (p1 - l1) ** 2))


def bootstrap_ci(
    values: list[float], *, resamples: int = 2000, level: float = 0.95, seed: int = 0
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of the mean of ``values`` (seeded, so reports are reproducible)."""
    if not values:
        return None
    if len(values) == 1:
        return (values[0], values[0])
    rng = random.Random(seed)
    n = len(values)
    means = sorted(sum(rng.choices(values, k=n)) / n for _ in range(resamples))
    low = means[int(math.floor((1 - level) / 2 * resamples))]
    high = means[min(resamples - 1, int(math.ceil((1 + level) / 2 * resamples)) - 1)]
    return (low, high)


def pass_hat_k(successes: Sequence[tuple[int, int]], k: int) -> float | None:
    """tau-bench's pass^k: the chance that all of k fresh trials of a case pass, averaged over cases.

    ``successes`` holds (passed trials, trials) per case; the unbiased estimate C(c, k) / C(n, k) per case
    needs n >= k, so cases with fewer trials are left out. None when no case has k trials.
    """
    usable = [(c, n) for c, n in successes if n >= k]
    if not usable or k < 1:
        return None
    return sum(math.comb(c, k) / math.comb(n, k) for c, n in usable) / len(usable)

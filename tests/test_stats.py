"""stats: exact tests checked against values worked out by hand or published, and their invariants."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agenteval.stats import bootstrap_ci, fisher_exact, mcnemar_exact, newcombe_interval, pass_hat_k, wilson_interval


@pytest.mark.parametrize(
    "a, n1, c, n2, expected",
    [
        (1, 10, 8, 10, 0.005477494641581329),  # R: fisher.test(matrix(c(1, 9, 8, 2), 2))
        (3, 3, 0, 3, 0.1),  # the tea-tasting table: 2 / C(6, 3)
        (0, 5, 1, 5, 1.0),
        (5, 5, 5, 5, 1.0),  # no variation at all
        (0, 0, 3, 5, 1.0),  # an empty side
    ],
)
def test_fisher_exact(a, n1, c, n2, expected):
    assert fisher_exact(a, n1, c, n2).p_value == pytest.approx(expected)


def test_fisher_direction_follows_the_candidate():
    assert fisher_exact(1, 10, 8, 10).direction == 1
    assert fisher_exact(8, 10, 1, 10).direction == -1
    assert fisher_exact(2, 10, 2, 10).direction == 0


def test_newcombe_interval_matches_the_published_example():
    # Newcombe (1998), method 10, example (a): 56/70 vs 48/80, difference 0.2 -> 0.0524 to 0.3339.
    low, high = newcombe_interval(48, 80, 56, 70)
    assert (round(low, 4), round(high, 4)) == (0.0524, 0.3339)
    assert newcombe_interval(0, 0, 1, 2) is None


def test_wilson_interval_matches_the_textbook_value():
    low, high = wilson_interval(1, 10)  # Wilson 95% for 1/10: 0.0179 to 0.4042
    assert (round(low, 4), round(high, 4)) == (0.0179, 0.4042)


@pytest.mark.parametrize(
    "b, c, expected",
    [(0, 0, 1.0), (1, 0, 1.0), (3, 3, 1.0), (5, 0, 2 / 32), (6, 0, 2 / 64), (10, 2, 2 * (1 + 12 + 66) / 4096)],
)
def test_mcnemar_exact(b, c, expected):
    assert mcnemar_exact(b, c) == pytest.approx(expected)
    assert mcnemar_exact(c, b) == pytest.approx(expected)


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 40), st.integers(0, 40), st.integers(0, 40), st.integers(0, 40))
def test_fisher_p_value_is_a_probability_and_symmetric(a, b, c, d):
    n1, n2 = a + b, c + d
    p = fisher_exact(a, n1, c, n2).p_value
    assert 0 <= p <= 1 + 1e-12 and math.isfinite(p)
    assert p == pytest.approx(fisher_exact(c, n2, a, n1).p_value, abs=1e-9)


def test_pass_hat_k():
    # tau-bench: per task C(c, k) / C(n, k), averaged.
    assert pass_hat_k([(3, 3), (2, 3), (0, 3)], 1) == pytest.approx((1 + 2 / 3 + 0) / 3)
    assert pass_hat_k([(3, 3), (2, 3), (0, 3)], 2) == pytest.approx((1 + 1 / 3 + 0) / 3)
    assert pass_hat_k([(3, 3), (2, 3), (0, 3)], 3) == pytest.approx(1 / 3)
    assert pass_hat_k([(1, 1)], 2) is None


def test_bootstrap_interval_is_seeded_and_brackets_the_mean():
    values = [-1.0, -0.5, 0.0, 0.25, -0.75, -0.5, -1.0, 0.0]
    low, high = bootstrap_ci(values, seed=3)
    assert low <= sum(values) / len(values) <= high
    assert bootstrap_ci(values, seed=3) == (low, high)
    assert bootstrap_ci([]) is None and bootstrap_ci([0.5]) == (0.5, 0.5)

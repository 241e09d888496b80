"""Margins (Eq. 13), coding bounds and binarization error."""

import itertools

import numpy as np
import pytest

from hclm_ref.margins import (
    binarization_error,
    class_margins,
    hamming_bound,
    hamming_distance_matrix,
    min_hamming_distance,
    plotkin_bound,
    simplex_bound,
)
from hclm_ref.proxies import hadamard_proxies, make_proxies


def test_hamming_distance_matrix_matches_bit_count():
    rng = np.random.default_rng(0)
    B = rng.choice([-1, 1], size=(7, 13))
    D = hamming_distance_matrix(B)
    brute = np.array([[np.sum(a != b) for b in B] for a in B])
    np.testing.assert_array_equal(D, brute)


def test_pm1_margin_is_twice_relative_min_distance():
    rng = np.random.default_rng(1)
    for C, d in [(2, 5), (10, 16), (10, 48), (40, 24)]:
        B = rng.choice([-1, 1], size=(C, d))
        D = hamming_distance_matrix(B).astype(float)
        np.fill_diagonal(D, np.inf)
        np.testing.assert_allclose(class_margins(B), 2 * D.min(axis=1) / d, rtol=0, atol=1e-12)


def test_plotkin_bound_hand_values_and_hadamard_meets_it():
    assert plotkin_bound(10, 16) == 8 and plotkin_bound(10, 64) == 35
    assert plotkin_bound(3, 10) == 6                  # odd M: n (M+1) / (2M) = 40/6
    assert plotkin_bound(2, 9) == 9                   # two codewords: complements
    for k in range(2, 8):
        d = 2 ** k
        H = hadamard_proxies(d, d)
        assert min_hamming_distance(H) == d // 2 == plotkin_bound(d, d)


def test_plotkin_bound_is_tight_on_exhaustive_small_codes():
    # all 3-word codes of length 4 (up to the first word): the best min distance equals the bound
    words = np.array(list(itertools.product([-1, 1], repeat=4)))
    best = max(min_hamming_distance(np.stack([words[0], a, b]))
               for a, b in itertools.combinations(words[1:], 2))
    assert best == plotkin_bound(3, 4) == 2


@pytest.mark.parametrize("kind", ["random", "tammes", "aligned", "hclm", "hadamard"])
@pytest.mark.parametrize("C,d", [(4, 16), (10, 16), (10, 32), (30, 32)])
def test_no_proxy_set_exceeds_the_bounds(kind, C, d):
    W = make_proxies(kind, C, d, seed=3)
    M = class_margins(W)
    assert M.min() <= simplex_bound(C) + 1e-9
    assert M.mean() <= simplex_bound(C) + 1e-9
    if kind in ("random", "hclm", "hadamard"):
        assert min_hamming_distance(W) <= min(plotkin_bound(C, d), hamming_bound(C, d))


def test_hamming_bound_hand_value():
    # the [7,4] Hamming code: 16 words at distance 3 are perfect; distance 5 is impossible
    assert hamming_bound(16, 7) == 4          # distance 4 has t = 1 as well
    assert hamming_bound(17, 7) == 2


def test_binarization_error():
    nu = np.array([[1.0, -0.5], [0.95, -1.0]])
    e = binarization_error(nu)
    assert e["mean"] == pytest.approx((0 + 0.5 + 0.05 + 0) / 4)
    np.testing.assert_allclose(e["per_unit"], [0.025, 0.25])
    assert e["saturated"] == pytest.approx(0.75)
    with pytest.raises(ValueError, match="nu"):
        binarization_error(np.array([[2.0, 0.0]]))


@pytest.mark.parametrize("call", [
    lambda: class_margins(np.ones((1, 4))),
    lambda: min_hamming_distance(np.array([[1, 0], [1, 1]])),
    lambda: min_hamming_distance(np.array([1, -1])),
    lambda: plotkin_bound(1, 8),
    lambda: plotkin_bound(4, 0),
    lambda: simplex_bound(1),
    lambda: class_margins(np.array([[np.nan, 1.0], [1.0, 0.0]])),
])
def test_bad_input_raises_value_error(call):
    with pytest.raises(ValueError):
        call()

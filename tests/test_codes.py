"""Codes from coding theory as proxies (codes.py, proxies.best_proxies) and the upper bounds on
how far apart C codes of d bits can be (margins.py)."""

import itertools

import numpy as np
import pytest

from hclm_ref.codes import (
    bch_generator,
    farthest_words,
    golay,
    juxtaposed_code,
    linear_code_words,
    min_distance,
    nordstrom_robinson,
)
from hclm_ref.margins import (
    hamming_bound,
    lp_bound,
    lp_size,
    min_hamming_distance,
    plotkin_bound,
    plotkin_size,
    plotkin_theorem_bound,
)
from hclm_ref.proxies import best_proxies, distance_key, hadamard_proxies, hclm_proxies, make_proxies
from hclm_ref.proxy_table import best_known_distance, distance_table


def _brute_min_distance(words):
    return min(int(np.sum(a != b)) for a, b in itertools.combinations(words, 2))


# ------------------------------------------------------------------------------ codes

@pytest.mark.parametrize("m,delta,k,dist", [
    (3, 3, 4, 4),       # extended Hamming [8, 4, 4]
    (4, 5, 7, 6),       # extended BCH [16, 7, 6]
    (4, 7, 5, 8),       # RM(1, 4) [16, 5, 8]: Hadamard rows and their negations
    (5, 7, 16, 8),      # [32, 16, 8]
    (6, 27, 10, 28),    # [64, 10, 28]
    (6, 31, 7, 32),     # RM(1, 6) [64, 7, 32]
    (7, 55, 15, 56),    # [128, 15, 56]
])
def test_extended_bch_codes_have_their_textbook_parameters(m, delta, k, dist):
    G = bch_generator(m, delta)
    assert G.shape == (k, 2 ** m)
    words = linear_code_words(G)
    assert len(np.unique(words, axis=0)) == 2 ** k          # the rows are independent
    assert int(words[1:].sum(axis=1).min()) == dist          # linear: distance = least weight
    assert np.all(words.sum(axis=1) % 2 == 0)                # the parity bit makes weights even
    # the code before the parity bit is cyclic: a shift of a codeword is a codeword
    cyclic = {w[:-1].tobytes() for w in words}
    assert all(np.roll(w[:-1], 1).tobytes() in cyclic for w in words[:50])


def test_linear_code_words_are_closed_under_addition():
    words = linear_code_words(bch_generator(4, 5))
    as_set = {w.tobytes() for w in words}
    rng = np.random.default_rng(0)
    for a, b in rng.integers(0, len(words), (40, 2)):
        assert (words[a] ^ words[b]).tobytes() in as_set


def test_nordstrom_robinson_code():
    words = nordstrom_robinson()
    assert words.shape == (256, 16) and len(np.unique(words, axis=0)) == 256
    # distance-invariant with the known distribution: 112 at 6, 30 at 8, 112 at 10, 1 at 16
    for w in words[[0, 77, 255]]:
        counts = np.bincount(np.sum(words != w, axis=1), minlength=17)
        assert {i: c for i, c in enumerate(counts) if c} == {0: 1, 6: 112, 8: 30, 10: 112, 16: 1}
    assert min_distance(words) == 6 and lp_size(16, 6) == 256       # A(16, 6) = 256: LP-tight


def test_golay_code():
    words = golay()
    weights = np.bincount(words.sum(axis=1), minlength=25)
    assert {i: c for i, c in enumerate(weights) if c} == {0: 1, 8: 759, 12: 2576, 16: 759, 24: 1}
    words, _ = juxtaposed_code(1000, 24)                 # A(24, 8) = 4096: the Golay code
    assert min_distance(words) == 8 == lp_bound(1000, 24)


def test_farthest_words_matches_brute_force_distance_and_is_no_closer_than_the_code():
    words = linear_code_words(bch_generator(4, 3))          # [16, 11, 4]
    chosen = farthest_words(words, 12)
    assert len(np.unique(chosen, axis=0)) == 12
    assert min_distance(chosen) == _brute_min_distance(chosen) >= 4


@pytest.mark.parametrize("C,d", [(10, 12), (10, 48), (100, 24), (30, 40), (5, 7)])
def test_juxtaposed_code_keeps_its_guarantee(C, d):
    words, guaranteed = juxtaposed_code(C, d)
    assert words.shape == (C, d)
    assert _brute_min_distance(words) >= guaranteed


# ----------------------------------------------------------------------------- bounds

def test_plotkin_theorem_hand_values():
    assert [plotkin_theorem_bound(10, d) for d in (16, 24, 32, 48, 64)] == [8, 12, 17, 26, 35]
    # the averaging form allows 13 at C = 10, d = 24; the theorem: A(25, 14) <= 2 floor(14/3) = 8
    assert plotkin_bound(10, 24) == 13 and plotkin_size(24, 13) == 8
    assert plotkin_size(16, 8) == 32          # n = 2d: 4d
    assert plotkin_size(16, 6) == 6 * 2 ** 6  # n > 2d: d 2^(n - 2d + 2)
    assert plotkin_size(7, 3) == plotkin_size(8, 4) == 16


# exact values of A(n, d) (MacWilliams & Sloane, Brouwer's table); every bound must allow them
KNOWN_A = {(5, 3): 4, (6, 3): 8, (7, 3): 16, (8, 3): 20, (8, 4): 16, (9, 4): 20, (10, 4): 40,
           (12, 6): 24, (16, 6): 256, (16, 8): 32, (24, 8): 4096, (24, 12): 48, (10, 5): 12}


@pytest.mark.parametrize("n,d", sorted(KNOWN_A))
def test_upper_bounds_on_code_size_hold_for_known_codes(n, d):
    assert plotkin_size(n, d) >= KNOWN_A[n, d]
    assert lp_size(n, d) >= KNOWN_A[n, d]


def test_lp_bound_hand_values():
    assert lp_size(16, 6) == 256 and lp_size(24, 8) == 4096 and lp_size(12, 6) == 24
    assert lp_size(23, 7) == 4096                      # the Golay code is perfect: LP-tight
    assert lp_bound(1000, 32) == 12 < plotkin_theorem_bound(1000, 32) == 13


def _largest_code(n, d):
    """A(n, d) by exhaustive search: the largest clique of the graph 'at distance >= d' on
    {0, 1}^n (branch and bound; tiny n only)."""
    space = np.array(list(itertools.product([0, 1], repeat=n)))
    far = (space[:, None, :] != space[None, :, :]).sum(-1) >= d
    best = 0

    def grow(size, candidates):
        nonlocal best
        best = max(best, size)
        for pos, v in enumerate(candidates):
            if size + len(candidates) - pos <= best:
                return
            grow(size + 1, [u for u in candidates[pos + 1:] if far[v, u]])
    grow(0, list(range(len(space))))
    return best


@pytest.mark.parametrize("n,d", [(5, 3), (6, 3), (6, 4), (5, 2), (7, 5)])
def test_bounds_against_exhaustive_search_at_small_lengths(n, d):
    A = _largest_code(n, d)
    assert A == KNOWN_SMALL_A[n, d]
    assert lp_size(n, d) >= A and plotkin_size(n, d) >= A
    if (n, d) != (7, 5):                    # Delsarte's bound is tight here, not at A(7, 5) = 2
        assert lp_size(n, d) == A


KNOWN_SMALL_A = {(5, 3): 4, (6, 3): 8, (6, 4): 4, (5, 2): 16, (7, 5): 2}


@pytest.mark.parametrize("C,d", [(10, 16), (20, 12), (30, 24), (7, 9)])
def test_every_upper_bound_holds_for_our_codes(C, d):
    low = min_hamming_distance(best_proxies(C, d, search_budget=3e6))
    assert low <= min(plotkin_bound(C, d), plotkin_theorem_bound(C, d), lp_bound(C, d), hamming_bound(C, d))


# -------------------------------------------------------------------- the best design

@pytest.mark.parametrize("d", [16, 24, 32, 48, 64])
def test_best_proxies_reach_plotkins_theorem_for_ten_classes(d):
    B = best_proxies(10, d)
    assert B.dtype == np.int8 and len(np.unique(B, axis=0)) == 10
    assert min_hamming_distance(B) == plotkin_theorem_bound(10, d)


def test_a_hundred_classes_get_the_codes_of_coding_theory():
    # best_proxies takes the farthest of its candidates (next test), among them this one
    words, _ = juxtaposed_code(100, 16)
    assert min_distance(words) >= 6                                 # Nordstrom-Robinson
    words, _ = juxtaposed_code(100, 64)
    assert min_distance(words) >= 32 and len(np.unique(words, axis=0)) == 100   # RM(1, 6)


@pytest.mark.parametrize("C,d", [(12, 24), (20, 12), (6, 10), (24, 32)])
def test_best_proxies_never_below_the_pipeline_or_hadamard(C, d):
    B = best_proxies(C, d, search_budget=3e6)
    assert distance_key(B) >= distance_key(hclm_proxies(C, d))
    assert min_hamming_distance(B) >= min_hamming_distance(hclm_proxies(C, d, refine=False))
    if d & (d - 1) == 0 and C <= 2 * d:
        assert min_hamming_distance(B) >= min_hamming_distance(hadamard_proxies(C, d))


def test_best_kind_in_the_registry_is_deterministic():
    a, b = make_proxies("best", 12, 20, seed=3), make_proxies("best", 12, 20, seed=3)
    assert a.tobytes() == b.tobytes() and a.shape == (12, 20)


def test_distance_key_orders_by_minimum_then_pairs_at_it():
    B = np.array([[1, 1, 1, 1], [1, 1, -1, -1], [-1, -1, 1, 1], [1, -1, 1, -1]])
    assert distance_key(B) == (2, -5, 0)
    assert distance_key(B[:3]) > distance_key(B)                   # one pair fewer at 2


def test_best_known_distances_and_table_row():
    assert best_known_distance(10, 24) == (12, "Brouwer")          # A(24, 12) = 48
    assert best_known_distance(100, 16) == (6, "Brouwer")          # A(16, 6) = 256
    assert best_known_distance(100, 64) == (32, "Levenshtein")     # A(64, 32) = 128
    assert best_known_distance(1000, 64) == (None, "")
    lines = distance_table((10,), (16,)).splitlines()
    assert lines[2].startswith("| 10 | 16 |") and "| **8** |" in lines[2]
    assert lines[2].endswith("| 8 | 8 | 8 | 10 | 8 (Brouwer) |")

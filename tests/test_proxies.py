"""Proxy design: Tammes (Eq. 14), ITQ alignment (Eq. 16), HCLM (Eq. 17), sHCLM (Eqs. 18-21)."""

import itertools

import numpy as np
import pytest

from hclm_ref.margins import (
    class_margins,
    hamming_distance_matrix,
    min_hamming_distance,
    plotkin_bound,
    simplex_bound,
)
from hclm_ref.proxies import (
    DESIGNED_KINDS,
    PROXY_KINDS,
    assignment_objective,
    binary_alignment,
    class_similarity,
    hadamard_proxies,
    hclm_proxies,
    itq_rotation,
    make_proxies,
    quantization_loss,
    semantic_assignment,
    tag_similarity,
    tammes,
)
from hclm_ref.proxy_table import margins_table


def max_inner(W):
    G = W @ W.T
    np.fill_diagonal(G, -np.inf)
    return G.max()


@pytest.mark.parametrize("C,d", [(2, 3), (5, 4), (10, 16), (17, 16), (10, 64)])
def test_tammes_reaches_the_simplex(C, d):
    W = tammes(C, d, seed=1)
    np.testing.assert_allclose(np.linalg.norm(W, axis=1), 1.0, atol=1e-12)
    assert abs(max_inner(W) - (-1.0 / (C - 1))) < 1e-6
    assert class_margins(W).min() == pytest.approx(simplex_bound(C), abs=1e-6)


@pytest.mark.parametrize("C,d", [(12, 10), (20, 10), (24, 16), (32, 16), (100, 64)])
def test_tammes_reaches_the_cross_polytope(C, d):
    assert abs(max_inner(tammes(C, d, seed=2))) < 1e-3


def test_tammes_beats_random_when_crowded():
    rng = np.random.default_rng(0)
    R = rng.standard_normal((60, 8))
    R /= np.linalg.norm(R, axis=1, keepdims=True)
    assert max_inner(tammes(60, 8)) < max_inner(R) - 0.1


def test_itq_keeps_rotation_orthogonal_and_loss_never_increases():
    rng = np.random.default_rng(4)
    V = rng.standard_normal((200, 12))
    R, losses = itq_rotation(V, n_iter=30, seed=5)
    np.testing.assert_allclose(R @ R.T, np.eye(12), atol=1e-10)
    assert np.all(np.diff(losses) <= 1e-9)
    assert losses[-1] == pytest.approx(quantization_loss(V, R))
    assert losses[-1] < losses[0]


def test_binary_alignment_keeps_margins_and_reduces_binarization_error():
    W = tammes(10, 32, seed=0)
    Gamma = binary_alignment(W, seed=0)
    np.testing.assert_allclose(Gamma @ Gamma.T, np.eye(32), atol=1e-10)
    A = W @ Gamma.T
    np.testing.assert_allclose(class_margins(A), class_margins(W), atol=1e-12)
    # distance to the nearest vertex of the scaled hypercube, before and after
    def err(X):
        return np.sum((np.sqrt(32) * X - np.where(X >= 0, 1, -1)) ** 2)
    assert err(A) < err(W)


@pytest.mark.parametrize("d", [16, 24, 32, 48, 64])
def test_refined_hclm_is_near_plotkin_and_never_below_hadamard(d):
    B = hclm_proxies(10, d, seed=0)
    assert B.dtype == np.int8 and set(np.unique(B)) == {-1, 1}
    dmin = min_hamming_distance(B)
    assert plotkin_bound(10, d) - 1 <= dmin <= plotkin_bound(10, d)
    if d & (d - 1) == 0:
        assert dmin >= min_hamming_distance(hadamard_proxies(10, d))
    assert dmin > min_hamming_distance(hclm_proxies(10, d, seed=0, refine=False))


def test_same_seed_same_bits():
    for kind in ["random", "tammes", "aligned", "hclm"]:
        a, b = make_proxies(kind, 12, 24, seed=7), make_proxies(kind, 12, 24, seed=7)
        assert a.tobytes() == b.tobytes()
    assert make_proxies("random", 12, 24, seed=7).tobytes() != \
        make_proxies("random", 12, 24, seed=8).tobytes()


def test_hadamard_rows_and_where_they_fit():
    H = hadamard_proxies(16, 16)
    np.testing.assert_array_equal(H.astype(int) @ H.T, 16 * np.eye(16))
    assert min_hamming_distance(hadamard_proxies(20, 16)) == 8     # rows of H and -H
    for C, d in [(10, 12), (40, 16)]:
        with pytest.raises(ValueError, match="power of two"):
            make_proxies("hadamard", C, d)


def test_class_similarity_hand_example():
    features = np.array([[0.0, 0], [0, 0], [3, 4], [3, 4], [0, 8]])
    labels = np.array([0, 0, 1, 1, 2])
    S = class_similarity(features, labels)
    # class means (0,0), (3,4), (0,8): distances 5, 8, 5 -> kappa = 6
    expected = np.exp(-np.array([[0, 25, 64], [25, 0, 25], [64, 25, 0]]) / (2 * 36.0))
    np.testing.assert_allclose(S, expected)


def test_tag_similarity_hand_example():
    tags = np.array([[1, 1, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]])
    S = tag_similarity(tags)
    # tag 0 appears 3 times, tag 1 3 times, together twice: 2*2/(3+3); tag 2 never
    np.testing.assert_allclose(S, [[1, 2 / 3, 0], [2 / 3, 1, 0], [0, 0, 1]])


def random_similarity(C, rng):
    U = rng.standard_normal((C, 5))
    labels = np.repeat(np.arange(C), 3)
    return class_similarity(U[labels] + 0.1 * rng.standard_normal((3 * C, 5)), labels)


def test_semantic_assignment_never_increases_and_ends_at_a_swap_optimum():
    rng = np.random.default_rng(0)
    B = hclm_proxies(8, 16, seed=0, refine=False)
    S = random_similarity(8, rng)
    perm, before, after = semantic_assignment(B, S, seed=3, return_objective=True)
    assert sorted(perm) == list(range(8))
    assert after <= before
    assert after == pytest.approx(assignment_objective(B, S, perm))
    for a, b in itertools.combinations(range(8), 2):     # no single swap improves it
        swapped = perm.copy()
        swapped[[a, b]] = swapped[[b, a]]
        assert assignment_objective(B, S, swapped) >= after - 1e-9


def test_semantic_assignment_pairs_similar_classes_with_close_proxies():
    # 4 classes in 2 obvious pairs; proxies: two pairs of close codes
    B = np.array([[1, 1, 1, 1], [1, 1, 1, -1], [-1, -1, -1, -1], [-1, -1, -1, 1]])
    S = np.array([[1, 0.1, 0.9, 0.1], [0.1, 1, 0.1, 0.9], [0.9, 0.1, 1, 0.1],
                  [0.1, 0.9, 0.1, 1]])
    perm = semantic_assignment(B, S, seed=0)
    D = hamming_distance_matrix(B[perm])
    assert D[0, 2] == 1 and D[1, 3] == 1


def test_make_proxies_shclm_is_a_permutation_of_hclm():
    S = random_similarity(10, np.random.default_rng(2))
    Bs = make_proxies("shclm", 10, 32, similarity=S, seed=0)
    Bh = make_proxies("hclm", 10, 32, seed=0)
    assert sorted(map(bytes, Bs)) == sorted(map(bytes, Bh))
    # without a similarity the rows come in design order, for training to assign
    np.testing.assert_array_equal(make_proxies("shclm", 10, 32, seed=0), Bh)


def test_registry_every_kind_has_rows_of_norm_sqrt_d():
    for kind, spec in PROXY_KINDS.items():
        W = make_proxies(kind, 10, 16, seed=1)
        np.testing.assert_allclose(np.linalg.norm(W.astype(float), axis=1), 4.0)
        assert (W.dtype == np.int8) == spec.binary
        assert len(np.unique(W, axis=0)) == 10
    np.testing.assert_array_equal(make_proxies("hclm-paper", 10, 16), hclm_proxies(10, 16, refine=False))


@pytest.mark.parametrize("C,d", [(3, 2), (4, 2), (16, 4), (9, 4), (40, 6)])
def test_random_codes_are_distinct_even_when_dense(C, d):
    B = make_proxies("random", C, d, seed=5)
    assert B.shape == (C, d) and len(np.unique(B, axis=0)) == C
    np.testing.assert_array_equal(B, make_proxies("random", C, d, seed=5))


def test_margins_table_hand_values():
    table = margins_table(class_counts=(10,), bit_counts=(16, 12))
    lines = table.splitlines()
    assert lines[0].startswith("| C | d | proxy set | avg margin | min d_H |")
    # refined HCLM and Hadamard reach the Plotkin bound 8 at d = 16: margin 2 * 8 / 16 = 1
    assert "| 10 | 16 | hclm | 1.000 | 8 | 8 | 10 |" in lines
    assert "| 10 | 16 | hadamard | 1.000 | 8 | 8 | 10 |" in lines
    assert "| 10 | 16 | tammes | 1.111 |" in table            # the regular simplex: 1 + 1/9
    assert not any(line.startswith("| 10 | 12 | hadamard") for line in lines)   # 12 is no power of 2
    assert len(lines) == 2 + len(DESIGNED_KINDS) * 2 - 1
    with pytest.raises(ValueError, match="n_codewords"):
        margins_table(class_counts=(1,))


@pytest.mark.parametrize("call,word", [
    (lambda: tammes(1, 4), "n_classes"),
    (lambda: tammes(4, 0), "n_dims"),
    (lambda: hclm_proxies(10, 0), "n_bits"),
    (lambda: make_proxies("nope", 10, 16), "kind"),
    (lambda: make_proxies("shclm", 10, 16, similarity=np.eye(3)), "similarity"),
    (lambda: make_proxies("random", 3, 1), "n_bits=1 has only 2 distinct codes"),
    (lambda: make_proxies("hclm", 10, 2), "use at least 4 bits"),
    (lambda: semantic_assignment(np.ones((3, 4)), np.eye(4)), "similarity"),
    (lambda: semantic_assignment(np.ones((3, 4)), np.triu(np.ones((3, 3)))), "symmetric"),
    (lambda: class_similarity(np.ones((4, 2)), np.array([0, 0, 2, 2])), "labels"),
    (lambda: tag_similarity(np.array([[0, 2]])), "tags"),
])
def test_bad_input_raises_value_error(call, word):
    with pytest.raises(ValueError, match=word):
        call()


def test_kept_solutions_are_returned_as_copies():
    """tammes and hclm_proxies keep their (deterministic) solutions; a caller that writes into
    the returned array must not change what the next caller gets."""
    for make in (lambda: tammes(6, 4, seed=3), lambda: hclm_proxies(6, 8, seed=3)):
        first = make()
        expected = first.copy()
        first *= -1
        np.testing.assert_array_equal(make(), expected)

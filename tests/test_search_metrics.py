"""Hamming search and retrieval metrics against slow, obviously-correct references."""

import itertools

import numpy as np
import pytest

from hclm_ref.metrics import (
    distance_histograms,
    evaluate,
    mean_average_precision,
    precision_at_k,
    precision_at_radius,
    precision_recall_curve,
)
from hclm_ref.search import hamming_distances, hamming_radius, hamming_topk, pack_codes

# ------------------------------------------------------------------ slow references

def ref_distances(Q, X):
    return np.array([[np.sum(q != x) for x in X] for q in Q])


def ref_relevance(ql, dl):
    if np.ndim(ql) == 1:
        return ql[:, None] == dl[None, :]
    return (ql @ dl.T) > 0


def ref_ap(rel_ranked, topk=None):
    rel = np.asarray(rel_ranked, bool)[:topk]
    if rel.sum() == 0:
        return 0.0
    hits = np.cumsum(rel)
    return float(np.sum(hits[rel] / (np.nonzero(rel)[0] + 1)) / rel.sum())


def ref_stable_aps(Q, ql, X, dl, topk=None):
    D, rel = ref_distances(Q, X), ref_relevance(ql, dl)
    return np.array([ref_ap(rel[i][np.argsort(D[i], kind="stable")], topk) for i in range(len(Q))])


def ref_expected_aps(Q, ql, X, dl, topk=None):
    """Exhaustive: average AP over every order of the database that sorts the distances."""
    D, rel = ref_distances(Q, X), ref_relevance(ql, dl)
    out = []
    for i in range(len(Q)):
        aps = [ref_ap(rel[i][list(p)], topk) for p in itertools.permutations(range(len(X)))
               if np.all(np.diff(D[i][list(p)]) >= 0)]
        out.append(np.mean(aps))
    return np.array(out)


def heavy_tie_data(rng, nq, nd, d, n_classes=3, multi=False):
    """Codes near a few class codes with a flipped bit here and there: many equal distances."""
    centres = rng.choice([-1, 1], size=(n_classes, d))
    def draw(n):
        y = rng.integers(0, n_classes, n)
        B = centres[y] * np.where(rng.random((n, d)) < 0.15, -1, 1)
        if multi:
            tags = (rng.random((n, 4)) < 0.35).astype(np.int64)
            tags[np.arange(n), y % 4] = 1
            return B, tags
        return B, y
    return draw(nq) + draw(nd)


# ------------------------------------------------------------------------- search

@pytest.mark.parametrize("d", [1, 7, 12, 24, 48, 64, 65, 130])
def test_distances_equal_bit_count_for_any_length(d):
    rng = np.random.default_rng(d)
    Q, X = rng.choice([-1, 1], size=(9, d)), rng.choice([-1, 1], size=(31, d))
    D = hamming_distances(Q, X)
    np.testing.assert_array_equal(D, ref_distances(Q, X))
    np.testing.assert_array_equal(D, (d - Q @ X.T) // 2)               # d_H = (d - b^T b') / 2
    np.testing.assert_array_equal(hamming_distances(Q > 0, (X > 0).astype(np.uint8)), D)
    np.testing.assert_array_equal(hamming_distances(Q, X, chunk_bytes=1), D)   # 1 row a chunk


@pytest.mark.parametrize("bad", [np.array([[1, 0, -1]]), np.array([[np.nan, 1.0]]),
                                 np.array([1, -1]), np.array([[2, 1]]), np.array([["a"]]),
                                 np.zeros((3, 0))])
def test_pack_codes_rejects_bad_input(bad):
    with pytest.raises(ValueError, match="codes"):
        pack_codes(bad)


def test_mismatched_bits_rejected():
    with pytest.raises(ValueError, match="same number of bits"):
        hamming_distances(np.ones((2, 8)), np.ones((2, 9)))


def test_topk_and_radius_break_ties_by_index():
    rng = np.random.default_rng(1)
    Q, X = rng.choice([-1, 1], size=(5, 6)), rng.choice([-1, 1], size=(40, 6))
    D = ref_distances(Q, X)
    idx, dist = hamming_topk(Q, X, 10)
    for i in range(5):
        order = np.argsort(D[i], kind="stable")[:10]
        np.testing.assert_array_equal(idx[i], order)
        np.testing.assert_array_equal(dist[i], D[i][order])
    for i, (found, dist) in enumerate(hamming_radius(Q, X, 2)):
        expected = [j for j in np.argsort(D[i], kind="stable") if D[i][j] <= 2]
        np.testing.assert_array_equal(found, expected)
        assert np.all(dist <= 2)
    with pytest.raises(ValueError, match="k must"):
        hamming_topk(Q, X, 41)


# ------------------------------------------------------------------------ metrics

@pytest.mark.parametrize("multi", [False, True])
@pytest.mark.parametrize("topk", [None, 1, 5, 17, 60])
def test_stable_map_equals_argsort_reference(multi, topk):
    rng = np.random.default_rng(3)
    Q, ql, X, dl = heavy_tie_data(rng, 25, 60, 8, multi=multi)
    ap = mean_average_precision(Q, ql, X, dl, topk=topk, per_query=True)
    np.testing.assert_allclose(ap, ref_stable_aps(Q, ql, X, dl, topk), rtol=0, atol=1e-12)
    ap_small_chunks = mean_average_precision(Q, ql, X, dl, topk=topk, chunk_bytes=100)
    assert ap_small_chunks == pytest.approx(ap.mean(), abs=1e-12)


@pytest.mark.parametrize("multi", [False, True])
@pytest.mark.parametrize("topk", [None, 1, 2, 3, 5, 7])
def test_expected_map_equals_exhaustive_average(multi, topk):
    rng = np.random.default_rng(4)
    Q, ql, X, dl = heavy_tie_data(rng, 6, 7, 3, multi=multi)
    ap = mean_average_precision(Q, ql, X, dl, topk=topk, ties="expected", per_query=True)
    np.testing.assert_allclose(ap, ref_expected_aps(Q, ql, X, dl, topk), rtol=0, atol=1e-12)


def test_expected_map_ignores_database_order_but_stable_does_not():
    rng = np.random.default_rng(5)
    Q, ql, X, dl = heavy_tie_data(rng, 50, 400, 16)
    perm = rng.permutation(400)
    for topk in (None, 100):
        a = mean_average_precision(Q, ql, X, dl, topk=topk, ties="expected")
        b = mean_average_precision(Q, ql, X[perm], dl[perm], topk=topk, ties="expected")
        assert a == pytest.approx(b, abs=1e-12)
    s1 = mean_average_precision(Q, ql, X, dl)
    s2 = mean_average_precision(Q, ql, X[perm], dl[perm])
    assert abs(s1 - s2) > 1e-6


def test_hand_checked_ap():
    # one query, database at distances 0, 1, 1 with relevance 1, 0, 1
    Q = np.array([[1, 1]])
    X = np.array([[1, 1], [1, -1], [-1, 1]])
    ql, dl = np.array([0]), np.array([0, 1, 0])
    assert mean_average_precision(Q, ql, X, dl) == pytest.approx((1 + 2 / 3) / 2)
    # expected: the tie {1, 2} in either order: (1 + 2/3)/2 and (1 + 1)/2
    assert mean_average_precision(Q, ql, X, dl, ties="expected") == pytest.approx(
        ((1 + 2 / 3) / 2 + 1) / 2)


@pytest.mark.parametrize("ties", ["stable", "expected"])
def test_precision_at_k(ties):
    rng = np.random.default_rng(6)
    Q, ql, X, dl = heavy_tie_data(rng, 6, 7, 3)
    ks = [1, 3, 7]
    D, rel = ref_distances(Q, X), ref_relevance(ql, dl)
    if ties == "stable":
        ranked = [rel[i][np.argsort(D[i], kind="stable")] for i in range(6)]
        expected = [np.mean([r[:k].mean() for r in ranked]) for k in ks]
    else:
        expected = []
        for k in ks:
            per_query = []
            for i in range(6):
                orders = [list(p) for p in itertools.permutations(range(7))
                          if np.all(np.diff(D[i][list(p)]) >= 0)]
                per_query.append(np.mean([rel[i][o][:k].mean() for o in orders]))
            expected.append(np.mean(per_query))
    np.testing.assert_allclose(precision_at_k(Q, ql, X, dl, ks, ties=ties), expected, atol=1e-12)


def test_pr_curve_and_precision_at_radius():
    rng = np.random.default_rng(7)
    Q, ql, X, dl = heavy_tie_data(rng, 20, 50, 10, multi=True)
    D, rel = ref_distances(Q, X), ref_relevance(ql, dl)
    radii, precision, recall = precision_recall_curve(Q, ql, X, dl)
    for r in radii:
        inside = D <= r
        p = [rel[i][inside[i]].mean() if inside[i].any() else 0.0 for i in range(20)]
        rc = [rel[i][inside[i]].sum() / rel[i].sum() for i in range(20)]
        assert precision[r] == pytest.approx(np.mean(p), abs=1e-12)
        assert recall[r] == pytest.approx(np.mean(rc), abs=1e-12)
    assert recall[-1] == pytest.approx(1.0)
    assert precision_at_radius(Q, ql, X, dl, r=2) == pytest.approx(precision[2])
    n_all, n_rel = distance_histograms(Q, ql, X, dl)
    assert np.all(n_all.sum(axis=1) == 50) and np.all(n_rel <= n_all)


@pytest.mark.parametrize("multi", [False, True])
def test_evaluate_equals_the_single_metrics(multi):
    rng = np.random.default_rng(8)
    Q, ql, X, dl = heavy_tie_data(rng, 25, 60, 12, multi=multi)
    res = evaluate(Q, ql, X, dl, ks=(1, 5, 60, 100), radius=3)
    assert res["ks"] == [1, 5, 60]                                  # 100 > the database
    assert res["map_stable"] == pytest.approx(np.mean(ref_stable_aps(Q, ql, X, dl)), abs=1e-12)
    assert res["map_expected"] == pytest.approx(mean_average_precision(Q, ql, X, dl, ties="expected"),
                                                abs=1e-12)
    np.testing.assert_allclose(res["p_at_k"], precision_at_k(Q, ql, X, dl, [1, 5, 60]), atol=1e-12)
    radii, precision, recall = precision_recall_curve(Q, ql, X, dl)
    np.testing.assert_allclose(res["precision"], precision, atol=1e-12)
    np.testing.assert_allclose(res["recall"], recall, atol=1e-12)
    assert res["p_at_radius"] == pytest.approx(precision_at_radius(Q, ql, X, dl, r=3), abs=1e-12)
    with pytest.raises(ValueError, match="ks must be integers"):
        evaluate(Q, ql, X, dl, ks=(0, 5))


@pytest.mark.parametrize("call,word", [
    (lambda Q, X: mean_average_precision(Q, np.zeros(3, int), X, np.zeros(4, int)), "query_labels"),
    (lambda Q, X: mean_average_precision(Q, np.zeros(2, int), X, np.zeros(4, int), ties="x"), "ties"),
    (lambda Q, X: mean_average_precision(Q, np.zeros(2, int), X, np.zeros(4, int), topk=0), "topk"),
    (lambda Q, X: mean_average_precision(Q, np.zeros(2), X, np.zeros(4, int)), "query_labels"),
    (lambda Q, X: precision_at_k(Q, np.zeros(2, int), X, np.zeros(4, int), [5]), "ks"),
    (lambda Q, X: precision_at_radius(Q, np.zeros(2, int), X, np.zeros(4, int), r=-1), "r must"),
])
def test_metric_bad_input(call, word):
    Q, X = np.ones((2, 8)), -np.ones((4, 8))
    with pytest.raises(ValueError, match=word):
        call(Q, X)


def test_evaluate_top_n_map_matches_the_single_metric_and_a_brute_force_reference():
    from hclm_ref.metrics import evaluate, mean_average_precision
    rng = np.random.default_rng(5)
    q, db = rng.choice([-1, 1], (12, 10)), rng.choice([-1, 1], (60, 10))
    ql, dl = rng.integers(0, 2, (12, 4)), rng.integers(0, 2, (60, 4))      # multi-hot tags
    res = evaluate(q, ql, db, dl, topk=15)
    assert res["map_top_stable"] == pytest.approx(mean_average_precision(q, ql, db, dl, topk=15))
    assert res["map_top_expected"] == pytest.approx(
        mean_average_precision(q, ql, db, dl, topk=15, ties="expected"))
    # brute force: stable ranking by (distance, index); relevant = a shared tag
    aps = []
    for i in range(12):
        dist = np.sum(q[i] != db, axis=1)
        order = np.lexsort((np.arange(60), dist))[:15]
        rel = (ql[i] @ dl[order].T) > 0
        hits = np.cumsum(rel)
        aps.append(np.mean(hits[rel] / (np.flatnonzero(rel) + 1)) if rel.any() else 0.0)
    assert res["map_top_stable"] == pytest.approx(np.mean(aps))
    assert evaluate(q, ql, db, dl, topk=10 ** 6)["map_top_stable"] == pytest.approx(res["map_stable"])
    with pytest.raises(ValueError, match="topk"):
        evaluate(q, ql, db, dl, topk=0)

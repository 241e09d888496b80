"""Retrieval metrics for Hamming ranking: mAP (Eq. 26), tie-aware mAP, P@k, PR curve, P@radius.

Rules, stated once:
* Relevant = same class (labels (n,) ints) or sharing at least one tag (multi-hot (n, T)).
* The database is ranked by Hamming distance. Distances take only d+1 values, so ranks have
  many ties, and how ties are ordered changes AP. Two exact rules:
    ties="stable"    ties ranked by database index (deterministic; what a stable sort gives);
    ties="expected"  the expected value over uniformly random orders inside each tie group
                     (tie-aware AP, McSherry & Najork 2008): invariant to the database order.
* AP = sum_k P(k) Delta r(k) (Eq. 26): the mean, over the relevant items, of the precision at
  each one's rank. With topk=None it runs over the full ranking (mAP@all, the CIFAR protocol).
  With topk it runs over the first topk items and is normalised by the number of relevant items
  retrieved there (the hashing literature's mAP@k, e.g. DeepHash's CalcTopMap); a query with no
  relevant item in its ranking (or its top k) has AP 0.
Neither rule sorts in the O(n log n) sense: "expected" needs only per-distance counts of all and
of relevant items, "stable" a radix (counting) order. Derived in tutorials/07-...md.
"""

import numpy as np
from scipy.stats import hypergeom

from .search import CHUNK_BYTES, PackedCodes, distance_chunks, pack_codes, stable_order

TIES = ("stable", "expected")


# ------------------------------------------------------------------------- input checks

def _check_labels(labels, n, name):
    y = np.asarray(labels)
    if y.ndim not in (1, 2) or y.shape[0] != n:
        raise ValueError(f"{name} must be (n,) class ids or (n, T) multi-hot with n = {n}; "
                         f"got shape {y.shape}")
    if y.dtype.kind not in "biu":
        raise ValueError(f"{name} must be integers or bools; got dtype {y.dtype}")
    return y


def _prepare(query_codes, query_labels, db_codes, db_labels, ties="stable"):
    if ties not in TIES:
        raise ValueError(f"ties must be one of {TIES}; got {ties!r}")
    q, db = pack_codes(query_codes), pack_codes(db_codes)
    for codes, name in ((q, "query_codes"), (db, "db_codes")):
        if len(codes) == 0:
            raise ValueError(f"{name} must hold at least one code; got none")
    ql = _check_labels(query_labels, len(q), "query_labels")
    dl = _check_labels(db_labels, len(db), "db_labels")
    if ql.ndim != dl.ndim or (ql.ndim == 2 and ql.shape[1] != dl.shape[1]):
        raise ValueError(f"query_labels {ql.shape} and db_labels {dl.shape} must be of the same kind")
    return q, ql, db, dl


def relevance(ql, dl):
    """(rows, n_db) bool: same class, or at least one shared tag (the rule of this module).
    ql (rows,) class ids or (rows, T) multi-hot; dl likewise for the database."""
    if ql.ndim == 1:
        return ql[:, None] == dl[None, :]
    return (ql.astype(np.float32) @ dl.T.astype(np.float32)) > 0


def _rows(q, ql, db, dl, chunk_bytes):
    """Yield (query index, distances (n_db,), relevance (n_db,) bool), one query at a time.

    Distances come in chunks (bounded memory); each row is then ranked or counted while it is
    in cache, which on a 2-core machine is about twice as fast as whole-chunk operations.
    """
    for start, D in distance_chunks(q, db, chunk_bytes=chunk_bytes):
        rel = relevance(ql[start:start + len(D)], dl)
        for i in range(len(D)):
            yield start + i, D[i], rel[i]


def _ranked_relevance(q, ql, db, dl, chunk_bytes, k=None):
    """Yield (query index, relevance of its first k items in the stable ranking (k,) bool):
    distance order, ties by database index; k=None for the whole ranking."""
    for i, row, rel in _rows(q, ql, db, dl, chunk_bytes):
        yield i, rel[stable_order(row)[:k]]


def _check_ks(ks, n_db):
    """ks as an int64 array of ranks in 1..n_db, or a ValueError naming them."""
    ks = np.asarray(ks, dtype=np.int64).ravel()
    if ks.size == 0 or ks.min() < 1 or ks.max() > n_db:
        raise ValueError(f"ks must be integers in 1..{n_db} (the database size); got {ks}")
    return ks


# --------------------------------------------------------------- per-distance histograms

def distance_histograms(query_codes, query_labels, db_codes, db_labels, *,
                        chunk_bytes=CHUNK_BYTES):
    """Per query and distance v = 0..d: how many database items, and how many relevant ones.

    Returns (n_all, n_rel), each (n_queries, d + 1) int64. Every tie-invariant metric (expected
    AP, expected P@k, PR curve, P@radius) is a function of these two arrays alone.
    """
    q, ql, db, dl = _prepare(query_codes, query_labels, db_codes, db_labels)
    bins = q.n_bits + 1
    n_all = np.empty((len(q), bins), np.int64)
    n_rel = np.empty((len(q), bins), np.int64)
    if ql.ndim == 1:
        # Counts ignore the database order, so group the database by class once: a query's
        # relevant items are then one contiguous slice and need no mask.
        by_class = np.argsort(dl, kind="stable")
        db = PackedCodes(db.words[by_class], db.n_bits)
        classes, first = np.unique(dl[by_class], return_index=True)
        bounds = dict(zip(classes, zip(first, np.append(first[1:], len(dl)))))
        for start, D in distance_chunks(q, db, chunk_bytes=chunk_bytes):
            for i, row in enumerate(D):
                lo, hi = bounds.get(ql[start + i], (0, 0))
                n_all[start + i] = np.bincount(row, minlength=bins)
                n_rel[start + i] = np.bincount(row[lo:hi], minlength=bins)
        return n_all, n_rel
    for i, row, rel in _rows(q, ql, db, dl, chunk_bytes):
        n_all[i] = np.bincount(row, minlength=bins)
        n_rel[i] = np.bincount(row[rel], minlength=bins)
    return n_all, n_rel


def _before(counts):
    """Per query, how many of the counted items rank before each tie group: (nq, d+1)."""
    return np.cumsum(counts, axis=1) - counts


def _harmonic(n):
    """H[k] = 1 + 1/2 + ... + 1/k for k = 0..n (H[0] = 0)."""
    return np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, n + 1))])


def _expected_group_sum(N, Hb, n, r, H):
    """Expected sum of precisions at the relevant items of a tie group (arrays, elementwise).

    A group of n items, r of them relevant, follows N items of which Hb are relevant. Over a
    uniformly random order of the group, position p (1..n) holds a relevant item with
    probability r/n, and then (p-1)(r-1)/(n-1) other relevant items precede it on average, so
        E = sum_p (r/n) (Hb + 1 + (p-1)(r-1)/(n-1)) / (N + p)
          = (r/n) [ (Hb + 1) dH + (r-1)/(n-1) (n - (N+1) dH) ],   dH = H[N+n] - H[N].
    """
    dH = H[N + n] - H[N]
    with np.errstate(divide="ignore", invalid="ignore"):
        spread = np.where(n > 1, (r - 1) / np.maximum(n - 1, 1) * (n - (N + 1) * dH), 0.0)
        return np.where(n > 0, r / np.maximum(n, 1) * ((Hb + 1) * dH + spread), 0.0)


def _expected_ap(n_all, n_rel, topk):
    """Tie-aware AP of every query from its histograms: (n_queries,) float64."""
    N, Hb = _before(n_all), _before(n_rel)
    n_db = int(n_all[0].sum())
    H = _harmonic(n_db)
    if topk is None or topk >= n_db:
        R = n_rel.sum(axis=1)
        total = _expected_group_sum(N, Hb, n_all, n_rel, H).sum(axis=1)
        return np.divide(total, R, out=np.zeros(len(R)), where=R > 0)
    inside = N + n_all <= topk                            # groups entirely in the top k
    full = np.where(inside, _expected_group_sum(N, Hb, n_all, n_rel, H), 0.0).sum(axis=1)
    ap = np.zeros(len(n_all))
    for i in range(len(n_all)):
        g = np.argmax(~inside[i])                         # the group that straddles position k
        m, n, r = topk - N[i, g], n_all[i, g], n_rel[i, g]
        x = np.arange(0, min(r, m) + 1)                   # relevant items among its first m
        px = hypergeom.pmf(x, n, r, m)
        partial = _expected_group_sum(N[i, g], Hb[i, g], m, x, H)   # given x: m items, x relevant
        kept = Hb[i, g] + x
        ap[i] = np.sum(px * np.divide(full[i] + partial, kept, out=np.zeros(len(x)), where=kept > 0))
    return ap


# ------------------------------------------------------------------------------- mAP

def _stable_ap(rel_ranked):
    """AP of one ranked relevance vector (n,) bool: mean over its relevant items of hits/rank."""
    ranks = np.flatnonzero(rel_ranked) + 1.0
    return float(np.mean(np.arange(1, len(ranks) + 1) / ranks)) if len(ranks) else 0.0


def _check_topk(topk):
    """topk as None or an int >= 1, or a ValueError."""
    if topk is not None and (isinstance(topk, bool) or not isinstance(topk, (int, np.integer))
                             or topk < 1):
        raise ValueError(f"topk must be None or a positive integer; got {topk!r}")
    return topk


def mean_average_precision(query_codes, query_labels, db_codes, db_labels, *, topk=None,
                           ties="stable", per_query=False, chunk_bytes=CHUNK_BYTES):
    """mAP of Hamming ranking (Eq. 26) with a stated tie rule (see the module docstring).

    query_codes (nq, d), db_codes (nd, d): ±1 / {0,1} codes or PackedCodes.
    query_labels (nq,) ints or (nq, T) multi-hot; db_labels likewise.
    topk: None for mAP@all, else mAP@topk normalised by the relevant items in the top k.
    ties: "stable" (by database index) or "expected" (tie-aware, exact).
    Returns the mean AP (float), or the (nq,) per-query APs when per_query=True.
    """
    q, ql, db, dl = _prepare(query_codes, query_labels, db_codes, db_labels, ties)
    _check_topk(topk)
    if ties == "expected":
        ap = _expected_ap(*distance_histograms(q, ql, db, dl, chunk_bytes=chunk_bytes), topk)
    else:
        ap = np.empty(len(q))
        for i, rel_ranked in _ranked_relevance(q, ql, db, dl, chunk_bytes, topk):
            ap[i] = _stable_ap(rel_ranked)
    return ap if per_query else float(ap.mean())


# ----------------------------------------------------------------- P@k, PR, P@radius

def precision_at_k(query_codes, query_labels, db_codes, db_labels, ks, *, ties="stable",
                   chunk_bytes=CHUNK_BYTES):
    """Mean precision of the first k retrieved items, for each k in ks: (len(ks),) float64.

    ties="expected": within the tie group straddling rank k, each of its items is in the top k
    with equal probability, so E[P@k] = (Hb + (k - N) r / n) / k.
    """
    q, ql, db, dl = _prepare(query_codes, query_labels, db_codes, db_labels, ties)
    ks = _check_ks(ks, len(db))
    if ties == "expected":
        n_all, n_rel = distance_histograms(q, ql, db, dl, chunk_bytes=chunk_bytes)
        N, Hb = _before(n_all), _before(n_rel)
        out = []
        for k in ks:
            g = np.argmax(N + n_all >= k, axis=1)[:, None]          # group holding rank k
            N_g, H_g = np.take_along_axis(N, g, 1), np.take_along_axis(Hb, g, 1)
            n_g, r_g = np.take_along_axis(n_all, g, 1), np.take_along_axis(n_rel, g, 1)
            out.append(np.mean((H_g + (k - N_g) * r_g / n_g) / k))
        return np.array(out)
    hits = np.zeros(len(ks))
    for _, rel_ranked in _ranked_relevance(q, ql, db, dl, chunk_bytes, ks.max()):
        hits += np.cumsum(rel_ranked)[ks - 1]
    return hits / (len(q) * ks)


def precision_recall_curve(query_codes, query_labels, db_codes, db_labels, *,
                           chunk_bytes=CHUNK_BYTES):
    """Precision and recall of "retrieve everything within Hamming radius r", r = 0..d.

    Mean over queries; a query that retrieves nothing within r counts as precision 0 (the
    convention of the DPSH / HashNet evaluations); a query with no relevant item has recall 0.
    Returns (radii (d+1,), precision (d+1,), recall (d+1,)).
    """
    return _pr_curve(*distance_histograms(query_codes, query_labels, db_codes, db_labels,
                                          chunk_bytes=chunk_bytes))


def _pr_curve(n_all, n_rel):
    """precision_recall_curve from the distance histograms."""
    retrieved, relevant = np.cumsum(n_all, axis=1), np.cumsum(n_rel, axis=1)
    R = relevant[:, -1:]
    precision = np.divide(relevant, retrieved, out=np.zeros(retrieved.shape), where=retrieved > 0)
    recall = np.divide(relevant, R, out=np.zeros(relevant.shape), where=R > 0)
    return np.arange(n_all.shape[1]), precision.mean(axis=0), recall.mean(axis=0)


def precision_at_radius(query_codes, query_labels, db_codes, db_labels, r=2, *,
                        chunk_bytes=CHUNK_BYTES):
    """Mean precision of the items within Hamming radius r (nothing retrieved counts as 0)."""
    radii, precision, _ = precision_recall_curve(query_codes, query_labels, db_codes, db_labels,
                                                 chunk_bytes=chunk_bytes)
    if isinstance(r, bool) or not isinstance(r, (int, np.integer)) or r < 0:
        raise ValueError(f"r must be a non-negative integer; got {r!r}")
    return float(precision[min(r, radii[-1])])


# ------------------------------------------------------------------- all of them at once

def evaluate(query_codes, query_labels, db_codes, db_labels, *, ks=(1, 10, 100, 1000, 5000),
             radius=2, topk=None, chunk_bytes=CHUNK_BYTES):
    """The retrieval protocol's numbers in two passes over the distances instead of five.

    One pass counts the distance histograms (tie-aware mAP, PR curve, P@radius); one ranks
    each row (stable mAP and P@k, ties by database index). ks larger than the database are
    dropped; the others must be >= 1. Returns a dict: map_stable, map_expected, ks, p_at_k,
    p_at_radius, radius, radii, precision, recall (lists), each equal to what the single-metric
    functions return; with topk (the multi-label protocol's mAP over the top N) also topk,
    map_top_stable and map_top_expected.
    """
    q, ql, db, dl = _prepare(query_codes, query_labels, db_codes, db_labels)
    ks = _check_ks([k for k in np.ravel(ks) if k <= len(db)], len(db))
    if _check_topk(topk) is not None:
        topk = min(int(topk), len(db))                 # the top N of a smaller database: all of it
    n_all, n_rel = distance_histograms(q, ql, db, dl, chunk_bytes=chunk_bytes)
    radii, precision, recall = _pr_curve(n_all, n_rel)
    ap, ap_top, hits = np.empty(len(q)), np.empty(len(q)), np.zeros(len(ks))
    for i, rel_ranked in _ranked_relevance(q, ql, db, dl, chunk_bytes):
        ap[i] = _stable_ap(rel_ranked)
        ap_top[i] = _stable_ap(rel_ranked[:topk]) if topk else 0.0
        hits += np.cumsum(rel_ranked[:ks.max()])[ks - 1]
    out = {"map_stable": float(ap.mean()), "map_expected": float(_expected_ap(n_all, n_rel, None).mean()),
           "ks": ks.tolist(), "p_at_k": (hits / (len(q) * ks)).tolist(),
           "p_at_radius": float(precision[min(radius, radii[-1])]), "radius": radius,
           "radii": radii.tolist(), "precision": precision.tolist(), "recall": recall.tolist()}
    if topk:
        out.update(topk=int(topk), map_top_stable=float(ap_top.mean()),
                   map_top_expected=float(_expected_ap(n_all, n_rel, int(topk)).mean()))
    return out

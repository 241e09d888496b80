"""Class margins of a proxy set (Eq. 13), coding-theory bounds, and binarization error.

For unit-norm proxies w_c the margin of class y, when the embedding sits at its proxy, is
    M_y = 1 - max_{c != y} <w_y, w_c>                                           (Eq. 13, K = 1)
For ±1 proxies normalised by sqrt(d), <w_y, w_c> / d = 1 - 2 d_H(w_y, w_c) / d, hence
    M_y = 2 · min_{c != y} d_H(w_y, w_c) / d:
the classification margin is twice the relative minimum Hamming distance, and bounds from
coding theory (Plotkin, Hamming) bound it. Derived in tutorials/02-margins-and-tammes.md.
"""

import numpy as np

from ._validate import as_matrix, as_pm1, check_int


def _unit_rows(W):
    norms = np.linalg.norm(W, axis=1, keepdims=True)
    if np.any(norms == 0):
        raise ValueError("W must not contain an all-zero row (a proxy needs a direction)")
    return W / norms


def class_margins(W):
    """Per-class margin M_y = 1 - max_{c!=y} <w_y, w_c> of the unit-normalised rows (Eq. 13).

    W : (C, d) real or ±1, C >= 2. Returns (C,) float64 in [0, 2]; at most simplex_bound(C)
    on average (and for the smallest margin).
    """
    W = _unit_rows(as_matrix(W, "W", dtype=np.float64, min_rows=2))
    G = W @ W.T
    np.fill_diagonal(G, -np.inf)
    return 1.0 - G.max(axis=1)


def hamming_distance_matrix(B):
    """All pairwise Hamming distances d_H = (d - B B^T) / 2 of ±1 codes (Eq. 5).

    B : (C, d) entries ±1. Returns (C, C) int64 with a zero diagonal.
    """
    B = as_pm1(B, "B").astype(np.int64)
    return (B.shape[1] - B @ B.T) // 2


def min_hamming_distance(B):
    """Smallest Hamming distance between two different rows of the ±1 matrix B (C >= 2, d)."""
    B = as_pm1(B, "B")
    if B.shape[0] < 2:
        raise ValueError(f"B must have at least 2 rows; got shape {B.shape}")
    D = hamming_distance_matrix(B)
    np.fill_diagonal(D, B.shape[1] + 1)
    return int(D.min())


def plotkin_bound(n_codewords, n_bits):
    """Largest minimum distance the Plotkin (averaging) bound allows for M codewords of n bits.

    Summing d_H over the M(M-1)/2 pairs column by column, a column with w ones contributes
    w(M - w) <= floor(M^2 / 4), so  min d_H · M(M-1)/2 <= n · floor(M^2/4), i.e.
        min d_H <= n M / (2(M - 1))        (M even, the form quoted in the paper notes)
        min d_H <= n (M + 1) / (2M)        (M odd)
    Returns the integer part. Sylvester-Hadamard rows (M = n = 2^k >= 4) meet it: n/2.
    """
    M = check_int(n_codewords, "n_codewords", 2)
    n = check_int(n_bits, "n_bits", 1)
    return (n * (M * M // 4)) // (M * (M - 1) // 2)


def hamming_bound(n_codewords, n_bits):
    """Largest minimum distance the Hamming (sphere-packing) bound allows.

    Balls of radius t = floor((dist - 1) / 2) around M codewords must be disjoint in {0,1}^n:
    M · sum_{i<=t} C(n, i) <= 2^n. Returns the largest dist in [1, n] that satisfies it.
    The ball grows with t, so the first dist that fails ends the search; the binomial
    coefficients are updated in place (C(n, t) = C(n, t-1) (n-t+1) / t), exact integers.
    """
    M = check_int(n_codewords, "n_codewords", 2)
    n = check_int(n_bits, "n_bits", 1, 65536)
    best, t, term, volume, space = 1, 0, 1, 1, 2 ** n       # ball of radius 0: one word
    for dist in range(2, n + 1):
        while t < (dist - 1) // 2:
            t += 1
            term = term * (n - t + 1) // t
            volume += term
        if M * volume > space:
            break
        best = dist
    return best


def simplex_bound(n_classes):
    """Largest possible smallest margin of C unit proxies: 1 + 1/(C-1) (regular simplex, Rankin)."""
    C = check_int(n_classes, "n_classes", 2)
    return 1.0 + 1.0 / (C - 1)


def binarization_error(nu, *, saturation_tol=0.1):
    """How far the embeddings nu are from their signs: |nu - sgn(nu)| (paper Fig. 4b).

    nu : (n, d) real, values in [-1, 1] (tanh outputs). Returns a dict with
    'mean', 'median', 'max' (floats over all entries), 'per_unit' ((d,) mean per hashing unit)
    and 'saturated' (fraction of entries with |nu - sgn nu| < saturation_tol).
    """
    nu = as_matrix(nu, "nu", dtype=np.float64)
    if np.any(np.abs(nu) > 1.0 + 1e-6):
        raise ValueError("nu must lie in [-1, 1] (outputs of the tanh hashing layer, Eq. 7)")
    err = 1.0 - np.abs(nu)  # = |nu - sgn(nu)| for nu in [-1, 1]
    return {"mean": float(err.mean()), "median": float(np.median(err)), "max": float(err.max()),
            "per_unit": err.mean(axis=0), "saturated": float(np.mean(err < saturation_tol))}

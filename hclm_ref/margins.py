"""Class margins of a proxy set (Eq. 13), coding-theory bounds, and binarization error.

For unit-norm proxies w_c the margin of class y, when the embedding sits at its proxy, is
    M_y = 1 - max_{c != y} <w_y, w_c>                                           (Eq. 13, K = 1)
For ±1 proxies normalised by sqrt(d), <w_y, w_c> / d = 1 - 2 d_H(w_y, w_c) / d, hence
    M_y = 2 · min_{c != y} d_H(w_y, w_c) / d:
the classification margin is twice the relative minimum Hamming distance, and bounds from
coding theory (Plotkin, Hamming) bound it. Derived in tutorials/02-margins-and-tammes.md.
"""

from functools import lru_cache
from math import comb

import numpy as np

from ._validate import as_matrix, as_pm1, check_int
from .search import hamming_distances


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
    D = hamming_distances(B, B).astype(np.int64)       # packed bits: large codes stay cheap
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


def plotkin_size(n_bits, distance):
    """Plotkin's theorem: an upper bound on A(n, d), the most codewords of n bits at distance d.

    For d even (MacWilliams & Sloane, Ch. 2, Thm. 8): A(n, d) <= 2 floor(d / (2d - n)) when
    2d > n, A(2d, d) <= 4d, and A(n, d) <= d 2^(n - 2d + 2) when n > 2d (shortening down to
    n = 2d). For d odd, A(n, d) = A(n + 1, d + 1): adding a parity bit makes every distance
    even. Levenshtein proved the first two forms are met whenever suitable Hadamard matrices
    exist, so in that range they are the exact answer for every n we use.
    """
    n = check_int(n_bits, "n_bits", 1)
    d = check_int(distance, "distance", 1, n)
    if d % 2:
        n, d = n + 1, d + 1
    if 2 * d > n:
        return 2 * (d // (2 * d - n))
    if 2 * d == n:
        return 4 * d
    return d * 2 ** (n - 2 * d + 2)


def plotkin_theorem_bound(n_codewords, n_bits):
    """Largest minimum distance Plotkin's theorem (plotkin_size) allows for M codewords of n bits.

    Tighter than the averaging form plotkin_bound: at M = 10, n = 24 the averaging allows 13,
    the theorem 12 (A(25, 14) <= 2 floor(14/3) = 8 < 10)."""
    M = check_int(n_codewords, "n_codewords", 2)
    n = check_int(n_bits, "n_bits", 1)
    return max([d for d in range(1, n + 1) if plotkin_size(n, d) >= M], default=0)


@lru_cache(maxsize=None)
def _krawtchouk_rows(n):
    """Q[k, i] = K_k(i) / C(n, k), k, i = 0..n: the Krawtchouk polynomials of {0,1}^n scaled to
    [-1, 1], K_k(i) = sum_j (-1)^j C(i, j) C(n - i, k - j), exact integers before the division."""
    Q = np.empty((n + 1, n + 1))
    for k in range(n + 1):
        for i in range(n + 1):
            K = sum((-1) ** j * comb(i, j) * comb(n - i, k - j) for j in range(min(i, k) + 1))
            Q[k, i] = K / comb(n, k)
    return Q


def lp_size(n_bits, distance):
    """Delsarte's linear-programming bound on A(n, d) (MacWilliams & Sloane, Ch. 17).

    The distance distribution A_i = (1/M) #{ordered pairs at distance i} of any code has
    A_0 = 1, A_i = 0 for 0 < i < d, A_i >= 0, sum_i A_i = M, and, because its MacWilliams
    transform is a distribution too, sum_i A_i K_k(i) >= 0 for every k. So M is at most
    1 + max sum_{i >= d} A_i under those constraints. For d even only even i need to appear
    (a parity bit makes every distance even); for d odd, A(n, d) = A(n + 1, d + 1).
    Solved with scipy's HiGHS; rounded down after a 1e-6 tolerance.
    """
    from scipy.optimize import linprog
    n = check_int(n_bits, "n_bits", 1, 512)
    d = check_int(distance, "distance", 1, n)
    if d % 2:
        n, d = n + 1, d + 1
    support = np.arange(d, n + 1, 2)
    Q = _krawtchouk_rows(n)[1:, support]                     # k = 1..n: sum_i A_i Q_ki >= -1
    res = linprog(-np.ones(len(support)), A_ub=-Q, b_ub=np.ones(n), bounds=(0, None), method="highs")
    if res.status != 0:
        raise RuntimeError(f"the LP bound for n={n}, d={d} did not solve: {res.message}")
    return int(np.floor(1 - res.fun + 1e-6))


def lp_bound(n_codewords, n_bits):
    """Largest minimum distance Delsarte's LP bound (lp_size) allows for M codewords of n bits.
    Scans down from the Plotkin theorem's answer, which it never exceeds in our range."""
    M = check_int(n_codewords, "n_codewords", 2)
    n = check_int(n_bits, "n_bits", 1, 512)
    for d in range(plotkin_theorem_bound(M, n), 0, -1):
        if lp_size(n, d) >= M:
            return d
    return 0


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

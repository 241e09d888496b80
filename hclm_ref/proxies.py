"""Proxy design: Tammes packing -> ITQ rotation -> signs (HCLM) -> semantic assignment (sHCLM).

The pipeline of Sec. 4 of the paper, one function per step:
    tammes              Eq. (14)  C unit proxies in R^d maximising the smallest pairwise distance
    binary_alignment    Eq. (16)  the rotation Gamma that makes them most binary (ITQ)
    hclm_proxies        Eq. (17)  W_h = sgn(Gamma W*), plus our optional discrete refinement
    semantic_assignment Eq. (18)  which class gets which proxy, from class similarities
                                  (class_similarity: Eqs. 19-20, tag_similarity: Eq. 21)
    best_proxies        the farthest-apart set we can build: codes from coding theory (codes.py),
                        the pipeline above, the local search; at least as far apart as each
    make_proxies        a proxy set by name, rows of norm sqrt(d)
    PROXY_KINDS         every proxy set of the ablation (paper Fig. 3) by name: one registry
Run `python -m hclm_ref.proxy_table` for the margins table (paper Fig. 3a).
Derived in tutorials/02-margins-and-tammes.md, 03-binary-proxies.md, 04-semantic-assignment.md.
"""

import functools
from typing import Callable, NamedTuple

import numpy as np

from ._optim import minimize_lbfgs
from ._validate import as_matrix, as_pm1, check_fits, check_int
from .codes import juxtaposed_code
from .margins import hamming_distance_matrix
from .search import sign

# --------------------------------------------------------------------------- Tammes (Eq. 14)

def _smooth_max_inner(v, C, d, t):
    """Log-sum-exp of t<w_i, w_j> over ordered pairs i != j, divided by t, and its gradient.

    v is the flattened (C, d) matrix V; the proxies are its normalised rows W = V / |V|, so the
    problem is unconstrained in V (the sphere constraint of Eq. 14 is built in).
    """
    V = v.reshape(C, d)
    norms = np.linalg.norm(V, axis=1, keepdims=True)
    W = V / norms
    G = W @ W.T
    np.fill_diagonal(G, -np.inf)
    g_max = G.max()
    z = t * (G - g_max)
    # (C, C); terms below e^-600 are dropped: they are negligible, and as subnormal floats
    # they would slow the matrix product below by a factor of ~50
    E = np.exp(np.where(z > -600.0, z, -np.inf))
    Z = E.sum()
    value = g_max + np.log(Z) / t
    grad_W = (2.0 / Z) * (E @ W)                   # d value / d W  (E is symmetric)
    # chain rule through W = V/|V|: project onto the tangent space of the sphere, divide by |V|
    grad_V = (grad_W - np.sum(grad_W * W, axis=1, keepdims=True) * W) / norms
    return value, grad_V.ravel()


def tammes(n_classes, n_dims, *, seed=0, temperatures=(8, 32, 128, 512, 2048, 8192, 32768),
           max_iter=400):
    """Tammes proxies: C unit vectors in R^d with the largest smallest pairwise distance (Eq. 14).

    Maximising min_{i!=j} |w_i - w_j|^2 on the unit sphere is minimising the largest inner
    product max_{i!=j} <w_i, w_j>. The max is not differentiable, so we minimise its log-sum-exp
    smoothing (1/t) log sum_{i!=j} exp(t <w_i, w_j>), which overestimates the max by at most
    log(C(C-1))/t, with L-BFGS, and raise the temperature t stage by stage (continuation, a
    smooth stand-in for the paper's barrier method), warm-starting each stage from the last.
    Rows are parametrised as w = v/|v| so the sphere constraint needs no projection.
    For C <= d+1 the optimum is the regular simplex (<w_i, w_j> = -1/(C-1)); by Jensen's
    inequality it also minimises the smoothed objective at every t, so the solver reaches it.

    Returns W : (C, d) float64 with unit rows. Deterministic for a given seed.
    """
    C = check_int(n_classes, "n_classes", 2)
    d = check_int(n_dims, "n_dims", 1)
    check_fits(8 * C * (4 * C + 4 * d), f"tammes for n_classes={C}, n_dims={d}")
    return _tammes(C, d, seed, tuple(temperatures), max_iter).copy()


# Tammes and HCLM solutions are kept (a copy is returned): one margins figure or table asks for
# the same (C, d, seed) from several proxy kinds (Tammes, aligned, both HCLMs, sHCLM, best), and
# the solvers are deterministic, so the kept answer is the answer.
@functools.lru_cache(maxsize=32)
def _tammes(C, d, seed, temperatures, max_iter):
    rng = np.random.default_rng(seed)
    v = rng.standard_normal((C, d)).ravel()
    for t in temperatures:
        v = minimize_lbfgs(lambda x, t=float(t): _smooth_max_inner(x, C, d, t), v, max_iter=max_iter)
    V = v.reshape(C, d)
    return V / np.linalg.norm(V, axis=1, keepdims=True)


# ------------------------------------------------------------------ ITQ rotation (Eq. 16)

def quantization_loss(V, R):
    """ITQ objective |sgn(V R) - V R|_F^2 for data V (n, d) and rotation R (d, d)."""
    VR = V @ R
    return float(np.sum((sign(VR) - VR) ** 2))


def itq_rotation(V, *, n_iter=50, seed=0):
    """Orthogonal R (d, d) minimising |B - V R|_F^2 over B in {-1,1}^{n x d} (ITQ, Eq. 16).

    Alternates the two exact minimisations (Gong & Lazebnik):
        B <- sgn(V R)                           (best codes for a fixed rotation)
        R <- U Wt,  where U S Wt = svd(V^T B)   (orthogonal Procrustes, best rotation for B)
    so the loss never increases. Starts from a random rotation (QR of a Gaussian matrix).
    Shared by the proxy alignment below and the ITQ baseline (baselines.ITQ) on embeddings.

    V : (n, d) float. Returns (R, losses) with losses the (n_iter + 1,) loss after each step.
    """
    V = as_matrix(V, "V", dtype=np.float64)
    n_iter = check_int(n_iter, "n_iter", 0)
    d = V.shape[1]
    Q, Rq = np.linalg.qr(np.random.default_rng(seed).standard_normal((d, d)))
    R = Q * np.sign(np.diag(Rq))          # sign fix: a Haar-uniform rotation
    losses = [quantization_loss(V, R)]
    for _ in range(n_iter):
        B = sign(V @ R)
        U, _, Wt = np.linalg.svd(V.T @ B)
        R = U @ Wt
        losses.append(quantization_loss(V, R))
    return R, np.array(losses)


def binary_alignment(W, *, n_iter=100, seed=0):
    """The rotation Gamma* of Eq. (16) that brings the proxies closest to hypercube vertices.

    W : (C, d) unit rows (Tammes proxies). Returns Gamma : (d, d) orthogonal; the aligned
    proxies are Gamma w_k for each row w_k, i.e. the matrix W @ Gamma.T. Rotation changes no
    inner product, so the aligned set keeps the Tammes margins exactly.
    """
    R, _ = itq_rotation(W, n_iter=n_iter, seed=seed)
    return R.T


# ------------------------------------------------------ discrete refinement (beyond the paper)

def _flip_scores(B, D, rows, floor):
    """Distance-histogram change for flipping each bit of each row in `rows`.

    Flipping bit k of row i moves d_H(i, j) by +1 where B[i,k] == B[j,k] and -1 otherwise.
    Returns (len(rows), d, 4): change in the number of pairs at distances floor-1 .. floor+2.
    """
    Bi = B[rows].astype(np.int16)                          # (r, d)
    step = Bi[:, :, None] * B.T[None, :, :]                # (r, d, C), +1 where bits agree
    old = D[rows][:, None, :]                              # (r, 1, C)
    new = old + step
    mask = np.ones((len(rows), 1, B.shape[0]), bool)
    mask[np.arange(len(rows)), 0, rows] = False            # a row has no distance to itself
    levels = floor - 1 + np.arange(4)
    return np.stack([((new == v) & mask).sum(-1) - ((old == v) & mask).sum(-1) for v in levels],
                    axis=-1)


def refine_codes(B, *, n_steps=3000, tabu=7, max_rows=64, seed=0):
    """Bit-flip tabu search that raises the minimum Hamming distance of the ±1 code B.

    Not in the paper: sgn(Gamma W*) leaves the minimum distance well below the Plotkin bound,
    and the margin of ±1 proxies is 2 · min d_H / d (margins.py), so we polish the code.
    Objective, compared lexicographically: the number of pairs at the current minimum distance
    and at the next two distances (fewer is better; emptying the minimum raises it). Each step
    flips the best bit not flipped in the last `tabu` steps, even if that is worse (to leave
    local optima); the best code seen is returned. Only rows in a minimum-distance pair can
    improve the objective, so only their flips are scored (at most max_rows of them a step).

    B : (C, d) ±1. Returns (C, d) int8 ±1 with min d_H at least that of B.
    """
    B = as_pm1(B, "B").copy()
    n_steps, tabu = check_int(n_steps, "n_steps", 0), check_int(tabu, "tabu", 0)
    max_rows = check_int(max_rows, "max_rows", 1)
    rng = np.random.default_rng(seed)
    C, d = B.shape
    if C < 2:
        raise ValueError(f"B must have at least 2 rows (codewords) to have a distance; got shape {B.shape}")
    D = hamming_distance_matrix(B)
    np.fill_diagonal(D, 0)

    def histogram(D, floor):
        off = D[np.triu_indices(C, 1)]
        return tuple(int(np.sum(off == v)) for v in floor - 1 + np.arange(4))

    def minimum(D):
        return int(D[np.triu_indices(C, 1)].min())

    best_B, best_key = B.copy(), (-minimum(D),) + histogram(D, minimum(D))[1:]
    last_flipped = np.full((C, d), -tabu - 1)
    for step in range(n_steps):
        floor = minimum(D)
        in_min_pair = np.nonzero(((D == floor) & ~np.eye(C, dtype=bool)).any(axis=1))[0]
        if len(in_min_pair) > max_rows:        # large C: score a random subset (bounded cost)
            in_min_pair = np.sort(rng.choice(in_min_pair, max_rows, replace=False))
        scores = _flip_scores(B, D, in_min_pair, floor)           # (r, d, 4)
        allowed = (step - last_flipped[in_min_pair]) > tabu       # (r, d)
        # lexicographic key as one number: pairs at floor-1, floor, floor+1, floor+2
        weights = np.array([C ** 6, C ** 4, C ** 2, 1.0])
        key = scores @ weights + rng.random(scores.shape[:2]) * 0.5   # random tie-breaking
        key[~allowed] = np.inf
        r, k = np.unravel_index(np.argmin(key), key.shape)
        i = in_min_pair[r]
        D[i] += (B[i, k] * B[:, k]).astype(D.dtype)
        D[:, i] = D[i]
        D[i, i] = 0
        B[i, k] = -B[i, k]
        last_flipped[i, k] = step
        floor = minimum(D)
        key_now = (-floor,) + histogram(D, floor)[1:]
        if key_now < best_key:
            best_B, best_key = B.copy(), key_now
    return best_B


# -------------------------------------------------------------------- HCLM proxies (Eq. 17)

def hclm_proxies(n_classes, n_bits, *, seed=0, refine=True):
    """HCLM proxy set W_h = sgn(Gamma* W*) (Eq. 17): Tammes (Eq. 14), aligned (Eq. 16), signed.

    refine=True (default) adds our bit-flip refinement (refine_codes) that raises the minimum
    Hamming distance towards the Plotkin bound; refine=False reproduces the paper's pipeline.
    Returns B : (C, d) int8 with entries ±1.
    """
    C, d = check_int(n_classes, "n_classes", 2), check_int(n_bits, "n_bits", 1)
    return _hclm_proxies(C, d, seed, bool(refine)).copy()


@functools.lru_cache(maxsize=32)
def _hclm_proxies(C, d, seed, refine):
    W = tammes(C, d, seed=seed)
    B = sign(W @ binary_alignment(W, seed=seed).T)
    return refine_codes(B, seed=seed) if refine else B


def hadamard_proxies(n_classes, n_bits):
    """Rows of the Sylvester-Hadamard matrix H_d (and of -H_d when C > d), as in hash centres.

    Defined for d a power of two and C <= 2d; every pair of rows is d/2 apart (d for h, -h).
    Returns (C, d) int8 ±1.
    """
    C = check_int(n_classes, "n_classes", 2)
    d = check_int(n_bits, "n_bits", 1)
    if d & (d - 1) or C > 2 * d:
        raise ValueError(f"hadamard proxies need n_bits a power of two and n_classes <= 2*n_bits; "
                         f"got n_classes={C}, n_bits={d}")
    check_fits(2 * d * d, f"hadamard proxies of n_bits={d}")
    H = np.ones((1, 1), np.int8)
    while H.shape[0] < d:
        H = np.block([[H, H], [H, -H]])
    return np.concatenate([H, -H])[:C]


def distance_key(B):
    """How far apart the ±1 codes B are, as a sortable key (larger is better):
    (min d_H, -(pairs at min d_H), -(pairs at min d_H + 1)). The class margin is 2 min d_H / d
    (Eq. 13); of two codes with the same minimum, the one with fewer pairs at it leaves fewer
    classes at the smallest margin."""
    D = hamming_distance_matrix(B)[np.triu_indices(len(B), 1)]
    low = int(D.min())
    return low, -int(np.sum(D == low)), -int(np.sum(D == low + 1))


PIPELINE_MAX_CLASSES = 128      # above, Tammes (O(C^2 d) a step) takes minutes and loses anyway


def best_proxies(n_classes, n_bits, *, seed=0, search_budget=3e7):
    """The farthest-apart ±1 proxies we can build for C classes and d bits (not in the paper).

    Candidates: codes from coding theory assembled to length d (codes.juxtaposed_code: extended
    BCH and Reed-Muller codes, Hadamard rows, the Nordstrom-Robinson code, side by side and
    punctured), polished by the local search refine_codes; and for C <= PIPELINE_MAX_CLASSES the
    HCLM pipeline with refinement (hclm_proxies), which is where the paper's pipeline ends up
    after the same search. The winner has the largest distance_key: the largest min d_H, then
    the fewest pairs at it. So the result is never closer than any candidate: at least the
    refined pipeline's min d_H, and at least Hadamard rows' d/2 where those exist (C <= 2d, d a
    power of two: they are the Reed-Muller block of the same length).
    The search runs about search_budget / (C d) steps (its cost a step is ~64 C d).
    Returns (C, d) int8 ±1, distinct rows.
    """
    C, d = check_int(n_classes, "n_classes", 2), check_int(n_bits, "n_bits", 1)
    if C > 2 ** d:
        raise ValueError(f"n_classes={C} distinct codes of n_bits={d} do not exist (at most 2^{d})")
    steps = int(min(3000, search_budget // (C * d)))
    try:
        start = 2 * juxtaposed_code(C, d)[0].astype(np.int8) - 1
    except ValueError:                                   # no plan of the blocks reaches d bits
        start = None
    if start is None or len(np.unique(start, axis=0)) < C:   # or punctured too far: random rows
        start = random_codes(C, d, seed=seed)
    candidates = [refine_codes(start, n_steps=steps, seed=seed)]
    if C <= PIPELINE_MAX_CLASSES:
        candidates.append(hclm_proxies(C, d, seed=seed))
    return max(candidates, key=distance_key)


# ------------------------------------------------------ semantic assignment (Eqs. 18-21)

def _check_similarity(S, n_classes):
    S = as_matrix(S, "similarity", dtype=np.float64)
    if S.shape != (n_classes, n_classes):
        raise ValueError(f"similarity must be ({n_classes}, {n_classes}) for {n_classes} "
                         f"classes; got shape {S.shape}")
    if not np.allclose(S, S.T):
        raise ValueError("similarity must be symmetric")
    return S


def class_similarity(features, labels):
    """Class similarities s_ij = exp(-|u_i - u_j|^2 / (2 kappa^2)) (Eqs. 19-20).

    u_y is the mean feature of class y (Eq. 19); kappa the average distance between two class
    means. features : (n, p) float; labels : (n,) ints in 0..C-1, every class present.
    Returns S : (C, C) float64 symmetric with unit diagonal.
    """
    X = as_matrix(features, "features", dtype=np.float64)
    y = np.asarray(labels)
    if y.shape != (X.shape[0],) or y.dtype.kind not in "iu" or y.min() < 0:
        raise ValueError(f"labels must be ({X.shape[0]},) non-negative ints; got {y.shape} {y.dtype}")
    C = int(y.max()) + 1
    counts = np.bincount(y, minlength=C)
    if np.any(counts == 0) or C < 2:
        raise ValueError("labels must contain every class 0..C-1 (C >= 2)")
    U = np.zeros((C, X.shape[1]))
    np.add.at(U, y, X)
    U /= counts[:, None]
    sq = np.sum((U[:, None, :] - U[None, :, :]) ** 2, axis=-1)
    kappa = np.sqrt(sq[np.triu_indices(C, 1)]).mean()
    if kappa == 0:
        raise ValueError("features: every class has the same mean feature, so classes have no "
                         "similarity structure (Eq. 20 divides by their average distance)")
    return np.exp(-sq / (2.0 * kappa ** 2))


def tag_similarity(tags):
    """Tag co-occurrence s_ij = 2 sum_n t_ni t_nj / (sum_n t_ni + sum_n t_nj) (Eq. 21).

    tags : (n, T) binary. Returns (T, T) float64; a tag that never occurs has similarity 0 to
    the others and 1 to itself.
    """
    t = as_matrix(tags, "tags", dtype=np.float64)
    if not np.all((t == 0) | (t == 1)):
        raise ValueError("tags must be a binary (0/1) matrix")
    co = t.T @ t
    freq = np.diag(co)
    denom = freq[:, None] + freq[None, :]
    S = np.divide(2.0 * co, denom, out=np.zeros_like(co), where=denom > 0)
    np.fill_diagonal(S, 1.0)
    return S


def assignment_objective(W, S, perm):
    """Eq. (18): sum_{i!=j} s_ij (1 - <w_perm[i], w_perm[j]>) with unit-normalised proxies."""
    W = np.asarray(W, np.float64)
    W = W / np.linalg.norm(W, axis=1, keepdims=True)
    Q = (W @ W.T)[np.ix_(perm, perm)]
    off = ~np.eye(len(perm), dtype=bool)
    return float(np.sum((S * (1.0 - Q))[off]))


def semantic_assignment(W, S, *, seed=0, return_objective=False):
    """Greedy class-to-proxy assignment minimising Eq. (18); class i gets proxy W[perm[i]].

    Starts from a random permutation; each step applies the swap of two classes' proxies that
    lowers Eq. (18) the most, until no swap lowers it. For classes a, b the change in Eq. (18) is
        Delta(a, b) = -2 [A_ab + A_ba - A_aa - A_bb - 2 s_ab (1 - q_ab)],   A = S0 Q,
    with Q the proxy similarities in the current class order and S0 = S with zero diagonal,
    so all C^2 swaps are scored with one matrix product.

    W : (C, d) proxies; S : (C, C) symmetric similarities. Returns perm : (C,) int64, or
    (perm, objective_before, objective_after) when return_objective.
    """
    W = as_matrix(W, "W", dtype=np.float64, min_rows=2)
    C = W.shape[0]
    S0 = _check_similarity(S, C).copy()
    np.fill_diagonal(S0, 0.0)
    norms = np.linalg.norm(W, axis=1, keepdims=True)
    if np.any(norms == 0):
        raise ValueError("W must not contain an all-zero row (a proxy needs a direction)")
    Wn = W / norms
    P = Wn @ Wn.T
    perm = np.random.default_rng(seed).permutation(C)
    before = assignment_objective(W, S0, perm)
    for _ in range(10 * C * C):         # each swap lowers Eq. (18); the bound only guards rounding
        Q = P[np.ix_(perm, perm)]
        A = S0 @ Q
        diag = np.diag(A)
        delta = -2.0 * (A + A.T - diag[:, None] - diag[None, :] - 2.0 * S0 * (1.0 - Q))
        np.fill_diagonal(delta, 0.0)
        a, b = np.unravel_index(np.argmin(delta), delta.shape)
        if delta[a, b] >= -1e-12 * max(1.0, abs(before)):
            break
        perm[[a, b]] = perm[[b, a]]
    if return_objective:
        return perm, before, assignment_objective(W, S0, perm)
    return perm


# ------------------------------------------------------------------- every set, by name

def random_codes(n_classes, n_bits, *, seed=0):
    """C distinct random ±1 codes of d bits (the paper's "Random" set): (C, d) int8.

    Rows are drawn uniformly; a row equal to an earlier one is drawn again, so two classes
    never share a proxy (C <= 2^d is required). Where the codes are dense (C > 2^(d-1)) they
    are C distinct integers below 2^d instead, so the redrawing never runs long.
    """
    C, d = check_int(n_classes, "n_classes", 2), check_int(n_bits, "n_bits", 1)
    if C > 2 ** d:
        raise ValueError(f"n_classes={C} distinct codes of n_bits={d} do not exist (at most 2^{d})")
    rng = np.random.default_rng(seed)
    if 2 * C > 2 ** d:
        ints = rng.permutation(2 ** d)[:C]
        return np.where((ints[:, None] >> np.arange(d)) & 1, 1, -1).astype(np.int8)
    B = rng.choice(np.array([-1, 1], np.int8), size=(C, d))
    while True:
        _, first = np.unique(B, axis=0, return_index=True)
        repeated = np.setdiff1d(np.arange(C), first)
        if not len(repeated):
            return B
        B[repeated] = rng.choice(np.array([-1, 1], np.int8), size=(len(repeated), d))


def _aligned(C, d, seed):
    W = tammes(C, d, seed=seed)
    return W @ binary_alignment(W, seed=seed).T


class ProxyKind(NamedTuple):
    """A proxy set of the ablation (paper Fig. 3): how to build its rows, how training uses them.

    build(n_classes, n_bits, seed) -> (C, d) rows, ±1 (binary) or real;
    learned: the rows are only the starting point, trained with the network (TrainConfig.learn_proxies);
    semantic: the rows are assigned to classes by class similarity (Eq. 18), from a given
    similarity matrix or, during training, from the network's own features (Eqs. 19-20).
    """
    build: Callable
    binary: bool
    learned: bool = False
    semantic: bool = False
    about: str = ""


#: Every proxy set by name. A new kind is one entry here: make_proxies, the training protocols,
#: the demo's --proxies and --ablation, and the margins table all read this dictionary.
PROXY_KINDS = {
    "learned": ProxyKind(lambda C, d, seed: random_codes(C, d, seed=seed), True, learned=True,
                         about="random ±1 rows trained with the network (back-propagated)"),
    "random": ProxyKind(lambda C, d, seed: random_codes(C, d, seed=seed), True,
                        about="fixed random ±1 rows"),
    "tammes": ProxyKind(lambda C, d, seed: tammes(C, d, seed=seed), False,
                        about="Tammes proxies W* (Eq. 14)"),
    "aligned": ProxyKind(_aligned, False, about="Gamma* W*, rotated towards the hypercube (Eq. 16)"),
    "hclm-paper": ProxyKind(lambda C, d, seed: hclm_proxies(C, d, seed=seed, refine=False), True,
                            about="sgn(Gamma* W*) (Eq. 17), the paper's pipeline"),
    "hclm": ProxyKind(lambda C, d, seed: hclm_proxies(C, d, seed=seed), True,
                      about="sgn(Gamma* W*) with our bit-flip refinement"),
    "shclm": ProxyKind(lambda C, d, seed: hclm_proxies(C, d, seed=seed), True, semantic=True,
                       about="refined HCLM rows assigned to classes by similarity (Eq. 18)"),
    "best": ProxyKind(lambda C, d, seed: best_proxies(C, d, seed=seed), True,
                      about="the farthest apart: codes from coding theory or the refined pipeline"),
    "hadamard": ProxyKind(lambda C, d, seed: hadamard_proxies(C, d), True,
                          about="Sylvester-Hadamard rows and their negations (d = 2^k, C <= 2d)"),
}


#: The kinds whose rows are designed sets of their own: "learned" starts from random rows and
#: "shclm" permutes the hclm rows (the same margins). The margins table and figure list these.
DESIGNED_KINDS = tuple(k for k, spec in PROXY_KINDS.items() if not (spec.learned or spec.semantic))


def make_proxies(kind, n_classes, n_bits, *, similarity=None, seed=0):
    """The proxy set `kind` (a key of PROXY_KINDS) for C classes and d bits.

    Every kind's rows have norm sqrt(d), so the logit scale of losses.proxy_logits means the
    same for all: the binary kinds are ±1 (int8), tammes and aligned are their unit rows times
    sqrt(d) (float64). A semantic kind (shclm) with similarity (C, C) assigns its rows to the
    classes by Eq. (18); without it they come in design order, for train() to assign from the
    network's features (TrainConfig.semantic_epoch). For "learned" these are the initial rows.
    Raises ValueError for an unknown kind, C > 2^d for a binary kind, or a design whose rows
    are not distinct.
    """
    if kind not in PROXY_KINDS:
        raise ValueError(f"kind must be one of {tuple(PROXY_KINDS)}; got {kind!r}")
    spec = PROXY_KINDS[kind]
    C = check_int(n_classes, "n_classes", 2)
    d = check_int(n_bits, "n_bits", 1)
    check_int(seed, "seed", 0)
    if spec.binary and C > 2 ** d:
        raise ValueError(f"n_bits={d} has only {2 ** d} distinct codes, fewer than n_classes={C}: "
                         f"use at least {(C - 1).bit_length()} bits")
    check_fits(8 * (4 * C * C + 4 * d * d + 4 * C * d), f"proxies for n_classes={C}, n_bits={d}")
    W = spec.build(C, d, seed)
    if spec.semantic and similarity is not None:
        W = W[semantic_assignment(W, similarity, seed=seed)]
    if not spec.binary:
        return W * np.sqrt(d) / np.linalg.norm(W, axis=1, keepdims=True)
    if len(np.unique(W, axis=0)) < C:
        raise ValueError(f"the {kind} design gave equal proxies for two classes at n_bits={d}; "
                         f"use more bits")
    return W

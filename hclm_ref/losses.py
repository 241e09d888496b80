"""Losses of HCLM training: proxy cross-entropy (Eq. 8), Hamming triplet (Eqs. 22-24), multi-label
BCE (Eq. 25). All take the hashing-layer outputs nu (N, d) in [-1, 1] and are autograd-traceable.

The logit scale. With ±1 proxies the raw logits <nu, w_c> span [-d, d], so cross-entropy is
already near zero when nu is only a fraction of the way to its proxy: nothing pushes nu to
saturate at ±1 and the signs b = sgn(nu) stay noisy. We use logits s <nu, w_c> / d instead.
With nu = w_y exactly, the margin of the true logit over the best other is s · 2 min d_H / d
(margins.py), bounded by s; a smaller s therefore forces nu further out towards its proxy
(more binary codes) before the loss is small, at the price of a harder optimisation. This is
the mechanism behind the paper's claim that fixed binary proxies make nu saturate (Sec. 4.2).
Measured with the reference network on CIFAR-10 at 48 bits (issue #4): raw logits gave test
accuracy 0.844 but mAP 0.456 and mean |nu - sgn nu| 0.54; s = 8 gave mAP 0.634-0.707 with
|nu - sgn nu| 0.27-0.29. Derived in tutorials/06-training-with-fixed-proxies.md.
"""

import autograd.numpy as anp
import numpy as onp
from autograd.scipy.special import logsumexp

DEFAULT_SCALE = 8.0
START_PROBABILITY = 0.999      # the automatic schedule: what a network exactly at its proxies
FINAL_PROBABILITY = 0.75       # would give its class at the first and at the last step


def proxy_logits(nu, W, scale=DEFAULT_SCALE):
    """Logits s <nu, w_c> / d of every class: nu (N, d), W (C, d) -> (N, C)."""
    return anp.dot(nu, anp.transpose(W)) * (scale / W.shape[1])


def proxy_loss(nu, y, W, scale=DEFAULT_SCALE):
    """Mean softmax cross-entropy with proxies W (Eq. 8): -log softmax(s <nu, w_c> / d)_y.

    nu (N, d); y (N,) ints in 0..C-1; W (C, d): fixed (HCLM, sHCLM, ...) when passed as a
    constant, learned (the paper's "Learned" ablation) when it is part of the parameters
    being differentiated. Returns a scalar.
    """
    logits = proxy_logits(nu, W, scale)
    log_prob = logits - logsumexp(logits, axis=1, keepdims=True)
    return -anp.mean(log_prob[onp.arange(len(y)), y])


def loss_at_proxies(W, scale):
    """The loss a perfect network reaches: Eq. (8) averaged over the classes y with nu = w_y,
    -log softmax(s <w_y, w_c> / d)_y. For ±1 proxies the logit gap to class c is
    2 s d_H(y, c) / d, so this is mean_y log(1 + sum_{c != y} exp(-2 s d_H(y, c) / d)): it
    falls with s, and for a fixed s it grows with the number of classes and shrinks with
    their distances. W (C, d) rows of norm sqrt(d). Returns a float."""
    W = onp.asarray(W, onp.float64)
    logits = (scale / W.shape[1]) * (W @ W.T)
    top = logits.max(axis=1, keepdims=True)
    log_z = top[:, 0] + onp.log(onp.exp(logits - top).sum(axis=1))
    return float(onp.mean(log_z - onp.diag(logits)))


def scale_for_probability(W, probability):
    """The logit scale s at which loss_at_proxies(W, s) = -log(probability): the scale that
    lets a network exactly at its proxies give its class that probability, no more. Training
    cannot push the loss below what its proxies allow, so with a larger s the gradient stops
    pulling nu outwards before it saturates, and with a smaller one it keeps pulling every
    class at once (issue #16). Solved by bisection on log s (the loss is monotone in s).
    """
    target = -onp.log(probability)
    low, high = onp.log(1e-3), onp.log(1e4)
    if loss_at_proxies(W, onp.exp(high)) > target:
        raise ValueError(f"proxies: no logit scale reaches class probability {probability} "
                         f"at the proxies (are two rows equal?)")
    for _ in range(100):
        mid = 0.5 * (low + high)
        low, high = (mid, high) if loss_at_proxies(W, onp.exp(mid)) > target else (low, mid)
    return float(onp.exp(high))


def automatic_scales(W):
    """(start, final) logit scales of the automatic schedule for the proxy set W: the class
    probability at the proxies moves from START_PROBABILITY to FINAL_PROBABILITY. For ten
    classes this is about 8 -> 3 (the schedule measured on CIFAR-10); for a hundred classes
    at 48 bits about 12 -> 6, since the many near classes share the probability."""
    return scale_for_probability(W, START_PROBABILITY), scale_for_probability(W, FINAL_PROBABILITY)


def hamming_surrogate(nu_a, nu_b):
    """Continuous Hamming distance (d - nu_a . nu_b) / 2 row by row (Eq. 23): (N,)."""
    return 0.5 * (nu_a.shape[1] - anp.sum(nu_a * nu_b, axis=1))


def sample_triplets(y, rng):
    """In-batch triplets: for every anchor with a positive and a negative in the batch, one
    random positive (same class, not itself) and one random negative (another class).

    y (N,) ints; rng a numpy Generator. Returns index arrays (anchor, positive, negative).
    """
    y = onp.asarray(y)
    same = y[:, None] == y[None, :]
    onp.fill_diagonal(same, False)
    other = y[:, None] != y[None, :]
    anchors = onp.nonzero(same.any(axis=1) & other.any(axis=1))[0]
    # a uniform choice among the True entries of a row: argmax of random keys masked to them
    keys = rng.random((len(anchors), len(y)))
    positive = onp.argmax(onp.where(same[anchors], keys, -1.0), axis=1)
    negative = onp.argmax(onp.where(other[anchors], keys, -1.0), axis=1)
    return anchors, positive, negative


def triplet_loss(nu, triplets, margin=2.0):
    """Hamming-space logistic triplet loss log(1 + e^{m + d_H(a,p) - d_H(a,n)}) (Eq. 22),
    with the surrogate of Eq. 23; mean over the triplets (0 when there are none). margin m in bits.
    """
    a, p, n = triplets
    if len(a) == 0:
        return 0.0 * anp.sum(nu)
    z = margin + hamming_surrogate(nu[a], nu[p]) - hamming_surrogate(nu[a], nu[n])
    return anp.mean(anp.logaddexp(0.0, z))


def joint_loss(nu, y, W, triplets, *, lam=1.0, scale=DEFAULT_SCALE, margin=2.0):
    """L = L_p + lambda L_t (Eq. 24)."""
    return proxy_loss(nu, y, W, scale) + lam * triplet_loss(nu, triplets, margin)


def tag_weights(tags):
    """Class-balancing weights c_k of Eq. (25): inverse tag frequency, scaled to mean 1.

    tags (n, T) binary. Tags that never occur get weight 0.
    """
    freq = onp.asarray(tags, onp.float64).mean(axis=0)
    c = onp.divide(1.0, freq, out=onp.zeros_like(freq), where=freq > 0)
    return c * (onp.count_nonzero(c) / c.sum())


def multilabel_loss(nu, tags, W, weights, scale=DEFAULT_SCALE):
    """Class-balanced binary cross-entropy with s_k(x) = sigmoid(s <w_k, nu> / d) (Eq. 25):
    -mean_n sum_k c_k [t_nk log s_k + (1 - t_nk) log(1 - s_k)].

    nu (N, d); tags (N, T) binary; W (T, d) one proxy per tag; weights (T,) from tag_weights.
    """
    z = proxy_logits(nu, W, scale)
    # log s = -log(1 + e^-z), log(1 - s) = -log(1 + e^z), both computed without overflow
    per_tag = tags * anp.logaddexp(0.0, -z) + (1 - tags) * anp.logaddexp(0.0, z)
    return anp.mean(anp.sum(per_tag * weights, axis=1))


# ------------------------------------------------------------- the training objective (a slot)
#
# train() minimises OBJECTIVES[name](cfg, labels) over minibatches, the name chosen by
# choose_objective from TrainConfig.loss and the kind of labels. A maker receives the whole
# configuration and the training labels (for statistics such as tag weights) and returns
# loss(nu, y, W, scale, rng) for a batch: nu (B, d), y its labels, W the proxies, scale the
# logit scale at this step, rng the epoch's Generator (for sampling, e.g. triplets).

def _proxy_objective(cfg, labels):
    return lambda nu, y, W, scale, rng: proxy_loss(nu, y, W, scale)                      # Eq. (8)


def _joint_objective(cfg, labels):
    def loss(nu, y, W, scale, rng):                                                        # Eq. (24)
        return joint_loss(nu, y, W, sample_triplets(y, rng), lam=cfg.triplet_weight, scale=scale,
                          margin=cfg.triplet_margin)
    return loss


def _multilabel_objective(cfg, labels):
    weights = tag_weights(labels)                          # from all training tags, once
    return lambda nu, y, W, scale, rng: multilabel_loss(nu, y, W, weights, scale)         # Eq. (25)


#: name -> maker(cfg, training labels) -> loss(nu, y, W, scale, rng). A new loss is one entry.
OBJECTIVES = {"proxy": _proxy_objective, "joint": _joint_objective,
              "multilabel": _multilabel_objective}


def choose_objective(loss, triplet_weight, labels):
    """The name of the objective to train with. loss="auto": "multilabel" for (N, T) tags,
    "joint" (Eq. 24) when triplet_weight > 0, else "proxy" (Eq. 8); any other value must be a
    key of OBJECTIVES that suits the labels."""
    multi = onp.ndim(labels) == 2
    if loss == "auto":
        loss = "multilabel" if multi else ("joint" if triplet_weight else "proxy")
    if loss not in OBJECTIVES:
        raise ValueError(f"loss must be 'auto' or one of {tuple(OBJECTIVES)}; got {loss!r}")
    if multi != (loss == "multilabel"):
        raise ValueError(f"loss {loss!r} needs {'(N, T) multi-hot tags' if not multi else '(N,) class ids'} "
                         f"as labels; got labels of shape {onp.shape(labels)}")
    if multi and triplet_weight:
        raise ValueError("triplet_weight must be 0 with multi-hot tags: the triplet term of "
                         "Eq. (22) needs class ids to pick positives and negatives")
    return loss

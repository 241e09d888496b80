"""Unsupervised hashing baselines on features (LSH, ITQ) and a linear probe on hash codes.

The paper's tables compare against LSH and ITQ on CNN features (Sec. 5); the transfer protocol
(Sec. 5.3) scores codes of unseen classes with a softmax-regression classifier. Maths in
functions, thin fit/encode classes on top (scikit-learn's conventions: learned attributes end
in `_`, randomness from an explicit seed).
"""

import numpy as np

from ._optim import minimize_lbfgs
from ._validate import as_matrix, check_float, check_int
from .proxies import itq_rotation
from .search import sign


class NotFittedError(ValueError, AttributeError):
    """encode/predict called before fit (scikit-learn's convention: both error kinds)."""


def _features(model, X, n_features):
    """X as a finite (n, p) float64 matrix for a fitted model with p = n_features."""
    if n_features is None:
        raise NotFittedError(f"this {type(model).__name__} is not fitted yet: call fit(X) first")
    X = as_matrix(X, "X", dtype=np.float64)
    if X.shape[1] != n_features:
        raise ValueError(f"X must have {n_features} features, as in fit; got shape {X.shape}")
    return X


class LSH:
    """Random-hyperplane LSH (Charikar 2002): b(x) = sgn(P^T (x - mean)), P Gaussian (p, d)."""

    def __init__(self, n_bits, *, seed=0):
        self.n_bits = check_int(n_bits, "n_bits", 1)
        self.seed = check_int(seed, "seed", 0)
        self.mean_ = None

    def fit(self, X):
        X = as_matrix(X, "X", dtype=np.float64)
        self.mean_ = X.mean(axis=0)                       # centring makes the bits balanced
        self.projection_ = np.random.default_rng(self.seed).standard_normal((X.shape[1], self.n_bits))
        return self

    def encode(self, X):
        """X : (n, p) -> (n, d) int8 codes ±1."""
        X = _features(self, X, None if self.mean_ is None else len(self.mean_))
        return sign((X - self.mean_) @ self.projection_)


class ITQ:
    """Iterative quantisation (Gong & Lazebnik 2011): PCA to d dimensions, then the rotation R
    minimising |B - V R|^2 (the same iteration as the proxy alignment of Eq. 16)."""

    def __init__(self, n_bits, *, n_iter=50, seed=0):
        self.n_bits = check_int(n_bits, "n_bits", 1)
        self.n_iter = check_int(n_iter, "n_iter", 0)
        self.seed = check_int(seed, "seed", 0)
        self.mean_ = None

    def fit(self, X):
        X = as_matrix(X, "X", dtype=np.float64)
        if self.n_bits > min(X.shape):
            raise ValueError(f"ITQ needs n_bits <= min(n_samples, n_features) = {min(X.shape)}; "
                             f"got {self.n_bits}")
        self.mean_ = X.mean(axis=0)
        _, _, Vt = np.linalg.svd(X - self.mean_, full_matrices=False)
        self.pca_ = Vt[:self.n_bits].T                     # (p, d) top principal directions
        V = (X - self.mean_) @ self.pca_
        self.rotation_, self.losses_ = itq_rotation(V, n_iter=self.n_iter, seed=self.seed)
        return self

    def encode(self, X):
        """X : (n, p) -> (n, d) int8 codes ±1."""
        X = _features(self, X, None if self.mean_ is None else len(self.mean_))
        return sign((X - self.mean_) @ self.pca_ @ self.rotation_)


def _softmax_loss(theta, X, Y, l2):
    """Mean cross-entropy of softmax regression + l2/2 |W|^2, and its gradient (flattened)."""
    p, C = X.shape[1], Y.shape[1]
    W, b = theta[:p * C].reshape(p, C), theta[p * C:]
    logits = X @ W + b
    logits -= logits.max(axis=1, keepdims=True)
    log_prob = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    G = (np.exp(log_prob) - Y) / len(X)                    # d loss / d logits
    loss = -np.sum(Y * log_prob) / len(X) + 0.5 * l2 * np.sum(W ** 2)
    return loss, np.concatenate([(X.T @ G + l2 * W).ravel(), G.sum(axis=0)])


class LinearProbe:
    """Softmax regression on hash codes (the transfer protocol's classifier, Sec. 5.3)."""

    def __init__(self, *, l2=1e-3, max_iter=300):
        self.l2 = check_float(l2, "l2", low=0)
        self.max_iter = check_int(max_iter, "max_iter", 1)
        self.coef_ = None

    def fit(self, X, y):
        X = as_matrix(X, "X", dtype=np.float64)
        y = np.asarray(y)
        if y.shape != (len(X),) or y.dtype.kind not in "iu":
            raise ValueError(f"y must be ({len(X)},) integer class ids; got {y.shape} {y.dtype}")
        self.classes_, y_idx = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"y must hold at least 2 classes to tell apart; got {self.classes_.tolist()}")
        Y = np.eye(len(self.classes_))[y_idx]
        theta0 = np.zeros(X.shape[1] * len(self.classes_) + len(self.classes_))
        theta = minimize_lbfgs(lambda t: _softmax_loss(t, X, Y, self.l2), theta0,
                               max_iter=self.max_iter, gtol=1e-8)
        p = X.shape[1]
        self.coef_ = theta[:p * len(self.classes_)].reshape(p, -1)
        self.intercept_ = theta[p * len(self.classes_):]
        return self

    def predict(self, X):
        X = _features(self, X, None if self.coef_ is None else self.coef_.shape[0])
        return self.classes_[np.argmax(X @ self.coef_ + self.intercept_, axis=1)]

    def score(self, X, y):
        """Classification accuracy on (X, y)."""
        return float(np.mean(self.predict(X) == np.asarray(y)))

"""Losses: Eq. 8, Eqs. 22-24, Eq. 25 — values by hand and gradient checks."""

import numpy as np
import pytest
from autograd.test_util import check_grads

from hclm_ref import losses


@pytest.fixture
def batch():
    rng = np.random.default_rng(0)
    nu = np.tanh(rng.standard_normal((6, 8)))
    y = np.array([0, 1, 2, 0, 1, 2])
    W = rng.choice([-1.0, 1.0], size=(3, 8))
    return nu, y, W


def test_proxy_loss_value_and_rotation_invariance(batch):
    nu, y, W = batch
    z = 4.0 * nu @ W.T / 8
    expected = np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(6), y])
    assert losses.proxy_loss(nu, y, W, scale=4.0) == pytest.approx(expected)
    Q, _ = np.linalg.qr(np.random.default_rng(1).standard_normal((8, 8)))
    # rotating nu and the proxies together leaves Eq. 8 unchanged (the rotational ambiguity)
    assert losses.proxy_loss(nu @ Q, y, W @ Q, scale=4.0) == pytest.approx(expected)


def test_loss_gradients(batch):
    nu, y, W = batch
    check_grads(lambda v: losses.proxy_loss(v, y, W), modes=["rev"], order=2)(nu)
    check_grads(lambda w: losses.proxy_loss(nu, y, w), modes=["rev"], order=2)(W)   # learned
    trip = losses.sample_triplets(y, np.random.default_rng(0))
    check_grads(lambda v: losses.triplet_loss(v, trip), modes=["rev"], order=2)(nu)
    check_grads(lambda v: losses.joint_loss(v, y, W, trip), modes=["rev"], order=2)(nu)
    tags = (np.random.default_rng(1).random((6, 3)) < 0.5).astype(float)
    c = losses.tag_weights(tags)
    check_grads(lambda v: losses.multilabel_loss(v, tags, W, c), modes=["rev"], order=2)(nu)


def test_triplet_sampling_and_value():
    y = np.array([0, 0, 1, 1, 2])
    a, p, n = losses.sample_triplets(y, np.random.default_rng(3))
    assert list(a) == [0, 1, 2, 3]                        # class 2 has no positive
    assert np.all(y[a] == y[p]) and np.all(a != p) and np.all(y[a] != y[n])
    nu = np.array([[1.0, 1, 1, 1], [1, 1, 1, -1], [-1, -1, -1, -1]])
    # d(0,1) = 1 bit, d(0,2) = 4 bits: log(1 + e^{2 + 1 - 4})
    value = losses.triplet_loss(nu, (np.array([0]), np.array([1]), np.array([2])), margin=2.0)
    assert value == pytest.approx(np.log1p(np.exp(-1.0)))
    np.testing.assert_allclose(losses.hamming_surrogate(nu[[0]], nu[[2]]), [4.0])    # Eq. 23


def test_multilabel_loss_value_and_weights():
    tags = np.array([[1, 0], [1, 1], [1, 0], [1, 0]])
    c = losses.tag_weights(tags)
    np.testing.assert_allclose(c, np.array([1, 4]) * 2 / 5)   # inverse frequency, mean 1
    nu, W = np.zeros((4, 2)), np.ones((2, 2))
    # all logits 0: each term is log 2, weighted by c_k
    assert losses.multilabel_loss(nu, tags, W, c) == pytest.approx(np.log(2) * c.sum())

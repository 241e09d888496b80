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


def test_loss_at_proxies_closed_form_and_the_automatic_scales():
    from hclm_ref.proxies import make_proxies
    W = make_proxies("hclm", 10, 16)
    D = (16 - W.astype(int) @ W.T) // 2
    s = 3.0
    closed = np.mean([np.log(1 + sum(np.exp(-2 * s * D[y, c] / 16) for c in range(10) if c != y))
                      for y in range(10)])
    assert losses.loss_at_proxies(W, s) == pytest.approx(closed, rel=1e-12)
    start, final = losses.automatic_scales(W)
    assert losses.loss_at_proxies(W, start) == pytest.approx(-np.log(losses.START_PROBABILITY), rel=1e-9)
    assert losses.loss_at_proxies(W, final) == pytest.approx(-np.log(losses.FINAL_PROBABILITY), rel=1e-9)
    # ten classes: the schedule measured on CIFAR-10 (8 -> 3); more classes need larger scales
    for d in (16, 32, 48, 64):
        start, final = losses.automatic_scales(make_proxies("hclm", 10, d))
        assert 8.0 < start < 8.5 and 2.9 < final < 3.0
    # more classes (nested sets of the same rows) need larger scales
    rows = make_proxies("random", 100, 48, seed=1)
    finals = [losses.automatic_scales(rows[:C])[1] for C in (4, 10, 30, 100)]
    assert finals == sorted(finals) and finals[-1] > 5.5
    with pytest.raises(ValueError, match="proxies"):
        losses.scale_for_probability(np.ones((2, 4)), 0.9)          # equal rows: never separable


def test_train_resolves_the_automatic_scales(tmp_path):
    from hclm_ref.data import make_synthetic
    from hclm_ref.model import load_arrays
    from hclm_ref.proxies import make_proxies
    from hclm_ref.train import TrainConfig, train
    ds = make_synthetic(200, 10, seed=0)
    W = make_proxies("hclm", 10, 8)
    train(ds.x_train, ds.y_train, W, TrainConfig(epochs=1, widths=(4,), batch_size=50),
          checkpoint=str(tmp_path / "c.npz"), progress=False)
    config = load_arrays(str(tmp_path / "c.npz"))[1]["config"]
    assert (config["scale"], config["scale_final"]) == pytest.approx(losses.automatic_scales(W))

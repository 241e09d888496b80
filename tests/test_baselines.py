"""LSH, ITQ and the linear probe."""

import numpy as np
import pytest

from hclm_ref.baselines import ITQ, LSH, LinearProbe


def test_lsh_bits_are_balanced_on_centred_gaussian_data():
    X = np.random.default_rng(0).standard_normal((20000, 16))
    B = LSH(32, seed=1).fit(X).encode(X)
    assert B.shape == (20000, 32) and B.dtype == np.int8
    assert np.all(np.abs((B > 0).mean(axis=0) - 0.5) < 0.02)     # 4.5 sigma for n = 20000
    assert np.array_equal(B, LSH(32, seed=1).fit(X).encode(X))


def test_itq_loss_never_increases_and_beats_pca_signs():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((2000, 40)) @ rng.standard_normal((40, 40))
    itq = ITQ(16, n_iter=40, seed=0).fit(X)
    assert np.all(np.diff(itq.losses_) <= 1e-8)
    np.testing.assert_allclose(itq.rotation_.T @ itq.rotation_, np.eye(16), atol=1e-10)
    V = (X - itq.mean_) @ itq.pca_
    pca_loss = np.sum((np.where(V >= 0, 1, -1) - V) ** 2)
    assert itq.losses_[-1] < pca_loss
    with pytest.raises(ValueError, match="n_bits"):
        ITQ(50).fit(X)


def test_probe_separates_linearly_separable_codes():
    # the class is the quadrant of the first two bits (separable by w_c = (±1, ±1, 0, ...));
    # the other 22 bits are noise
    rng = np.random.default_rng(3)
    X = rng.choice([-1, 1], size=(400, 24))
    y = 2 * (X[:, 0] > 0) + (X[:, 1] > 0)
    probe = LinearProbe().fit(X[:300], y[:300])
    assert probe.score(X[300:], y[300:]) == 1.0
    assert set(probe.predict(X)) <= set(range(4))
    with pytest.raises(ValueError, match="y must"):
        LinearProbe().fit(X, y[:10])

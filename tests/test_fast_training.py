"""The fast-training techniques of issue #12, each by the property that defines it."""

import numpy as np
import pytest
from autograd.test_util import check_grads

from hclm_ref import network, nn
from hclm_ref.data import alternating_flips, augment, make_synthetic, translate
from hclm_ref.model import load_arrays
from hclm_ref.proxies import make_proxies
from hclm_ref.train import TrainConfig, ema_update, frozen_names, recalibrated_state, sgd_step, train


@pytest.mark.parametrize("k", [2, 3])
def test_whitened_patches_have_identity_covariance(k):
    rng = np.random.default_rng(0)
    mix = rng.standard_normal((3, 3))                      # correlated colour channels
    x = rng.standard_normal((40, 10, 10, 3)) @ mix
    W = network.whitening_filters(x, k, eps=1e-9)
    assert W.shape == (k, k, 3, 2 * k * k * 3) and W.dtype == np.float32
    patches = nn.im2col(x, k, k, 1, 0).reshape(-1, k * k * 3)
    responses = (patches - patches.mean(axis=0)) @ W.reshape(k * k * 3, -1).astype(np.float64)
    half = k * k * 3
    np.testing.assert_allclose(np.cov(responses[:, :half].T, bias=True), np.eye(half), atol=1e-4)
    np.testing.assert_array_equal(responses[:, half:], -responses[:, :half])     # the negations


def test_whitening_layer_is_frozen_and_its_bias_trains():
    rng = np.random.default_rng(1)
    widths = network.parse_widths("W2,4,M,8")
    params, state = network.init_params(rng, 6, widths=widths)
    x = rng.standard_normal((3, 9, 9, 3)).astype(np.float32)
    state["whiten.W"] = network.whitening_filters(x, 2)
    assert "whiten.W" not in params and params["whiten.b"].shape == (24,)
    nu, q, _ = network.forward(params, x, state, widths=widths, train=True)
    assert nu.shape == (3, 6) and q.shape == (3, 8)
    assert network.feature_size(widths, 9) == 4                       # 9 -> 8 (2x2 valid) -> 4
    p64 = {k: v.astype(np.float64) for k, v in params.items()}       # float64 for the numeric check
    s64 = {k: v.astype(np.float64) for k, v in state.items()}
    check_grads(lambda b: network.forward({**p64, "whiten.b": b}, x.astype(np.float64), s64,
                                          widths=widths, train=True)[0],
                modes=["rev"], order=1)(p64["whiten.b"] + 0.1)


def test_identity_init_passes_channels_through():
    W = network._conv_init(np.random.default_rng(0), 4, 6, identity=True)
    x = np.random.default_rng(1).standard_normal((2, 5, 5, 4))
    y = nn.conv2d(x, W.astype(np.float64), padding=1)
    np.testing.assert_allclose(y[..., :4], x, atol=1e-6)               # the first 4 filters copy
    assert np.abs(W[..., 4:]).max() > 0                                # the others stay random


def test_alternating_flips_mirror_every_image_every_other_epoch():
    f0, f1, f2 = (alternating_flips(1000, e, seed=3) for e in range(3))
    assert np.all(f0 != f1) and np.array_equal(f0, f2)
    assert 400 < f0.sum() < 600
    np.testing.assert_array_equal(f0, alternating_flips(1000, 0, seed=3))
    x = np.arange(2 * 4 * 4, dtype=np.float32).reshape(2, 4, 4, 1)
    out = augment(x, np.random.default_rng(0), pad=0, flip=np.array([True, False]))
    np.testing.assert_array_equal(out, np.stack([x[0, :, ::-1], x[1]]))


def test_reflect_translation_has_no_black_border():
    x = np.ones((5, 8, 8, 3), np.float32)
    assert augment(x, np.random.default_rng(0), pad=2, reflect=True).min() == 1.0
    t = translate(np.arange(16.0).reshape(1, 4, 4, 1), 1, -1)
    np.testing.assert_array_equal(t[0, 1:, :3, 0], np.arange(16.0).reshape(4, 4)[:3, 1:])


def test_ema_update_is_the_exponential_average():
    a = {"w": np.zeros(3, np.float32)}
    p = {"w": np.ones(3, np.float32)}
    out = ema_update(a, p, 0.9, step=10 ** 6)                      # warm-up long over: d = 0.9
    np.testing.assert_allclose(out["w"], 0.1)
    early = ema_update(a, p, 0.9, step=0)                          # d_0 = 1/10: mostly the weights
    np.testing.assert_allclose(early["w"], 0.9)


def test_recalibrated_state_is_the_mean_of_batch_statistics():
    data = make_synthetic(64, 10, seed=0)
    widths = (4,)
    params, state = network.init_params(np.random.default_rng(0), 8, widths=widths)
    norm = (np.zeros(3, np.float32), np.ones(3, np.float32))
    new = recalibrated_state(params, state, data.x_train, norm, widths, batch_size=64)
    _, _, stats = network.forward(params, data.x_train.astype(np.float32) / 255, state, widths=widths,
                                  train=True)
    np.testing.assert_allclose(new["bn0.mean"], stats["bn0.mean"], rtol=1e-5)
    np.testing.assert_allclose(new["bn0.var"], stats["bn0.var"], rtol=1e-5)


@pytest.fixture(scope="module")
def data():
    return make_synthetic(400, 60, seed=2)


FAST = TrainConfig(epochs=3, widths=("W2", 4, "M", 8), batch_size=64, identity_init=True, translate=2,
                   reflect=True, alternate_flip=True, ema=0.9, bn_scale=False, bn_bias_lr=4.0,
                   whiten_bias_epochs=2)


def test_resume_is_bit_identical_with_every_technique(data, tmp_path):
    P = make_proxies("hclm", 10, 8)
    train(data.x_train, data.y_train, P, FAST, checkpoint=str(tmp_path / "a.npz"), progress=False)

    def interrupt(record):
        if record["epoch"] == 2:
            raise KeyboardInterrupt
    ckpt = str(tmp_path / "b.npz")
    with pytest.raises(KeyboardInterrupt):
        train(data.x_train, data.y_train, P, FAST, checkpoint=ckpt, progress=False, on_epoch=interrupt)
    resumed = train(data.x_train, data.y_train, P, FAST, checkpoint=ckpt, resume=True, progress=False)
    a, b = load_arrays(str(tmp_path / "a.npz"))[0], load_arrays(ckpt)[0]
    assert a.keys() == b.keys() and "average" in a
    assert all(a[g][k].tobytes() == b[g][k].tobytes() for g in a for k in a[g])
    assert resumed.state["whiten.W"].shape == (2, 2, 3, 24)


def test_the_kept_model_is_the_weight_average(data):
    model = train(data.x_train, data.y_train, make_proxies("hclm", 10, 8), FAST, progress=False)
    # the selected weights are an average: no training step produced them, and their batch-norm
    # statistics were recomputed for them (not the running averages of the raw weights)
    assert set(model.params) >= {"whiten.b", "conv0", "hash.L"}
    assert np.isfinite(model.encode(data.x_test)[0]).all()


def test_tta_averages_nu_over_the_views(data):
    model = train(data.x_train[:200], data.y_train[:200], make_proxies("hclm", 10, 8),
                  TrainConfig(epochs=1, widths=(4,), batch_size=100, val_fraction=0.0), progress=False)
    x = data.x_test[:6]
    views = [model.encode(v)[0] for v in (x, x[:, :, ::-1])]
    np.testing.assert_allclose(model.encode(x, flip=True)[0], sum(views) / 2, atol=1e-6)
    shifted = [model.encode(translate(v.astype(np.float32), d, d).round().astype(np.uint8))[0]
               for v in (x,) for d in (0, 1, -1)]
    np.testing.assert_allclose(model.encode(x, shift=1)[0], sum(shifted) / 3, atol=1e-5)


def test_frozen_parameters_and_the_bias_learning_rate():
    params, _ = network.init_params(np.random.default_rng(0), 6, widths=("W2", 4, "M", 8))
    cfg = TrainConfig(bn_scale=False, whiten_bias_epochs=2, bn_bias_lr=4.0, momentum=0.5, weight_decay=0.0)
    assert frozen_names(params, cfg, 1) == {"bn0.gamma", "bn1.gamma"}
    assert frozen_names(params, cfg, 2) == {"bn0.gamma", "bn1.gamma", "whiten.b"}
    assert frozen_names(params, TrainConfig(), 5) == set()
    grads = {k: np.ones_like(v) for k, v in params.items() if k not in frozen_names(params, cfg, 2)}
    velocity = {k: np.zeros_like(v) for k, v in params.items()}
    new, new_velocity = sgd_step(params, grads, velocity, 0.1, cfg)
    for k in frozen_names(params, cfg, 2):                 # no gradient: untouched
        assert new[k] is params[k] and new_velocity[k] is velocity[k]
    # Nesterov from rest: p - lr * mult * (g + momentum * g)
    np.testing.assert_allclose(new["bn0.beta"], params["bn0.beta"] - 0.1 * 4.0 * 1.5, rtol=1e-6)
    np.testing.assert_allclose(new["hash.b"], params["hash.b"] - 0.1 * 1.5, rtol=1e-6)


def test_training_leaves_frozen_parameters_where_they_started(data):
    cfg = TrainConfig(epochs=1, widths=("W2", 4, "M", 8), batch_size=64, bn_scale=False, whiten_bias_epochs=0)
    model = train(data.x_train, data.y_train, make_proxies("hclm", 10, 8), cfg, progress=False)
    assert np.all(model.params["bn0.gamma"] == 1) and np.all(model.params["whiten.b"] == 0)
    model = train(data.x_train, data.y_train, make_proxies("hclm", 10, 8),
                  TrainConfig(epochs=1, widths=("W2", 4, "M", 8), batch_size=64), progress=False)
    assert np.any(model.params["bn0.gamma"] != 1) and np.any(model.params["whiten.b"] != 0)

"""Training: learning on synthetic data, fixed proxies untouched, resume = uninterrupted, the
loss slot (multi-label), the model type on disk, and the checks of a run."""

import warnings

import numpy as np
import pytest

from hclm_ref.data import augment, make_synthetic, validation_split
from hclm_ref.losses import OBJECTIVES, choose_objective
from hclm_ref.model import HashingModel, label_accuracy, load_arrays, save_arrays
from hclm_ref.proxies import make_proxies
from hclm_ref.train import TrainConfig, TrainingWarning, learning_rate, train, training_warnings

SMALL = (8, "M", 16, "M", 32)


@pytest.fixture(scope="module")
def data():
    return make_synthetic(1200, 200, seed=1)


def test_short_training_learns_the_synthetic_data(data):
    # 6 epochs on 1,080 images (small net) lower the loss by a quarter and reach 30% validation
    # accuracy (chance: 10%); benchmarks/bench_small_training.py times this run. A constant
    # scale, so that the losses of the first and last epochs measure the same thing
    P = make_proxies("hclm", 10, 16)
    cfg = TrainConfig(epochs=6, widths=SMALL, lr=0.1, batch_size=32, augment=False, scale=8.0,
                      scale_final=None)
    model = train(data.x_train, data.y_train, P, cfg, progress=False)
    h = model.history
    assert h[-1]["loss"] < 0.75 * h[0]["loss"]
    assert max(r["val_accuracy"] for r in h) >= 0.3
    assert 1 <= model.best_epoch <= 6 and model.warnings == ()
    assert h[model.best_epoch - 1]["val_code_accuracy"] == max(r["val_code_accuracy"] for r in h)


def test_fixed_proxies_untouched_learned_proxies_move(data):
    P = make_proxies("hclm", 10, 8).astype(np.float32)
    before = P.copy()
    cfg = TrainConfig(epochs=1, widths=(4,), batch_size=100, val_fraction=0.0)
    fixed = train(data.x_train[:300], data.y_train[:300], P, cfg, progress=False)
    assert "proxies" not in fixed.params
    np.testing.assert_array_equal(P, before)
    np.testing.assert_array_equal(fixed.proxies, before)
    learned = train(data.x_train[:300], data.y_train[:300], P,
                    TrainConfig(epochs=1, widths=(4,), batch_size=100, val_fraction=0.0,
                                learn_proxies=True), progress=False)
    assert np.abs(learned.proxies - before).max() > 0
    np.testing.assert_array_equal(learned.proxies, learned.params["proxies"])
    np.testing.assert_array_equal(P, before)


def _same_arrays(a, b):
    return a.keys() == b.keys() and all(a[g].keys() == b[g].keys() and
                                        all(a[g][k].tobytes() == b[g][k].tobytes() for k in a[g]) for g in a)


def test_resume_is_bit_identical_to_an_uninterrupted_run(data, tmp_path):
    P = make_proxies("hclm", 10, 8)
    cfg = TrainConfig(epochs=3, widths=(4, "M", 8), batch_size=64, triplet_weight=0.5)
    x, y = data.x_train[:400], data.y_train[:400]
    full = train(x, y, P, cfg, checkpoint=str(tmp_path / "a.npz"), progress=False)

    def interrupt(record):
        if record["epoch"] == 1:
            raise KeyboardInterrupt
    ckpt = str(tmp_path / "b.npz")
    with pytest.raises(KeyboardInterrupt):
        train(x, y, P, cfg, checkpoint=ckpt, progress=False, on_epoch=interrupt)
    resumed = train(x, y, P, cfg, checkpoint=ckpt, resume=True, progress=False)
    # every array of the final checkpoints (last and selected weights, momentum) is identical
    assert _same_arrays(load_arrays(str(tmp_path / "a.npz"))[0], load_arrays(ckpt)[0])
    assert all(full.params[k].tobytes() == resumed.params[k].tobytes() for k in full.params)
    # (images_per_second differs between runs; everything computed is identical)
    assert [h["loss"] for h in full.history] == [h["loss"] for h in resumed.history]
    with pytest.raises(ValueError, match="another configuration"):
        train(x, y, P, TrainConfig(epochs=4, widths=(4, "M", 8), batch_size=64, triplet_weight=0.5),
              checkpoint=ckpt, resume=True, progress=False)
    with pytest.raises(ValueError, match="other data or proxies"):
        train(data.x_train[:500], data.y_train[:500], P, cfg, checkpoint=ckpt, resume=True, progress=False)
    with pytest.raises(ValueError, match="other data or proxies"):
        train(x, y, make_proxies("random", 10, 8), cfg, checkpoint=ckpt, resume=True, progress=False)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_nan_loss_stops_with_a_clear_error(data):
    P = make_proxies("hclm", 10, 8)
    cfg = TrainConfig(epochs=1, widths=(4,), batch_size=50, lr=1e30, warmup=0.0, val_fraction=0.0)
    with pytest.raises(FloatingPointError, match="lower the learning rate"):
        train(data.x_train[:300], data.y_train[:300], P, cfg, progress=False)


def test_arrays_roundtrip_is_atomic_and_pickle_free(tmp_path):
    path = str(tmp_path / "c.npz")
    save_arrays(path, {"params": {"w": np.arange(3, dtype=np.float32)}}, {"epoch": 2})
    arrays, meta = load_arrays(path)
    assert meta == {"epoch": 2} and arrays["params"]["w"].dtype == np.float32
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.npz"]      # no temporary left
    with np.load(path, allow_pickle=False) as f:                        # loads without pickle
        assert "meta" in f.files


@pytest.mark.parametrize("content", [b"", b"not a zip file", "object"])
def test_a_damaged_checkpoint_is_named_and_never_advises_pickle(tmp_path, content):
    path = tmp_path / "bad.npz"
    if content == "object":
        np.savez(path, meta=np.array([{"a": 1}], dtype=object))        # needs pickle to load
    else:
        path.write_bytes(content)
    with pytest.raises(ValueError, match="bad.npz is damaged") as err:
        load_arrays(str(path))
    assert "pickle" not in str(err.value) and "can be deleted" in str(err.value)


def test_model_saves_and_loads_with_its_architecture(data, tmp_path):
    widths = (4, "M", 8)
    ckpt = str(tmp_path / "run.npz")
    model = train(data.x_train[:300], data.y_train[:300], make_proxies("hclm", 10, 8),
                  TrainConfig(epochs=2, widths=widths, batch_size=100), checkpoint=ckpt, progress=False)
    model.save(str(tmp_path / "model.npz"))
    for path in (ckpt, str(tmp_path / "model.npz")):         # a checkpoint is also a model file
        loaded = HashingModel.load(path)
        assert loaded.widths == widths and loaded.best_epoch == model.best_epoch
        assert loaded.history == model.history
        np.testing.assert_array_equal(loaded.hash(data.x_test[:20]), model.hash(data.x_test[:20]))
    with pytest.raises(FileNotFoundError, match="nowhere.npz"):
        HashingModel.load(str(tmp_path / "nowhere.npz"))


def test_encode_flip_averages(data):
    model = train(data.x_train[:200], data.y_train[:200], make_proxies("hclm", 10, 8),
                  TrainConfig(epochs=1, widths=(4,), batch_size=100, val_fraction=0.0), progress=False)
    x = data.x_test[:5]
    nu, q = model.encode(x)
    nu_m, _ = model.encode(x[:, :, ::-1])
    nu_f, _ = model.encode(x, flip=True)
    np.testing.assert_allclose(nu_f, (nu + nu_m) / 2, atol=1e-6)
    np.testing.assert_array_equal(model.hash(x), np.where(nu >= 0, 1, -1))


def test_semantic_epoch_permutes_the_proxy_rows(data):
    P = make_proxies("hclm", 10, 16)
    cfg = TrainConfig(epochs=2, widths=(4, "M", 8), batch_size=100, semantic_epoch=1)
    model = train(data.x_train[:600], data.y_train[:600], P, cfg, progress=False)
    assert sorted(map(bytes, model.proxies.astype(np.int8))) == sorted(map(bytes, P))


def test_multilabel_loss_trains_through_the_slot(data):
    # tags: the class (10 tags) and "striped" (the odd classes): (N, 11) multi-hot
    tags = np.concatenate([np.eye(10, dtype=np.int64)[data.y_train], (data.y_train % 2)[:, None]], axis=1)
    assert choose_objective("auto", 0.0, tags) == "multilabel"
    cfg = TrainConfig(epochs=10, widths=SMALL, lr=0.1, batch_size=32, augment=False)
    model = train(data.x_train, tags, make_proxies("hclm", 11, 16), cfg, progress=False)
    h = model.history
    assert h[-1]["loss"] < 0.85 * h[0]["loss"]
    assert max(r["val_code_accuracy"] for r in h) > 0.6           # balanced tag accuracy; chance 0.5
    assert model.warnings == ()
    with pytest.raises(ValueError, match="triplet"):
        train(data.x_train, tags, make_proxies("hclm", 11, 16), TrainConfig(triplet_weight=1.0),
              progress=False)


def test_objective_choice():
    y, tags = np.array([0, 1, 2]), np.eye(3)
    assert choose_objective("auto", 0.0, y) == "proxy" and choose_objective("auto", 0.5, y) == "joint"
    assert set(OBJECTIVES) == {"proxy", "joint", "multilabel"}
    with pytest.raises(ValueError, match="multi-hot"):
        choose_objective("multilabel", 0.0, y)
    with pytest.raises(ValueError, match="class ids"):
        choose_objective("proxy", 0.0, tags)
    with pytest.raises(ValueError, match="loss must be"):
        choose_objective("hinge", 0.0, y)


def test_label_accuracy_hand_values():
    scores = np.array([[2.0, -1, 0.5], [-1, 3, -2], [0.1, -0.1, 0.3]])
    assert label_accuracy(scores, np.array([0, 1, 1])) == pytest.approx(2 / 3)      # argmax 0, 1, 2
    tags = np.array([[1, 0, 1], [0, 1, 0], [1, 0, 0]])
    # tag 0: TPR 2/2, TNR 1/1; tag 1: 1/1, 2/2; tag 2: TPR 1/1, TNR 1/2 (image 2 wrongly) -> 0.75
    assert label_accuracy(scores, tags) == pytest.approx((1 + 1 + 0.75) / 3)


def test_training_warnings_rule():
    ok = [{"loss": 2.0, "val_code_accuracy": 0.2}, {"loss": 1.5, "val_code_accuracy": 0.6}]
    assert training_warnings(ok, 0.1, 100) == []
    flat = [{"loss": 2.0, "val_code_accuracy": 0.6}, {"loss": 2.1, "val_code_accuracy": 0.6}]
    assert "never fell" in training_warnings(flat, 0.1, 100)[0]
    # bar = 0.1 + 2 sqrt(0.1 * 0.9 / 100) = 0.16: 0.16 is at chance, 0.161 is not
    assert "chance" in training_warnings([{"loss": 1.0, "val_code_accuracy": 0.16}], 0.1, 100)[0]
    assert training_warnings([{"loss": 1.0, "val_code_accuracy": 0.161}], 0.1, 100) == []
    assert "chance" in training_warnings([{"loss": 1.0, "train_accuracy": 0.5}], 0.5, 10**6)[0]


def test_divergence_without_nan_is_reported(data):
    # a huge step leaves the bounded tanh loss finite but the network at chance
    with pytest.warns(TrainingWarning, match="chance"):
        model = train(data.x_train[:600], data.y_train[:600], make_proxies("hclm", 10, 8),
                      TrainConfig(epochs=1, widths=(4,), batch_size=50, lr=1e3), progress=False)
    assert model.warnings and "did not learn" in model.warnings[-1]


def test_batch_shrinks_to_a_tiny_training_set_with_one_warning(data):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = train(data.x_train[:40], data.y_train[:40], make_proxies("hclm", 10, 8),
                      TrainConfig(epochs=2, widths=(4,), batch_size=128), progress=False)
    shrink = [w for w in caught if "larger than" in str(w.message)]
    assert len(shrink) == 1 and "batches of 36" in str(shrink[0].message)
    assert all(np.isfinite(h["loss"]) for h in model.history)


def test_augment_crops_and_flips():
    x = np.arange(2 * 6 * 6 * 1, dtype=np.float32).reshape(2, 6, 6, 1)
    out = augment(x, np.random.default_rng(0), pad=0)
    for i in range(2):                                   # without padding: identity or mirror
        assert np.array_equal(out[i], x[i]) or np.array_equal(out[i], x[i, :, ::-1])
    shifted = augment(x, np.random.default_rng(1), pad=2)
    assert shifted.shape == x.shape


def test_schedule_and_split():
    cfg = TrainConfig(lr=0.1, warmup=0.1)
    lrs = [learning_rate(s, 100, cfg) for s in range(100)]
    assert max(lrs) == pytest.approx(0.1) and lrs[0] < lrs[5] and lrs[-1] < 1e-3
    tr, va = validation_split(100, 0.2, seed=0)
    assert len(va) == 20 and len(set(tr) | set(va)) == 100 and not set(tr) & set(va)

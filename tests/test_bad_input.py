"""Bad input at every entry point: the library raises the named error class with a message that
names the argument (or file); the CLI prints one line and exits non-zero; nothing is written
half-way, nothing loops unbounded. One row per case; each runs in milliseconds."""

import pickle

import numpy as np
import pytest
from test_data import fake_cifar

from hclm_ref import baselines, data, demo, margins, metrics, network, proxies, search
from hclm_ref.model import HashingModel
from hclm_ref.protocols import ablation, estimate_epochs, supervised, transfer
from hclm_ref.train import TrainConfig, check_config, train

B = np.array([[1, -1, 1, 1], [-1, -1, 1, 1], [1, 1, -1, -1]])
Y = np.array([0, 1, 2])
NAN = np.full((3, 4), np.nan)
IMAGES = np.random.default_rng(0).integers(0, 256, (40, 8, 8, 3), dtype=np.uint8)
LABELS = np.arange(40) % 4
P4 = proxies.make_proxies("hclm", 4, 8)
TINY = TrainConfig(epochs=1, widths=(2,), batch_size=8)


def fit(model, X, *y):
    return model.fit(X, *y)


LIBRARY = [
    # search
    (lambda: search.pack_codes("abc"), ValueError, "codes must be a 2-D array"),
    (lambda: search.pack_codes(np.ones(4)), ValueError, "got shape (4,)"),
    (lambda: search.pack_codes(NAN), ValueError, "no NaN"),
    (lambda: search.pack_codes(np.full((2, 3), 2)), ValueError, "only -1/+1 or only 0/1"),
    (lambda: search.pack_codes(np.array([["a", "b"]])), ValueError, "numeric or bool"),
    (lambda: search.hamming_distances(B, B[:, :3]), ValueError, "same number of bits"),
    (lambda: search.hamming_topk(B, B, 0), ValueError, "k must be >= 1"),
    (lambda: search.hamming_topk(B, B, 10), ValueError, "at most the database size"),
    (lambda: search.hamming_topk(B, B, 1.5), ValueError, "k must be an integer"),
    (lambda: search.hamming_radius(B, B, -1), ValueError, "r must be >= 0"),
    # metrics
    (lambda: metrics.mean_average_precision(B, [0, 1], B, Y), ValueError, "query_labels must be"),
    (lambda: metrics.mean_average_precision(B, [0.5, 1, 2], B, Y), ValueError, "integers or bools"),
    (lambda: metrics.mean_average_precision(B, Y, B, Y, ties="x"), ValueError, "ties must be one of"),
    (lambda: metrics.mean_average_precision(B, Y, B, Y, topk=0), ValueError, "topk must be"),
    (lambda: metrics.mean_average_precision(B[:0], [], B, Y), ValueError, "query_codes must hold at least"),
    (lambda: metrics.mean_average_precision(B, Y, B[:0], []), ValueError, "db_codes must hold at least"),
    (lambda: metrics.mean_average_precision(B, Y, B, np.eye(3, dtype=int)), ValueError, "same kind"),
    (lambda: metrics.precision_at_k(B, Y, B, Y, [0]), ValueError, "ks must be integers in 1..3"),
    (lambda: metrics.precision_at_radius(B, Y, B, Y, -1), ValueError, "r must be a non-negative"),
    (lambda: metrics.evaluate(B, Y, B, Y, ks=[100]), ValueError, "ks must be integers"),
    # proxies
    (lambda: proxies.tammes(1, 4), ValueError, "n_classes must be >= 2"),
    (lambda: proxies.tammes(10.0, 16), ValueError, "n_classes must be an integer"),
    (lambda: proxies.tammes(10 ** 6, 16), ValueError, "more than a quarter of this machine"),
    (lambda: proxies.itq_rotation(NAN), ValueError, "V contains NaN"),
    (lambda: proxies.itq_rotation(np.ones((3, 4)), n_iter=-1), ValueError, "n_iter must be >= 0"),
    (lambda: proxies.binary_alignment(np.ones(4)), ValueError, "2-D array"),
    (lambda: proxies.refine_codes(NAN), ValueError, "B contains NaN"),
    (lambda: proxies.refine_codes(B, n_steps=-1), ValueError, "n_steps must be >= 0"),
    (lambda: proxies.refine_codes(B[:1]), ValueError, "at least 2 rows"),
    (lambda: proxies.hadamard_proxies(40, 16), ValueError, "power of two"),
    (lambda: proxies.hadamard_proxies(4, 2 ** 30), ValueError, "more than a quarter of this machine"),
    (lambda: proxies.class_similarity(np.ones((4, 2)), [0, 0, 1, 1]), ValueError, "same mean feature"),
    (lambda: proxies.class_similarity(NAN, Y), ValueError, "features contains NaN"),
    (lambda: proxies.tag_similarity(np.zeros((0, 3))), ValueError, "tags must have at least 1 rows"),
    (lambda: proxies.semantic_assignment(B, NAN[:, :3]), ValueError, "similarity contains NaN"),
    (lambda: proxies.semantic_assignment(np.zeros((3, 4)), np.eye(3)), ValueError, "all-zero row"),
    (lambda: proxies.make_proxies("nope", 10, 16), ValueError, "kind must be one of"),
    (lambda: proxies.make_proxies("random", 3, 1), ValueError, "only 2 distinct codes"),
    (lambda: proxies.make_proxies("hclm", 10, 2), ValueError, "use at least 4 bits"),
    (lambda: proxies.make_proxies("hclm", 10, 100000), ValueError, "more than a quarter"),
    (lambda: proxies.make_proxies("random", 10, 16, seed="a"), ValueError, "seed must be an integer"),
    (lambda: proxies.make_proxies("shclm", 10, 16, similarity=np.eye(3)), ValueError, "similarity must be"),
    # margins
    (lambda: margins.class_margins(B[:1]), ValueError, "at least 2 rows"),
    (lambda: margins.class_margins(np.zeros((3, 4))), ValueError, "all-zero row"),
    (lambda: margins.min_hamming_distance(NAN), ValueError, "B contains NaN"),
    (lambda: margins.plotkin_bound(1, 4), ValueError, "n_codewords must be >= 2"),
    (lambda: margins.hamming_bound(10, 10 ** 9), ValueError, "n_bits must be <= 65536"),
    (lambda: margins.simplex_bound(True), ValueError, "n_classes must be an integer"),
    (lambda: margins.binarization_error(np.full((2, 2), 2.0)), ValueError, "nu must lie in [-1, 1]"),
    # baselines
    (lambda: baselines.LSH(0), ValueError, "n_bits must be >= 1"),
    (lambda: baselines.LSH(4).encode(np.ones((2, 3))), baselines.NotFittedError, "not fitted"),
    (lambda: fit(baselines.LSH(4), np.random.rand(10, 3)).encode(np.ones((2, 5))), ValueError, "3 features"),
    (lambda: fit(baselines.ITQ(8), np.random.rand(10, 3)), ValueError, "n_bits <= min"),
    (lambda: baselines.ITQ(2, n_iter=-1), ValueError, "n_iter must be >= 0"),
    (lambda: fit(baselines.ITQ(2), NAN), ValueError, "X contains NaN"),
    (lambda: fit(baselines.LinearProbe(), np.ones((3, 2)), [0, 0, 0]), ValueError, "at least 2 classes"),
    (lambda: fit(baselines.LinearProbe(), np.ones((3, 2)), [0, 1]), ValueError, "y must be (3,)"),
    (lambda: baselines.LinearProbe(l2=-1), ValueError, "l2 must be"),
    (lambda: baselines.LinearProbe().predict(np.ones((2, 2))), baselines.NotFittedError, "not fitted"),
    # data
    (lambda: data.make_synthetic(0, 10), ValueError, "n_train must be >= 1"),
    (lambda: data.make_synthetic(10, 10, size=8), ValueError, "size must be >= 24"),
    (lambda: data.make_synthetic(10 ** 9, 10), ValueError, "more than a quarter"),
    (lambda: data.load_cifar("mnist"), ValueError, "name must be one of"),
    (lambda: data.load_cifar("cifar10", __file__, download_ok=False), NotADirectoryError, "is a file"),
    (lambda: data.load_image_folder("/nonexistent"), NotADirectoryError, "not a folder"),
    (lambda: data.channel_stats(np.zeros((2, 4, 4, 3), np.uint8)), ValueError, "constant"),
    # network
    (lambda: network.parse_widths("0"), ValueError, "widths must be conv widths >= 1"),
    (lambda: network.parse_widths("M,8"), ValueError, "must start with a conv width"),
    (lambda: network.parse_widths("8,x"), ValueError, "widths must be"),
    (lambda: network.init_params(np.random.default_rng(0), 0), ValueError, "n_bits must be >= 1"),
    (lambda: network.feature_size((8, "M", "M", "M", "M", "M", "M"), 32), ValueError, "pool 6 times"),
    # training: data, labels, proxies, options
    (lambda: train(IMAGES.astype(float), LABELS, P4, TINY), ValueError, "x must be uint8"),
    (lambda: train(IMAGES[..., 0], LABELS, P4, TINY), ValueError, "x must be RGB images"),
    (lambda: train(IMAGES[:0], LABELS[:0], P4, TINY), ValueError, "x must be RGB images"),
    (lambda: train(IMAGES, LABELS[:30], P4, TINY), ValueError, "y must be (40,) class ids"),
    (lambda: train(IMAGES, LABELS[:, None], P4, TINY), ValueError, "y must be (40,) class ids"),
    (lambda: train(IMAGES, LABELS + 255, P4, TINY), ValueError, "class ids in 0..3"),
    (lambda: train(IMAGES, LABELS - 1, P4, TINY), ValueError, "class ids in 0..3"),
    (lambda: train(IMAGES, LABELS + 0.5, P4, TINY), ValueError, "integer class ids or 0/1 tags"),
    (lambda: train(IMAGES, LABELS, np.full((4, 8), np.nan), TINY), ValueError, "proxies contains NaN"),
    (lambda: train(IMAGES, LABELS, P4[:1], TINY), ValueError, "proxies must have at least 2 rows"),
    (lambda: train(IMAGES, LABELS, np.zeros((4, 8)), TINY), ValueError, "all-zero row"),
    (lambda: train(np.zeros_like(IMAGES), LABELS, P4, TINY), ValueError, "constant"),
    (lambda: train(IMAGES[:1], LABELS[:1], P4, TrainConfig(val_fraction=0.9)), ValueError, "too few images"),
    (lambda: train(IMAGES, LABELS, P4, "fast"), ValueError, "cfg must be a TrainConfig"),
    (lambda: HashingModel.load("/nonexistent.npz"), FileNotFoundError, "/nonexistent.npz"),
    # protocols
    (lambda: supervised(None, bits=(), config=TINY), ValueError, "at least one code length"),
    (lambda: supervised(None, bits=(0,), config=TINY), ValueError, "bits must be >= 1"),
    (lambda: supervised(None, proxies="nope"), ValueError, "proxies must be one of"),
    (lambda: ablation(None, kinds=("nope",)), ValueError, "kinds must be one of"),
    (lambda: estimate_epochs(None, -1), ValueError, "minutes must be"),
]

CONFIGS = [  # (field, value, message fragment)
    ("epochs", 0, "epochs must be >= 1"), ("epochs", 2.5, "epochs must be an integer"),
    ("batch_size", -4, "batch_size must be >= 1"), ("lr", -1.0, "lr must be"),
    ("lr", float("nan"), "lr must be"), ("lr", float("inf"), "lr must be"),
    ("warmup", 1.0, "warmup must be"), ("momentum", -0.1, "momentum must be"),
    ("weight_decay", -1e-4, "weight_decay must be"), ("scale", 0.0, "scale must be"),
    ("scale_final", float("nan"), "scale_final must be"), ("loss", "hinge", "loss must be"),
    ("triplet_weight", float("nan"), "triplet_weight must be"), ("triplet_weight", -1.0, "triplet_weight"),
    ("clean_epochs", 7, "clean_epochs must be <= 6"), ("semantic_epoch", -1, "semantic_epoch must be"),
    ("semantic_epoch", 6, "semantic_epoch must be below epochs (6)"),
    ("val_fraction", 1.0, "val_fraction must be"), ("seed", -1, "seed must be >= 0"),
    ("widths", (8, 0), "widths must be"), ("widths", ("M",), "start with a conv width"),
    ("bn_bias_lr", 0.0, "bn_bias_lr must be"), ("whiten_bias_epochs", 7, "whiten_bias_epochs must be <= 6"),
    ("whiten_bias_epochs", -1, "whiten_bias_epochs must be >= 0"),
]


@pytest.mark.parametrize("call,error,fragment", LIBRARY, ids=range(len(LIBRARY)))
def test_library_rejects_bad_input(call, error, fragment):
    with pytest.raises(error) as caught:
        call()
    assert fragment in str(caught.value)


@pytest.mark.parametrize("field,value,fragment", CONFIGS, ids=[f"{f}={v}" for f, v, _ in CONFIGS])
def test_config_field_out_of_range(field, value, fragment):
    with pytest.raises(ValueError, match=None) as caught:
        check_config(TrainConfig(**{field: value}))
    assert fragment in str(caught.value)


def test_transfer_needs_eight_classes():
    ds = data.Dataset(IMAGES, LABELS, IMAGES, LABELS, ("a", "b", "c", "d"))
    with pytest.raises(ValueError, match="at least 8 classes"):
        transfer(ds, bits=8, config=TINY)


# --------------------------------------------------------------------- damaged files

def test_damaged_cifar_batches_are_named(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    fake_cifar(str(folder), n=5)
    batch = folder / "data_batch_3"
    good = batch.read_bytes()
    cases = [(good[:len(good) // 2], "data_batch_3 is not a readable CIFAR batch"),       # truncated
             (b"garbage" * 10, "data_batch_3 is not a readable CIFAR batch"),
             (pickle.dumps([1, 2, 3]), "data_batch_3 does not hold a CIFAR batch"),
             (pickle.dumps({b"data": np.zeros((5, 3072), np.float32), b"labels": [0] * 5}), "uint8"),
             (pickle.dumps({b"data": np.zeros((5, 3072), np.uint8), b"labels": [0] * 4}), "5 integers"),
             (pickle.dumps({b"data": np.zeros((5, 3072), np.uint8), b"labels": [255] * 5}), "0..9"),
             (pickle.dumps({b"data": np.zeros((5, 3072), np.uint8), b"labels": [-1] * 5}), "0..9"),
             (pickle.dumps({b"labels": [0] * 5}), "has no ['data'] entry")]
    for content, fragment in cases:
        batch.write_bytes(content)
        with pytest.raises(ValueError) as caught:
            data.load_cifar("cifar10", str(tmp_path), download_ok=False)
        assert fragment in str(caught.value), (fragment, str(caught.value))


def test_extracted_folder_itself_is_accepted_as_data_dir(tmp_path):
    fake_cifar(str(tmp_path / "cifar-10-batches-py"), n=5)
    d = data.load_cifar("cifar10", str(tmp_path / "cifar-10-batches-py"), download_ok=False)
    assert d.x_train.shape == (25, 32, 32, 3)


def test_truncated_image_is_named_and_16_bit_images_keep_their_range(tmp_path):
    from PIL import Image
    for c in ("a", "b"):
        (tmp_path / c).mkdir()
        Image.fromarray(np.full((8, 8, 3), 200, np.uint8)).save(tmp_path / c / "0.png")
    # a 16-bit grey image at 3/4 of its range: 49151 -> 191 of 255, not clipped to 255
    Image.fromarray(np.full((8, 8), 49151, np.uint16)).save(tmp_path / "a" / "1.png")
    d = data.load_image_folder(str(tmp_path), size=8, test_fraction=0.01)
    assert sorted(np.unique(d.x_train).tolist()) == [191, 200]
    good = (tmp_path / "b" / "0.png").read_bytes()
    (tmp_path / "b" / "1.jpg").write_bytes(good[:len(good) // 2])
    with pytest.raises(ValueError, match=r"cannot read image .*b/1.jpg"):
        data.load_image_folder(str(tmp_path), size=8)
    (tmp_path / "b" / "1.jpg").unlink()
    (tmp_path / "c").mkdir()                              # a class folder with no image
    with pytest.raises(ValueError, match="each with images"):
        data.load_image_folder(str(tmp_path), size=8)


def test_resume_from_a_damaged_checkpoint_names_it(tmp_path):
    ckpt = tmp_path / "run.npz"
    ckpt.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ValueError) as caught:
        train(IMAGES, LABELS, P4, TINY, checkpoint=str(ckpt), resume=True, progress=False)
    assert "run.npz is damaged" in str(caught.value) and "pickle" not in str(caught.value)


# ---------------------------------------------------------------------------- the CLI

CLI = [  # (argv, fragment of the one error line)
    (["--epochs", "0"], "--epochs: expected a finite number >= 1"),
    (["--batch-size", "-4"], "--batch-size"),
    (["--lr", "-1"], "--lr"), (["--lr", "nan"], "--lr"), (["--lr", "abc"], "--lr: expected a number"),
    (["--triplet-weight", "nan"], "--triplet-weight"), (["--scale", "0"], "--scale"),
    (["--widths", "0"], "--widths: widths must be conv widths >= 1"), (["--widths", "M"], "--widths"),
    (["--bits", "100000"], "--bits: code lengths must lie in 1..4096"), (["--bits", "a"], "--bits"),
    (["--bits", "2"], "use at least 4 bits"), (["--minutes", "0"], "--minutes"),
    (["--n-train", "0"], "--n-train"), (["--seed", "-1"], "--seed"),
    (["--epochs", "2", "--clean-epochs", "3"], "--clean-epochs"),
    (["--widths", "W2,8", "--epochs", "2", "--whiten-bias-epochs", "3"], "whiten_bias_epochs must be <= 2"),
    (["--proxies", "learned"], "--proxies"), (["imagenet"], "invalid choice"),
    (["--ablation", "--kinds", "hclm,nope"], "--kinds: unknown proxy kind(s) 'nope'"),
    (["--ablation", "--kinds", "hclm,hclm"], "--kinds: proxy kinds must be distinct"),
    (["folder"], "folder needs a PATH"), (["folder", "/nonexistent"], "/nonexistent is not a folder"),
    (["cifar10", "--data-dir", __file__], "is a file"),
]


def test_preset_epoch_counts_shrink_with_fewer_epochs():
    """The CIFAR preset's clean epochs (2) and whitening-bias epochs (3) are its own choice, not
    the user's: with --epochs 1 they shrink to 1 instead of failing; given explicitly they fail."""
    args = demo.parse_args(["cifar10", "--epochs", "1"])
    assert (args.clean_epochs, args.whiten_bias_epochs) == (1, 1)
    args = demo.parse_args(["cifar10"])
    assert (args.epochs, args.clean_epochs, args.whiten_bias_epochs) == (7, 2, 3)


@pytest.mark.parametrize("argv,fragment", CLI, ids=[" ".join(a) for a, _ in CLI])
def test_cli_bad_value_is_one_line_and_exit_2(argv, fragment, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        demo.main([*argv, "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert exit_.value.code == demo.EXIT_BAD_INPUT
    assert err.count("\n") == 1 and fragment in err, err
    assert "Traceback" not in err
    assert not (tmp_path / "out" / "report.md").exists()


def test_cli_transfer_on_few_classes_fails_before_training(tmp_path, capsys):
    from conftest import write_colour_folder
    root = write_colour_folder(tmp_path / "three", n_classes=3, per_class=5)
    with pytest.raises(SystemExit) as exit_:
        demo.main(["folder", str(root), "--transfer", "--out", str(tmp_path / "out"), "--quiet"])
    assert exit_.value.code == demo.EXIT_BAD_INPUT
    assert "at least 8 classes" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()                 # nothing trained, nothing written


def test_cli_untrainable_folder_is_reported_not_silent(tmp_path, capsys):
    # two classes of pure noise, 30 images each, with the default batch of 128: the batch
    # shrinks (one warning), training runs, and the network at chance is reported (exit 3)
    from PIL import Image
    rng = np.random.default_rng(0)
    for c in ("a", "b"):
        (tmp_path / "noise" / c).mkdir(parents=True)
        for i in range(30):
            noise = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
            Image.fromarray(noise).save(tmp_path / "noise" / c / f"{i}.png")
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_:
        demo.main(["folder", str(tmp_path / "noise"), "--epochs", "2", "--widths", "4", "--bits", "8",
                   "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert exit_.value.code == demo.EXIT_NOT_LEARNED
    assert err.count("batch_size 128 is larger than") == 1
    assert "did not learn" in (out / "report.md").read_text()


def test_cli_debug_shows_the_traceback(tmp_path):
    with pytest.raises(ValueError, match="use at least 4 bits"):
        demo.main(["--bits", "2", "--debug", "--n-train", "20", "--n-test", "10", "--quiet",
                   "--out", str(tmp_path / "out")])


def test_cli_resume_from_a_damaged_checkpoint_is_one_line(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "checkpoint-hclm-16-10.npz").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(SystemExit) as exit_:
        demo.main(["--bits", "16", "--n-train", "200", "--n-test", "20", "--epochs", "1", "--quiet",
                   "--out", str(out), "--resume"])
    err = capsys.readouterr().err
    assert exit_.value.code == demo.EXIT_BAD_INPUT and err.count("\n") == 1
    assert "checkpoint-hclm-16-10.npz is damaged" in err and "pickle" not in err

"""Datasets: synthetic generator, CIFAR loader (restricted unpickler, archive, download), folders."""

import hashlib
import os
import pickle
import tarfile

import numpy as np
import pytest

from hclm_ref import data
from hclm_ref.data import load_cifar, load_image_folder, make_synthetic, read_pickle_batch

SHARED_CIFAR = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")


def test_synthetic_is_deterministic_balanced_and_structured():
    a, b = make_synthetic(300, 100, seed=3), make_synthetic(300, 100, seed=3)
    assert a.x_train.tobytes() == b.x_train.tobytes() and np.array_equal(a.y_test, b.y_test)
    assert a.x_train.shape == (300, 32, 32, 3) and a.x_train.dtype == np.uint8
    assert set(a.y_train) == set(range(10)) and np.array_equal(a.coarse_train, a.y_train // 2)
    assert make_synthetic(300, 100, seed=4).x_train.tobytes() != a.x_train.tobytes()


def fake_cifar(folder, n=20, seed=0):
    """Write a tiny CIFAR-10 in the official layout: pickled dicts with bytes keys."""
    rng = np.random.default_rng(seed)
    os.makedirs(folder)
    images = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        d = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
             b"labels": [int(v) for v in rng.integers(0, 10, n)], b"batch_label": name.encode(),
             b"filenames": [f"{i}.png".encode() for i in range(n)]}
        images[name] = d
        with open(os.path.join(folder, name), "wb") as f:
            pickle.dump(d, f, protocol=2)
    with open(os.path.join(folder, "batches.meta"), "wb") as f:
        pickle.dump({b"label_names": [f"class{i}".encode() for i in range(10)]}, f, protocol=2)
    return images


def fake_cifar100(folder, n_train=60, n_test=20, seed=0):
    """Write a tiny CIFAR-100 in the official layout: train / test / meta pickles with fine and
    coarse labels (fine class k belongs to super-class k // 5)."""
    rng = np.random.default_rng(seed)
    os.makedirs(folder)
    for name, n in (("train", n_train), ("test", n_test)):
        fine = rng.permutation(np.arange(n) % 100)              # every class (n >= 100)
        d = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
             b"fine_labels": [int(v) for v in fine], b"coarse_labels": [int(v) // 5 for v in fine],
             b"filenames": [f"{i}.png".encode() for i in range(n)], b"batch_label": name.encode()}
        with open(os.path.join(folder, name), "wb") as f:
            pickle.dump(d, f, protocol=2)
    with open(os.path.join(folder, "meta"), "wb") as f:
        pickle.dump({b"fine_label_names": [f"fine{i}".encode() for i in range(100)],
                     b"coarse_label_names": [f"coarse{i}".encode() for i in range(20)]}, f, protocol=2)


def test_cifar100_reads_fine_and_coarse_labels(tmp_path):
    fake_cifar100(str(tmp_path / "cifar-100-python"), n_train=200, n_test=100)
    d = load_cifar("cifar100", str(tmp_path), download_ok=False)
    assert d.x_train.shape == (200, 32, 32, 3) and len(d.class_names) == 100
    np.testing.assert_array_equal(d.coarse_train, d.y_train // 5)


def test_cifar_from_extracted_folder_decodes_planes(tmp_path):
    batches = fake_cifar(str(tmp_path / "cifar-10-batches-py"))
    d = load_cifar("cifar10", str(tmp_path), download_ok=False)
    assert d.x_train.shape == (100, 32, 32, 3) and d.x_test.shape == (20, 32, 32, 3)
    raw = batches["data_batch_1"][b"data"][0]
    # pixel (row 0, col 1): R at index 1, G at 1024 + 1, B at 2048 + 1
    assert tuple(d.x_train[0, 0, 1]) == (raw[1], raw[1025], raw[2049])
    assert d.y_train[0] == batches["data_batch_1"][b"labels"][0]
    assert d.class_names[3] == "class3"


def make_archive(tmp_path):
    src = tmp_path / "src"
    fake_cifar(str(src / "cifar-10-batches-py"))
    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(src / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    return archive, hashlib.md5(archive.read_bytes()).hexdigest()


def test_cifar_from_archive_and_download(tmp_path, monkeypatch):
    archive, md5 = make_archive(tmp_path)
    monkeypatch.setitem(data.CIFAR["cifar10"], "md5", md5)
    monkeypatch.setitem(data.CIFAR["cifar10"], "url", archive.as_uri())      # file:// "download"
    target = tmp_path / "cache"
    d = load_cifar("cifar10", str(target))
    assert d.x_train.shape == (100, 32, 32, 3)
    assert sorted(os.listdir(target)) == ["cifar-10-batches-py", "cifar-10-python.tar.gz"]
    # the archive alone is enough too
    (target / "cifar-10-batches-py").rename(target / "moved")
    assert load_cifar("cifar10", str(target), download_ok=False).x_test.shape == (20, 32, 32, 3)


def test_bad_download_leaves_no_file_and_offline_message(tmp_path, monkeypatch):
    archive, _ = make_archive(tmp_path)
    monkeypatch.setitem(data.CIFAR["cifar10"], "url", archive.as_uri())
    monkeypatch.setitem(data.CIFAR["cifar10"], "md5", "0" * 32)                # corrupt
    target = tmp_path / "cache"
    with pytest.raises(FileNotFoundError, match="put it"):
        load_cifar("cifar10", str(target))
    assert os.listdir(target) == []                                           # no half file
    with pytest.raises(FileNotFoundError, match="cifar-10-batches-py"):
        load_cifar("cifar10", str(tmp_path / "empty"), download_ok=False)
    with pytest.raises(ValueError, match="name"):
        load_cifar("mnist", str(tmp_path))


def test_restricted_unpickler_refuses_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({b"data": Evil()}))
    with pytest.raises(ValueError, match="data_batch_1 is not a readable CIFAR batch.*refusing to load"):
        read_pickle_batch(str(path))


@pytest.mark.skipif(not os.path.isdir(os.path.join(SHARED_CIFAR, "cifar-10-batches-py")),
                    reason="the shared CIFAR-10 copy is not beside the project")
def test_real_cifar10_statistics():
    d = load_cifar("cifar10", SHARED_CIFAR, download_ok=False)
    assert d.x_train.shape == (50000, 32, 32, 3) and d.x_test.shape == (10000, 32, 32, 3)
    assert np.all(np.bincount(d.y_train) == 5000) and np.all(np.bincount(d.y_test) == 1000)
    means = d.x_train.reshape(-1, 3).mean(axis=0) / 255
    np.testing.assert_allclose(means, [0.4914, 0.4822, 0.4465], atol=1e-3)    # published values
    assert d.class_names[0] == "airplane" and d.class_names[9] == "truck"


def test_image_folder(tmp_path):
    from PIL import Image
    rng = np.random.default_rng(0)
    for c in ("cats", "dogs"):
        os.makedirs(tmp_path / c)
        for i in range(5):
            Image.fromarray(rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)).save(tmp_path / c / f"{i}.png")
    (tmp_path / "cats" / "notes.txt").write_text("not an image")
    d = load_image_folder(str(tmp_path), test_fraction=0.4)
    assert d.class_names == ("cats", "dogs")
    assert d.x_train.shape == (6, 32, 32, 3) and d.x_test.shape == (4, 32, 32, 3)
    assert np.bincount(d.y_test).tolist() == [2, 2]
    with pytest.raises(ValueError, match="at least 2 class"):
        load_image_folder(str(tmp_path / "cats"))


def test_the_hundred_class_synthetic_set():
    from hclm_ref.data import SYNTHETIC_100_CLASSES
    a = make_synthetic(600, 100, seed=4, n_classes=100)
    b = make_synthetic(600, 100, seed=4, n_classes=100)
    assert a.x_train.tobytes() == b.x_train.tobytes() and a.x_train.shape == (600, 32, 32, 3)
    assert a.class_names == SYNTHETIC_100_CLASSES and len(set(a.class_names)) == 100
    assert a.y_train.min() >= 0 and a.y_train.max() <= 99 and len(np.unique(a.y_train)) > 95
    np.testing.assert_array_equal(a.coarse_train, a.y_train // 5)      # shape x fill: 20 super-classes
    assert set(np.unique(a.coarse_test)) <= set(range(20))
    assert "red solid disk" == a.class_names[0] and "blue hollow ring" == a.class_names[98]
    # the 10-class default is unchanged by the option
    np.testing.assert_array_equal(make_synthetic(50, 5, seed=1).x_train,
                                  make_synthetic(50, 5, seed=1, n_classes=10).x_train)
    with pytest.raises(ValueError, match="n_classes must be 10 or 100"):
        make_synthetic(10, 10, n_classes=20)


def test_the_multilabel_synthetic_set():
    from hclm_ref.data import make_synthetic_multilabel
    a, b = make_synthetic_multilabel(400, 50, seed=2), make_synthetic_multilabel(400, 50, seed=2)
    assert a.x_train.tobytes() == b.x_train.tobytes() and a.y_train.shape == (400, 10)
    assert set(np.unique(a.y_train)) == {0, 1} and a.y_train.sum(axis=1).min() >= 1
    assert a.y_train.sum(axis=1).max() <= 3
    freq = a.y_train.sum(axis=0)
    assert freq[0] + freq[1] > 2 * (freq[8] + freq[9])          # disks common, rings rare: skewed


def test_multilabel_shapes_keep_to_their_quadrants():
    # the property that keeps every tag visible: a shape reaches at most one pixel (the corners
    # of a rotated square: 0.8 r sqrt 2 = 1.13 r) beyond its quadrant, so none covers another
    from hclm_ref.data import _masks_of, _placed_in_quadrant
    yy, xx = np.mgrid[0:32, 0:32].astype(np.float32)
    quadrant = np.repeat(np.arange(4), 200)
    u, v, r = _placed_in_quadrant(np.random.default_rng(0), quadrant, xx, yy, 32)
    top, left = 16 * (quadrant // 2)[:, None, None], 16 * (quadrant % 2)[:, None, None]
    near = (yy >= top - 1) & (yy < top + 17) & (xx >= left - 1) & (xx < left + 17)
    strictly = (yy >= top) & (yy < top + 16) & (xx >= left) & (xx < left + 16)
    for kind in range(5):
        mask = _masks_of(np.full(len(quadrant), kind), u, v, r)
        assert mask.sum(axis=(1, 2)).min() >= 20 and not (mask & ~near).any()
        assert (mask & ~strictly).sum() < 0.01 * mask.sum()


def _tagged_folder(tmp_path, lines):
    from PIL import Image
    root = tmp_path / "imgs"
    root.mkdir(exist_ok=True)
    for i in range(4):
        Image.fromarray(np.full((8, 8, 3), 60 * i, np.uint8)).save(root / f"{i}.png")
    (tmp_path / "tags.csv").write_text("\n".join(lines) + "\n")
    return str(root), str(tmp_path / "tags.csv")


def test_tagged_folder_reads_multi_hot_tags(tmp_path):
    from hclm_ref.data import load_tagged_folder
    root, tags = _tagged_folder(tmp_path, ["# file,tags", "0.png,sky;sea", "1.png,sea", "",
                                           "2.png, dog ;sky", "3.png,dog"])
    d = load_tagged_folder(root, tags, size=8, test_fraction=0.25, seed=0)
    assert d.class_names == ("dog", "sea", "sky") and len(d.x_train) == 3 and len(d.x_test) == 1
    y = np.concatenate([d.y_train, d.y_test])
    assert sorted(map(tuple, y.tolist())) == sorted([(0, 1, 1), (0, 1, 0), (1, 0, 1), (1, 0, 0)])


@pytest.mark.parametrize("lines,fragment", [
    (["0.png,sky", "9.png,sea"], "not in"),                         # unknown file
    (["0.png,sky", "1.png, ; "], "line 2: 1.png has an empty tag list"),
    (["0.png,sky", "1.png,sea", "0.png,dog"], "line 3: 0.png is listed twice (first on line 1)"),
    (["0.png sky"], "line 1: expected 'file,tag;tag;...'"),
    (["# nothing"], "lists no images"),
])
def test_tags_file_errors_name_the_line(tmp_path, lines, fragment):
    from hclm_ref.data import load_tagged_folder
    root, tags = _tagged_folder(tmp_path, lines)
    with pytest.raises(ValueError, match=None) as caught:
        load_tagged_folder(root, tags, size=8)
    assert fragment in str(caught.value)

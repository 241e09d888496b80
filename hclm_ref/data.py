"""Datasets: a synthetic image generator (the offline default), CIFAR-10/100, image folders;
and what turns images into network input (normalisation, augmentation, the validation split).

Every loader returns a Dataset: images (N, 32, 32, 3) uint8 in NHWC order and integer labels,
split into train and test parts. The CIFAR loaders read the official "python version" files
with a restricted unpickler and never call pickle.load on a downloaded file. A damaged file
is named in the error.
"""

import hashlib
import os
import pickle
import tarfile
import urllib.request
from typing import NamedTuple, Optional

import numpy as np

from ._progress import progress_bar
from ._validate import check_fits, check_float, check_int

SYNTHETIC_CLASSES = ("disk", "striped disk", "square", "striped square", "triangle",
                     "striped triangle", "cross", "striped cross", "ring", "striped ring")
SHAPES = ("disk", "square", "triangle", "cross", "ring")
FILLS = ("solid", "striped", "checked", "hollow")                  # the 100-class set's fills
HUES = {"red": 0.0, "yellow": 0.15, "green": 0.33, "blue": 0.6, "purple": 0.8}
#: the 100 classes of make_synthetic(n_classes=100): class (s * 4 + f) * 5 + h
SYNTHETIC_100_CLASSES = tuple(f"{hue} {fill} {shape}" for shape in SHAPES for fill in FILLS for hue in HUES)


class Dataset(NamedTuple):
    """Images (N, H, W, 3) uint8 and labels (N,) int64 for training and test; class names;
    optional coarse (super-class) labels."""
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple
    coarse_train: Optional[np.ndarray] = None
    coarse_test: Optional[np.ndarray] = None


# ----------------------------------------------------------------------------- synthetic

def _shape_masks(kind, u, v, r):
    """Boolean masks of a shape of radius r in rotated, centred coordinates u, v (N, S, S)."""
    if kind == 0:                                                   # disk
        return u ** 2 + v ** 2 < r ** 2
    if kind == 1:                                                   # square
        return (np.abs(u) < 0.8 * r) & (np.abs(v) < 0.8 * r)
    if kind == 2:                                                   # triangle: 3 half-planes
        angles = np.deg2rad([90, 210, 330])
        return np.all([u * np.cos(a) + v * np.sin(a) < 0.5 * r for a in angles], axis=0)
    if kind == 3:                                                   # cross
        return ((np.abs(u) < 0.33 * r) & (np.abs(v) < r)) | ((np.abs(v) < 0.33 * r) & (np.abs(u) < r))
    return (u ** 2 + v ** 2 < r ** 2) & (u ** 2 + v ** 2 > (0.55 * r) ** 2)   # ring


def _masks_of(kinds, u, v, r):
    """Boolean masks (m, S, S) of shapes of the given kinds (m,) in coordinates u, v, radii r."""
    mask = np.zeros(u.shape, bool)
    for kind in range(5):
        sel = kinds == kind
        mask[sel] = _shape_masks(kind, u[sel], v[sel], r[sel])
    return mask


def make_synthetic(n_train=5000, n_test=1000, *, size=32, seed=0, n_classes=10):
    """Synthetic images of 10 or 100 classes, with super-classes.

    Each image: a random background colour, two clutter rectangles, one shape (disk, square,
    triangle, cross or ring) at a random position, radius and rotation, plus Gaussian pixel
    noise. Position, colour and clutter vary so much that a linear model on pixels does
    poorly, while a CNN learns the shapes.
    n_classes=10: class = shape x fill (solid, or stripes of random frequency and phase) in a
    random colour; 5 super-classes (the shape). n_classes=100: class = shape x fill (solid,
    striped, checked, hollow) x hue family (red, yellow, green, blue, purple; the hue jitters
    by 0.03 and saturation and brightness vary); 20 super-classes (shape x fill), so the
    many-class regime of issue #16 has a coarse level for sHCLM's class similarity. The
    super-classes give class similarity a structure. Deterministic for a seed; about a second
    for 6,000 images. Returns a Dataset.
    """
    n_train, n_test = check_int(n_train, "n_train", 1), check_int(n_test, "n_test", 1)
    size = check_int(size, "size", 24)                 # shapes of radius 8-12 must fit inside
    if n_classes not in (10, 100):
        raise ValueError(f"n_classes must be 10 or 100; got {n_classes!r}")
    n = n_train + n_test
    check_fits(n * size * size * 3 * 5, f"n_train + n_test = {n} synthetic images")
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, n)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    images = np.empty((n, size, size, 3), np.float32)
    for start in range(0, n, 1000):                                # bounded memory
        idx = np.arange(start, min(n, start + 1000))
        images[idx] = _render(rng, y[idx], xx, yy, size) if n_classes == 10 else \
            _render_100(rng, y[idx], xx, yy, size)
    images = np.clip(images + rng.normal(0, 0.04, images.shape), 0, 1)
    x = (images * 255).round().astype(np.uint8)
    names, coarse = (SYNTHETIC_CLASSES, y // 2) if n_classes == 10 else (SYNTHETIC_100_CLASSES, y // 5)
    return Dataset(x[:n_train], y[:n_train], x[n_train:], y[n_train:], names,
                   coarse[:n_train], coarse[n_train:])


def _background(rng, m, xx, yy, size):
    """A random background colour with two clutter rectangles of random colours: (m, S, S, 3)."""
    img = np.broadcast_to(rng.uniform(0, 1, (m, 1, 1, 3)), (m, size, size, 3)).copy()
    for _ in range(2):                                            # clutter rectangles
        x0, y0 = rng.uniform(-2, size, (2, m, 1, 1))
        w, h = rng.uniform(2, 7, (2, m, 1, 1))
        box = (xx >= x0) & (xx < x0 + w) & (yy >= y0) & (yy < y0 + h)
        img = np.where(box[..., None], rng.uniform(0, 1, (m, 1, 1, 3)), img)
    return img


def _placed(rng, m, xx, yy, size, radius=(8, 12)):
    """Random centre, radius (in the range `radius`) and rotation, the shape inside the image:
    the rotated, centred coordinates (u, v) (m, S, S) and r (m, 1, 1)."""
    cx, cy = rng.uniform(radius[1] - 1, size - radius[1] + 1, (2, m, 1, 1))
    r = rng.uniform(*radius, (m, 1, 1))
    theta = rng.uniform(0, 2 * np.pi, (m, 1, 1))
    return (*_rotated(xx - cx, yy - cy, theta), r)


def _rotated(dx, dy, theta):
    """Offsets from a shape's centre rotated by theta: the shape's own coordinates (u, v)."""
    return dx * np.cos(theta) + dy * np.sin(theta), -dx * np.sin(theta) + dy * np.cos(theta)


def _hsv_to_rgb(h, s, v):
    """Vectorised HSV -> RGB for arrays of the same shape, all in [0, 1]: (..., 3)."""
    i = np.floor(h * 6) % 6
    f = h * 6 - np.floor(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    table = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)]
    return np.stack([np.select([i == k for k in range(6)], [c[ch] for c in table]) for ch in range(3)],
                    axis=-1)


def _render_100(rng, y, xx, yy, size):
    """The 100-class images: shape y // 20, fill (y // 5) % 4, hue family y % 5."""
    m = len(y)
    img = _background(rng, m, xx, yy, size)
    u, v, r = _placed(rng, m, xx, yy, size)
    fill_id, hue_id = (y // 5) % 4, y % 5
    shape = _masks_of(y // 20, u, v, r)
    # the interior: pixels whose neighbours 2 pixels away are all inside (hollow = the outline,
    # so a hollow ring is two circles, not a thinner ring)
    inner = shape.copy()
    for shift, axis in ((2, 1), (-2, 1), (2, 2), (-2, 2)):
        inner &= np.roll(shape, shift, axis=axis)
    hue = (np.array(list(HUES.values()))[hue_id] + rng.uniform(-0.03, 0.03, m)) % 1.0
    colour = _hsv_to_rgb(hue, rng.uniform(0.6, 1.0, m), rng.uniform(0.6, 1.0, m))[:, None, None, :]
    period = rng.uniform(4.0, 6.0, (m, 1, 1))
    phase = rng.uniform(0, 2 * np.pi, (m, 1, 1))
    stripes = np.sin(2 * np.pi * u / period + phase) > 0
    checks = stripes ^ (np.sin(2 * np.pi * v / period + phase) > 0)
    dark = ((fill_id == 1)[:, None, None] & stripes) | ((fill_id == 2)[:, None, None] & checks)
    shape &= ~((fill_id == 3)[:, None, None] & inner)                       # hollow: the outline
    fill = np.where(dark[..., None], colour * 0.25, colour)
    return np.where(shape[..., None], fill, img)


#: how often each shape is drawn in the multi-label set: skewed, as tags are in real data
MULTILABEL_SHAPE_FREQUENCIES = (0.4, 0.25, 0.17, 0.11, 0.07)


def make_synthetic_multilabel(n_train=5000, n_test=1000, *, size=32, seed=0):
    """Synthetic multi-label images: one to three shapes an image, each a disk, square,
    triangle, cross or ring (drawn with the skewed MULTILABEL_SHAPE_FREQUENCIES), solid or
    striped, in a random colour, over the background and clutter of make_synthetic. Each
    shape has a quadrant of its own (radius 5-7, rotated, anywhere inside it; only the corners
    of a rotated square or cross reach up to a pixel beyond), so no shape hides another and
    every tag can be seen. (An earlier version placed the shapes anywhere: a sixth of the first
    shapes were then more than half covered, tags that the images did not show.)
    Tags: the 10 (shape, fill) pairs of SYNTHETIC_CLASSES, present or not: y (N, 10) multi-hot,
    at least one tag an image. Relevance in retrieval = sharing a tag (metrics).
    Deterministic for a seed. Returns a Dataset with multi-hot labels and no super-classes."""
    n_train, n_test = check_int(n_train, "n_train", 1), check_int(n_test, "n_test", 1)
    size = check_int(size, "size", 24)                  # a quadrant must hold a shape of radius 7
    n = n_train + n_test
    check_fits(n * size * size * 3 * 5, f"n_train + n_test = {n} synthetic images")
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    images = np.empty((n, size, size, 3), np.float32)
    tags = np.zeros((n, 10), np.int64)
    n_shapes = rng.integers(1, 4, n)
    for start in range(0, n, 1000):
        idx = np.arange(start, min(n, start + 1000))
        m = len(idx)
        img = _background(rng, m, xx, yy, size)
        quadrants = np.argsort(rng.random((m, 4)), axis=1)[:, :3]       # three different ones
        for j in range(3):
            kind = rng.choice(5, m, p=MULTILABEL_SHAPE_FREQUENCIES)
            striped = rng.random(m) < 0.5
            drawn = n_shapes[idx] > j
            u, v, r = _placed_in_quadrant(rng, quadrants[:, j], xx, yy, size)
            mask = _masks_of(kind, u, v, r)
            colour = rng.uniform(0, 1, (m, 1, 1, 3))
            stripes = np.sin(2 * np.pi * u / rng.uniform(3.0, 4.5, (m, 1, 1))) > 0
            fill = np.where((striped[:, None, None] & stripes)[..., None], colour * 0.25, colour)
            img = np.where((mask & drawn[:, None, None])[..., None], fill, img)
            tags[idx[drawn], 2 * kind[drawn] + striped[drawn]] = 1
        images[idx] = img
    images = np.clip(images + rng.normal(0, 0.04, images.shape), 0, 1)
    x = (images * 255).round().astype(np.uint8)
    return Dataset(x[:n_train], tags[:n_train], x[n_train:], tags[n_train:], SYNTHETIC_CLASSES)


def _placed_in_quadrant(rng, quadrant, xx, yy, size, radius=(5, 7)):
    """Like _placed, with each shape inside its quadrant (m,) of the image (0 top left, 1 top
    right, 2 bottom left, 3 bottom right): (u, v) (m, S, S) and r (m, 1, 1)."""
    half, m = size // 2, len(quadrant)
    r = rng.uniform(*radius, (m, 1, 1))
    cx = (quadrant % 2)[:, None, None] * half + rng.uniform(0, 1, (m, 1, 1)) * (half - 2 * r) + r
    cy = (quadrant // 2)[:, None, None] * half + rng.uniform(0, 1, (m, 1, 1)) * (half - 2 * r) + r
    theta = rng.uniform(0, 2 * np.pi, (m, 1, 1))
    return (*_rotated(xx - cx, yy - cy, theta), r)


def _render(rng, y, xx, yy, size):
    """The 10-class images: shape y // 2, striped when y is odd, any colour."""
    m = len(y)
    img = _background(rng, m, xx, yy, size)
    u, v, r = _placed(rng, m, xx, yy, size)
    shape = _masks_of(y // 2, u, v, r)
    colour = rng.uniform(0, 1, (m, 1, 1, 3))
    period = rng.uniform(4.0, 6.0, (m, 1, 1))
    stripes = np.sin(2 * np.pi * u / period + rng.uniform(0, 2 * np.pi, (m, 1, 1))) > 0
    dark = (y % 2 == 1)[:, None, None] & stripes                    # odd classes are striped
    fill = np.where(dark[..., None], colour * 0.25, colour)
    return np.where(shape[..., None], fill, img)


# --------------------------------------------------------------------------------- CIFAR

CIFAR = {
    "cifar10": {"url": "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                "md5": "c58f30108f718f92721af3b95e74349a", "folder": "cifar-10-batches-py",
                "train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"],
                "meta": "batches.meta", "names": "label_names", "label": "labels"},
    "cifar100": {"url": "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
                 "md5": "eb9058c3a382ffc7106e4002c42a8d85", "folder": "cifar-100-python",
                 "train": ["train"], "test": ["test"], "meta": "meta",
                 "names": "fine_label_names", "label": "fine_labels", "coarse": True},
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Rebuilds only plain containers, bytes, str, numbers and NumPy arrays; refuses every
    other global, so a crafted file cannot run code when it is read."""
    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
               ("numpy._core.multiarray", "scalar"), ("_codecs", "encode")}

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a dataset file")


def read_pickle_batch(path):
    """Read one CIFAR batch file with the restricted unpickler; keys come back as str.

    A truncated, corrupt or foreign file raises ValueError naming it (never a bare pickle error).
    """
    try:
        with open(path, "rb") as f:
            d = _RestrictedUnpickler(f, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError,
            KeyError, UnicodeDecodeError, MemoryError) as err:
        raise ValueError(f"{path} is not a readable CIFAR batch file ({type(err).__name__}: {err}); "
                         f"delete it and its folder to extract or download it again") from None
    if not isinstance(d, dict):
        raise ValueError(f"{path} does not hold a CIFAR batch (a dict); got {type(d).__name__}")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in d.items()}


def default_data_dir():
    """$HCLM_REF_DATA if set, else ~/.cache/hclm_ref."""
    return os.environ.get("HCLM_REF_DATA") or os.path.join(os.path.expanduser("~"), ".cache", "hclm_ref")


def _md5(path):
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def download(url, path, md5, *, progress=True):
    """Download url to path atomically (a .part file renamed on success, removed on any
    failure or Ctrl-C) and check its MD5."""
    part = f"{path}.part"
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(part, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0)
            with progress_bar(total=total, unit="B", unit_scale=True, enabled=progress,
                              desc=os.path.basename(path)) as bar:
                for block in iter(lambda: response.read(1 << 20), b""):
                    out.write(block)
                    bar.update(len(block))
        if _md5(part) != md5:
            raise OSError(f"MD5 mismatch for {url}: the download is corrupt")
        os.replace(part, path)
    finally:
        if os.path.exists(part):
            os.remove(part)


def _safe_extract(archive, target):
    with tarfile.open(archive, "r:gz") as tar:
        tar.extractall(target, filter="data")       # no absolute paths, links out, devices


def _locate_cifar(name, data_dir, download_ok):
    spec = CIFAR[name]
    if os.path.isfile(data_dir):
        raise NotADirectoryError(f"data_dir {data_dir} is a file; give the folder that holds "
                                 f"{spec['folder']}/ or {os.path.basename(spec['url'])}")
    if os.path.isfile(os.path.join(data_dir, spec["meta"])):
        return data_dir                                # the extracted folder itself
    folder = os.path.join(data_dir, spec["folder"])
    if os.path.isdir(folder):
        return folder
    archive = os.path.join(data_dir, os.path.basename(spec["url"]))
    if not os.path.exists(archive):
        if not download_ok:
            raise FileNotFoundError(f"{name} not found: put the extracted folder {spec['folder']}/ "
                                    f"or {os.path.basename(spec['url'])} in {data_dir}")
        os.makedirs(data_dir, exist_ok=True)
        try:
            download(spec["url"], archive, spec["md5"])
        except OSError as err:
            raise FileNotFoundError(
                f"could not download {name} ({err}); offline, download {spec['url']} elsewhere "
                f"and put it (or its extracted folder {spec['folder']}/) in {data_dir}") from err
    elif _md5(archive) != spec["md5"]:
        raise ValueError(f"{archive} does not have the official MD5 {spec['md5']}; delete it")
    _safe_extract(archive, data_dir)
    return folder


def _cifar_part(path, spec, n_classes):
    """Images (n, 32, 32, 3) uint8, labels (n,) and coarse labels (or None) of one batch file."""
    batch = read_pickle_batch(path)
    missing = [k for k in ("data", spec["label"]) if k not in batch]
    if missing:
        raise ValueError(f"{path} is not a CIFAR batch: it has no {missing} entry")
    data = np.asarray(batch["data"])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise ValueError(f"{path}: CIFAR data must be (n, 3072) uint8 pixels; got {data.shape} {data.dtype}")
    labels = {"labels": batch[spec["label"]]}
    if spec.get("coarse"):
        labels["coarse"] = batch.get("coarse_labels")
    out = {}
    for key, values in labels.items():
        y = np.asarray(values)
        limit = n_classes if key == "labels" else 20
        if y.shape != (len(data),) or y.dtype.kind not in "iu":
            raise ValueError(f"{path}: {key} must be {len(data)} integers, one per image; "
                             f"got shape {y.shape}, dtype {y.dtype}")
        if y.size and not 0 <= y.min() <= y.max() < limit:
            raise ValueError(f"{path}: {key} must lie in 0..{limit - 1}; found {y.min()}..{y.max()}")
        out[key] = y.astype(np.int64)
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy()     # R, G, B planes -> NHWC
    return images, out["labels"], out.get("coarse")


def load_cifar(name="cifar10", data_dir=None, *, download_ok=True):
    """CIFAR-10 or CIFAR-100 from data_dir (default: default_data_dir()).

    data_dir may hold the extracted official folder or the official archive, or be the
    extracted folder itself; otherwise the archive is downloaded (MD5-checked, written
    atomically) and extracted. Returns a Dataset; CIFAR-100 also fills coarse_train /
    coarse_test with its 20 super-class labels.
    """
    if name not in CIFAR:
        raise ValueError(f"name must be one of {tuple(CIFAR)}; got {name!r}")
    spec = CIFAR[name]
    folder = _locate_cifar(name, data_dir or default_data_dir(), download_ok)
    meta_path = os.path.join(folder, spec["meta"])
    names = read_pickle_batch(meta_path).get(spec["names"])
    if not isinstance(names, list) or len(names) < 2:
        raise ValueError(f"{meta_path} must list the class names under {spec['names']!r}")
    names = tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names)
    parts = {}
    for split in ("train", "test"):
        pieces = [_cifar_part(os.path.join(folder, f), spec, len(names)) for f in spec[split]]
        x, y, coarse = (list(p) for p in zip(*pieces))
        parts[split] = (np.concatenate(x), np.concatenate(y),
                        np.concatenate(coarse) if spec.get("coarse") else None)
    (xtr, ytr, ctr), (xte, yte, cte) = parts["train"], parts["test"]
    return Dataset(xtr, ytr, xte, yte, names, ctr, cte)


# ------------------------------------------------------------------------- image folders

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
_WIDE_MODES = {"I;16": 65535, "I;16L": 65535, "I;16B": 65535, "I;16N": 65535, "I": 65535}


def _rgb_pixels(im, size):
    """A Pillow image as (size, size, 3) uint8. 16-bit and 32-bit integer images are scaled by
    their range (65535, Pillow's "I" mode being how it opens 16-bit PNGs), float images by
    [0, 1]; plain convert("RGB") would clip them to 255 (a white picture)."""
    from PIL import Image
    if im.mode in _WIDE_MODES or im.mode == "F":
        a = np.asarray(im, np.float64)
        top = _WIDE_MODES.get(im.mode, 1.0)
        im = Image.fromarray(np.clip(np.round(a / top * 255), 0, 255).astype(np.uint8))
    return np.asarray(im.convert("RGB").resize((size, size), Image.BILINEAR))


def _read_image(path, size):
    from PIL import Image, UnidentifiedImageError
    try:
        with Image.open(path) as im:
            return _rgb_pixels(im, size)
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as err:
        raise ValueError(f"cannot read image {path} ({type(err).__name__}: {err}); "
                         f"repair or remove it") from None


def load_image_folder(root, *, size=32, test_fraction=0.2, seed=0):
    """Images in root/<class>/*.png|jpg..., resized to size x size RGB with Pillow.

    Classes are the sub-folder names in sorted order; a seeded, class-stratified split puts
    test_fraction of each class in the test part. Returns a Dataset. A file that is not a
    readable image raises ValueError naming it.
    """
    size = check_int(size, "size", 1)
    test_fraction = check_float(test_fraction, "test_fraction", low=0, high=1, low_open=True, high_open=True)
    if not os.path.isdir(root):
        raise NotADirectoryError(f"root must be a folder of class sub-folders; {root} is not a folder")
    classes = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    files = [(c, os.path.join(root, name, f)) for c, name in enumerate(classes)
             for f in sorted(os.listdir(os.path.join(root, name))) if f.lower().endswith(IMAGE_SUFFIXES)]
    found = np.bincount([c for c, _ in files], minlength=len(classes))
    if len(classes) < 2 or np.any(found < 1):
        counts = dict(zip(classes, found.tolist()))
        raise ValueError(f"root must hold at least 2 class folders, each with images "
                         f"({', '.join(IMAGE_SUFFIXES)}); found {counts} in {root}")
    check_fits(len(files) * size * size * 3, f"{len(files)} images of {size}x{size}")
    x = np.stack([_read_image(path, size) for _, path in progress_bar(files, desc="images", leave=False)])
    y = np.array([c for c, _ in files], np.int64)
    rng = np.random.default_rng(seed)
    test = np.zeros(len(y), bool)
    for c in range(len(classes)):
        idx = rng.permutation(np.nonzero(y == c)[0])
        test[idx[:int(round(test_fraction * len(idx)))]] = True
    return Dataset(x[~test], y[~test], x[test], y[test], tuple(classes))


def read_tags_file(path):
    """The tags of a tagged image folder: a text file of lines `file,tag;tag;...` (file relative
    to the folder; blank lines and lines starting with # are skipped). Returns (files, tag
    names sorted, multi-hot (N, T) int64). Raises ValueError naming the line of a malformed
    entry, an empty tag list or a file listed twice."""
    files, tag_lists, seen = [], [], {}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            name, sep, tags = line.partition(",")
            name, tags = name.strip(), [t.strip() for t in tags.split(";") if t.strip()]
            if not sep or not name:
                raise ValueError(f"{path}, line {number}: expected 'file,tag;tag;...'; got {line!r}")
            if not tags:
                raise ValueError(f"{path}, line {number}: {name} has an empty tag list")
            if name in seen:
                raise ValueError(f"{path}, line {number}: {name} is listed twice "
                                 f"(first on line {seen[name]})")
            seen[name] = number
            files.append(name)
            tag_lists.append(tags)
    if not files:
        raise ValueError(f"{path} lists no images (expected lines 'file,tag;tag;...')")
    names = sorted({t for tags in tag_lists for t in tags})
    index = {t: i for i, t in enumerate(names)}
    y = np.zeros((len(files), len(names)), np.int64)
    for i, tags in enumerate(tag_lists):
        y[i, [index[t] for t in tags]] = 1
    return files, tuple(names), y


def load_tagged_folder(root, tags_file, *, size=32, test_fraction=0.2, seed=0):
    """Multi-label images: the files of root named in tags_file (read_tags_file), resized to
    size x size RGB; a seeded random split puts test_fraction of them in the test part.
    Returns a Dataset with multi-hot labels (N, T) and the tag names as class names. A listed
    file that does not exist, or is not a readable image, raises ValueError naming it."""
    size = check_int(size, "size", 1)
    test_fraction = check_float(test_fraction, "test_fraction", low=0, high=1, low_open=True, high_open=True)
    if not os.path.isdir(root):
        raise NotADirectoryError(f"root must be the folder of the images in {tags_file}; "
                                 f"{root} is not a folder")
    files, names, y = read_tags_file(tags_file)
    missing = [f for f in files if not os.path.isfile(os.path.join(root, f))]
    if missing:
        raise ValueError(f"{tags_file} names {len(missing)} file(s) not in {root}, e.g. {missing[0]}")
    if len(files) < 2:
        raise ValueError(f"{tags_file} must list at least 2 images; found {len(files)}")
    check_fits(len(files) * size * size * 3, f"{len(files)} images of {size}x{size}")
    x = np.stack([_read_image(os.path.join(root, f), size)
                  for f in progress_bar(files, desc="images", leave=False)])
    test = np.zeros(len(y), bool)
    test[np.random.default_rng(seed).permutation(len(y))[:max(1, int(round(test_fraction * len(y))))]] = True
    return Dataset(x[~test], y[~test], x[test], y[test], names)


# ------------------------------------------------------ preparing images for the network

def channel_stats(x):
    """Per-channel mean and std of uint8 images (N, H, W, 3), as float32 (3,) arrays.

    A constant channel (std 0) would divide by zero in normalise(): raises ValueError.
    """
    flat = x.reshape(-1, x.shape[-1]).astype(np.float64) / 255.0
    mean, std = flat.mean(axis=0), flat.std(axis=0)
    if np.any(std * 255 < 0.5):
        raise ValueError(f"x: channel {int(np.argmin(std))} of the training images is constant "
                         f"(std {std.min() * 255:.2g} of 255); it cannot be standardised")
    return mean.astype(np.float32), std.astype(np.float32)


def normalise(x, mean, std):
    """uint8 (N, H, W, C) -> float32 standardised per channel."""
    return (x.astype(np.float32) * np.float32(1 / 255.0) - mean) / std


def augment(x, rng, pad=4, *, reflect=False, flip=None):
    """Random translation and horizontal flip of a float32 batch (N, H, W, C).

    Each image moves by up to `pad` pixels in each direction: a random crop of the image
    padded by `pad` with zeros (reflect=True: with its mirror image, so no black border
    enters the picture). flip: None flips a random half; else a (N,) bool array says which
    images to flip (alternating_flips).
    """
    N, H, W, _ = x.shape
    padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="reflect" if reflect else "constant")
    dy, dx = rng.integers(0, 2 * pad + 1, (2, N))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (H, W), axis=(1, 2))
    crops = windows[np.arange(N), dy, dx].transpose(0, 2, 3, 1)       # (N, H, W, C)
    flip = rng.random(N) < 0.5 if flip is None else flip
    crops[flip] = crops[flip, :, ::-1]
    return crops


def translate(x, dy, dx):
    """Images (N, H, W, C) moved by dy rows and dx columns, the uncovered border filled by
    reflection (as augment(reflect=True) does): out[i, j] = x[i - dy, j - dx] inside."""
    p = max(abs(dy), abs(dx))
    if p == 0:
        return x
    H, W = x.shape[1:3]
    padded = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)), mode="reflect")
    return padded[:, p - dy:p - dy + H, p - dx:p - dx + W]


def alternating_flips(n, epoch, seed):
    """Which of n images to mirror in `epoch`: a random half in epoch 0 (from the seed), and
    every image the other way round in each following epoch, so that over any two epochs
    each image is seen once as it is and once mirrored (airbench's alternating flip).
    Returns (n,) bool; the same for the same (n, epoch, seed), so resuming is bit-identical."""
    first = np.random.default_rng([seed, 2 ** 31 + 1]).random(n) < 0.5
    return first ^ bool(epoch % 2)


def validation_split(n, fraction, seed):
    """Disjoint (train_idx, val_idx) of range(n); val has round(fraction * n) items."""
    perm = np.random.default_rng([seed, 2 ** 31]).permutation(n)
    n_val = int(round(fraction * n))
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])

"""Input checks shared by the modules: each raises a ValueError that names the argument, says
what was expected and what was found."""

import math
import os

import numpy as np


def as_matrix(x, name, *, dtype=None, min_rows=1, min_cols=1):
    """Return `x` as a finite 2-D array, or raise ValueError naming `name`."""
    try:
        a = np.asarray(x, dtype=dtype)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a 2-D numeric array; got {type(x).__name__} ({err})") from None
    if a.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (n, d); got shape {a.shape}")
    if a.shape[0] < min_rows or a.shape[1] < min_cols:
        raise ValueError(f"{name} must have at least {min_rows} rows and {min_cols} columns; "
                         f"got shape {a.shape}")
    if a.dtype.kind not in "biufc":
        raise ValueError(f"{name} must be numeric; got dtype {a.dtype}")
    if a.dtype.kind in "fc" and not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return a


def as_pm1(B, name):
    """Return `B` as an int8 matrix with entries ±1, or raise ValueError naming `name`."""
    a = as_matrix(B, name)
    if a.dtype.kind not in "biuf" or not np.all((a == 1) | (a == -1)):
        raise ValueError(f"{name} must contain only -1 and +1 entries")
    return a.astype(np.int8)


def check_int(value, name, minimum, maximum=None):
    """Return `value` as an int in [minimum, maximum], or raise ValueError naming `name`."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer; got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}; got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}; got {value}")
    return int(value)


def check_float(value, name, *, low=-math.inf, high=math.inf, low_open=False, high_open=False):
    """Return `value` as a finite float in the interval low..high (open ends where asked)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a number; got {value!r}")
    v = float(value)
    below = v <= low if low_open else v < low
    above = v >= high if high_open else v > high
    if not math.isfinite(v) or below or above:
        interval = f"{'(' if low_open or low == -math.inf else '['}{low:g}, {high:g}" \
                   f"{')' if high_open or high == math.inf else ']'}"
        raise ValueError(f"{name} must be a finite number in {interval}; got {value!r}")
    return v


def check_images(x, name):
    """Return `x` as (N, H, W, 3) uint8 images with N >= 1, or raise ValueError naming `name`."""
    a = np.asarray(x)
    if a.ndim != 4 or a.shape[-1] != 3 or 0 in a.shape:
        raise ValueError(f"{name} must be RGB images (N, H, W, 3) with N, H, W >= 1; got shape {a.shape}")
    if a.dtype != np.uint8:
        raise ValueError(f"{name} must be uint8 pixels 0..255; got dtype {a.dtype} "
                         f"(convert floats in [0, 1] with (x * 255).round().astype(np.uint8))")
    return a


def check_labels(y, n, n_classes, name):
    """Class ids (n,) in 0..n_classes-1, or multi-hot tags (n, n_classes) of 0/1.

    Returns the labels as int64 (class ids) or float32 (tags); raises ValueError naming `name`.
    """
    a = np.asarray(y)
    if a.dtype.kind not in "biu" and not (a.dtype.kind == "f" and np.all(np.isfinite(a))
                                          and np.all(a == np.round(a))):
        raise ValueError(f"{name} must be integer class ids or 0/1 tags; got dtype {a.dtype}")
    if a.ndim == 1 and a.shape[0] == n:
        if a.size and (a.min() < 0 or a.max() >= n_classes):
            raise ValueError(f"{name} must be class ids in 0..{n_classes - 1} (one per proxy row); "
                             f"found values from {a.min()} to {a.max()}")
        return a.astype(np.int64)
    if a.ndim == 2 and a.shape == (n, n_classes):
        if not np.all((a == 0) | (a == 1)):
            raise ValueError(f"{name} as multi-hot tags must contain only 0 and 1")
        return a.astype(np.float32)
    raise ValueError(f"{name} must be ({n},) class ids or ({n}, {n_classes}) multi-hot tags "
                     f"(one column per proxy row); got shape {a.shape}")


def physical_memory():
    """Bytes of memory on this machine (None where the system does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def check_fits(n_bytes, what):
    """Raise ValueError before allocating n_bytes that a quarter of this machine's memory cannot
    hold (what: which argument asks for it, e.g. "n_bits=100000 needs a (d, d) rotation")."""
    memory = physical_memory()
    if memory is not None and n_bytes > memory // 4:
        raise ValueError(f"{what}: {n_bytes / 2 ** 30:.1f} GiB, more than a quarter of this "
                         f"machine's {memory / 2 ** 30:.1f} GiB")

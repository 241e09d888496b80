"""Input checks shared by the modules: each raises a ValueError that names the argument."""

import numpy as np


def as_matrix(x, name, *, dtype=None, min_rows=1, min_cols=1):
    """Return `x` as a finite 2-D array, or raise ValueError naming `name`."""
    a = np.asarray(x, dtype=dtype)
    if a.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (n, d); got shape {a.shape}")
    if a.shape[0] < min_rows or a.shape[1] < min_cols:
        raise ValueError(f"{name} must have at least {min_rows} rows and {min_cols} columns; "
                         f"got shape {a.shape}")
    if a.dtype.kind in "fc" and not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return a


def as_pm1(B, name):
    """Return `B` as an int8 matrix with entries ±1, or raise ValueError naming `name`."""
    a = as_matrix(B, name)
    if a.dtype.kind not in "biuf" or not np.all((a == 1) | (a == -1)):
        raise ValueError(f"{name} must contain only -1 and +1 entries")
    return a.astype(np.int8)


def check_int(value, name, minimum):
    """Return `value` as an int >= minimum, or raise ValueError naming `name`."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer; got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}; got {value}")
    return int(value)


def sign(x):
    """sgn with sgn(0) = +1, so every entry is a valid bit; int8 output."""
    return np.where(np.asarray(x) >= 0, 1, -1).astype(np.int8)

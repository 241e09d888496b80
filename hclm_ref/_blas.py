"""OpenBLAS's thread count, set to one while threads of ours each run products on their own block.

NumPy's matrix products run on OpenBLAS's threads. When the work is already split between
threads of ours (nn._on_threads), each product should run on the core that called it, on the
patches that core has just written into its own cache, instead of being split again between
the cores. NumPy's wheels ship OpenBLAS as scipy-openblas, whose thread count is set with
scipy_openblas_set_num_threads64_ (openblas_set_num_threads in other builds); the library is
found among the files mapped into this process (Linux). With another BLAS, or on another
system, one_blas_thread() yields False and changes nothing.
"""

import contextlib
import ctypes
import os
import threading

import numpy  # noqa: F401  (loads the BLAS into the process)

_NAMES = ("scipy_openblas{}64_", "scipy_openblas{}_64_", "openblas{}")
_control = None                          # (set, get) of OpenBLAS's thread count, False if none
_lock = threading.Lock()                 # guards the two below, never held while products run
_users = 0                               # one_blas_thread blocks open now, in any thread
_before = None                           # the thread count to restore when the last one closes


def _new_lock():
    global _lock
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):      # a forked child gets the lock as it was, perhaps held
    os.register_at_fork(after_in_child=_new_lock)


def _find_openblas():
    """(set_num_threads, get_num_threads) of the OpenBLAS mapped into this process, or None."""
    try:
        with open("/proc/self/maps") as maps:
            paths = sorted({line.split()[-1] for line in maps if "openblas" in line.lower() and "/" in line})
    except OSError:
        return None
    for path in paths:
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for name in _NAMES:
            set_threads = getattr(library, name.format("_set_num_threads"), None)
            get_threads = getattr(library, name.format("_get_num_threads"), None)
            if set_threads is not None and get_threads is not None:
                set_threads.argtypes, set_threads.restype = [ctypes.c_int], None
                get_threads.argtypes, get_threads.restype = [], ctypes.c_int
                return set_threads, get_threads
    return None


def blas_thread_control():
    """The (set, get) functions of OpenBLAS's thread count, or None where there are none."""
    global _control
    if _control is None:
        _control = _find_openblas() or False
    return _control or None


@contextlib.contextmanager
def one_blas_thread():
    """Within the block, each BLAS product runs on the thread that calls it. Yields whether
    that could be arranged. Blocks may nest and overlap, in any threads: the first to open
    sets the count to one, the last to close restores it."""
    global _users, _before
    control = blas_thread_control()
    if control is None:
        yield False
        return
    set_threads, get_threads = control
    with _lock:
        if _users == 0:
            _before = get_threads()
            set_threads(1)
        _users += 1
    try:
        yield True
    finally:
        with _lock:
            _users -= 1
            if _users == 0:
                set_threads(_before)

"""Keep freed memory in the process for reuse (glibc's malloc; elsewhere nothing happens).

A training step allocates and frees dozens of 4-16 MB temporaries. By default glibc returns
blocks that large to the kernel when they are freed (mmap/munmap, or trimming the top of the
heap), so the next allocation page-faults them back in, zero-filled by the kernel: about
20,000 page faults and a fifth of a step on the reference network. Raising the thresholds
keeps them in the heap instead: what PyTorch's caching allocator does for its tensors.
"""

import ctypes
import ctypes.util

_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3


def keep_freed_memory():
    """Ask glibc to serve allocations up to 32 MB from the heap and not to give freed heap
    memory back below 1 GB. Returns True when it applied (Linux with glibc)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return all(mallopt(option, value) == 1 for option, value in (
        (_M_MMAP_THRESHOLD, 32 << 20), (_M_TRIM_THRESHOLD, 1 << 30), (_M_TOP_PAD, 256 << 20)))

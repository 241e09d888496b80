"""The allocator setting of hclm_ref._memory: freed temporaries come back without page faults."""

import platform
import resource

import numpy as np
import pytest

from hclm_ref._memory import keep_freed_memory


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                    reason="mallopt is glibc's")
def test_freed_memory_is_reused_without_page_faults():
    assert keep_freed_memory() is True
    n = 4 << 20                                          # 16 MB of float32, like a conv activation
    a = np.ones(n, np.float32)
    del a
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    b = np.ones(n, np.float32)                           # touches every page again
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    assert b.sum() == n
    assert faults < 64                                   # fresh pages would be 4,096 faults

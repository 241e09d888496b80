"""Slow, obvious definitions by explicit loops, for checking the fast layers of nn.py.

Only the tests and tutorial 05 use them: each is the formula of its docstring, one output
position at a time, with no trick to get wrong.
"""

import numpy as np


def conv2d_naive(x, W, stride=1, padding=0):
    """Convolution by explicit loops over output positions: the definition, for checking."""
    kh, kw, _, cout = W.shape
    xp = np.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    N, Hp, Wp, _ = xp.shape
    Ho, Wo = (Hp - kh) // stride + 1, (Wp - kw) // stride + 1
    y = np.zeros((N, Ho, Wo, cout))
    for i in range(Ho):
        for j in range(Wo):
            patch = xp[:, i * stride:i * stride + kh, j * stride:j * stride + kw, :]
            y[:, i, j, :] = np.tensordot(patch, W, axes=([1, 2, 3], [0, 1, 2]))
    return y


def pool2d_naive(x, size, stride, reduce=np.max):
    """Pooling by explicit loops over output positions and windows."""
    N, H, W, C = x.shape
    Ho, Wo = (H - size) // stride + 1, (W - size) // stride + 1
    y = np.zeros((N, Ho, Wo, C))
    for i in range(Ho):
        for j in range(Wo):
            window = x[:, i * stride:i * stride + size, j * stride:j * stride + size, :]
            y[:, i, j, :] = reduce(window, axis=(1, 2))
    return y

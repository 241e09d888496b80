"""A compact CNN by hand: im2col convolution, pooling, batch norm, ReLU, the hashing layer (Eq. 7).

Layout is NHWC (batch, height, width, channels): the channels of a pixel are contiguous, so
im2col gathers whole channel vectors and a convolution is one (N*Ho*Wo, kh*kw*Cin) x
(kh*kw*Cin, Cout) matrix product. im2col and col2im are autograd primitives whose VJPs are each
other (they are transposes: <im2col(x), y> = <x, col2im(y)>), so gradients of every order flow
through them; the matrix product is a `matmul` primitive whose VJPs are g B^T and A^T g, so
kernel gradients come for free.
Parameters are a plain dict of float32 arrays; batch-norm running statistics live in a separate
`state` dict that training updates outside the gradient. Derived in tutorials/05-a-cnn-by-hand.md.
"""

import autograd.numpy as anp
import numpy as onp
from autograd.extend import defvjp, primitive
from autograd.tracer import getval
from numpy.lib.stride_tricks import sliding_window_view

BN_EPS = 1e-5
BN_MOMENTUM = 0.1
DEFAULT_WIDTHS = (32, 32, "M", 64, 64, "M", 128)   # the reference network of the benchmarks


# --------------------------------------------------------------------- im2col / col2im

def _out_size(size, k, stride, padding):
    return (size + 2 * padding - k) // stride + 1


@primitive
def im2col(x, kh, kw, stride, padding):
    """Patches of x as rows: (N, H, W, C) -> (N, Ho, Wo, kh*kw*C), patch order (kh, kw, C).

    Ho = (H + 2 padding - kh) // stride + 1 (likewise Wo). Zero padding.
    """
    xp = onp.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    windows = sliding_window_view(xp, (kh, kw), axis=(1, 2))[:, ::stride, ::stride]  # (N,Ho,Wo,C,kh,kw)
    N, Ho, Wo = windows.shape[:3]
    return windows.transpose(0, 1, 2, 4, 5, 3).reshape(N, Ho, Wo, kh * kw * x.shape[3])


def _valid_range(n_out, size, offset, stride, padding):
    """Output positions o whose input position o*stride + offset - padding lies in [0, size):
    returns (o_lo, o_hi, first input position)."""
    o_lo = max(0, -(-(padding - offset) // stride))
    o_hi = min(n_out, (size - 1 + padding - offset) // stride + 1)
    return o_lo, max(o_lo, o_hi), o_lo * stride + offset - padding


@primitive
def col2im(cols, x_shape, kh, kw, stride, padding):
    """The transpose of im2col: scatter-add each patch row back onto an (N, H, W, C) image."""
    N, H, W, C = x_shape
    Ho, Wo = cols.shape[1:3]
    patches = cols.reshape(N, Ho, Wo, kh, kw, C)
    if stride == kh == kw and padding == 0 and Ho * kh == H and Wo * kw == W:
        # windows tile the image without overlap (pooling): scattering back is a transpose
        return patches.transpose(0, 1, 3, 2, 4, 5).reshape(N, H, W, C)
    out = onp.zeros((N, H, W, C), cols.dtype)
    for i in range(kh):
        oh_lo, oh_hi, h0 = _valid_range(Ho, H, i, stride, padding)
        for j in range(kw):
            ow_lo, ow_hi, w0 = _valid_range(Wo, W, j, stride, padding)
            # input pixel (o*stride + i - padding, ...) received patch entry (i, j) of output o
            out[:, h0:h0 + stride * (oh_hi - oh_lo):stride, w0:w0 + stride * (ow_hi - ow_lo):stride] += \
                patches[:, oh_lo:oh_hi, ow_lo:ow_hi, i, j, :]
    return out


# g is the gradient with respect to the primitive's output; each VJP is the other primitive.
defvjp(im2col, lambda ans, x, kh, kw, stride, padding:
       lambda g: col2im(g, x.shape, kh, kw, stride, padding))
defvjp(col2im, lambda ans, cols, x_shape, kh, kw, stride, padding:
       lambda g: im2col(g, kh, kw, stride, padding))


@primitive
def matmul(A, B):
    """A @ B for 2-D arrays. autograd's own dot VJP goes through tensordot, which copies a
    transposed operand (150 MB for an im2col matrix); here BLAS reads the transposes in place."""
    return onp.dot(A, B)


defvjp(matmul, lambda ans, A, B: lambda g: matmul(g, B.T),
       lambda ans, A, B: lambda g: matmul(A.T, g))


# ------------------------------------------------------------------------------ layers

def conv2d(x, W, *, stride=1, padding=0):
    """Convolution (cross-correlation) of x (N, H, W, Cin) with W (kh, kw, Cin, Cout).

    y[n, i, j, o] = sum_{a, b, c} x_pad[n, i*stride + a, j*stride + b, c] W[a, b, c, o]
    Returns (N, Ho, Wo, Cout).
    """
    kh, kw, cin, cout = W.shape
    cols = im2col(x, kh, kw, stride, padding)                         # (N, Ho, Wo, kh*kw*Cin)
    N, Ho, Wo, K = cols.shape
    return anp.reshape(matmul(anp.reshape(cols, (N * Ho * Wo, K)), anp.reshape(W, (K, cout))),
                       (N, Ho, Wo, cout))


def _mean(x, axis):
    """Mean as sum x (1/count): autograd's mean VJP divides by a NumPy int64, which promotes
    float32 gradients to float64 (and then every matrix product runs 10x slower)."""
    count = onp.prod([x.shape[a] for a in onp.atleast_1d(axis)])
    return anp.sum(x, axis=axis) * (1.0 / float(count))


def _pool_windows(x, size, stride):
    cols = im2col(x, size, size, stride, 0)                           # (N, Ho, Wo, size*size*C)
    return anp.reshape(cols, cols.shape[:3] + (size * size, x.shape[3]))


@primitive
def _window_max(windows):
    """Max over axis 3 of (N, Ho, Wo, k*k, C) windows."""
    return onp.max(windows, axis=3)


def _window_max_vjp(ans, windows):
    # the gradient goes to the maximum of each window; tied maxima share it equally
    is_max = windows == ans[:, :, :, None, :]
    share = (is_max / is_max.sum(axis=3, keepdims=True)).astype(windows.dtype)
    return lambda g: g[:, :, :, None, :] * share


defvjp(_window_max, _window_max_vjp)


def max_pool(x, size=2, stride=None):
    """Max over size x size windows: (N, H, W, C) -> (N, Ho, Wo, C)."""
    return _window_max(_pool_windows(x, size, stride or size))


def avg_pool(x, size=2, stride=None):
    """Mean over size x size windows: (N, H, W, C) -> (N, Ho, Wo, C)."""
    return _mean(_pool_windows(x, size, stride or size), 3)


def global_avg_pool(x):
    """(N, H, W, C) -> (N, C): the mean over all positions."""
    return _mean(x, (1, 2))


@primitive
def relu(x):
    """max(x, 0), with the VJP g * [x > 0] (cheaper than autograd's generic maximum)."""
    return onp.maximum(x, 0)


defvjp(relu, lambda ans, x: lambda g: g * (ans > 0))


def batch_norm(x, gamma, beta, running_mean, running_var, train):
    """Batch normalisation over all axes but the last (channels).

    train=True: normalise with the batch statistics and also return them (plain arrays, no
    gradient) for the running averages; train=False: use running_mean / running_var.
    x : (..., C); gamma, beta, running_* : (C,). Returns (y, (batch_mean, batch_var) or None).
    """
    axes = tuple(range(x.ndim - 1))
    if train:
        mean = _mean(x, axes)
        centred = x - mean
        var = _mean(centred * centred, axes)
        stats = (getval(mean), getval(var))
    else:
        mean, var, stats = running_mean, running_var, None
        centred = x - mean
    return centred * (gamma / anp.sqrt(var + BN_EPS)) + beta, stats


def hashing_layer(q, L, b):
    """nu(x) = tanh(L^T q(x) + b) in [-1, 1]^d (Eq. 7). q : (N, p), L : (p, d), b : (d,)."""
    return anp.tanh(matmul(q, L) + b)


# ------------------------------------------------------------------------ the network

def init_params(rng, n_bits, *, widths=DEFAULT_WIDTHS, in_channels=3):
    """Parameters and batch-norm state of the VGG-style network.

    widths: conv widths in order, "M" for a 2x2 max-pool. Each conv is 3x3, padding 1, then
    batch norm and ReLU; a global average pool gives q(x) (width = the last conv's); the
    hashing layer maps it to nu(x) with n_bits units. He-normal conv weights, Glorot L.
    rng : numpy.random.Generator. Returns (params, state): dicts of float32 arrays.
    """
    params, state, cin = {}, {}, in_channels
    for i, w in enumerate(v for v in widths if v != "M"):
        params[f"conv{i}"] = (rng.standard_normal((3, 3, cin, w)) * onp.sqrt(2.0 / (9 * cin))).astype(onp.float32)
        params[f"bn{i}.gamma"] = onp.ones(w, onp.float32)
        params[f"bn{i}.beta"] = onp.zeros(w, onp.float32)
        state[f"bn{i}.mean"] = onp.zeros(w, onp.float32)
        state[f"bn{i}.var"] = onp.ones(w, onp.float32)
        cin = w
    params["hash.L"] = (rng.standard_normal((cin, n_bits)) * onp.sqrt(2.0 / (cin + n_bits))).astype(onp.float32)
    params["hash.b"] = onp.zeros(n_bits, onp.float32)
    return params, state


def forward(params, x, state, *, widths=DEFAULT_WIDTHS, train=False):
    """Run the network: x (N, H, W, Cin) float32 -> (nu (N, d), q (N, p), batch_stats).

    batch_stats maps "bn{i}.mean"/"bn{i}.var" to this batch's statistics when train=True
    (the caller folds them into the running averages with update_state), else is empty.
    """
    h, batch_stats, i = x, {}, 0
    for w in widths:
        if w == "M":
            h = max_pool(h, 2)
            continue
        h = conv2d(h, params[f"conv{i}"], padding=1)
        h, stats = batch_norm(h, params[f"bn{i}.gamma"], params[f"bn{i}.beta"],
                              state[f"bn{i}.mean"], state[f"bn{i}.var"], train)
        if stats is not None:
            batch_stats[f"bn{i}.mean"], batch_stats[f"bn{i}.var"] = stats
        h = relu(h)
        i += 1
    q = global_avg_pool(h)
    return hashing_layer(q, params["hash.L"], params["hash.b"]), q, batch_stats


def update_state(state, batch_stats, momentum=BN_MOMENTUM):
    """Running averages: r <- (1 - momentum) r + momentum * batch value. Returns a new dict."""
    return {k: ((1 - momentum) * v + momentum * batch_stats[k]).astype(onp.float32)
            if k in batch_stats else v for k, v in state.items()}


# ------------------------------------------------- slow references (tests and tutorials)

def conv2d_naive(x, W, stride=1, padding=0):
    """Convolution by explicit loops over output positions: the definition, for checking."""
    kh, kw, _, cout = W.shape
    xp = onp.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    N, Hp, Wp, _ = xp.shape
    Ho, Wo = (Hp - kh) // stride + 1, (Wp - kw) // stride + 1
    y = onp.zeros((N, Ho, Wo, cout))
    for i in range(Ho):
        for j in range(Wo):
            patch = xp[:, i * stride:i * stride + kh, j * stride:j * stride + kw, :]
            y[:, i, j, :] = onp.tensordot(patch, W, axes=([1, 2, 3], [0, 1, 2]))
    return y


def pool2d_naive(x, size, stride, reduce=onp.max):
    """Pooling by explicit loops over output positions and windows."""
    N, H, W, C = x.shape
    Ho, Wo = (H - size) // stride + 1, (W - size) // stride + 1
    y = onp.zeros((N, Ho, Wo, C))
    for i in range(Ho):
        for j in range(Wo):
            y[:, i, j, :] = reduce(x[:, i * stride:i * stride + size, j * stride:j * stride + size, :],
                                   axis=(1, 2))
    return y

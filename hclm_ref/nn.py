"""A compact CNN by hand: im2col convolution, pooling, batch norm, ReLU, the hashing layer (Eq. 7).

Layout is NHWC (batch, height, width, channels): the channels of a pixel are contiguous, so
im2col gathers whole channel vectors and a convolution is one (N*Ho*Wo, kh*kw*Cin) x
(kh*kw*Cin, Cout) matrix product. im2col and col2im are autograd primitives whose VJPs are each
other (they are transposes: <im2col(x), y> = <x, col2im(y)>). conv2d is a primitive whose two
VJPs are its adjoints, conv2d_transpose (for stride 1 itself a convolution, with the kernel
flipped) and conv2d_kernel_grad (patches^T g), all three built on im2col / col2im and
differentiable again, so gradients of every order flow. Batch norm and max-pooling are
primitives with the textbook VJPs, written out because autograd's generic ones make a dozen
full-size temporaries; with ReLU they run over cache-sized blocks of the batch on every core
(_in_blocks), and so do the convolutions, with one BLAS thread a product (_in_conv_blocks).
The network built from these layers is in network.py; slow loop definitions to check them
against are in naive.py. Derived in tutorials/05-a-cnn-by-hand.md.
Speed: benchmarks/bench_train.py (and hclm_ref/_memory.py for the allocator setting)."""

import os
from concurrent.futures import ThreadPoolExecutor

import autograd.numpy as anp
import numpy as onp
from autograd.extend import defvjp, defvjp_argnums, primitive
from autograd.tracer import getval, isbox
from numpy.lib.stride_tricks import sliding_window_view

from ._blas import one_blas_thread

BN_EPS = 1e-5
BN_MOMENTUM = 0.1


# --------------------------------------------------------------------- im2col / col2im

def _out_size(size, k, stride, padding):
    return (size + 2 * padding - k) // stride + 1


def _pad(x, padding):
    """Zero-pad the two spatial axes of (N, H, W, C) (numpy.pad costs 80 us a call)."""
    if not padding:
        return x
    N, H, W, C = x.shape
    xp = onp.zeros((N, H + 2 * padding, W + 2 * padding, C), x.dtype)
    xp[:, padding:padding + H, padding:padding + W] = x
    return xp


@primitive
def im2col(x, kh, kw, stride, padding):
    """Patches of x as rows: (N, H, W, C) -> (N, Ho, Wo, kh*kw*C), patch order (kh, kw, C).

    Ho = (H + 2 padding - kh) // stride + 1 (likewise Wo). Zero padding.
    """
    windows = sliding_window_view(_pad(x, padding), (kh, kw), axis=(1, 2))
    windows = windows[:, ::stride, ::stride]                            # (N, Ho, Wo, C, kh, kw)
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


_SMALL_PRODUCT = 2 ** 22          # multiply-adds


@primitive
def matmul(A, B):
    """A @ B for 2-D arrays. autograd's own dot VJP goes through tensordot, which copies a
    transposed operand; here BLAS reads the transposes in place.

    Products of fewer than _SMALL_PRODUCT multiply-adds (the hashing layer's) run on one BLAS
    thread: split between the cores they would gain microseconds, and OpenBLAS's worker thread
    would then spin for about 0.1 s waiting for more, on the core that the next layers' blocks
    need (_on_threads): the first convolutions of the backward pass took 1.5-1.7x as long."""
    if A.shape[0] * A.shape[1] * B.shape[1] < _SMALL_PRODUCT:
        with one_blas_thread():
            return onp.dot(A, B)
    return onp.dot(A, B)


defvjp(matmul, lambda ans, A, B: lambda g: matmul(g, B.T),
       lambda ans, A, B: lambda g: matmul(A.T, g))


# ------------------------------------------------- elementwise work, in blocks, on every core
#
# NumPy runs each elementwise operation as one pass over whole arrays, on one core: batch
# norm's VJP, a chain of ten such operations on 16 MB activations, reads and writes main
# memory ten times while the other core waits. Over slices of the batch of about 1 MB the
# chain's temporaries stay in cache, and the slices are shared between threads (NumPy
# releases the GIL inside its loops): batch norm and max-pooling, forward and backward, take
# 2-4x less time on 128 CIFAR images with 32 channels. Results come back in block order, so
# whatever is summed over blocks does not depend on the number of threads or their timing.

_BLOCK_FLOATS = 2 ** 18
_THREADS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
_workers = None                                     # the thread pool, made on first use


def _forget_workers():
    global _workers
    _workers = None


if hasattr(os, "register_at_fork"):                 # a forked child has none of the threads
    os.register_at_fork(after_in_child=_forget_workers)


def _batch_blocks(x):
    """Slices of x's first axis holding about _BLOCK_FLOATS entries each (at least one item)."""
    step = max(1, _BLOCK_FLOATS // max(1, x[0].size))
    return [slice(start, min(start + step, len(x))) for start in range(0, len(x), step)]


def _in_blocks(fn, x):
    """[fn(b) for b in _batch_blocks(x)], on every core (_on_threads)."""
    return _on_threads(fn, _batch_blocks(x))


def _on_threads(fn, blocks):
    """[fn(b) for b in blocks]: the blocks are dealt round-robin to _THREADS runs, one run on
    this thread and the others on worker threads."""
    global _workers
    runs = [blocks[i::_THREADS] for i in range(min(_THREADS, len(blocks)))]
    if len(runs) <= 1:
        return [fn(b) for b in blocks]
    if _workers is None:
        _workers = ThreadPoolExecutor(_THREADS - 1, thread_name_prefix="hclm_ref.nn")
    others = [_workers.submit(lambda run=run: [fn(b) for b in run]) for run in runs[1:]]
    results = [[fn(b) for b in runs[0]]] + [f.result() for f in others]
    return [results[i % len(runs)][i // len(runs)] for i in range(len(blocks))]


def _assemble(fill, like, dtype=None):
    """An array shaped like `like` (dtype: like's by default) whose first-axis blocks b are
    written by fill(b, out[b]), in _in_blocks."""
    out = onp.empty(like.shape, dtype or like.dtype)
    _in_blocks(lambda b: fill(b, out[b]), like)
    return out


# ------------------------------------------------------------------------- convolution
#
# A convolution is im2col followed by one matrix product, but the im2col matrix is 9x the
# image (150 MB for 128 CIFAR images with 32 channels): written to memory and read back, it
# costs more than the product. So conv2d and its two adjoints work on blocks of the batch
# whose patches fill about 2 MB, and each block's im2col and products run on one core
# (_in_conv_blocks): the blocks are shared between threads of ours, as for batch norm, and
# each product runs on one BLAS thread (hclm_ref/_blas.py), reading the patches its own core
# has just written. Splitting each product between the cores instead, the training step ran
# at 0.39-0.40x PyTorch's speed against 0.68x this way (benchmarks/bench_train.py, the two
# alternated twice on the same machine): more so when the machine is busy.

_CHUNK_FLOATS = 2 ** 19


def _conv_blocks(x, kh, kw, stride, padding):
    """Slices of x's batch whose im2col rows hold about _CHUNK_FLOATS entries (at least one image)."""
    N, H, W, C = x.shape
    floats_per_image = _out_size(H, kh, stride, padding) * _out_size(W, kw, stride, padding) * kh * kw * C
    step = max(1, _CHUNK_FLOATS // floats_per_image)
    return [slice(start, min(start + step, N)) for start in range(0, N, step)]


def _patch_rows(x, kh, kw, stride, padding):
    """The im2col rows (n*Ho*Wo, kh*kw*C) of a block x (n, H, W, C)."""
    return im2col(_pad(x, padding), kh, kw, stride, 0).reshape(-1, kh * kw * x.shape[3])


def _in_conv_blocks(fn, x, kh, kw, stride, padding):
    """[fn(b) for b in _conv_blocks(...)], on every core with one BLAS thread a product
    (_on_threads); where the BLAS's thread count cannot be set, on this thread alone, the BLAS
    using every core."""
    blocks = _conv_blocks(x, kh, kw, stride, padding)
    with one_blas_thread() as alone:
        return _on_threads(fn, blocks) if alone else [fn(b) for b in blocks]


def _summed(parts, shape, dtype):
    """The sum of a list of arrays in list order (block order: the same on any number of
    threads); zeros of the given shape for an empty batch."""
    total = onp.zeros(shape, dtype)
    for part in parts:
        total += part
    return total


@primitive
def conv2d(x, W, stride=1, padding=0):
    """Convolution (cross-correlation) of x (N, H, W, Cin) with W (kh, kw, Cin, Cout).

    y[n, i, j, o] = sum_{a, b, c} x_pad[n, i*stride + a, j*stride + b, c] W[a, b, c, o]
    Returns (N, Ho, Wo, Cout): im2col(x) @ W, a block of the batch at a time.
    """
    kh, kw, cin, cout = W.shape
    N, H, Wd, _ = x.shape
    y = onp.empty((N, _out_size(H, kh, stride, padding), _out_size(Wd, kw, stride, padding), cout),
                  onp.result_type(x, W))
    W_rows = W.reshape(-1, cout)

    def product(b):
        onp.dot(_patch_rows(x[b], kh, kw, stride, padding), W_rows, out=y[b].reshape(-1, cout))
    _in_conv_blocks(product, x, kh, kw, stride, padding)
    return y


def _transpose_is_a_conv(W, stride, padding):
    """Whether conv2d's adjoint in x is the "full" convolution with the flipped kernel."""
    return stride == 1 and W.shape[0] == W.shape[1] and padding <= W.shape[0] - 1


def _flipped(W):
    """The kernel of that convolution: flipped in space, channel axes swapped (kh, kw, Cout, Cin)."""
    return anp.transpose(W[::-1, ::-1], (0, 1, 3, 2))


def conv2d_transpose(g, W, x_shape, stride=1, padding=0):
    """The adjoint of conv2d in x: <conv2d(x, W), g> = <x, conv2d_transpose(g, W, x.shape)>.

    g (N, Ho, Wo, Cout) -> (N, H, W, Cin). For stride 1 it is itself a convolution: with the
    kernel flipped in space, its channel axes swapped and padding kh - 1 - padding (the
    "full" convolution). Otherwise col2im(g W^T).
    """
    kh, kw, cin, cout = W.shape
    if _transpose_is_a_conv(W, stride, padding):
        return conv2d(g, _flipped(W), 1, kh - 1 - padding)
    N, Ho, Wo, _ = g.shape
    cols = matmul(anp.reshape(g, (N * Ho * Wo, cout)), anp.transpose(anp.reshape(W, (-1, cout))))
    return col2im(anp.reshape(cols, (N, Ho, Wo, kh * kw * cin)), x_shape, kh, kw, stride, padding)


@primitive
def conv2d_kernel_grad(x, g, kernel_shape, stride=1, padding=0):
    """The adjoint of conv2d in W: sum over positions of patch^T g, (kh, kw, Cin, Cout).

    <conv2d(x, W), g> = <W, conv2d_kernel_grad(x, g, W.shape)>; x (N, H, W, Cin),
    g (N, Ho, Wo, Cout).
    """
    kh, kw, cin, cout = kernel_shape
    parts = _in_conv_blocks(lambda b: onp.dot(_patch_rows(x[b], kh, kw, stride, padding).T,
                                              g[b].reshape(-1, cout)), x, kh, kw, stride, padding)
    return _summed(parts, (kh * kw * cin, cout), onp.result_type(x, g)).reshape(kernel_shape)


def _conv2d_backward(g, x, W, padding):
    """Both gradients (dx, dW) of a stride-1 convolution at first order, from one im2col: of g
    (kh kw Cout entries a position) or of x (kh kw Cin, and as many for g W^T), whichever
    writes fewer: x's when Cout > 2 Cin (the 24 -> 64 convolution after the whitening layer
    takes 0.6x the time that way)."""
    cin, cout = W.shape[2:]
    return (_conv2d_backward_from_x if cout > 2 * cin else _conv2d_backward_from_g)(g, x, W, padding)


def _conv2d_backward_from_x(g, x, W, padding):
    """dW = sum over positions of patches^T g (conv2d_kernel_grad's sum) and dx = col2im(g W^T)
    (conv2d_transpose's general route), both from the same slices of im2col(x)."""
    kh, kw, cin, cout = W.shape
    W_t = W.reshape(-1, cout).T
    dx = onp.empty(x.shape, onp.result_type(g, W))

    def gradients(b):
        g_rows = g[b].reshape(-1, cout)
        cols = onp.dot(g_rows, W_t).reshape(g[b].shape[:3] + (-1,))
        dx[b] = col2im(cols, dx[b].shape, kh, kw, 1, padding)
        return onp.dot(_patch_rows(x[b], kh, kw, 1, padding).T, g_rows)
    parts = _in_conv_blocks(gradients, x, kh, kw, 1, padding)
    return dx, _summed(parts, (kh * kw * cin, cout), onp.result_type(x, g)).reshape(W.shape)


def _conv2d_backward_from_g(g, x, W, padding):
    """dx = im2col(g) W_flipped (as in conv2d_transpose) and, substituting the flipped offsets in
    conv2d_kernel_grad's sum, dW[k-1-a, k-1-b, c, o] = sum over positions of
    x[..., c] im2col(g)[..., (a, b, o)], both from the same slices of im2col(g)."""
    kh, kw, cin, cout = W.shape
    flipped = _flipped(W).reshape(-1, cin)
    dx = onp.empty(x.shape, onp.result_type(g, W))

    def gradients(b):
        rows = _patch_rows(g[b], kh, kw, 1, kh - 1 - padding)
        onp.dot(rows, flipped, out=dx[b].reshape(rows.shape[0], cin))
        return onp.dot(x[b].reshape(-1, cin).T, rows)
    dW = _summed(_in_conv_blocks(gradients, g, kh, kw, 1, kh - 1 - padding),
                 (cin, kh * kw * cout), onp.result_type(x, g))
    return dx, onp.ascontiguousarray(dW.reshape(cin, kh, kw, cout)[:, ::-1, ::-1].transpose(1, 2, 0, 3))


# conv2d is bilinear in (x, W); its two adjoints are bilinear too, so every VJP below is one of
# conv2d, conv2d_transpose, conv2d_kernel_grad, and gradients of any order flow. One exception
# for speed: at first order (plain arrays, no autograd boxes), when both gradients of a stride-1
# convolution are wanted, _conv2d_backward computes them together from one im2col (of g or of
# x) instead of an im2col of g and one of x (3% of a training step); the tests check all routes.
def _conv2d_vjp(argnums, ans, args, kwargs):
    x, W = args[0], args[1]
    stride = args[2] if len(args) > 2 else kwargs.get("stride", 1)
    padding = args[3] if len(args) > 3 else kwargs.get("padding", 0)

    def vjp(g):
        if (argnums == (0, 1) and _transpose_is_a_conv(W, stride, padding)
                and not any(isbox(v) for v in (g, x, W))):
            return _conv2d_backward(g, x, W, padding)
        grads = {0: lambda: conv2d_transpose(g, W, x.shape, stride, padding),
                 1: lambda: conv2d_kernel_grad(x, g, W.shape, stride, padding)}
        return tuple(grads[i]() for i in argnums)
    return vjp


defvjp_argnums(conv2d, _conv2d_vjp)
defvjp(conv2d_kernel_grad,
       lambda ans, x, g, shape, stride=1, padding=0:
           lambda h: conv2d_transpose(g, h, x.shape, stride, padding),
       lambda ans, x, g, shape, stride=1, padding=0: lambda h: conv2d(x, h, stride, padding))


def _boxed(*values):
    """Whether any value is an autograd box: a VJP being differentiated again (second-order
    gradients), which must run as one ordinary expression on whole arrays for autograd to trace."""
    return any(isbox(v) for v in values)


def _largest_block_shape(x):
    """The shape of x's first, and largest, block (_batch_blocks)."""
    return (_batch_blocks(x)[0].stop,) + x.shape[1:]


def _tiled(v, x):
    """The per-channel vector v (C,) repeated to the shape of x's largest block; block b uses
    its first len(x[b]) items (_fit). NumPy runs an operation on two arrays of one shape as a
    single loop, but restarts it for every row of a broadcast operand: with v broadcast, a
    product over a 1 MB block takes 1.6x as long."""
    return onp.ascontiguousarray(onp.broadcast_to(v, _largest_block_shape(x)))


def _fit(tiled, block):
    """The first len(block) items of a _tiled vector, to pair with that block."""
    return tiled[:len(block)]


def _rows(x):
    """x (..., W, C) as rows of W*C entries: NumPy's loop over a broadcast (C,) vector restarts
    every C entries, which halves its speed for C = 32; over rows of W*C, with the vector
    repeated W times, it restarts every W*C."""
    pixels = x.shape[-2] if x.ndim > 2 else 1
    return x.reshape(-1, pixels * x.shape[-1])


def _block_channel_sum(x):
    """Sum over all axes but the last of one block (n, ..., C), without BLAS (whose own threads
    would compete with _in_blocks' for the cores): the rows of _rows(x) are summed first, so
    NumPy adds W*C entries at a time, then their W pixels."""
    return _rows(x).sum(axis=0).reshape(-1, x.shape[-1]).sum(axis=0)


def _zeros_like_blocks(x):
    """Zeros shaped like x's largest block, for max(x, 0): NumPy's maximum runs 4x slower
    against the scalar 0 than against an array of zeros."""
    return onp.zeros(_largest_block_shape(x), x.dtype)


# ------------------------------------------------------- pooling, ReLU, batch norm

def _mean(x, axis):
    """Mean as sum x (1/count): autograd's mean VJP divides by a NumPy int64, which promotes
    float32 gradients to float64 (and then every matrix product runs 10x slower)."""
    count = onp.prod([x.shape[a] for a in onp.atleast_1d(axis)])
    return anp.sum(x, axis=axis) * (1.0 / float(count))


@primitive
def _crop(x, H, W):
    """The top-left H x W corner of x (N, H', W', C): a view. Its VJP pads the gradient with
    zeros (_uncrop); autograd's generic slice VJP scatters with numpy.add.at, 10% of a step."""
    return x[:, :H, :W]


@primitive
def _uncrop(g, x_shape):
    """The transpose of _crop: g (N, H, W, C) in the corner of zeros of x_shape."""
    out = onp.zeros(x_shape, g.dtype)
    out[:, :g.shape[1], :g.shape[2]] = g
    return out


defvjp(_crop, lambda ans, x, H, W: lambda g: _uncrop(g, x.shape))
defvjp(_uncrop, lambda ans, g, x_shape: lambda h: _crop(h, g.shape[1], g.shape[2]))


def _pool_windows(x, size, stride):
    """The size x size windows of x (N, H, W, C) as (N, Ho, size, Wo, size, C).

    Windows that tile the image without overlap (the usual 2x2 pooling) are a reshape of x,
    no copy; on an odd size the last row and column belong to no window and are dropped
    first (one copy). Overlapping windows come from im2col.
    """
    N, H, W, C = x.shape
    Ho, Wo = _out_size(H, size, stride, 0), _out_size(W, size, stride, 0)
    if stride == size:
        if Ho * size != H or Wo * size != W:
            x = _crop(x, Ho * size, Wo * size)
        return anp.reshape(x, (N, Ho, size, Wo, size, C))
    cols = anp.reshape(im2col(x, size, size, stride, 0), (N, Ho, Wo, size, size, C))
    return anp.transpose(cols, (0, 1, 3, 2, 4, 5))


def _window_reduce(windows, op):
    """op (numpy.maximum or numpy.add) over axes 2 and 4 of (N, Ho, k, Wo, k, C) windows:
    (N, Ho, Wo, C). Pairwise over slices: numpy's reductions over short strided axes are 4x slower."""
    rows = windows[:, :, 0]
    for i in range(1, windows.shape[2]):
        rows = op(rows, windows[:, :, i])                               # (N, Ho, Wo, k, C)
    out = rows[:, :, :, 0]
    for j in range(1, windows.shape[4]):
        out = op(out, rows[:, :, :, j])
    return out


@primitive
def _window_max(windows):
    """Max over axes 2 and 4 of (N, Ho, k, Wo, k, C) windows: (N, Ho, Wo, C)."""
    def fill(b, out):
        out[...] = _window_reduce(windows[b], onp.maximum)
    return _assemble(fill, windows[:, :, 0, :, 0])


def _to_maxima(g, windows, ans):
    """The max-pool VJP: g (N, Ho, Wo, C) sent to the maxima of its windows, as windows.

    Tied maxima share it equally (after a ReLU a window of zeros is common): g is divided by
    the number of ties at the pooled size, a quarter of the windows' for 2x2 pooling, then
    spread by the 0/1 mask."""
    N, Ho, Wo, C = ans.shape
    is_max = (windows == anp.reshape(ans, (N, Ho, 1, Wo, 1, C))).astype(g.dtype)    # never a box
    shared = g / _window_reduce(is_max, onp.add)
    return anp.reshape(shared, (N, Ho, 1, Wo, 1, C)) * is_max


def _window_max_vjp(ans, windows):
    def vjp(g):
        if _boxed(g, windows, ans):
            return _to_maxima(g, windows, ans)

        def fill(b, out):
            out[...] = _to_maxima(g[b], windows[b], ans[b])
        return _assemble(fill, windows, g.dtype)
    return vjp


defvjp(_window_max, _window_max_vjp)


def max_pool(x, size=2, stride=None):
    """Max over size x size windows: (N, H, W, C) -> (N, Ho, Wo, C)."""
    return _window_max(_pool_windows(x, size, stride or size))


def avg_pool(x, size=2, stride=None):
    """Mean over size x size windows: (N, H, W, C) -> (N, Ho, Wo, C)."""
    return _mean(_pool_windows(x, size, stride or size), (2, 4))


def global_avg_pool(x):
    """(N, H, W, C) -> (N, C): the mean over all positions."""
    return _mean(x, (1, 2))


@primitive
def relu(x):
    """max(x, 0) for x (N, ...), with the VJP g * [x > 0] (cheaper than autograd's generic
    maximum); both in blocks of the batch."""
    zeros = _zeros_like_blocks(x)
    return _assemble(lambda b, out: onp.maximum(x[b], _fit(zeros, out), out=out), x)


def _relu_vjp(ans, x):
    def vjp(g):
        if _boxed(g, ans):
            return g * (ans > 0)
        return _assemble(lambda b, out: onp.multiply(g[b], ans[b] > 0, out=out), ans, onp.result_type(g, ans))
    return vjp


defvjp(relu, _relu_vjp)


def channel_sum(x):
    """Sum over all axes but the last: (..., C) -> (C,). A matrix-vector product with ones,
    which BLAS runs on every core, 5x faster than numpy.sum(axis=0) on (131072, 32)."""
    rows = anp.reshape(x, (-1, x.shape[-1]))
    return matmul(onp.ones((1, rows.shape[0]), rows.dtype), rows)[0]


def channel_dot(a, b):
    """sum over all axes but the last of a * b: (..., C), (..., C) -> (C,), no temporary."""
    C = a.shape[-1]
    return anp.einsum("ij,ij->j", anp.reshape(a, (-1, C)), anp.reshape(b, (-1, C)))


@primitive
def batch_norm_train(x, gamma, beta, rectify=False):
    """Batch normalisation with this batch's statistics: (y, mean, var).

    y = gamma (x - mean) / sqrt(var + eps) + beta, with mean and (biased) var (C,) taken over
    all axes but the last of x (N, ..., C); rectify=True returns max(y, 0) instead, the ReLU
    fused in: the same pass over y, and no separate mask and product in the VJP. The
    statistics are outputs too: the running averages reuse them, and so does the VJP.
    Two passes over x, in blocks of the batch: the moments, then y.
    """
    mean, var = _merged_moments(_in_blocks(lambda b: _moments(x[b]), x))
    scale = gamma / onp.sqrt(var + BN_EPS)
    dtype = onp.result_type(x, scale)
    scale_t, shift_t = _tiled(scale.astype(dtype), x), _tiled((beta - mean * scale).astype(dtype), x)
    zeros = _zeros_like_blocks(x) if rectify else None

    def normalise(b, y):    # y = x scale + (beta - mean scale), as in eval mode: two passes, not three
        onp.multiply(x[b], _fit(scale_t, y), out=y)
        y += _fit(shift_t, y)
        if rectify:
            onp.maximum(y, _fit(zeros, y), out=y)
    return _assemble(normalise, x, dtype), mean, var


def _moments(x):
    """(count, mean, sum of squared deviations from the mean) per channel of one block x (..., C)."""
    count = x.size // x.shape[-1]
    mean = _block_channel_sum(x) * (1.0 / count)
    rows = _rows(x)
    centred = rows - onp.tile(mean, rows.shape[1] // x.shape[-1])
    centred *= centred
    return count, mean, _block_channel_sum(centred.reshape(x.shape))


def _merged_moments(parts):
    """The mean and (biased) variance of the union of blocks from their _moments (Chan, Golub
    & LeVeque's pairwise update, all at once): the sum of squares about the overall mean is
    the blocks' own sums plus each block's count times its mean's squared distance from it."""
    means = onp.stack([mean for _, mean, _ in parts])                          # (blocks, C)
    counts = onp.array([count for count, _, _ in parts], means.dtype)[:, None]
    m = counts.sum()
    mean = (counts * means).sum(axis=0) / m
    squares = sum(sq for _, _, sq in parts) + (counts * (means - mean) ** 2).sum(axis=0)
    return mean, squares / m


def _batch_norm_train_vjp(argnums, ans, args, kwargs):
    x, gamma = args[0], args[1]
    rectify = args[3] if len(args) > 3 else kwargs.get("rectify", False)
    y, mean, var = ans
    m = float(x.size // x.shape[-1])
    inv_std = 1.0 / anp.sqrt(var + BN_EPS)

    def vjp(g):
        # With x_hat = (x - mean) inv_std and g_hat = gamma g_y, the textbook gradient is
        #   dx = inv_std (g_hat - mean(g_hat) - x_hat mean(g_hat x_hat)),
        # plus the (usually zero) gradients reaching mean and var directly. x_hat enters only
        # through two per-channel sums and one affine term in x, so it is never formed:
        #   dx = a g_y + c_x x + c_0, per channel.
        # A fused ReLU passes g_y where its output is positive.
        g_y, g_mean, g_var = g
        sums, affine = ((_bn_vjp_sums, _bn_vjp_affine) if _boxed(g_y, g_mean, g_var, x, gamma)
                        else (_bn_vjp_sums_in_blocks, _bn_vjp_affine_in_blocks))
        g_beta, g_yx, g_y = sums(g_y, y, x, rectify)
        g_gamma = inv_std * (g_yx - mean * g_beta)                              # sum g_y x_hat
        c_x = (2.0 / m) * g_var - (gamma * inv_std ** 2 / m) * g_gamma
        c_0 = (g_mean - gamma * inv_std * g_beta) / m - mean * c_x
        g_x = affine(g_y, x, gamma * inv_std, c_x, c_0)
        return tuple((g_x, g_gamma, g_beta)[i] for i in argnums)
    return vjp


# The two passes of batch norm's VJP: on whole arrays for autograd to trace (when the VJP is
# differentiated again), and in blocks for speed. tests/test_nn.py checks that they agree.

def _bn_vjp_sums(g_y, y, x, rectify):
    """g_y masked by [y > 0] if rectify, and its per-channel sum and sum times x."""
    if rectify:
        g_y = g_y * (y > 0)
    return channel_sum(g_y), channel_dot(g_y, x), g_y


def _bn_vjp_affine(g_y, x, a, c_x, c_0):
    """a g_y + c_x x + c_0, per channel."""
    return g_y * a + x * c_x + c_0


def _bn_vjp_sums_in_blocks(g_y, y, x, rectify):
    """As _bn_vjp_sums; the masked g_y is a new array, which _bn_vjp_affine_in_blocks overwrites."""
    masked = onp.empty_like(g_y)

    def sums(b):
        if rectify:
            onp.multiply(g_y[b], y[b] > 0, out=masked[b])
        else:
            masked[b] = g_y[b]
        return _block_channel_sum(masked[b]), _block_channel_sum(masked[b] * x[b])   # in cache
    parts = _in_blocks(sums, x)
    return sum(p[0] for p in parts), sum(p[1] for p in parts), masked


def _bn_vjp_affine_in_blocks(g_y, x, a, c_x, c_0):
    """As _bn_vjp_affine, in place on g_y."""
    a_t, c_x_t, c_0_t = (_tiled(v.astype(g_y.dtype), x) for v in (a, c_x, c_0))

    def affine(b):
        g_b = g_y[b]
        g_b *= _fit(a_t, g_b)
        g_b += x[b] * _fit(c_x_t, g_b)
        g_b += _fit(c_0_t, g_b)
    _in_blocks(affine, x)
    return g_y


defvjp_argnums(batch_norm_train, _batch_norm_train_vjp)


def batch_norm(x, gamma, beta, running_mean, running_var, train, rectify=False):
    """Batch normalisation over all axes but the last (channels), then a ReLU if rectify.

    train=True: normalise with the batch statistics and also return them (plain arrays, no
    gradient) for the running averages; train=False: use running_mean / running_var.
    x : (..., C); gamma, beta, running_* : (C,). Returns (y, (batch_mean, batch_var) or None).
    """
    if train:
        out = batch_norm_train(x, gamma, beta, rectify)
        return out[0], (getval(out[1]), getval(out[2]))
    scale = gamma / anp.sqrt(running_var + BN_EPS)
    y = x * scale + (beta - running_mean * scale)
    return (relu(y) if rectify else y), None


# ------------------------------------------------------------------- the hashing layer

def hashing_layer(q, L, b):
    """nu(x) = tanh(L^T q(x) + b) in [-1, 1]^d (Eq. 7). q : (N, p), L : (p, d), b : (d,)."""
    return anp.tanh(matmul(q, L) + b)

"""Layers: gradient checks (order 2), the im2col/col2im adjoint, naive loop references."""

import contextlib
import threading

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad
from autograd.test_util import check_grads

from hclm_ref import _blas, naive, network, nn


@pytest.mark.parametrize("H,W,k,stride,padding", [(5, 5, 3, 1, 1), (6, 5, 3, 2, 1), (7, 7, 3, 2, 0),
                                                  (4, 6, 2, 2, 0), (6, 6, 5, 1, 2), (5, 7, 3, 3, 2)])
def test_im2col_col2im_adjoint(H, W, k, stride, padding):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, H, W, 3))
    cols = nn.im2col(x, k, k, stride, padding)
    y = rng.standard_normal(cols.shape)
    np.testing.assert_allclose(np.sum(cols * y), np.sum(x * nn.col2im(y, x.shape, k, k, stride, padding)),
                               rtol=1e-12)


@pytest.mark.parametrize("k,stride,padding", [(3, 1, 1), (3, 1, 0), (3, 1, 2), (5, 1, 2), (3, 2, 1),
                                               (2, 2, 0), (1, 1, 0)])
def test_conv_adjoints(k, stride, padding):
    # <conv2d(x, W), g> = <x, conv2d_transpose(g, W)> = <W, conv2d_kernel_grad(x, g)>; stride 1
    # takes the flipped-kernel convolution, stride 2 the col2im path
    rng = np.random.default_rng(k + 10 * stride + 100 * padding)
    x, Wt = rng.standard_normal((3, 7, 6, 2)), rng.standard_normal((k, k, 2, 4))
    g = rng.standard_normal(nn.conv2d(x, Wt, stride=stride, padding=padding).shape)
    inner = np.sum(nn.conv2d(x, Wt, stride=stride, padding=padding) * g)
    np.testing.assert_allclose(np.sum(x * nn.conv2d_transpose(g, Wt, x.shape, stride, padding)), inner,
                               rtol=1e-12)
    np.testing.assert_allclose(np.sum(Wt * nn.conv2d_kernel_grad(x, g, Wt.shape, stride, padding)), inner,
                               rtol=1e-12)


@pytest.mark.parametrize("cin,cout", [(2, 4), (2, 5)])
@pytest.mark.parametrize("k,padding", [(3, 1), (3, 0), (3, 2), (5, 2), (1, 0)])
def test_conv_backward_fast_paths_equal_the_adjoints(k, padding, cin, cout):
    # first order, both gradients from one im2col, of g or of x (nn._conv2d_backward takes the
    # second for cout > 2 cin), vs the two adjoints and vs autograd through them
    rng = np.random.default_rng(k + 10 * padding)
    x, Wt = rng.standard_normal((3, 7, 6, cin)), rng.standard_normal((k, k, cin, cout))
    g = rng.standard_normal(nn.conv2d(x, Wt, padding=padding).shape)
    adjoints = (nn.conv2d_transpose(g, Wt, x.shape, 1, padding),
                nn.conv2d_kernel_grad(x, g, Wt.shape, 1, padding))
    for route in (nn._conv2d_backward_from_g, nn._conv2d_backward_from_x):
        for got, want in zip(route(g, x, Wt, padding), adjoints):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    G = grad(lambda x, w: anp.sum(nn.conv2d(x, w, padding=padding) * g), (0, 1))(x, Wt)
    for got, want in zip(G, adjoints):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def _conv_outputs(x, Wt, g):
    """conv2d, its kernel gradient and both first-order backward routes, on plain arrays."""
    return (nn.conv2d(x, Wt, padding=1), nn.conv2d_kernel_grad(x, g, Wt.shape, 1, 1),
            *nn._conv2d_backward_from_g(g, x, Wt, 1), *nn._conv2d_backward_from_x(g, x, Wt, 1))


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_conv_in_blocks_of_the_batch_on_any_number_of_threads(monkeypatch, threads):
    """Blocks of one image, and of two images with a shorter last block, on one to three
    threads, with one BLAS thread or (where its thread count cannot be set) on this thread
    alone: equal to one block, and bit for bit the same on any number of threads."""
    rng = np.random.default_rng(4)
    x, Wt = rng.standard_normal((5, 6, 6, 3)), rng.standard_normal((3, 3, 3, 4))
    g = rng.standard_normal((5, 6, 6, 4))
    whole = _conv_outputs(x, Wt, g)
    monkeypatch.setattr(nn, "_THREADS", threads)
    for floats, sizes in ((1, [1] * 5), (2 * 6 * 6 * 27, [2, 2, 1])):
        monkeypatch.setattr(nn, "_CHUNK_FLOATS", floats)
        assert [b.stop - b.start for b in nn._conv_blocks(x, 3, 3, 1, 1)] == sizes
        blocks = _conv_outputs(x, Wt, g)
        for got, want in zip(blocks, whole):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
        with monkeypatch.context() as m:
            m.setattr(nn, "_THREADS", 1)
            for got, want in zip(_conv_outputs(x, Wt, g), blocks):
                np.testing.assert_array_equal(got, want)
            m.setattr(nn, "one_blas_thread", lambda: contextlib.nullcontext(False))
            for got, want in zip(_conv_outputs(x, Wt, g), blocks):
                np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    empty = _conv_outputs(x[:0], Wt, g[:0])                    # no blocks at all: no images, zero dW
    assert [a.shape for a in empty] == [(0, 6, 6, 4), Wt.shape] + [(0, 6, 6, 3), Wt.shape] * 2
    assert not any(a.any() for a in empty)


def test_one_blas_thread_sets_and_restores_the_thread_count(monkeypatch):
    control = _blas.blas_thread_control()
    if control is None:
        pytest.skip("NumPy's BLAS here is not an OpenBLAS whose thread count can be set")
    set_threads, get_threads = control
    before = get_threads()
    try:
        set_threads(2)
        with _blas.one_blas_thread() as alone:
            assert alone and get_threads() == 1
            with _blas.one_blas_thread():
                assert get_threads() == 1
            assert get_threads() == 1
        assert get_threads() == 2
        opened, close = threading.Event(), threading.Event()     # overlapping, in two threads

        def other():
            with _blas.one_blas_thread():
                opened.set()
                close.wait(10)
        worker = threading.Thread(target=other)
        with _blas.one_blas_thread():
            worker.start()
            opened.wait(10)
        assert get_threads() == 1                                  # the other is still open
        close.set()
        worker.join(10)
        assert get_threads() == 2
    finally:
        set_threads(before)
    monkeypatch.setattr(_blas, "_control", False)                  # no OpenBLAS found
    with _blas.one_blas_thread() as alone:
        assert alone is False


def test_channel_sum_and_dot():
    x = np.random.default_rng(5).standard_normal((3, 4, 5, 6)).astype(np.float32)
    np.testing.assert_allclose(nn.channel_sum(x), x.sum(axis=(0, 1, 2)), rtol=1e-5)
    assert nn.channel_sum(x).dtype == np.float32
    check_grads(nn.channel_sum, modes=["rev"], order=2)(x.astype(np.float64))
    y = np.random.default_rng(6).standard_normal(x.shape)
    np.testing.assert_allclose(nn.channel_dot(x.astype(np.float64), y), (x * y).sum(axis=(0, 1, 2)),
                               rtol=1e-12)
    check_grads(nn.channel_dot, modes=["rev"], order=2)(x.astype(np.float64), y)


@pytest.mark.parametrize("seed", range(6))
def test_conv_equals_naive_loops(seed):
    rng = np.random.default_rng(seed)
    H, W, k = rng.integers(4, 9), rng.integers(4, 9), rng.choice([1, 2, 3])
    stride, padding = rng.integers(1, 3), rng.integers(0, 2)
    x = rng.standard_normal((2, H, W, 3))
    Wt = rng.standard_normal((k, k, 3, 4))
    np.testing.assert_allclose(nn.conv2d(x, Wt, stride=stride, padding=padding),
                               naive.conv2d_naive(x, Wt, stride, padding), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("size,stride", [(2, 2), (3, 2), (2, 1), (3, 3)])
def test_pooling_equals_naive_loops(size, stride):
    x = np.random.default_rng(1).standard_normal((2, 7, 6, 3))
    np.testing.assert_allclose(nn.max_pool(x, size, stride), naive.pool2d_naive(x, size, stride, np.max))
    np.testing.assert_allclose(nn.avg_pool(x, size, stride), naive.pool2d_naive(x, size, stride, np.mean))


@pytest.mark.parametrize("stride,padding", [(1, 0), (1, 1), (2, 1), (2, 0)])
def test_conv_gradients(stride, padding):
    rng = np.random.default_rng(2)
    x, Wt = rng.standard_normal((2, 5, 5, 2)), rng.standard_normal((3, 3, 2, 3))
    check_grads(lambda x, w: nn.conv2d(x, w, stride=stride, padding=padding), modes=["rev"], order=2)(x, Wt)


def test_pooling_gradients():
    x = np.random.default_rng(3).standard_normal((2, 6, 6, 2))
    check_grads(lambda x: nn.max_pool(x, 2), modes=["rev"], order=2)(x)
    check_grads(lambda x: nn.max_pool(x, 3, 2), modes=["rev"], order=2)(x)
    check_grads(lambda x: nn.avg_pool(x, 3, 1), modes=["rev"], order=2)(x)
    check_grads(nn.global_avg_pool, modes=["rev"], order=2)(x)
    odd = x[:, :5, :5]                       # the last row and column belong to no 2x2 window
    check_grads(lambda x: nn.max_pool(x, 2), modes=["rev"], order=2)(odd)
    check_grads(lambda x: nn.avg_pool(x, 2), modes=["rev"], order=2)(odd)
    np.testing.assert_array_equal(grad(lambda x: anp.sum(nn.avg_pool(x, 2)))(odd)[:, 4], 0.0)


def test_max_pool_tie_shares_gradient():
    x = np.zeros((1, 2, 2, 1))
    np.testing.assert_allclose(grad(lambda x: anp.sum(nn.max_pool(x)))(x), 0.25)


def test_batch_norm_gradients_and_modes():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((4, 3, 3, 2))
    gamma, beta = rng.standard_normal(2), rng.standard_normal(2)
    rm, rv = np.zeros(2), np.ones(2)
    for train in (True, False):
        check_grads(lambda x, g, b, train=train: nn.batch_norm(x, g, b, rm, rv, train)[0],
                    modes=["rev"], order=2)(x, gamma, beta)
    # the batch statistics are outputs of batch_norm_train too; their gradients reach x
    check_grads(lambda x: anp.sum(nn.batch_norm_train(x, gamma, beta)[1] * gamma)
                + anp.sum(nn.batch_norm_train(x, gamma, beta)[2] * beta), modes=["rev"], order=2)(x)
    y, (m, v) = nn.batch_norm(x, np.ones(2), np.zeros(2), rm, rv, True)
    np.testing.assert_allclose(y.mean(axis=(0, 1, 2)), 0, atol=1e-12)
    np.testing.assert_allclose(m, x.mean(axis=(0, 1, 2)))
    np.testing.assert_allclose(v, x.var(axis=(0, 1, 2)))
    y_eval, stats = nn.batch_norm(x, np.ones(2), np.zeros(2), m, v, False)
    assert stats is None
    np.testing.assert_allclose(y_eval, y, atol=1e-4)      # eval with the batch's own statistics


def test_batch_norm_with_fused_relu():
    """rectify=True is relu(batch_norm(.)) in value and in gradient, train and eval mode,
    with the statistics unchanged."""
    rng = np.random.default_rng(6)
    x = rng.standard_normal((4, 3, 3, 2))
    gamma, beta = rng.standard_normal(2), rng.standard_normal(2)
    rm, rv = rng.standard_normal(2), rng.random(2) + 0.5
    weights = rng.standard_normal(x.shape)
    for train in (True, False):
        fused, stats = nn.batch_norm(x, gamma, beta, rm, rv, train, rectify=True)
        plain, plain_stats = nn.batch_norm(x, gamma, beta, rm, rv, train)
        np.testing.assert_array_equal(fused, np.maximum(plain, 0))
        if train:
            np.testing.assert_array_equal(stats, plain_stats)
        for argnum in range(3):
            def fused_loss(*a, t=train):
                return anp.sum(weights * nn.batch_norm(*a, rm, rv, t, rectify=True)[0])

            def plain_loss(*a, t=train):
                return anp.sum(weights * nn.relu(nn.batch_norm(*a, rm, rv, t)[0]))
            g_fused, g_plain = (grad(f, argnum)(x, gamma, beta) for f in (fused_loss, plain_loss))
            np.testing.assert_allclose(g_fused, g_plain, rtol=1e-10, atol=1e-12)
    check_grads(lambda x, g, b: nn.batch_norm(x, g, b, rm, rv, True, rectify=True)[0],
                modes=["rev"], order=2)(x, gamma, beta)


def _bn_reference(x, gamma, beta, rectify):
    """Batch norm in plain autograd.numpy, differentiated by autograd's own rules."""
    mean = anp.mean(x, axis=(0, 1, 2))
    y = (x - mean) / anp.sqrt(anp.mean((x - mean) ** 2, axis=(0, 1, 2)) + nn.BN_EPS) * gamma + beta
    return anp.maximum(y, 0) if rectify else y


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_layers_in_blocks_of_the_batch_on_any_number_of_threads(monkeypatch, threads):
    """Batch norm, max-pool and ReLU, forward and VJP, in blocks of 2, 2 and 1 images on one to
    three threads: equal to one block, to plain autograd.numpy (batch norm, mean and variance
    merged from the blocks' moments) and to the whole-array route that second-order gradients
    take, and bit for bit the same on any number of threads."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((5, 4, 6, 3)) * 3 + 2
    gamma, beta = rng.standard_normal(3), rng.standard_normal(3)
    g = rng.standard_normal(x.shape)
    one_block = _blocked_layers(x, gamma, beta, g)
    monkeypatch.setattr(nn, "_BLOCK_FLOATS", 2 * 4 * 6 * 3)
    monkeypatch.setattr(nn, "_THREADS", threads)
    assert [b.stop - b.start for b in nn._batch_blocks(x)] == [2, 2, 1]
    blocks = _blocked_layers(x, gamma, beta, g)
    for a, b in zip(one_block, blocks):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12)
    monkeypatch.setattr(nn, "_THREADS", 1)
    for a, b in zip(_blocked_layers(x, gamma, beta, g), blocks):
        np.testing.assert_array_equal(b, a)
    for i, rectify in enumerate((False, True)):
        y, mean, var, g_x, g_gamma, g_beta = blocks[6 * i:6 * i + 6]
        np.testing.assert_allclose(mean, x.mean(axis=(0, 1, 2)), rtol=1e-12)
        np.testing.assert_allclose(var, x.var(axis=(0, 1, 2)), rtol=1e-12)
        np.testing.assert_allclose(y, _bn_reference(x, gamma, beta, rectify), rtol=1e-12, atol=1e-12)
        def loss(x, gm, bt, rectify=rectify):
            return anp.sum(g * _bn_reference(x, gm, bt, rectify))
        expected = grad(loss, (0, 1, 2))(x, gamma, beta)
        for got, want in zip((g_x, g_gamma, g_beta), expected):
            np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
        sums = nn._bn_vjp_sums(g, y, x, rectify)                    # the whole-array route
        masked = nn._bn_vjp_sums_in_blocks(g, y, x, rectify)
        for a, b in zip(sums, masked):
            np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(nn._bn_vjp_affine_in_blocks(masked[2], x, gamma, beta, var),
                                   nn._bn_vjp_affine(sums[2], x, gamma, beta, var), rtol=1e-12)
    pooled, g_pool, relu, g_relu = blocks[12:]
    np.testing.assert_array_equal(pooled, naive.pool2d_naive(x, 2, 2, np.max))
    np.testing.assert_array_equal(g_pool, nn._to_maxima(g[:, :2, :3], nn._pool_windows(x, 2, 2), pooled))
    np.testing.assert_allclose(g_pool.sum(axis=(2, 4)), g[:, :2, :3], rtol=1e-12)   # all of g, to the maxima
    np.testing.assert_array_equal(relu, np.maximum(x - 2, 0))
    np.testing.assert_array_equal(g_relu, g * (x > 2))


def _blocked_layers(x, gamma, beta, g):
    """Outputs and VJPs, on plain arrays, of the layers that run in blocks of the batch."""
    out = []
    for rectify in (False, True):
        ans = nn.batch_norm_train(x, gamma, beta, rectify)
        vjp = nn._batch_norm_train_vjp((0, 1, 2), ans, (x, gamma, beta, rectify), {})
        out += [*ans, *vjp((g, 0 * gamma, 0 * gamma))]
    windows = nn._pool_windows(x, 2, 2)
    pooled = nn._window_max(windows)
    out += [pooled, nn._window_max_vjp(pooled, windows)(g[:, :2, :3])]
    return out + [nn.relu(x - 2), grad(lambda x: anp.sum(nn.relu(x - 2) * g))(x)]


def test_relu_and_hashing_layer_gradients():
    rng = np.random.default_rng(5)
    check_grads(nn.relu, modes=["rev"], order=2)(rng.standard_normal((3, 4)))
    q, L, b = rng.standard_normal((3, 5)), rng.standard_normal((5, 4)), rng.standard_normal(4)
    check_grads(nn.hashing_layer, modes=["rev"], order=2)(q, L, b)
    np.testing.assert_allclose(nn.hashing_layer(q, L, b), np.tanh(q @ L + b))      # Eq. 7


def test_network_shapes_dtypes_and_float32_gradients():
    rng = np.random.default_rng(6)
    widths = (4, "M", 8)
    params, state = network.init_params(rng, 12, widths=widths)
    x = rng.standard_normal((3, 8, 8, 3)).astype(np.float32)
    nu, q, stats = network.forward(params, x, state, widths=widths, train=True)
    assert nu.shape == (3, 12) and q.shape == (3, 8) and nu.dtype == np.float32
    assert np.all(np.abs(nu) <= 1) and set(stats) == {"bn0.mean", "bn0.var", "bn1.mean", "bn1.var"}
    g = grad(lambda p: anp.sum(network.forward(p, x, state, widths=widths, train=True)[0] ** 2))(params)
    assert all(g[k].dtype == np.float32 and g[k].shape == params[k].shape for k in params)
    new_state = network.update_state(state, stats)
    np.testing.assert_allclose(new_state["bn0.mean"], 0.9 * state["bn0.mean"] + 0.1 * stats["bn0.mean"])
    a, _ = network.init_params(np.random.default_rng(7), 12, widths=widths)
    b, _ = network.init_params(np.random.default_rng(7), 12, widths=widths)
    assert all(a[k].tobytes() == b[k].tobytes() for k in a)


def test_small_products_run_on_one_blas_thread(monkeypatch):
    # the hashing layer's product: one BLAS thread (no OpenBLAS worker left spinning); large: every core
    entered = []

    @contextlib.contextmanager
    def recorded():
        entered.append(True)
        yield True
    monkeypatch.setattr(nn, "one_blas_thread", recorded)
    rng = np.random.default_rng(8)
    for shape, small in (((128, 128, 48), True), ((256, 256, 64), False)):
        A, B = rng.standard_normal(shape[:2]), rng.standard_normal(shape[1:])
        entered.clear()
        np.testing.assert_array_equal(nn.matmul(A, B), A @ B)
        assert entered == ([True] if small else [])

"""The compact CNN: VGG-style 3x3 convolutions with batch norm and ReLU, global average pooling
to the features q(x), and the hashing layer nu(x) = tanh(L^T q(x) + b) (Eq. 7).

The architecture is a tuple of widths that travels with the weights (model.py): conv widths,
"M" for a 2x2 max-pool, and optionally first "W2" or "W3", a frozen patch-whitening layer of
2x2 or 3x3 patches (whitening_filters). Parameters are a plain dict of float32 arrays; what
training does not differentiate lives in a separate `state` dict: the batch-norm running
statistics, and the whitening filters. Derived in tutorials/05-a-cnn-by-hand.md.
"""

import numpy as np

from ._validate import check_int
from .nn import BN_MOMENTUM, batch_norm, conv2d, global_avg_pool, hashing_layer, im2col, max_pool, relu

DEFAULT_WIDTHS = (32, 32, "M", 64, 64, "M", 128)   # the reference network of the benchmarks
WHITENING = {"W2": 2, "W3": 3}                      # first-layer token -> patch size k
WHITENING_EPS = 5e-4


def parse_widths(widths):
    """Validate an architecture: conv widths (ints >= 1) and "M" (2x2 max-pool), starting with
    a convolution or a whitening token ("W2", "W3"). A string "W2,32,M,64" is accepted too.
    Returns a tuple."""
    items = [v.strip() if isinstance(v, str) else v for v in
             (widths.split(",") if isinstance(widths, str) else widths)]
    try:
        out = tuple(w if w == "M" or (i == 0 and w in WHITENING)
                    else check_int(int(w) if isinstance(w, str) else w, "width", 1)
                    for i, w in enumerate(items))
    except (TypeError, ValueError):
        raise ValueError(f"widths must be conv widths >= 1, 'M' for a 2x2 max-pool and optionally a "
                         f"first W2 or W3 (patch whitening), e.g. W2,32,M,64; got {widths!r}") from None
    convs = [w for w in out if w != "M" and w not in WHITENING]
    if not convs or out[0] == "M":
        raise ValueError(f"widths must start with a conv width or W2/W3 and hold at least one conv "
                         f"width; got {widths!r}")
    return out


def _whitening_channels(k, in_channels=3):
    """Output channels of the whitening layer: each of the k*k*C eigen-filters and its negation."""
    return 2 * k * k * in_channels


def whitening_filters(x, k, eps=WHITENING_EPS):
    """Frozen first-layer filters that whiten the k x k patches of the images x.

    With Sigma = V diag(lambda) V^T the covariance of the (k*k*C)-dimensional patches, the
    filters are the eigenvectors scaled by 1/sqrt(lambda + eps): their responses are
    uncorrelated with unit variance (eps keeps the near-constant directions from blowing up).
    Each filter comes with its negation, so that the ReLU after it keeps both signs (a
    concatenated ReLU: nothing of the whitened patch is lost).
    x : (N, H, W, C) float normalised images. Returns (k, k, C, 2 k k C) float32.
    """
    C = x.shape[-1]
    patches = im2col(np.asarray(x, np.float64), k, k, 1, 0).reshape(-1, k * k * C)
    patches -= patches.mean(axis=0)
    lam, V = np.linalg.eigh(patches.T @ patches / len(patches))
    W = V / np.sqrt(np.maximum(lam, 0) + eps)                       # (k k C, k k C), columns
    return np.concatenate([W, -W], axis=1).reshape(k, k, C, -1).astype(np.float32)


def _conv_init(rng, cin, cout, identity):
    """He-normal 3x3 kernel (3, 3, cin, cout); with identity, its first min(cin, cout) filters
    are the identity ("dirac": output channel i copies input channel i), so a block starts
    close to passing its input through."""
    W = rng.standard_normal((3, 3, cin, cout)) * np.sqrt(2.0 / (9 * cin))
    if identity:
        n = min(cin, cout)
        W[:, :, :, :n] = 0.0
        W[1, 1, np.arange(n), np.arange(n)] = 1.0
    return W.astype(np.float32)


def init_params(rng, n_bits, *, widths=DEFAULT_WIDTHS, in_channels=3, identity=False):
    """Parameters and state of the network.

    widths: parse_widths. Each conv is 3x3, padding 1, then batch norm and ReLU; a global
    average pool gives q(x) (width = the last conv's); the hashing layer maps it to nu(x) with
    n_bits units. He-normal conv weights (identity=True: dirac filters first, _conv_init),
    Glorot L. A whitening layer's filters start at zero in state["whiten.W"] (train() sets
    them from the data with whitening_filters); its bias params["whiten.b"] is trained.
    rng : numpy.random.Generator. Returns (params, state): dicts of float32 arrays.
    """
    widths = parse_widths(widths)
    check_int(n_bits, "n_bits", 1)
    params, state, cin = {}, {}, in_channels
    if widths[0] in WHITENING:
        k = WHITENING[widths[0]]
        cin = _whitening_channels(k, in_channels)
        state["whiten.W"] = np.zeros((k, k, in_channels, cin), np.float32)
        params["whiten.b"] = np.zeros(cin, np.float32)
    for i, w in enumerate(v for v in widths if v != "M" and v not in WHITENING):
        params[f"conv{i}"] = _conv_init(rng, cin, w, identity)
        params[f"bn{i}.gamma"] = np.ones(w, np.float32)
        params[f"bn{i}.beta"] = np.zeros(w, np.float32)
        state[f"bn{i}.mean"] = np.zeros(w, np.float32)
        state[f"bn{i}.var"] = np.ones(w, np.float32)
        cin = w
    glorot = np.sqrt(2.0 / (cin + n_bits))
    params["hash.L"] = (rng.standard_normal((cin, n_bits)) * glorot).astype(np.float32)
    params["hash.b"] = np.zeros(n_bits, np.float32)
    return params, state


def feature_size(widths, image_size):
    """Height (= width) of the last feature map for square images of image_size pixels, or a
    ValueError when the architecture pools them away."""
    pools = sum(w == "M" for w in widths)
    size = image_size - (WHITENING[widths[0]] - 1 if widths[0] in WHITENING else 0)
    if size >> pools < 1:
        raise ValueError(f"widths {','.join(map(str, widths))} pool {pools} times: too many for "
                         f"{image_size}x{image_size} images (at most {size.bit_length() - 1})")
    return size >> pools


def forward(params, x, state, *, widths=DEFAULT_WIDTHS, train=False):
    """Run the network: x (N, H, W, Cin) float32 -> (nu (N, d), q (N, p), batch_stats).

    batch_stats maps "bn{i}.mean"/"bn{i}.var" to this batch's statistics when train=True
    (the caller folds them into the running averages with update_state), else is empty.
    """
    h, batch_stats, i = x, {}, 0
    for w in widths:
        if w in WHITENING:                     # frozen filters (state), trained bias; no padding
            h = relu(conv2d(h, state["whiten.W"]) + params["whiten.b"])
            continue
        if w == "M":
            h = max_pool(h, 2)
            continue
        h = conv2d(h, params[f"conv{i}"], padding=1)
        h, stats = batch_norm(h, params[f"bn{i}.gamma"], params[f"bn{i}.beta"],
                              state[f"bn{i}.mean"], state[f"bn{i}.var"], train, rectify=True)
        if stats is not None:
            batch_stats[f"bn{i}.mean"], batch_stats[f"bn{i}.var"] = stats
        i += 1
    q = global_avg_pool(h)
    return hashing_layer(q, params["hash.L"], params["hash.b"]), q, batch_stats


def update_state(state, batch_stats, momentum=BN_MOMENTUM):
    """Running averages: r <- (1 - momentum) r + momentum * batch value. Returns a new dict."""
    return {k: ((1 - momentum) * v + momentum * batch_stats[k]).astype(np.float32)
            if k in batch_stats else v for k, v in state.items()}

"""The compact CNN: VGG-style 3x3 convolutions with batch norm and ReLU, global average pooling
to the features q(x), and the hashing layer nu(x) = tanh(L^T q(x) + b) (Eq. 7).

The architecture is a tuple of widths ("M" for a 2x2 max-pool) that travels with the weights
(model.py). Parameters are a plain dict of float32 arrays; batch-norm running statistics live
in a separate `state` dict that training updates outside the gradient.
Derived in tutorials/05-a-cnn-by-hand.md.
"""

import numpy as np

from ._validate import check_int
from .nn import BN_MOMENTUM, batch_norm, conv2d, global_avg_pool, hashing_layer, max_pool, relu

DEFAULT_WIDTHS = (32, 32, "M", 64, 64, "M", 128)   # the reference network of the benchmarks


def parse_widths(widths):
    """Validate an architecture: a sequence of conv widths (ints >= 1) and "M" (2x2 max-pool),
    starting with a convolution. A string "32,M,64" is accepted too. Returns a tuple."""
    items = widths.split(",") if isinstance(widths, str) else widths
    try:
        out = tuple(w if w == "M" else check_int(int(w) if isinstance(w, str) else w, "width", 1)
                    for w in (v.strip() if isinstance(v, str) else v for v in items))
    except (TypeError, ValueError):
        raise ValueError(f"widths must be conv widths >= 1 and 'M' for a 2x2 max-pool, e.g. "
                         f"32,32,M,64; got {widths!r}") from None
    if not out or out[0] == "M":
        raise ValueError(f"widths must start with a conv width (a positive integer); got {widths!r}")
    return out


def init_params(rng, n_bits, *, widths=DEFAULT_WIDTHS, in_channels=3):
    """Parameters and batch-norm state of the VGG-style network.

    widths: conv widths in order, "M" for a 2x2 max-pool. Each conv is 3x3, padding 1, then
    batch norm and ReLU; a global average pool gives q(x) (width = the last conv's); the
    hashing layer maps it to nu(x) with n_bits units. He-normal conv weights, Glorot L.
    rng : numpy.random.Generator. Returns (params, state): dicts of float32 arrays.
    """
    widths = parse_widths(widths)
    check_int(n_bits, "n_bits", 1)
    params, state, cin = {}, {}, in_channels
    for i, w in enumerate(v for v in widths if v != "M"):
        he = np.sqrt(2.0 / (9 * cin))
        params[f"conv{i}"] = (rng.standard_normal((3, 3, cin, w)) * he).astype(np.float32)
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
    if image_size >> pools < 1:
        raise ValueError(f"widths {','.join(map(str, widths))} pool {pools} times: too many for "
                         f"{image_size}x{image_size} images (at most {image_size.bit_length() - 1})")
    return image_size >> pools


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
    return {
        k: ((1 - momentum) * v + momentum * batch_stats[k]).astype(np.float32)
        if k in batch_stats
        else v
        for k, v in state.items()
    }

"""Where our training step's time goes, round by round, in one process: the whole step, the
convolutions forward (conv2d) and backward (both gradients, or the kernel's alone for the first
layer), batch norm and max-pooling (forward and VJP), and the rest (autograd, the loss, the
update). Each part is the wall-clock time of the calls that this thread makes, so work that
the part hands to the worker threads (nn._on_threads) is counted once.

On a shared machine the step's speed swings from round to round with no change in the code;
this shows which parts swing (benchmarks/bench_train.py gives only the totals). Same step as
bench_train.py: batch 128, 48 bits, float32, forward + backward + Nesterov SGD.
Run: python benchmarks/bench_step_parts.py [--network reference --rounds 8 --steps 5]
"""

import argparse
import os
import platform
import sys
import time
from collections import defaultdict

import numpy as np
from autograd.extend import defvjp

sys.path.insert(0, os.path.dirname(__file__))
from bench_train import BATCH, BITS, CLASSES, NETWORKS, cpu_model, numpy_stepper  # noqa: E402

from hclm_ref import network, nn  # noqa: E402
from hclm_ref.proxies import hclm_proxies  # noqa: E402

PARTS = {                  # part -> the functions whose time it sums (module, attribute)
    "conv forward": [(network, "conv2d")],
    "conv backward": [(nn, "_conv2d_backward"), (nn, "conv2d_kernel_grad")],
    "batch norm": [(nn, "batch_norm_train"), (nn, "_bn_vjp_sums_in_blocks"),
                   (nn, "_bn_vjp_affine_in_blocks")],
    "max-pool": [(nn, "_window_max")],
}
VJPS = {"max-pool": [(nn._window_max, nn._window_max_vjp)]}      # part -> (primitive, its VJP maker)


def timed(seconds, part, fn):
    """fn, adding the seconds each call takes to seconds[part] (wall-clock time on the calling thread)."""
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            seconds[part] += time.perf_counter() - start
    return wrapper


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--network", default="reference", choices=sorted(NETWORKS))
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, 32, 32, 3)).astype(np.float32)
    y = rng.integers(0, CLASSES, BATCH)
    step = numpy_stepper(x, y, hclm_proxies(CLASSES, BITS).astype(np.float32), NETWORKS[args.network])
    step()                                                               # warm-up
    seconds = defaultdict(float)
    for part, targets in PARTS.items():
        for module, name in targets:
            setattr(module, name, timed(seconds, part, getattr(module, name)))
    for part, targets in VJPS.items():      # VJPs that run blocks on worker threads, timed whole
        for primitive, make_vjp in targets:
            defvjp(primitive, lambda *args, part=part, make_vjp=make_vjp:
                   timed(seconds, part, make_vjp(*args)))
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"NumPy {np.__version__}; {args.network} network "
          f"{','.join(map(str, NETWORKS[args.network]))}, batch {BATCH}")
    print(f"ms a step, mean over each round of {args.steps} steps\n")
    header = ["round", "step", *PARTS, "rest"]
    widths = [max(10, len(h)) for h in header]
    print(" | ".join(f"{h:>{w}}" for h, w in zip(header, widths)))
    for r in range(args.rounds):
        seconds.clear()
        start = time.perf_counter()
        for _ in range(args.steps):
            step()
        total = time.perf_counter() - start
        parts = [seconds[p] for p in PARTS]
        row = [total, *parts, total - sum(parts)]
        cells = [f"{r + 1}"] + [f"{1e3 * v / args.steps:.1f}" for v in row]
        print(" | ".join(f"{c:>{w}}" for c, w in zip(cells, widths)), flush=True)


if __name__ == "__main__":
    main()

"""Training throughput: ours (NumPy + autograd) against PyTorch (CPU), on two networks.

- reference: conv3x3 32-32, max-pool, 64-64, max-pool, 128 (network.DEFAULT_WIDTHS);
- default: the CIFAR-10 preset of the demo (W2,64,M,64,128,M,128,128,M,128, airbench93's shape):
  a frozen 2x2 patch-whitening convolution (24 channels, trained bias, ReLU), then conv 64, pool,
  64-128, pool, 128-128, pool, 128.
Each ends in global average pooling, a 48-bit tanh hashing layer and fixed 10-class ±1 proxies;
batch 128, float32; one step = forward + backward + Nesterov SGD update. Both libraries run
with 2 threads and are measured alternately in the same run (the machines are shared and
noisy, so the ratio is the figure to read). PyTorch is only used here (pip install torch);
without it the comparison is skipped. Also prints our peak traced memory and where our time
goes (cProfile, top functions) for the default network.
Run: python benchmarks/bench_train.py [--rounds 5 --steps 10 --networks reference,default]
"""

import argparse
import cProfile
import io
import os
import platform
import pstats
import time
import tracemalloc

import numpy as np
from autograd import value_and_grad

from hclm_ref import network
from hclm_ref._memory import keep_freed_memory
from hclm_ref.demo import PRESETS
from hclm_ref.losses import proxy_loss
from hclm_ref.proxies import hclm_proxies
from hclm_ref.train import TrainConfig, sgd_step

BATCH, BITS, CLASSES, SCALE = 128, 48, 10, 8.0
NETWORKS = {"reference": network.DEFAULT_WIDTHS,
            "default": network.parse_widths(PRESETS["cifar"]["widths"])}     # the demo's CIFAR preset


def numpy_stepper(x, y, W, widths):
    keep_freed_memory()                      # as train.train does (hclm_ref/_memory.py)
    params, state = network.init_params(np.random.default_rng(0), BITS, widths=widths)
    if widths[0] in network.WHITENING:
        state["whiten.W"] = network.whitening_filters(x, network.WHITENING[widths[0]])
    velocity = {k: np.zeros_like(v) for k, v in params.items()}
    cfg = TrainConfig()

    def objective(p):
        nu, _, _ = network.forward(p, x, state, widths=widths, train=True)
        return proxy_loss(nu, y, W, SCALE)
    grad_fn = value_and_grad(objective)

    def step():
        nonlocal params, velocity
        loss, grads = grad_fn(params)
        params, velocity = sgd_step(params, grads, velocity, 0.05, cfg)
        return loss
    return step


def torch_stepper(x, y, W, widths):
    import torch
    torch.set_num_threads(2)
    torch.manual_seed(0)
    tnn = torch.nn
    layers, cin = [], 3
    for w in widths:
        if w in network.WHITENING:               # frozen filters, trained bias, then ReLU
            k = network.WHITENING[w]
            conv = tnn.Conv2d(3, 2 * k * k * 3, k, bias=True)
            conv.weight.requires_grad_(False)
            layers += [conv, tnn.ReLU()]
            cin = 2 * k * k * 3
        elif w == "M":
            layers.append(tnn.MaxPool2d(2))
        else:
            layers += [tnn.Conv2d(cin, w, 3, padding=1, bias=False), tnn.BatchNorm2d(w), tnn.ReLU()]
            cin = w
    net = tnn.Sequential(*layers, tnn.AdaptiveAvgPool2d(1), tnn.Flatten(), tnn.Linear(cin, BITS), tnn.Tanh())
    opt = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=0.05, momentum=0.9,
                          nesterov=True, weight_decay=5e-4)
    xt = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
    yt = torch.from_numpy(y)
    Wt = torch.from_numpy(W)

    def step():
        opt.zero_grad()
        logits = net(xt) @ Wt.T * (SCALE / BITS)
        loss = tnn.functional.cross_entropy(logits, yt)
        loss.backward()
        opt.step()
        return loss.item()
    return step, torch.__version__


def images_per_second(step, n_steps):
    step()                                                   # warm-up
    t = time.perf_counter()
    for _ in range(n_steps):
        step()
    return n_steps * BATCH / (time.perf_counter() - t)


def compare(name, widths, x, y, W, args):
    """Alternating rounds of ours and PyTorch's on one network; returns our stepper."""
    ours = numpy_stepper(x, y, W, widths)
    try:
        theirs, _ = torch_stepper(x, y, W, widths)
    except ImportError:
        theirs = None
    print(f"\n{name} network {','.join(map(str, widths))}: {args.rounds} alternating rounds of "
          f"{args.steps} steps")
    ours_ips, theirs_ips = [], []
    for r in range(args.rounds):
        ours_ips.append(images_per_second(ours, args.steps))
        line = f"round {r + 1}: ours {ours_ips[-1]:7.1f} images/s"
        if theirs:
            theirs_ips.append(images_per_second(theirs, args.steps))
            line += f" | PyTorch {theirs_ips[-1]:7.1f} images/s | ratio {ours_ips[-1] / theirs_ips[-1]:.2f}"
        print(line, flush=True)
    med = float(np.median(ours_ips))
    print(f"median: ours {med:.1f} images/s", end="")
    if theirs:
        print(f", PyTorch {np.median(theirs_ips):.1f} images/s, ratio ours/PyTorch "
              f"{med / np.median(theirs_ips):.2f}")
    else:
        print()
    return ours


def cpu_model():
    """The CPU's model name from /proc/cpuinfo (Linux), else what platform knows."""
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--networks", default="reference,default", help=f"some of {sorted(NETWORKS)}")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, 32, 32, 3)).astype(np.float32)
    y = rng.integers(0, CLASSES, BATCH)
    W = hclm_proxies(CLASSES, BITS).astype(np.float32)
    try:
        import torch
        torch_version = torch.__version__
    except ImportError:
        torch_version = None
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, NumPy {np.__version__}, "
          f"PyTorch {torch_version or 'not installed (comparison skipped)'}; "
          f"batch {BATCH}, {BITS} bits, float32")
    for name in args.networks.split(","):
        ours = compare(name, NETWORKS[name], x, y, W, args)
    tracemalloc.start()
    ours()
    print(f"\nour peak traced memory for one step ({name} network): "
          f"{tracemalloc.get_traced_memory()[1] / 2 ** 20:.0f} MB")
    tracemalloc.stop()
    profile = cProfile.Profile()
    profile.runcall(lambda: [ours() for _ in range(3)])
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(8)
    print(f"\nwhere our time goes ({name} network, 3 steps, cProfile, by own time):")
    print("\n".join(line for line in out.getvalue().splitlines() if line.strip())[-1400:])


if __name__ == "__main__":
    main()

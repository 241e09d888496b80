"""Training throughput of the reference network: ours (NumPy + autograd) against PyTorch (CPU).

Reference network: conv3x3 32-32, max-pool, 64-64, max-pool, 128, global average pool, 48-bit
tanh hashing layer, fixed 10-class ±1 proxies, batch 128, float32; one step = forward +
backward + Nesterov SGD update. Both run with 2 threads and are measured alternately in the
same run (the machines are shared and noisy, so the ratio is the figure to read). PyTorch is
only used here (pip install torch); without it the comparison is skipped.
Also prints our peak traced memory and where our time goes (cProfile, top functions).
Run: python benchmarks/bench_train.py [--rounds 3 --steps 10]
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
from hclm_ref.losses import proxy_loss
from hclm_ref.proxies import hclm_proxies
from hclm_ref.train import TrainConfig, sgd_step

BATCH, BITS, CLASSES, SCALE = 128, 48, 10, 8.0


def numpy_stepper(x, y, W):
    keep_freed_memory()                      # as train.train does (hclm_ref/_memory.py)
    params, state = network.init_params(np.random.default_rng(0), BITS)
    velocity = {k: np.zeros_like(v) for k, v in params.items()}
    cfg = TrainConfig()

    def objective(p):
        nu, _, _ = network.forward(p, x, state, train=True)
        return proxy_loss(nu, y, W, SCALE)
    grad_fn = value_and_grad(objective)

    def step():
        nonlocal params, velocity
        loss, grads = grad_fn(params)
        params, velocity = sgd_step(params, grads, velocity, 0.05, cfg)
        return loss
    return step


def torch_stepper(x, y, W):
    import torch
    torch.set_num_threads(2)
    torch.manual_seed(0)
    tnn = torch.nn

    def block(cin, cout):
        return [tnn.Conv2d(cin, cout, 3, padding=1, bias=False), tnn.BatchNorm2d(cout), tnn.ReLU()]
    net = tnn.Sequential(*block(3, 32), *block(32, 32), tnn.MaxPool2d(2), *block(32, 64),
                         *block(64, 64), tnn.MaxPool2d(2), *block(64, 128),
                         tnn.AdaptiveAvgPool2d(1), tnn.Flatten(), tnn.Linear(128, BITS), tnn.Tanh())
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
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


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, 32, 32, 3)).astype(np.float32)
    y = rng.integers(0, CLASSES, BATCH)
    W = hclm_proxies(CLASSES, BITS).astype(np.float32)
    ours = numpy_stepper(x, y, W)
    try:
        theirs, torch_version = torch_stepper(x, y, W)
    except ImportError:
        theirs, torch_version = None, None
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"NumPy {np.__version__}, PyTorch {torch_version or 'not installed (comparison skipped)'}")
    print(f"reference network, batch {BATCH}, {BITS} bits, float32; {args.rounds} alternating rounds "
          f"of {args.steps} steps\n")
    ours_ips, theirs_ips = [], []
    for r in range(args.rounds):
        ours_ips.append(images_per_second(ours, args.steps))
        line = f"round {r + 1}: ours {ours_ips[-1]:7.1f} images/s"
        if theirs:
            theirs_ips.append(images_per_second(theirs, args.steps))
            line += f" | PyTorch {theirs_ips[-1]:7.1f} images/s | ratio {ours_ips[-1] / theirs_ips[-1]:.2f}"
        print(line)
    med = float(np.median(ours_ips))
    print(f"\nmedian: ours {med:.1f} images/s", end="")
    if theirs:
        print(f", PyTorch {np.median(theirs_ips):.1f} images/s, ratio ours/PyTorch "
              f"{med / np.median(theirs_ips):.2f}")
    else:
        print()
    tracemalloc.start()
    ours()
    print(f"our peak traced memory for one step: {tracemalloc.get_traced_memory()[1] / 2 ** 20:.0f} MB")
    tracemalloc.stop()
    profile = cProfile.Profile()
    profile.runcall(lambda: [ours() for _ in range(3)])
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(8)
    print("\nwhere our time goes (3 steps, cProfile, by own time):")
    print("\n".join(line for line in out.getvalue().splitlines() if line.strip())[-1400:])


if __name__ == "__main__":
    main()

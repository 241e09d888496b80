"""The CIFAR-10 recipe ladder (issue #12): each rung adds one fast-training technique to the
one before, at the same number of epochs, and records what the validation split says (best
validation code accuracy, the model-selection score) beside the test figures.

    python benchmarks/recipe_ladder.py --data-dir ../shared/data [--epochs 4] [--rungs 0,1,2]

Every rung keeps its checkpoints in benchmarks/results/ladder/runs/ (not committed) and its
row in benchmarks/results/ladder/results.json, so an interrupted ladder continues where it
stopped; ladder.md is rewritten after every rung. Choices are made on the validation split,
never on the test columns.
"""

import argparse
import hashlib
import json
import os
import platform
import time
from dataclasses import replace

import numpy as np

from hclm_ref.data import load_cifar
from hclm_ref.protocols import supervised
from hclm_ref.train import TrainConfig

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "ladder")

BASE = TrainConfig(epochs=4, batch_size=128, lr=0.1, scale=8.0, scale_final=3.0, clean_epochs=0,
                   widths=(32, 32, "M", 64, 64, "M", 128))
# (name, what changes from the rung before, test-time views, kept): cumulative, except that a
# rung the validation split did not support (kept=False) is not carried into the next one
RUNGS = [
    ("reference recipe", {}, dict(flip=True), True),
    ("+ 2x2 patch whitening instead of the first conv", dict(widths=("W2", 32, "M", 64, 64, "M", 128)),
     dict(flip=True), True),
    ("+ identity init of the 3x3 convs", dict(identity_init=True), dict(flip=True), True),
    ("+ translate 2 (reflect) + alternating flip", dict(translate=2, reflect=True, alternate_flip=True),
     dict(flip=True), True),
    ("+ weight average (EMA 0.99)", dict(ema=0.99), dict(flip=True), False),
    ("+ TTA: translations by 1 pixel", {}, dict(flip=True, shift=1), False),
    ("+ batch norm without learned scale", dict(bn_scale=False), dict(flip=True), False),
    ("+ batch norm without learned scale, bias lr x4", dict(bn_scale=False, bn_bias_lr=4.0),
     dict(flip=True), False),
    ("+ batch norm without learned scale, bias lr x16", dict(bn_scale=False, bn_bias_lr=16.0),
     dict(flip=True), False),
]


def rung_configs(epochs):
    """[(name, TrainConfig, views)] of every rung: each applies its change to the last kept rung."""
    kept, out = replace(BASE, epochs=epochs), []
    for name, change, views, keep in RUNGS:
        cfg = replace(kept, **change)
        out.append((name, cfg, views))
        kept = cfg if keep else kept
    return out


def write_table(rows, path):
    lines = ["| rung | technique added | val code acc | test mAP@all (stable) | tie-aware | "
             "mean abs(nu - sgn nu) | test acc | training min |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['rung']} | {r['name']} | {r['val_code_accuracy']:.4f} | {r['map_stable']:.4f} | "
                     f"{r['map_expected']:.4f} | {r['binarization_error']:.3f} | {r['test_accuracy']:.4f} | "
                     f"{r['train_seconds'] / 60:.1f} |")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data-dir", default=None)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--rungs", default=None, help="comma-separated rung numbers (default all)")
    args = p.parse_args()
    os.makedirs(os.path.join(HERE, "runs"), exist_ok=True)
    results_path = os.path.join(HERE, "results.json")
    done = json.load(open(results_path)) if os.path.exists(results_path) else []
    ds = load_cifar("cifar10", args.data_dir)
    wanted = range(len(RUNGS)) if args.rungs is None else [int(r) for r in args.rungs.split(",")]
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"NumPy {np.__version__}; {args.epochs} epochs a rung", flush=True)
    for i, (name, cfg, views) in enumerate(rung_configs(args.epochs)):
        if i not in wanted or any(r["rung"] == i and r["epochs"] == args.epochs for r in done):
            continue
        t0 = time.time()
        # rungs that train the same configuration (e.g. one that only adds test-time views)
        # share a run folder, so the network is trained once
        tag = hashlib.sha1(json.dumps(vars(cfg), sort_keys=True, default=str).encode()).hexdigest()[:10]
        out = os.path.join(HERE, "runs", f"{tag}-e{args.epochs}")
        os.makedirs(out, exist_ok=True)
        rows, _ = supervised(ds, bits=48, config=cfg, out=out, resume=True, progress=True, **views)
        row = {"rung": i, "name": name, "epochs": args.epochs, **{k: rows[0][k] for k in (
            "val_code_accuracy", "map_stable", "map_expected", "binarization_error", "test_accuracy",
            "train_seconds")}, "itq_map": rows[2]["map_stable"], "total_seconds": time.time() - t0,
            "config": {k: v for k, v in vars(cfg).items()}, "views": views}
        done = [r for r in done if not (r["rung"] == i and r["epochs"] == args.epochs)] + [row]
        with open(results_path, "w") as f:
            json.dump(sorted(done, key=lambda r: (r["epochs"], r["rung"])), f, indent=1, default=str)
        write_table([r for r in sorted(done, key=lambda r: r["rung"]) if r["epochs"] == args.epochs],
                    os.path.join(HERE, f"ladder-{args.epochs}-epochs.md"))
        print(f"rung {i} ({name}): val code acc {row['val_code_accuracy']:.4f}, "
              f"test mAP {row['map_stable']:.4f}", flush=True)


if __name__ == "__main__":
    main()

"""Recipe ladders: each rung adds one technique to the one before, at the same number of
epochs, and records what the validation split says (best validation code accuracy, the
model-selection score) beside the test figures.

    python benchmarks/recipe_ladder.py --data-dir ../shared/data [--epochs 4] [--rungs 0,1,2]
    python benchmarks/recipe_ladder.py --ladder synthetic100 [--epochs 12]
    python benchmarks/recipe_ladder.py --ladder multilabel [--epochs 12]

cifar10 (issue #12): the fast-training techniques on CIFAR-10 at 48 bits. synthetic100 (issue
#16): what carries the recipe to 100 classes, on make_synthetic(n_classes=100) at 32 bits
(offline, minutes a rung). multilabel (issue #14): the same for the multi-label synthetic set,
one proxy a tag and the loss of Eq. (25), at 32 bits. Every rung keeps its checkpoints in
benchmarks/results/LADDER/runs/ (not committed) and its row in
benchmarks/results/LADDER/results.json, so an interrupted ladder continues where it stopped;
the table in LADDER/ladder-E-epochs.md is rewritten after every rung (text around it is kept).
Choices are made on the validation split, never on the test columns.
"""

import argparse
import hashlib
import json
import os
import platform
import time
from dataclasses import replace

import numpy as np

from hclm_ref.data import load_cifar, make_synthetic, make_synthetic_multilabel
from hclm_ref.protocols import supervised
from hclm_ref.train import TrainConfig

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")

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
     dict(flip=True), True),
    ("+ batch norm without learned scale, bias lr x16", dict(bn_scale=False, bn_bias_lr=16.0),
     dict(flip=True), False),
    ("+ wider: W2,48,M,96,96,M,192 (run 9)", dict(widths=("W2", 48, "M", 96, 96, "M", 192)),
     dict(flip=True), False),
    ("+ deeper, airbench93's shape: W2,64,M,64,128,M,128,128,M,128",
     dict(widths=("W2", 64, "M", 64, 128, "M", 128, 128, "M", 128)), dict(flip=True), True),
]


# 100 classes (issue #16): the synthetic preset's network and budget; views may also name the
# proxy set (supervised's `proxies`)
BASE_100 = TrainConfig(epochs=12, batch_size=64, lr=0.1, scale=8.0, scale_final=3.0, augment=False,
                       widths=(16, "M", 32, "M", 64))
RUNGS_100 = [
    ("the 10-class schedule: scale 8 -> 3", {}, dict(flip=True), True),
    ("+ automatic scale (probability 0.999 -> 0.75 at the proxies)", dict(scale="auto", scale_final="auto"),
     dict(flip=True), True),
    ("+ best proxies (coding theory)", {}, dict(flip=True, proxies="best"), False),
    ("+ sHCLM assigned by the 20 super-classes", {}, dict(flip=True, proxies="shclm"), False),
    ("+ wider network 32,M,64,M,128", dict(widths=(32, "M", 64, "M", 128)), dict(flip=True), False),
    ("+ sHCLM by super-classes and the wider network together", dict(widths=(32, "M", 64, "M", 128)),
     dict(flip=True, proxies="shclm"), True),
    ("+ augmentation (shifts by 4, flips)", dict(augment=True), dict(flip=True, proxies="shclm"), True),
    ("+ twice the epochs", dict(epochs=24), dict(flip=True, proxies="shclm"), True),
    ("+ Hamming triplet term (lambda 0.1, Eq. 24)", dict(triplet_weight=0.1),
     dict(flip=True, proxies="shclm"), False),
    ("+ twice the epochs, without augmentation", dict(augment=False), dict(flip=True, proxies="shclm"),
     False),
]

# multi-label (issue #14): make_synthetic_multilabel (one shape a quadrant), one proxy a tag and
# the loss of Eq. (25), 32 bits, a constant logit scale; its "val code acc" is the balanced tag
# accuracy of the codes (model.label_accuracy). The aim: the best validation score in about a
# minute of training
BASE_ML = TrainConfig(epochs=12, batch_size=64, lr=0.1, scale=8.0, scale_final=None, augment=True,
                      widths=("W2", 32, "M", 64, "M", 128), identity_init=True, bn_scale=False,
                      bn_bias_lr=4.0)
TOP = dict(flip=True, topk=1000)
SHCLM = dict(TOP, proxies="shclm")
RUNGS_ML = [
    ("the CIFAR techniques on W2,32,M,64,M,128, sHCLM by tag co-occurrence (Eq. 21), s = 8", {}, SHCLM, True),
    ("+ narrower: W2,16,M,32,M,64 (half the time)", dict(widths=("W2", 16, "M", 32, "M", 64)), SHCLM, True),
    ("+ a second conv at 15x15: W2,16,M,32,32,M,64", dict(widths=("W2", 16, "M", 32, 32, "M", 64)), SHCLM,
     False),
    ("+ HCLM instead of sHCLM", {}, TOP, False),
    ("+ wider last conv: W2,16,M,32,M,128", dict(widths=("W2", 16, "M", 32, "M", 128)), SHCLM, False),
    ("+ logit scale 4", dict(scale=4.0), SHCLM, False),
    ("+ logit scale 16", dict(scale=16.0), SHCLM, True),
]

LADDERS = {   # name -> (base config, rungs, code length, dataset maker(args))
    "cifar10": (BASE, RUNGS, 48, lambda args: load_cifar("cifar10", args.data_dir)),
    "synthetic100": (BASE_100, RUNGS_100, 32, lambda args: make_synthetic(5000, 1000, n_classes=100)),
    "multilabel": (BASE_ML, RUNGS_ML, 32, lambda args: make_synthetic_multilabel(5000, 1000)),
}


def rung_configs(epochs, base=BASE, rungs=RUNGS):
    """[(name, TrainConfig, views)] of every rung: each applies its change to the last kept rung."""
    kept, out = replace(base, epochs=epochs), []
    for name, change, views, keep in rungs:
        cfg = replace(kept, **change)
        out.append((name, cfg, views))
        kept = cfg if keep else kept
    return out


def write_table(rows, path):
    """The rungs' table in `path`, replacing the table there and keeping the text around it."""
    lines = ["| rung | technique added | val code acc | test mAP@all (stable) | tie-aware | "
             "mean abs(nu - sgn nu) | test acc | ITQ on q(x) | training min |", "|" + "---|" * 9]
    for r in rows:
        lines.append(f"| {r['rung']} | {r['name']} | {r['val_code_accuracy']:.4f} | {r['map_stable']:.4f} | "
                     f"{r['map_expected']:.4f} | {r['binarization_error']:.3f} | {r['test_accuracy']:.4f} | "
                     f"{r['itq_map']:.4f} | {r['train_seconds'] / 60:.1f} |")
    old = open(path).read().splitlines() if os.path.exists(path) else []
    table = [i for i, line in enumerate(old) if line.startswith("|")]
    before, after = (old[:table[0]], old[table[-1] + 1:]) if table else (old, [])
    with open(path, "w") as f:
        f.write("\n".join(before + lines + after) + "\n")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--ladder", default="cifar10", choices=sorted(LADDERS))
    p.add_argument("--data-dir", default=None)
    p.add_argument("--epochs", type=int, default=None,
                   help="epochs a rung (default 4 for cifar10, 12 for the synthetic ladders)")
    p.add_argument("--rungs", default=None, help="comma-separated rung numbers (default all)")
    args = p.parse_args()
    base, rungs, bits, make_dataset = LADDERS[args.ladder]
    args.epochs = args.epochs or (4 if args.ladder == "cifar10" else base.epochs)
    here = os.path.join(RESULTS, "ladder" if args.ladder == "cifar10" else f"ladder-{args.ladder}")
    os.makedirs(os.path.join(here, "runs"), exist_ok=True)
    results_path = os.path.join(here, "results.json")
    done = json.load(open(results_path)) if os.path.exists(results_path) else []
    ds = make_dataset(args)
    wanted = range(len(rungs)) if args.rungs is None else [int(r) for r in args.rungs.split(",")]
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"NumPy {np.__version__}; {args.epochs} epochs a rung", flush=True)
    for i, (name, cfg, views) in enumerate(rung_configs(args.epochs, base, rungs)):
        if i not in wanted or any(r["rung"] == i and r["epochs"] == args.epochs for r in done):
            continue
        t0 = time.time()
        # rungs that train the same configuration and proxies (e.g. one that only adds
        # test-time views) share a run folder, so the network is trained once
        key = json.dumps([vars(cfg), views.get("proxies", "hclm")], sort_keys=True, default=str)
        out = os.path.join(here, "runs", f"{hashlib.sha1(key.encode()).hexdigest()[:10]}-e{args.epochs}")
        os.makedirs(out, exist_ok=True)
        rows, _ = supervised(ds, bits=bits, config=cfg, out=out, resume=True, progress=True, **views)
        itq = [r for r in rows if r["method"] == "ITQ on q(x)"]
        row = {"rung": i, "name": name, "epochs": args.epochs, **{k: rows[0][k] for k in (
            "val_code_accuracy", "map_stable", "map_expected", "binarization_error", "test_accuracy",
            "train_seconds")}, "itq_map": itq[0]["map_stable"] if itq else float("nan"),
            "lsh_map": rows[1]["map_stable"], "total_seconds": time.time() - t0,
            "config": {k: v for k, v in vars(cfg).items()}, "views": views}
        done = [r for r in done if not (r["rung"] == i and r["epochs"] == args.epochs)] + [row]
        with open(results_path, "w") as f:
            json.dump(sorted(done, key=lambda r: (r["epochs"], r["rung"])), f, indent=1, default=str)
        write_table([r for r in sorted(done, key=lambda r: r["rung"]) if r["epochs"] == args.epochs],
                    os.path.join(here, f"ladder-{args.epochs}-epochs.md"))
        print(f"rung {i} ({name}): val code acc {row['val_code_accuracy']:.4f}, "
              f"test mAP {row['map_stable']:.4f}, ITQ {row['itq_map']:.4f}", flush=True)


if __name__ == "__main__":
    main()

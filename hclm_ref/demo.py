"""End to end: python -m hclm_ref.demo [synthetic|cifar10|cifar100|folder PATH] [options].

Designs the proxies, trains the CNN, hashes database (training set) and queries (test set),
evaluates with the CIFAR protocol and writes OUT/report.md with figures. --ablation trains one
network per proxy set (paper Fig. 3); --saturation one per constant logit scale (Fig. 4);
--transfer runs the four 75%/25% class splits (Sec. 5.3). With --seeds every row is a mean.
An OUT that already holds a run is kept: --resume continues (or re-reports) it. Exit status:
0 done; 2 bad input (one line on stderr; --debug for the traceback); 3 a network did not
learn (the report says which and why).
"""

import argparse
import json
import math
import os
import sys
import time
import warnings

import numpy as np

from . import plots
from ._progress import say
from .data import load_cifar, load_image_folder, load_tagged_folder, make_synthetic, make_synthetic_multilabel
from .margins import simplex_bound
from .network import parse_widths
from .protocols import (
    ablation,
    check_transfer,
    estimate_epochs,
    n_classes,
    proxy_margins,
    repeat,
    saturation,
    supervised,
    transfer,
)
from .proxies import PROXY_KINDS
from .search import hamming_topk
from .train import TrainConfig, TrainingWarning

PRESETS = {  # defaults chosen per dataset; every one can be overridden on the command line
    "synthetic": dict(widths="16,M,32,M,64", epochs=12, lr=0.1, batch_size=64, bits="16,32",
                      augment=False, clean_epochs=0, n_train=5000, n_test=1000, translate=4,
                      reflect=False, alternate_flip=False, identity_init=False, bn_scale=True,
                      bn_bias_lr=1.0, topk=None, proxies="hclm", scale="auto"),
    # the best rung of benchmarks/recipe_ladder.py on the validation split (issue #12): a frozen
    # 2x2 whitening layer, identity init, shifts by 2 with reflection, the alternating flip, batch
    # norm without learned scales and its biases at 4x the learning rate, and airbench93's deeper
    # shape (validation code accuracy 0.8584 in 4 epochs against 0.8136 for run 9's wider
    # W2,48,M,96,96,M,192), at the epochs that fit 30 minutes; the whitening bias frozen after
    # 3 epochs (airbench: no change in accuracy; here 6% faster steps)
    "cifar": dict(widths="W2,64,M,64,128,M,128,128,M,128", epochs=7, lr=0.1, batch_size=128, bits="48",
                  augment=True, clean_epochs=2, translate=2, reflect=True, alternate_flip=True,
                  identity_init=True, bn_scale=False, bn_bias_lr=4.0, whiten_bias_epochs=3, topk=None,
                  proxies="hclm", scale="auto"),
}
# CIFAR-100: the CIFAR-10 recipe at the paper's code lengths (Table 2); each network's budget is
# that of CIFAR-10's (about 25 minutes of training on the 2-core machine); --proxies shclm assigns the
# proxies by the 20 super-classes
PRESETS["cifar100"] = dict(PRESETS["cifar"], bits="16,32,64")
# a hundred synthetic classes (issue #16): the best rung of `recipe_ladder.py --ladder synthetic100`
# on the validation split: sHCLM assigned by the 20 super-classes, a wider network and twice the
# epochs, no augmentation (validation code accuracy 0.526 against 0.216 for the 10-class preset
# with the automatic scale; codes at mAP@all 0.488 against ITQ's 0.358 on the same features)
PRESETS["synthetic100"] = dict(PRESETS["synthetic"], widths="32,M,64,M,128", epochs=24, bits="32",
                               proxies="shclm")
# multi-label synthetic shapes (issue #14): the best rung of `recipe_ladder.py --ladder multilabel`
# on the validation split that trains in about a minute: the CIFAR techniques on a narrow network
# (a 2x2 whitening layer, identity init, batch norm without scales, biases at 4x the learning rate),
# sHCLM assigned by tag co-occurrence (Eq. 21), 12 epochs, a constant logit scale of 16 (4 and 8
# left the sigmoids of Eq. 25 short of confidence: validation balanced tag accuracy 0.641 and
# 0.743, against 0.780); mAP also over the top 1,000 of the ranking (NUS-WIDE's protocol: 50,000)
PRESETS["synthetic-multilabel"] = dict(PRESETS["synthetic"], widths="W2,16,M,32,M,64", bits="32",
                                       augment=True, identity_init=True, bn_scale=False, bn_bias_lr=4.0,
                                       proxies="shclm", scale=16.0, topk=1000)
EXIT_BAD_INPUT, EXIT_NOT_LEARNED = 2, 3


# ------------------------------------------------------------------ the command line

def _number(kind, low=None, low_open=False):
    """An argparse type: `kind` (int or float), finite, at least (or above) low."""
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {'an integer' if kind is int else 'a number'}, "
                                             f"got {text!r}") from None
        if not math.isfinite(value) or (low is not None and (value <= low if low_open else value < low)):
            raise argparse.ArgumentTypeError(f"expected a finite number {'>' if low_open else '>='} {low}, "
                                             f"got {text!r}")
        return value
    return parse


def _int_list(what, low, high=None, *, distinct=False):
    """An argparse type: comma-separated integers (what: their name in messages), each in
    low..high, all different if distinct."""
    def parse(text):
        try:
            values = [int(v) for v in text.split(",")]
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated {what}, got {text!r}") from None
        if any(v < low or (high is not None and v > high) for v in values):
            bound = f"lie in {low}..{high}" if high is not None else f"be >= {low}"
            raise argparse.ArgumentTypeError(f"{what} must {bound}, got {text!r}")
        if distinct and len(set(values)) != len(values):
            raise argparse.ArgumentTypeError(f"{what} must be distinct, got {text!r}")
        return values
    return parse


_bits = _int_list("code lengths", 1, 4096)
_seeds = _int_list("seeds", 0, distinct=True)


def _kinds(text):
    """Proxy kinds for --ablation: comma-separated keys of PROXY_KINDS, each once."""
    kinds = tuple(k.strip() for k in text.split(","))
    unknown = [k for k in kinds if k not in PROXY_KINDS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown proxy kind(s) {', '.join(map(repr, unknown))}; "
                                         f"expected some of {', '.join(PROXY_KINDS)}")
    if len(set(kinds)) != len(kinds):
        raise argparse.ArgumentTypeError(f"proxy kinds must be distinct, got {text!r}")
    return kinds


def _scale(text):
    """A logit scale: a number > 0, or "auto" (losses.automatic_scales)."""
    return "auto" if text == "auto" else _number(float, 0, low_open=True)(text)


def _scales(text):
    """Constant logit scales for --saturation: numbers > 0 or "d" (the code length, resolved
    once the bits are known), comma separated."""
    return tuple("d" if v.strip() == "d" else _number(float, 0, low_open=True)(v.strip())
                 for v in text.split(","))


def _widths(text):
    try:
        return parse_widths(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        """One line, not the usage block: what is wrong with which option."""
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see --help)\n")


def parse_args(argv):
    p = _Parser(prog="python -m hclm_ref.demo", description=__doc__,
                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dataset", nargs="?", default="synthetic",
                   choices=["synthetic", "synthetic-multilabel", "cifar10", "cifar100", "folder"],
                   help="what to hash (default synthetic)")
    p.add_argument("path", nargs="?", help="with 'folder': root/<class>/*.png|jpg, or the images "
                   "of --tags")
    p.add_argument("--tags", help="with 'folder': a file of lines 'file,tag;tag;...' (multi-label: "
                   "relevant = a shared tag, loss Eq. 25)")
    p.add_argument("--topk", type=_number(int, 1), help="also mAP over the top N of each ranking "
                   "(preset: 1000 for synthetic-multilabel)")
    p.add_argument("--data-dir", help="CIFAR folder or archive location (default $HCLM_REF_DATA "
                   "or ~/.cache/hclm_ref; downloaded there if missing)")
    p.add_argument("--bits", type=_bits,
                   help="code lengths, comma separated (preset: 16,32 synthetic, 48 CIFAR)")
    # default hclm: on CIFAR-10 (48 bits) sHCLM's reassignment after epoch 1 cost more than it
    # gave: validation code accuracy 0.836 vs 0.844 (test mAP@all 0.790 vs 0.793; 14 epochs)
    p.add_argument("--proxies", choices=[k for k, s in PROXY_KINDS.items() if not s.learned],
                   help="proxy set for the supervised run (preset: hclm; shclm for synthetic --classes 100, "
                   "assigned by its super-classes)")
    p.add_argument("--epochs", type=_number(int, 1), help="training epochs per network (preset per dataset)")
    p.add_argument("--minutes", type=_number(float, 0, low_open=True),
                   help="time budget per network: sets --epochs from the measured speed of a first "
                   "epoch-sized probe (overrides --epochs)")
    p.add_argument("--lr", type=_number(float, 0, low_open=True),
                   help="peak learning rate of the one-cycle schedule")
    p.add_argument("--batch-size", type=_number(int, 1), help="minibatch size")
    p.add_argument("--widths", type=_widths, help="conv widths, M = 2x2 max-pool, a first W2/W3 = frozen "
                   "patch whitening (e.g. 32,32,M,64,64,M,128 or W2,32,M,64,64,M,128)")
    p.add_argument("--scale", type=_scale,
                   help="logit scale s: logits s<nu,w>/d (default: the scale at which a network at its "
                   "proxies gives its class probability 0.999, about 8 for 10 classes; 16 for "
                   "synthetic-multilabel)")
    p.add_argument("--scale-final", type=_scale, default="auto",
                   help="logit scale at the end of training, linear schedule from --scale (default: "
                   "probability 0.75 at the proxies; about 3 for 10 classes)")
    p.add_argument("--triplet-weight", type=_number(float, 0), default=0.0,
                   help="lambda of Eq. 24 (default 0)")
    p.add_argument("--no-augment", dest="augment", action="store_false", default=None,
                   help="no random crops and flips")
    p.add_argument("--clean-epochs", type=_number(int, 0),
                   help="last epochs trained without augmentation (fits the database images)")
    p.add_argument("--translate", type=_number(int, 0),
                   help="largest random shift in pixels when augmenting (preset: 4 synthetic, 2 CIFAR)")
    p.add_argument("--reflect", action=argparse.BooleanOptionalAction,
                   help="pad shifted images by reflection, not zeros (preset: CIFAR yes)")
    p.add_argument("--alternate-flip", action=argparse.BooleanOptionalAction,
                   help="mirror each image every other epoch instead of at random (preset: CIFAR yes)")
    p.add_argument("--identity-init", action=argparse.BooleanOptionalAction,
                   help="identity (dirac) filters first in the 3x3 convs (preset: CIFAR yes)")
    p.add_argument("--bn-scale", action=argparse.BooleanOptionalAction,
                   help="learn the batch-norm scales (--no-bn-scale: frozen at 1)")
    p.add_argument("--bn-bias-lr", type=_number(float, 0, low_open=True),
                   help="learning-rate multiplier of the batch-norm and whitening biases")
    p.add_argument("--whiten-bias-epochs", type=_number(int, 0),
                   help="train the whitening layer's bias only for this many epochs (default: all)")
    p.add_argument("--ema", type=_number(float, 0), default=0.0,
                   help="decay of the weight average that is evaluated and kept (0: none; e.g. 0.99)")
    p.add_argument("--no-flip", dest="flip", action="store_false",
                   help="encode images without averaging with their mirror image")
    p.add_argument("--shift", type=_number(int, 0), default=0,
                   help="test-time augmentation: also average nu over translations by (s, s) and (-s, -s)")
    p.add_argument("--n-train", type=_number(int, 1), help="synthetic: training images (preset 5000)")
    p.add_argument("--n-test", type=_number(int, 1), help="synthetic: test images (preset 1000)")
    p.add_argument("--classes", type=int, choices=[10, 100], default=10,
                   help="synthetic: 10 classes (shape x fill) or 100 (x 5 hue families, 20 super-classes)")
    p.add_argument("--seed", type=_number(int, 0), default=0, help="random seed (same seed, same bits)")
    p.add_argument("--seeds", type=_seeds, help="several seeds, e.g. 0,1,2: every row becomes the mean "
                   "± standard deviation over them (the proxies' design stays that of seed 0)")
    p.add_argument("--out", help="output folder (default out/DATASET); one that holds a run is kept")
    p.add_argument("--resume", action="store_true", help="continue (or re-report) the run in --out")
    p.add_argument("--ablation", action="store_true", help="one network per proxy set (Fig. 3)")
    p.add_argument("--kinds", type=_kinds, default=tuple(PROXY_KINDS),
                   help="with --ablation: the proxy sets, comma separated (default all: "
                   f"{','.join(PROXY_KINDS)})")
    p.add_argument("--transfer", action="store_true", help="the four 75%%/25%% class splits (Sec. 5.3); "
                   "with --triplet-weight the networks train with the Hamming triplet term (Eq. 24)")
    p.add_argument("--saturation", action="store_true", help="one network per constant logit scale of "
                   "--scales: binarization against s (Fig. 4)")
    p.add_argument("--scales", type=_scales, default="1,3,8,d", help="with --saturation: constant logit "
                   "scales, d = the code length (Eq. 8 as written; default 1,3,8,d)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.add_argument("--debug", action="store_true", help="full tracebacks for errors")
    args = p.parse_args(argv)
    name = "synthetic100" if args.dataset == "synthetic" and args.classes == 100 else args.dataset
    preset = PRESETS.get(name, PRESETS["cifar"])                  # a folder: the CIFAR recipe
    from_preset = {key for key in preset if getattr(args, key, None) is None}
    for key in from_preset:
        setattr(args, key, preset[key])
    for key in {"clean_epochs", "whiten_bias_epochs"} & from_preset:     # a preset's, for fewer --epochs
        if getattr(args, key) is not None:
            setattr(args, key, min(getattr(args, key), args.epochs))
    args.bits = _bits(args.bits) if isinstance(args.bits, str) else args.bits
    args.widths = parse_widths(args.widths)
    if args.clean_epochs > args.epochs:
        p.error(f"argument --clean-epochs: {args.clean_epochs} is more than the {args.epochs} epochs")
    if args.tags and args.dataset != "folder":
        p.error("--tags goes with 'folder PATH' (the folder of the images it names)")
    if args.dataset == "folder" and not args.path:
        p.error("folder needs a PATH: python -m hclm_ref.demo folder PATH")
    args.out = args.out or os.path.join("out", args.dataset)
    args.scales = tuple(float(args.bits[0]) if v == "d" else v for v in args.scales)
    return args


def config_from(args):
    return TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, scale=args.scale,
                       scale_final=args.scale_final, triplet_weight=args.triplet_weight,
                       augment=args.augment, clean_epochs=args.clean_epochs, seed=args.seed,
                       widths=args.widths, translate=args.translate, reflect=args.reflect,
                       alternate_flip=args.alternate_flip, identity_init=args.identity_init, ema=args.ema,
                       bn_scale=args.bn_scale, bn_bias_lr=args.bn_bias_lr,
                       whiten_bias_epochs=args.whiten_bias_epochs)


def load_dataset(args):
    if args.dataset == "synthetic":
        return make_synthetic(args.n_train, args.n_test, seed=args.seed, n_classes=args.classes)
    if args.dataset == "synthetic-multilabel":
        return make_synthetic_multilabel(args.n_train, args.n_test, seed=args.seed)
    if args.dataset == "folder" and args.tags:
        return load_tagged_folder(args.path, args.tags, seed=args.seed)
    if args.dataset == "folder":
        return load_image_folder(args.path, seed=args.seed)
    return load_cifar(args.dataset, args.data_dir)


def check_out(out, resume):
    """Refuse an `out` that holds a finished or unfinished run, unless resuming."""
    if os.path.exists(out) and not os.path.isdir(out):
        raise ValueError(f"--out {out} is a file, not a folder")
    existing = [f for f in (os.listdir(out) if os.path.isdir(out) else [])
                if f == "report.md" or (f.startswith("checkpoint-") and f.endswith(".npz"))
                or (f.startswith("seed-") and os.path.isdir(os.path.join(out, f)))]
    if existing and not resume:
        raise ValueError(f"--out {out} already holds a run ({', '.join(sorted(existing)[:3])}); "
                         f"add --resume to continue or re-report it, or choose another --out")


# ------------------------------------------------------------------------ the report

TABLE_COLUMNS = (("method", "method", "{}"), ("bits", "bits", "{}"),
                 ("map_stable", "mAP@all (stable)", "{:.4f}"),
                 ("map_expected", "mAP@all (tie-aware)", "{:.4f}"),
                 ("map_top_stable", "mAP@top N (stable)", "{:.4f}"),
                 ("map_top_expected", "mAP@top N (tie-aware)", "{:.4f}"),
                 ("p_at_r2", "P@r<=2", "{:.4f}"), ("val_code_accuracy", "val code acc", "{:.4f}"),
                 ("scale", "s", "{:g}"), ("test_accuracy", "test acc", "{:.4f}"),
                 ("sign_accuracy", "test acc of sgn nu", "{:.4f}"),
                 ("binarization_error", "mean abs(nu - sgn nu)", "{:.3f}"),
                 ("avg_margin", "avg margin", "{:.3f}"),
                 ("min_dH", "min d_H", "{}"), ("probe_accuracy", "probe acc", "{:.4f}"),
                 ("train_seconds", "train s", "{:.0f}"))


def format_table(rows):
    """Markdown table of the columns any row has; over several seeds, mean ± standard deviation."""
    cols = [c for c in TABLE_COLUMNS if any(c[0] in r for r in rows)]
    lines = ["| " + " | ".join(c[1] for c in cols) + " |", "|" + "---|" * len(cols)]

    def cell(r, key, fmt):
        if key not in r:
            return ""
        spread = f" ± {fmt.format(r[key + '_std'])}" if r.get("seeds", 1) > 1 and key + "_std" in r else ""
        return fmt.format(r[key]) + spread
    for r in rows:
        lines.append("| " + " | ".join(cell(r, key, fmt) for key, _, fmt in cols) + " |")
    return "\n".join(lines)


def draw_figures(ds, figures, args):
    """The supervised run's figures in args.out: {name: path}."""
    out, C, bits = args.out, n_classes(ds.y_train), figures["bits"]
    pick = np.random.default_rng(args.seed).choice(len(ds.x_test), min(8, len(ds.x_test)), replace=False)
    top, _ = hamming_topk(figures["query_codes"][pick], figures["db_codes"], min(10, len(ds.x_train)))
    return {"binarization": plots.plot_binarization(figures["nu"], os.path.join(out, "binarization.png")),
            "curves": plots.plot_curves(figures["curves"], os.path.join(out, "pk_pr.png")),
            "retrievals": plots.retrieval_grid(ds.x_test[pick], ds.y_test[pick], ds.x_train, ds.y_train,
                                               top, os.path.join(out, "retrievals.png")),
            "margins": plots.plot_margins(proxy_margins(C, bits, seed=args.seed),
                                          os.path.join(out, "margins.png"), bound=simplex_bound(C),
                                          title=f"Average class margin, C={C}, d={bits}")}


def _write_atomically(path, text):
    with open(f"{path}.tmp", "w") as f:
        f.write(text)
    os.replace(f"{path}.tmp", path)


def write_report(args, argv, sections, figs, elapsed):
    relevant = "sharing a tag" if args.tagged else "same class"
    notes = f" mAP@top N runs over the first N = {args.topk} of each ranking." if args.topk else ""
    if args.transfer:
        notes += (" In the transfer rows (Sec. 5.3) each network trains on 3/4 of the classes, the database"
                  " is the unseen quarter's training images and the queries are their test images.")
    lines = [f"# hclm_ref demo: {args.dataset}", "",
             f"Command: `python -m hclm_ref.demo {' '.join(argv)}` — {elapsed / 60:.1f} min in all.", "",
             f"Protocol: queries = test set, database = training set, relevant = {relevant}, ranking by "
             f"Hamming distance.{notes} mAP@all (stable) breaks distance ties by database index; the "
             "tie-aware mAP is the exact expectation over random orders within ties. P@r<=2 counts a query "
             "with nothing within radius 2 as precision 0.", ""]
    problems = [f"- {r['method']} ({r['bits']} bits): {w}" for _, rows in sections for r in rows
                for w in r.get("warnings", ())]
    if problems:
        lines += ["## Warning: a network did not learn", "", *problems, ""]
    for title, rows in sections:
        lines += [f"## {title}", "", format_table(rows), ""]
    for name, path in figs.items():
        lines += [f"![{name}]({os.path.basename(path)})", ""]
    _write_atomically(os.path.join(args.out, "report.md"), "\n".join(lines))
    _write_atomically(os.path.join(args.out, "results.json"),
                      json.dumps({t: rows for t, rows in sections}, indent=1))
    return problems


# ------------------------------------------------------------------------------ main

def run(args, argv):
    """Everything after parsing; returns the exit status."""
    check_out(args.out, args.resume)
    t0 = time.time()
    ds = load_dataset(args)
    args.tagged = np.ndim(ds.y_train) == 2
    if args.tagged and (args.transfer or args.ablation or args.saturation):
        raise ValueError("--transfer, --ablation and --saturation are protocols for classes; multi-label "
                         "data runs the supervised protocol")
    if args.transfer:
        check_transfer(ds)                         # before training anything
    os.makedirs(args.out, exist_ok=True)
    config = config_from(args)
    if args.minutes:
        config.epochs = estimate_epochs(ds, args.minutes, config)
        say(f"time budget {args.minutes} min: {config.epochs} epochs")
    common = dict(config=config, flip=args.flip, out=args.out, resume=args.resume, progress=not args.quiet)
    views = dict(shift=args.shift, topk=args.topk)
    sections, figs = [], {}

    def run_protocol(protocol, **kwargs):                     # one seed, or several (repeat)
        if args.seeds:
            return repeat(protocol, ds, args.seeds, **common, **kwargs)
        return protocol(ds, **common, **kwargs)
    if args.ablation:
        rows, figures = run_protocol(ablation, bits=args.bits[0], kinds=args.kinds)
        sections.append(("Ablation: proxy sets (paper Fig. 3)", rows))
        figs["ablation-nu"] = plots.plot_nu_histograms(figures["nu"],
                                                       os.path.join(args.out, "ablation-nu.png"))
    if args.saturation:
        rows, figures = run_protocol(saturation, bits=args.bits[0], scales=args.scales, proxies=args.proxies)
        sections.append(("Saturation against the logit scale (paper Fig. 4, Eq. 8)", rows))
        figs["saturation"] = plots.plot_saturation(rows, os.path.join(args.out, "saturation.png"))
        figs["saturation-nu"] = plots.plot_nu_histograms(
            figures["nu"], os.path.join(args.out, "saturation-nu.png"),
            title=f"nu of the test images at constant logit scales, {figures['bits']} bits")
    if args.transfer:
        sections.append(("Transfer to unseen classes (paper Sec. 5.3)",
                         run_protocol(transfer, bits=args.bits[0], proxies=args.proxies)))
    if not (args.ablation or args.transfer or args.saturation):
        rows, figures = run_protocol(supervised, bits=args.bits, proxies=args.proxies, **views)
        figs.update(draw_figures(ds, figures, args))
        sections.append(("Supervised retrieval", rows))
    problems = write_report(args, argv, sections, figs, time.time() - t0)
    for title, rows in sections:
        print(f"\n{title}\n{format_table(rows)}")
    print(f"\nreport: {os.path.join(args.out, 'report.md')}")
    if problems:
        print(f"warning: {len(problems)} problem(s) with the training; see the report's warning section",
              file=sys.stderr)
        return EXIT_NOT_LEARNED
    return 0


def _one_line_warning(message, category, *args, **kwargs):
    print(f"warning: {message}", file=sys.stderr, flush=True)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default", TrainingWarning)       # each distinct message once
            warnings.showwarning = _one_line_warning
            status = run(args, argv)
    except (ValueError, OSError, FloatingPointError) as err:   # bad input, files, divergence
        if args.debug:
            raise
        print(f"python -m hclm_ref.demo: error: {' '.join(str(err).split())}", file=sys.stderr)
        status = EXIT_BAD_INPUT
    if status:
        raise SystemExit(status)


if __name__ == "__main__":
    main()

"""The paper's protocols as functions: supervised retrieval (Sec. 5.1), the proxy-set ablation
(Fig. 3), saturation against the logit scale (Fig. 4), transfer to unseen classes (Sec. 5.3),
and the epochs that fit a time budget.

Each takes a Dataset and keyword arguments and returns rows (dicts, one per method and code
length); supervised, ablation and saturation return (rows, figures), the data of their
figures. demo.py only parses the command line and writes the report. With out=FOLDER every
network keeps a checkpoint there, so a protocol interrupted at any point continues with
resume=True. config.seed sets the initialisation, the data order and the validation split;
proxy_seed the proxies' design (and the transfer splits), so that repeat() can run a protocol
with several seeds over the same proxies. sHCLM's proxies
are assigned by super-classes where the dataset has them (design_proxies), else by the
network's own features after its first epoch.

    from hclm_ref.data import make_synthetic
    from hclm_ref.protocols import ablation
    from hclm_ref.train import TrainConfig
    rows, figures = ablation(make_synthetic(500, 100), bits=16, config=TrainConfig(epochs=1, widths=(8,)))
"""

import os
import time
import warnings
from dataclasses import replace

import numpy as np

from ._progress import say
from ._validate import check_float, check_int
from .baselines import ITQ, LSH, LinearProbe
from .margins import class_margins, min_hamming_distance
from .metrics import evaluate, mean_average_precision
from .model import label_accuracy
from .proxies import DESIGNED_KINDS, PROXY_KINDS, class_similarity, make_proxies, tag_similarity
from .search import sign
from .train import TrainConfig, TrainingWarning, check_config, train


def n_classes(y):
    """Number of classes of labels y: (N,) ids -> max + 1; (N, T) tags -> T."""
    return y.shape[1] if np.ndim(y) == 2 else int(np.max(y)) + 1


def _check_kind(kind, name="proxies"):
    if kind not in PROXY_KINDS:
        raise ValueError(f"{name} must be one of {tuple(PROXY_KINDS)}; got {kind!r}")
    return kind


def _check_bits(bits):
    one = isinstance(bits, (int, np.integer)) and not isinstance(bits, bool)
    bits = (bits,) if one else tuple(bits)
    if not bits:
        raise ValueError("bits must name at least one code length")
    return tuple(check_int(b, "bits", 1, 4096) for b in bits)


def superclass_similarity(y, coarse):
    """Class similarities from super-classes: Eqs. (19-20) with the one-hot super-class as the
    feature of every image, so s_ij = 1 for two classes of one super-class and
    exp(-1 / kappa^2) (kappa = the mean distance between class means) otherwise.
    y (N,) class ids, coarse (N,) super-class ids. Returns (C, C)."""
    coarse = np.asarray(coarse)
    return class_similarity(np.eye(int(coarse.max()) + 1)[coarse], y)


def design_proxies(kind, y, n_bits, *, coarse=None, seed=0):
    """The proxies of `kind` for labels y (class ids, or multi-hot tags: one proxy a tag). A
    semantic kind (sHCLM) is assigned by similarity (Eq. 18): of the tags by their
    co-occurrence (Eq. 21), of classes by their super-classes `coarse`
    (superclass_similarity); with neither, training assigns it from the network's own
    features after epoch 1. Returns (W, assigned)."""
    tagged = np.ndim(y) == 2
    assign = PROXY_KINDS[kind].semantic and (tagged or coarse is not None)
    S = None if not assign else tag_similarity(y) if tagged else superclass_similarity(y, coarse)
    return make_proxies(kind, n_classes(y), n_bits, similarity=S, seed=seed), assign


def network_config(kind, config, assigned=False):
    """The configuration train_network trains `kind` with: proxies learned or not, and for a
    semantic kind not yet `assigned` the assignment by the network's features after epoch 1
    (which needs a second epoch). Checked: a ValueError says what does not fit."""
    spec = PROXY_KINDS[kind]
    return check_config(replace(config, learn_proxies=spec.learned,
                                semantic_epoch=1 if spec.semantic and not assigned else 0))


def train_network(x, y, kind, W, config, *, out=None, resume=False, progress=True, name=None,
                  assigned=False):
    """Train one network on (x, y) with the proxies W of `kind` (PROXY_KINDS decides whether
    they are learned and whether training assigns them by similarity, unless `assigned`: the
    rows of W already belong to their classes). Its checkpoint is
    out/checkpoint-NAME-BITS-CLASSES.npz (NAME defaults to the kind). Returns
    (HashingModel, training seconds)."""
    cfg, ckpt = network_config(kind, config, assigned), None
    if out:
        os.makedirs(out, exist_ok=True)
        ckpt = os.path.join(out, f"checkpoint-{name or kind}-{W.shape[1]}-{len(W)}.npz")
    t0 = time.time()
    model = train(x, y, W, cfg, checkpoint=ckpt, resume=resume, progress=progress)
    return model, time.time() - t0


def retrieval_scores(query_codes, query_labels, db_codes, db_labels, topk=None):
    """The supervised protocol's numbers for query codes against database codes
    (metrics.evaluate at Hamming radius 2, its p_at_radius named p_at_r2; with topk also the
    mAP over the top topk, the multi-label protocol's)."""
    res = evaluate(query_codes, query_labels, db_codes, db_labels, radius=2, topk=topk)
    res["p_at_r2"] = res.pop("p_at_radius")
    return res


def network_scores(model, ds, *, flip=True, shift=0, topk=None):
    """What every protocol reports of a network trained on ds, queries = its test images and
    database = its training images: the retrieval scores of the codes sgn nu
    (retrieval_scores), the accuracy of nu and of sgn nu at the proxies (sgn nu is classified
    by its nearest binarized proxy in Hamming distance), the mean |nu - sgn nu| of the queries
    and the best validation code accuracy of training. flip, shift: the test-time views of
    HashingModel.encode. Returns (row, (nu_db, q_db), (nu_query, q_query))."""
    nu_d, q_d = model.encode(ds.x_train, flip=flip, shift=shift)
    nu_q, q_q = model.encode(ds.x_test, flip=flip, shift=shift)
    row = {"test_accuracy": label_accuracy(nu_q @ model.proxies.T, ds.y_test),
           "sign_accuracy": label_accuracy(sign(nu_q) @ sign(model.proxies).T, ds.y_test),
           "binarization_error": float(np.mean(1 - np.abs(nu_q)))}
    row.update({k: v for k, v in model.history[model.best_epoch - 1].items() if k == "val_code_accuracy"})
    row.update(retrieval_scores(sign(nu_q), ds.y_test, sign(nu_d), ds.y_train, topk))
    return row, (nu_d, q_d), (nu_q, q_q)


def baseline_codes(bits, q_db, q_query, seed=0):
    """The unsupervised baselines on a network's features: LSH and ITQ fitted on the database
    features q_db (N, p), then both sets hashed. ITQ is left out when bits > p (it rotates a
    PCA of q). Returns {"LSH": (db codes, query codes), "ITQ": ...}."""
    out = {}
    for name, baseline in (("LSH", LSH(bits, seed=seed)), ("ITQ", ITQ(bits, seed=seed))):
        if name == "ITQ" and bits > q_db.shape[1]:
            continue
        baseline.fit(q_db)
        out[name] = baseline.encode(q_db), baseline.encode(q_query)
    return out


def _with_warnings(row, model):
    if model.warnings:
        row["warnings"] = list(model.warnings)
    return row


# -------------------------------------------------------------------- supervised (Sec. 5.1)

def supervised(ds, *, bits=(48,), proxies="hclm", config=None, flip=True, shift=0, out=None,
               resume=False, progress=True, proxy_seed=0, topk=None):
    """Train and evaluate one network per code length; LSH and ITQ on its features q(x).

    Queries = ds test images, database = ds training images (the CIFAR protocol). Returns
    (rows, figures): rows, one dict per method and code length (map_stable, map_expected,
    p_at_r2, ...; the network's row also its best validation code accuracy); flip and shift
    are the test-time views of HashingModel.encode; figures, the data of the report's figures
    for the first code length (nu of the queries, query and database codes, P@k and PR curves
    of every method). Multi-hot labels (N, T) make it the multi-label protocol: one proxy a
    tag, the loss of Eq. (25), relevance = a shared tag; topk adds mAP over the top topk.
    """
    bits, kind = _check_bits(bits), _check_kind(proxies)
    config = check_config(config or TrainConfig())
    rows, curves, figures = [], {}, None
    for d in bits:
        W, assigned = design_proxies(kind, ds.y_train, d, coarse=ds.coarse_train, seed=proxy_seed)
        model, seconds = train_network(ds.x_train, ds.y_train, kind, W, config, out=out,
                                       resume=resume, progress=progress, assigned=assigned)
        scores, (nu_d, q_d), (nu_q, q_q) = network_scores(model, ds, flip=flip, shift=shift, topk=topk)
        rows.append(_with_warnings({"method": kind, "bits": d, **scores, "train_seconds": seconds,
                                    "epochs": config.epochs}, model))
        curves[f"{kind} {d} bits"] = scores
        for name, (bd, bq) in baseline_codes(d, q_d, q_q, config.seed).items():
            res_b = retrieval_scores(bq, ds.y_test, bd, ds.y_train, topk)
            rows.append({"method": f"{name} on q(x)", "bits": d, **res_b})
            curves[f"{name} {d} bits"] = res_b
        if progress:
            say("  ".join(f"{r['method']} {d} bits: mAP@all {r['map_stable']:.4f}"
                          for r in rows if r["bits"] == d))
        if figures is None:
            figures = {"bits": d, "nu": nu_q, "query_codes": sign(nu_q), "db_codes": sign(nu_d)}
    figures["curves"] = curves
    return rows, figures


def proxy_margins(n_classes, n_bits, *, seed=0):
    """Average class margin (Eq. 13) of every designed proxy set that exists for (C, d)."""
    margins = {}
    for kind in DESIGNED_KINDS:
        try:
            W = make_proxies(kind, n_classes, n_bits, seed=seed)
        except ValueError:
            continue                                  # e.g. hadamard off powers of two
        margins[kind] = float(class_margins(W).mean())
    return margins


# ----------------------------------------------------------------------- ablation (Fig. 3)

def ablation(ds, *, bits=48, kinds=tuple(PROXY_KINDS), config=None, flip=True, out=None,
             resume=False, progress=True, proxy_seed=0):
    """Paper Fig. 3: one network per proxy set, with the same budget, at one code length.

    A kind that does not exist for (C, bits) (hadamard off powers of two) is skipped with a
    note. Returns (rows, figures): rows, one per kind, with the proxies' average class margin
    (Eq. 13) and min d_H (of the trained proxies, binarized, for learned ones) beside
    network_scores; figures {"bits", "nu": {kind: nu of the test images}} (paper Fig. 4).
    """
    (bits,), config = _check_bits(bits), check_config(config or TrainConfig())
    kinds = tuple(_check_kind(k, "kinds") for k in kinds)
    if len(set(kinds)) != len(kinds):
        raise ValueError(f"kinds must be distinct (one network and one row a proxy set); got {kinds}")
    rows, nus, designs = [], {}, {}
    for kind in kinds:                        # every design and configuration before any training
        try:
            designs[kind] = design_proxies(kind, ds.y_train, bits, coarse=ds.coarse_train, seed=proxy_seed)
        except ValueError as err:
            say(f"skipping {kind}: {err}")
            continue
        network_config(kind, config, designs[kind][1])
    for kind, (W, assigned) in designs.items():
        model, seconds = train_network(ds.x_train, ds.y_train, kind, W, config, out=out,
                                       resume=resume, progress=progress, assigned=assigned)
        scores, _, (nus[kind], _) = network_scores(model, ds, flip=flip)
        rows.append(_with_warnings({
            "method": kind, "bits": bits, "avg_margin": float(class_margins(model.proxies).mean()),
            "min_dH": min_hamming_distance(sign(model.proxies)), **scores, "train_seconds": seconds},
            model))
        if progress:
            say(f"{kind}: mAP@all {rows[-1]['map_stable']:.4f}")
    return rows, {"bits": bits, "nu": nus}


# --------------------------------------------------------------- saturation (Fig. 4, Eq. 8)

def saturation(ds, *, bits=48, scales=(1.0, 3.0, 8.0, 48.0), proxies="hclm", config=None, flip=True,
               out=None, resume=False, progress=True, proxy_seed=0):
    """The logit scale s of Eq. (8) against binarization: one network per constant s (no
    schedule), the same proxies and budget. s = bits is Eq. (8) as the paper writes it
    (logits <nu, w>); a small s cannot reach a confident class at the proxies
    (losses.loss_at_proxies), so the loss keeps pulling nu towards the corners; a large one
    is content well inside the cube. Returns (rows, figures): rows, one per scale (method
    "s = S", scale, network_scores); figures {"bits", "nu": {"s = S": nu of the test images}}.
    """
    (bits,), kind = _check_bits(bits), _check_kind(proxies)
    config = check_config(config or TrainConfig())
    scales = tuple(check_float(s, "scales", low=0, low_open=True) for s in np.atleast_1d(scales))
    W, assigned = design_proxies(kind, ds.y_train, bits, coarse=ds.coarse_train, seed=proxy_seed)
    rows, nus = [], {}
    for s in scales:
        constant = replace(config, scale=s, scale_final=s)
        model, seconds = train_network(ds.x_train, ds.y_train, kind, W, constant, out=out, resume=resume,
                                       progress=progress, assigned=assigned, name=f"{kind}-s{s:g}")
        scores, _, (nu_q, _) = network_scores(model, ds, flip=flip)
        rows.append(_with_warnings({"method": f"s = {s:g}", "bits": bits, "scale": s, **scores,
                                    "train_seconds": seconds}, model))
        nus[rows[-1]["method"]] = nu_q
        if progress:
            say(f"{rows[-1]['method']}: mAP@all {rows[-1]['map_stable']:.4f}, "
                f"mean |nu - sgn nu| {rows[-1]['binarization_error']:.3f}")
    return rows, {"bits": bits, "nu": nus}


# ---------------------------------------------------------------------- transfer (Sec. 5.3)

def check_transfer(ds):
    """The number of classes of ds, or a ValueError if the transfer protocol cannot split them."""
    C = n_classes(ds.y_train)
    if np.ndim(ds.y_train) != 1 or C < 8:
        raise ValueError(f"the transfer protocol needs single-label data with at least 8 classes "
                         f"(each quarter held out must hold 2 for the probe); the dataset has {C}")
    return C


def transfer(ds, *, bits=48, proxies="hclm", config=None, flip=True, out=None, resume=False,
             progress=True, proxy_seed=0):
    """Sec. 5.3: train on 75% of the classes; hash the unseen 25% (database = their training
    images, queries = their test images); retrieval mAP and linear-probe accuracy, for each
    of the four splits and their mean, of the network's codes and of LSH and ITQ on its
    features q(x) (fitted on the unseen database). Needs C >= 8, so that every split leaves
    at least two unseen classes for the probe to tell apart. With config.triplet_weight > 0
    the network trains with the Hamming triplet term (Eq. 24), which the paper credits for
    transfer; its rows say "+ triplet"."""
    (bits,), kind = _check_bits(bits), _check_kind(proxies)
    config = check_config(config or TrainConfig())
    C, rows = check_transfer(ds), []
    triplet = config.triplet_weight > 0
    network = kind + (" + triplet" if triplet else "")
    by_method = {}                                    # method -> its row of each split
    quarters = np.array_split(np.random.default_rng(proxy_seed).permutation(C), 4)     # fixed splits
    for split, unseen in enumerate(quarters):
        seen = np.setdiff1d(np.arange(C), unseen)
        relabel = np.full(C, -1)
        relabel[seen] = np.arange(len(seen))
        keep = np.isin(ds.y_train, seen)
        W = make_proxies(kind, len(seen), bits, seed=proxy_seed)
        model, seconds = train_network(ds.x_train[keep], relabel[ds.y_train[keep]], kind, W, config,
                                       out=out, resume=resume, progress=progress,
                                       name=f"{kind}{'-triplet' if triplet else ''}-split{split + 1}")
        db, q = np.isin(ds.y_train, unseen), np.isin(ds.y_test, unseen)
        nu_d, q_d = model.encode(ds.x_train[db], flip=flip)
        nu_q, q_q = model.encode(ds.x_test[q], flip=flip)
        codes = {network: (sign(nu_d), sign(nu_q)),
                 **{f"{name} on q(x)": c for name, c in baseline_codes(bits, q_d, q_q, config.seed).items()}}
        for method, (bd, bq) in codes.items():
            probe = LinearProbe().fit(bd, ds.y_train[db])
            row = {"method": f"split {split + 1} (unseen {sorted(unseen.tolist())}): {method}", "bits": bits,
                   "map_stable": mean_average_precision(bq, ds.y_test[q], bd, ds.y_train[db]),
                   "probe_accuracy": probe.score(bq, ds.y_test[q])}
            if method == network:
                row = _with_warnings({**row, "train_seconds": seconds}, model)
            rows.append(row)
            by_method.setdefault(method, []).append(row)
        if progress:
            say("  ".join(f"{r['method']}: mAP@all {r['map_stable']:.4f}" for r in rows[-len(codes):]))
    for method, mine in by_method.items():
        rows.append({"method": f"mean of 4 splits: {method}", "bits": bits,
                     **{k: float(np.mean([r[k] for r in mine])) for k in ("map_stable", "probe_accuracy")}})
    return rows


# --------------------------------------------------------------------------- time budget

def estimate_epochs(ds, minutes, config=None):
    """Epochs that fit `minutes` of training: time one epoch of 20 steps on the first images,
    then divide the budget by the projected time of an epoch over the training part."""
    minutes = check_float(minutes, "minutes", low=0, low_open=True)
    config = check_config(config or TrainConfig())
    n = min(len(ds.x_train), 20 * config.batch_size)
    probe = replace(config, epochs=1, val_fraction=0.0, semantic_epoch=0, clean_epochs=0)
    W = make_proxies("hclm", n_classes(ds.y_train), 16)
    t = time.time()
    with warnings.catch_warnings():                  # 20 steps are not expected to learn much
        warnings.simplefilter("ignore", TrainingWarning)
        train(ds.x_train[:n], ds.y_train[:n], W, probe, progress=False)
    epoch_seconds = (time.time() - t) / n * len(ds.x_train) * (1 - config.val_fraction)
    return max(1, int(minutes * 60 / epoch_seconds))


# ------------------------------------------------------------------------------- seeds

def repeat(protocol, ds, seeds, *, config=None, out=None, **kwargs):
    """Run protocol(ds, config=config with seed s, ...) for each s in seeds and summarise.

    Each seed's networks keep their checkpoints in out/seed-S. Returns rows matched by
    (method, bits): every number is the mean over the seeds, with its sample standard
    deviation as NAME_std and the count as "seeds"; a protocol with figures also returns those
    of the first seed. A seed's warnings are kept, prefixed by the seed.
    """
    seeds = tuple(check_int(s, "seeds", 0) for s in seeds)
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct integers, at least one; got {seeds}")
    config = check_config(config or TrainConfig())
    runs, figures = [], None
    for s in seeds:
        result = protocol(ds, config=replace(config, seed=s), out=out and os.path.join(out, f"seed-{s}"),
                          **kwargs)
        rows = result[0] if isinstance(result, tuple) else result
        figures = figures if figures is not None or not isinstance(result, tuple) else result[1]
        runs.append((s, rows))
    summary = [_summarise([rows[i] for _, rows in runs], [s for s, _ in runs])
               for i in range(len(runs[0][1]))]
    return (summary, figures) if figures is not None else summary


def verdict(a, sa, b, sb, larger=True):
    """'holds', 'does not hold' or 'within noise' for the claim a > b (a < b if not larger),
    a and b means over seeds with standard deviations sa and sb (0 for a single seed). With
    two or three seeds a t-test says little, so the rule is plain: the difference must exceed
    sa + sb in one direction or the other. It is not a significance test: with two seeds a
    claim that is false still "holds" about one time in ten (tutorials/10-the-papers-claims-
    at-our-scale.md simulates it)."""
    diff = (a - b) if larger else (b - a)
    if diff > sa + sb:
        return "holds"
    if -diff > sa + sb:
        return "does not hold"
    return "within noise"


def _summarise(rows, seeds):
    """One row from the same row of several seeds: means, sample std (NAME_std), "seeds"."""
    if any(r["method"] != rows[0]["method"] for r in rows):
        raise ValueError(f"the seeds produced different rows: {[r['method'] for r in rows]}")
    out = {"seeds": len(rows)}
    for key, value in rows[0].items():
        if key in ("method", "bits"):
            out[key] = value
        elif isinstance(value, (float, int)) and not isinstance(value, bool):
            values = np.array([r[key] for r in rows], np.float64)
            out[key] = float(values.mean())
            out[f"{key}_std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    problems = [f"seed {s}: {w}" for s, r in zip(seeds, rows) for w in r.get("warnings", ())]
    return {**out, "warnings": problems} if problems else out

"""Training the hashing network with fixed proxies: minibatch SGD, checkpoints, model selection.

One epoch = one pass over the training part (the validation split is held out, never the test
set). Every random choice of epoch e comes from numpy.random.default_rng([seed, e]), so a run
resumed from the checkpoint of epoch e is bit-identical to an uninterrupted one. A checkpoint
is one .npz (no pickle), written atomically after every epoch; it records the configuration
and a fingerprint of the data and proxies, and resuming refuses a checkpoint that differs.
Derived in tutorials/06-training-with-fixed-proxies.md.
"""

import hashlib
import json
import math
import os
import time
import warnings
from dataclasses import asdict, dataclass, field, replace

import numpy as np
from autograd import value_and_grad
from autograd.tracer import getval

from . import network
from ._memory import keep_freed_memory
from ._progress import progress_bar, say
from ._validate import as_matrix, check_float, check_images, check_int, check_labels
from .data import alternating_flips, augment, channel_stats, normalise, validation_split
from .losses import DEFAULT_SCALE, OBJECTIVES, automatic_scales, choose_objective
from .model import HashingModel, label_accuracy, load_arrays, save_arrays
from .proxies import class_similarity, semantic_assignment


class TrainingWarning(UserWarning):
    """A run that finished but did not learn (see training_warnings)."""


@dataclass
class TrainConfig:
    """Hyper-parameters of train(); every field is checked by check_config."""
    epochs: int = 6                  # passes over the training part
    batch_size: int = 128            # images per SGD step (shrunk, with a warning, to fit tiny sets)
    lr: float = 0.05                 # peak learning rate of the one-cycle schedule
    warmup: float = 0.15             # fraction of the steps spent warming up linearly to lr
    momentum: float = 0.9            # Nesterov momentum
    weight_decay: float = 5e-4       # L2 on conv kernels and L (not on biases, batch norm, proxies)
    scale: float = "auto"            # logit scale s of losses.proxy_logits: logits s <nu, w> / d;
    scale_final: float = "auto"      # s moves linearly from scale to this (None: constant); "auto":
    #                                  losses.automatic_scales of the proxies (train() resolves it)
    loss: str = "auto"               # a key of losses.OBJECTIVES, or "auto" (losses.choose_objective)
    triplet_weight: float = 0.0      # lambda of Eq. (24); 0 = proxy loss alone
    triplet_margin: float = 2.0      # margin m of the triplet loss (Eq. 22), in bits
    learn_proxies: bool = False      # train the proxies too (the paper's "Learned" ablation)
    augment: bool = True             # random translations and horizontal flips
    translate: int = 4               # largest shift in pixels (the padding of the random crop)
    reflect: bool = False            # pad by reflection instead of zeros (no black borders)
    alternate_flip: bool = False     # mirror each image every other epoch instead of at random
    clean_epochs: int = 0            # last epochs without augmentation (fit the database images)
    semantic_epoch: int = 0          # after this epoch, assign proxies by the features (sHCLM); 0 = never
    val_fraction: float = 0.1        # held-out share of the training images for model selection
    identity_init: bool = False      # dirac (identity) filters first in every 3x3 conv
    ema: float = 0.0                 # decay of the weight average that is evaluated and kept; 0 = none
    bn_scale: bool = True            # learn the batch-norm scales gamma (False: frozen at 1)
    whiten_bias_epochs: int = None   # train the whitening layer's bias this many epochs, then freeze it
    bn_bias_lr: float = 1.0          # learning-rate multiplier of the biases (batch norm, whitening)
    seed: int = 0                    # initialisation, data order, augmentation and the split
    widths: tuple = field(default=network.DEFAULT_WIDTHS)   # conv widths, "M" = 2x2 max-pool


def check_config(cfg):
    """Raise ValueError naming the first field of cfg out of its range; return cfg with widths
    as a tuple."""
    if not isinstance(cfg, TrainConfig):
        raise ValueError(f"cfg must be a TrainConfig; got {type(cfg).__name__}")
    check_int(cfg.epochs, "epochs", 1)
    check_int(cfg.batch_size, "batch_size", 1)
    check_float(cfg.lr, "lr", low=0, low_open=True)
    check_float(cfg.warmup, "warmup", low=0, high=1, high_open=True)
    check_float(cfg.momentum, "momentum", low=0, high=1, high_open=True)
    check_float(cfg.weight_decay, "weight_decay", low=0)
    for name in ("scale", "scale_final"):
        value = getattr(cfg, name)
        if value != "auto" and (value is not None or name == "scale"):
            check_float(value, name, low=0, low_open=True)
    if cfg.loss != "auto" and cfg.loss not in OBJECTIVES:
        raise ValueError(f"loss must be 'auto' or one of {tuple(OBJECTIVES)}; got {cfg.loss!r}")
    check_float(cfg.triplet_weight, "triplet_weight", low=0)
    check_float(cfg.triplet_margin, "triplet_margin")
    check_int(cfg.clean_epochs, "clean_epochs", 0, cfg.epochs)
    check_int(cfg.semantic_epoch, "semantic_epoch", 0, cfg.epochs)
    if 0 < cfg.semantic_epoch == cfg.epochs:
        # proxies assigned after the last epoch would go to classes the network was never trained for
        raise ValueError(f"semantic_epoch must be below epochs ({cfg.epochs}): the network needs an epoch "
                         f"to train towards the proxies assigned after epoch {cfg.semantic_epoch}; "
                         f"sHCLM without super-classes or tags needs at least 2 epochs")
    check_float(cfg.val_fraction, "val_fraction", low=0, high=1, high_open=True)
    check_int(cfg.translate, "translate", 0, 16)
    check_float(cfg.ema, "ema", low=0, high=1, high_open=True)
    check_float(cfg.bn_bias_lr, "bn_bias_lr", low=0, low_open=True)
    if cfg.whiten_bias_epochs is not None:
        check_int(cfg.whiten_bias_epochs, "whiten_bias_epochs", 0, cfg.epochs)
    check_int(cfg.seed, "seed", 0)
    return replace(cfg, widths=network.parse_widths(cfg.widths))


# ------------------------------------------------------------------------ optimiser

def learning_rate(step, total, cfg):
    """One-cycle: linear warm-up to cfg.lr, then cosine decay to 0."""
    warm = max(1, int(cfg.warmup * total))
    if step < warm:
        return cfg.lr * (step + 1) / warm
    return cfg.lr * 0.5 * (1 + np.cos(np.pi * (step - warm) / max(1, total - warm)))


def _decayed(name):
    """Weight decay applies to conv kernels and L, not to batch-norm parameters, b, proxies."""
    return name.startswith("conv") or name == "hash.L"


def _lr_multiplier(name, cfg):
    """cfg.bn_bias_lr for the biases before a ReLU (batch norm's beta and the whitening
    layer's), 1 for the rest. The biases get their own rate because after batch norm the
    kernels are scale-invariant, so their effective step shrinks as their norm grows, while
    the biases' does not: a larger rate lets the biases keep up (airbench's bias_scaler)."""
    return cfg.bn_bias_lr if name.endswith(".beta") or name == "whiten.b" else 1.0


def frozen_names(params, cfg, epoch):
    """The parameters that epoch `epoch` (0-based) does not train: the batch-norm scales when
    cfg.bn_scale is False, the whitening bias from epoch cfg.whiten_bias_epochs on. They are
    left out of the differentiation, so no gradient is computed for them — and once the
    whitening bias is frozen, none for the input of the first convolution either."""
    out = {k for k in params if k.endswith(".gamma")} if not cfg.bn_scale else set()
    if cfg.whiten_bias_epochs is not None and epoch >= cfg.whiten_bias_epochs and "whiten.b" in params:
        out.add("whiten.b")
    return out


def sgd_step(params, grads, velocity, lr, cfg):
    """Nesterov momentum SGD with L2 weight decay; returns new (params, velocity) dicts.
    Parameters without a gradient in grads (frozen_names) are kept as they are."""
    new_params, new_velocity = dict(params), dict(velocity)
    for k, p in params.items():
        if k not in grads:
            continue
        g = grads[k] + cfg.weight_decay * p if _decayed(k) else grads[k]
        v = cfg.momentum * velocity[k] + g
        new_params[k] = (p - lr * _lr_multiplier(k, cfg) * (g + cfg.momentum * v)).astype(np.float32)
        new_velocity[k] = v.astype(np.float32)
    return new_params, new_velocity


# ------------------------------------------------------------------- checks of a run

def fingerprint(*arrays):
    """A short hash of the arrays' shapes, dtypes and bytes: what a checkpoint was trained on."""
    h = hashlib.blake2b(digest_size=12)
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.shape}{a.dtype}".encode())
        h.update(a.data)
    return h.hexdigest()


def _check_inputs(x, y, proxies, cfg):
    """Validated (cfg, x, y, proxies, objective name) for train(), or a ValueError naming what
    is wrong."""
    cfg = check_config(cfg)
    x = check_images(x, "x")
    network.feature_size(cfg.widths, min(x.shape[1:3]))
    proxies = as_matrix(proxies, "proxies", dtype=np.float32, min_rows=2)
    if np.any(np.linalg.norm(proxies, axis=1) == 0):
        raise ValueError("proxies must not contain an all-zero row")
    y = check_labels(y, len(x), len(proxies), "y")
    objective = choose_objective(cfg.loss, cfg.triplet_weight, y)
    return resolve_scales(cfg, proxies, objective), x, y, proxies, objective


def resolve_scales(cfg, proxies, objective="proxy"):
    """cfg with "auto" logit scales replaced by losses.automatic_scales(proxies) (the rows
    training starts from) for the softmax objectives; the rule is about the class probability
    of a softmax, so the multi-label objective (one sigmoid a tag) keeps a constant
    DEFAULT_SCALE."""
    if "auto" not in (cfg.scale, cfg.scale_final):
        return cfg
    start, final = (DEFAULT_SCALE, None) if objective == "multilabel" else automatic_scales(proxies)
    return replace(cfg, scale=start if cfg.scale == "auto" else cfg.scale,
                   scale_final=final if cfg.scale_final == "auto" else cfg.scale_final)


def _fit_batch(cfg, n_train):
    """cfg with a batch no larger than the training part (said once), or a ValueError."""
    if n_train < 1:
        raise ValueError(f"x holds too few images: none left for training after the validation "
                         f"split (val_fraction={cfg.val_fraction})")
    if cfg.batch_size <= n_train:
        return cfg
    warnings.warn(f"batch_size {cfg.batch_size} is larger than the {n_train} training images; "
                  f"training with batches of {n_train}", TrainingWarning, stacklevel=3)
    return replace(cfg, batch_size=n_train)


def training_warnings(history, chance, n_scored):
    """What went wrong with a finished run, as sentences (empty when nothing did).

    The rule: (a) with 2 or more epochs, no later epoch's training loss fell below the first
    epoch's; (b) the best validation code accuracy (without a validation split: the last
    epoch's training accuracy) is not above chance by two standard errors,
    acc <= p0 + 2 sqrt(p0 (1 - p0) / n), p0 = the chance accuracy (share of the most common
    class; 0.5 for the balanced tag accuracy), n = the images it was measured on.
    """
    found = []
    losses = [h["loss"] for h in history]
    if len(losses) >= 2 and min(losses[1:]) >= losses[0]:
        found.append(f"the training loss never fell below its first epoch's ({losses[0]:.4f}); "
                     f"the learning rate may be too high or too low")
    key = "val_code_accuracy" if "val_code_accuracy" in history[-1] else "train_accuracy"
    best = max(h[key] for h in history) if key.startswith("val") else history[-1][key]
    bar = chance + 2 * math.sqrt(chance * (1 - chance) / max(1, n_scored))
    if best <= bar:
        found.append(f"{key.replace('_', ' ')} {best:.3f} is at chance level ({chance:.3f}; "
                     f"needs > {bar:.3f} on {n_scored} images): the network did not learn")
    return found


def _chance(y):
    """Accuracy of guessing: share of the most common class, or 0.5 for balanced tag accuracy."""
    return 0.5 if y.ndim == 2 else float(np.bincount(y).max() / len(y))


# ------------------------------------------------------------------ weight averaging

def ema_update(average, params, decay, step):
    """Exponential moving average of the weights, a_t = d_t a_{t-1} + (1 - d_t) p_t, with
    d_t = min(decay, (1 + t) / (10 + t)) so that the first steps do not drag the average back
    to the initial weights. Returns a new dict of float32 arrays."""
    d = min(decay, (1.0 + step) / (10.0 + step))
    return {k: (d * average[k] + (1 - d) * p).astype(np.float32) for k, p in params.items()}


def recalibrated_state(params, state, x, norm, widths, batch_size=256):
    """Batch-norm statistics that match `params` (an average of weights has no running
    statistics of its own): the mean over batches of x of each layer's batch mean and
    variance, in training mode, no augmentation. x (N, H, W, 3) uint8. Returns a new state."""
    sums, n = {}, 0
    for start in range(0, len(x), batch_size):
        _, _, stats = network.forward(params, normalise(x[start:start + batch_size], *norm), state,
                                      widths=widths, train=True)
        for k, v in stats.items():
            sums[k] = sums.get(k, 0.0) + v
        n += 1
    return {k: (sums[k] / n).astype(np.float32) if k in sums else v for k, v in state.items()}


# -------------------------------------------------------------------------- training

def _run_epoch(params, state, velocity, average, proxies, x, y, order, norm, epoch, cfg, objective,
               progress):
    """One pass over `order` (shuffled training indices). Returns params, state, velocity, the
    weight average (None without cfg.ema) and the epoch's record (running loss, accuracy,
    binarization error, images per second)."""
    rng = np.random.default_rng([cfg.seed, epoch])           # every random choice of this epoch
    steps = len(order) // cfg.batch_size
    total = steps * cfg.epochs

    frozen = {k: params[k] for k in frozen_names(params, cfg, epoch)}

    def batch_loss(trained, xb, yb, scale, aux):
        params = {**frozen, **trained}
        nu, _, stats = network.forward(params, xb, state, widths=cfg.widths, train=True)
        W = params["proxies"] if cfg.learn_proxies else proxies
        aux.update(stats=stats, nu=getval(nu), W=getval(W))
        return objective(nu, yb, W, scale, rng)

    grad_fn = value_and_grad(batch_loss)
    flips = alternating_flips(len(x), epoch, cfg.seed) if cfg.alternate_flip else None
    bar = progress_bar(range(steps), enabled=progress, desc=f"epoch {epoch + 1}/{cfg.epochs}", leave=False)
    t0, seen, sums = time.perf_counter(), 0, np.zeros(3)       # loss, accuracy, |nu - sgn nu|
    for i in bar:
        step = epoch * steps + i
        batch = order[i * cfg.batch_size:(i + 1) * cfg.batch_size]
        xb, yb = normalise(x[batch], *norm), y[batch]
        if cfg.augment and epoch < cfg.epochs - cfg.clean_epochs:
            flip = flips[batch] if cfg.alternate_flip else None
            xb = augment(xb, rng, cfg.translate, reflect=cfg.reflect, flip=flip)
        s = cfg.scale if cfg.scale_final is None else \
            cfg.scale + (cfg.scale_final - cfg.scale) * step / max(1, total - 1)
        aux = {}
        loss, grads = grad_fn({k: v for k, v in params.items() if k not in frozen}, xb, yb, s, aux)
        if not np.isfinite(loss):
            # data, proxies and options were checked before training: what is left is the step size
            raise FloatingPointError(f"training diverged: the loss became {loss} at epoch {epoch + 1}, "
                                     f"step {i + 1}; lower the learning rate (lr={cfg.lr})")
        params, velocity = sgd_step(params, grads, velocity, learning_rate(step, total, cfg), cfg)
        state = network.update_state(state, aux["stats"])
        if average is not None:
            average = ema_update(average, params, cfg.ema, step)
        seen += len(batch)
        sums += [float(loss), label_accuracy(aux["nu"] @ aux["W"].T, yb), np.mean(1 - np.abs(aux["nu"]))]
        mean = sums / (i + 1)
        bar.set_postfix(loss=f"{mean[0]:.3f}", acc=f"{mean[1]:.3f}", bin_err=f"{mean[2]:.3f}",
                        img_s=f"{seen / (time.perf_counter() - t0):.0f}")
    mean = sums / steps
    return params, state, velocity, average, {
        "epoch": epoch + 1, "loss": float(mean[0]), "train_accuracy": float(mean[1]),
        "train_binarization_error": float(mean[2]),
        "images_per_second": seen / (time.perf_counter() - t0)}


def _start(x_sample, proxies, norm, cfg):
    """Initial (params, state, velocity, weight average or None). A whitening layer gets its
    filters from x_sample, uint8 training images (about 5,000 are plenty for a 12x12 covariance)."""
    params, state = network.init_params(np.random.default_rng(cfg.seed), proxies.shape[1], widths=cfg.widths,
                                        identity=cfg.identity_init)
    if cfg.widths[0] in network.WHITENING:
        state["whiten.W"] = network.whitening_filters(normalise(x_sample, *norm),
                                                      network.WHITENING[cfg.widths[0]])
    if cfg.learn_proxies:
        params["proxies"] = proxies.copy()
    velocity = {k: np.zeros_like(v) for k, v in params.items()}
    return params, state, velocity, (dict(params) if cfg.ema else None)


def _resume(checkpoint, cfg, print_):
    """(arrays, meta) of a checkpoint that matches cfg and the data fingerprint print_."""
    arrays, meta = load_arrays(checkpoint)
    if "config" not in meta or "model.params" not in arrays:
        raise ValueError(f"checkpoint {checkpoint} was written by an older version of hclm_ref; "
                         f"delete it (training then starts over)")
    # first: other proxies also change the automatic scales of the configuration
    if meta.get("fingerprint") != print_:
        raise ValueError(f"checkpoint {checkpoint} was trained on other data or proxies (fingerprint "
                         f"{meta.get('fingerprint')}, now {print_}); resume with the same data or delete it")
    saved, wanted = meta["config"], json.loads(json.dumps(asdict(cfg)))
    if saved != wanted:
        changed = sorted(k for k in wanted if saved.get(k) != wanted[k])
        raise ValueError(f"checkpoint {checkpoint} was written with another configuration "
                         f"(differs in {changed}); resume with the same options or delete it")
    return arrays, meta


def train(x, y, proxies, cfg=None, *, checkpoint=None, resume=False, progress=True, on_epoch=None):
    """Train the network of cfg.widths so that nu(x) approaches the proxies of its labels.

    x (N, H, W, 3) uint8; y (N,) class ids in 0..C-1 (loss Eq. 8, or Eq. 24 with triplets) or
    (N, C) multi-hot tags (Eq. 25); proxies (C, d) (fixed, or the initial value when
    cfg.learn_proxies); cfg a TrainConfig (default: TrainConfig()). checkpoint: .npz path
    written after every epoch; with resume=True training continues from it (same cfg, data
    and proxies, else ValueError). on_epoch(record) is called after each epoch's checkpoint is
    written (an exception there interrupts training resumably). progress: a bar per epoch on a
    terminal, and one line per epoch. Raises ValueError for bad input, FloatingPointError if
    the loss diverges. Returns a HashingModel with the weights of the epoch with the best
    validation code accuracy (without validation: the last); a run that did not learn comes
    back with model.warnings set and a TrainingWarning (training_warnings states the rule).
    """
    cfg, x, y, proxies, objective_name = _check_inputs(x, y, proxies, cfg or TrainConfig())
    keep_freed_memory()
    train_idx, val_idx = validation_split(len(x), cfg.val_fraction, cfg.seed)
    cfg = _fit_batch(cfg, len(train_idx))
    objective = OBJECTIVES[objective_name](cfg, y[train_idx])
    norm = channel_stats(x[train_idx])
    print_ = fingerprint(x, y, proxies)
    params, state, velocity, average = _start(x[train_idx[:5000]], proxies, norm, cfg)
    model, history, meta = None, [], {"epoch": -1, "best_score": -np.inf}
    if resume and checkpoint and os.path.exists(checkpoint):
        arrays, meta = _resume(checkpoint, cfg, print_)
        params, state, velocity = arrays["params"], arrays.get("state", {}), arrays["velocity"]
        average = arrays.get("average")
        proxies, model = arrays["proxies"]["W"], HashingModel.from_arrays(arrays, meta["model"], checkpoint)
        history = model.history
    for epoch in range(meta["epoch"] + 1, cfg.epochs):
        order = np.random.default_rng([cfg.seed, epoch]).permutation(train_idx)
        params, state, velocity, average, record = _run_epoch(
            params, state, velocity, average, proxies, x, y, order, norm, epoch, cfg, objective, progress)
        weights, stats = params, state
        if average is not None:                       # evaluate and keep the averaged weights
            weights = average
            stats = recalibrated_state(average, state, x[train_idx[:2048]], norm, cfg.widths)
        if epoch + 1 == cfg.semantic_epoch and not cfg.learn_proxies:
            proxies = semantic_proxies(HashingModel(weights, stats, proxies, norm, cfg.widths),
                                       x[train_idx[:5000]], y[train_idx[:5000]], seed=cfg.seed)
        current = HashingModel(weights, stats, weights.get("proxies", proxies), norm, cfg.widths)
        if len(val_idx):
            val = current.classifier_scores(x[val_idx], y[val_idx])
            record.update({f"val_{k}": v for k, v in val.items()})
        history = history + [record]
        score = record.get("val_code_accuracy", float(epoch))   # no validation: the last epoch
        if score >= meta["best_score"]:
            model = current._replace(best_epoch=epoch + 1)
            meta["best_score"] = score
        model = model._replace(history=history)
        if progress:
            say("  ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items()))
        meta.update(epoch=epoch, config=asdict(cfg), fingerprint=print_, model=model.meta())
        if checkpoint:
            extra = {} if average is None else {"average": average}
            save_arrays(checkpoint, {"params": params, "state": state, "velocity": velocity,
                                     "proxies": {"W": proxies}, **extra, **model.arrays()}, meta)
        if on_epoch:
            on_epoch(record)
    scored = y[val_idx] if len(val_idx) else y[train_idx]
    found = tuple(training_warnings(history, _chance(scored), len(scored)))
    for message in found:
        warnings.warn(message, TrainingWarning, stacklevel=2)
    return model._replace(warnings=found)


def semantic_proxies(model, x, y, *, seed=0):
    """sHCLM from the network's own features: class means of q(x) -> s_ij (Eqs. 19-20) ->
    the assignment of the proxy rows to classes minimising Eq. (18). Returns permuted rows."""
    _, q = model.encode(x)
    S = class_similarity(q, y)
    return model.proxies[semantic_assignment(model.proxies, S, seed=seed)]

"""Training the hashing network with fixed proxies: minibatch SGD, augmentation, checkpoints.

One epoch = one pass over the training part (the validation split is held out, never the test
set). Every random choice of epoch e comes from numpy.random.default_rng([seed, e]), so a run
resumed from the checkpoint of epoch e is bit-identical to an uninterrupted one. A checkpoint
is one .npz (no pickle), written atomically after every epoch.
Derived in tutorials/06-training-with-fixed-proxies.md.
"""

import json
import os
import time
from dataclasses import asdict, dataclass, field

import numpy as np
from autograd import value_and_grad
from autograd.tracer import getval
from tqdm.auto import tqdm

from . import nn
from ._memory import keep_freed_memory
from ._validate import sign
from .losses import DEFAULT_SCALE, joint_loss, proxy_loss, sample_triplets
from .margins import binarization_error
from .proxies import class_similarity, semantic_assignment


@dataclass
class TrainConfig:
    """Hyper-parameters. lr is the peak of a one-cycle schedule (linear warm-up over the first
    `warmup` fraction of the steps, then cosine decay to 0). scale is the logit scale s of
    losses.proxy_logits; with scale_final set, s moves linearly from scale to scale_final over
    training. triplet_weight is lambda of Eq. (24) (0: proxy loss only)."""
    epochs: int = 6
    batch_size: int = 128
    lr: float = 0.05
    warmup: float = 0.15
    momentum: float = 0.9
    weight_decay: float = 5e-4
    scale: float = DEFAULT_SCALE
    scale_final: float = None
    triplet_weight: float = 0.0
    triplet_margin: float = 2.0
    learn_proxies: bool = False
    augment: bool = True
    clean_epochs: int = 0
    semantic_epoch: int = 0
    val_fraction: float = 0.1
    seed: int = 0
    widths: tuple = field(default=nn.DEFAULT_WIDTHS)


# --------------------------------------------------------------------- data handling

def channel_stats(x):
    """Per-channel mean and std of uint8 images (N, H, W, 3), as float32 (3,) arrays."""
    flat = x.reshape(-1, x.shape[-1]).astype(np.float64) / 255.0
    return flat.mean(axis=0).astype(np.float32), flat.std(axis=0).astype(np.float32)


def normalise(x, mean, std):
    """uint8 (N, H, W, C) -> float32 standardised per channel."""
    return (x.astype(np.float32) * np.float32(1 / 255.0) - mean) / std


def augment(x, rng, pad=4):
    """Random crop (zero padding `pad`) and horizontal flip of a float32 batch (N, H, W, C)."""
    N, H, W, _ = x.shape
    padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    dy, dx = rng.integers(0, 2 * pad + 1, (2, N))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (H, W), axis=(1, 2))
    crops = windows[np.arange(N), dy, dx].transpose(0, 2, 3, 1)       # (N, H, W, C)
    flip = rng.random(N) < 0.5
    crops[flip] = crops[flip, :, ::-1]
    return crops


def validation_split(n, fraction, seed):
    """Disjoint (train_idx, val_idx) of range(n); val has round(fraction * n) items."""
    perm = np.random.default_rng([seed, 2 ** 31]).permutation(n)
    n_val = int(round(fraction * n))
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


# ------------------------------------------------------------------------- encoding

def encode(params, state, x, norm, *, widths=nn.DEFAULT_WIDTHS, batch_size=500, flip=False):
    """nu(x) (N, d) float32 and features q(x) (N, p) in eval mode, for uint8 images x.

    flip=True averages nu and q of each image and its mirror image (test-time augmentation).
    """
    nus, qs = [], []
    for start in range(0, len(x), batch_size):
        xb = normalise(x[start:start + batch_size], *norm)
        nu, q, _ = nn.forward(params, xb, state, widths=widths, train=False)
        if flip:
            nu_f, q_f, _ = nn.forward(params, xb[:, :, ::-1].copy(), state, widths=widths)
            nu, q = (nu + nu_f) / 2, (q + q_f) / 2
        nus.append(nu)
        qs.append(q)
    return np.concatenate(nus), np.concatenate(qs)


def evaluate(params, state, x, y, proxies, norm, widths):
    """Accuracy of the proxy classifier, accuracy of the nearest proxy in Hamming space of the
    codes sgn(nu) (what retrieval sees), and the mean binarization error |nu - sgn nu|."""
    nu, _ = encode(params, state, x, norm, widths=widths)
    W = params.get("proxies", proxies)
    codes = sign(nu).astype(np.float32)
    return {"accuracy": float(np.mean(np.argmax(nu @ W.T, axis=1) == y)),
            "code_accuracy": float(np.mean(np.argmax(codes @ np.sign(W).T, axis=1) == y)),
            "binarization_error": binarization_error(nu)["mean"]}


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


def sgd_step(params, grads, velocity, lr, cfg):
    """Nesterov momentum SGD with L2 weight decay; returns new (params, velocity) dicts."""
    new_params, new_velocity = {}, {}
    for k, p in params.items():
        g = grads[k] + cfg.weight_decay * p if _decayed(k) else grads[k]
        v = cfg.momentum * velocity[k] + g
        new_params[k] = (p - lr * (g + cfg.momentum * v)).astype(np.float32)
        new_velocity[k] = v.astype(np.float32)
    return new_params, new_velocity


# ----------------------------------------------------------------------- checkpoints

def save_checkpoint(path, arrays, meta):
    """Write dict-of-arrays groups and a JSON meta record to one .npz, atomically."""
    flat = {f"{group}/{k}": v for group, d in arrays.items() for k, v in d.items()}
    flat["meta"] = np.array(json.dumps(meta))
    tmp = f"{path}.tmp.npz"
    np.savez(tmp, **flat)
    os.replace(tmp, path)


def load_checkpoint(path):
    """Inverse of save_checkpoint: ({group: {name: array}}, meta). Never unpickles."""
    arrays = {}
    with np.load(path, allow_pickle=False) as f:
        meta = json.loads(str(f["meta"]))
        for key in f.files:
            if key != "meta":
                group, name = key.split("/", 1)
                arrays.setdefault(group, {})[name] = f[key]
    return arrays, meta


# -------------------------------------------------------------------------- training

def _objective(params, state, xb, yb, proxies, scale, cfg, triplets, aux):
    nu, _, stats = nn.forward(params, xb, state, widths=cfg.widths, train=True)
    W = params["proxies"] if cfg.learn_proxies else proxies
    if cfg.triplet_weight:                                    # Eq. (24)
        loss = joint_loss(nu, yb, W, triplets, lam=cfg.triplet_weight, scale=scale,
                          margin=cfg.triplet_margin)
    else:                                                     # Eq. (8)
        loss = proxy_loss(nu, yb, W, scale)
    aux.update(stats=stats, nu=getval(nu), W=getval(W))
    return loss


def _run_epoch(params, state, velocity, proxies, x, y, order, norm, epoch, cfg, progress):
    """One pass over `order` (shuffled training indices). Returns params, state, velocity and
    the epoch's record (running loss, accuracy, binarization error, images per second)."""
    rng = np.random.default_rng([cfg.seed, epoch])           # every random choice of this epoch
    steps = len(order) // cfg.batch_size
    total = steps * cfg.epochs
    grad_fn = value_and_grad(_objective)
    bar = tqdm(range(steps), desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=not progress, leave=False)
    t0, seen, sums = time.perf_counter(), 0, np.zeros(3)       # loss, accuracy, |nu - sgn nu|
    for i in bar:
        step = epoch * steps + i
        batch = order[i * cfg.batch_size:(i + 1) * cfg.batch_size]
        xb, yb = normalise(x[batch], *norm), y[batch]
        if cfg.augment and epoch < cfg.epochs - cfg.clean_epochs:
            xb = augment(xb, rng)
        triplets = sample_triplets(yb, rng) if cfg.triplet_weight else None
        s = cfg.scale if cfg.scale_final is None else \
            cfg.scale + (cfg.scale_final - cfg.scale) * step / max(1, total - 1)
        aux = {}
        loss, grads = grad_fn(params, state, xb, yb, proxies, s, cfg, triplets, aux)
        if not np.isfinite(loss):
            raise FloatingPointError(f"loss became {loss} at epoch {epoch + 1}, step {i + 1}; "
                                     f"lower the learning rate (lr={cfg.lr})")
        params, velocity = sgd_step(params, grads, velocity, learning_rate(step, total, cfg), cfg)
        state = nn.update_state(state, aux["stats"])
        seen += len(batch)
        sums += [float(loss), np.mean(np.argmax(aux["nu"] @ aux["W"].T, axis=1) == yb),
                 np.mean(1 - np.abs(aux["nu"]))]
        mean = sums / (i + 1)
        bar.set_postfix(loss=f"{mean[0]:.3f}", acc=f"{mean[1]:.3f}", bin_err=f"{mean[2]:.3f}",
                        img_s=f"{seen / (time.perf_counter() - t0):.0f}")
    mean = sums / steps
    return params, state, velocity, {
        "epoch": epoch + 1, "loss": float(mean[0]), "train_accuracy": float(mean[1]),
        "train_binarization_error": float(mean[2]),
        "images_per_second": seen / (time.perf_counter() - t0)}


def train(x, y, proxies, cfg=None, *, checkpoint=None, resume=False, progress=True,
          on_epoch=None):
    """Train the network of cfg.widths so that nu(x) approaches the proxy of y (Eq. 8).

    x (N, H, W, 3) uint8; y (N,) ints in 0..C-1; proxies (C, d) ±1 (fixed, or the initial
    value when cfg.learn_proxies); cfg a TrainConfig (default: TrainConfig()). checkpoint: .npz path written after every epoch; with
    resume=True training continues from it. on_epoch(record) is called after each epoch's
    checkpoint is written (an exception there interrupts training resumably). Raises
    FloatingPointError if the loss becomes NaN or infinite. Returns a dict: params and state
    of the epoch with the best validation code accuracy (model selection; the last epoch
    without validation), the proxies it used, best_epoch, norm (channel mean, std), history
    (per-epoch records), last_params and last_state.
    """
    cfg = cfg or TrainConfig()
    keep_freed_memory()
    proxies = np.asarray(proxies, np.float32)
    train_idx, val_idx = validation_split(len(x), cfg.val_fraction, cfg.seed)
    norm = channel_stats(x[train_idx])
    params, state = nn.init_params(np.random.default_rng(cfg.seed), proxies.shape[1], widths=cfg.widths)
    if cfg.learn_proxies:
        params["proxies"] = proxies.copy()
    velocity = {k: np.zeros_like(v) for k, v in params.items()}
    best, history, meta = None, [], {"epoch": -1, "best_score": -np.inf, "best_epoch": 0}
    if resume and checkpoint and os.path.exists(checkpoint):
        arrays, meta = load_checkpoint(checkpoint)
        saved, wanted = meta["config"], json.loads(json.dumps(asdict(cfg)))
        if saved != wanted:
            changed = sorted(k for k in wanted if saved.get(k) != wanted[k])
            raise ValueError(f"checkpoint {checkpoint} was written with another configuration "
                             f"(differs in {changed}); resume with the same options or delete it")
        params, state, velocity, best = (arrays[k] for k in ("params", "state", "velocity", "best"))
        proxies, history = arrays["proxies"]["W"], meta["history"]
    for epoch in range(meta["epoch"] + 1, cfg.epochs):
        order = np.random.default_rng([cfg.seed, epoch]).permutation(train_idx)
        params, state, velocity, record = _run_epoch(params, state, velocity, proxies, x, y,
                                                     order, norm, epoch, cfg, progress)
        if epoch + 1 == cfg.semantic_epoch and not cfg.learn_proxies:
            proxies = semantic_proxies(params, state, x[train_idx[:5000]], y[train_idx[:5000]],
                                       proxies, norm, cfg)
        if len(val_idx):
            val = evaluate(params, state, x[val_idx], y[val_idx], proxies, norm, cfg.widths)
            record.update({f"val_{k}": v for k, v in val.items()})
        history.append(record)
        score = record.get("val_code_accuracy", float(epoch))   # no validation: the last epoch
        if score >= meta["best_score"]:
            best = _snapshot(params, state, proxies)
            meta.update(best_score=score, best_epoch=epoch + 1)
        if progress:
            tqdm.write("  ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}"
                                 for k, v in record.items()))
        meta.update(epoch=epoch, history=history, config=asdict(cfg))
        if checkpoint:
            save_checkpoint(checkpoint, {"params": params, "state": state, "velocity": velocity,
                                         "best": best, "proxies": {"W": proxies}}, meta)
        if on_epoch:
            on_epoch(record)
    return {**_unpack_snapshot(best), "best_epoch": meta["best_epoch"], "norm": norm,
            "history": history, "last_params": params, "last_state": state}


def _snapshot(params, state, proxies):
    """Flat dict of the arrays model selection keeps (stored in the checkpoint as 'best')."""
    return {**{f"p.{k}": v for k, v in params.items()}, **{f"s.{k}": v for k, v in state.items()},
            "w.proxies": proxies}


def _unpack_snapshot(best):
    params = {k[2:]: v for k, v in best.items() if k.startswith("p.")}
    state = {k[2:]: v for k, v in best.items() if k.startswith("s.")}
    return {"params": params, "state": state, "proxies": params.get("proxies", best["w.proxies"])}


def semantic_proxies(params, state, x, y, proxies, norm, cfg):
    """sHCLM from the network's own features: class means of q(x) -> s_ij (Eqs. 19-20) ->
    the assignment of the proxy rows to classes minimising Eq. (18). Returns permuted rows."""
    _, q = encode(params, state, x, norm, widths=cfg.widths)
    S = class_similarity(q, y)
    return proxies[semantic_assignment(proxies, S, seed=cfg.seed)]

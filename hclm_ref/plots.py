"""Figures for the demo report: proxy margins, binarization, P@k and PR curves, retrievals,
and the saturation of nu across networks and logit scales.

Each function writes one PNG and returns its path. Matplotlib runs headless (Agg backend).
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from .metrics import relevance  # noqa: E402


def _save(fig, path):
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_margins(margins, path, *, title="Average class margin (Eq. 13)", bound=None):
    """Bar chart of {proxy set: average margin}; bound (e.g. simplex_bound) as a dashed line."""
    fig, ax = plt.subplots(figsize=(6, 3.2))
    names = list(margins)
    ax.bar(names, [margins[n] for n in names], color="tab:blue")
    if bound is not None:
        ax.axhline(bound, ls="--", color="k", lw=1, label=f"simplex bound {bound:.3f}")
        ax.legend(loc="lower right")
    ax.set_ylabel("average margin")
    ax.set_title(title)
    ax.tick_params(axis="x", rotation=30)
    return _save(fig, path)


def plot_binarization(nu, path, *, title="Hashing-layer outputs"):
    """Histograms of nu and of |nu - sgn nu| (paper Fig. 4). nu : (n, d) in [-1, 1]."""
    fig, axes = plt.subplots(1, 2, figsize=(8, 3))
    axes[0].hist(nu.ravel(), bins=80, range=(-1, 1), color="tab:blue")
    axes[0].set_xlabel("nu")
    axes[1].hist(1 - np.abs(nu.ravel()), bins=80, range=(0, 1), color="tab:orange")
    axes[1].set_xlabel("|nu - sgn(nu)|")
    axes[1].set_yscale("log")
    fig.suptitle(f"{title}: mean |nu - sgn nu| = {np.mean(1 - np.abs(nu)):.3f}")
    return _save(fig, path)


def plot_nu_histograms(nus, path, *, title="Hashing-layer outputs nu (paper Fig. 4)"):
    """Histograms of nu side by side, one panel per network: {label: nu (n, d) in [-1, 1]},
    each titled with its mean |nu - sgn nu|."""
    fig, axes = plt.subplots(1, len(nus), figsize=(2.4 * len(nus), 2.6), sharey=True, squeeze=False)
    for ax, (label, nu) in zip(axes[0], nus.items()):
        ax.hist(np.ravel(nu), bins=60, range=(-1, 1), color="tab:blue")
        ax.set_title(f"{label}\nmean |nu - sgn nu| {np.mean(1 - np.abs(nu)):.3f}", fontsize=8)
        ax.set_xlabel("nu")
        ax.set_yscale("log")
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def plot_saturation(rows, path):
    """The saturation protocol's rows against the logit scale s (log axis): mean |nu - sgn nu|,
    validation code accuracy and test mAP@all, with their spread over seeds where there is one."""
    rows = sorted(rows, key=lambda r: r["scale"])
    s = [r["scale"] for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(8, 3))
    for ax, keys in zip(axes, (("binarization_error",), ("val_code_accuracy", "map_stable"))):
        for key in keys:
            ax.errorbar(s, [r[key] for r in rows], yerr=[r.get(f"{key}_std", 0.0) for r in rows],
                        marker="o", capsize=3, label=key.replace("_", " "))
        ax.set_xscale("log")
        ax.set_xlabel("logit scale s (Eq. 8: logits s <nu, w> / d)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_ylabel("mean |nu - sgn nu|")
    return _save(fig, path)


def plot_curves(curves, path):
    """curves: {label: {"ks", "p_at_k", "precision", "recall"}} -> P@k and PR side by side."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for label, c in curves.items():
        axes[0].plot(c["ks"], c["p_at_k"], marker="o", label=label)
        axes[1].plot(c["recall"], c["precision"], marker=".", label=label)
    axes[0].set_xscale("log")
    axes[0].set_xlabel("k (retrieved items)")
    axes[0].set_ylabel("precision@k")
    axes[1].set_xlabel("recall (Hamming radius 0..d)")
    axes[1].set_ylabel("precision")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return _save(fig, path)


def retrieval_grid(query_images, query_labels, db_images, db_labels, topk_indices, path,
                   *, scale=2, class_names=None):
    """One row per query: the query, then its top retrievals with a green (relevant: same class,
    or a shared tag for multi-hot labels) or red frame. Images (n, H, W, 3) uint8;
    topk_indices (n_queries, k) into the database."""
    nq, k = topk_indices.shape
    h, w = query_images.shape[1:3]
    pad, gap = 2, 8
    cell_h, cell_w = h * scale + 2 * pad, w * scale + 2 * pad
    grid = Image.new("RGB", (cell_w * (k + 1) + gap, cell_h * nq), "white")
    draw = ImageDraw.Draw(grid)
    for i in range(nq):
        relevant = relevance(np.asarray(query_labels[i:i + 1]), np.asarray(db_labels)[topk_indices[i]])[0]
        tiles = [(query_images[i], None)] + [(db_images[j], r) for j, r in zip(topk_indices[i], relevant)]
        for c, (img, ok) in enumerate(tiles):
            x0 = c * cell_w + (gap if c else 0)
            y0 = i * cell_h
            colour = "black" if ok is None else ("green" if ok else "red")
            draw.rectangle([x0, y0, x0 + cell_w - 1, y0 + cell_h - 1], fill=colour)
            grid.paste(Image.fromarray(img).resize((w * scale, h * scale), Image.NEAREST),
                       (x0 + pad, y0 + pad))
    grid.save(path)
    return path

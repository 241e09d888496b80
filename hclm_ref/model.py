"""A trained hashing network as one value: weights, architecture, normalisation and proxies.

train() returns a HashingModel; HashingModel.load reads one back from a training checkpoint or
from a file written by save(). Both are one .npz without pickle: arrays in groups, and a JSON
record with the architecture, the history and the best epoch, so the architecture travels
with the weights.
"""

import json
import os
import zipfile
from typing import NamedTuple

import numpy as np

from .data import normalise, translate
from .margins import binarization_error
from .network import forward, parse_widths
from .search import sign


class HashingModel(NamedTuple):
    """A trained network ready to hash images.

    params, state : dicts of float32 arrays (network.init_params); proxies : (C, d) the class
    proxies it was trained with; norm : (mean, std) float32 (3,) of the training images;
    widths : the architecture (network.parse_widths); history : per-epoch records;
    best_epoch : the epoch whose weights these are (model selection on the validation split);
    warnings : what train() found wrong with the run (train.training_warnings), empty if nothing.
    """
    params: dict
    state: dict
    proxies: np.ndarray
    norm: tuple
    widths: tuple
    history: list = ()
    best_epoch: int = 0
    warnings: tuple = ()

    def encode(self, x, *, flip=False, shift=0, batch_size=500):
        """nu(x) (N, d) float32 (Eq. 7) and the features q(x) (N, p), in eval mode.

        x : (N, H, W, 3) uint8 images. Test-time augmentation averages nu and q over views of
        each image before anything is binarised: flip=True adds its mirror image, shift=s its
        translations by (s, s) and (-s, -s) pixels (of the image and, with flip, of the
        mirror). The cost is one forward pass per view: 1, 2, 3 or 6 of them.
        """
        views = [(0, 0)] + ([(shift, shift), (-shift, -shift)] if shift else [])
        nus, qs = [], []
        for start in range(0, len(x), batch_size):
            xb = normalise(x[start:start + batch_size], *self.norm)
            batch = [xb] + ([np.ascontiguousarray(xb[:, :, ::-1])] if flip else [])
            outs = [forward(self.params, translate(b, dy, dx), self.state, widths=self.widths)[:2]
                    for b in batch for dy, dx in views]
            nus.append(sum(o[0] for o in outs) / len(outs))
            qs.append(sum(o[1] for o in outs) / len(outs))
        return np.concatenate(nus), np.concatenate(qs)

    def hash(self, x, *, flip=False, shift=0):
        """Hash codes b(x) = sgn nu(x) (Eq. 6), nu averaged over the views of encode: (N, d) int8 ±1."""
        return sign(self.encode(x, flip=flip, shift=shift)[0])

    def classifier_scores(self, x, y):
        """How well the proxies classify (x, y): label_accuracy of the proxy scores <nu, w_c>,
        the same for the codes sgn nu against sgn w_c (what retrieval sees), and the mean
        binarization error |nu - sgn nu|. y : (N,) class ids or (N, T) tags."""
        nu, _ = self.encode(x)
        codes = sign(nu).astype(np.float32)
        return {"accuracy": label_accuracy(nu @ self.proxies.T, y),
                "code_accuracy": label_accuracy(codes @ np.sign(self.proxies).T, y),
                "binarization_error": binarization_error(nu)["mean"]}

    # ------------------------------------------------------------------ on disk

    def arrays(self):
        """The groups this model is stored as inside a checkpoint (see save_arrays)."""
        return {"model.params": self.params, "model.state": self.state, "model.proxies": {"W": self.proxies},
                "model.norm": {"mean": self.norm[0], "std": self.norm[1]}}

    def meta(self):
        return {"widths": list(self.widths), "history": list(self.history),
                "best_epoch": self.best_epoch, "warnings": list(self.warnings)}

    def save(self, path):
        """Write the model to one .npz (atomically, no pickle)."""
        save_arrays(path, self.arrays(), {"model": self.meta()})

    @classmethod
    def load(cls, path):
        """Read a model written by save() or a training checkpoint (its selected weights)."""
        arrays, meta = load_arrays(path)
        return cls.from_arrays(arrays, meta.get("model"), path)

    @classmethod
    def from_arrays(cls, arrays, meta, path="<arrays>"):
        if not meta or "model.params" not in arrays:
            raise ValueError(f"{path} holds no trained model (written by an older version, or "
                             f"not by hclm_ref); delete it")
        norm = arrays["model.norm"]
        return cls(arrays["model.params"], arrays.get("model.state", {}), arrays["model.proxies"]["W"],
                   (norm["mean"], norm["std"]), parse_widths(meta["widths"]), meta["history"],
                   meta["best_epoch"], tuple(meta.get("warnings", ())))


def label_accuracy(scores, y):
    """Accuracy of class scores (N, C): for class ids y (N,) the argmax; for multi-hot tags y
    (N, T) the balanced accuracy of "tag present iff score > 0" (mean of the true-positive and
    true-negative rates), averaged over the tags that occur: tags are rare, so plain accuracy
    would reward predicting none (the imbalance Eq. 25 weights against)."""
    y = np.asarray(y)
    if y.ndim == 1:
        return float(np.mean(np.argmax(scores, axis=1) == y))
    pred, pos = scores > 0, y > 0
    n_pos, n_neg = pos.sum(axis=0), (~pos).sum(axis=0)
    tpr = np.divide((pred & pos).sum(axis=0), n_pos, out=np.zeros(len(n_pos)), where=n_pos > 0)
    tnr = np.divide((~pred & ~pos).sum(axis=0), n_neg, out=np.ones(len(n_neg)), where=n_neg > 0)
    occurs = n_pos > 0
    return float(np.mean((tpr[occurs] + tnr[occurs]) / 2)) if occurs.any() else 0.0


# ------------------------------------------------------------------------ .npz files


def save_arrays(path, groups, meta):
    """Write {group: {name: array}} and a JSON meta record to one .npz, atomically: a temporary
    file renamed over `path` once complete, so an interrupted write never leaves half a file."""
    flat = {f"{group}/{k}": np.asarray(v) for group, d in groups.items() for k, v in d.items()}
    flat["meta"] = np.array(json.dumps(meta))
    tmp = f"{path}.tmp.npz"
    try:
        np.savez(tmp, **flat)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def load_arrays(path):
    """Inverse of save_arrays: ({group: {name: array}}, meta). Never unpickles.

    A missing file raises FileNotFoundError; a damaged or foreign one ValueError naming it.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no checkpoint or model file at {path}")
    arrays = {}
    try:
        with np.load(path, allow_pickle=False) as f:
            meta = json.loads(str(f["meta"]))
            for key in f.files:
                if key != "meta":
                    group, name = key.split("/", 1)
                    arrays.setdefault(group, {})[name] = f[key]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
        # (NumPy's own message for an object array suggests allowing pickle: never repeat it)
        raise ValueError(f"{path} is damaged or not an hclm_ref checkpoint ({type(err).__name__}); "
                         f"it can be deleted (training then starts over)") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{path} is not an hclm_ref checkpoint (its meta record is not a dict); "
                         f"it can be deleted")
    return arrays, meta

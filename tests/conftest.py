"""Shared test data: an image folder whose classes a tiny network learns in one epoch."""

import colorsys

import numpy as np
import pytest


def write_colour_folder(root, n_classes=10, per_class=40, size=12, seed=0):
    """root/<class k>/<i>.png: class k is one hue (k / n_classes) with pixel noise, so the
    classes are easy but not trivial. Returns root."""
    from PIL import Image
    rng = np.random.default_rng(seed)
    for k in range(n_classes):
        folder = root / f"class{k:02d}"
        folder.mkdir(parents=True)
        rgb = 255 * np.array(colorsys.hsv_to_rgb(k / n_classes, 0.8, 0.8))
        for i in range(per_class):
            pixels = rgb + rng.normal(0, 25, (size, size, 3))
            Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(folder / f"{i}.png")
    return root


@pytest.fixture(scope="session")
def colour_folder(tmp_path_factory):
    return str(write_colour_folder(tmp_path_factory.mktemp("colours")))

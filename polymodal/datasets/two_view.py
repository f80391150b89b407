"""The noisy two-view protocol of Wang et al. (2015), "On deep multi-view representation learning".

View 1 is each image rotated by an angle drawn uniformly from ``[-max_angle, max_angle]`` degrees;
view 2 is *another* image of the same class with independent uniform noise in ``[0, noise]`` added
to every pixel, clipped to ``[0, 1]``. The two views share only the class, so what is common to them
is what a multiview method should find.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def make_noisy_two_view(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    seed: int = 0,
    max_angle: float = 45.0,
    noise: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Build the two views.

    Parameters
    ----------
    images : array ``(N, H, W)`` with values in ``[0, 1]``.
    labels : array ``(N,)`` of class labels.
    seed : seeds the angles, the pairing and the noise.

    Returns
    -------
    view1, view2 : float32 arrays ``(N, H, W)`` in ``[0, 1]``.

    Example
    -------
    >>> from sklearn.datasets import load_digits
    >>> d = load_digits()
    >>> v1, v2 = make_noisy_two_view(d.images / 16.0, d.target, seed=0)
    >>> v1.shape == v2.shape == (1797, 8, 8)
    True
    """
    images = np.asarray(images, dtype=np.float32)
    labels = np.asarray(labels)
    if images.ndim != 3:
        raise ValueError(f"images must be (N, H, W), got shape {images.shape}")
    if labels.shape != (images.shape[0],):
        raise ValueError(f"labels must be ({images.shape[0]},), got shape {labels.shape}")
    if images.size and (images.min() < 0 or images.max() > 1):
        raise ValueError("images must be scaled to [0, 1]")
    rng = np.random.default_rng(seed)
    angles = rng.uniform(-max_angle, max_angle, size=len(images))
    view1 = np.stack(
        [ndimage.rotate(img, a, reshape=False, order=1, mode="constant") for img, a in zip(images, angles)]
    ).clip(0.0, 1.0)
    partner = np.empty(len(images), dtype=np.int64)
    for label in np.unique(labels):
        idx = np.flatnonzero(labels == label)
        partner[idx] = rng.choice(idx, size=len(idx), replace=True)
    view2 = images[partner] + rng.uniform(0.0, noise, size=images.shape).astype(np.float32)
    return view1.astype(np.float32), view2.clip(0.0, 1.0).astype(np.float32)

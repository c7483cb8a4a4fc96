"""Slow, obvious versions of the blot interpolants, for tests only.

One Python loop over the output pixels; each interpolant written the plainest
way: the image is extended with ``numpy.pad`` (odd reflection for the
polynomials, edge repetition for linear and sinc), the Lagrange weights come
from their defining product, and the sinc weights from ``numpy.sinc``.  They
share no code with :mod:`multidrizzle.kernels.blot`, so agreement between the
two checks the fast kernels' index arithmetic, edge handling and weights.
"""

from __future__ import annotations

import math

import numpy as np

from multidrizzle.kernels.blot import SINC_HALF_WIDTH

#: Node offsets (relative to floor of the coordinate) of each polynomial.
POLY_NODES = {"poly3": np.arange(-1, 3), "poly5": np.arange(-2, 4)}


def lagrange_weights(fraction: float, nodes: np.ndarray) -> np.ndarray:
    """Weight of each node in the Lagrange polynomial through ``nodes``, at ``fraction``."""
    weights = np.ones(len(nodes))
    for k, node in enumerate(nodes):
        for other in nodes:
            if other != node:
                weights[k] *= (fraction - other) / (node - other)
    return weights


def nearest_value(data: np.ndarray, x: float, y: float) -> float:
    """Pixel whose footprint [i - 0.5, i + 0.5) contains the point."""
    return data[int(math.floor(y + 0.5)), int(math.floor(x + 0.5))]


def linear_value(data: np.ndarray, x: float, y: float) -> float:
    """Bilinear interpolation on the image extended by repeating its edges."""
    padded = np.pad(data, 1, mode="edge")
    left, below = math.floor(x), math.floor(y)
    fx, fy = x - left, y - below
    block = padded[below + 1:below + 3, left + 1:left + 3]
    return ((1 - fy) * ((1 - fx) * block[0, 0] + fx * block[0, 1])
            + fy * ((1 - fx) * block[1, 0] + fx * block[1, 1]))


def poly_value(data: np.ndarray, x: float, y: float, interp: str) -> float:
    """Separable Lagrange interpolation on the image extended by odd reflection."""
    nodes = POLY_NODES[interp]
    pad = int(nodes.max()) + 1
    padded = np.pad(data, pad, mode="reflect", reflect_type="odd")
    left, below = math.floor(x), math.floor(y)
    block = padded[below + nodes[0] + pad:below + nodes[-1] + pad + 1,
                   left + nodes[0] + pad:left + nodes[-1] + pad + 1]
    weights = np.outer(lagrange_weights(y - below, nodes), lagrange_weights(x - left, nodes))
    return float(np.sum(weights * block))


def sinc_value(data: np.ndarray, x: float, y: float, sinscl: float) -> float:
    """Normalised cos**2-tapered sinc over pixels closer than 7 * sinscl, edges repeated."""
    half_width = SINC_HALF_WIDTH * sinscl
    pad = int(math.ceil(half_width)) + 1
    padded = np.pad(data, pad, mode="edge")

    def axis_weights(position: float) -> tuple[np.ndarray, np.ndarray]:
        pixels = np.arange(math.floor(position - half_width), math.ceil(position + half_width) + 1)
        distance = position - pixels
        keep = np.abs(distance) < half_width
        weights = np.sinc(distance[keep] / sinscl) * np.cos(np.pi * distance[keep] / (2 * half_width)) ** 2
        return pixels[keep], weights / weights.sum()

    cols, col_weights = axis_weights(x)
    rows, row_weights = axis_weights(y)
    block = padded[np.ix_(rows + pad, cols + pad)]
    return float(np.sum(np.outer(row_weights, col_weights) * block))


def reference_blot(data: np.ndarray, pixmap: np.ndarray, interp: str, *,
                   sinscl: float = 1.0, scale: float = 1.0, fillval: float = 0.0) -> np.ndarray:
    """Blot ``data`` at every ``pixmap`` position, one pixel at a time.

    Same contract as :func:`multidrizzle.kernels.blot.blot_image`: points
    outside ``-0.5 <= coordinate < size - 0.5`` or whose footprint holds a
    NaN get ``fillval``; other values are multiplied by ``scale``.
    """
    image = np.asarray(data, dtype=np.float64)
    n_rows, n_cols = image.shape
    result = np.empty(pixmap.shape[:2], dtype=np.float64)
    for row, col in np.ndindex(result.shape):
        x, y = pixmap[row, col]
        if not (-0.5 <= x < n_cols - 0.5 and -0.5 <= y < n_rows - 0.5):
            result[row, col] = fillval
            continue
        if interp == "nearest":
            value = nearest_value(image, x, y)
        elif interp == "linear":
            value = linear_value(image, x, y)
        elif interp in POLY_NODES:
            value = poly_value(image, x, y, interp)
        elif interp == "sinc":
            value = sinc_value(image, x, y, sinscl)
        else:
            raise ValueError(f"unknown interpolant {interp!r}")
        result[row, col] = fillval if np.isnan(value) else value * scale
    return result.astype(np.float32)

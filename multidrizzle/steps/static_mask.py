"""Step 1: the static bad-pixel mask.

Pixels far below a chip's sky are usually bad pixels over-subtracted by the
dark calibration.  For every chip, AstroDrizzle takes the ``imagestats``
statistics with 3 clipping iterations at 3 sigma on both sides (no value
limits) and flags pixels below ``mode - static_sig * stddev``, where the
mode comes from a histogram with bins of 0.1 stddev.  The masks of every
chip that shares a *signature* (instrument/detector, size, chip) are OR-ed
together over all exposures, so one mask per detector chip results.

An optional user ``staticfile`` (MultiDrizzle) is OR-ed in as well: a FITS
file whose pixels are 1 (good) or 0 (bad), either one 2-D image used for
every chip or one ``MASK`` extension per chip, matched by EXTVER.

Masks are returned as boolean arrays with True = bad.  On disk they follow
AstroDrizzle's convention (``uint8``, 1 = good, 0 = bad) and its naming,
``[Instrument][Detector]_[nx]x[ny]_[chip]_staticMask.fits``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from multidrizzle.io.layout import static_mask_filename
from multidrizzle.kernels.statistics import clipped_moments, histogram_mode
from multidrizzle.io.userfiles import read_user_static_mask
from multidrizzle.model import Chip
from multidrizzle.progress import ProgressCallback, no_progress, tracked

__all__ = [
    "chip_static_mask",
    "static_threshold",
    "build_static_masks",
    "static_masks_of",
    "merged_static_masks",
]

log = logging.getLogger(__name__)

#: ``imagestats`` settings AstroDrizzle uses for the static mask: clipping
#: iterations, clipping limits (in sigma) and histogram bin width (in sigma).
STATIC_NCLIP = 3
STATIC_CLIP_SIGMA = 3.0
STATIC_BIN_WIDTH = 0.1



def static_threshold(science: np.ndarray, static_sig: float,
                     usable: np.ndarray | None = None) -> tuple[float, float, float | None]:
    """Clipped mode and rms of a chip and the static-mask threshold below them.

    Parameters
    ----------
    science : ndarray, 2-D
        The chip's science array (any units).
    static_sig : float
        Number of rms below the mode where pixels become bad.
    usable : ndarray of bool, optional
        Pixels allowed into the statistics (all finite pixels by default).

    Returns
    -------
    mode, rms : float
        Histogram mode and standard deviation after clipping (NaN when no
        pixel is usable).
    threshold : float or None
        ``mode - static_sig * rms``; None when the clipped distribution has
        no spread (AstroDrizzle then adds nothing to the mask).
    """
    if not static_sig > 0:
        raise ValueError(f"static_sig must be positive, got {static_sig}")
    values = science if usable is None else science[_checked_usable(usable, science.shape)]
    moments = clipped_moments(values, nclip=STATIC_NCLIP, lsigma=STATIC_CLIP_SIGMA,
                              usigma=STATIC_CLIP_SIGMA)
    if moments.npix == 0:
        return float("nan"), float("nan"), None
    if not moments.stddev > 0:
        return moments.mean, 0.0, None
    mode = histogram_mode(values, moments.minimum, moments.maximum,
                          STATIC_BIN_WIDTH * moments.stddev)
    return mode, moments.stddev, mode - static_sig * moments.stddev


def chip_static_mask(science: np.ndarray, static_sig: float,
                     usable: np.ndarray | None = None) -> np.ndarray:
    """Pixels more than ``static_sig`` rms below the clipped mode of one chip.

    Parameters
    ----------
    science : ndarray, 2-D
        The chip's science array.
    static_sig : float
        Clipping limit in rms below the mode.
    usable : ndarray of bool, optional
        Pixels allowed into the statistics; every pixel below the threshold
        is flagged whether usable or not.

    Returns
    -------
    ndarray of bool
        True where the pixel is bad.
    """
    science = np.asarray(science)
    if science.ndim != 2:
        raise ValueError(f"science must be a 2-D array, got shape {science.shape}")
    _, _, threshold = static_threshold(science, static_sig, usable)
    if threshold is None:
        return np.zeros(science.shape, dtype=bool)
    return science < threshold


def _checked_usable(usable: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    usable = np.asarray(usable, dtype=bool)
    if usable.shape != shape:
        raise ValueError(f"usable has shape {usable.shape}, expected {shape}")
    return usable


def build_static_masks(chips: Sequence[Chip], static_sig: float,
                       staticfile: str | None = None, *,
                       progress: ProgressCallback = no_progress) -> dict[tuple, np.ndarray]:
    """One static mask per chip signature, OR-ed over every exposure.

    Parameters
    ----------
    chips : sequence of Chip
        Every chip of every exposure; each SCI array is read once.
    static_sig : float
        Clipping limit in rms below the mode.
    staticfile : str, optional
        User bad-pixel mask (1 = good, 0 = bad) OR-ed into every mask: one
        2-D image for all chips, or ``MASK`` extensions matched by EXTVER.
    progress : callable
        ``progress(done, total, label)`` after each chip (see
        :mod:`multidrizzle.progress`).

    Returns
    -------
    dict
        ``signature -> ndarray of bool`` (True = bad), shape ``(ny, nx)``.

    Raises
    ------
    InputError
        If ``staticfile`` is missing, lacks a chip's extension, or has an
        image whose shape differs from the chip's.
    """
    return merged_static_masks([static_masks_of(chips, static_sig, staticfile,
                                                progress=progress)])


def static_masks_of(chips: Sequence[Chip], static_sig: float,
                    staticfile: str | None = None, *,
                    progress: ProgressCallback = no_progress) -> dict[tuple, np.ndarray]:
    """The static masks of some chips (one exposure's, say), OR-ed by signature.

    The part of :func:`build_static_masks` a task does; the parts of all
    chips come together in :func:`merged_static_masks`.  Parameters and
    errors are those of :func:`build_static_masks`.
    """
    masks: dict[tuple, np.ndarray] = {}
    for chip in tracked(chips, progress, label=lambda chip: chip.name):
        science = chip.read_science()
        mode, rms, threshold = static_threshold(science, static_sig)
        bad = (np.zeros(chip.shape, dtype=bool) if threshold is None
               else science < threshold)
        log.info("static mask %s: mode = %.6g, rms = %.6g, static_sig = %.2f, %d pixels "
                 "flagged%s", chip.name, mode, rms, static_sig, int(bad.sum()),
                 "" if threshold is not None else " (no spread in the data: nothing flagged)")
        if staticfile:
            user_bad = ~read_user_static_mask(staticfile, chip)
            bad |= user_bad
        _or_into(masks, chip.signature, bad)
    return masks


def _or_into(masks: dict[tuple, np.ndarray], signature: tuple, bad: np.ndarray) -> None:
    """OR ``bad`` into the mask of ``signature`` (``bad`` itself becomes it if none yet)."""
    if signature in masks:
        masks[signature] |= bad
    else:
        masks[signature] = bad


def merged_static_masks(parts: Iterable[dict[tuple, np.ndarray]]) -> dict[tuple, np.ndarray]:
    """The parts' masks OR-ed by signature (the parts' arrays are reused), logged.

    The OR does not depend on the parts' order, so the masks are the same
    however the chips were shared out.
    """
    masks: dict[tuple, np.ndarray] = {}
    for part in parts:
        for signature, bad in part.items():
            _or_into(masks, signature, bad)
    for signature, mask in masks.items():
        log.info("static mask %s: %d bad pixels", static_mask_filename(signature),
                 int(mask.sum()))
    return masks


# ---------------------------------------------------------------------------
# the step


@dataclass(frozen=True)
class StaticSettings:
    """The static-mask step's parameters (named and meant as the session's)."""

    static_sig: float
    staticfile: str


@dataclass(frozen=True)
class StaticInputs:
    """What the static-mask step works on: every selected chip and the settings."""

    chips: tuple[Chip, ...]
    settings: StaticSettings


def run_static(inputs: StaticInputs, progress: ProgressCallback = no_progress
               ) -> dict[tuple, np.ndarray]:
    """The static-mask step: one bad-pixel mask per chip signature (True = bad)."""
    return build_static_masks(inputs.chips, inputs.settings.static_sig,
                              inputs.settings.staticfile or None, progress=progress)

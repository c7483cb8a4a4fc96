"""Step 6: cosmic-ray detection by comparison with the blotted median (driz_cr).

Each input chip is compared, pixel by pixel, with the median image blotted
back onto it; see :mod:`multidrizzle.kernels.cosmic_rays` for the formulas.

Units convention
----------------
``science`` is the chip in its processing units, named by ``units``:

============== =================================== ==========================
``units``      one unit is                         factor ``f`` to electrons
============== =================================== ==========================
``electrons``  one electron                        1
``counts``     one DN                              ``gain``
``electrons/s`` one electron per second            ``exptime``
``counts/s``   one DN per second (also ``cps``)    ``gain * exptime``
============== =================================== ==========================

``blotted_median`` must be in the same units *with the sky added back*
(as AstroDrizzle's blot does with ``blot_addsky``), i.e. directly comparable
with the unmodified ``science`` values.  ``blot_sky`` is the sky the blot
added back, ``sky`` a sky level that ``science`` holds and the blotted median
does not (the user removed it beforehand; 0 otherwise), both in those units.
``read_noise`` is in electrons and ``gain`` in e-/DN.  For data in counts,
drizzlepac applies the gain twice (it scales the images to electrons and
still divides by an effective gain equal to the gain); here, as in IRAF
driz_cr, the gain enters once.

The noise model
---------------
The formulas are in :mod:`multidrizzle.kernels.cosmic_rays`; why they are
what they are:

*The median's own variance, in both tests.*  ``B`` is itself a measurement,
the median of the ``n`` exposures covering the pixel, and where ``D`` is high
the median leaves ``D`` out: the noise of ``D - B`` is that of the data plus
the median's, ``v`` times the data's variance.  :func:`median_variance_ratio`
gives ``v`` from ``n``: ``1/n`` for a mean and for ``n <= 2`` (the median of
two values is their mean), ``pi / (2 n)`` for a median of ``n >= 3`` (the
median's asymptotic efficiency).

*Poisson counts are skewed.*  At the tens of electrons of an HST sky the
upper tail of a Poisson count plus read noise is 2 to 4 times heavier than a
Gaussian's at 3.5 to 4.5 sigma (measured on the demo exposures, as the
simulation predicts).  Both tests move their threshold by the
Cornish-Fisher term to the Gaussian tail probability of ``snr``.

*The first test counts the sky twice.*  The first test decides where a
cosmic ray starts.  With 10^5 to 10^7 pixels per chip even correct 3.5-sigma
thresholds let pure-noise peaks start tens of detections per chip (the second
test then grows each of them).  The first test therefore keeps
AstroDrizzle's expression, whose ``backg`` term adds the sky a second time to
a blotted median that already holds it: about sqrt(2) on the threshold in
sky-dominated pixels, nothing on bright sources.  The cosmic rays worth
finding have a bright pixel, so this costs little: on the demo sets of
``benchmarks/bench_pipeline.py`` the pure-noise starts fall from about 40 to
1 per 4 million pixels tested while recall drops by 0.1 to 0.2 percentage
points.  The second test, which only looks next to a first-test pixel,
counts the sky once (the data's own noise) and recovers the cosmic ray's
extent.

*Sources.*  On the slopes of stars the derivative allowance hides bright
cosmic rays (the ones AstroDrizzle misses too: on the demo sets, median
blotted level ~370 e- and derivative ~800 e-/px); the sharpness test
(``driz_cr_sharpness``) finds them by their contrast with their neighbours.
At a source's core the median is smoother, and with few exposures lower,
than one exposure; the core test (``driz_cr_peak_ratio``) spares the core
unless its excess reaches that fraction of the source.  Pixels whose blotted
value was interpolated from median pixels without data (``blotted_counts``
0: under masked saturated cores, at the grid's edges) are not tested: their
blotted values are interpolation artefacts, not a model.

Masks
-----
Pixels that are bad in DQ (``good_mask`` False), rejected by the static mask
(``static_mask`` True, as :mod:`multidrizzle.steps.static_mask` returns it:
True = bad; its files use AstroDrizzle's 1 = good), or not finite in
``science`` or ``blotted_median`` are never tested and never reported: they
do not trigger the looser second-pass threshold for their neighbours, and
growth around real cosmic rays does not reach into them.  A NaN therefore
only ever affects its own pixel (and removes itself from its neighbours'
derivative).

The ``_crmask`` file follows AstroDrizzle: uint8, 1 = good, 0 = cosmic ray.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from multidrizzle.errors import ParameterError
from multidrizzle.kernels.cosmic_rays import flag_cosmic_rays, grow_cosmic_rays
from multidrizzle.io.products import processing_bunit
from multidrizzle.model import Chip
from multidrizzle.progress import ProgressCallback, no_progress, tracked
from multidrizzle.steps.drizzle import good_pixel_mask
from multidrizzle.steps.sky import SkyResult

__all__ = [
    "CR_UNITS",
    "cosmic_ray_clean",
    "detect_cosmic_rays",
    "detect_cosmic_rays_per_chip",
    "CosmicRaySettings",
    "CosmicRayInputs",
    "run_driz_cr",
    "cte_direction_for_growth",
    "electrons_per_unit",
    "median_variance_ratio",
    "update_dq",
]

log = logging.getLogger(__name__)

#: Accepted ``units`` (lower case) -> (value is in DN?, value is per second?).
CR_UNITS: dict[str, tuple[bool, bool]] = {
    "electrons": (False, False),
    "counts": (True, False),
    "electrons/s": (False, True),
    "counts/s": (True, True),
    "cps": (True, True),
}


def electrons_per_unit(units: str, *, gain: float, exptime: float) -> float:
    """Factor that turns a pixel value in ``units`` into electrons.

    Parameters
    ----------
    units : str
        One of :data:`CR_UNITS` (case-insensitive).
    gain : float
        e-/DN; used (and required positive) for counts.
    exptime : float
        Seconds; used (and required positive) for rates.

    Raises
    ------
    multidrizzle.errors.ParameterError
        For unknown units, or a needed gain or exposure time that is not
        positive and finite.
    """
    key = units.strip().lower() if isinstance(units, str) else units
    if key not in CR_UNITS:
        raise ParameterError(f"units must be one of {', '.join(repr(u) for u in CR_UNITS)}; "
                             f"got {units!r}.")
    in_counts, per_second = CR_UNITS[key]
    factor = 1.0
    if in_counts:
        factor *= _positive(gain, "gain", units)
    if per_second:
        factor *= _positive(exptime, "exptime", units)
    return factor


def median_variance_ratio(counts: np.ndarray, combine_is_mean: bool) -> np.ndarray:
    """Variance of the combined image relative to one input's, from the input counts.

    Parameters
    ----------
    counts : numpy.ndarray
        Number of inputs that entered each pixel of the combination (any
        integer array; 0 where none did).
    combine_is_mean : bool
        Whether the combination averages its inputs (``combine_type``
        'mean'/'imean', :attr:`~multidrizzle.steps.median.CombineType.is_mean`)
        rather than taking their median (median, minmed and their 'i' forms).

    Returns
    -------
    numpy.ndarray
        float32, same shape: ``1/n`` for a mean and for ``n <= 2``,
        ``pi / (2 n)`` for the median of ``n >= 3`` values, 0 where ``n = 0``
        (no data: nothing to compare with).
    """
    n = np.asarray(counts)
    if not np.issubdtype(n.dtype, np.integer):
        raise ValueError(f"counts must be integers; got dtype {n.dtype}")
    largest = int(n.max(initial=0))
    if n.size and int(n.min()) < 0:
        raise ValueError("counts must be >= 0")
    # one value per possible count, looked up for every pixel
    possible = np.arange(largest + 1, dtype=np.float64)
    table = np.zeros(largest + 1)
    table[1:] = 1.0 / possible[1:]
    if not combine_is_mean:
        table[3:] = (math.pi / 2) / possible[3:]
    return table.astype(np.float32)[n]


def _positive(value: float, name: str, units: str) -> float:
    """``value`` as a positive finite float, or ParameterError naming the units."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not (math.isfinite(number) and number > 0.0):
        raise ParameterError(f"{name} must be positive and finite for data in {units!r}; "
                             f"got {value!r}.")
    return number


def _optional_mask(mask: np.ndarray | None, name: str, shape: tuple[int, ...], *,
                   default: bool) -> np.ndarray:
    """``mask`` as a boolean array of ``shape``; filled with ``default`` when None."""
    if mask is None:
        return np.full(shape, default, dtype=np.bool_)
    return _boolean_mask(mask, name, shape)


def _boolean_mask(mask: np.ndarray, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """``mask`` as a boolean array (possibly the caller's own) checked to be of ``shape``."""
    array = np.asarray(mask)
    if array.shape != shape:
        raise ValueError(f"{name} must have the shape of the science array {shape}; "
                         f"got {array.shape}.")
    if not (array.dtype == np.bool_ or np.issubdtype(array.dtype, np.integer)):
        raise ValueError(f"{name} must be boolean; got dtype {array.dtype}.")
    return array.astype(np.bool_, copy=False)


def detect_cosmic_rays(
    science: np.ndarray,
    blotted_median: np.ndarray,
    *,
    good_mask: np.ndarray | None,
    static_mask: np.ndarray | None,
    gain: float,
    read_noise: float,
    exptime: float,
    sky: float,
    units: str,
    driz_cr_snr: Sequence[float] = (3.5, 3.0),
    driz_cr_scale: Sequence[float] = (1.2, 0.7),
    driz_cr_grow: int = 1,
    driz_cr_ctegrow: int = 0,
    cte_direction: int = 0,
    model_variance: np.ndarray | float = 0.0,
    blot_sky: float = 0.0,
    driz_cr_sharpness: float = 2.5,
    driz_cr_peak_ratio: float = 1.0,
    blotted_counts: np.ndarray | None = None,
) -> np.ndarray:
    """Find the cosmic rays of one input chip (AstroDrizzle ``driz_cr``).

    Parameters
    ----------
    science : numpy.ndarray
        The chip's SCI data in its processing units (see ``units``), not
        sky-subtracted.
    blotted_median : numpy.ndarray
        The median image blotted onto this chip, same shape and units, with
        the sky added back.
    good_mask : numpy.ndarray or None
        Boolean, True where the DQ array accepts the pixel (build it with the
        cosmic-ray bit ignored so that earlier runs do not mask their own
        detections).  None: every pixel is good.
    static_mask : numpy.ndarray or None
        Boolean, True where the static mask rejected the pixel (True = bad,
        as :mod:`multidrizzle.steps.static_mask` returns it; the inverse of
        the 1 = good static-mask files).  None: no static mask.
    gain : float
        e-/DN; needed for ``counts`` and ``counts/s``.
    read_noise : float
        Read noise in electrons, >= 0.
    exptime : float
        Exposure time in seconds; needed for per-second units.
    sky : float
        Sky level, in the science units, that ``science`` holds and
        ``blotted_median`` does not (the user removed it before
        multidrizzle; 0 when the blot added the subtracted sky back): its
        Poisson noise is added in both tests.
    units : str
        ``'electrons'``, ``'counts'``, ``'electrons/s'`` or ``'counts/s'``
        (``'cps'``), case-insensitive.
    driz_cr_snr : pair of float, optional
        Signal-to-noise thresholds (first pass, second pass), > 0.
    driz_cr_scale : pair of float, optional
        Scale factors of the blotted median's derivative (first, second), >= 0.
    driz_cr_grow : int, optional
        Side of the box by which detections are dilated (>= 1; 1 = none).
    driz_cr_ctegrow : int, optional
        Length in pixels of the CTE tail masked along y (>= 0).
    cte_direction : {-1, 0, 1}, optional
        The chip's readout direction along y (drizzlepac ``cte_dir``): +1 puts
        the tail at smaller y than the cosmic ray, -1 at larger y, 0 none.
    model_variance : numpy.ndarray or float, optional
        Variance of the blotted median relative to the data's, per pixel
        (see :func:`median_variance_ratio` and the module notes); 0 takes
        the median as noise-free.
    blot_sky : float, optional
        Sky level, in the science units, that ``blotted_median`` holds (the
        subtracted sky the blot added back): counted a second time in the
        first test, as AstroDrizzle's ``backg``.
    driz_cr_sharpness : float, optional
        ``k`` of the sharpness test on source slopes (>= 0; 0: off; the
        session's default 2.5).
    driz_cr_peak_ratio : float, optional
        ``p`` of the core test at the median's local maxima (>= 0; 0: off;
        the session's default 1.0).
    blotted_counts : numpy.ndarray or None, optional
        Exposures behind the blotted median at each pixel (the fewest among
        the median pixels its interpolation used, as
        :func:`multidrizzle.steps.blot.blot_counts` gives them); pixels
        where it is 0 have no median to compare with and are not tested.
        None: every pixel has one.

    Returns
    -------
    numpy.ndarray
        Boolean array of the chip's shape, True = cosmic ray (grown).
        Pixels that are bad, statically masked or not finite are False.

    Raises
    ------
    ValueError
        If the arrays do not share one 2-D shape or masks are not boolean.
    multidrizzle.errors.ParameterError
        If a parameter is out of range or ``units`` unknown.
    """
    data = np.asarray(science)
    model = np.asarray(blotted_median)
    if data.ndim != 2:
        raise ValueError(f"science must be a 2-D image; got an array of shape {data.shape}.")
    if model.shape != data.shape:
        raise ValueError(f"blotted_median must have the shape of science {data.shape}; "
                         f"got {model.shape}.")
    factor = electrons_per_unit(units, gain=gain, exptime=exptime)
    testable = _optional_mask(good_mask, "good_mask", data.shape, default=True).copy()
    testable &= ~_optional_mask(static_mask, "static_mask", data.shape, default=False)
    if blotted_counts is not None:
        counts = np.asarray(blotted_counts)
        if counts.shape != data.shape:
            raise ValueError(f"blotted_counts must have the shape of science {data.shape}; "
                             f"got {counts.shape}.")
        testable &= counts > 0
    # Growth must not reach pixels that were never testable, NaNs included.
    with np.errstate(invalid="ignore"):
        testable &= np.isfinite(data) & np.isfinite(model)

    detected = flag_cosmic_rays(data, model, testable, to_electrons=factor,
                                read_noise=read_noise, sky=sky, blot_sky=blot_sky,
                                snr=driz_cr_snr, scale=driz_cr_scale,
                                model_variance=model_variance,
                                sharpness=driz_cr_sharpness, peak_ratio=driz_cr_peak_ratio)
    grown = grow_cosmic_rays(detected, grow=driz_cr_grow, ctegrow=driz_cr_ctegrow,
                             cte_direction=cte_direction)
    grown &= testable
    if log.isEnabledFor(logging.DEBUG):
        log.debug("driz_cr: %d pixels detected, %d after growth", int(detected.sum()),
                  int(grown.sum()))
    return grown


def detect_cosmic_rays_per_chip(
    chips: Sequence[Chip],
    arguments_of: Callable[[Chip], Mapping[str, Any]],
    *,
    progress: ProgressCallback = no_progress,
) -> dict[str, np.ndarray]:
    """:func:`detect_cosmic_rays` on every chip, one at a time.

    Parameters
    ----------
    chips : sequence of Chip
        The chips, in order.
    arguments_of : callable
        A chip's keyword arguments of :func:`detect_cosmic_rays` (its data,
        blotted median, masks and noise), made when the chip's turn comes so
        that one chip's arrays are in memory at a time.
    progress : callable
        ``progress(done, total, label)`` after each chip (see
        :mod:`multidrizzle.progress`).

    Returns
    -------
    dict
        ``chip.name`` -> cosmic-ray mask (True = cosmic ray).
    """
    return {chip.name: detect_cosmic_rays(**arguments_of(chip))
            for chip in tracked(chips, progress, label=lambda chip: chip.name)}


def update_dq(dq: np.ndarray, cr_mask: np.ndarray, crbit: int) -> np.ndarray:
    """A copy of a DQ array with ``crbit`` set on the cosmic-ray pixels.

    Parameters
    ----------
    dq : numpy.ndarray
        Integer DQ array (left untouched).
    cr_mask : numpy.ndarray
        Boolean, same shape, True = cosmic ray.
    crbit : int
        Bit value(s) to OR in (AstroDrizzle ``crbit``, default 4096 there);
        0 leaves the DQ values unchanged.

    Returns
    -------
    numpy.ndarray
        New array of ``dq``'s dtype.

    Raises
    ------
    ValueError
        If ``dq`` is not an integer array or ``cr_mask`` has another shape.
    multidrizzle.errors.ParameterError
        If ``crbit`` is negative or does not fit ``dq``'s dtype.
    """
    flags = np.asarray(dq)
    if not np.issubdtype(flags.dtype, np.integer):
        raise ValueError(f"dq must be an integer array; got dtype {flags.dtype}.")
    mask = _boolean_mask(cr_mask, "cr_mask", flags.shape)
    if isinstance(crbit, bool) or not isinstance(crbit, (int, np.integer)) or crbit < 0:
        raise ParameterError(f"crbit must be an integer >= 0; got {crbit!r}.")
    if crbit > np.iinfo(flags.dtype).max:
        raise ParameterError(f"crbit={crbit} does not fit the DQ array's dtype {flags.dtype}.")
    updated = flags.copy()
    if crbit:
        updated[mask] |= flags.dtype.type(crbit)
    return updated


def cosmic_ray_clean(science: np.ndarray, blotted_median: np.ndarray,
                     cr_mask: np.ndarray) -> np.ndarray:
    """The ``_crclean`` image: cosmic-ray pixels replaced by the blotted median.

    Parameters
    ----------
    science, blotted_median : numpy.ndarray
        The chip and its blotted median, same shape and units.
    cr_mask : numpy.ndarray
        Boolean, True = cosmic ray.

    Returns
    -------
    numpy.ndarray
        Copy of ``science`` (same dtype) in which only the cosmic-ray pixels
        hold the blotted median's values.
    """
    data = np.asarray(science)
    model = np.asarray(blotted_median)
    if model.shape != data.shape:
        raise ValueError(f"blotted_median must have the shape of science {data.shape}; "
                         f"got {model.shape}.")
    mask = _boolean_mask(cr_mask, "cr_mask", data.shape)
    clean = data.copy()
    clean[mask] = model[mask]
    return clean


# ---------------------------------------------------------------------------
# the step


@dataclass(frozen=True)
class CosmicRaySettings:
    """The driz_cr step's parameters (named and meant as the session's)."""

    driz_cr_snr: tuple[float, float]
    driz_cr_scale: tuple[float, float]
    driz_cr_grow: int
    driz_cr_ctegrow: int
    driz_cr_sharpness: float
    driz_cr_peak_ratio: float


@dataclass(frozen=True)
class CosmicRayInputs:
    """What the driz_cr step works on.

    Attributes
    ----------
    chips : tuple of Chip
        The chips to test, in order.
    blotted : mapping
        ``chip.name`` -> the median blotted onto the chip (the blot step's
        result; arrays, or images kept in files read on look-up).
    settings : CosmicRaySettings
    good_bits : int or None
        DQ bits that count as good (``driz_sep_bits``).
    combine_is_mean : bool
        Whether the median step averaged (sets the median's noise).
    n_exposures : int
        Exposures in the median, when the per-pixel count is unknown.
    blotted_counts : mapping or None
        ``chip.name`` -> exposures behind the blotted median at each pixel.
    static_masks : mapping or None
        The static-mask step's result.
    sky : SkyResult or None
        The sky step's result.
    blot_skies : mapping or None
        ``chip.name`` -> what the blot step added to the blotted median
        (processing units; see :func:`multidrizzle.steps.blot.blot_sky`).
    """

    chips: tuple[Chip, ...]
    blotted: Mapping[str, np.ndarray]
    settings: CosmicRaySettings
    good_bits: int | None
    combine_is_mean: bool
    n_exposures: int
    blotted_counts: Mapping[str, np.ndarray] | None = None
    static_masks: Mapping[tuple, np.ndarray] | None = None
    sky: SkyResult | None = None
    blot_skies: Mapping[str, float] | None = None


def cte_direction_for_growth(chip: Chip, driz_cr_ctegrow: int) -> int:
    """The chip's readout direction for the driz_cr step, warning when a tail cannot be grown.

    Returns
    -------
    int
        +1, -1 or 0, as :attr:`multidrizzle.model.Chip.cte_direction`.  With
        ``driz_cr_ctegrow > 0`` and a direction of 0, a WARNING names the
        chip: its cosmic rays get no CTE tail.
    """
    direction = chip.cte_direction
    if driz_cr_ctegrow > 0 and direction == 0:
        instrument, detector = chip.signature[0].split("/")
        log.warning("driz_cr: driz_cr_ctegrow=%d but the CTE direction of %s (%s/%s) "
                    "is not known; no CTE tail is masked on this chip", driz_cr_ctegrow,
                    chip.name, instrument or "unknown instrument",
                    detector or "unknown detector")
    return direction


def _model_variance(chip: Chip, inputs: CosmicRayInputs) -> np.ndarray | float:
    """Variance of the chip's blotted median relative to one exposure's.

    From the exposures behind each median pixel; when no step said how many
    (a user's median or blot step), every exposure is assumed to cover
    every pixel, as the log says.
    """
    counts = inputs.blotted_counts.get(chip.name) if inputs.blotted_counts else None
    if counts is None:
        n = inputs.n_exposures
        log.info("driz_cr %s: the median's inputs per pixel are unknown (user step); "
                 "taking all %d exposures for its noise", chip.name, n)
        return float(median_variance_ratio(np.array(n), inputs.combine_is_mean))
    return median_variance_ratio(counts, inputs.combine_is_mean)


def _sky_missing_from_blot(chip: Chip, sky: SkyResult | None) -> float:
    """Sky whose Poisson noise the blotted median does not already carry.

    When multidrizzle subtracted the sky, the blot adds it back, so its noise
    is in the blotted values already (AstroDrizzle adds it a second time,
    which raises every threshold by the sky noise and misses faint cosmic
    rays).  When the user removed the sky beforehand (``skyuser``, or a sky
    file marked applied), neither data nor blot hold it and its noise must be
    added.
    """
    if sky is None or sky.subtract:
        return 0.0
    return sky.in_processing_units(chip)


def run_driz_cr(inputs: CosmicRayInputs, progress: ProgressCallback = no_progress
                ) -> dict[str, np.ndarray]:
    """The driz_cr step: every chip's cosmic-ray mask (True = cosmic ray)."""
    settings = inputs.settings

    def arguments_of(chip: Chip) -> dict:
        static_mask = (None if inputs.static_masks is None
                       else inputs.static_masks.get(chip.signature))
        return dict(
            science=chip.read_science(), blotted_median=inputs.blotted[chip.name],
            good_mask=good_pixel_mask(chip.read_dq(), inputs.good_bits),
            static_mask=static_mask, gain=chip.gain, read_noise=chip.read_noise,
            exptime=chip.exptime, sky=_sky_missing_from_blot(chip, inputs.sky),
            units=processing_bunit(chip).lower(), driz_cr_snr=settings.driz_cr_snr,
            driz_cr_scale=settings.driz_cr_scale, driz_cr_grow=settings.driz_cr_grow,
            driz_cr_ctegrow=settings.driz_cr_ctegrow,
            cte_direction=cte_direction_for_growth(chip, settings.driz_cr_ctegrow),
            model_variance=_model_variance(chip, inputs),
            blot_sky=0.0 if inputs.blot_skies is None else inputs.blot_skies[chip.name],
            driz_cr_sharpness=settings.driz_cr_sharpness,
            driz_cr_peak_ratio=settings.driz_cr_peak_ratio,
            blotted_counts=inputs.blotted_counts.get(chip.name) if inputs.blotted_counts
            else None)

    return detect_cosmic_rays_per_chip(inputs.chips, arguments_of, progress=progress)

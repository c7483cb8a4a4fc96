"""The default function of each processing step, in session terms.

Each function takes the session (its parameters and the state the earlier
steps left) and returns that step's result; the session stores it.  A user
can replace any of them with a function of the same form
(``md.replace_step("sky", my_sky)``): it receives the session and returns a
result of the documented type.

====================  =====================================================
step                  result
====================  =====================================================
``static``            ``dict[signature, ndarray[bool]]`` (True = bad pixel)
``sky``               :class:`~multidrizzle.steps.sky.SkyResult`, or a
                      ``dict[chip name, float]`` of sky values (native units,
                      subtracted)
``driz_separate``     ``list[DrizzledImage]``, one per exposure (or an
                      iterator of them, stored one by one)
``median``            ``ndarray`` on the separate grid (count rate), or a
                      :class:`~multidrizzle.steps.median.MedianResult`
                      (which also counts the exposures behind each pixel)
``blot``              ``dict[chip name, ndarray]`` in the chip's processing
                      units, or an iterable of
                      :class:`~multidrizzle.steps.blot.BlottedChip`
``driz_cr``           ``dict[chip name, ndarray[bool]]`` (True = cosmic ray)
``driz_combine``      :class:`~multidrizzle.steps.drizzle.DrizzledImage`
====================  =====================================================
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Iterator

import numpy as np

from multidrizzle.errors import InputError
from multidrizzle.io.products import processing_bunit
from multidrizzle.model import Chip
from multidrizzle.steps.blot import (
    BlottedChip, blot_counts, blot_median, footprint_minimum, interpolation_reach,
)
from multidrizzle.steps.cosmic_rays import detect_cosmic_rays, median_variance_ratio
from multidrizzle.steps.drizzle import (
    DrizzledImage, DrizzleSettings, background_ivm, chip_weight_map, drizzle_exposures,
    good_pixel_mask,
)
from multidrizzle.steps.median import MedianResult, create_median
from multidrizzle.steps.sky import SkyResult, compute_sky
from multidrizzle.steps.static_mask import build_static_masks

if TYPE_CHECKING:  # pragma: no cover
    from multidrizzle.session import Multidrizzle

__all__ = ["DEFAULT_STEPS", "blot_sky", "cte_direction", "cte_direction_for_growth",
           "processing_units"]

log = logging.getLogger("multidrizzle")

#: Instruments whose CCD read-out leaves CTE tails along y, by SCI extver
#: (drizzlepac's ``cte_dir``, as :mod:`multidrizzle.kernels.cosmic_rays` reads
#: it).  SCI,1 (-1) is read out towards row 0, so its tails trail towards
#: higher rows: a cosmic ray at row y also masks rows y+1 .. y+ctegrow.
#: SCI,2 (+1) is read out towards its last row, so its tails trail towards
#: lower rows: rows y-ctegrow .. y-1.
_CTE_DIRECTION_BY_EXTVER = {("ACS", "WFC"): {1: -1, 2: 1}, ("WFC3", "UVIS"): {1: -1, 2: 1}}


def cte_direction(chip: Chip) -> int:
    """+1, -1 or 0: the readout direction along y, which sets the CTE tail side.

    +1 puts the tail at lower rows than the cosmic ray, -1 at higher rows
    (see :func:`multidrizzle.kernels.cosmic_rays.grow_cosmic_rays`); 0 means
    no tail is known for this instrument, detector and chip.
    """
    instrument, detector = chip.signature[0].split("/")
    return _CTE_DIRECTION_BY_EXTVER.get((instrument, detector), {}).get(chip.extver, 0)


def cte_direction_for_growth(chip: Chip, driz_cr_ctegrow: int) -> int:
    """:func:`cte_direction` for the driz_cr step, warning when a tail cannot be grown.

    Parameters
    ----------
    chip : Chip
    driz_cr_ctegrow : int
        The session's ``driz_cr_ctegrow``.

    Returns
    -------
    int
        +1, -1 or 0, as :func:`cte_direction`.  With ``driz_cr_ctegrow > 0``
        and a direction of 0, a WARNING names the chip: its cosmic rays get
        no CTE tail.
    """
    direction = cte_direction(chip)
    if driz_cr_ctegrow > 0 and direction == 0:
        instrument, detector = chip.signature[0].split("/")
        log.warning("driz_cr: driz_cr_ctegrow=%d but the CTE direction of %s (%s/%s) "
                    "is not known; no CTE tail is masked on this chip", driz_cr_ctegrow,
                    chip.name, instrument or "unknown instrument",
                    detector or "unknown detector")
    return direction


def processing_units(chip: Chip) -> str:
    """The units of ``chip.read_science()`` as the cosmic-ray step names them."""
    return processing_bunit(chip).lower()


def _chips(md: "Multidrizzle") -> list[Chip]:
    return [chip for exposure in md.exposures for chip in exposure.chips]


def _static_mask_of(md: "Multidrizzle", chip: Chip) -> np.ndarray | None:
    masks = md.static_masks
    return None if masks is None else masks.get(chip.signature)


def _sky_in_processing_units(md: "Multidrizzle", chip: Chip) -> float:
    return float(md.sky_values.get(chip.name, 0.0)) * chip.proc_scale if md.sky_values else 0.0


def _sky_subtracted(md: "Multidrizzle") -> bool:
    return bool(md.sky_values) and md.sky_subtracted


def run_static(md: "Multidrizzle") -> dict:
    """Static masks per chip signature (bad = True)."""
    return build_static_masks(_chips(md), md.static_sig, md.staticfile or None)


def run_sky(md: "Multidrizzle", *, skysub: bool = True) -> SkyResult:
    """Sky of every chip; with ``skysub=False`` only what CR rejection needs."""
    return compute_sky(
        [exposure.chips for exposure in md.exposures], skymethod=md.skymethod,
        skystat=md.skystat, skywidth=md.skywidth, skylower=md.skylower,
        skyupper=md.skyupper, skyclip=md.skyclip, skylsigma=md.skylsigma,
        skyusigma=md.skyusigma, sky_bits=md.bit_flags("sky_bits"),
        static_masks=md.static_masks, use_static=md.use_static,
        skymask_cat=md.skymask_cat, skyfile=md.skyfile, skyuser=md.skyuser,
        skysub=skysub)


def _separate_science(md: "Multidrizzle", chip: Chip) -> np.ndarray:
    science = md.read_science(chip)
    if _sky_subtracted(md):
        science -= np.float32(_sky_in_processing_units(md, chip))  # a private copy
    return science


def run_driz_separate(md: "Multidrizzle") -> Iterator[DrizzledImage]:
    """Each exposure alone on the separate grid, made one at a time as they are stored."""
    bits = md.bit_flags("driz_sep_bits")
    settings = DrizzleSettings(kernel=md.effective_kernel("driz_sep"),
                               pixfrac=md.driz_sep_pixfrac, wt_scl=md.driz_sep_wt_scl,
                               fillval=md.driz_sep_fillval, bits=bits)
    return drizzle_exposures(
        md.exposures, md.separate_pixel_maps, md.separate_grid, settings,
        science_of=lambda chip: _separate_science(md, chip),
        weights_of=lambda chip: chip_weight_map(chip, md.read_dq(chip), bits,
                                                static_mask=_static_mask_of(md, chip)),
        separate=True)


def run_median(md: "Multidrizzle") -> MedianResult:
    """Median of the separate drizzles (count rates in the processing units).

    The result also says how many exposures entered each pixel
    (``good_counts``), which the cosmic-ray step needs for the median's noise.

    minmed's noise model gets, per exposure, AstroDrizzle's values: the
    lowest sky of its chips in electrons, the root mean square of their read
    noises, and the electrons per processing unit (the gain for data in DN
    processed natively, else 1; the mean over the chips, which share one
    gain on every HST detector that writes DN).
    """
    singles = md.single_drizzles
    sky_electrons, read_noises, gains = [], [], []
    for exposure in md.exposures:
        chips = exposure.chips
        sky_electrons.append(min(float(md.sky_values.get(c.name, 0.0)) * c.to_electrons
                                 for c in chips) if md.sky_values else 0.0)
        read_noises.append(float(np.sqrt(np.mean([c.read_noise ** 2 for c in chips]))))
        # to_electrons / proc_scale: electrons per processing unit, per exposure
        # for a rate; dividing a rate's by the exposure time leaves the gain.
        gains.append(float(np.mean([c.to_electrons / c.proc_scale
                                    / (c.exptime if c.processing_is_rate else 1.0)
                                    for c in chips])))
    result = create_median(
        [s.sci for s in singles], [s.wht for s in singles],
        combine_type=md.combine_type, combine_maskpt=md.combine_maskpt,
        combine_nsigma=md.combine_nsigma, combine_nlow=md.combine_nlow,
        combine_nhigh=md.combine_nhigh, combine_lthresh=md.combine_lthresh,
        combine_hthresh=md.combine_hthresh, combine_grow=md.combine_grow,
        combine_bufsize=md.combine_bufsize, median_newmasks=md.median_newmasks,
        exptimes=[e.exptime for e in md.exposures], sky_values_electrons=sky_electrons,
        read_noises=read_noises, units="cps", gains=gains,
        fillval=0.0)
    return result


def blot_sky(md: "Multidrizzle", chip: Chip) -> float:
    """What the blot step adds to the blotted median so that it matches the chip's data.

    The sky subtracted before drizzling (``blot_addsky=True``; nothing when
    no sky was subtracted), or ``blot_skyval`` in the chip's native units.

    Returns
    -------
    float
        In the chip's processing units; the ``_blt`` file records it as
        MDRIZSKY.
    """
    if md.blot_addsky:
        return _sky_in_processing_units(md, chip) if _sky_subtracted(md) else 0.0
    return float(md.blot_skyval) * chip.proc_scale


def run_blot(md: "Multidrizzle") -> Iterator[BlottedChip]:
    """The median blotted onto every chip, one chip at a time.

    The number of exposures behind each median pixel is blotted too (when
    the median step gave it), through the same pixel map: at each chip pixel
    the fewest among the median pixels the interpolation read, so that 0
    marks blotted values interpolated from pixels without data.
    """
    median = md.median_image  # read once (a file when in_memory=False)
    # per chip pixel: the fewest exposures behind the median pixels its blot read
    counts = None if md.median_counts is None else footprint_minimum(
        md.median_counts, interpolation_reach(md.blot_interp, md.blot_sinscl))
    for chip in _chips(md):
        pixmap = md.separate_pixel_maps[chip.name].evaluate()
        image = blot_median(median, chip, pixmap, md.separate_grid, interp=md.blot_interp,
                            sinscl=md.blot_sinscl, sky=blot_sky(md, chip))
        yield BlottedChip(chip.name, image,
                          None if counts is None else blot_counts(counts, pixmap))


def _model_variance(md: "Multidrizzle", chip: Chip) -> np.ndarray | float:
    """Variance of the chip's blotted median relative to one exposure's (driz_cr).

    From the exposures behind each median pixel; when no step said how many
    (a user's median or blot step), every exposure is assumed to cover
    every pixel, as the log says.
    """
    counts = md.blotted_counts.get(chip.name) if md.blotted_counts else None
    if counts is None:
        n = len(md.exposures)
        log.info("driz_cr %s: the median's inputs per pixel are unknown (user step); "
                 "taking all %d exposures for its noise", chip.name, n)
        return float(median_variance_ratio(np.array(n), md.combine_type))
    return median_variance_ratio(counts, md.combine_type)


def _sky_missing_from_blot(md: "Multidrizzle", chip: Chip) -> float:
    """Sky whose Poisson noise the blotted median does not already carry.

    When multidrizzle subtracted the sky, the blot adds it back, so its noise
    is in the blotted values already (AstroDrizzle adds it a second time,
    which raises every threshold by the sky noise and misses faint cosmic
    rays).  When the user removed the sky beforehand (``skyuser``, or a sky
    file marked applied), neither data nor blot hold it and its noise must be
    added.
    """
    return 0.0 if _sky_subtracted(md) else _sky_in_processing_units(md, chip)


def run_driz_cr(md: "Multidrizzle") -> dict[str, np.ndarray]:
    """Cosmic-ray masks of every chip (True = cosmic ray)."""
    bits = md.bit_flags("driz_sep_bits")
    masks = {}
    for chip in _chips(md):
        masks[chip.name] = detect_cosmic_rays(
            md.read_science(chip), md.blotted_images[chip.name],
            good_mask=good_pixel_mask(md.read_dq(chip), bits),
            static_mask=_static_mask_of(md, chip), gain=chip.gain,
            read_noise=chip.read_noise, exptime=chip.exptime,
            sky=_sky_missing_from_blot(md, chip), units=processing_units(chip),
            driz_cr_snr=md.driz_cr_snr, driz_cr_scale=md.driz_cr_scale,
            driz_cr_grow=md.driz_cr_grow, driz_cr_ctegrow=md.driz_cr_ctegrow,
            cte_direction=cte_direction_for_growth(chip, md.driz_cr_ctegrow),
            model_variance=_model_variance(md, chip), blot_sky=blot_sky(md, chip),
            driz_cr_sharpness=md.driz_cr_sharpness, driz_cr_peak_ratio=md.driz_cr_peak_ratio,
            blotted_counts=md.blotted_counts.get(chip.name) if md.blotted_counts else None)
    return masks


def _final_weights(md: "Multidrizzle", chip: Chip, bits: int | None) -> np.ndarray:
    cr_mask = md.cr_masks.get(chip.name) if md.cr_masks else None
    wht_type = md.final_wht_type
    error = ivm = None
    if wht_type == "ERR":
        error = chip.read_error()
    elif wht_type == "IVM":
        ivm = _ivm_of(md, chip)
    return chip_weight_map(chip, md.read_dq(chip), bits,
                           static_mask=_static_mask_of(md, chip), cr_mask=cr_mask,
                           wht_type=wht_type, error=error, ivm=ivm)


def _ivm_of(md: "Multidrizzle", chip: Chip) -> np.ndarray | float:
    exposure = next(e for e in md.exposures if chip in e.chips)
    if exposure.ivm_file is None:
        return background_ivm(chip, md.sky_values.get(chip.name, 0.0)
                              if md.sky_values else 0.0)
    from astropy.io import fits

    with fits.open(exposure.ivm_file, mode="readonly") as hdul:
        try:
            data = hdul["IVM", chip.extver].data
        except KeyError:
            data = hdul[0].data if len(exposure.chips) == 1 else None
    if data is None or data.shape != chip.shape:
        raise InputError(f"IVM file {exposure.ivm_file}: expected an IVM,{chip.extver} "
                         f"image of shape {chip.shape} for {chip.name}")
    return np.asarray(data, dtype=np.float32)


def run_driz_combine(md: "Multidrizzle") -> DrizzledImage:
    """Every exposure onto the final grid, cosmic rays and bad pixels weighted out."""
    bits = md.bit_flags("final_bits")
    settings = DrizzleSettings(kernel=md.effective_kernel("final"),
                               pixfrac=md.final_pixfrac, wt_scl=md.final_wt_scl,
                               fillval=md.final_fillval, bits=bits)
    return drizzle_exposures(
        md.exposures, md.pixel_maps, md.output_grid, settings,
        science_of=lambda chip: _separate_science(md, chip),
        weights_of=lambda chip: _final_weights(md, chip, bits),
        context=bool(md.context), separate=False)


#: The default function of each step, in processing order.
DEFAULT_STEPS = {
    "static": run_static,
    "sky": run_sky,
    "driz_separate": run_driz_separate,
    "median": run_median,
    "blot": run_blot,
    "driz_cr": run_driz_cr,
    "driz_combine": run_driz_combine,
}

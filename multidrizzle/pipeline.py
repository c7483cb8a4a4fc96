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
``driz_separate``     ``list[DrizzledImage]``, one per exposure
``median``            ``ndarray`` on the separate grid (count rate)
``blot``              ``dict[chip name, ndarray]`` in the chip's processing units
``driz_cr``           ``dict[chip name, ndarray[bool]]`` (True = cosmic ray)
``driz_combine``      :class:`~multidrizzle.steps.drizzle.DrizzledImage`
====================  =====================================================
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np

from multidrizzle.errors import InputError
from multidrizzle.model import Chip
from multidrizzle.steps.blot import blot_median
from multidrizzle.steps.cosmic_rays import detect_cosmic_rays
from multidrizzle.steps.drizzle import (
    DrizzledImage, DrizzleSettings, background_ivm, chip_weight_map, drizzle_exposures,
    good_pixel_mask,
)
from multidrizzle.steps.median import create_median
from multidrizzle.steps.sky import SkyResult, compute_sky
from multidrizzle.steps.static_mask import build_static_masks

if TYPE_CHECKING:  # pragma: no cover
    from multidrizzle.session import Multidrizzle

__all__ = ["DEFAULT_STEPS", "cte_direction", "processing_units"]

log = logging.getLogger("multidrizzle")

#: Instruments whose CCD read-out leaves CTE tails along y, by SCI extver
#: (drizzlepac's ``cte_dir``): SCI,1 trails towards lower rows, SCI,2 higher.
_CTE_DIRECTION_BY_EXTVER = {("ACS", "WFC"): {1: -1, 2: 1}, ("WFC3", "UVIS"): {1: -1, 2: 1}}


def cte_direction(chip: Chip) -> int:
    """+1, -1 or 0: the direction of CTE tails on this chip (0 = none)."""
    instrument, detector = chip.signature[0].split("/")
    return _CTE_DIRECTION_BY_EXTVER.get((instrument, detector), {}).get(chip.extver, 0)


def processing_units(chip: Chip) -> str:
    """The units of ``chip.read_science()`` as the cosmic-ray step names them."""
    if chip.proc_scale != 1.0 or chip.bunit == "ELECTRONS":
        return "electrons"
    return chip.bunit.lower()


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
        science = science - np.float32(_sky_in_processing_units(md, chip))
    return science


def run_driz_separate(md: "Multidrizzle") -> list[DrizzledImage]:
    """Each exposure alone on the separate grid."""
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


def run_median(md: "Multidrizzle") -> np.ndarray:
    """Median of the separate drizzles (count rates)."""
    singles = md.single_drizzles
    sky_electrons, read_noises = [], []
    for exposure in md.exposures:
        skies = [float(md.sky_values.get(c.name, 0.0)) * c.to_electrons
                 for c in exposure.chips] if md.sky_values else [0.0]
        sky_electrons.append(float(np.mean(skies)))
        read_noises.append(float(np.mean([c.read_noise for c in exposure.chips])))
    result = create_median(
        [s.sci for s in singles], [s.wht for s in singles],
        combine_type=md.combine_type, combine_maskpt=md.combine_maskpt,
        combine_nsigma=md.combine_nsigma, combine_nlow=md.combine_nlow,
        combine_nhigh=md.combine_nhigh, combine_lthresh=md.combine_lthresh,
        combine_hthresh=md.combine_hthresh, combine_grow=md.combine_grow,
        combine_bufsize=md.combine_bufsize, median_newmasks=md.median_newmasks,
        exptimes=[e.exptime for e in md.exposures], sky_values_electrons=sky_electrons,
        read_noises=read_noises, units="cps",
        fillval=0.0)
    return result.median


def _blot_sky(md: "Multidrizzle", chip: Chip) -> float:
    """What to add to the blotted median so that it matches the chip's data."""
    if md.blot_addsky:
        return _sky_in_processing_units(md, chip) if _sky_subtracted(md) else 0.0
    return float(md.blot_skyval) * chip.proc_scale


def run_blot(md: "Multidrizzle") -> dict[str, np.ndarray]:
    """The median blotted onto every chip."""
    return {chip.name: blot_median(md.median_image, chip, md.separate_pixel_maps[chip.name],
                                   md.separate_grid, interp=md.blot_interp,
                                   sinscl=md.blot_sinscl, sky=_blot_sky(md, chip))
            for chip in _chips(md)}


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
            cte_direction=cte_direction(chip))
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

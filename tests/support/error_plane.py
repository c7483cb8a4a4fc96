"""Monte-Carlo check of the final drizzle's error plane.

The same geometry (a few dithered, slightly rotated exposures of blank sky
with different sky levels, exposure times and bad pixels) is drizzled for
many noise realisations: Poisson sky plus Gaussian read noise, no cosmic
rays.  Each realisation goes through the step layer's final drizzle
(:func:`multidrizzle.steps.drizzle.drizzle_exposures`) with the inputs'
variance from the step's own noise model (:func:`input_variance`: no ERR
array, so sky + signal + read noise squared), as ``run_driz_combine`` would
give it.  The empirical variance of each output pixel across realisations is
then compared with the mean propagated variance (``ERR**2``).

Print the figures of every kernel and weighting the test checks::

    cd tests && python -m support.error_plane
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits

from multidrizzle.model import Chip, Exposure
from multidrizzle.model.geometry import OutputGrid, PixelMap
from multidrizzle.steps.drizzle import (
    DrizzleSettings, background_ivm, chip_weight_map, drizzle_exposures, input_variance,
)
from multidrizzle.steps.sky import SkyResult

from support.geometry import tan_wcs

__all__ = ["CASES", "ErrorPlaneCheck", "monte_carlo_error_plane"]

#: (kernel, pixfrac, final_wht_type) checked by the test.
CASES = [(kernel, pixfrac, wht_type)
         for kernel, pixfrac in (("square", 1.0), ("square", 0.6), ("point", 1.0),
                                 ("turbo", 1.0))
         for wht_type in ("EXP", "IVM")]

CHIP_SHAPE = (44, 48)
GRID_SHAPE = (56, 60)
SCALE = 0.04
READ_NOISE = 3.5
#: Per exposure: exposure time (s), sky (e-), dither (x, y) in pixels, rotation (deg).
EXPOSURES = ((400.0, 80.0, (4.0, 5.0), 0.0), (300.0, 60.0, (4.5, 5.3), 0.4),
             (500.0, 110.0, (4.2, 5.7), -0.3), (350.0, 70.0, (4.7, 5.1), 0.2))
BAD_PIXEL_FRACTION = 0.03


@dataclass(frozen=True)
class ErrorPlaneCheck:
    """Measured against propagated variance in the pixels every realisation covers.

    Attributes
    ----------
    ratio : float
        Mean empirical variance over mean propagated variance.
    ratio_by_tercile : tuple of float
        The same in the thirds of the pixels with the lowest, middle and
        highest propagated variance (the per-pixel structure).
    spread : float
        Mean propagated variance of the highest third over the lowest's:
        how much structure the terciles test.
    n_pixels : int
    n_realisations : int
    """

    ratio: float
    ratio_by_tercile: tuple[float, float, float]
    spread: float
    n_pixels: int
    n_realisations: int


def _chip(index: int, exptime: float) -> Chip:
    header = fits.Header()
    header["IDCSCALE"] = SCALE
    return Chip(filename=Path(f"mc{index}_flt.fits"), extver=1, shape=CHIP_SHAPE,
                wcs=tan_wcs(SCALE), exptime=exptime, gain=1.0, read_noise=READ_NOISE,
                bunit="ELECTRONS", to_electrons=1.0, proc_scale=1.0,
                signature=("WFC3/UVIS", (CHIP_SHAPE[1], CHIP_SHAPE[0]), 1), header=header,
                has_error=False, has_dq=False)


def _pixel_map(chip: Chip, shift: tuple[float, float], angle_deg: float) -> PixelMap:
    y, x = np.indices(CHIP_SHAPE, dtype=np.float64)
    angle = np.radians(angle_deg)
    x_out = np.cos(angle) * x - np.sin(angle) * y + shift[0]
    y_out = np.sin(angle) * x + np.cos(angle) * y + shift[1]
    return PixelMap(chip_name=chip.name, shape=CHIP_SHAPE, stepsize=1,
                    node_values=np.ascontiguousarray(np.stack([x_out, y_out], axis=-1)),
                    origin=(0.0, 0.0))


def monte_carlo_error_plane(kernel: str, pixfrac: float, wht_type: str, *,
                            n_realisations: int = 120, seed: int = 1) -> ErrorPlaneCheck:
    """Drizzle ``n_realisations`` of the noise and compare measured and propagated variance."""
    rng = np.random.default_rng(seed)
    chips = [_chip(index, exptime) for index, (exptime, *_) in enumerate(EXPOSURES)]
    exposures = [Exposure(filename=chip.filename, rootname=chip.filename.stem,
                          instrument="WFC3", detector="UVIS", filter_name="F606W",
                          exptime=chip.exptime, chips=[chip], primary_header=fits.Header())
                 for chip in chips]
    maps = {chip.name: _pixel_map(chip, shift, angle)
            for chip, (_, _, shift, angle) in zip(chips, EXPOSURES)}
    skies = {chip.name: sky for chip, (_, sky, _, _) in zip(chips, EXPOSURES)}
    sky = SkyResult(values=skies, subtract=True, method="test")
    weights = {}
    for chip in chips:
        good = np.ones(CHIP_SHAPE, dtype=np.uint32)
        good[rng.random(CHIP_SHAPE) < BAD_PIXEL_FRACTION] = 0
        ivm = background_ivm(chip, skies[chip.name]) if wht_type == "IVM" else None
        weights[chip.name] = chip_weight_map(chip, 1 - good, 0, wht_type=wht_type, ivm=ivm)
    grid = OutputGrid(wcs=tan_wcs(SCALE), shape=GRID_SHAPE, scale=SCALE, rotation=0.0)
    settings = DrizzleSettings(kernel=kernel, pixfrac=pixfrac, wt_scl="exptime", error=True)

    images, variances, covered = [], [], None
    for _ in range(n_realisations):
        # Poisson sky and Gaussian read noise; the data drizzled are sky-subtracted.
        data = {chip.name: (rng.poisson(skies[chip.name], CHIP_SHAPE)
                            + rng.normal(0.0, READ_NOISE, CHIP_SHAPE)
                            - skies[chip.name]).astype(np.float32) for chip in chips}
        result = drizzle_exposures(
            exposures, maps, grid, settings, science_of=lambda chip, _: data[chip.name],
            weights_of=lambda chip, _: weights[chip.name],
            variance_of=lambda chip, science, _: input_variance(chip, science, sky))
        images.append(result.sci.astype(np.float64))
        variances.append(result.err.astype(np.float64) ** 2)
        covered = result.wht > 0 if covered is None else covered & (result.wht > 0)
    measured = np.var(np.array(images)[:, covered], axis=0, ddof=1)
    propagated = np.mean(np.array(variances)[:, covered], axis=0)
    order = np.argsort(propagated, kind="stable")
    thirds = np.array_split(order, 3)
    terciles = tuple(float(measured[part].mean() / propagated[part].mean())
                     for part in thirds)
    return ErrorPlaneCheck(ratio=float(measured.mean() / propagated.mean()),
                           ratio_by_tercile=terciles,
                           spread=float(propagated[thirds[2]].mean()
                                        / propagated[thirds[0]].mean()),
                           n_pixels=int(covered.sum()),
                           n_realisations=n_realisations)


if __name__ == "__main__":
    print("kernel  pixfrac  weight  measured/propagated  (lowest, middle, highest third)"
          "  spread  pixels")
    for case in CASES:
        check = monte_carlo_error_plane(*case)
        thirds = ", ".join(f"{value:.3f}" for value in check.ratio_by_tercile)
        print(f"{case[0]:7s} {case[1]:7.1f}  {case[2]:6s}  {check.ratio:19.3f}  ({thirds})"
              f"  {check.spread:6.2f}  {check.n_pixels}")

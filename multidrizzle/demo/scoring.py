"""Score a run against the demo data's ground truth.

Used by the end-to-end tests and the benchmarks (ours and AstroDrizzle's
results are scored the same way): cosmic-ray recall and false positives,
sky values, and aperture photometry of isolated bright stars.
:func:`score_run` sums a session's run up in three numbers, which the
``multidrizzle demo`` command prints.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
from astropy.wcs import WCS

from multidrizzle.demo.datasets import DemoDataset
from multidrizzle.errors import InputError
from multidrizzle.io.products import processing_bunit
from multidrizzle.steps.drizzle import good_pixel_mask

__all__ = ["exposure_coverage", "CosmicRayScore", "score_cosmic_rays", "sky_relative_errors",
           "StarPhotometry", "star_photometry", "RunScore", "score_run"]


def exposure_coverage(chips, pixel_maps, single_weights) -> dict[tuple[str, int], np.ndarray]:
    """How many exposures cover each chip pixel.

    Parameters
    ----------
    chips : iterable of Chip
    pixel_maps : mapping
        ``chip.name`` -> PixelMap onto the grid of ``single_weights``.
    single_weights : sequence of ndarray
        One weight image per exposure on that grid (separate drizzles).

    Returns
    -------
    dict
        ``(file name, extver)`` -> int array of the chip's shape.
    """
    counts = sum((np.asarray(weight) > 0).astype(np.int32) for weight in single_weights)
    coverage = {}
    for chip in chips:
        pixmap = pixel_maps[chip.name].evaluate()
        x = np.clip(np.round(pixmap[..., 0]).astype(int), 0, counts.shape[1] - 1)
        y = np.clip(np.round(pixmap[..., 1]).astype(int), 0, counts.shape[0] - 1)
        coverage[(chip.filename.name, chip.extver)] = counts[y, x]
    return coverage


@dataclass
class CosmicRayScore:
    """Cosmic-ray detection against the injected truth.

    Attributes
    ----------
    recall : dict
        Threshold (e-) -> fraction of injected cosmic-ray pixels above it
        (in pixels covered by at least ``min_coverage`` exposures) flagged.
    false_positive_fraction : float
        Flagged pixels that hold no injected cosmic ray, as a fraction of the
        good pixels (no cosmic ray, not a known bad pixel, good DQ).
    not_cosmic_ray_fraction : float
        Fraction of all flagged pixels that hold no injected cosmic ray.
    n_injected : dict
        Threshold -> number of injected pixels counted.
    """

    recall: dict[float, float]
    false_positive_fraction: float
    not_cosmic_ray_fraction: float
    n_injected: dict[float, int]


def score_cosmic_rays(flags: Mapping[tuple[str, int], np.ndarray], truth: DemoDataset,
                      coverage: Mapping[tuple[str, int], np.ndarray] | None = None,
                      good: Mapping[tuple[str, int], np.ndarray] | None = None, *,
                      thresholds=(0.0, 30.0, 100.0), min_coverage: int = 3) -> CosmicRayScore:
    """Compare cosmic-ray flags with the injected ones.

    Parameters
    ----------
    flags : mapping
        ``(file name, extver) -> bool array`` (True = flagged cosmic ray).
    truth : DemoDataset
    coverage : mapping, optional
        ``(file name, extver) -> int array``: exposures covering each pixel.
        Recall counts only pixels covered by at least ``min_coverage``.
    good : mapping, optional
        ``(file name, extver) -> bool array`` of pixels with good DQ.
    """
    flagged_injected = {t: 0 for t in thresholds}
    injected = {t: 0 for t in thresholds}
    false_flags = good_pixels = all_flags = 0
    for key, flagged in flags.items():
        flux = truth.cosmic_ray_flux[key]
        is_ray = truth.cosmic_ray_masks[key]
        covered = (np.ones(flagged.shape, bool) if coverage is None
                   else coverage[key] >= min_coverage)
        for threshold in thresholds:
            counted = is_ray & (flux > threshold) & covered
            injected[threshold] += int(counted.sum())
            flagged_injected[threshold] += int((flagged & counted).sum())
        clean = ~is_ray & ~truth.bad_pixel_mask[key[1]]
        if good is not None:
            clean &= good[key]
        good_pixels += int(clean.sum())
        false_flags += int((flagged & clean).sum())
        all_flags += int(flagged.sum())
    not_ray = sum(int((flags[k] & ~truth.cosmic_ray_masks[k]).sum()) for k in flags)
    return CosmicRayScore(
        recall={t: flagged_injected[t] / injected[t] if injected[t] else float("nan")
                for t in thresholds},
        false_positive_fraction=false_flags / max(good_pixels, 1),
        not_cosmic_ray_fraction=not_ray / max(all_flags, 1),
        n_injected=injected)


def sky_relative_errors(sky_values: Mapping[tuple[str, int], float],
                        truth: DemoDataset) -> dict[tuple[str, int], float]:
    """(measured - true) / true for every chip (values in electrons)."""
    return {key: (float(value) - truth.sky[key]) / truth.sky[key]
            for key, value in sky_values.items()}


@dataclass
class StarPhotometry:
    """Aperture photometry of isolated bright stars in a drizzled image."""

    star_ids: np.ndarray
    measured: np.ndarray
    true: np.ndarray

    @property
    def relative_errors(self) -> np.ndarray:
        return (self.measured - self.true) / self.true


def star_photometry(image: np.ndarray, wcs: WCS, truth: DemoDataset, *,
                    radius: float = 15.0, annulus: tuple[float, float] = (20.0, 30.0),
                    min_flux: float = 0.0, weight: np.ndarray | None = None,
                    min_coverage: int = 1) -> StarPhotometry:
    """Sum each isolated star's count rate in a circular aperture.

    The residual background is the median of an annulus; stars whose
    aperture leaves the image or touches zero-weight pixels are skipped.
    ``radius`` and ``annulus`` are in output pixels.
    """
    stars = truth.stars[truth.stars["isolated"] & (truth.stars["flux_eps"] > min_flux)
                        & (truth.stars["n_covered"] >= min_coverage)]
    x, y = wcs.all_world2pix(np.asarray(stars["ra"]), np.asarray(stars["dec"]), 0)
    half = int(np.ceil(annulus[1])) + 1
    offsets = np.arange(-half, half + 1)
    dy, dx = np.meshgrid(offsets, offsets, indexing="ij")
    ids, measured, true = [], [], []
    for star, xc, yc in zip(stars, x, y):
        ix, iy = int(round(xc)), int(round(yc))
        if not (half <= ix < image.shape[1] - half and half <= iy < image.shape[0] - half):
            continue
        stamp = image[iy - half:iy + half + 1, ix - half:ix + half + 1].astype(np.float64)
        distance = np.hypot(dx + ix - xc, dy + iy - yc)
        inside = distance <= radius
        ring = (distance >= annulus[0]) & (distance <= annulus[1])
        if weight is not None:
            stamp_weight = weight[iy - half:iy + half + 1, ix - half:ix + half + 1]
            if (stamp_weight[inside] <= 0).any():
                continue
            ring &= stamp_weight > 0
        if not np.isfinite(stamp[inside]).all() or ring.sum() < 10:
            continue
        background = float(np.median(stamp[ring]))
        ids.append(int(star["id"]))
        measured.append(float((stamp[inside] - background).sum()))
        true.append(float(star["flux_eps"]))
    return StarPhotometry(np.array(ids), np.array(measured), np.array(true))


@dataclass
class RunScore:
    """A session's run against the demo's ground truth, in three numbers.

    Attributes
    ----------
    cosmic_ray_recall : float or None
        Fraction of the injected cosmic-ray pixels above ``threshold``
        electrons (in pixels covered by ``min_coverage`` exposures) that
        were flagged; None when the cosmic-ray step has no result.
    false_flags : int or None
        Flagged pixels that hold no injected cosmic ray.
    flagged : int or None
        All flagged pixels.
    star_flux_ratio : float or None
        Median of measured / true flux of the isolated bright stars in the
        final image; None without a final image or measurable stars.
    n_stars : int
    sky_relative_error : float or None
        Median over chips of (subtracted - true) / true sky; None when no
        sky was subtracted (``sky_missing`` says why).
    threshold : float
        Cosmic-ray charge (e-) above which recall is counted.
    sky_missing : str
        Why there is no sky error, for :meth:`lines`.
    """

    cosmic_ray_recall: float | None
    false_flags: int | None
    flagged: int | None
    star_flux_ratio: float | None
    n_stars: int
    sky_relative_error: float | None
    threshold: float = 30.0
    sky_missing: str = ""

    def lines(self) -> list[str]:
        """Three lines of text: cosmic rays, stars, sky."""
        if self.cosmic_ray_recall is None:
            cosmic = "cosmic rays: not detected (step driz_cr has no result)"
        else:
            cosmic = (f"cosmic rays: {self.cosmic_ray_recall:.1%} of the injected pixels above "
                      f"{self.threshold:g} e- found; {self.false_flags:,} of "
                      f"{self.flagged:,} flagged pixels hold none")
        if self.star_flux_ratio is None:
            stars = "star fluxes: no isolated bright star measurable in the final image"
        else:
            stars = (f"star fluxes: median measured/true {self.star_flux_ratio:.4f} "
                     f"({self.n_stars} isolated bright stars)")
        if self.sky_relative_error is None:
            sky = f"sky: {self.sky_missing}"
        else:
            sky = f"sky: median relative error {self.sky_relative_error:+.2%}"
        return [cosmic, stars, sky]


def score_run(md, truth: DemoDataset, *, threshold: float = 30.0,
              min_coverage: int = 3) -> RunScore:
    """Score a session run on a demo data set against that set's ground truth.

    Parameters
    ----------
    md : Multidrizzle
        A session that has run (any steps) on ``truth``'s exposures.
    truth : DemoDataset
        From :func:`multidrizzle.demo.datasets.load_demo_truth`.
    threshold : float
        Cosmic-ray charge (e-) above which recall is counted.
    min_coverage : int
        Recall and stars count only pixels covered by this many exposures
        (fewer when the run has fewer exposures).

    Raises
    ------
    InputError
        If the session's exposures are not those of ``truth`` or are not
        processed in electrons (the truth is in electrons).
    """
    chips = [chip for exposure in md.exposures for chip in exposure.chips]
    unknown = [chip.name for chip in chips
               if (chip.filename.name, chip.extver) not in truth.cosmic_ray_masks]
    if unknown:
        raise InputError(f"score_run: {unknown[0]} is not part of the demo data set in "
                         f"{truth.folder}")
    if any(not processing_bunit(chip).startswith("ELECTRONS") for chip in chips):
        raise InputError("score_run: the demo's truth is in electrons; the run processed "
                         "its inputs in counts")
    coverage_needed = min(min_coverage, len(md.exposures))
    recall = false_flags = flagged = None
    if md.cr_masks is not None:
        coverage = (exposure_coverage(chips, md.separate_pixel_maps, md.singles_on_grid("wht"))
                    if md.single_drizzles is not None else None)
        flags = {(c.filename.name, c.extver): md.cr_masks[c.name] for c in chips}
        good = {(c.filename.name, c.extver): good_pixel_mask(c.read_dq(), 0) for c in chips}
        score = score_cosmic_rays(flags, truth, coverage, good, thresholds=(threshold,),
                                  min_coverage=coverage_needed)
        recall = score.recall[threshold]
        flagged = sum(int(f.sum()) for f in flags.values())
        false_flags = sum(int((f & ~truth.cosmic_ray_masks[k]).sum())
                          for k, f in flags.items())
    ratio, n_stars = None, 0
    if md.final is not None:
        photometry = star_photometry(md.final.sci, md.output_grid.wcs, truth,
                                     weight=md.final.wht, min_flux=100.0,
                                     min_coverage=coverage_needed, radius=10.0,
                                     annulus=(15.0, 25.0))
        n_stars = len(photometry.true)
        if n_stars:
            ratio = float(np.median(photometry.measured / photometry.true))
    sky_error, sky_missing = None, ""
    if not md.sky_values:
        sky_missing = "not measured (step sky has no result)"
    elif not md.sky_subtracted:
        sky_missing = "not subtracted (skysub=False or a sky already applied)"
    else:
        measured = {(c.filename.name, c.extver): md.sky_values[c.name] * c.to_electrons
                    for c in chips}
        sky_error = float(np.median(list(sky_relative_errors(measured, truth).values())))
    return RunScore(cosmic_ray_recall=recall, false_flags=false_flags, flagged=flagged,
                    star_flux_ratio=ratio, n_stars=n_stars, sky_relative_error=sky_error,
                    threshold=threshold, sky_missing=sky_missing)

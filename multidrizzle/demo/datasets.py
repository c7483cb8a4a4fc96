"""Built-in demo data: a dithered WFC3/UVIS-like set and its ground truth.

:func:`make_demo_dataset` writes calibrated-exposure files (``*_flc.fits``)
that look like WFC3/UVIS FLC products to multidrizzle and to AstroDrizzle:
two CCD chips per exposure, each with its own TAN-SIP WCS of HST-like
distortion, amplifier gain and read-noise keywords, exposure times, BUNIT
``ELECTRONS``, ERR and DQ extensions.  The scene (stars and galaxies) is
defined on the sky and rendered through each chip's full WCS; each exposure
has its own sky level, Poisson and read noise and cosmic rays; a few hundred
fixed detector pixels are severely negative (an over-subtracted dark), and
hot pixels, a bad column segment and saturated star cores are flagged in DQ.

Everything injected is saved beside the exposures so that tests can check
what the pipeline recovers:

``truth.fits``
    ``CRFLUX`` (float32, e-) and ``CRMASK`` (uint8) images, one pair per
    exposure and chip (EXTVER runs 1, 2, ... over exposures then chips;
    header keywords ``FILENAME``, ``ROOTNAME``, ``SCIEXT``, ``CCDCHIP``,
    ``SKY``, ``EXPTIME`` say which chip), and ``BADPIX`` (uint8) and
    ``BADDEF`` (float32, e- missing) images of the negative pixels, one per
    chip (EXTVER = SCI EXTVER).
``truth_stars.ecsv``
    One row per star: ``id, ra, dec, flux_eps`` (total e-/s), ``isolated``,
    ``saturated``, ``n_covered`` (exposures that see the whole star).
``truth_galaxies.ecsv``
    One row per galaxy: ``id, ra, dec, flux_eps, r_eff_arcsec, sersic_n,
    axis_ratio, pa_deg``.
``truth_sky.ecsv``
    ``file, rootname, extver, ccdchip, exptime, sky_electrons``.
``inputs.lst``
    The exposure file names, an ``@file`` list.

Pixel conventions: arrays are indexed ``[y, x]`` and pixel centres sit at
integer 0-based coordinates, as in ``wcs.all_world2pix(ra, dec, 0)``.
"""

from __future__ import annotations

import logging
import math
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from astropy.io import fits
from astropy.table import Table
from astropy.time import Time
from astropy.wcs import WCS

from multidrizzle.errors import InputError, ParameterError

__all__ = [
    "DemoDataset",
    "make_demo_dataset",
    "load_demo_truth",
    "FULL_CHIP_SHAPE",
    "PIXEL_SCALE_ARCSEC",
    "FULL_WELL_ELECTRONS",
    "PSF_COMPONENTS",
    "CAMERAS",
    "DISTORTIONS",
    "FULL_CHIP_SHAPES",
    "CHIP_GAP_PIXELS",
    "DQ_BAD_COLUMN",
    "DQ_HOT_PIXEL",
    "DQ_SATURATED",
]

log = logging.getLogger(__name__)

#: ``(ny, nx)`` of one full WFC3/UVIS chip.
FULL_CHIP_SHAPE: tuple[int, int] = (2051, 4096)
#: Mean pixel scale (IDCSCALE of WFC3/UVIS), arcsec per pixel.
PIXEL_SCALE_ARCSEC = 0.03962
#: Charge (e-) above which a pixel is saturated and flagged DQ 256.
FULL_WELL_ELECTRONS = 63000.0
#: Detector rows between the two chips.
CHIP_GAP_PIXELS = 31
#: The PSF, defined in detector pixels: (weight, FWHM in pixels) of each
#: circular Gaussian; the weights add up to 1.
PSF_COMPONENTS: tuple[tuple[float, float], ...] = ((0.85, 1.9), (0.15, 6.0))

TRUTH_FILE = "truth.fits"
STARS_FILE = "truth_stars.ecsv"
GALAXIES_FILE = "truth_galaxies.ecsv"
SKY_FILE = "truth_sky.ecsv"
LIST_FILE = "inputs.lst"

# Pointing of the first exposure (a COSMOS-like field) and telescope roll.
_TARGET_RA_DEG = 150.1163
_TARGET_DEC_DEG = 2.2009
_PA_V3_DEG = 87.4
# WFC3/UVIS: detector y axis is 45 degrees from V3 (IDCTHETA).
_IDCTHETA_DEG = 45.0

# Dither offsets of the telescope, in detector pixels along the detector
# axes (POSTARG-like): sub-pixel phases, a few pixels, and one step larger
# than the chip gap.  Exposures beyond these draw random offsets within the
# same box so that the scene does not depend on the number of exposures.
_DITHER_PATTERN_PIXELS = ((0.0, 0.0), (7.5, 3.25), (2.75, 8.5), (-5.25, 43.75))
_DITHER_BOX_PIXELS = ((-12.0, 12.0), (-12.0, 56.0))
_SCENE_MARGIN_PIXELS = 20.0
# Mosaics: the step between neighbouring pointings, as a fraction of the
# field of view (both chips and the gap in y), and the size limits.
_POINTING_STEP = 0.9
_MAX_POINTINGS = 12
_EXPOSURES_PER_VISIT = 234
_MAX_EXPOSURES = 10 * _EXPOSURES_PER_VISIT

# Chip layout: (EXTVER, CCDCHIP, amplifiers left and right, y side of gap).
_CHIPS = ((1, 2, "CD", -1.0), (2, 1, "AB", +1.0))
_GAIN_BY_AMP = {"A": 1.56, "B": 1.56, "C": 1.56, "D": 1.56}
_READ_NOISE_BY_AMP = {"A": 3.03, "B": 3.13, "C": 3.08, "D": 3.18}
_BIAS_LEVEL_BY_AMP = {"A": 2555.8, "B": 2542.8, "C": 2503.0, "D": 2604.7}
_MEAN_DARK_ELECTRONS = 0.125

# Photometric keywords of F606W (UVIS1 and UVIS2 inverse sensitivities).
_PHOTFLAM_BY_CCDCHIP = {1: 1.1220e-19, 2: 1.1350e-19}
_PHOTPLAM = 5889.2
_PHOTBW = 672.3
_PHOTFNU = 1.2982e-07
_PHOTZPT = -21.1

# Distortion of the whole focal plane (both chips), as SIP-like polynomials
# in detector pixels about the centre of the chip gap, for full-size chips.
# The values are those of the UVIS2 chip of the FLC file ib4606c6q (IDCTAB
# 2731450pi); re-expanded about each chip centre they give per-chip SIP
# terms and, like on HST, a distortion that is continuous across the gap.
_FOCAL_PLANE_DISTORTION: dict[str, dict[tuple[int, int], float]] = {
    "A": {(0, 2): 9.68752216541829e-08, (0, 3): 1.83977137395279e-11,
          (0, 4): -1.5724178902718e-14, (1, 1): -3.0073309899834e-06,
          (1, 2): 1.52171396326211e-11, (1, 3): 1.06776659403511e-14,
          (2, 0): 2.93081163466262e-06, (2, 1): -1.2617092273945e-11,
          (2, 2): -1.725583405793e-14, (3, 0): 3.05584134653132e-11,
          (3, 1): 6.65929786678309e-15, (4, 0): -7.458238590171e-15},
    "B": {(0, 2): -3.1182425747255e-06, (0, 3): 1.49270537925503e-11,
          (0, 4): 1.7312015536267e-14, (1, 1): 2.81470255140448e-06,
          (1, 2): -5.0794595846563e-12, (1, 3): 8.68079140232788e-15,
          (2, 0): -5.8319285504418e-08, (2, 1): 1.02902087236718e-11,
          (2, 2): 1.89739365693031e-14, (3, 0): 1.80116277193471e-13,
          (3, 1): -6.694073536343e-16, (4, 0): 2.81833598801922e-15},
}

# Scene: source densities per square pixel and flux ranges (e-/s).
_STAR_DENSITY = 1.0 / 7000.0
_GALAXY_DENSITY = 1.0 / 50000.0
_BRIGHT_STAR_FRACTION = 0.15
_MIN_BRIGHT_STARS = 12
_BRIGHT_FLUX_EPS = (50.0, 450.0)
_FAINT_FLUX_EPS = (1.0, 50.0)
_FAINT_FLUX_SLOPE = 1.8              # dN/dF proportional to F**-slope
_SATURATED_STAR_FRACTION = 0.005
_SATURATED_PEAK_OVER_FULL_WELL = (3.0, 8.0)
_BRIGHT_STAR_MIN_SEPARATION_PIXELS = 40.0
_ISOLATION_RADIUS_PIXELS = 20.0
_PSF_REACH_PIXELS = 12.0             # beyond it a star's light is < 1e-5 of its flux
_GALAXY_FLUX_EPS = (10.0, 400.0)
_GALAXY_R_EFF_ARCSEC = (0.1, 0.4)
_GALAXY_SERSIC_N = (0.7, 2.5)
_GALAXY_AXIS_RATIO = (0.3, 1.0)
_GALAXY_TRUNCATION_R_EFF = 5.0
_GALAXY_SUBSAMPLING = 3
_GALAXY_CORE_SUBSAMPLING = 25
_GALAXY_CORE_HALF_WIDTH = 2
_STAR_STAMP_HALF_WIDTH = 16

# Exposures.
_EXPTIME_RANGE = (400.0, 500.0)
_SKY_RANGE_ELECTRONS = (30.0, 60.0)
_MJD_START = 58849.1
_OVERHEAD_SECONDS = 120.0

# Cosmic rays: events per pixel per second, track lengths, deposits (e-).
_CR_EVENT_RATE = 2.5e-6
_CR_TRACK_LENGTH_P = 0.35            # geometric distribution parameter
_CR_MAX_TRACK_LENGTH = 10
_CR_MEDIAN_ELECTRONS = 250.0
_CR_LOG_SIGMA = 1.0
_CR_ELECTRONS_RANGE = (15.0, 25000.0)
_CR_HALO_PROBABILITY = 0.6
_CR_HALO_FRACTION = (0.02, 0.12)

# Detector defects, per full chip (scaled by area, with a floor).
_BAD_DARK_PER_FULL_CHIP = 300
_MIN_BAD_DARK = 20
_BAD_DARK_DEFICIT_ELECTRONS = (100.0, 250.0)
_HOT_PIXELS_PER_FULL_CHIP = 500
_MIN_HOT_PIXELS = 10
_HOT_RATE_EPS = (0.05, 0.5)

#: DQ bits set by the writer (cosmic rays and negative pixels are not flagged:
#: finding them is the pipeline's job).  Hot pixels also carry extra counts.
DQ_BAD_COLUMN = 4
DQ_HOT_PIXEL = 16
DQ_SATURATED = 256
_SERIOUS_DQ_FLAGS = 31743


@dataclass(frozen=True)
class _Camera:
    """What differs between the demo cameras: detector layout, noise, optics.

    ``distortion`` holds focal-plane polynomials about the centre of the chip
    gap, for full-size chips, in detector pixels, with the linear terms
    (order 1) that make the pixel grid skewed or non-square on the sky.
    """

    name: str
    instrument: str
    detector: str
    full_chip_shape: tuple[int, int]
    pixel_scale_arcsec: float
    chip_gap_pixels: float
    idctheta_deg: float
    psf: tuple[tuple[float, float], ...]
    chips: tuple[tuple[int, int, str, float], ...]
    gain_by_amp: dict[str, float]
    read_noise_by_amp: dict[str, float]
    bias_level_by_amp: dict[str, float]
    mean_dark_electrons: float
    exptime_range: tuple[float, float]
    sky_range_electrons: tuple[float, float]
    distortion: dict[str, dict[tuple[int, int], float]]
    filter_cards: tuple[tuple[str, str, str], ...]
    photmode: str
    photflam_by_ccdchip: dict[int, float]
    photplam: float
    photbw: float
    photfnu: float
    photzpt: float
    ccdgain: float
    aperture: str


_WFC3_UVIS = _Camera(
    name="wfc3_uvis", instrument="WFC3", detector="UVIS", full_chip_shape=FULL_CHIP_SHAPE,
    pixel_scale_arcsec=PIXEL_SCALE_ARCSEC, chip_gap_pixels=CHIP_GAP_PIXELS,
    idctheta_deg=_IDCTHETA_DEG, psf=PSF_COMPONENTS, chips=_CHIPS,
    gain_by_amp=_GAIN_BY_AMP, read_noise_by_amp=_READ_NOISE_BY_AMP,
    bias_level_by_amp=_BIAS_LEVEL_BY_AMP, mean_dark_electrons=_MEAN_DARK_ELECTRONS,
    exptime_range=_EXPTIME_RANGE, sky_range_electrons=_SKY_RANGE_ELECTRONS,
    distortion=_FOCAL_PLANE_DISTORTION,
    filter_cards=(("FILTER", "F606W", "element selected from filter wheel"),),
    photmode="WFC3 UVIS{ccdchip} F606W", photflam_by_ccdchip=_PHOTFLAM_BY_CCDCHIP,
    photplam=_PHOTPLAM, photbw=_PHOTBW, photfnu=_PHOTFNU, photzpt=_PHOTZPT, ccdgain=1.5,
    aperture="UVIS")

# ACS/WFC: two 4096 x 2048 chips of 0.05 arcsec pixels about 50 rows apart,
# gain 2 e-/DN, and a distortion whose linear part skews the pixel grid by
# a few degrees on the sky.  The terms of order 2 to 4 are the SIP terms of
# the WFC2 chip of the FLT file j94f05bgq (IDCTAB qbu1641sj); the linear
# ones follow its IDCTAB scale terms (OCX10, OCX11, OCY10, OCY11).
_ACS_WFC = _Camera(
    name="acs_wfc", instrument="ACS", detector="WFC", full_chip_shape=(2048, 4096),
    pixel_scale_arcsec=0.05, chip_gap_pixels=50.0, idctheta_deg=0.0,
    psf=((0.8, 2.1), (0.2, 6.5)), chips=_CHIPS,
    gain_by_amp={"A": 2.020, "B": 1.886, "C": 2.017, "D": 2.011},
    read_noise_by_amp={"A": 4.35, "B": 3.75, "C": 4.05, "D": 5.05},
    bias_level_by_amp={"A": 2187.3, "B": 2203.4, "C": 2265.9, "D": 2220.2},
    mean_dark_electrons=3.1, exptime_range=(480.0, 560.0), sky_range_electrons=(45.0, 90.0),
    distortion={
        "A": {(1, 0): -0.00339, (0, 1): 0.03924,
              (0, 2): 2.16615952976212e-06, (1, 1): -5.1974576466834e-06,
              (2, 0): 8.551277582556502e-06, (0, 3): 1.08193519820265e-11,
              (1, 2): -5.234870743692412e-10, (2, 1): -3.9771547747287e-11,
              (3, 0): -4.7304448292227e-10, (0, 4): 1.49356171166049e-14,
              (1, 3): -2.456997553774615e-14, (2, 2): 3.46791267104378e-14,
              (3, 1): 1.971022971660309e-15, (4, 0): 2.37430106240231e-14},
        "B": {(1, 0): 0.02981, (0, 1): 0.00549,
              (0, 2): -7.2168814507744e-06, (1, 1): 6.18443235774478e-06,
              (2, 0): -1.7464918770586e-06, (0, 3): -4.1754720492749e-10,
              (1, 2): -6.169265268681388e-11, (2, 1): -5.085716167386211e-10,
              (3, 0): 8.56763542781631e-11, (0, 4): -9.9570490655478e-15,
              (1, 3): 1.21743011568848e-14, (2, 2): -3.6614325928657e-14,
              (3, 1): -3.7795068054874e-15, (4, 0): -1.7687653826004e-14},
    },
    filter_cards=(("FILTER1", "F606W", "element selected from filter wheel 1"),
                  ("FILTER2", "CLEAR2L", "element selected from filter wheel 2")),
    photmode="ACS WFC{ccdchip} F606W", photflam_by_ccdchip={1: 7.8624e-20, 2: 7.8624e-20},
    photplam=5921.1, photbw=672.3, photfnu=9.1953e-08, photzpt=-21.1, ccdgain=2.0,
    aperture="WFC")

#: Demo cameras by name (``make_demo_dataset(camera=...)``).
CAMERAS: tuple[str, ...] = (_WFC3_UVIS.name, _ACS_WFC.name)
_CAMERA_BY_NAME = {camera.name: camera for camera in (_WFC3_UVIS, _ACS_WFC)}
#: ``(ny, nx)`` of one full-size chip of each demo camera.
FULL_CHIP_SHAPES: dict[str, tuple[int, int]] = {
    camera.name: camera.full_chip_shape for camera in _CAMERA_BY_NAME.values()}
#: Distortion descriptions the demo writer can put in the headers:
#: ``'sip'`` (TAN-SIP only) or ``'npol_d2im'`` (SIP plus NPOL lookup tables
#: in ``WCSDVARR`` extensions and a column D2IM table in ``D2IMARR``).
DISTORTIONS: tuple[str, ...] = ("sip", "npol_d2im")

# Lookup-table distortion (``distortion='npol_d2im'``): NPOL tables on a grid
# of this many nodes per full-size chip axis (HST's are 65 x 33 for 4096 x
# 2048), with this largest residual (pixels); D2IM: a column-width pattern of
# this period (columns) and amplitude (pixels) along x.
_NPOL_NODES_FULL_SIZE = 65
_NPOL_AMPLITUDE_PIXELS = 0.08
_D2IM_PERIOD_COLUMNS = 68.0
_D2IM_AMPLITUDE_PIXELS = 0.04

_erf = np.frompyfunc(math.erf, 1, 1)


@dataclass
class DemoDataset:
    """A demo data set on disk and its ground truth.

    Attributes
    ----------
    folder : Path
        Where the files are.
    input_files : list of Path
        The exposure files, in observation order.
    truth_file : Path
        ``truth.fits`` (cosmic-ray and negative-pixel images).
    stars : astropy.table.Table
        Star catalogue: ``id, ra, dec`` (deg), ``flux_eps`` (total e-/s),
        ``isolated`` (no light of another source within
        ``meta['isolation_radius_pixels']``, not saturated), ``saturated``,
        ``n_covered``.  ``stars.meta['psf']`` describes the PSF.
    galaxies : astropy.table.Table
        Galaxy list: ``id, ra, dec, flux_eps, r_eff_arcsec, sersic_n,
        axis_ratio, pa_deg``; ``flux_eps`` is the total of the profile as
        rendered (truncated at ``meta['truncation_r_eff']`` effective radii).
    sky : dict
        True sky (e- per pixel) keyed by ``(file name, SCI EXTVER)``.
    exposure_times : dict
        Exposure time (s) keyed by file name.
    cosmic_ray_masks : dict
        Boolean image of the pixels hit by a cosmic ray, keyed by
        ``(file name, SCI EXTVER)``.
    cosmic_ray_flux : dict
        Injected cosmic-ray charge (e-, float32), same keys.
    bad_pixel_mask : dict
        Boolean image of the severely negative pixels, keyed by SCI EXTVER
        (the same detector pixels in every exposure).
    list_file : Path
        The ``@file`` list of the exposures.
    camera : str
        ``'wfc3_uvis'`` or ``'acs_wfc'`` (see :func:`make_demo_dataset`).
    distortion : str
        ``'sip'`` or ``'npol_d2im'``.
    """

    folder: Path
    input_files: list[Path]
    truth_file: Path
    stars: Table
    galaxies: Table
    sky: dict[tuple[str, int], float]
    exposure_times: dict[str, float]
    cosmic_ray_masks: dict[tuple[str, int], np.ndarray] = field(repr=False)
    cosmic_ray_flux: dict[tuple[str, int], np.ndarray] = field(repr=False)
    bad_pixel_mask: dict[int, np.ndarray] = field(repr=False)
    list_file: Path | None = None
    camera: str = "wfc3_uvis"
    distortion: str = "sip"


# ---------------------------------------------------------------------------
# Geometry


@dataclass(frozen=True, eq=False)
class _LookupTables:
    """NPOL and D2IM tables of one chip, as they go into its file.

    ``npol_x``/``npol_y`` are the corrections (pixels) along x and y on nodes
    ``npol_step`` pixels apart (``CDELT = npol_step``, ``CRPIX = CRVAL = 0``
    as in HST files: node ``j`` sits at 1-based pixel ``(j + 1) * npol_step``
    and the edge nodes hold below the first); ``d2im_x`` the correction
    along x of every column (a 1 x nx table, ``CDELT = 1``: entry ``i`` is
    0-based column ``i``).
    """

    npol_x: np.ndarray
    npol_y: np.ndarray
    npol_step: float
    d2im_x: np.ndarray


@dataclass(frozen=True, eq=False)
class _ChipGeometry:
    """Where one chip sits in the focal plane, and its distortion.

    ``focal_centre`` is the undistorted focal-plane position (pixels from the
    pointing) of the chip centre; ``linear`` the linear part of the
    distortion there (it goes into the CD matrix); ``sip_a``/``sip_b`` the
    terms of order 2 to 4 left over, in the chip's SIP form.
    """

    extver: int
    ccdchip: int
    amplifiers: str
    shape: tuple[int, int]
    focal_centre: tuple[float, float]
    linear: np.ndarray
    sip_a: dict[tuple[int, int], float]
    sip_b: dict[tuple[int, int], float]
    camera: _Camera = _WFC3_UVIS
    lookup: _LookupTables | None = None

    @property
    def crpix(self) -> tuple[float, float]:
        """FITS (1-based) reference pixel: the chip centre, as in WFC3 files."""
        ny, nx = self.shape
        return nx / 2.0, (ny + 1) / 2.0

@dataclass(frozen=True)
class _ExposurePlan:
    """What is known about one exposure before it is simulated."""

    index: int
    rootname: str
    filename: str
    exptime: float
    expstart_mjd: float
    sky_electrons: float
    dither_pixels: tuple[float, float]
    pointing_radec: tuple[float, float]


def _size_ratio(chip_shape: tuple[int, int], camera: _Camera = _WFC3_UVIS) -> float:
    full = camera.full_chip_shape
    return math.sqrt(chip_shape[0] * chip_shape[1] / (full[0] * full[1]))


def _scaled_polynomial(coefficients: dict[tuple[int, int], float],
                       size_ratio: float) -> dict[tuple[int, int], float]:
    """Distortion terms for a detector ``size_ratio`` times the full size.

    A term of order n is scaled by ``size_ratio**(1 - n)`` so that the
    distortion, as a fraction of the detector size, keeps its shape.
    """
    return {(p, q): value * size_ratio ** (1 - p - q)
            for (p, q), value in coefficients.items()}


def _shifted_polynomial(coefficients: dict[tuple[int, int], float],
                        v_shift: float) -> dict[tuple[int, int], float]:
    """Coefficients of ``f(u, v + v_shift)`` as a polynomial in ``(u, v)``."""
    shifted: dict[tuple[int, int], float] = {}
    for (p, q), value in coefficients.items():
        for k in range(q + 1):
            term = value * math.comb(q, k) * v_shift ** (q - k)
            shifted[p, k] = shifted.get((p, k), 0.0) + term
    return shifted


def _chip_geometry(extver: int, ccdchip: int, amplifiers: str, chip_shape: tuple[int, int],
                   v_centre: float, distortion: dict[str, dict[tuple[int, int], float]],
                   camera: _Camera = _WFC3_UVIS, lookup: _LookupTables | None = None
                   ) -> _ChipGeometry:
    """Re-expand the focal-plane distortion about a chip centre at detector
    position ``(0, v_centre)``: the constant part moves the chip, the linear
    part goes into its CD matrix, the rest becomes its SIP terms."""
    shifted = {axis: _shifted_polynomial(terms, v_centre)
               for axis, terms in distortion.items()}
    offset = (shifted["A"].get((0, 0), 0.0), shifted["B"].get((0, 0), 0.0))
    linear = np.eye(2) + np.array([
        [shifted["A"].get((1, 0), 0.0), shifted["A"].get((0, 1), 0.0)],
        [shifted["B"].get((1, 0), 0.0), shifted["B"].get((0, 1), 0.0)]])
    to_chip = np.linalg.inv(linear)
    higher = sorted(key for key in set(shifted["A"]) | set(shifted["B"]) if sum(key) >= 2)
    sip_a, sip_b = {}, {}
    for key in higher:
        sip_a[key], sip_b[key] = to_chip @ np.array([shifted["A"].get(key, 0.0),
                                                     shifted["B"].get(key, 0.0)])
    return _ChipGeometry(extver=extver, ccdchip=ccdchip, amplifiers=amplifiers,
                         shape=tuple(chip_shape),
                         focal_centre=(offset[0], v_centre + offset[1]),
                         linear=linear,
                         sip_a={key: float(value) for key, value in sip_a.items()},
                         sip_b={key: float(value) for key, value in sip_b.items()},
                         camera=camera, lookup=lookup)


def _chip_geometries(chip_shape: tuple[int, int], camera: _Camera = _WFC3_UVIS,
                     distortion: str = "sip") -> list[_ChipGeometry]:
    """Both chips, the camera's gap apart, under one distortion; with
    ``distortion='npol_d2im'`` each chip also gets its lookup tables."""
    ratio = _size_ratio(chip_shape, camera)
    polynomials = {axis: _scaled_polynomial(terms, ratio)
                   for axis, terms in camera.distortion.items()}
    half_separation = (chip_shape[0] + camera.chip_gap_pixels) / 2.0
    return [_chip_geometry(extver, ccdchip, amps, chip_shape, side * half_separation,
                           polynomials, camera,
                           _lookup_tables(chip_shape, extver, camera)
                           if distortion == "npol_d2im" else None)
            for extver, ccdchip, amps, side in camera.chips]


def _lookup_tables(chip_shape: tuple[int, int], extver: int, camera: _Camera) -> _LookupTables:
    """Smooth NPOL residuals and a periodic column-width D2IM pattern.

    The NPOL table keeps HST's number of nodes per axis (a full-size chip
    has them 64 pixels apart; smaller chips have them closer, at least 4
    pixels), so that the residuals have the same shape on any chip size.
    The D2IM pattern keeps its period in columns, like the lithography it
    stands for.
    """
    ny, nx = chip_shape
    full_ny, full_nx = camera.full_chip_shape
    step = max(4.0, float(round(64.0 * nx / full_nx)))
    nodes_x = int(math.ceil((nx - 1) / step)) + 2
    nodes_y = int(math.ceil((ny - 1) / step)) + 2
    u = np.arange(nodes_x) * step / max(nx - 1, 1)      # 0 .. >= 1 across the chip
    v = np.arange(nodes_y) * step / max(ny - 1, 1)
    grid_u, grid_v = np.meshgrid(u, v)
    phase = 0.7 * extver
    npol_x = _NPOL_AMPLITUDE_PIXELS * (
        0.6 * np.sin(2 * math.pi * (1.3 * grid_u + 0.4 * grid_v) + phase)
        + 0.4 * np.cos(2 * math.pi * (0.5 * grid_u - 1.7 * grid_v) + 2 * phase))
    npol_y = _NPOL_AMPLITUDE_PIXELS * (
        0.5 * np.cos(2 * math.pi * (0.9 * grid_u + 1.1 * grid_v) - phase)
        + 0.5 * np.sin(2 * math.pi * (1.8 * grid_u - 0.6 * grid_v) + 0.5 * phase))
    columns = np.arange(nx, dtype=np.float64)
    d2im_x = _D2IM_AMPLITUDE_PIXELS * np.sin(2 * math.pi * columns / _D2IM_PERIOD_COLUMNS
                                             + phase)
    return _LookupTables(npol_x.astype(np.float32), npol_y.astype(np.float32), step,
                         d2im_x.astype(np.float32)[None, :])


def _orientat_deg(camera: _Camera = _WFC3_UVIS) -> float:
    return (_PA_V3_DEG + camera.idctheta_deg + 180.0) % 360.0 - 180.0


def _rotation_cd(orientat_deg: float, pixel_scale_arcsec: float = PIXEL_SCALE_ARCSEC
                 ) -> np.ndarray:
    """CD matrix (deg/pixel) of a detector whose +y axis has position angle
    ``orientat_deg`` (east of north), with the usual sky parity."""
    scale = pixel_scale_arcsec / 3600.0
    theta = math.radians(orientat_deg)
    return scale * np.array([[-math.cos(theta), math.sin(theta)],
                             [math.sin(theta), math.cos(theta)]])


def _pointing_wcs(ra_deg: float, dec_deg: float, camera: _Camera = _WFC3_UVIS) -> WCS:
    """Undistorted focal-plane WCS: focal pixel (0, 0) at the pointing."""
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [ra_deg, dec_deg]
    wcs.wcs.crpix = [1.0, 1.0]
    wcs.wcs.cd = _rotation_cd(_orientat_deg(camera), camera.pixel_scale_arcsec)
    return wcs


def _tangent_offsets_deg(ra: np.ndarray, dec: np.ndarray,
                         centre: tuple[float, float]) -> np.ndarray:
    """Gnomonic projection (deg) of sky positions about ``centre``."""
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = list(centre)
    wcs.wcs.crpix = [0.0, 0.0]
    wcs.wcs.cd = np.eye(2)
    return np.asarray(wcs.wcs_world2pix(np.column_stack([ra, dec]), 0)) + 1.0


def _chip_crval_and_cd(pointing: WCS, geometry: _ChipGeometry) -> tuple[np.ndarray, np.ndarray]:
    """Reference sky position and CD matrix of a chip, in the chip's own
    tangent plane: the pointing's scale and orientation there, times the
    linear part of the distortion at the chip centre."""
    step = 100.0
    fx, fy = geometry.focal_centre
    focal = np.array([[fx, fy], [fx + step, fy], [fx, fy + step]])
    sky = pointing.wcs_pix2world(focal, 0)
    crval = sky[0]
    projected = _tangent_offsets_deg(sky[:, 0], sky[:, 1], (crval[0], crval[1]))
    local_cd = np.column_stack([(projected[1] - projected[0]) / step,
                                (projected[2] - projected[0]) / step])
    return crval, local_cd @ geometry.linear


def _chip_wcs_cards(pointing: WCS, geometry: _ChipGeometry) -> dict[str, object]:
    """WCS keywords (TAN-SIP) of one chip for a given pointing."""
    crval, cd = _chip_crval_and_cd(pointing, geometry)
    crpix1, crpix2 = geometry.crpix
    cards: dict[str, object] = {
        "WCSAXES": 2,
        "CRPIX1": crpix1, "CRPIX2": crpix2,
        "CRVAL1": float(crval[0]), "CRVAL2": float(crval[1]),
        "CTYPE1": "RA---TAN-SIP", "CTYPE2": "DEC--TAN-SIP",
        "CUNIT1": "deg", "CUNIT2": "deg",
        "CD1_1": float(cd[0, 0]), "CD1_2": float(cd[0, 1]),
        "CD2_1": float(cd[1, 0]), "CD2_2": float(cd[1, 1]),
        "A_ORDER": 4,
    }
    cards.update({f"A_{p}_{q}": value for (p, q), value in sorted(geometry.sip_a.items())})
    cards["B_ORDER"] = 4
    cards.update({f"B_{p}_{q}": value for (p, q), value in sorted(geometry.sip_b.items())})
    cards.update({"WCSNAME": "MDZDEMO-SIP" if geometry.lookup is None else "MDZDEMO-NPOL",
                  "RADESYS": "ICRS",
                  "ORIENTAT": math.degrees(math.atan2(cd[0, 1], cd[1, 1]))})
    if geometry.lookup is not None:
        cards.update(_lookup_cards(geometry))
    return cards


def _lookup_extvers(extver: int) -> tuple[int, int, int]:
    """EXTVERs of a chip's two WCSDVARR tables (x, y) and its D2IMARR table."""
    return 2 * extver - 1, 2 * extver, extver


def _lookup_cards(geometry: _ChipGeometry) -> dict[str, object]:
    """Paper IV keywords naming the chip's NPOL and D2IM tables, as in HST files."""
    tables = geometry.lookup
    npol_x, npol_y, d2im = _lookup_extvers(geometry.extver)
    cards: dict[str, object] = {
        "CPERR1": float(np.abs(tables.npol_x).max()),
        "CPERR2": float(np.abs(tables.npol_y).max()),
        "CPDIS1": "Lookup", "DP1.EXTVER": float(npol_x), "DP1.NAXES": 2.0,
        "DP1.AXIS.1": 1.0, "DP1.AXIS.2": 2.0,
        "CPDIS2": "Lookup", "DP2.EXTVER": float(npol_y), "DP2.NAXES": 2.0,
        "DP2.AXIS.1": 1.0, "DP2.AXIS.2": 2.0,
        "NPOLEXT": "mdzdemo_npl.fits",
        "D2IMERR1": float(np.abs(tables.d2im_x).max()),
        "D2IMDIS1": "Lookup", "D2IM1.EXTVER": float(d2im), "D2IM1.NAXES": 2.0,
        "D2IM1.AXIS.1": 1.0, "D2IM1.AXIS.2": 2.0,
        "D2IMEXT": "mdzdemo_d2i.fits",
    }
    return cards


def _lookup_hdus(geometry: _ChipGeometry) -> list[fits.ImageHDU]:
    """The chip's WCSDVARR (x, y) and D2IMARR extensions."""
    tables = geometry.lookup
    npol_x, npol_y, d2im = _lookup_extvers(geometry.extver)
    hdus = []
    for name, extver, data, step in (("WCSDVARR", npol_x, tables.npol_x, tables.npol_step),
                                     ("WCSDVARR", npol_y, tables.npol_y, tables.npol_step),
                                     ("D2IMARR", d2im, tables.d2im_x, 1.0)):
        header = fits.Header()
        for axis in (1, 2):
            header[f"CRPIX{axis}"] = (0.0, "Coordinate system reference pixel")
            header[f"CRVAL{axis}"] = (0.0, "Coordinate system value at reference pixel")
            header[f"CDELT{axis}"] = (step, "Coordinate increment along axis")
        hdus.append(fits.ImageHDU(data, header, name=name, ver=extver))
    return hdus


def _chip_wcs(wcs_cards: dict[str, object], geometry: _ChipGeometry) -> WCS:
    """The chip's full WCS (with its lookup tables) from its keywords."""
    if geometry.lookup is None:
        return WCS(fits.Header(wcs_cards))
    tables = fits.HDUList([fits.PrimaryHDU(), *_lookup_hdus(geometry)])
    return WCS(fits.Header(wcs_cards), fobj=tables)


# ---------------------------------------------------------------------------
# Random streams: one per purpose, so that (say) exposure 3 is the same
# whether 4 or 8 exposures are made.


def _rng(seed: int, *purpose: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=purpose))


_STREAM_SCENE, _STREAM_DEFECTS, _STREAM_EXPOSURE, _STREAM_CHIP = 0, 1, 2, 3


# ---------------------------------------------------------------------------
# Scene on the sky


def _scene_bounds(geometries: list[_ChipGeometry],
                  offsets: list[tuple[float, float]]) -> tuple[float, float, float, float]:
    """Focal-plane box (x0, x1, y0, y1) of the reference pointing that any
    exposure may see, at any of the pointing ``offsets``, plus a margin for
    distortion and source wings."""
    ny, nx = geometries[0].shape
    (dx0, dx1), (dy0, dy1) = _dither_box(geometries[0].camera)
    dx0, dx1 = dx0 + min(x for x, _ in offsets), dx1 + max(x for x, _ in offsets)
    dy0, dy1 = dy0 + min(y for _, y in offsets), dy1 + max(y for _, y in offsets)
    ys = [g.focal_centre[1] for g in geometries]
    margin = _SCENE_MARGIN_PIXELS + 0.01 * max(nx, ny)
    return (dx0 - nx / 2 - margin, dx1 + nx / 2 + margin,
            dy0 + min(ys) - ny / 2 - margin, dy1 + max(ys) + ny / 2 + margin)


def _reference_chips_box(geometries: list[_ChipGeometry],
                         offsets: list[tuple[float, float]]) -> tuple[float, float, float, float]:
    """Focal-plane box (x0, x1, y0, y1) of both chips at the pointings
    (their undithered positions), less a star's half-width: where bright
    stars are put."""
    ny, nx = geometries[0].shape
    ys = [g.focal_centre[1] for g in geometries]
    inset = float(_STAR_STAMP_HALF_WIDTH)
    x0, x1 = min(x for x, _ in offsets), max(x for x, _ in offsets)
    y0, y1 = min(y for _, y in offsets), max(y for _, y in offsets)
    return (x0 - nx / 2 + inset, x1 + nx / 2 - inset,
            y0 + min(ys) - ny / 2 + inset, y1 + max(ys) + ny / 2 - inset)


def _psf_peak_fraction(psf: tuple[tuple[float, float], ...] = PSF_COMPONENTS) -> float:
    """Fraction of a star's light in its brightest pixel when centred."""
    return sum(weight * math.erf(0.5 / (_sigma(fwhm) * math.sqrt(2))) ** 2
               for weight, fwhm in psf)


def _sigma(fwhm: float) -> float:
    return fwhm / (2.0 * math.sqrt(2.0 * math.log(2.0)))


def _log_uniform(rng: np.random.Generator, bounds: tuple[float, float], size: int) -> np.ndarray:
    return np.exp(rng.uniform(math.log(bounds[0]), math.log(bounds[1]), size))


def _power_law(rng: np.random.Generator, bounds: tuple[float, float], slope: float,
               size: int) -> np.ndarray:
    low, high = bounds[0] ** (1 - slope), bounds[1] ** (1 - slope)
    return (low + rng.uniform(0, 1, size) * (high - low)) ** (1 / (1 - slope))


def _spread_positions(rng: np.random.Generator, bounds: tuple[float, float, float, float],
                      count: int, min_separation: float, avoid_xy: np.ndarray,
                      avoid_radius: np.ndarray) -> np.ndarray:
    """Up to ``count`` random positions no closer than ``min_separation`` to
    each other nor than ``avoid_radius`` to the points ``avoid_xy``."""
    x0, x1, y0, y1 = bounds
    candidates = np.column_stack([rng.uniform(x0, x1, 20 * count + 20),
                                  rng.uniform(y0, y1, 20 * count + 20)])
    clear = np.all(np.hypot(candidates[:, None, 0] - avoid_xy[None, :, 0],
                            candidates[:, None, 1] - avoid_xy[None, :, 1])
                   > avoid_radius[None, :], axis=1)
    accepted = np.empty((count, 2))
    n_accepted = 0
    for point in candidates[clear]:
        distances = np.hypot(*(accepted[:n_accepted] - point).T)
        if n_accepted == 0 or distances.min() >= min_separation:
            accepted[n_accepted] = point
            n_accepted += 1
            if n_accepted == count:
                break
    return accepted[:n_accepted]


def _galaxy_reach_pixels(r_eff_arcsec: np.ndarray,
                         pixel_scale_arcsec: float = PIXEL_SCALE_ARCSEC) -> np.ndarray:
    """Distance from a galaxy centre beyond which a star counts as isolated."""
    return (_ISOLATION_RADIUS_PIXELS + 2.0 + _GALAXY_TRUNCATION_R_EFF
            * np.asarray(r_eff_arcsec) / pixel_scale_arcsec * 1.05)


def _make_scene(seed: int, geometries: list[_ChipGeometry], reference: WCS,
                offsets: list[tuple[float, float]]) -> tuple[Table, Table]:
    """Stars and galaxies on the sky, around the pointings at ``offsets``
    (detector pixels) from the reference pointing."""
    rng = _rng(seed, _STREAM_SCENE)
    camera = geometries[0].camera
    bounds = _scene_bounds(geometries, offsets)
    area = (bounds[1] - bounds[0]) * (bounds[3] - bounds[2])
    n_stars = max(int(round(area * _STAR_DENSITY)), 2 * _MIN_BRIGHT_STARS)
    n_bright = max(int(round(n_stars * _BRIGHT_STAR_FRACTION)), _MIN_BRIGHT_STARS)
    n_saturated = max(int(round(n_stars * _SATURATED_STAR_FRACTION)), 1)
    n_faint = max(n_stars - n_bright - n_saturated, 0)
    n_galaxies = max(int(round(area * _GALAXY_DENSITY)), 3)

    galaxy_xy = np.column_stack([rng.uniform(bounds[0], bounds[1], n_galaxies),
                                 rng.uniform(bounds[2], bounds[3], n_galaxies)])
    galaxies = Table({
        "id": np.arange(1, n_galaxies + 1),
        "ra": np.zeros(n_galaxies), "dec": np.zeros(n_galaxies),
        "flux_eps": _log_uniform(rng, _GALAXY_FLUX_EPS, n_galaxies),
        "r_eff_arcsec": _log_uniform(rng, _GALAXY_R_EFF_ARCSEC, n_galaxies),
        "sersic_n": rng.uniform(*_GALAXY_SERSIC_N, n_galaxies),
        "axis_ratio": rng.uniform(*_GALAXY_AXIS_RATIO, n_galaxies),
        "pa_deg": rng.uniform(0.0, 180.0, n_galaxies),
    })
    # Bright stars go where every exposure of a pointing sees them, clear of
    # galaxies and of each other, so that most are isolated.
    bright_xy = _spread_positions(rng, _reference_chips_box(geometries, offsets),
                                  n_bright + n_saturated,
                                  _BRIGHT_STAR_MIN_SEPARATION_PIXELS, galaxy_xy,
                                  _galaxy_reach_pixels(galaxies["r_eff_arcsec"],
                                                       camera.pixel_scale_arcsec))
    faint_xy = np.column_stack([rng.uniform(bounds[0], bounds[1], n_faint),
                                rng.uniform(bounds[2], bounds[3], n_faint)])
    # a small chip may hold fewer well-separated positions than asked for
    n_saturated = min(n_saturated, len(bright_xy))
    n_bright = len(bright_xy) - n_saturated
    peak_per_eps = _psf_peak_fraction(camera.psf) * camera.exptime_range[0]
    saturated_flux = (_log_uniform(rng, _SATURATED_PEAK_OVER_FULL_WELL, n_saturated)
                      * FULL_WELL_ELECTRONS / peak_per_eps)
    star_flux = np.concatenate([
        saturated_flux,
        _log_uniform(rng, _BRIGHT_FLUX_EPS, n_bright),
        _power_law(rng, _FAINT_FLUX_EPS, _FAINT_FLUX_SLOPE, n_faint),
    ])
    star_xy = np.concatenate([bright_xy, faint_xy])

    galaxies["ra"], galaxies["dec"] = reference.wcs_pix2world(galaxy_xy[:, 0], galaxy_xy[:, 1], 0)
    galaxies.meta["truncation_r_eff"] = _GALAXY_TRUNCATION_R_EFF
    galaxies.meta["profile"] = ("elliptical Sersic surface brightness on the sky, "
                                "truncated at truncation_r_eff effective radii "
                                "(elliptical radius); flux_eps is the truncated total")

    n_total = len(star_xy)
    stars = Table({
        "id": np.arange(1, n_total + 1),
        "ra": np.zeros(n_total), "dec": np.zeros(n_total),
        "flux_eps": star_flux,
        "isolated": _isolated(star_xy, galaxy_xy, galaxies["r_eff_arcsec"],
                              camera.pixel_scale_arcsec),
        "saturated": np.arange(n_total) < n_saturated,
        "n_covered": np.zeros(n_total, dtype=np.int32),
    })
    stars["isolated"] &= ~stars["saturated"]
    stars["ra"], stars["dec"] = reference.wcs_pix2world(star_xy[:, 0], star_xy[:, 1], 0)
    stars.meta["psf"] = {"model": "sum of circular Gaussians in detector pixels",
                         "weights": [w for w, _ in camera.psf],
                         "fwhm_pixels": [f for _, f in camera.psf]}
    stars.meta["isolation_radius_pixels"] = _ISOLATION_RADIUS_PIXELS
    stars.meta["isolated"] = ("no light of another star or galaxy within "
                              "isolation_radius_pixels, and not saturated")
    stars.meta["columns"] = {"flux_eps": "total e-/s of the star",
                             "n_covered": "exposures in which the whole star "
                                          f"(+-{_STAR_STAMP_HALF_WIDTH} px) lies on a chip"}
    return stars, galaxies


def _isolated(star_xy: np.ndarray, galaxy_xy: np.ndarray, r_eff_arcsec: np.ndarray,
              pixel_scale_arcsec: float = PIXEL_SCALE_ARCSEC) -> np.ndarray:
    """True for stars with no light of another source within the isolation
    radius."""
    star_distance = np.hypot(star_xy[:, None, 0] - star_xy[None, :, 0],
                             star_xy[:, None, 1] - star_xy[None, :, 1])
    np.fill_diagonal(star_distance, np.inf)
    galaxy_reach = _galaxy_reach_pixels(r_eff_arcsec, pixel_scale_arcsec)
    galaxy_distance = np.hypot(star_xy[:, None, 0] - galaxy_xy[None, :, 0],
                               star_xy[:, None, 1] - galaxy_xy[None, :, 1])
    return ((star_distance.min(axis=1, initial=np.inf)
             > _ISOLATION_RADIUS_PIXELS + _PSF_REACH_PIXELS)
            & np.all(galaxy_distance > galaxy_reach[None, :], axis=1))


# ---------------------------------------------------------------------------
# Rendering


def _pixel_integrated_gaussian(offsets: np.ndarray, centres: np.ndarray,
                               sigma: float) -> np.ndarray:
    """Fraction of a 1-D Gaussian falling in each pixel of a stamp row,
    normalised to sum to 1 over the stamp.  ``offsets`` are pixel indices
    (N, S), ``centres`` the source positions (N,)."""
    edges = np.concatenate([offsets - 0.5, offsets[:, -1:] + 0.5], axis=1)
    scaled = (edges - centres[:, None]) / (sigma * math.sqrt(2.0))
    cumulative = _erf(scaled).astype(np.float64)
    fractions = np.diff(cumulative, axis=1) * 0.5
    return fractions / fractions.sum(axis=1, keepdims=True)


def _render_stars(shape: tuple[int, int], x: np.ndarray, y: np.ndarray,
                  electrons: np.ndarray,
                  psf: tuple[tuple[float, float], ...] = PSF_COMPONENTS) -> np.ndarray:
    """Image of point sources, each contributing exactly ``electrons`` (less
    what falls off the chip)."""
    ny, nx = shape
    image = np.zeros(ny * nx)
    if len(x) == 0:
        return image.reshape(shape)
    offsets = np.arange(-_STAR_STAMP_HALF_WIDTH, _STAR_STAMP_HALF_WIDTH + 1)
    columns = np.rint(x).astype(np.int64)[:, None] + offsets
    rows = np.rint(y).astype(np.int64)[:, None] + offsets
    stamps = np.zeros((len(x), offsets.size, offsets.size))
    for weight, fwhm in psf:
        along_x = _pixel_integrated_gaussian(columns, x, _sigma(fwhm))
        along_y = _pixel_integrated_gaussian(rows, y, _sigma(fwhm))
        stamps += weight * along_y[:, :, None] * along_x[:, None, :]
    stamps *= electrons[:, None, None]
    inside = (((rows >= 0) & (rows < ny))[:, :, None]
              & ((columns >= 0) & (columns < nx))[:, None, :])
    flat_index = rows[:, :, None] * nx + columns[:, None, :]
    image += np.bincount(flat_index[inside], weights=stamps[inside], minlength=ny * nx)
    return image.reshape(shape)


def _sersic_b(n: float) -> float:
    """b_n of the Sersic profile (Ciotti & Bertin 1999 expansion)."""
    return 2.0 * n - 1.0 / 3.0 + 4.0 / (405.0 * n) + 46.0 / (25515.0 * n * n)


def _regularized_lower_gamma(s: float, x: float) -> float:
    """P(s, x) by its power series (converges for the x < 40 used here)."""
    term = 1.0 / s
    total = term
    k = 1
    while term > 1e-17 * total and k < 1000:
        term *= x / (s + k)
        total += term
        k += 1
    return math.exp(s * math.log(x) - x - math.lgamma(s)) * total


def _sersic_effective_intensity(flux: float, r_eff: float, n: float, q: float) -> float:
    """Surface brightness at r_eff such that the truncated profile holds ``flux``."""
    b = _sersic_b(n)
    truncation = b * _GALAXY_TRUNCATION_R_EFF ** (1.0 / n)
    enclosed = _regularized_lower_gamma(2.0 * n, truncation)
    total_per_intensity = (2.0 * math.pi * q * r_eff ** 2 * n * math.exp(b)
                           * b ** (-2.0 * n) * math.gamma(2.0 * n) * enclosed)
    return flux / total_per_intensity


def _local_jacobian_arcsec(wcs: WCS, x: float, y: float) -> tuple[np.ndarray, float]:
    """d(xi, eta)/d(x, y) in arcsec per pixel at a pixel position (with the
    distortion), and the pixel area in arcsec^2."""
    points = np.array([[x, y], [x + 1, y], [x - 1, y], [x, y + 1], [x, y - 1]])
    sky = wcs.all_pix2world(points, 0)
    offsets = _tangent_offsets_deg(sky[:, 0], sky[:, 1], (sky[0, 0], sky[0, 1])) * 3600.0
    jacobian = np.column_stack([(offsets[1] - offsets[2]) / 2.0,
                                (offsets[3] - offsets[4]) / 2.0])
    return jacobian, abs(float(np.linalg.det(jacobian)))


def _sersic_pixel_means(galaxy, jacobian: np.ndarray, x_offsets: np.ndarray,
                        y_offsets: np.ndarray, subsampling: int) -> np.ndarray:
    """Mean surface brightness (e-/s/arcsec^2) over each pixel of a block.

    ``x_offsets``/``y_offsets`` are the pixel centres relative to the galaxy
    centre; ``jacobian`` maps pixel offsets to sky offsets (arcsec).
    """
    sub = (np.arange(subsampling) + 0.5) / subsampling - 0.5
    dx = x_offsets[None, :, None, None] + sub[None, None, None, :]
    dy = y_offsets[:, None, None, None] + sub[None, None, :, None]
    xi = jacobian[0, 0] * dx + jacobian[0, 1] * dy
    eta = jacobian[1, 0] * dx + jacobian[1, 1] * dy
    position_angle = math.radians(galaxy["pa_deg"])
    major = xi * math.sin(position_angle) + eta * math.cos(position_angle)
    minor = xi * math.cos(position_angle) - eta * math.sin(position_angle)
    radius = np.hypot(major, minor / galaxy["axis_ratio"])
    n, r_eff = float(galaxy["sersic_n"]), float(galaxy["r_eff_arcsec"])
    intensity = _sersic_effective_intensity(float(galaxy["flux_eps"]), r_eff, n,
                                            float(galaxy["axis_ratio"]))
    profile = intensity * np.exp(-_sersic_b(n) * ((radius / r_eff) ** (1.0 / n) - 1.0))
    profile[radius > _GALAXY_TRUNCATION_R_EFF * r_eff] = 0.0
    return profile.mean(axis=(2, 3))


def _galaxy_stamp(galaxy, wcs: WCS, xc: float, yc: float, half: int,
                  exptime: float) -> np.ndarray:
    """Counts (e-) of one galaxy in a (2 half + 1)^2 stamp centred on the
    pixel nearest its centre, whole (not clipped to the chip)."""
    jacobian, pixel_area = _local_jacobian_arcsec(wcs, xc, yc)
    ix, iy = int(round(xc)), int(round(yc))
    offsets = np.arange(-half, half + 1)
    stamp = _sersic_pixel_means(galaxy, jacobian, ix + offsets - xc, iy + offsets - yc,
                                _GALAXY_SUBSAMPLING)
    # The cusp of a Sersic profile needs finer sampling than the wings.
    core = np.arange(-_GALAXY_CORE_HALF_WIDTH, _GALAXY_CORE_HALF_WIDTH + 1)
    stamp[half + core[0]:half + core[-1] + 1, half + core[0]:half + core[-1] + 1] = \
        _sersic_pixel_means(galaxy, jacobian, ix + core - xc, iy + core - yc,
                            _GALAXY_CORE_SUBSAMPLING)
    stamp *= pixel_area * exptime
    # Surface brightness integrates to the flux over the sky, so the counts
    # of the whole galaxy are flux * exptime whatever the pixel area; the
    # normalisation only removes the residual sampling error.
    return stamp * (float(galaxy["flux_eps"]) * exptime / stamp.sum())


def _render_galaxies(shape: tuple[int, int], wcs: WCS, galaxies: Table,
                     exptime: float, pixel_scale_arcsec: float = PIXEL_SCALE_ARCSEC
                     ) -> np.ndarray:
    """Image (e-) of Sersic galaxies whose surface brightness is defined on
    the sky: pixel values scale with each pixel's area on the sky."""
    ny, nx = shape
    image = np.zeros(shape)
    if len(galaxies) == 0:
        return image
    centres = wcs.all_world2pix(np.column_stack([galaxies["ra"], galaxies["dec"]]), 0,
                                tolerance=1e-8, quiet=True)
    for galaxy, (xc, yc) in zip(galaxies, centres):
        truncation = _GALAXY_TRUNCATION_R_EFF * galaxy["r_eff_arcsec"]
        half = max(int(math.ceil(truncation / (0.9 * pixel_scale_arcsec))) + 1,
                   _GALAXY_CORE_HALF_WIDTH)
        if not (np.isfinite(xc) and np.isfinite(yc)):
            continue
        ix, iy = int(round(xc)), int(round(yc))
        x_lo, x_hi = max(ix - half, 0), min(ix + half + 1, nx)
        y_lo, y_hi = max(iy - half, 0), min(iy + half + 1, ny)
        if x_lo >= x_hi or y_lo >= y_hi:
            continue
        stamp = _galaxy_stamp(galaxy, wcs, xc, yc, half, exptime)
        image[y_lo:y_hi, x_lo:x_hi] += stamp[y_lo - iy + half:y_hi - iy + half,
                                             x_lo - ix + half:x_hi - ix + half]
    return image


# ---------------------------------------------------------------------------
# Detector: defects, cosmic rays, noise


@dataclass
class _ChipDefects:
    """Fixed detector defects of one chip (the same in every exposure)."""

    bad_dark_deficit: np.ndarray     # e- missing, float32; > 0 on bad pixels
    hot_rate_eps: np.ndarray         # e-/s of extra dark current
    dq: np.ndarray                   # int16 static DQ (bad column, hot)


def _chip_defects(seed: int, geometry: _ChipGeometry) -> _ChipDefects:
    rng = _rng(seed, _STREAM_DEFECTS, geometry.extver)
    ny, nx = geometry.shape
    full_ny, full_nx = geometry.camera.full_chip_shape
    area_fraction = ny * nx / (full_ny * full_nx)
    n_bad = max(int(round(_BAD_DARK_PER_FULL_CHIP * area_fraction)), _MIN_BAD_DARK)
    n_hot = max(int(round(_HOT_PIXELS_PER_FULL_CHIP * area_fraction)), _MIN_HOT_PIXELS)
    positions = rng.choice(ny * nx, size=n_bad + n_hot, replace=False)
    deficit = np.zeros(ny * nx, dtype=np.float32)
    deficit[positions[:n_bad]] = rng.uniform(*_BAD_DARK_DEFICIT_ELECTRONS, n_bad)
    hot_rate = np.zeros(ny * nx)
    hot_rate[positions[n_bad:]] = rng.uniform(*_HOT_RATE_EPS, n_hot)
    dq = np.zeros(ny * nx, dtype=np.int16)
    dq[positions[n_bad:]] |= DQ_HOT_PIXEL
    dq = dq.reshape(ny, nx)
    column = int(rng.integers(nx // 4, 3 * nx // 4))
    first_row = int(rng.integers(0, ny - ny // 4))
    dq[first_row:first_row + ny // 4, column] |= DQ_BAD_COLUMN
    return _ChipDefects(deficit.reshape(ny, nx), hot_rate.reshape(ny, nx), dq)


def _cosmic_ray_image(shape: tuple[int, int], exptime: float,
                      rng: np.random.Generator) -> np.ndarray:
    """Charge (e-, float32) deposited by cosmic rays: short straight tracks
    of 1-10 pixels, some with a faint halo of diffused charge."""
    ny, nx = shape
    n_events = int(rng.poisson(_CR_EVENT_RATE * exptime * ny * nx))
    lengths = np.minimum(rng.geometric(_CR_TRACK_LENGTH_P, n_events), _CR_MAX_TRACK_LENGTH)
    angle = rng.uniform(0.0, math.pi, n_events)
    start_x = rng.uniform(-0.5, nx - 0.5, n_events)
    start_y = rng.uniform(-0.5, ny - 0.5, n_events)
    # One pixel per step along the track's dominant axis keeps tracks connected.
    dominant = np.maximum(np.abs(np.cos(angle)), np.abs(np.sin(angle)))
    step_x, step_y = np.cos(angle) / dominant, np.sin(angle) / dominant
    event = np.repeat(np.arange(n_events), lengths)
    first = np.repeat(np.cumsum(lengths) - lengths, lengths)
    t = np.arange(event.size) - first
    track_x = np.rint(start_x[event] + t * step_x[event]).astype(np.int64)
    track_y = np.rint(start_y[event] + t * step_y[event]).astype(np.int64)
    deposit = np.clip(rng.lognormal(math.log(_CR_MEDIAN_ELECTRONS), _CR_LOG_SIGMA, event.size),
                      *_CR_ELECTRONS_RANGE)
    halo_fraction = np.where(rng.random(n_events) < _CR_HALO_PROBABILITY,
                             rng.uniform(*_CR_HALO_FRACTION, n_events), 0.0)[event]
    xs, ys, charges = [track_x], [track_y], [deposit]
    has_halo = halo_fraction > 0
    for shift_x, shift_y in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        xs.append(track_x[has_halo] + shift_x)
        ys.append(track_y[has_halo] + shift_y)
        charges.append(deposit[has_halo] * halo_fraction[has_halo])
    x, y, charge = np.concatenate(xs), np.concatenate(ys), np.concatenate(charges)
    inside = (x >= 0) & (x < nx) & (y >= 0) & (y < ny)
    image = np.bincount(y[inside] * nx + x[inside], weights=charge[inside], minlength=ny * nx)
    return image.reshape(shape).astype(np.float32)


def _read_noise_image(geometry: _ChipGeometry) -> np.ndarray:
    """Read noise (e-) of each pixel: left half one amplifier, right half the other."""
    ny, nx = geometry.shape
    left, right = (geometry.camera.read_noise_by_amp[a] for a in geometry.amplifiers)
    row = np.where(np.arange(nx) < nx // 2, left, right)
    return np.broadcast_to(row, (ny, nx))


@dataclass
class _SimulatedChip:
    science: np.ndarray
    error: np.ndarray
    dq: np.ndarray
    cosmic_rays: np.ndarray
    wcs_cards: dict[str, object]
    stars_covered: np.ndarray
    stars_saturated: np.ndarray


def _simulate_chip(seed: int, plan: _ExposurePlan, geometry: _ChipGeometry,
                   defects: _ChipDefects, stars: Table, galaxies: Table) -> _SimulatedChip:
    """One chip of one exposure: scene through its WCS, sky, hot pixels,
    Poisson and read noise, cosmic rays, negative pixels, saturation."""
    rng = _rng(seed, _STREAM_CHIP, plan.index, geometry.extver)
    ny, nx = geometry.shape
    camera = geometry.camera
    wcs_cards = _chip_wcs_cards(_pointing_wcs(*plan.pointing_radec, camera), geometry)
    wcs = _chip_wcs(wcs_cards, geometry)
    star_xy = wcs.all_world2pix(np.column_stack([stars["ra"], stars["dec"]]), 0,
                                tolerance=1e-8, quiet=True)
    reach = _STAR_STAMP_HALF_WIDTH
    near = ((star_xy[:, 0] > -reach) & (star_xy[:, 0] < nx - 1 + reach)
            & (star_xy[:, 1] > -reach) & (star_xy[:, 1] < ny - 1 + reach))
    covered = ((star_xy[:, 0] >= reach) & (star_xy[:, 0] <= nx - 1 - reach)
               & (star_xy[:, 1] >= reach) & (star_xy[:, 1] <= ny - 1 - reach))
    # Photons collected per pixel: sources and sky scale with each pixel's
    # area on the sky; point sources deliver exactly flux * exptime.
    # (lookup tables vary on scales of tens of pixels: finer area nodes)
    area = _relative_pixel_area(wcs, geometry.shape,
                                spacing=64 if geometry.lookup is None else 8,
                                pixel_scale_arcsec=camera.pixel_scale_arcsec)
    collected = _render_stars(geometry.shape, star_xy[near, 0], star_xy[near, 1],
                              np.asarray(stars["flux_eps"])[near] * plan.exptime, camera.psf)
    collected += _render_galaxies(geometry.shape, wcs, galaxies, plan.exptime,
                                  camera.pixel_scale_arcsec)
    collected += plan.sky_electrons * area + defects.hot_rate_eps * plan.exptime
    saturated = collected >= FULL_WELL_ELECTRONS

    cosmic_rays = _cosmic_ray_image(geometry.shape, plan.exptime, rng)
    read_noise = _read_noise_image(geometry)
    # Calibrated (flat-fielded) exposures are normalised to a uniform response
    # per unit sky area, like HST FLT/FLC files: the sky is flat and a star's
    # counts are divided by the pixel area, which drizzling restores.
    science = rng.poisson(collected).astype(np.float64) / area
    science += rng.normal(0.0, 1.0, geometry.shape) * read_noise
    science += cosmic_rays
    science -= defects.bad_dark_deficit
    science[saturated] = np.minimum(science[saturated], FULL_WELL_ELECTRONS)
    science = science.astype(np.float32)
    error = np.sqrt(np.clip(science, 0.0, None) + read_noise ** 2).astype(np.float32)
    dq = defects.dq | np.where(saturated, DQ_SATURATED, 0).astype(np.int16)
    return _SimulatedChip(science, error, dq, cosmic_rays, wcs_cards, covered,
                          _stars_touching(saturated, star_xy))


def _relative_pixel_area(wcs: WCS, shape: tuple[int, int], spacing: int = 64,
                         pixel_scale_arcsec: float = PIXEL_SCALE_ARCSEC) -> np.ndarray:
    """Sky area of each pixel relative to a square pixel of the camera's scale.

    Evaluated from the distortion's Jacobian on nodes every ``spacing``
    pixels and interpolated bilinearly (the distortion is smooth).
    """
    ny, nx = shape
    x_nodes = np.unique(np.append(np.arange(0, nx, spacing), nx - 1)).astype(float)
    y_nodes = np.unique(np.append(np.arange(0, ny, spacing), ny - 1)).astype(float)
    grid_x, grid_y = np.meshgrid(x_nodes, y_nodes)
    x, y = grid_x.ravel(), grid_y.ravel()
    points = np.concatenate([np.column_stack([x + dx, y + dy]) for dx, dy in
                             ((0.5, 0), (-0.5, 0), (0, 0.5), (0, -0.5))])
    sky = wcs.all_pix2world(points, 0)
    centre = wcs.all_pix2world([[(nx - 1) / 2.0, (ny - 1) / 2.0]], 0)[0]
    offsets = (_tangent_offsets_deg(sky[:, 0], sky[:, 1], (centre[0], centre[1]))
               * 3600.0).reshape(4, -1, 2)
    d_dx = offsets[0] - offsets[1]
    d_dy = offsets[2] - offsets[3]
    area = np.abs(d_dx[:, 0] * d_dy[:, 1] - d_dx[:, 1] * d_dy[:, 0])
    area = (area / pixel_scale_arcsec ** 2).reshape(grid_x.shape)
    along_x = np.array([np.interp(np.arange(nx), x_nodes, row) for row in area])
    return np.array([np.interp(np.arange(ny), y_nodes, column) for column in along_x.T]).T


def _stars_touching(mask: np.ndarray, star_xy: np.ndarray, half: int = 2) -> np.ndarray:
    """True for stars with a masked pixel within ``half`` pixels of their centre."""
    ny, nx = mask.shape
    offsets = np.arange(-half, half + 1)
    with np.errstate(invalid="ignore"):
        columns = np.rint(np.nan_to_num(star_xy[:, 0], nan=-1e9)).astype(np.int64)
        rows = np.rint(np.nan_to_num(star_xy[:, 1], nan=-1e9)).astype(np.int64)
    columns = columns[:, None, None] + offsets[None, None, :]
    rows = rows[:, None, None] + offsets[None, :, None]
    inside = (columns >= 0) & (columns < nx) & (rows >= 0) & (rows < ny)
    values = mask[np.clip(rows, 0, ny - 1), np.clip(columns, 0, nx - 1)] & inside
    return values.any(axis=(1, 2))


# ---------------------------------------------------------------------------
# Exposure plans and headers


def _rootname(index: int) -> str:
    """HST-style rootname: 234 exposures per visit (``a1`` to ``z9``), then
    the next visit number."""
    visit, number = divmod(index, _EXPOSURES_PER_VISIT)
    return f"mdz{visit + 1:03d}{chr(ord('a') + number // 9)}{number % 9 + 1}q"


def _pointing_offsets(pointings: int, chip_shape: tuple[int, int],
                      camera: _Camera) -> list[tuple[float, float]]:
    """Offsets (detector pixels of the reference pointing) of a
    ``pointings`` x ``pointings`` grid of pointings centred on the target,
    row by row; neighbours overlap by a tenth of the field of view."""
    ny, nx = chip_shape
    step_x = _POINTING_STEP * nx
    step_y = _POINTING_STEP * (2 * ny + camera.chip_gap_pixels)
    centre = (pointings - 1) / 2.0
    return [((column - centre) * step_x, (row - centre) * step_y)
            for row in range(pointings) for column in range(pointings)]


def _dither_box(camera: _Camera) -> tuple[tuple[float, float], tuple[float, float]]:
    """Box of the random dithers: up to 25 pixels beyond the chip gap in y."""
    (x0, x1), (y0, _) = _DITHER_BOX_PIXELS
    return (x0, x1), (y0, camera.chip_gap_pixels + 25.0)


def _dither(seed: int, index: int, camera: _Camera = _WFC3_UVIS) -> tuple[float, float]:
    """Telescope offset (detector pixels) of exposure ``index``: the fixed
    pattern, then random offsets in the same box, every fourth one across
    the chip gap."""
    if index < len(_DITHER_PATTERN_PIXELS):
        x, y = _DITHER_PATTERN_PIXELS[index]
        # the fourth step crosses the camera's chip gap by 12.75 pixels
        return (x, camera.chip_gap_pixels + 12.75) if index == 3 else (x, y)
    rng = _rng(seed, _STREAM_EXPOSURE, index, 1)
    (x0, x1), (y0, y1) = _dither_box(camera)
    gap_step = camera.chip_gap_pixels + 12.0 if index % 4 == 3 else 0.0
    return (round(float(rng.uniform(x0, x1)), 3),
            round(float(rng.uniform(y0, min(y1 - gap_step, 12.0))) + gap_step, 3))


def _exposure_plans(seed: int, n_exposures: int, suffix: str, camera: _Camera,
                    offsets: list[tuple[float, float]]) -> list[_ExposurePlan]:
    """Exposure ``index`` goes to pointing ``index % len(offsets)``, where it
    is dither number ``index // len(offsets)`` of the pattern."""
    reference = _pointing_wcs(_TARGET_RA_DEG, _TARGET_DEC_DEG, camera)
    plans = []
    start = _MJD_START
    for index in range(n_exposures):
        rng = _rng(seed, _STREAM_EXPOSURE, index, 0)
        exptime = float(round(rng.uniform(*camera.exptime_range)))
        sky = float(round(rng.uniform(*camera.sky_range_electrons), 4))
        dither_number, pointing = divmod(index, len(offsets))
        dither = _dither(seed, dither_number, camera)
        dither = (dither[0] + offsets[pointing][0], dither[1] + offsets[pointing][1])
        ra, dec = reference.wcs_pix2world([dither[0]], [dither[1]], 0)
        rootname = _rootname(index)
        plans.append(_ExposurePlan(index=index, rootname=rootname,
                                   filename=f"{rootname}_{suffix}.fits", exptime=exptime,
                                   expstart_mjd=start, sky_electrons=sky,
                                   dither_pixels=dither,
                                   pointing_radec=(float(ra[0]), float(dec[0]))))
        start += (exptime + _OVERHEAD_SECONDS) / 86400.0
    return plans


def _primary_header(plan: _ExposurePlan, chip_shape: tuple[int, int],
                    geometry: _ChipGeometry | None = None) -> fits.Header:
    geometry = geometry or _chip_geometries(chip_shape)[0]
    camera = geometry.camera
    lookup = geometry.lookup is not None
    start = Time(plan.expstart_mjd, format="mjd", scale="utc")
    cards = [
        # SCI, ERR, DQ per chip, and three lookup tables per chip
        ("NEXTEND", 12 if lookup else 6, "Number of standard extensions"),
        ("FILENAME", plan.filename, "name of file"),
        ("FILETYPE", "SCI", "type of data found in data file"),
        ("TELESCOP", "HST", "telescope used to acquire data"),
        ("INSTRUME", camera.instrument, "identifier for instrument used to acquire data"),
        ("EQUINOX", 2000.0, "equinox of celestial coord. system"),
        ("ROOTNAME", plan.rootname, "rootname of the observation set"),
        ("IMAGETYP", "EXT", "type of exposure identifier"),
        ("TARGNAME", "MDZ-DEMO-FIELD", "proposer's target name"),
        ("RA_TARG", _TARGET_RA_DEG, "right ascension of the target (deg) (J2000)"),
        ("DEC_TARG", _TARGET_DEC_DEG, "declination of the target (deg) (J2000)"),
        ("PROPOSID", 99999, "PEP proposal identifier"),
        ("DATE-OBS", start.strftime("%Y-%m-%d"), "UT date of start of observation"),
        ("TIME-OBS", start.strftime("%H:%M:%S"), "UT time of start of observation"),
        ("EXPSTART", plan.expstart_mjd, "exposure start time (Modified Julian Date)"),
        ("EXPEND", plan.expstart_mjd + plan.exptime / 86400.0,
         "exposure end time (Modified Julian Date)"),
        ("EXPTIME", plan.exptime, "exposure duration (seconds)--calculated"),
        ("EXPFLAG", "NORMAL", "Exposure interruption indicator"),
        ("DARKTIME", plan.exptime + 3.0, "fiducial pixel dark time (secs)"),
        ("PA_V3", _PA_V3_DEG, "position angle of V3-axis of HST (deg)"),
        ("POSTARG1", plan.dither_pixels[0] * camera.pixel_scale_arcsec,
         "POSTARG in axis 1 direction"),
        ("POSTARG2", plan.dither_pixels[1] * camera.pixel_scale_arcsec,
         "POSTARG in axis 2 direction"),
        ("OBSTYPE", "IMAGING", "observation type - imaging or spectroscopic"),
        ("OBSMODE", "ACCUM", "operating mode"),
        ("SUBARRAY", tuple(chip_shape) != camera.full_chip_shape,
         "data from a subarray (T) or full frame (F)"),
        ("DETECTOR", camera.detector, "detector in use: UVIS or IR"
         if camera.instrument == "WFC3" else "detector in use: WFC, HRC, or SBC"),
        *camera.filter_cards,
        ("APERTURE", camera.aperture, "aperture name"),
        ("CRSPLIT", 1, "number of cosmic ray split exposures"),
        ("FLASHLVL", 0, "Post flash requested flash level"),
        ("FLASHSTA", "NOT PERFORMED", "Status: SUCCESSFUL, ABORTED, NOT PERFORMED"),
        ("DQICORR", "COMPLETE", "data quality initialization"),
        ("BLEVCORR", "COMPLETE", "subtract bias level computed from overscan"),
        ("BIASCORR", "COMPLETE", "Subtract bias image"),
        ("DARKCORR", "COMPLETE", "Subtract dark image"),
        ("FLATCORR", "COMPLETE", "flat field data"),
        ("PCTECORR", "COMPLETE" if plan.filename.endswith("_flc.fits") else "OMIT",
         "cte correction"),
        ("PHOTCORR", "COMPLETE", "populate photometric header keywords"),
        ("DRIZCORR", "PERFORM", "drizzle processing"),
        ("IDCTAB", "N/A", "distortion is in the SIP keywords only"),
        ("D2IMFILE", "mdzdemo_d2i.fits" if lookup else "N/A",
         "origin of detector to image correction"),
        ("NPOLFILE", "mdzdemo_npl.fits" if lookup else "N/A",
         "origin of non-polynomial distortion model"),
        ("CCDAMP", "ABCD", "CCD Amplifier Readout Configuration"),
        ("CCDGAIN", camera.ccdgain, "commanded gain of CCD"),
    ]
    for amp in "ABCD":
        cards.append((f"ATODGN{amp}", camera.gain_by_amp[amp],
                      f"calibrated gain for amplifier {amp}"))
    for amp in "ABCD":
        cards.append((f"READNSE{amp}", camera.read_noise_by_amp[amp],
                      f"calibrated read noise for amplifier {amp}"))
    for amp in "ABCD":
        cards.append((f"BIASLEV{amp}", camera.bias_level_by_amp[amp],
                      f"bias level for amplifier {amp}"))
    cards += [
        ("ORIGIN", "multidrizzle.demo.datasets", "synthetic demo exposure"),
        ("HISTORY", f"Synthetic {camera.instrument}/{camera.detector}-like exposure written "
                    "by multidrizzle.demo.datasets"),
    ]
    return _header_from_cards(cards)


def _header_from_cards(cards: list[tuple]) -> fits.Header:
    header = fits.Header()
    for card in cards:
        if card[0] == "HISTORY":
            header.add_history(card[1])
        else:
            header[card[0]] = card[1:] if len(card) > 2 else card[1]
    return header


def _extension_header(plan: _ExposurePlan, geometry: _ChipGeometry,
                      wcs_cards: dict[str, object], bunit: str) -> fits.Header:
    header = fits.Header()
    header["INHERIT"] = (True, "inherit the primary header")
    header["ROOTNAME"] = (plan.rootname, "rootname of the observation set")
    header["EXPNAME"] = (plan.rootname, "exposure identifier")
    header["BUNIT"] = (bunit, "brightness units")
    header["CCDCHIP"] = (geometry.ccdchip, "CCD chip (1 or 2)")
    for key, value in wcs_cards.items():
        header[key] = (value, _WCS_COMMENTS.get(key, "SIP distortion coefficient"))
    header["LTV1"] = (0.0, "offset in X to subsection start")
    header["LTV2"] = (0.0, "offset in Y to subsection start")
    header["LTM1_1"] = (1.0, "reciprocal of sampling rate in X")
    header["LTM2_2"] = (1.0, "reciprocal of sampling rate in Y")
    header["PA_APER"] = (wcs_cards["ORIENTAT"], "Position Angle of reference aperture center")
    header["VAFACTOR"] = (1.0, "velocity aberration plate scale factor")
    header["IDCSCALE"] = (geometry.camera.pixel_scale_arcsec,
                          "pixel scale from the IDCTAB reference file")
    header["IDCTHETA"] = (geometry.camera.idctheta_deg,
                          "orientation of detector's Y-axis w.r.t. V3 axis")
    header["IDCXREF"] = (wcs_cards["CRPIX1"], "reference pixel location in X")
    header["IDCYREF"] = (wcs_cards["CRPIX2"], "reference pixel location in Y")
    header["RA_APER"] = (plan.pointing_radec[0], "RA of aperture reference position")
    header["DEC_APER"] = (plan.pointing_radec[1], "Declination of aperture reference position")
    return header


_WCS_COMMENTS = {
    "WCSAXES": "Number of coordinate axes",
    "CRPIX1": "Pixel coordinate of reference point",
    "CRPIX2": "Pixel coordinate of reference point",
    "CRVAL1": "[deg] Coordinate value at reference point",
    "CRVAL2": "[deg] Coordinate value at reference point",
    "CTYPE1": "TAN (gnomonic) projection + SIP distortions",
    "CTYPE2": "TAN (gnomonic) projection + SIP distortions",
    "CUNIT1": "Units of coordinate increment and value",
    "CUNIT2": "Units of coordinate increment and value",
    "CD1_1": "partial of first axis coordinate w.r.t. x",
    "CD1_2": "partial of first axis coordinate w.r.t. y",
    "CD2_1": "partial of second axis coordinate w.r.t. x",
    "CD2_2": "partial of second axis coordinate w.r.t. y",
    "A_ORDER": "SIP polynomial order, axis 0, detector to sky",
    "B_ORDER": "SIP polynomial order, axis 1, detector to sky",
    "WCSNAME": "Coordinate system title",
    "RADESYS": "Equatorial coordinate system",
    "ORIENTAT": "position angle of image y axis (deg. e of n)",
}


def _science_header(plan: _ExposurePlan, geometry: _ChipGeometry,
                    chip: _SimulatedChip) -> fits.Header:
    header = _extension_header(plan, geometry, chip.wcs_cards, "ELECTRONS")
    camera = geometry.camera
    by_chip = camera.photflam_by_ccdchip
    header["PHOTMODE"] = (camera.photmode.format(ccdchip=geometry.ccdchip),
                          "observation configuration")
    header["PHOTFLAM"] = (by_chip[geometry.ccdchip], "Inverse sensitivity, ergs/cm2/A/e-")
    header["PHTFLAM1"] = (by_chip[1], "Ch1 Inv Sens")
    header["PHTFLAM2"] = (by_chip[2], "Ch2 Inv Sens")
    header["PHTRATIO"] = (by_chip[2] / by_chip[1], "PHTFLAM2/PHTFLAM1 ratio")
    header["PHOTFNU"] = (camera.photfnu, "Inverse sensitivity, Jy*sec/e-")
    header["PHOTZPT"] = (camera.photzpt, "ST magnitude zero point")
    header["PHOTPLAM"] = (camera.photplam, "Pivot wavelength (Angstroms)")
    header["PHOTBW"] = (camera.photbw, "RMS bandwidth of filter plus detector")
    ny, nx = geometry.shape
    header["CENTERA1"] = (nx // 2 + 56, "subarray axis1 center pt in unbinned dect. pix")
    header["CENTERA2"] = (ny // 2 + 11, "subarray axis2 center pt in unbinned dect. pix")
    header["SIZAXIS1"] = (nx, "subarray axis1 size in unbinned detector pixels")
    header["SIZAXIS2"] = (ny, "subarray axis2 size in unbinned detector pixels")
    header["BINAXIS1"] = (1, "axis1 data bin size in unbinned detector pixels")
    header["BINAXIS2"] = (1, "axis2 data bin size in unbinned detector pixels")
    good = (chip.dq & _SERIOUS_DQ_FLAGS) == 0
    good_values = chip.science[good]
    header["NGOODPIX"] = (int(good.sum()), "number of good pixels")
    header["SDQFLAGS"] = (_SERIOUS_DQ_FLAGS, "serious data quality flags")
    header["GOODMIN"] = (float(good_values.min()), "minimum value of good pixels")
    header["GOODMAX"] = (float(good_values.max()), "maximum value of good pixels")
    header["GOODMEAN"] = (float(good_values.mean()), "mean value of good pixels")
    header["SOFTERRS"] = (0, "number of soft error pixels (DQF=1)")
    header["MEANDARK"] = (camera.mean_dark_electrons, "average of the dark values subtracted")
    header["MEANBLEV"] = (float(np.mean([camera.bias_level_by_amp[a]
                                         for a in geometry.amplifiers])),
                          "average of all bias levels subtracted")
    header["MEANFLSH"] = (0.0, "Mean number of counts in post flash exposure")
    return header


def _exposure_hdulist(plan: _ExposurePlan, chip_shape: tuple[int, int],
                      chips: list[tuple[_ChipGeometry, _SimulatedChip]]) -> fits.HDUList:
    hdus: list[fits.hdu.base.ExtensionHDU] = []
    lookup_hdus: list[fits.ImageHDU] = []
    for geometry, chip in chips:
        extver = geometry.extver
        if geometry.lookup is not None:
            lookup_hdus += _lookup_hdus(geometry)
        hdus.append(fits.ImageHDU(chip.science, _science_header(plan, geometry, chip),
                                  name="SCI", ver=extver))
        hdus.append(fits.ImageHDU(chip.error, _extension_header(
            plan, geometry, chip.wcs_cards, "ELECTRONS"), name="ERR", ver=extver))
        hdus.append(fits.ImageHDU(chip.dq, _extension_header(
            plan, geometry, chip.wcs_cards, "UNITLESS"), name="DQ", ver=extver))
    primary = _primary_header(plan, chip_shape, chips[0][0])
    return fits.HDUList([fits.PrimaryHDU(header=primary), *hdus, *lookup_hdus])


# ---------------------------------------------------------------------------
# Writing


def _write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """Write through a temporary file in the same folder, then rename it."""
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        write(temporary)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _write_fits(path: Path, hdulist: fits.HDUList) -> None:
    _write_atomically(path, lambda temporary: hdulist.writeto(temporary, overwrite=True))


def _write_table(path: Path, table: Table) -> None:
    _write_atomically(path, lambda temporary: table.write(temporary, format="ascii.ecsv",
                                                          overwrite=True))


def _write_text(path: Path, text: str) -> None:
    _write_atomically(path, lambda temporary: temporary.write_text(text, encoding="utf-8"))


def _check_parameters(n_exposures: int, chip_shape: tuple[int, int] | None,
                      suffix: str, camera: str = "wfc3_uvis", distortion: str = "sip",
                      pointings: int = 1) -> tuple[tuple[int, int], _Camera]:
    if (not isinstance(n_exposures, (int, np.integer))
            or not 1 <= n_exposures <= _MAX_EXPOSURES):
        raise ParameterError(f"n_exposures={n_exposures!r}: expected an integer from 1 "
                             f"to {_MAX_EXPOSURES}")
    if not isinstance(pointings, (int, np.integer)) or not 1 <= pointings <= _MAX_POINTINGS:
        raise ParameterError(f"pointings={pointings!r}: expected an integer from 1 to "
                             f"{_MAX_POINTINGS} (pointings x pointings grid)")
    if camera not in _CAMERA_BY_NAME:
        raise ParameterError(f"camera={camera!r}: expected one of "
                             f"{', '.join(repr(name) for name in CAMERAS)}")
    if distortion not in DISTORTIONS:
        raise ParameterError(f"distortion={distortion!r}: expected one of "
                             f"{', '.join(repr(name) for name in DISTORTIONS)}")
    profile = _CAMERA_BY_NAME[camera]
    full = profile.full_chip_shape
    if chip_shape is None:
        # the same fraction of the full chip as the UVIS default (256, 512)
        chip_shape = (full[0] // 8, full[1] // 8)
    try:
        shape = tuple(int(n) for n in chip_shape)
    except (TypeError, ValueError):
        shape = ()
    if len(shape) != 2 or min(shape) < 64 or shape[0] > full[0] or shape[1] > full[1]:
        raise ParameterError(f"chip_shape={chip_shape!r}: expected (ny, nx) with 64 <= ny <= "
                             f"{full[0]} and 64 <= nx <= {full[1]} for camera {camera!r}")
    if not suffix or not suffix.isalnum():
        raise ParameterError(f"suffix={suffix!r}: expected letters and digits, e.g. 'flc'")
    return shape, profile


def _refuse_to_overwrite(paths: list[Path]) -> None:
    for path in paths:
        if path.exists():
            raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it")


def make_demo_dataset(folder: str | os.PathLike, n_exposures: int = 4,
                      chip_shape: tuple[int, int] | None = None, seed: int = 0,
                      suffix: str = "flc", overwrite: bool = False, *,
                      camera: str = "wfc3_uvis", distortion: str = "sip",
                      pointings: int = 1) -> DemoDataset:
    """Write a dithered WFC3/UVIS-like (or ACS/WFC-like) exposure set and its truth.

    Parameters
    ----------
    folder : str or path-like
        Where to write; created if missing.
    n_exposures : int
        Number of exposures (1 to 2340).  The first four (of each pointing)
        follow a fixed pattern: sub-pixel and few-pixel offsets, the fourth
        moved by more than the chip gap.  Rootnames run ``mdz001a1q`` to
        ``mdz001z9q``, then ``mdz002a1q`` and so on.
    chip_shape : tuple of int, optional
        ``(ny, nx)`` of each of the two chips; :data:`FULL_CHIP_SHAPE` for
        full-frame WFC3/UVIS data, ``(2048, 4096)`` for ACS/WFC.  Smaller
        chips keep the pixel scale and the chip gap, and carry a distortion
        scaled to keep its shape.  Default: an eighth of the full chip on
        each axis ((256, 512) for WFC3/UVIS and ACS/WFC).
    seed : int
        Seed of every random draw; the same seed gives the same files.
    suffix : str
        File name suffix: files are ``<rootname>_<suffix>.fits``.
    overwrite : bool
        Replace existing files of the same names.
    camera : {'wfc3_uvis', 'acs_wfc'}
        ``'wfc3_uvis'``: WFC3/UVIS keywords, 0.0396 arcsec pixels, 31-row
        chip gap, gain 1.56.  ``'acs_wfc'``: ACS/WFC keywords (``FILTER1``,
        ``FILTER2``, ACS amplifier gains near 2 e-/DN and read noises near
        4.5 e-), 0.05 arcsec pixels, a 50-row gap, a broader PSF and a
        distortion of its own whose linear part skews the pixel grid.
    distortion : {'sip', 'npol_d2im'}
        ``'sip'``: the distortion is in the TAN-SIP keywords only.
        ``'npol_d2im'``: a smooth NPOL residual (up to 0.08 pixel) in two
        ``WCSDVARR`` tables per chip and a column-width D2IM pattern (0.04
        pixel, 68-column period) in one ``D2IMARR`` table per chip, named
        by ``CPDISj``/``DPj.*`` and ``D2IMDIS1``/``D2IM1.*`` keywords as in
        HST files; the scene is rendered through the full WCS.
    pointings : int
        A mosaic: ``pointings`` x ``pointings`` pointings (1 to 12) on a grid
        centred on the target, neighbours overlapping by a tenth of the field
        of view.  Exposure ``i`` goes to pointing ``i % pointings**2``, so
        200 exposures on a 6 x 6 grid are 5 or 6 deep at each pointing.  The
        scene covers the whole mosaic; bright stars lie anywhere in it.

    Returns
    -------
    DemoDataset
        The files written and the truth, as :func:`load_demo_truth` reads it.

    Raises
    ------
    FileExistsError
        If a file to be written exists and ``overwrite`` is False (nothing
        is written then).
    ParameterError
        If a parameter is out of range.
    """
    shape, profile = _check_parameters(n_exposures, chip_shape, suffix, camera, distortion,
                                       pointings)
    folder = Path(folder)
    offsets = _pointing_offsets(int(pointings), shape, profile)
    plans = _exposure_plans(seed, int(n_exposures), suffix, profile, offsets)
    truth_names = [TRUTH_FILE, STARS_FILE, GALAXIES_FILE, SKY_FILE, LIST_FILE]
    if not overwrite:
        _refuse_to_overwrite([folder / p.filename for p in plans]
                             + [folder / name for name in truth_names])
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    geometries = _chip_geometries(shape, profile, distortion)
    reference = _pointing_wcs(_TARGET_RA_DEG, _TARGET_DEC_DEG, profile)
    stars, galaxies = _make_scene(seed, geometries, reference, offsets)
    defects = {g.extver: _chip_defects(seed, g) for g in geometries}
    log.info("demo data: %d %s exposures (%s distortion) of 2 x %s pixels, %d stars, "
             "%d galaxies, into %s", len(plans), camera, distortion, shape, len(stars),
             len(galaxies), folder)

    cosmic_rays: dict[tuple[str, int], np.ndarray] = {}
    covered = np.zeros(len(stars), dtype=np.int32)
    saturated = np.array(stars["saturated"], dtype=bool)
    for plan in plans:
        chips = []
        seen_whole = np.zeros(len(stars), dtype=bool)
        for geometry in geometries:
            chip = _simulate_chip(seed, plan, geometry, defects[geometry.extver],
                                  stars, galaxies)
            chips.append((geometry, chip))
            cosmic_rays[plan.filename, geometry.extver] = chip.cosmic_rays
            seen_whole |= chip.stars_covered
            saturated |= chip.stars_saturated
        covered += seen_whole
        _write_fits(folder / plan.filename, _exposure_hdulist(plan, shape, chips))
        log.info("demo data: wrote %s (exptime %.0f s, sky %.2f e-, %.2f%% pixels with "
                 "cosmic rays)", plan.filename, plan.exptime, plan.sky_electrons,
                 100 * np.mean([np.mean(c.cosmic_rays > 0) for _, c in chips]))
    stars["n_covered"] = covered
    stars["saturated"] = saturated
    stars["isolated"] &= ~saturated

    _write_fits(folder / TRUTH_FILE, _truth_hdulist(seed, shape, plans, geometries,
                                                    cosmic_rays, defects))
    _write_table(folder / STARS_FILE, stars)
    _write_table(folder / GALAXIES_FILE, galaxies)
    _write_table(folder / SKY_FILE, _sky_table(plans, geometries))
    _write_text(folder / LIST_FILE, "".join(f"{p.filename}\n" for p in plans))
    log.info("demo data: done in %.1f s", time.perf_counter() - started)
    return DemoDataset(
        folder=folder,
        input_files=[folder / p.filename for p in plans],
        truth_file=folder / TRUTH_FILE,
        stars=stars,
        galaxies=galaxies,
        sky={(p.filename, g.extver): p.sky_electrons for p in plans for g in geometries},
        exposure_times={p.filename: p.exptime for p in plans},
        cosmic_ray_masks={key: value > 0 for key, value in cosmic_rays.items()},
        cosmic_ray_flux=cosmic_rays,
        bad_pixel_mask={extver: d.bad_dark_deficit > 0 for extver, d in defects.items()},
        list_file=folder / LIST_FILE,
        camera=camera,
        distortion=distortion,
    )


def _sky_table(plans: list[_ExposurePlan], geometries: list[_ChipGeometry]) -> Table:
    rows = [(p.filename, p.rootname, g.extver, g.ccdchip, p.exptime, p.sky_electrons)
            for p in plans for g in geometries]
    table = Table(rows=rows, names=("file", "rootname", "extver", "ccdchip", "exptime",
                                    "sky_electrons"))
    table.meta["description"] = "true sky per pixel (e-) of each exposure and chip"
    return table


def _truth_hdulist(seed: int, chip_shape: tuple[int, int], plans: list[_ExposurePlan],
                   geometries: list[_ChipGeometry],
                   cosmic_rays: dict[tuple[str, int], np.ndarray],
                   defects: dict[int, _ChipDefects]) -> fits.HDUList:
    primary = fits.PrimaryHDU()
    primary.header["ORIGIN"] = ("multidrizzle.demo.datasets", "ground truth of a demo data set")
    primary.header["SEED"] = (seed, "random seed")
    primary.header["NEXPOSE"] = (len(plans), "number of exposures")
    primary.header["CHIPNY"] = (chip_shape[0], "rows per chip")
    primary.header["CHIPNX"] = (chip_shape[1], "columns per chip")
    primary.header["FULLWELL"] = (FULL_WELL_ELECTRONS, "saturation level (e-)")
    hdus: list[fits.hdu.base.ExtensionHDU] = []
    running = 0
    for plan in plans:
        for geometry in geometries:
            running += 1
            flux = cosmic_rays[plan.filename, geometry.extver]
            cards = {"FILENAME": plan.filename, "ROOTNAME": plan.rootname,
                     "SCIEXT": geometry.extver, "CCDCHIP": geometry.ccdchip,
                     "SKY": plan.sky_electrons, "EXPTIME": plan.exptime}
            hdus.append(fits.ImageHDU((flux > 0).astype(np.uint8), fits.Header(cards),
                                      name="CRMASK", ver=running))
            hdus.append(fits.ImageHDU(flux, fits.Header(cards), name="CRFLUX", ver=running))
    for geometry in geometries:
        deficit = defects[geometry.extver].bad_dark_deficit
        cards = {"SCIEXT": geometry.extver, "CCDCHIP": geometry.ccdchip,
                 "BUNIT": "ELECTRONS"}
        hdus.append(fits.ImageHDU((deficit > 0).astype(np.uint8), fits.Header(cards),
                                  name="BADPIX", ver=geometry.extver))
        hdus.append(fits.ImageHDU(deficit, fits.Header(cards), name="BADDEF",
                                  ver=geometry.extver))
    return fits.HDUList([primary, *hdus])


def load_demo_truth(folder: str | os.PathLike) -> DemoDataset:
    """Read back a demo data set written by :func:`make_demo_dataset`.

    Parameters
    ----------
    folder : str or path-like
        The folder given to :func:`make_demo_dataset`.

    Raises
    ------
    InputError
        If a truth file is missing.
    """
    folder = Path(folder)
    for name in (TRUTH_FILE, STARS_FILE, GALAXIES_FILE, SKY_FILE, LIST_FILE):
        if not (folder / name).is_file():
            raise InputError(f"{folder / name}: missing; expected a demo data set "
                             "written by multidrizzle.demo.datasets.make_demo_dataset")
    names = [line.strip() for line in (folder / LIST_FILE).read_text(encoding="utf-8").splitlines()
             if line.strip()]
    sky_table = Table.read(folder / SKY_FILE, format="ascii.ecsv")
    masks: dict[tuple[str, int], np.ndarray] = {}
    fluxes: dict[tuple[str, int], np.ndarray] = {}
    bad_pixels: dict[int, np.ndarray] = {}
    with fits.open(folder / TRUTH_FILE) as truth:
        for hdu in truth[1:]:
            if hdu.name == "CRMASK":
                masks[hdu.header["FILENAME"], hdu.header["SCIEXT"]] = hdu.data.astype(bool)
            elif hdu.name == "CRFLUX":
                fluxes[hdu.header["FILENAME"], hdu.header["SCIEXT"]] = np.array(hdu.data)
            elif hdu.name == "BADPIX":
                bad_pixels[hdu.header["SCIEXT"]] = hdu.data.astype(bool)
    # the exposures say what they are (the truth files do not depend on it)
    with fits.open(folder / names[0]) as first:
        instrument = (str(first[0].header.get("INSTRUME", "")).strip(),
                      str(first[0].header.get("DETECTOR", "")).strip())
        has_lookup = "CPDIS1" in first["SCI", 1].header
    camera = next((c.name for c in _CAMERA_BY_NAME.values()
                   if (c.instrument, c.detector) == instrument), "wfc3_uvis")
    return DemoDataset(
        folder=folder,
        input_files=[folder / name for name in names],
        truth_file=folder / TRUTH_FILE,
        stars=Table.read(folder / STARS_FILE, format="ascii.ecsv"),
        galaxies=Table.read(folder / GALAXIES_FILE, format="ascii.ecsv"),
        sky={(str(row["file"]), int(row["extver"])): float(row["sky_electrons"])
             for row in sky_table},
        exposure_times={str(row["file"]): float(row["exptime"]) for row in sky_table},
        cosmic_ray_masks=masks,
        cosmic_ray_flux=fluxes,
        bad_pixel_mask=bad_pixels,
        list_file=folder / LIST_FILE,
        camera=camera,
        distortion="npol_d2im" if has_lookup else "sip",
    )

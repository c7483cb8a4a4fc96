"""Step 2: the sky background of every chip (AstroDrizzle's ``skymatch`` semantics).

Sky statistics
    The sky of a set of pixels is the ``skystat`` ('median', 'mode' or
    'mean') of the values within ``[skylower, skyupper]`` after ``skyclip``
    iterations of clipping at ``skylsigma``/``skyusigma`` about the mean
    (:mod:`multidrizzle.kernels.statistics`, the ``imagestats`` rules).
    Pixels are those of the SCI array in the file's own units, minus
    non-finite values, DQ-flagged pixels (unless ``sky_bits`` is None), the
    static mask (``use_static``) and user masks (``skymask_cat``).

Surface brightness
    Chips are compared as surface brightness: a value is divided by the
    pixel area (``IDCSCALE**2`` when the header has it, as AstroDrizzle
    does; otherwise the area of the central pixel from the WCS, distortion
    included) and, for data not per second, by the exposure time.  The
    chosen brightness is converted back to each chip's units, which gives
    the value AstroDrizzle records as ``MDRIZSKY``.

Methods
    ``localmin``: per exposure, the lowest brightness of its chips.
    ``globalmin``: the lowest brightness of all chips of all exposures.
    ``match``: one unknown sky offset per exposure.  For every pair of
    exposures the sky is measured in both within the region of the sky
    they share (chip pairs combined with pixel-count weights); each pair
    gives the equation ``d_i - d_j = sky_i - sky_j`` weighted by the mean
    pixel count, solved in least squares (minimum norm).  The lowest offset
    is set to 0.  ``globalmin+match``: the match offsets plus the lowest
    brightness of all chips once their offsets are removed.

User values
    ``skyfile`` gives values to subtract instead of computing them;
    ``skysub=False`` subtracts nothing, and the sky recorded for cosmic-ray
    detection is the ``skyuser`` keyword's value (or ``@file`` values), or 0.
"""

from __future__ import annotations

import logging
import math
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
from astropy.io import fits
from astropy.nddata.bitmask import bitfield_to_boolean_mask

from multidrizzle.errors import InputError, ParameterError
from multidrizzle.kernels.pixmap import interpolate_pixel_map
from multidrizzle.kernels.statistics import SKY_STATISTICS, clipped_statistic
from multidrizzle.model import Chip
from multidrizzle.progress import ProgressCallback, ProgressCounter, no_progress

__all__ = [
    "SKY_METHODS",
    "SkyResult",
    "compute_sky",
    "read_sky_file",
    "SkyFileLine",
    "read_skymask_catalog",
    "chip_overlap",
    "pixel_area",
]

log = logging.getLogger(__name__)

#: Values of ``skymethod``.
SKY_METHODS: tuple[str, ...] = ("localmin", "globalmin+match", "globalmin", "match")

# Overlaps are found by mapping a grid of nodes this many pixels apart
# through both WCSs and interpolating bilinearly in between: HST distortion
# changes by far less than 0.01 pixel over such a cell.
_OVERLAP_NODE_SPACING = 32
# Rows of cells interpolated at once where an overlap edge crosses a chip,
# which bounds the memory of the dense coordinates to a few tens of MB.
_OVERLAP_BAND_CELLS = 16
# The linear WCS places a sky position within this fraction of a chip's size
# of its distorted position (HST distortions are a few per cent); positions
# farther out are certainly off the chip and skip the iterative inversion.
_DISTORTION_MARGIN = 0.25
# A value in a sky file that says the values were already subtracted.
_APPLIED_WORDS = frozenset({"yes", "true", "y", "t"})


@dataclass
class SkyResult:
    """The sky of every chip and what to do with it.

    Attributes
    ----------
    values : dict
        ``chip.name -> sky`` in the chip's own units (AstroDrizzle's
        ``MDRIZSKY``).
    subtract : bool
        Whether later steps subtract ``values`` from the data.  False for
        ``skysub=False`` (values only used for cosmic-ray detection) and for
        sky files marked ``# applied = yes``.
    method : str
        How the values were obtained (skymethod, 'skyfile', 'skyuser', ...).
    details : dict
        ``chip.name -> raw statistic`` of the whole chip in its own units,
        before taking minima or matching (NaN where no pixel was usable);
        empty when the values come from the user.
    """

    values: dict[str, float]
    subtract: bool
    method: str
    details: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class _SkyStatistic:
    """The statistic and clipping settings applied to every set of sky pixels."""

    statistic: str
    lower: float | None
    upper: float | None
    nclip: int
    lsigma: float
    usigma: float
    binwidth: float

    def measure(self, values: np.ndarray) -> tuple[float, int]:
        """(sky, pixels used); sky is NaN when no pixel survives."""
        value, moments = clipped_statistic(
            values, self.statistic, lower=self.lower, upper=self.upper, nclip=self.nclip,
            lsigma=self.lsigma, usigma=self.usigma, binwidth=self.binwidth)
        return value, moments.npix


def compute_sky(chips_by_exposure: Sequence[Sequence[Chip]], *, skymethod: str,
                skystat: str, skywidth: float, skylower: float | None,
                skyupper: float | None, skyclip: int, skylsigma: float, skyusigma: float,
                sky_bits: int | None, static_masks: dict | None, use_static: bool,
                skymask_cat: str = "", skyfile: str = "", skyuser: str = "",
                skysub: bool = True, progress: ProgressCallback = no_progress) -> SkyResult:
    """The sky of every chip, as AstroDrizzle's sky step computes or reads it.

    Parameters
    ----------
    chips_by_exposure : sequence of sequences of Chip
        The selected chips, grouped by exposure.
    skymethod : {'localmin', 'globalmin', 'match', 'globalmin+match'}
        How chips and exposures share a sky (see the module notes).
    skystat : {'median', 'mode', 'mean'}
        Statistic of the clipped pixel distribution.
    skywidth : float
        Histogram bin width in standard deviations (for 'mode').
    skylower, skyupper : float or None
        Usable pixel values, in the input files' units; None = no limit.
    skyclip : int
        Clipping iterations.
    skylsigma, skyusigma : float
        Clipping limits in standard deviations.
    sky_bits : int or None
        DQ bits that count as good (``~`` already applied: a negative int
        names the bad bits); None ignores the DQ arrays.
    static_masks : dict or None
        ``signature -> bad-pixel mask`` from the static-mask step.
    use_static : bool
        Exclude static-mask pixels from the statistics.
    skymask_cat : str
        Catalog of user masks (see :func:`read_skymask_catalog`).
    skyfile : str
        File of user sky values to subtract (see :func:`read_sky_file`).
    skyuser : str
        With ``skysub=False``: header keyword of the sky already subtracted
        by the user, or ``@file`` in the skyfile format.
    skysub : bool
        False: subtract nothing; record ``skyuser`` values (or 0).
    progress : callable
        ``progress(done, total, label)`` after each chip's statistics and,
        for the matching methods, after each pair of exposures compared
        (see :mod:`multidrizzle.progress`); user values are not counted.

    Returns
    -------
    SkyResult

    Raises
    ------
    ParameterError
        For an unknown ``skymethod`` or ``skystat``.
    InputError
        Naming the file, line or keyword at fault in user sky values and masks.
    """
    exposures = [list(chips) for chips in chips_by_exposure]
    if not exposures or any(not chips for chips in exposures):
        raise ValueError("compute_sky needs at least one exposure and a chip in each")
    if not skysub:
        return _recorded_user_sky(exposures, skyuser)
    if skyfile:
        return _sky_from_file(exposures, skyfile)
    if skymethod not in SKY_METHODS:
        raise ParameterError(f"parameter 'skymethod': {skymethod!r} is not one of "
                             f"{', '.join(SKY_METHODS)}")
    if skystat not in SKY_STATISTICS:
        raise ParameterError(f"parameter 'skystat': {skystat!r} is not one of "
                             f"{', '.join(SKY_STATISTICS)}")
    statistic = _SkyStatistic(skystat, skylower, skyupper, int(skyclip), float(skylsigma),
                              float(skyusigma), float(skywidth))
    if use_static and static_masks is None:
        log.warning("sky: use_static is True but no static masks were made (static=False); "
                    "the sky statistics use DQ and user masks only")
    user_masks = read_skymask_catalog(skymask_cat, exposures) if skymask_cat else {}
    pixels = _PixelSource(sky_bits, static_masks if use_static else None, user_masks,
                          capacity=2 * max(len(chips) for chips in exposures))
    n_chips = sum(len(chips) for chips in exposures)
    n_pairs = len(exposures) * (len(exposures) - 1) // 2 if "match" in skymethod else 0
    measured = ProgressCounter(n_chips + n_pairs, progress)
    raw = {}
    for chips in exposures:
        for chip in chips:
            measured.start()
            raw[chip.name] = _whole_chip_sky(chip, pixels, statistic)
            measured.advance(chip.name)
    brightness = {chip.name: raw[chip.name] * _brightness_factor(chip)
                  for chips in exposures for chip in chips}
    if skymethod == "localmin":
        per_exposure = [_lowest(brightness, chips, f"exposure {chips[0].filename.name}")
                        for chips in exposures]
    elif skymethod == "globalmin":
        lowest = _lowest(brightness, [c for chips in exposures for c in chips], "all inputs")
        per_exposure = [lowest] * len(exposures)
    else:
        offsets = _match_offsets(exposures, pixels, statistic, measured)
        per_exposure = list(offsets)
        if skymethod == "globalmin+match":
            shifted = {chip.name: brightness[chip.name] - offsets[index]
                       for index, chips in enumerate(exposures) for chip in chips}
            lowest = _lowest(shifted, [c for chips in exposures for c in chips],
                             "all inputs after matching")
            per_exposure = [offset + lowest for offset in offsets]
    values = {chip.name: float(per_exposure[index] / _brightness_factor(chip))
              for index, chips in enumerate(exposures) for chip in chips}
    _log_table(skymethod, skystat, exposures, raw, values)
    return SkyResult(values=values, subtract=True, method=skymethod, details=raw)


# ---------------------------------------------------------------------------
# pixels and units


class _PixelSource:
    """Reads a chip's data (own units) and its good-pixel mask, keeping a few in memory.

    The match loop visits each exposure's chips against every other
    exposure's; keeping the last ``capacity`` chips avoids re-reading the
    outer exposure for every pair.
    """

    def __init__(self, sky_bits: int | None, static_masks: dict | None,
                 user_masks: dict[tuple, np.ndarray], capacity: int) -> None:
        self.sky_bits = sky_bits
        self.static_masks = static_masks
        self.user_masks = user_masks
        self.capacity = max(int(capacity), 1)
        self._cache: OrderedDict[tuple, tuple[np.ndarray, np.ndarray]] = OrderedDict()

    def get(self, chip: Chip) -> tuple[np.ndarray, np.ndarray]:
        key = _chip_key(chip)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        entry = (self._native_data(chip), self._good_mask(chip))
        self._cache[key] = entry
        while len(self._cache) > self.capacity:
            self._cache.popitem(last=False)
        return entry

    @staticmethod
    def _native_data(chip: Chip) -> np.ndarray:
        data = chip.read_science()
        if chip.proc_scale != 1.0:
            # the sky, its limits and MDRIZSKY are in the input file's units
            data = data / np.float32(chip.proc_scale)
        return data

    def _good_mask(self, chip: Chip) -> np.ndarray:
        good = np.ones(chip.shape, dtype=bool)
        if self.sky_bits is not None:
            good &= bitfield_to_boolean_mask(chip.read_dq(), ignore_flags=self.sky_bits,
                                             good_mask_value=True)
        if self.static_masks is not None:
            if chip.signature not in self.static_masks:
                raise ValueError(f"no static mask for {chip.name} (signature "
                                 f"{chip.signature})")
            good &= ~np.asarray(self.static_masks[chip.signature], dtype=bool)
        user = self.user_masks.get(_chip_key(chip))
        if user is not None:
            good &= user
        return good


def _chip_key(chip: Chip) -> tuple[str, int]:
    return str(chip.filename), chip.extver


def pixel_area(chip: Chip) -> float:
    """Area of one pixel of ``chip`` in square arcseconds, for sky comparisons.

    ``IDCSCALE**2`` when the SCI header has IDCSCALE (AstroDrizzle's nominal
    scale: flat-fielded data have a uniform sky per pixel, so one area per
    chip is right); otherwise the area of the chip's central pixel through
    its full WCS.
    """
    idcscale = chip.header.get("IDCSCALE")
    if idcscale:
        return float(idcscale) ** 2
    ny, nx = chip.shape
    x, y = (nx - 1) / 2.0, (ny - 1) / 2.0
    points = np.array([[x - 0.5, y], [x + 0.5, y], [x, y - 0.5], [x, y + 0.5]])
    sky = chip.wcs.all_pix2world(points, 0)
    cos_dec = math.cos(math.radians(float(np.mean(sky[:, 1]))))

    def offset(a: int, b: int) -> np.ndarray:
        d_ra = (sky[b, 0] - sky[a, 0] + 180.0) % 360.0 - 180.0
        return np.array([d_ra * cos_dec, sky[b, 1] - sky[a, 1]]) * 3600.0

    along_x, along_y = offset(0, 1), offset(2, 3)
    return float(abs(along_x[0] * along_y[1] - along_x[1] * along_y[0]))


def _brightness_factor(chip: Chip) -> float:
    """Data units -> surface brightness (per arcsec**2, per second)."""
    time = 1.0 if chip.is_rate else chip.exptime
    return 1.0 / (pixel_area(chip) * time)


def _whole_chip_sky(chip: Chip, pixels: _PixelSource, statistic: _SkyStatistic) -> float:
    data, good = pixels.get(chip)
    value, npix = statistic.measure(data[good])
    if npix == 0:
        log.warning("sky: no pixel of %s is usable for the sky (masks, limits and "
                    "clipping leave none)", chip.name)
        return float("nan")
    return float(value)


def _lowest(brightness: dict[str, float], chips: Sequence[Chip], what: str) -> float:
    usable = [brightness[chip.name] for chip in chips if math.isfinite(brightness[chip.name])]
    if not usable:
        log.warning("sky: no usable sky in %s; its sky is set to 0", what)
        return 0.0
    return min(usable)


# ---------------------------------------------------------------------------
# matching


def _match_offsets(exposures: list[list[Chip]], pixels: _PixelSource,
                   statistic: _SkyStatistic, pairs_done: ProgressCounter) -> np.ndarray:
    """Sky offsets (brightness) of the exposures, the lowest 0 (skymatch's 'match')."""
    count = len(exposures)
    sky_in = np.zeros((count, count))  # [i, j]: sky of i where it overlaps j
    weight = np.zeros((count, count))  # [i, j]: pixels of i that measured it
    for i in range(count):
        for j in range(i + 1, count):
            measured = _pair_sky(exposures[i], exposures[j], pixels, statistic)
            if measured is not None:
                sky_in[i, j], weight[i, j], sky_in[j, i], weight[j, i] = measured
            pairs_done.advance(f"{exposures[i][0].filename.name} x "
                               f"{exposures[j][0].filename.name}")
    offsets = _solve_offsets(sky_in, weight)
    names = [chips[0].filename.name for chips in exposures]
    for name, offset in zip(names, offsets):
        if not math.isfinite(offset):
            log.warning("sky: exposure %s overlaps no other exposure with usable sky; "
                        "its match offset is 0", name)
    finite = np.isfinite(offsets)
    if finite.any():
        offsets[finite] -= offsets[finite].min()
    offsets[~finite] = 0.0
    return offsets


def _pair_sky(first: list[Chip], second: list[Chip], pixels: _PixelSource,
              statistic: _SkyStatistic) -> tuple[float, float, float, float] | None:
    """Pixel-weighted sky of two exposures in their common sky region."""
    sums = np.zeros(4)  # weighted sky and weight of first, then second
    for chip in first:
        for other in second:
            overlap = chip_overlap(chip, other)
            if overlap is None:
                continue
            measured = [_overlap_sky(c, mask, pixels, statistic)
                        for c, mask in zip((chip, other), overlap)]
            if any(m is None for m in measured):
                continue
            for k, (sky, npix) in enumerate(measured):
                sums[2 * k] += sky * npix
                sums[2 * k + 1] += npix
    if sums[1] == 0 or sums[3] == 0:
        return None
    return sums[0] / sums[1], sums[1], sums[2] / sums[3], sums[3]


def _overlap_sky(chip: Chip, overlap: np.ndarray, pixels: _PixelSource,
                 statistic: _SkyStatistic) -> tuple[float, int] | None:
    data, good = pixels.get(chip)
    value, npix = statistic.measure(data[good & overlap])
    if npix == 0:
        return None
    return value * _brightness_factor(chip), npix


def _solve_offsets(sky_in: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Least-squares offsets from pairwise sky differences; NaN where unconstrained."""
    count = sky_in.shape[0]
    rows, right = [], []
    constrained = np.zeros(count, dtype=bool)
    for i in range(count):
        for j in range(i + 1, count):
            if weight[i, j] > 0 and weight[j, i] > 0:
                pair_weight = 0.5 * (weight[i, j] + weight[j, i])
                row = np.zeros(count)
                row[i], row[j] = pair_weight, -pair_weight
                rows.append(row)
                right.append(pair_weight * (sky_in[i, j] - sky_in[j, i]))
                constrained[[i, j]] = True
    offsets = np.full(count, np.nan)
    if not rows:
        return offsets
    matrix = np.array(rows)
    solution, _, rank, _ = np.linalg.lstsq(matrix, np.array(right), rcond=1e-12)
    if rank < constrained.sum() - 1:
        log.warning("sky: the overlapping exposures form %d groups that do not overlap "
                    "each other; skies are matched within each group only",
                    constrained.sum() - rank)
    offsets[constrained] = solution[constrained]
    return offsets


def chip_overlap(chip: Chip, other: Chip) -> tuple[np.ndarray, np.ndarray] | None:
    """Pixels of two chips that see the sky both chips see.

    Returns
    -------
    (ndarray of bool, ndarray of bool) or None
        Masks of ``chip`` and ``other`` (True = inside the other chip's
        footprint), or None when the chips do not overlap.
    """
    inside_other = _inside_footprint(chip, other)
    if inside_other is None:
        return None
    inside_chip = _inside_footprint(other, chip)
    if inside_chip is None:
        return None
    return inside_other, inside_chip


def _inside_footprint(chip: Chip, other: Chip) -> np.ndarray | None:
    """Pixels of ``chip`` whose centres fall on ``other``; None if there are none.

    A grid of nodes (cell corners every ``_OVERLAP_NODE_SPACING`` pixels, on
    pixel edges) is mapped through both WCSs.  Cells whose four corners land
    on ``other`` are inside; cells whose corners' bounding box misses it are
    outside; only the cells crossed by ``other``'s edge are interpolated
    pixel by pixel.  The sub-pixel D2IM shifts are left out: they move an
    edge by a fraction of a pixel.
    """
    step = _OVERLAP_NODE_SPACING
    ny, nx = chip.shape
    xs = -0.5 + step * np.arange(math.ceil(nx / step) + 1)
    ys = -0.5 + step * np.arange(math.ceil(ny / step) + 1)
    grid_x, grid_y = np.meshgrid(xs, ys)
    ra, dec = chip.wcs.all_pix2world(grid_x.ravel(), grid_y.ravel(), 0)
    x_other, y_other = _sky_to_pixels(other, ra, dec)
    nodes = np.stack([x_other.reshape(grid_x.shape), y_other.reshape(grid_x.shape)], axis=-1)
    on_other = _on_chip(nodes, other.shape)
    corners = [nodes[:-1, :-1], nodes[:-1, 1:], nodes[1:, :-1], nodes[1:, 1:]]
    low = np.minimum.reduce(corners)
    high = np.maximum.reduce(corners)
    other_ny, other_nx = other.shape
    candidate = ((high[..., 0] >= -0.5) & (low[..., 0] < other_nx - 0.5)
                 & (high[..., 1] >= -0.5) & (low[..., 1] < other_ny - 0.5))
    if not candidate.any():
        return None
    full = on_other[:-1, :-1] & on_other[:-1, 1:] & on_other[1:, :-1] & on_other[1:, 1:]
    inside = np.repeat(np.repeat(full, step, axis=0), step, axis=1)[:ny, :nx]
    partial = candidate & ~full
    for band_start in range(0, partial.shape[0], _OVERLAP_BAND_CELLS):
        band = partial[band_start:band_start + _OVERLAP_BAND_CELLS]
        rows = np.flatnonzero(band.any(axis=1))
        if rows.size == 0:
            continue
        first_row, last_row = band_start + int(rows[0]), band_start + int(rows[-1])
        for first_col, last_col in _runs(np.flatnonzero(band.any(axis=0))):
            y0, y1 = first_row * step, min((last_row + 1) * step, ny)
            x0, x1 = first_col * step, min((last_col + 1) * step, nx)
            dense = interpolate_pixel_map(
                nodes[first_row:last_row + 2, first_col:last_col + 2], (-0.5, -0.5), step,
                (y1 - y0, x1 - x0))
            inside[y0:y1, x0:x1] = _on_chip(dense, other.shape)
    if not inside.any():
        return None
    return inside


def _runs(indices: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) of each run of consecutive integers in sorted ``indices``."""
    if indices.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(indices) > 1)
    starts = np.concatenate([[indices[0]], indices[breaks + 1]])
    ends = np.concatenate([indices[breaks], [indices[-1]]])
    return [(int(a), int(b)) for a, b in zip(starts, ends)]


def _on_chip(positions: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    ny, nx = shape
    x, y = positions[..., 0], positions[..., 1]
    return (x >= -0.5) & (x < nx - 0.5) & (y >= -0.5) & (y < ny - 0.5)


def _sky_to_pixels(chip: Chip, ra: np.ndarray, dec: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Pixel positions on ``chip``: exact near the chip, linear far from it."""
    x, y = chip.wcs.wcs_world2pix(ra, dec, 0)
    ny, nx = chip.shape
    margin = _DISTORTION_MARGIN * max(nx, ny)
    near = (x > -margin) & (x < nx + margin) & (y > -margin) & (y < ny + margin)
    if near.any():
        exact_x, exact_y = chip.wcs.all_world2pix(ra[near], dec[near], 0, quiet=True)
        x = x.copy()
        y = y.copy()
        x[near], y[near] = exact_x, exact_y
    return x, y


# ---------------------------------------------------------------------------
# user masks


def read_skymask_catalog(catalog: str, chips_by_exposure: Sequence[Sequence[Chip]]
                         ) -> dict[tuple[str, int], np.ndarray]:
    """User masks for the sky computation, from a ``skymask_cat`` catalog.

    Each non-blank line not starting with ``#`` names an input image and
    then one mask per selected chip of that image, in chip order, separated
    by commas (``skymatch``'s @-file form) or blanks::

        j8bt06nyq_flt.fits, mask_chip1.fits, mask_chip2.fits[1]
        j8bt06nzq_flt.fits  None  mask2.fits[MASK,2]

    An empty field or ``None`` means no mask for that chip.  A mask is a FITS
    image (extension 0 unless given in brackets) of the chip's shape whose
    nonzero pixels may be used for the sky and zero pixels may not.  An
    extension given after the image name is ignored, as AstroDrizzle does:
    masks go to the selected chips in order.  Relative paths are relative to
    the current directory.

    Returns
    -------
    dict
        ``(str(chip.filename), extver) -> good-pixel mask``.

    Raises
    ------
    InputError
        Naming the catalog and line for a missing file, more masks than
        chips, or a mask whose shape differs from its chip's.
    """
    path = Path(catalog)
    if not path.is_file():
        raise InputError(f"skymask_cat {path}: does not exist")
    exposures = [list(chips) for chips in chips_by_exposure]
    masks: dict[tuple[str, int], np.ndarray] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        where = f"skymask_cat {path}, line {number}"
        fields = _split_catalog_line(text)
        image_name = _strip_extension(fields[0])
        chips = _exposure_named(image_name, exposures)
        if chips is None:
            log.warning("%s: %s is not one of the inputs; line ignored", where, image_name)
            continue
        mask_fields = fields[1:]
        if len(mask_fields) > len(chips):
            raise InputError(f"{where}: lists {len(mask_fields)} masks but {image_name} has "
                             f"{len(chips)} selected chips")
        for chip, mask_field in zip(chips, mask_fields):
            mask = _read_user_mask(mask_field, chip, where)
            if mask is not None:
                masks[_chip_key(chip)] = mask
    return masks


def _split_catalog_line(text: str) -> list[str]:
    """Fields of a catalog line: commas if any outside brackets, else blanks."""
    depth = 0
    has_comma = False
    for character in text:
        depth += character in "[{("
        depth -= character in "]})"
        has_comma |= character == "," and depth == 0
    fields, current, depth = [], [], 0
    for character in text:
        depth += character in "[{("
        depth -= character in "]})"
        separator = (character == ",") if has_comma else character.isspace()
        if separator and depth == 0:
            fields.append("".join(current).strip())
            current = []
        else:
            current.append(character)
    fields.append("".join(current).strip())
    return fields if has_comma else [f for f in fields if f]


_EXTENSION_SPEC = re.compile(r"^(?P<name>[^\[\{]+?)\s*(?:[\[\{](?P<ext>.*)[\]\}])?$")


def _strip_extension(field: str) -> str:
    match = _EXTENSION_SPEC.match(field.strip())
    name = match.group("name") if match else field
    return name.strip().strip("'\"")


def _read_user_mask(field: str, chip: Chip, where: str) -> np.ndarray | None:
    if not field or field.upper() == "NONE":
        return None
    match = _EXTENSION_SPEC.match(field.strip())
    if match is None:
        raise InputError(f"{where}: cannot read mask field {field!r}")
    mask_path = Path(match.group("name").strip().strip("'\""))
    extension = _parse_extension(match.group("ext"), where)
    if not mask_path.is_file():
        raise InputError(f"{where}: mask {mask_path} does not exist")
    try:
        data = fits.getdata(mask_path, extension)
    except (KeyError, IndexError) as exc:
        raise InputError(f"{where}: mask {mask_path} has no extension {extension!r}") from exc
    if data is None or data.shape != chip.shape:
        raise InputError(f"{where}: mask {mask_path}[{extension}] has shape "
                         f"{None if data is None else data.shape} but chip {chip.name} has "
                         f"shape {chip.shape}")
    return np.asarray(data) != 0


def _parse_extension(text: str | None, where: str) -> int | tuple[str, int]:
    if text is None:
        return 0
    parts = [p.strip().strip("'\"") for p in text.replace("(", "").replace(")", "").split(",")]
    try:
        if len(parts) == 1:
            return int(parts[0]) if parts[0].lstrip("-").isdigit() else (parts[0].upper(), 1)
        if len(parts) == 2:
            return parts[0].upper(), int(parts[1])
    except ValueError:
        pass
    raise InputError(f"{where}: cannot read extension [{text}]; expected [number] or "
                     "[name,version]")


# ---------------------------------------------------------------------------
# user sky values


@dataclass(frozen=True)
class SkyFileLine:
    """One line of a sky file: its number and its sky values."""

    line: int
    values: tuple[float, ...]


def read_sky_file(path: str | Path, parameter: str = "skyfile"
                  ) -> tuple[dict[str, SkyFileLine], bool]:
    """Read a sky file: ``image_name sky1 [sky2 ...]`` per line.

    Blank lines and lines starting with ``#`` are skipped, except that a
    comment such as ``# applied = yes`` (or ``applied: yes``) says the
    values were already subtracted from the data, as AstroDrizzle reads it.

    Parameters
    ----------
    path : path
        The file.
    parameter : str
        The parameter that named it, for error messages.

    Returns
    -------
    lines : dict
        ``image name as written -> SkyFileLine``.
    applied : bool
        Whether the file says the values were already subtracted.

    Raises
    ------
    InputError
        Naming the file and line for a missing value, a value that is not
        a number, or an image listed twice.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{parameter} {path}: does not exist")
    lines: dict[str, SkyFileLine] = {}
    applied = False
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        text = line.strip()
        if text.startswith("#"):
            setting = re.match(r"#\s*applied\s*[=:]\s*(\S+)", text, flags=re.IGNORECASE)
            if setting:
                applied = setting.group(1).lower() in _APPLIED_WORDS
            continue
        if not text:
            continue
        name, *numbers = text.split()
        where = f"{parameter} {path}, line {number}"
        if not numbers:
            raise InputError(f"{where}: {name} has no sky value; expected "
                             "'image_name sky1 [sky2 ...]'")
        try:
            skies = tuple(float(n) for n in numbers)
        except ValueError as exc:
            raise InputError(f"{where}: sky values {numbers} are not all numbers") from exc
        if not all(math.isfinite(s) for s in skies):
            raise InputError(f"{where}: sky values {numbers} must be finite")
        if name in lines:
            raise InputError(f"{where}: {name} is listed a second time (first on line "
                             f"{lines[name].line})")
        lines[name] = SkyFileLine(number, skies)
    return lines, applied


def _user_values(exposures: list[list[Chip]], path: str, parameter: str
                 ) -> tuple[dict[str, float], bool]:
    """Per-chip values from a sky file, one value for all chips or one per SCI."""
    lines, applied = read_sky_file(path, parameter)
    values: dict[str, float] = {}
    for chips in exposures:
        filename = chips[0].filename
        entry = _entry_for(filename, lines)
        if entry is None:
            raise InputError(f"{parameter} {path}: has no line for input {filename.name}")
        skies = entry.values
        where = f"{parameter} {path}, line {entry.line}"
        if len(skies) > 1:
            science_count = _science_extension_count(filename)
            if len(skies) != science_count:
                raise InputError(f"{where}: gives {len(skies)} sky values but "
                                 f"{filename.name} has {science_count} SCI extensions; give "
                                 "one value for all or one per SCI extension")
        for chip in chips:
            if len(skies) > 1 and not 1 <= chip.extver <= len(skies):
                raise InputError(f"{where}: gives {len(skies)} sky values, none for "
                                 f"SCI,{chip.extver}")
            values[chip.name] = skies[0] if len(skies) == 1 else skies[chip.extver - 1]
    return values, applied


def _entry_for(filename: Path, lines: dict[str, SkyFileLine]) -> SkyFileLine | None:
    for name, entry in lines.items():
        listed_path = Path(name)
        if listed_path.name != filename.name:
            continue
        if listed_path.parent == Path(".") or _same_file(listed_path, filename):
            return entry
    return None


def _same_file(first: Path, second: Path) -> bool:
    try:
        return first.resolve() == second.resolve()
    except OSError:
        return False


def _exposure_named(name: str, exposures: list[list[Chip]]) -> list[Chip] | None:
    wanted = Path(name)
    for chips in exposures:
        filename = chips[0].filename
        if wanted.name == filename.name and (wanted.parent == Path(".")
                                             or _same_file(wanted, filename)):
            return chips
    return None


def _science_extension_count(filename: Path) -> int:
    with fits.open(filename, mode="readonly") as hdul:
        return sum(1 for hdu in hdul if hdu.name == "SCI")


def _sky_from_file(exposures: list[list[Chip]], skyfile: str) -> SkyResult:
    values, applied = _user_values(exposures, skyfile, "skyfile")
    method = "skyfile (already applied)" if applied else "skyfile"
    _log_table(method, None, exposures, {}, values)
    return SkyResult(values=values, subtract=not applied, method=method)


def _recorded_user_sky(exposures: list[list[Chip]], skyuser: str) -> SkyResult:
    """skysub=False: nothing is subtracted; skyuser values (or 0) serve cosmic-ray detection."""
    skyuser = skyuser.strip()
    if not skyuser:
        values = {chip.name: 0.0 for chips in exposures for chip in chips}
        method = "none (skysub=False)"
    elif skyuser.startswith("@"):
        values, _ = _user_values(exposures, skyuser[1:].strip(), "skyuser file")
        method = f"skyuser file {skyuser[1:].strip()}"
    else:
        values = {chip.name: _keyword_sky(chip, skyuser)
                  for chips in exposures for chip in chips}
        method = f"skyuser keyword {skyuser}"
    _log_table(method, None, exposures, {}, values)
    return SkyResult(values=values, subtract=False, method=method)


def _keyword_sky(chip: Chip, keyword: str) -> float:
    where = f"input file {chip.filename}, SCI,{chip.extver}"
    if keyword not in chip.header:
        raise InputError(f"{where}: has no keyword {keyword} named by parameter 'skyuser'")
    try:
        value = float(chip.header[keyword])
    except (TypeError, ValueError) as exc:
        raise InputError(f"{where}: keyword {keyword} (parameter 'skyuser') is "
                         f"{chip.header[keyword]!r}, not a number") from exc
    if not math.isfinite(value):
        raise InputError(f"{where}: keyword {keyword} (parameter 'skyuser') is not finite")
    return value


def _log_table(method: str, skystat: str | None, exposures: list[list[Chip]],
               raw: dict[str, float], values: dict[str, float]) -> None:
    title = method if skystat is None else f"{method}, skystat={skystat}"
    log.info("sky (%s):", title)
    log.info("  %-44s %14s %14s", "chip", "chip statistic", "sky (MDRIZSKY)")
    for chips in exposures:
        for chip in chips:
            statistic = f"{raw[chip.name]:14.6g}" if chip.name in raw else f"{'-':>14}"
            log.info("  %-44s %s %14.6g", chip.name, statistic, values[chip.name])

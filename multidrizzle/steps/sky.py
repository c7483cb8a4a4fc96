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

import dataclasses
import logging
import math
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np
from astropy.nddata.bitmask import bitfield_to_boolean_mask

from multidrizzle.errors import InputError
from multidrizzle.kernels.statistics import SKY_STATISTICS as KERNEL_SKY_STATISTICS
from multidrizzle.kernels.statistics import clipped_statistic
from multidrizzle.io.userfiles import chip_key, read_skymask_catalog, user_sky_values
from multidrizzle.model import Chip, Exposure
from multidrizzle.model.overlap import chip_overlap
from multidrizzle.progress import ProgressCallback, ProgressCounter, no_progress
from multidrizzle.steps.registry import Registry

__all__ = [
    "SKY_METHODS",
    "SKY_STATISTICS",
    "SkyMethod",
    "SkyResult",
    "SkySettings",
    "SkyInputs",
    "run_sky",
    "compute_sky",
    "chip_sky_statistics",
    "pixel_area",
]

log = logging.getLogger(__name__)

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

    def native(self, chip: Chip) -> float:
        """The chip's sky in its native units (0 for a chip without one)."""
        return float(self.values.get(chip.name, 0.0))

    def in_processing_units(self, chip: Chip) -> float:
        """The chip's sky in the units of ``chip.read_science()``."""
        return self.native(chip) * chip.proc_scale

    def subtracted(self, chip: Chip) -> float:
        """What later steps subtract from the chip's data (processing units; 0 if nothing)."""
        return self.in_processing_units(chip) if self.subtract else 0.0


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


@dataclass(frozen=True)
class _SkyProblem:
    """What a sky method works from: chips, their whole-chip brightness, their pixels."""

    exposures: list[list[Chip]]
    brightness: dict[str, float]
    pixels: "_PixelSource"
    statistic: _SkyStatistic
    pairs_done: ProgressCounter

    def all_chips(self) -> list[Chip]:
        return [chip for chips in self.exposures for chip in chips]


def _localmin(problem: _SkyProblem) -> list[float]:
    """Per exposure, the lowest brightness of its chips."""
    return [_lowest(problem.brightness, chips, f"exposure {chips[0].filename.name}")
            for chips in problem.exposures]


def _globalmin(problem: _SkyProblem) -> list[float]:
    """The lowest brightness of all chips of all exposures, for every exposure."""
    lowest = _lowest(problem.brightness, problem.all_chips(), "all inputs")
    return [lowest] * len(problem.exposures)


def _match(problem: _SkyProblem) -> list[float]:
    """Offsets that match the exposures' skies where they overlap, the lowest 0."""
    return list(_match_offsets(problem.exposures, problem.pixels, problem.statistic,
                               problem.pairs_done))


def _globalmin_match(problem: _SkyProblem) -> list[float]:
    """The match offsets plus the lowest brightness once they are removed."""
    offsets = _match_offsets(problem.exposures, problem.pixels, problem.statistic,
                             problem.pairs_done)
    shifted = {chip.name: problem.brightness[chip.name] - offsets[index]
               for index, chips in enumerate(problem.exposures) for chip in chips}
    lowest = _lowest(shifted, problem.all_chips(), "all inputs after matching")
    return [offset + lowest for offset in offsets]


@dataclass(frozen=True)
class SkyMethod:
    """A value of ``skymethod``.

    Attributes
    ----------
    name : str
    per_exposure : callable
        Gives one surface brightness per exposure from the chips' statistics
        (and, for the matching methods, the skies of their overlaps).
    matches_overlaps : bool
        Whether it measures the sky where exposures overlap (needs the
        chips' footprints on each other).
    """

    name: str
    per_exposure: Callable[[_SkyProblem], list[float]]
    matches_overlaps: bool


#: The values of ``skymethod`` (see the module notes).
SKY_METHODS: Registry[SkyMethod] = Registry("sky method", ("skymethod",), {
    "localmin": SkyMethod("localmin", _localmin, False),
    "globalmin+match": SkyMethod("globalmin+match", _globalmin_match, True),
    "globalmin": SkyMethod("globalmin", _globalmin, False),
    "match": SkyMethod("match", _match, True),
})

#: The values of ``skystat``: statistics of :func:`clipped_statistic`.
SKY_STATISTICS: Registry[str] = Registry("sky statistic", ("skystat",),
                                         {name: name for name in KERNEL_SKY_STATISTICS})


def compute_sky(chips_by_exposure: Sequence[Sequence[Chip]], *, skymethod: str,
                skystat: str, skywidth: float, skylower: float | None,
                skyupper: float | None, skyclip: int, skylsigma: float, skyusigma: float,
                sky_bits: int | None, static_masks: dict | None, use_static: bool,
                skymask_cat: str = "", skyfile: str = "", skyuser: str = "",
                skysub: bool = True, progress: ProgressCallback = no_progress,
                chip_statistics: Mapping[str, float] | None = None) -> SkyResult:
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
        Catalog of user masks (see :func:`multidrizzle.io.userfiles.read_skymask_catalog`).
    skyfile : str
        File of user sky values to subtract (see :func:`multidrizzle.io.userfiles.read_sky_file`).
    skyuser : str
        With ``skysub=False``: header keyword of the sky already subtracted
        by the user, or ``@file`` in the skyfile format.
    skysub : bool
        False: subtract nothing; record ``skyuser`` values (or 0).
    progress : callable
        ``progress(done, total, label)`` after each chip's statistics and,
        for the matching methods, after each pair of exposures compared
        (see :mod:`multidrizzle.progress`); user values are not counted.
    chip_statistics : mapping, optional
        ``chip.name -> whole-chip statistic`` measured already with these
        settings (:func:`chip_sky_statistics`, by tasks); chips missing from
        it are measured here.

    Returns
    -------
    SkyResult

    Raises
    ------
    UnknownAlgorithmError
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
    method = SKY_METHODS[skymethod]
    skystat = SKY_STATISTICS.canonical(skystat)
    statistic = _sky_statistic(skystat, skywidth, skylower, skyupper, skyclip, skylsigma,
                               skyusigma)
    if use_static and static_masks is None:
        log.warning("sky: use_static is True but no static masks were made (static=False); "
                    "the sky statistics use DQ and user masks only")
    user_masks = read_skymask_catalog(skymask_cat, exposures) if skymask_cat else {}
    pixels = _PixelSource(sky_bits, static_masks if use_static else None, user_masks,
                          capacity=2 * max(len(chips) for chips in exposures))
    raw = dict(chip_statistics or {})
    unmeasured = [chip for chips in exposures for chip in chips if chip.name not in raw]
    n_pairs = len(exposures) * (len(exposures) - 1) // 2 if method.matches_overlaps else 0
    measured = ProgressCounter(len(unmeasured) + n_pairs, progress)
    for chip in unmeasured:
        measured.start()
        raw[chip.name] = _whole_chip_sky(chip, pixels, statistic)
        measured.advance(chip.name)
    raw = {chip.name: raw[chip.name] for chips in exposures for chip in chips}
    brightness = {chip.name: raw[chip.name] * _brightness_factor(chip)
                  for chips in exposures for chip in chips}
    per_exposure = method.per_exposure(
        _SkyProblem(exposures, brightness, pixels, statistic, measured))
    values = {chip.name: float(per_exposure[index] / _brightness_factor(chip))
              for index, chips in enumerate(exposures) for chip in chips}
    _log_table(method.name, skystat, exposures, raw, values)
    return SkyResult(values=values, subtract=True, method=method.name, details=raw)


def chip_sky_statistics(inputs: "SkyInputs") -> dict[str, float]:
    """The whole-chip sky statistic of every chip of ``inputs``, in its own units.

    The part of the sky step that looks at one chip at a time, which tasks
    do for some exposures each; :func:`compute_sky` then compares the chips
    (``chip_statistics``).  NaN where no pixel is usable.

    Parameters
    ----------
    inputs : SkyInputs
        Exposures, settings and static masks (``use_static``); a
        ``skymask_cat`` catalog is read for these exposures (its lines for
        other images are warned about and ignored).
    """
    settings = inputs.settings
    statistic = _sky_statistic(SKY_STATISTICS.canonical(settings.skystat), settings.skywidth,
                               settings.skylower, settings.skyupper, settings.skyclip,
                               settings.skylsigma, settings.skyusigma)
    exposures = [exposure.chips for exposure in inputs.exposures]
    user_masks = (read_skymask_catalog(settings.skymask_cat, exposures)
                  if settings.skymask_cat else {})
    pixels = _PixelSource(settings.sky_bits,
                          inputs.static_masks if settings.use_static else None,
                          user_masks, capacity=1)
    return {chip.name: _whole_chip_sky(chip, pixels, statistic)
            for chips in exposures for chip in chips}


def _sky_statistic(skystat: str, skywidth: float, skylower: float | None,
                   skyupper: float | None, skyclip: int, skylsigma: float,
                   skyusigma: float) -> _SkyStatistic:
    return _SkyStatistic(skystat, skylower, skyupper, int(skyclip), float(skylsigma),
                         float(skyusigma), float(skywidth))


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
        key = chip_key(chip)
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
        user = self.user_masks.get(chip_key(chip))
        if user is not None:
            good &= user
        return good


def pixel_area(chip: Chip) -> float:
    """Area of one pixel of ``chip`` in square arcseconds, for sky comparisons.

    ``IDCSCALE**2`` when the SCI header has IDCSCALE (AstroDrizzle's nominal
    scale: flat-fielded data have a uniform sky per pixel, so one area per
    chip is right); otherwise the area of the chip's central pixel through
    its full WCS.
    """
    if chip.idcscale:
        return chip.idcscale ** 2
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


def _sky_from_file(exposures: list[list[Chip]], skyfile: str) -> SkyResult:
    values, applied = user_sky_values(exposures, skyfile, "skyfile")
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
        values, _ = user_sky_values(exposures, skyuser[1:].strip(), "skyuser file")
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


# ---------------------------------------------------------------------------
# the step


@dataclass(frozen=True)
class SkySettings:
    """The sky step's parameters (named and meant as the session's)."""

    skysub: bool
    skymethod: str
    skystat: str
    skywidth: float
    skylower: float | None
    skyupper: float | None
    skyclip: int
    skylsigma: float
    skyusigma: float
    sky_bits: int | None
    use_static: bool
    skymask_cat: str
    skyfile: str
    skyuser: str


@dataclass(frozen=True)
class SkyInputs:
    """What the sky step works on.

    Attributes
    ----------
    exposures : tuple of Exposure
        The inputs, whose selected chips are measured.
    settings : SkySettings
    static_masks : mapping or None
        The static-mask step's result (``signature -> bad-pixel mask``).
    chip_statistics : mapping or None
        ``chip.name -> whole-chip statistic`` measured already
        (:func:`chip_sky_statistics`); None: measured by the step.
    """

    exposures: tuple[Exposure, ...]
    settings: SkySettings
    static_masks: Mapping[tuple, np.ndarray] | None = None
    chip_statistics: Mapping[str, float] | None = None


def run_sky(inputs: SkyInputs, progress: ProgressCallback = no_progress) -> SkyResult:
    """The sky step: :func:`compute_sky` on every exposure's chips."""
    return compute_sky([exposure.chips for exposure in inputs.exposures],
                       static_masks=inputs.static_masks, progress=progress,
                       chip_statistics=inputs.chip_statistics,
                       **dataclasses.asdict(inputs.settings))

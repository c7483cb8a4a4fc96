"""The processing steps as the session knows them: one :class:`Step` record each.

A record says everything the session needs about a step: its name, the
parameter that switches it, the parameter tag it owns (and the other
parameters that change its result), the earlier results it needs or reads,
its default function, how its inputs are made from the session, how its
result is checked, kept (with the files it writes) and cleared.  The session
(:mod:`multidrizzle.session`) only loops over :data:`STEPS`.

A step function takes one frozen inputs object and returns the step's result;
it never sees the session, so it can run in another process
(:mod:`multidrizzle.steps` defines the inputs, settings and results):

====================  ===========================  ==================================
step                  inputs                       result
====================  ===========================  ==================================
``static``            ``StaticInputs``             ``dict[signature, ndarray[bool]]``
                                                   (True = bad pixel)
``sky``               ``SkyInputs``                ``SkyResult``, or ``dict[chip
                                                   name, float]`` (native units,
                                                   subtracted)
``driz_separate``     ``SeparateDrizzleInputs``    ``DrizzledImage`` per exposure
                                                   (a list, or an iterator)
``median``            ``MedianInputs``             ``MedianResult``, or an
                                                   ``ndarray`` on the separate grid
``blot``              ``BlotInputs``               ``BlottedChip`` per chip (an
                                                   iterable), or ``dict[chip name,
                                                   ndarray]``
``driz_cr``           ``CosmicRayInputs``          ``dict[chip name, ndarray[bool]]``
                                                   (True = cosmic ray)
``driz_combine``      ``FinalDrizzleInputs``       ``DrizzledImage``
====================  ===========================  ==================================

A default step function also takes a ``progress`` keyword (see
:mod:`multidrizzle.progress`); a user's function may, and then gets the
session's reporter.  The earlier form of user functions, ``function(md)``
with the session as its argument, still works through :func:`session_form`
(with a :class:`DeprecationWarning`).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import itertools
import logging
import os
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from astropy.io import fits

from multidrizzle.errors import ParameterError, StepResultError
from multidrizzle.io import products
from multidrizzle.io.intermediates import (
    LoadedImages, PackedImage, StoredCosmicRayMask, StoredImage, create_image, write_crclean,
    write_crmask, write_static_mask,
)
from multidrizzle.kernels.drizzle import CONTEXT_PLANE_BITS
from multidrizzle.model.plan import Box, RunPlan
from multidrizzle.session.tasks import (
    ImageStore, Split, blot_task, cosmic_ray_task, final_task, joined_median, median_task,
    separate_task, sky_statistics_task, static_task,
)
from multidrizzle.kernels import warmup
from multidrizzle.model import Chip, Exposure
from multidrizzle.model.geometry import OutputGrid, PixelMap
from multidrizzle.steps.blot import BlotInputs, BlotSettings, BlottedChip, blot_sky, run_blot
from multidrizzle.steps.cosmic_rays import (
    CosmicRayInputs, CosmicRaySettings, cosmic_ray_clean, run_driz_cr, update_dq,
)
from multidrizzle.steps.drizzle import (
    DrizzledImage, FinalDrizzleInputs, FinalDrizzleSettings, SeparateDrizzleInputs,
    SeparateDrizzleSettings, effective_kernel, run_driz_combine, run_driz_separate,
)
from multidrizzle.steps.median import (
    COMBINE_TYPES, MedianInputs, MedianResult, MedianSettings, median_thresholds, run_median,
)
from multidrizzle.steps.sky import SKY_METHODS, SkyInputs, SkyResult, SkySettings, run_sky
from multidrizzle.steps.static_mask import (
    StaticInputs, StaticSettings, merged_static_masks, run_static,
)

if TYPE_CHECKING:  # pragma: no cover
    from multidrizzle.session import Multidrizzle

__all__ = ["Step", "STEPS", "STEP_NAMES", "BUILD_TAGS", "PARAMETERS_WITHOUT_RESULT",
           "settings_of", "session_form", "DEFAULT_STEPS"]

log = logging.getLogger(__name__)

#: Parameter tags whose parameters change the geometry that ``build()`` makes.
BUILD_TAGS = ("init", "instrument", "driz_sep_wcs", "final_wcs")

#: Parameters that change no step's result: where files go, how many threads,
#: what is shown and logged, how intermediates are stored.
PARAMETERS_WITHOUT_RESULT = frozenset({
    "output", "mdriztab", "runfile", "verbose", "num_cores", "in_memory", "rules_file",
    "updatewcs", "driz_sep_compress", "memory_limit", "tile_size", "scheduler",
    "allow_mixed_inputs"})


# --------------------------------------------------------------------------
# inputs from the session


def settings_of(md: "Multidrizzle", settings_class: type) -> Any:
    """A step's frozen settings, each field the session parameter of that name.

    Bit-flag parameters are given as integers (``~`` applied, ``bits``
    followed; see :meth:`~multidrizzle.session.parameters.DrizzleParameters.bit_flags`).
    """
    return settings_class(**{field.name: md.parameter_value(field.name)
                             for field in dataclasses.fields(settings_class)})


def _chips(md: "Multidrizzle") -> tuple[Chip, ...]:
    return tuple(chip for exposure in md.exposures for chip in exposure.chips)


def _static_inputs(md: "Multidrizzle") -> StaticInputs:
    return StaticInputs(_chips(md), settings_of(md, StaticSettings))


def _sky_inputs(md: "Multidrizzle") -> SkyInputs:
    return SkyInputs(tuple(md.exposures), settings_of(md, SkySettings), md.static_masks)


def _separate_inputs(md: "Multidrizzle") -> SeparateDrizzleInputs:
    return SeparateDrizzleInputs(tuple(md.exposures), md.separate_pixel_maps,
                                 md.separate_grid, settings_of(md, SeparateDrizzleSettings),
                                 md.sky, md.static_masks)  # whole-grid images


def _median_inputs(md: "Multidrizzle") -> MedianInputs:
    fill = md.driz_sep_fillval
    return MedianInputs(tuple(md.exposures), tuple(md.single_drizzles),
                        settings_of(md, MedianSettings), md.sky,
                        grid_shape=md.separate_grid.shape,
                        single_fill=0.0 if fill is None else float(fill))


def _blot_inputs(md: "Multidrizzle") -> BlotInputs:
    return BlotInputs(_chips(md), md.stored_median, md.separate_pixel_maps, md.separate_grid,
                      settings_of(md, BlotSettings), md.median_counts, md.sky)


def _cosmic_ray_inputs(md: "Multidrizzle") -> CosmicRayInputs:
    return CosmicRayInputs(
        _chips(md), md.blotted_images, settings_of(md, CosmicRaySettings),
        good_bits=md.parameter_value("driz_sep_bits"),
        combine_is_mean=COMBINE_TYPES[md.combine_type].is_mean,
        n_exposures=len(md.exposures), blotted_counts=md.blotted_counts,
        static_masks=md.static_masks, sky=md.sky,
        blot_skies={chip.name: blot_sky(chip, settings_of(md, BlotSettings), md.sky)
                    for chip in _chips(md)})


def _final_inputs(md: "Multidrizzle") -> FinalDrizzleInputs:
    masks = md.cr_masks   # the files' names travel, not the masks (read by each task)
    return FinalDrizzleInputs(tuple(md.exposures), md.pixel_maps, md.output_grid,
                              settings_of(md, FinalDrizzleSettings), md.sky,
                              md.static_masks,
                              None if masks is None else {n: masks.stored(n) for n in masks})


# --------------------------------------------------------------------------
# checking results


def _fail(md: "Multidrizzle", step: str, problem: str) -> None:
    function = md.step_functions[step]
    raise StepResultError(f"step {step!r} ({getattr(function, '__name__', function)}) "
                          f"returned {problem}")


def _as_float(value: Any) -> float:
    """``float(value)``, or NaN for what is not a number (to be reported, not raised)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _check_per_chip(md: "Multidrizzle", step: str, mapping: Any, what: str,
                    array_shape: bool) -> None:
    if not isinstance(mapping, Mapping):
        _fail(md, step, f"a {type(mapping).__name__}; expected a dict of {what} keyed by "
                        "chip name")
    chips = _chips(md)
    missing = [chip.name for chip in chips if chip.name not in mapping]
    if missing:
        _fail(md, step, f"no {what} for {', '.join(missing)}")
    if array_shape:
        for chip in chips:
            shape = np.shape(mapping[chip.name])
            if shape != chip.shape:
                _fail(md, step, f"{what} of shape {shape} for {chip.name}; expected "
                                f"{chip.shape}")


def _check_image(md: "Multidrizzle", step: str, image: Any, shape: tuple[int, int],
                 what: str) -> None:
    if np.shape(image) != shape:
        _fail(md, step, f"{what} of shape {np.shape(image)}; expected the grid's {shape}")


def _check_static(md: "Multidrizzle", result: Any) -> None:
    if not isinstance(result, Mapping):
        _fail(md, "static", f"a {type(result).__name__}; expected a dict of masks keyed by "
                            "chip signature")
    for chip in _chips(md):
        if chip.signature not in result:
            _fail(md, "static", f"no mask for signature {chip.signature} ({chip.name})")
        if np.shape(result[chip.signature]) != chip.shape:
            _fail(md, "static", f"a mask of shape {np.shape(result[chip.signature])} for "
                                f"{chip.signature}; expected {chip.shape}")


def _check_sky(md: "Multidrizzle", result: Any) -> None:
    values = result.values if isinstance(result, SkyResult) else result
    _check_per_chip(md, "sky", values, "sky value", array_shape=False)
    bad = [chip.name for chip in _chips(md) if not np.isfinite(_as_float(values[chip.name]))]
    if bad:
        _fail(md, "sky", f"sky values that are not finite numbers for {', '.join(bad)}")


def _check_iterable(step: str, what: str) -> Callable[["Multidrizzle", Any], None]:
    """Results checked item by item as they are kept: here only their container."""
    def check(md: "Multidrizzle", result: Any) -> None:
        if not isinstance(result, Iterable):
            _fail(md, step, f"a {type(result).__name__}; expected {what}")
    return check


def _check_median(md: "Multidrizzle", result: Any) -> None:
    median = result.median if isinstance(result, MedianResult) else result
    _check_image(md, "median", median, md.separate_grid.shape, "a median image")


def _check_cr(md: "Multidrizzle", result: Any) -> None:
    _check_per_chip(md, "driz_cr", result, "cosmic-ray mask", array_shape=True)


def _check_final(md: "Multidrizzle", result: Any) -> None:
    if not isinstance(result, DrizzledImage):
        _fail(md, "driz_combine", f"a {type(result).__name__}; expected a DrizzledImage")
    for image, what in ((result.sci, "a final science image"),
                        (result.wht, "a final weight image")):
        _check_image(md, "driz_combine", image, md.output_grid.shape, what)
    if result.err is not None:
        _check_image(md, "driz_combine", result.err, md.output_grid.shape,
                     "a final error image")


# --------------------------------------------------------------------------
# keeping results (and writing their files)


@dataclass
class Kept:
    """What a step leaves on the session: its result as kept, and the files written.

    ``intermediates`` are removed by ``clean=True``; ``products`` are kept.
    ``in_files`` says the result is read from its files (the intermediates,
    so it goes when they are removed; the final product for the final
    drizzle, whose science is then in ``units``, the ``final_units`` it was
    written in).
    """

    result: Any
    intermediates: list[Path] = dataclasses.field(default_factory=list)
    products: list[Path] = dataclasses.field(default_factory=list)
    in_files: bool = False
    units: str = ""


def _stored(images: Iterable[Any]) -> list[Path]:
    return [image.path for image in images if isinstance(image, StoredImage)]


def _keep_static(md: "Multidrizzle", result: Mapping) -> Kept:
    masks = dict(result)
    written = [] if md.in_memory else [
        write_static_mask(mask, signature, md.layout.static_mask(signature))
        for signature, mask in masks.items()]
    return Kept(masks, intermediates=written)


def _keep_sky(md: "Multidrizzle", result: Any) -> Kept:
    if not isinstance(result, SkyResult):
        result = SkyResult(values={name: float(value) for name, value in dict(result).items()},
                           subtract=True, method="user function")
    if md.workinplace:
        for chip in _chips(md):
            products.write_back_to_input(chip.filename, chip.extver, sky=result.native(chip))
    return Kept(result)


def _keep_singles(md: "Multidrizzle", singles: Iterable[Any]) -> Kept:
    """Keep the separate drizzles as they come (a list, or an iterator that makes
    them one at a time, so that only one is ever in memory)."""
    kept: list[DrizzledImage] = []
    shape = md.separate_grid.shape
    for single in singles:
        if len(kept) == len(md.exposures):
            _fail(md, "driz_separate", f"more than {len(md.exposures)} separate drizzles; "
                                       "expected one per exposure")
        if not isinstance(single, DrizzledImage):
            _fail(md, "driz_separate", f"a {type(single).__name__} among the separate "
                                       "drizzles; expected DrizzledImage")
        expected = shape if single.box is None else single.box.shape
        _check_image(md, "driz_separate", single.sci, expected, "a single drizzled image")
        _check_image(md, "driz_separate", single.wht, expected, "a single weight image")
        exposure = md.exposures[len(kept)]
        grid = md.separate_grid if single.box is None else md.separate_grid.cutout(
            *single.box.slices)
        headers = (None, None) if md.in_memory or single.box is not None and \
            single.box.is_empty() else products.single_headers(grid, exposure, md.sky_values)
        compress = bool(md.driz_sep_compress)
        empty = single.box is not None and single.box.is_empty()
        kept.append(DrizzledImage(
            sci=single.sci if empty else md.keep_image(
                md.layout.single(exposure, "sci"), single.sci, lambda: headers[0], compress),
            wht=single.wht if empty else md.keep_image(
                md.layout.single(exposure, "wht"), single.wht, lambda: headers[1], compress),
            ctx=single.ctx, exptime=single.exptime, n_images=single.n_images,
            box=single.box))
    if len(kept) != len(md.exposures):
        _fail(md, "driz_separate", f"{len(kept)} separate drizzles; expected "
                                   f"{len(md.exposures)}, one per exposure")
    return Kept(kept, intermediates=_stored(image for single in kept
                                            for image in (single.sci, single.wht)),
                in_files=not md.in_memory)


@dataclass(frozen=True)
class KeptMedian:
    """The median as the session keeps it: the image (array or file) and the counts."""

    image: np.ndarray | StoredImage
    counts: np.ndarray | None


def _keep_median(md: "Multidrizzle", result: Any) -> Kept:
    median = result.median if isinstance(result, MedianResult) else result
    counts = result.good_counts if isinstance(result, MedianResult) else None
    image = md.keep_image(md.layout.median(), np.asarray(median, dtype=np.float32),
                          lambda: products.median_header(md.separate_grid, md.exposures))
    return Kept(KeptMedian(image, counts), intermediates=_stored([image]),
                in_files=not md.in_memory)


@dataclass(frozen=True)
class KeptBlots:
    """The blotted medians as the session keeps them (arrays or files) and their counts."""

    images: LoadedImages
    counts: LoadedImages | None


def _keep_blots(md: "Multidrizzle", result: Any) -> Kept:
    """Keep the blotted medians as they come (a dict, or BlottedChip one by one)."""
    blotted = (BlottedChip(name, image) for name, image in result.items()) \
        if isinstance(result, Mapping) else result
    chips = {chip.name: chip for chip in _chips(md)}
    settings = settings_of(md, BlotSettings)
    images: dict[str, np.ndarray | StoredImage] = {}
    counts: dict[str, PackedImage] = {}
    for item in blotted:
        chip = chips.get(item.name)
        if chip is None:
            _fail(md, "blot", f"a blotted image for {item.name!r}, which is not an input "
                              "chip")
        if np.shape(item.image) != chip.shape:
            _fail(md, "blot", f"a blotted image of shape {np.shape(item.image)} for "
                              f"{chip.name}; expected {chip.shape}")
        images[chip.name] = md.keep_image(
            md.layout.blot(chip), np.asarray(item.image, dtype=np.float32),
            lambda: products.blot_header(chip, sky=blot_sky(chip, settings, md.sky)))
        if item.counts is not None:
            # packed: a chip's counts are a few uniform areas, and the session keeps
            # them until driz_cr runs again (one byte a chip pixel would grow with
            # the number of inputs)
            counts[chip.name] = PackedImage(np.asarray(item.counts))
    missing = [name for name in chips if name not in images]
    if missing:
        _fail(md, "blot", f"no blotted image for {', '.join(missing)}")
    return Kept(KeptBlots(LoadedImages(images), LoadedImages(counts) if counts else None),
                intermediates=_stored(images.values()), in_files=not md.in_memory)


@dataclass(frozen=True)
class KeptCosmicRays:
    """The cosmic-ray masks (arrays, or their ``_crmask`` files) and the ``_crclean``
    images written from them."""

    masks: dict[str, np.ndarray | StoredImage]
    crclean_files: list[Path]


def _keep_cosmic_rays(md: "Multidrizzle", result: Mapping) -> Kept:
    """The masks, their ``_crmask`` files (intermediate) and ``_crclean`` images (kept).

    As AstroDrizzle, every chip's ``<input>_sci<N>_crmask.fits`` is written
    unless ``in_memory`` (``driz_cr_corr`` writes it even then, beside its
    ``_crclean`` image); ``clean=True`` removes the masks.  The session then
    keeps the masks as files, read when used (a mosaic's masks would not fit
    in memory), except with ``in_memory`` or ``clean`` (the masks stay in
    memory, the files go).  With
    ``workinplace`` the cosmic rays are flagged with ``crbit`` in the inputs'
    DQ arrays.
    """
    masks: dict[str, np.ndarray | StoredImage] = {}
    written, cleaned = [], []
    for chip in _chips(md):
        mask = result[chip.name]
        if md.driz_cr_corr or not md.in_memory:
            # the tasks of a mosaic wrote their masks (so that they are never all in
            # memory at once); a user's function returns arrays, written here
            stored = mask if isinstance(mask, StoredCosmicRayMask) else \
                write_crmask(md.layout.crmask(chip), np.asarray(mask, dtype=bool))
            written.append(stored.path)
        if not md.in_memory and not md.clean:
            masks[chip.name] = stored   # read back when used: memory stays flat
        else:
            masks[chip.name] = np.asarray(mask, dtype=bool)
        if not (md.driz_cr_corr or (md.workinplace and md.crbit)):
            continue
        mask = np.asarray(mask, dtype=bool)
        if md.driz_cr_corr:
            clean = cosmic_ray_clean(chip.read_science(), md.blotted_images[chip.name], mask)
            cleaned.append(write_crclean(md.layout.crclean(chip), clean,
                                         products.crclean_header(chip, sky=md.sky_values.get(
                                             chip.name, 0.0))))
        if md.workinplace and md.crbit:
            products.write_back_to_input(chip.filename, chip.extver,
                                         dq=update_dq(chip.read_dq(), mask, md.crbit))
    return Kept(KeptCosmicRays(masks, cleaned), intermediates=written, products=cleaned,
                in_files=not md.in_memory and not md.clean)


def _keep_final(md: "Multidrizzle", result: DrizzledImage) -> Kept:
    """Write (or, made in place by the strips, finish and commit) the product; the
    session then reads a product in files from it."""
    written = md.write_final(result)
    if not isinstance(result.sci, StoredImage):
        return Kept(result, products=written)
    stored = products.stored_product_images(written)
    return Kept(dataclasses.replace(result, sci=stored["SCI"], wht=stored["WHT"],
                                    ctx=stored.get("CTX"), err=stored.get("ERR")),
                products=written, in_files=True, units=md.final_units)


# --------------------------------------------------------------------------
# cutting the steps into tasks


class WindowOf:
    """The values of a box of a larger image, looked up by the larger image's slices.

    What a task on another machine gets instead of a whole in-memory image
    it reads a window of (the median counts): only the window travels.
    """

    def __init__(self, image: Any, box: Box) -> None:
        self.box = box
        self.values = np.asarray(image[box.slices])
        self.shape = image.shape
        self.dtype = self.values.dtype

    def __getitem__(self, key: tuple[slice, slice]) -> np.ndarray:
        rows, columns = key
        y0, y1, _ = rows.indices(self.shape[0])
        x0, x1, _ = columns.indices(self.shape[1])
        inner = Box(y0, y1, x0, x1)
        if inner.intersection(self.box) != inner:
            raise IndexError(f"window {inner} is not inside {self.box}")
        return self.values[inner.relative_to(self.box)]


def _part_of(mapping: Mapping[str, Any] | None, names: Iterable[str]) -> dict | None:
    return None if mapping is None else {name: mapping[name] for name in names
                                         if name in mapping}


def _split_static(md: "Multidrizzle", inputs: StaticInputs, plan: RunPlan) -> Split:
    """A task per exposure; the masks are OR-ed by chip signature as they come."""
    exposures = [tuple(chips) for _, chips in
                 itertools.groupby(inputs.chips, key=lambda chip: chip.filename)]
    arguments = [(dataclasses.replace(inputs, chips=chips),) for chips in exposures]
    keys = [f"static {chips[0].filename.name}" for chips in exposures]
    return Split(static_task, arguments, keys, join=merged_static_masks)


def _split_sky(md: "Multidrizzle", inputs: SkyInputs, plan: RunPlan) -> Split:
    """The whole-chip statistics a task per exposure, then the method's comparisons.

    User sky values and a ``skymask_cat`` catalog (whose masks are read and
    checked once, against every input) make the step one task.
    """
    settings = inputs.settings
    if not settings.skysub or settings.skyfile or settings.skymask_cat:
        return Split(run_sky, [(inputs,)], ["sky"], join=lambda results: next(iter(results)))
    arguments = [(dataclasses.replace(inputs, exposures=(exposure,)),)
                 for exposure in inputs.exposures]
    keys = [f"sky {exposure.filename.name}" for exposure in inputs.exposures]

    def join(results: Iterator[dict[str, float]]) -> SkyResult:
        statistics: dict[str, float] = {}
        for part in results:
            statistics.update(part)
        return run_sky(dataclasses.replace(inputs, chip_statistics=statistics))
    return Split(sky_statistics_task, arguments, keys, join)


def single_header(grid: OutputGrid, cutout: Box, exposure: Exposure,
                  sky_values: Mapping[str, float] | None, image: str) -> fits.Header:
    """The header of an exposure's ``_single_sci`` (``image='sci'``) or
    ``_single_wht`` file: its cutout of the separate grid (made by its task)."""
    science, weight = products.single_headers(grid.cutout(*cutout.slices), exposure,
                                              sky_values)
    return science if image == "sci" else weight


def _split_separate(md: "Multidrizzle", inputs: SeparateDrizzleInputs,
                    plan: RunPlan) -> Split:
    arguments, keys = [], []
    for exposure in inputs.exposures:
        name = exposure.filename.name
        cutout = plan.cutouts[name]
        part = dataclasses.replace(
            inputs, exposures=(exposure,),
            pixel_maps=_part_of(inputs.pixel_maps, (c.name for c in exposure.chips)),
            cutouts={name: cutout})
        stores = None
        if not md.in_memory and cutout is not None:
            compress = bool(md.driz_sep_compress)
            stores = tuple(ImageStore(md.layout.single(exposure, image), functools.partial(
                single_header, md.separate_grid, cutout, exposure, md.sky_values, image),
                compress) for image in ("sci", "wht"))
        arguments.append((part, stores))
        keys.append(f"driz_separate {name}")
    return Split(separate_task, arguments, keys, join=lambda results: results)


def _split_median(md: "Multidrizzle", inputs: MedianInputs, plan: RunPlan) -> Split:
    whole = dataclasses.replace(inputs, thresholds=median_thresholds(inputs))
    tiles = plan.median_tiles
    arguments = [(dataclasses.replace(whole, region=tile),) for tile in tiles]
    keys = [f"median tile {tile}" for tile in tiles]
    shape = plan.separate_shape
    if md.in_memory:
        image = np.empty(shape, dtype=np.float32)
        building = None
    else:
        building = md.layout.median_part()
        image = create_image(building, shape, np.float32,
                             products.median_header(md.separate_grid, md.exposures))

    def join(results: Iterator[MedianResult]) -> MedianResult:
        result = joined_median(results, tiles, shape, image, len(inputs.singles))
        if building is None:
            return result
        os.replace(building, md.layout.median())
        return dataclasses.replace(result, median=StoredImage(
            md.layout.median(), image.shape, image.file_dtype, image.data_offset))
    return Split(median_task, arguments, keys, join)


def _split_blot(md: "Multidrizzle", inputs: BlotInputs, plan: RunPlan) -> Split:
    settings = inputs.settings
    arguments, keys = [], []
    remote = md.executor_is_remote
    for chip in inputs.chips:
        window = plan.blot_windows[chip.name]
        median, counts = inputs.median, inputs.median_counts
        if remote and window is not None and not isinstance(median, StoredImage):
            median = WindowOf(median, window)
        if remote and window is not None and counts is not None:
            counts = WindowOf(counts, window)
        part = dataclasses.replace(inputs, chips=(chip,), median=median, median_counts=counts,
                                   pixel_maps=_part_of(inputs.pixel_maps, [chip.name]),
                                   windows={chip.name: window})
        store = None if md.in_memory else ImageStore(
            md.layout.blot(chip), functools.partial(
                products.blot_header, chip, sky=blot_sky(chip, settings, inputs.sky)))
        arguments.append((part, store))
        keys.append(f"blot {chip.name}")
    return Split(blot_task, arguments, keys, join=lambda results: results)


def _split_cosmic_rays(md: "Multidrizzle", inputs: CosmicRayInputs, plan: RunPlan) -> Split:
    stored = inputs.blotted.stored if isinstance(inputs.blotted, LoadedImages) else \
        inputs.blotted.__getitem__
    counts = inputs.blotted_counts
    counts_of = counts.stored if isinstance(counts, LoadedImages) else (
        None if counts is None else counts.__getitem__)
    # each task gets its chip's images unread (files, packed counts): read when it runs
    arguments = [(dataclasses.replace(
        inputs, chips=(chip,), blotted=LoadedImages({chip.name: stored(chip.name)}),
        blotted_counts=None if counts is None else LoadedImages(
            {chip.name: counts_of(chip.name)} if chip.name in counts else {})),)
        for chip in inputs.chips]
    keys = [f"driz_cr {chip.name}" for chip in inputs.chips]
    if not md.in_memory:   # each task writes its chip's _crmask file (see _keep_cosmic_rays)
        arguments = [(*task, {chip.name: md.layout.crmask(chip)})
                     for task, chip in zip(arguments, inputs.chips)]

    def join(results: Iterator[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        masks: dict[str, np.ndarray] = {}
        for result in results:
            masks.update(result)
        return masks
    return Split(cosmic_ray_task, arguments, keys, join)


def _split_final(md: "Multidrizzle", inputs: FinalDrizzleInputs, plan: RunPlan) -> Split:
    exposures = inputs.exposures
    arguments, keys = [], []
    for strip, members in zip(plan.final_strips, plan.strip_inputs):
        numbers = [index for index, exposure in enumerate(exposures)
                   if any(chip.name in members for chip in exposure.chips)]
        chips = [chip.name for index in numbers for chip in exposures[index].chips]
        arguments.append((dataclasses.replace(
            inputs, exposures=tuple(exposures[index] for index in numbers),
            pixel_maps=_part_of(inputs.pixel_maps, chips),
            cr_masks=_part_of(inputs.cr_masks, chips), region=strip,
            input_boxes={name: members.get(name) for name in chips},
            image_ids=tuple(numbers), n_images=len(exposures)),))
        keys.append(f"driz_combine strip {strip}")
    return Split(final_task, arguments, keys,
                 join=lambda results: _joined_final(md, inputs, plan, results))


def _joined_final(md: "Multidrizzle", inputs: FinalDrizzleInputs, plan: RunPlan,
                  results: Iterator[DrizzledImage]) -> DrizzledImage:
    """The strips put together: arrays, or (``in_memory=False``) the product itself,
    allocated under its temporary names and written strip by strip (in
    ``final_units``), which :func:`_keep_final` finishes and commits."""
    shape = plan.final_shape
    planes = (len(inputs.exposures) - 1) // CONTEXT_PLANE_BITS + 1
    error = bool(inputs.settings.final_err)
    exptime = float(sum(e.exptime for e in inputs.exposures))
    n_images = len(inputs.exposures)
    if md.in_memory:
        sci = np.empty(shape, dtype=np.float32)
        wht = np.empty(shape, dtype=np.float32)
        ctx = np.empty((planes, *shape), dtype=np.int32) if inputs.settings.context else None
        err = np.empty(shape, dtype=np.float32) if error else None
        results = iter(results)
        for strip in plan.final_strips:
            result = next(results)
            rows, columns = strip.slices
            sci[rows, columns] = result.sci
            wht[rows, columns] = result.wht
            if ctx is not None:
                ctx[:, rows, columns] = result.ctx
            if err is not None:
                err[rows, columns] = result.err
            del result
        return DrizzledImage(sci=sci, wht=wht, ctx=ctx, err=err, exptime=exptime,
                             n_images=n_images)
    product = md.start_final_product(exptime, n_images, shape,
                                     planes if inputs.settings.context else None, error)
    images = product.images
    # the product holds SCI and ERR in final_units: a strip's count rates are scaled as
    # they are written, as the product of an in-memory drizzle is (ScaledImage)
    factor = np.float32(exptime) if md.final_units == "counts" else None
    results = iter(results)
    try:
        for strip in plan.final_strips:
            # one strip at a time: none is held while the next is drizzled
            # (zip() would keep the last one until it has the next)
            result = next(results)
            rows, columns = strip.slices
            for name, values in (("SCI", result.sci), ("WHT", result.wht),
                                 ("CTX", result.ctx), ("ERR", result.err)):
                if name not in images:
                    continue
                if factor is not None and name in ("SCI", "ERR"):
                    values = values * factor
                key = (slice(None), rows, columns) if name == "CTX" else (rows, columns)
                images[name].write(key, values)
            del result, values
    except BaseException:
        md.discard_final_product()
        raise
    return DrizzledImage(sci=images["SCI"], wht=images["WHT"], ctx=images.get("CTX"),
                         err=images.get("ERR"), exptime=exptime, n_images=n_images)


# --------------------------------------------------------------------------
# the records


@dataclass(frozen=True)
class Step:
    """Everything the session knows about one processing step.

    Attributes
    ----------
    name : str
        The step's name (``'sky'``), also its key in ``md.step_records``.
    switch : str
        The parameter that switches it on or off, also the keyword of
        ``run()`` (``'skysub'``).
    tag : str
        The parameter tag it owns: a change of such a parameter makes this
        step and every later one stale.
    function : callable
        The default step function, ``function(inputs, progress=...)``.
    make_inputs : callable
        ``make_inputs(md)``: the frozen inputs of a run on the session.
    check : callable
        ``check(md, result)``: raise StepResultError for a result of the
        wrong form (from a user's function, usually).
    keep : callable
        ``keep(md, result) -> Kept``: the result as the session keeps it and
        the files written (intermediates, products).
    needs : tuple of str
        Steps whose results it cannot run without.
    reads : tuple of str
        Steps whose results it uses when they exist (a stale one is warned
        about).
    invalidated_by : tuple of str
        Parameters of other tags that change its result.
    produces : str
        The files it writes, for the documentation.
    when_off : callable or None
        ``when_off(md) -> result``: what the step leaves when switched off
        by its parameter (the sky step keeps the sky for the cosmic-ray
        noise model); None: nothing.
    split : callable or None
        ``split(md, inputs, plan) -> Split``: the default function cut into
        tasks of the run's plan (per exposure, tile, chip or strip) and how
        their results come back together; None: one task.
    """

    name: str
    switch: str
    tag: str
    function: Callable[..., Any]
    make_inputs: Callable[["Multidrizzle"], Any]
    check: Callable[["Multidrizzle", Any], None]
    keep: Callable[["Multidrizzle", Any], Kept]
    needs: tuple[str, ...] = ()
    reads: tuple[str, ...] = ()
    invalidated_by: tuple[str, ...] = ()
    produces: str = ""
    when_off: Callable[["Multidrizzle"], Any] | None = None
    split: Callable[["Multidrizzle", Any, RunPlan], Split] | None = None


def _sky_without_subtraction(md: "Multidrizzle") -> SkyResult:
    """``skysub=False``: the sky recorded for cosmic-ray detection only (``skyuser``, or 0)."""
    inputs = _sky_inputs(md)
    return run_sky(dataclasses.replace(inputs, settings=dataclasses.replace(
        inputs.settings, skysub=False)))


#: The processing steps, in order.
STEPS: dict[str, Step] = {step.name: step for step in (
    Step("static", "static", "static", run_static, _static_inputs, _check_static,
         _keep_static, invalidated_by=("resetbits",),
         produces="<DET>_<nx>x<ny>_<chip>_staticMask.fits (unless in_memory)",
         split=_split_static),
    Step("sky", "skysub", "sky", run_sky, _sky_inputs, _check_sky, _keep_sky,
         reads=("static",), produces="MDRIZSKY in the inputs (workinplace only)",
         when_off=_sky_without_subtraction, split=_split_sky),
    Step("driz_separate", "driz_separate", "driz_sep", run_driz_separate, _separate_inputs,
         _check_iterable("driz_separate", "a list of DrizzledImage, one per exposure"), _keep_singles,
         reads=("static", "sky"), invalidated_by=("bits",),
         produces="<input>_single_sci.fits, _single_wht.fits (unless in_memory)",
         split=_split_separate),
    Step("median", "median", "median", run_median, _median_inputs, _check_median,
         _keep_median, needs=("driz_separate",), reads=("driz_separate", "sky"),
         produces="<output>_med.fits (unless in_memory)", split=_split_median),
    Step("blot", "blot", "blot", run_blot, _blot_inputs,
         _check_iterable("blot", "a dict of blotted images keyed by chip name"), _keep_blots,
         needs=("median",), reads=("median", "sky"),
         produces="<input>_sci<N>_blt.fits (unless in_memory)", split=_split_blot),
    Step("driz_cr", "driz_cr", "driz_cr", run_driz_cr, _cosmic_ray_inputs, _check_cr,
         _keep_cosmic_rays, needs=("blot",), reads=("blot", "static", "sky"),
         invalidated_by=("crbit",),
         produces="<input>_sci<N>_crmask.fits (unless in_memory), _crclean.fits "
                  "(driz_cr_corr)", split=_split_cosmic_rays),
    Step("driz_combine", "driz_combine", "final", run_driz_combine, _final_inputs,
         _check_final, _keep_final, reads=("static", "sky", "driz_cr"),
         invalidated_by=("context", "build_mef"),
         produces="<output>_drz.fits or _drc.fits (SCI, WHT, CTX, ERR, HDRTAB)",
         split=_split_final),
)}

#: Each step's inputs and settings classes.
_INPUTS_AND_SETTINGS: dict[str, tuple[type, type]] = {
    "static": (StaticInputs, StaticSettings), "sky": (SkyInputs, SkySettings),
    "driz_separate": (SeparateDrizzleInputs, SeparateDrizzleSettings),
    "median": (MedianInputs, MedianSettings), "blot": (BlotInputs, BlotSettings),
    "driz_cr": (CosmicRayInputs, CosmicRaySettings),
    "driz_combine": (FinalDrizzleInputs, FinalDrizzleSettings),
}

#: ``build`` and the processing steps, in order: the rows of the step table.
STEP_NAMES: tuple[str, ...] = ("build", *STEPS)

#: The default function of each step (the functions ``restore_step`` goes back to).
DEFAULT_STEPS: dict[str, Callable[..., Any]] = {name: step.function
                                                for name, step in STEPS.items()}


# --------------------------------------------------------------------------
# user functions


def _takes_the_inputs(step: str, function: Callable[..., Any]) -> bool:
    """Whether a user's step function takes the step's inputs (not the session).

    It does when its first parameter is named ``inputs`` or annotated with
    the step's inputs class; any other function is taken to be of the
    earlier form, ``function(md)``, so that code written for it keeps working.
    """
    try:
        parameters = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        return False
    if not parameters:
        return False
    first = parameters[0]
    annotation = first.annotation
    annotation = annotation if isinstance(annotation, str) else getattr(annotation,
                                                                        "__name__", "")
    return first.name == "inputs" or annotation.split(".")[-1] == type_of_inputs(step)


def session_form(function: Callable[["Multidrizzle"], Any], md: "Multidrizzle"
                 ) -> Callable[[Any], Any]:
    """Adapt a step function of the earlier form, ``function(md)``, to the inputs form.

    The adapter ignores the inputs and calls ``function(md)``: such a function
    can only run in the session's process.  A :class:`DeprecationWarning`
    says so when the function is given to ``replace_step``.
    """
    def adapted(inputs: Any, progress: Any = None) -> Any:
        return function(md)

    adapted.__name__ = getattr(function, "__name__", "user_step")
    adapted.__wrapped__ = function  # type: ignore[attr-defined]
    return adapted


def user_function(step: str, function: Any, md: "Multidrizzle", form: str | None
                  ) -> Callable[..., Any]:
    """The function ``replace_step`` installs: the inputs form, or an adapted session form.

    Raises
    ------
    ParameterError
        For an unknown step, something not callable, or an unknown ``form``.
    """
    if step not in STEPS:
        raise ParameterError(f"replace_step: {step!r} is not a step; expected one of "
                             f"{', '.join(STEPS)}")
    if not callable(function):
        raise ParameterError(f"replace_step: {function!r} is not callable")
    if form not in (None, "inputs", "session"):
        raise ParameterError(f"replace_step: form={form!r}; expected 'inputs' (function("
                             "inputs)) or 'session' (function(md), deprecated)")
    if form == "session" or (form is None and not _takes_the_inputs(step, function)):
        warnings.warn(f"replace_step({step!r}): a step function that takes the session "
                      f"({getattr(function, '__name__', function)}(md)) is deprecated; "
                      f"take the step's inputs instead: a first parameter named 'inputs' "
                      f"or annotated {type_of_inputs(step)}, or form='inputs'",
                      DeprecationWarning, stacklevel=3)
        return session_form(function, md)
    return function


def inputs_class(step: str) -> type:
    """The inputs class of ``step`` (what its function takes)."""
    return _INPUTS_AND_SETTINGS[step][0]


def settings_class(step: str) -> type:
    """The settings class of ``step`` (the parameters it takes)."""
    return _INPUTS_AND_SETTINGS[step][1]


def type_of_inputs(step: str) -> str:
    """The name of the inputs class of ``step``, for messages."""
    return inputs_class(step).__name__


def call_step(function: Callable[..., Any], inputs: Any, progress: Any) -> Any:
    """``function(inputs, progress=progress)``, or ``function(inputs)`` when it takes no
    ``progress``."""
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        parameters = {}
    takes_progress = "progress" in parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    return function(inputs, progress=progress) if takes_progress else function(inputs)


# --------------------------------------------------------------------------
# the kernels a run compiles


def _pixel_map_variants(pixel_maps: Mapping[str, PixelMap] | None) -> list[str]:
    """The `interpolate_pixel_map` variants that evaluating these maps uses."""
    variants = []
    for pixel_map in (pixel_maps or {}).values():
        if pixel_map.stepsize == 1 and pixel_map.node_values.shape[:2] == pixel_map.shape:
            continue  # a copy of the nodes
        dx_of_row = pixel_map.row_shifts[0] if pixel_map.row_shifts else None
        dy_of_column = pixel_map.column_shifts[1] if pixel_map.column_shifts else None
        shifted = any(shift is not None and np.any(shift)
                      for shift in (dx_of_row, dy_of_column))
        variants.append("pixmap/shifted" if shifted else "pixmap/axes")
    return variants


def _drizzle_variant(md: "Multidrizzle", prefix: str) -> str:
    """`warmup.drizzle_variant` of a drizzle step (its kernel as `effective_kernel` picks it)."""
    pixfrac = getattr(md, f"{prefix}_pixfrac")
    kernel = effective_kernel(getattr(md, f"{prefix}_kernel"), pixfrac)
    return warmup.drizzle_variant(kernel, pixfrac)


def kernel_variants(md: "Multidrizzle", steps: Iterable[str]) -> list[str]:
    """The compiled kernel variants the default functions of ``steps`` use.

    Parameters
    ----------
    md : Multidrizzle
        A built session (its parameters and pixel maps say which variants).
    steps : iterable of str
        Step names (keys of :data:`STEPS`) that will run.

    Returns
    -------
    list of str
        Keys of :data:`multidrizzle.kernels.warmup.KERNEL_VARIANTS`, each once,
        in the order the steps first need them.
    """
    steps = set(steps)
    variants: list[str] = []
    if "static" in steps:
        variants += ["statistics/moments", "statistics/mode"]
    if "sky" in steps and not md.skyfile:
        variants += warmup.statistic_variants(md.skystat)
        if SKY_METHODS[md.skymethod].matches_overlaps:
            variants.append("pixmap/axes")
    if "driz_separate" in steps:
        variants += _pixel_map_variants(md.separate_pixel_maps)
        variants.append(_drizzle_variant(md, "driz_sep"))
    if "median" in steps:
        variants.append(warmup.combine_variant(md.combine_type))
    if "blot" in steps:
        # the blot kernels evaluate the pixel maps themselves (PixelMap.coarse)
        variants.append(warmup.blot_variant(md.blot_interp))
        if "median" in steps or md.median_counts is not None:
            variants.append("blot/nearest")  # blot_counts
    if "driz_cr" in steps:
        variants.append("cosmic_rays/flag")
        if md.driz_cr_grow > 1:
            variants.append("cosmic_rays/grow")
        if md.driz_cr_ctegrow > 0:
            variants.append("cosmic_rays/tails")
    if "driz_combine" in steps:
        variants += _pixel_map_variants(md.pixel_maps)
        variants.append(_drizzle_variant(md, "final"))
        if md.final_err:
            variants.append(warmup.drizzle_variance_variant(
                effective_kernel(md.final_kernel, md.final_pixfrac)))
    return list(dict.fromkeys(variants))


def prepare_kernels(md: "Multidrizzle", steps: Iterable[str]) -> warmup.PreparedKernels:
    """Load or compile, before a run starts, the kernels of the steps it runs.

    Steps replaced by a user function (``md.replace_step``) are left out:
    nothing is known of what they call.  See
    :func:`multidrizzle.kernels.warmup.prepare_kernels` (which announces a
    compilation on the ``multidrizzle.kernels`` logger).
    """
    return warmup.prepare_kernels(kernel_variants(md, default_steps_of(md, steps)))


def default_steps_of(md: "Multidrizzle", steps: Iterable[str]) -> list[str]:
    """The steps among ``steps`` that run their built-in function."""
    return [step for step in steps if md.step_functions.get(step) is DEFAULT_STEPS.get(step)]

"""The ``Multidrizzle`` session: parameters, state of each step, and the plan.

This is the only module that knows traitlets beyond the parameter
declarations: it holds the parameters (inherited from
:class:`~multidrizzle.parameters.DrizzleParameters`), the results and status
of every step, and marks steps stale when a parameter they depend on changes.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Iterable, Mapping
from typing import Any, Callable

import numba
import numpy as np
from astropy.io import fits

from traitlets import All, observe

from multidrizzle import pipeline
from multidrizzle.errors import ParameterError, StepOrderError, StepResultError
from multidrizzle.geometry import (
    GridRequest, OutputGrid, PixelMap, check_memory, compute_pixel_map, make_output_grid,
)
from multidrizzle.io import products
from multidrizzle.io.inputs import (
    InputList, check_runfile, parse_group, prepare_output_folder, resolve_inputs,
)
from multidrizzle.io.intermediates import LoadedImages, StoredImage, loaded, store_image
from multidrizzle.mdriztab import apply_mdriztab, read_mdriztab
from multidrizzle.model import Exposure, ReadOptions, read_exposure
from multidrizzle.parameters import DrizzleParameters, help_text
from multidrizzle.shiftfile import apply_shifts, output_frame, read_shiftfile
from multidrizzle.steps.cosmic_rays import cosmic_ray_clean, update_dq, write_crmask, write_crclean
from multidrizzle.steps.blot import BlottedChip
from multidrizzle.steps.drizzle import DrizzledImage
from multidrizzle.steps.median import MedianResult
from multidrizzle.steps.sky import SkyResult
from multidrizzle.steps.static_mask import write_static_mask

__all__ = ["Multidrizzle", "StepRecord", "BuildSummary", "STEPS"]


def _as_float(value: Any) -> float:
    """``float(value)``, or NaN for what is not a number (to be reported, not raised)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")

log = logging.getLogger("multidrizzle")

#: The processing steps in order; ``build`` makes the geometry they all use.
STEPS = ("build", "static", "sky", "driz_separate", "median", "blot", "driz_cr",
         "driz_combine")

#: Which step a parameter's step tag belongs to (the first step it changes).
_STEP_OF_TAG = {
    "init": "build", "instrument": "build", "driz_sep_wcs": "build",
    "final_wcs": "build", "static": "static", "sky": "sky",
    "driz_sep": "driz_separate", "median": "median", "blot": "blot",
    "driz_cr": "driz_cr", "final": "driz_combine",
}

#: The parameter that switches each step on or off.
_SWITCH_PARAMETER = {"static": "static", "sky": "skysub", "driz_separate": "driz_separate",
                     "median": "median", "blot": "blot", "driz_cr": "driz_cr",
                     "driz_combine": "driz_combine"}

#: Parameters whose step tag does not say which results they invalidate:
#: the first step they change, or None for those that change no result
#: (where files go, how many threads, logging, input archiving).
_STALE_FROM = {
    "output": None, "mdriztab": None, "runfile": None, "num_cores": None,
    "in_memory": None, "rules_file": None, "updatewcs": None,
    "context": "driz_combine", "build_mef": "driz_combine", "crbit": "driz_cr",
    "resetbits": "static", "bits": "driz_separate",
}

#: Bytes of output arrays per output pixel: science, weight (float32) and one
#: 32-bit context plane per 32 inputs, plus one dense pixel map (float64 x 2)
#: per input pixel while a chip is drizzled.
_FLOAT32 = 4
_PIXMAP_BYTES_PER_PIXEL = 16


@dataclass
class StepRecord:
    """What happened to one step: status, time taken, and why if skipped."""

    status: str = "not run"
    seconds: float = 0.0
    reason: str = ""


@dataclass
class BuildSummary:
    """What ``build()`` found and planned."""

    inputs: list[str]
    n_chips: int
    output_shape: tuple[int, int]
    scale: float
    rotation: float
    separate_shape: tuple[int, int]
    separate_is_final: bool
    estimated_bytes: int
    seconds: float
    pixel_map_wcs_seconds: float
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [
            f"inputs ({len(self.inputs)}): {', '.join(self.inputs)}",
            f"chips: {self.n_chips}",
            f"output grid: {self.output_shape[1]} x {self.output_shape[0]} pixels at "
            f"{self.scale:.5f} arcsec/pixel, y axis at {self.rotation:.3f} deg E of N",
            "separate grid: " + ("same as output" if self.separate_is_final else
                                 f"{self.separate_shape[1]} x {self.separate_shape[0]}"),
            f"estimated memory: {self.estimated_bytes / 2**20:.0f} MiB",
            f"build time: {self.seconds:.2f} s (pixel-map WCS "
            f"{self.pixel_map_wcs_seconds:.2f} s)",
        ]
        return "\n".join(lines + self.notes)


class Multidrizzle(DrizzleParameters):
    """A MultiDrizzle session: parameters, geometry and the state of every step.

    Parameters
    ----------
    input : str, path or list, optional
        Input exposures: a file, wildcard, comma-separated list, Python
        list, ``@file`` list or association table.  Defaults to the
        parameter's default (``'*flt.fits'``).
    output : str, optional
        Root name of the products; defaults to the association product,
        the rootname of a single input, or ``'final'``.
    editpars : bool
        Open the parameter editor at once.
    configobj : str or path, optional
        Parameter file written by :meth:`save_pars`; its values are applied
        before the keyword arguments.
    **params
        Any parameter by name (see :func:`multidrizzle.help`).

    Examples
    --------
    >>> md = Multidrizzle("*flt.fits", output="final", final_scale=0.05)  # doctest: +SKIP
    >>> md.build()                                                         # doctest: +SKIP
    """

    def __init__(self, input: Any = None, output: str | None = None, *,
                 editpars: bool = False, configobj: str | Path | None = None,
                 **params: Any) -> None:
        super().__init__()
        self.step_records: dict[str, StepRecord] = {name: StepRecord() for name in STEPS}
        self.inputs: InputList | None = None
        self.exposures: list[Exposure] = []
        self.output_grid: OutputGrid | None = None
        self.separate_grid: OutputGrid | None = None
        self.pixel_maps: dict[str, PixelMap] = {}
        self.separate_pixel_maps: dict[str, PixelMap] = {}
        self.build_summary: BuildSummary | None = None
        self._reset_results()
        self.step_functions: dict[str, Callable] = dict(pipeline.DEFAULT_STEPS)
        if configobj is not None:
            self.update_from_file(configobj)
        if input is not None:
            params["input"] = input
        if output is not None:
            params["output"] = output
        self.update(params)
        self.inputs = resolve_inputs(self.input)
        if self.mdriztab:
            self._apply_mdriztab()
        self.check_consistency()
        if editpars:
            self.editpars()

    # ------------------------------------------------------------------ API

    def help(self) -> None:
        """Print the session syntax and the parameter table with current values."""
        print(help_text(self))

    def editpars(self, interface: str | None = None) -> Any:
        """Edit the parameters interactively; see :func:`multidrizzle.editpars.edit_parameters`.

        In Jupyter, shows a widget form (returned; the session changes on
        *Apply*); in a terminal, opens the parameter file in ``$EDITOR`` until
        it is valid (returns the parameters changed, None if abandoned);
        otherwise raises :class:`~multidrizzle.editpars.EditorUnavailableError`.
        ``interface`` ('widgets' or 'editor') forces one of the two.
        """
        from multidrizzle.editpars import edit_parameters

        return edit_parameters(self, interface)

    @property
    def output_root(self) -> str:
        """Root name of the products: ``output`` or the default from the inputs."""
        if self.output:
            return str(self.output)
        return self.inputs.default_output if self.inputs else "final"

    def build(self) -> BuildSummary:
        """Read the inputs, make the output grids and every chip's pixel map.

        Returns
        -------
        BuildSummary
            Also logged, and kept as ``md.build_summary``.

        Raises
        ------
        InputError, ParameterError, GridTooLargeError
            Before anything is allocated; the session keeps its previous
            geometry (if any) when build fails.
        """
        started = time.perf_counter()
        notes = self.check_consistency() or []
        inputs = resolve_inputs(self.input)
        if self.restore:
            products.restore_inputs(inputs.files)
        options = self._read_options()
        exposures = [read_exposure(path, options, ivm)
                     for path, ivm in zip(inputs.files, inputs.ivm_files)]
        chips = [chip for exposure in exposures for chip in exposure.chips]
        final_request = self._grid_request("final")
        separate_request = self._grid_request("driz_sep")
        if self.shiftfile:
            shifts = read_shiftfile(self.shiftfile)
            # 'output' frame shifts are in pixels of the grid that will be made
            scale, rotation = output_frame(chips, final_request)
            notes += apply_shifts(exposures, shifts, scale, rotation)
        output_grid = make_output_grid(chips, final_request)
        separate_grid = (output_grid if separate_request == final_request
                         else make_output_grid(chips, separate_request))
        estimated = self._estimate_memory(exposures, output_grid, separate_grid)
        check_memory(estimated, f"output grid {output_grid.nx} x {output_grid.ny} "
                                f"with {len(exposures)} inputs")
        pixel_maps = {chip.name: compute_pixel_map(chip, output_grid, self.stepsize)
                      for chip in chips}
        separate_maps = (pixel_maps if separate_grid is output_grid else
                         {chip.name: compute_pixel_map(chip, separate_grid, self.stepsize)
                          for chip in chips})
        # commit the new geometry only once everything succeeded; results of
        # earlier runs belong to the old geometry and are dropped
        self._reset_results()
        for step in STEPS[1:]:
            self.step_records[step] = StepRecord()
        self.inputs = inputs
        self.exposures = exposures
        self.output_grid = output_grid
        self.separate_grid = separate_grid
        self.pixel_maps = pixel_maps
        self.separate_pixel_maps = separate_maps
        wcs_seconds = sum(m.wcs_seconds for m in pixel_maps.values())
        if separate_maps is not pixel_maps:
            wcs_seconds += sum(m.wcs_seconds for m in separate_maps.values())
        self.build_summary = BuildSummary(
            inputs=[str(p) for p in inputs.files], n_chips=len(chips),
            output_shape=output_grid.shape, scale=output_grid.scale,
            rotation=output_grid.rotation, separate_shape=separate_grid.shape,
            separate_is_final=separate_grid is output_grid, estimated_bytes=estimated,
            seconds=time.perf_counter() - started, pixel_map_wcs_seconds=wcs_seconds,
            notes=notes)
        record = self.step_records["build"]
        record.status, record.seconds, record.reason = "done", self.build_summary.seconds, ""
        log.info("build summary:\n%s", self.build_summary)
        return self.build_summary

    def run(self, static: bool | None = None, skysub: bool | None = None,
            driz_separate: bool | None = None, median: bool | None = None,
            blot: bool | None = None, driz_cr: bool | None = None,
            driz_combine: bool | None = None) -> dict[str, StepRecord]:
        """Run the processing steps in order.

        Each switch is None (use the parameter of the same name) or True /
        False for this call only.  A step that is switched on runs on the
        state the earlier steps left, so a single step can be re-run alone,
        e.g. ``md.run(static=False, skysub=False, driz_separate=False,
        median=True, blot=False, driz_cr=False, driz_combine=False)``.

        A step switched off *in the call* keeps the result of its last run
        for the later steps (``run(skysub=False)`` after a run that
        subtracted the sky keeps subtracting that sky).  A step switched
        off *by its parameter* has no result: ``md.skysub = False`` means
        what AstroDrizzle's ``skysub=False`` means, sky measured for the
        cosmic-ray noise model but not subtracted.  A step that reads a
        stale result (an earlier step whose parameters changed since) is
        run, with a warning naming the stale step.

        Returns
        -------
        dict
            The step records (status, seconds, reason), also logged as a table.

        Raises
        ------
        StepOrderError
            If ``build()`` has not been run (or is stale), or a step is asked
            for whose inputs no earlier step produced.
        """
        overrides = {"static": static, "sky": skysub, "driz_separate": driz_separate,
                     "median": median, "blot": blot, "driz_cr": driz_cr,
                     "driz_combine": driz_combine}
        switches = {step: bool(getattr(self, _SWITCH_PARAMETER[step])) if value is None
                    else bool(value) for step, value in overrides.items()}
        self._require_build()
        self.check_consistency()
        written: list[Path] = []
        prepare_output_folder(self._output_folder(), "output", self.output_root)
        if self.runfile:
            check_runfile(self.runfile)
        with self._run_environment():
            pipeline.prepare_kernels(self, [step for step, on in switches.items() if on])
            if self.workinplace:
                products.archive_inputs([e.filename for e in self.exposures],
                                        preserve=self.preserve, overwrite=self.overwrite)
            for step, switched_on in switches.items():
                if switched_on:
                    self._check_inputs_of(step)
                    written += self._run_step(step)
                else:
                    self._skip_step(step, by_call=overrides[step] is not None)
            if self.clean:
                self._remove(written)
        log.info("step timing:\n%s", self.step_table())
        return {name: self.step_records[name] for name in STEPS}

    def replace_step(self, step: str, function: Callable[["Multidrizzle"], Any]) -> None:
        """Use ``function(md)`` instead of the built-in step (see :mod:`multidrizzle.pipeline`)."""
        if step not in pipeline.DEFAULT_STEPS:
            raise ParameterError(f"replace_step: {step!r} is not a step; expected one of "
                                 f"{', '.join(pipeline.DEFAULT_STEPS)}")
        if not callable(function):
            raise ParameterError(f"replace_step: {function!r} is not callable")
        self.step_functions[step] = function
        self._mark_stale_after(step, f"step {step!r} replaced", include=True)

    def restore_step(self, step: str) -> None:
        """Go back to the built-in function of ``step``."""
        self.step_functions[step] = pipeline.DEFAULT_STEPS[step]
        self._mark_stale_after(step, f"step {step!r} restored", include=True)

    def step_table(self) -> str:
        """The per-step record as a text table."""
        lines = [f"{'step':<14} {'status':<8} {'seconds':>8}  reason"]
        for name in STEPS:
            record = self.step_records[name]
            lines.append(f"{name:<14} {record.status:<8} {record.seconds:>8.2f}  "
                         f"{record.reason}")
        total = sum(r.seconds for r in self.step_records.values())
        lines.append(f"{'total':<14} {'':<8} {total:>8.2f}")
        return "\n".join(lines)

    def read_science(self, chip) -> np.ndarray:
        """A chip's SCI array in processing units (never sky-subtracted)."""
        return chip.read_science()

    def read_dq(self, chip) -> np.ndarray:
        """A chip's DQ array with the ``resetbits`` cleared."""
        dq = chip.read_dq()
        reset = self.bit_flags("resetbits")
        if reset:
            # '~4' (a negative value) resets every bit but 4
            dq &= np.uint32(~reset & 0xFFFFFFFF)
        return dq

    @property
    def final_sci(self) -> np.ndarray | None:
        """Final drizzled science image (``final_units``), or None before the step."""
        return None if self.final is None else self._final_science()

    @property
    def final_wht(self) -> np.ndarray | None:
        return None if self.final is None else self.final.wht

    @property
    def final_ctx(self) -> np.ndarray | None:
        return None if self.final is None else self.final.ctx

    @property
    def single_sci(self) -> list[np.ndarray]:
        """The separately drizzled images (count rates), one per exposure.

        With ``in_memory=False`` they are read from their ``_single_sci``
        files at each access.
        """
        return [loaded(s.sci) for s in self.single_drizzles or []]

    @property
    def single_wht(self) -> list[np.ndarray]:
        return [loaded(s.wht) for s in self.single_drizzles or []]

    @property
    def median_image(self) -> np.ndarray | None:
        """The median image on the separate grid (count rate), or None before the step.

        With ``in_memory=False`` it is read from the ``_med`` file at each access.
        """
        return None if self._median is None else loaded(self._median)

    # ------------------------------------------------------------ internals

    def _reset_results(self) -> None:
        self.static_masks: dict | None = None
        self.sky_values: dict[str, float] = {}
        self.sky_subtracted: bool = False
        # single drizzles, median and blots are arrays, or StoredImage files
        # (in_memory=False) read back when asked for
        self.single_drizzles: list[DrizzledImage] | None = None
        self._median: np.ndarray | StoredImage | None = None
        self.median_counts: np.ndarray | None = None
        self.blotted_images: LoadedImages | None = None
        self.blotted_counts: dict[str, np.ndarray] | None = None
        self.cr_masks: dict[str, np.ndarray] | None = None
        self.final: DrizzledImage | None = None
        self.products: list[Path] = []
        self.crclean_files: list[Path] = []

    def _require_build(self) -> None:
        record = self.step_records["build"]
        if self.output_grid is None:
            raise StepOrderError("run(): build() has not been run; call md.build() first")
        if record.status == "stale":
            raise StepOrderError(f"run(): the geometry is stale ({record.reason}); call "
                                 "md.build() again")

    #: state each step needs, and the step that makes it
    _NEEDS = {"median": ("single_drizzles", "driz_separate"),
              "blot": ("_median", "median"),
              "driz_cr": ("blotted_images", "blot")}

    #: the earlier steps whose results (when they exist) each step reads
    _READS = {"sky": ("static",), "driz_separate": ("static", "sky"),
              "median": ("driz_separate",), "blot": ("median", "sky"),
              "driz_cr": ("blot", "static", "sky"), "driz_combine": ("static", "sky", "driz_cr")}

    def _check_inputs_of(self, step: str) -> None:
        """Refuse a step whose required input is missing; warn about stale inputs."""
        need = self._NEEDS.get(step)
        if need and getattr(self, need[0]) is None:
            record = self.step_records[need[1]]
            state = record.status + (f": {record.reason}" if record.reason else "")
            raise StepOrderError(f"run(): step {step!r} needs the results of step "
                                 f"{need[1]!r}, which has none ({state}); switch it on "
                                 f"(run({_SWITCH_PARAMETER[need[1]]}=True))")
        for earlier in self._READS.get(step, ()):
            record = self.step_records[earlier]
            if record.status == "stale":
                log.warning("step %s uses the result of step %s, which is stale (%s); run "
                            "%s again (run(%s=True)) to bring it up to date", step, earlier,
                            record.reason, earlier, _SWITCH_PARAMETER[earlier])

    def _skip_step(self, step: str, by_call: bool) -> None:
        """Record a step switched off.

        Switched off for this call only (``run(step=False)``), the step keeps
        the result of its last run so that later steps can be re-run on it.
        Switched off by its parameter (``md.driz_cr = False``), the step has
        no result: later steps run without it, and the sky step falls back to
        the reference's ``skysub=False`` meaning (sky values only for
        cosmic-ray rejection, nothing subtracted).
        """
        record = self.step_records[step]
        parameter = _SWITCH_PARAMETER[step]
        record.seconds = 0.0
        if by_call and record.status in ("done", "stale"):
            record.reason = f"not run in this call ({parameter}=False); earlier result kept"
            return
        record.status = "skipped"
        record.reason = f"switched off ({parameter}=False)"
        started = time.perf_counter()
        self._clear_result(step)
        if step == "sky":
            result = pipeline.run_sky(self, skysub=False)
            self.sky_values, self.sky_subtracted = dict(result.values), False
            record.reason += "; sky values kept for cosmic-ray rejection only"
        record.seconds = time.perf_counter() - started

    _RESULT_ATTRIBUTE = {"static": "static_masks", "driz_separate": "single_drizzles",
                         "median": "_median", "blot": "blotted_images",
                         "driz_cr": "cr_masks", "driz_combine": "final"}

    def _clear_result(self, step: str) -> None:
        if step == "sky":
            self.sky_values, self.sky_subtracted = {}, False
            return
        setattr(self, self._RESULT_ATTRIBUTE[step], None)
        if step == "median":
            self.median_counts = None
        elif step == "blot":
            self.blotted_counts = None

    def _run_step(self, step: str) -> list[Path]:
        started = time.perf_counter()
        log.info("step %s ...", step)
        result = self.step_functions[step](self)
        written = self._store(step, result)
        record = self.step_records[step]
        record.status, record.seconds = "done", time.perf_counter() - started
        record.reason = ("" if self.step_functions[step] is pipeline.DEFAULT_STEPS[step]
                         else "user function")
        self._mark_stale_after(step, f"step {step!r} was run again")
        return written

    def _store(self, step: str, result: Any) -> list[Path]:
        """Check a step's result, keep it on the session and write its files."""
        self._check_result(step, result)
        if step == "static":
            self.static_masks = dict(result)
            return self._write_static_masks()
        if step == "sky":
            if isinstance(result, SkyResult):
                self.sky_values, self.sky_subtracted = dict(result.values), result.subtract
            else:
                self.sky_values, self.sky_subtracted = {k: float(v) for k, v in
                                                        dict(result).items()}, True
            return self._write_back_sky()
        if step == "driz_separate":
            return self._store_singles(result)
        if step == "median":
            median = result.median if isinstance(result, MedianResult) else result
            self.median_counts = (result.good_counts if isinstance(result, MedianResult)
                                  else None)
            self._median = self._keep(f"{self.output_root}_med.fits",
                                      np.asarray(median, dtype=np.float32),
                                      lambda: products.median_header(self.separate_grid,
                                                                     self.exposures))
            return self._files_of([self._median])
        if step == "blot":
            return self._store_blots(result)
        if step == "driz_cr":
            self.cr_masks = {name: np.asarray(mask, dtype=bool) for name, mask in result.items()}
            self.crclean_files = []
            return self._write_cosmic_rays()
        self.final = result
        self.products = self._write_final()
        return []

    def _check_result(self, step: str, result: Any) -> None:
        """Refuse a result (of a user's step function, usually) of the wrong form.

        Raises
        ------
        StepResultError
            Naming the step, what is wrong and what was expected.
        """
        chips = self._all_chips()
        chip_names = [chip.name for chip in chips]

        def fail(problem: str) -> None:
            self._fail_result(step, problem)

        def check_per_chip(mapping: Any, what: str, array_shape: bool) -> None:
            if not isinstance(mapping, Mapping):
                fail(f"a {type(mapping).__name__}; expected a dict of {what} keyed by chip "
                     "name")
            missing = [name for name in chip_names if name not in mapping]
            if missing:
                fail(f"no {what} for {', '.join(missing)}")
            if array_shape:
                for chip in chips:
                    shape = np.shape(mapping[chip.name])
                    if shape != chip.shape:
                        fail(f"{what} of shape {shape} for {chip.name}; expected {chip.shape}")

        if step == "static":
            if not isinstance(result, Mapping):
                fail(f"a {type(result).__name__}; expected a dict of masks keyed by chip "
                     "signature")
            for chip in chips:
                if chip.signature not in result:
                    fail(f"no mask for signature {chip.signature} ({chip.name})")
                if np.shape(result[chip.signature]) != chip.shape:
                    fail(f"a mask of shape {np.shape(result[chip.signature])} for "
                         f"{chip.signature}; expected {chip.shape}")
        elif step == "sky":
            values = result.values if isinstance(result, SkyResult) else result
            check_per_chip(values, "sky value", array_shape=False)
            bad = [name for name in chip_names if not np.isfinite(_as_float(values[name]))]
            if bad:
                fail(f"sky values that are not finite numbers for {', '.join(bad)}")
        elif step == "driz_separate":
            if not isinstance(result, Iterable):
                fail(f"a {type(result).__name__}; expected a list of {len(self.exposures)} "
                     "DrizzledImage, one per exposure")
            # each image is checked as it is stored (see _store_singles)
        elif step == "median":
            median = result.median if isinstance(result, MedianResult) else result
            self._check_image(step, median, self.separate_grid, "a median image")
        elif step == "blot":
            if not isinstance(result, Iterable):
                fail(f"a {type(result).__name__}; expected a dict of blotted images keyed "
                     "by chip name")
            # each image is checked as it is stored (see _store_blots)
        elif step == "driz_cr":
            check_per_chip(result, "cosmic-ray mask", array_shape=True)
        elif not isinstance(result, DrizzledImage):
            fail(f"a {type(result).__name__}; expected a DrizzledImage")
        else:
            self._check_image(step, result.sci, self.output_grid, "a final science image")
            self._check_image(step, result.wht, self.output_grid, "a final weight image")

    def _fail_result(self, step: str, problem: str) -> None:
        function = self.step_functions[step]
        raise StepResultError(f"step {step!r} ({getattr(function, '__name__', function)}) "
                              f"returned {problem}")

    def _check_image(self, step: str, image: Any, grid: OutputGrid, what: str) -> None:
        shape = np.shape(image)
        if shape != grid.shape:
            self._fail_result(step, f"{what} of shape {shape}; expected the grid's "
                                    f"{grid.shape}")

    def _check_single(self, single: Any) -> None:
        if not isinstance(single, DrizzledImage):
            self._fail_result("driz_separate", f"a {type(single).__name__} among the separate "
                                               "drizzles; expected DrizzledImage")
        self._check_image("driz_separate", single.sci, self.separate_grid,
                          "a single drizzled image")
        self._check_image("driz_separate", single.wht, self.separate_grid,
                          "a single weight image")

    def _final_science(self) -> np.ndarray:
        if self.final_units == "counts":
            return self.final.sci * np.float32(self.final.exptime)
        return self.final.sci

    def _all_chips(self):
        return [chip for exposure in self.exposures for chip in exposure.chips]

    def _output_folder(self) -> Path:
        return Path(self.output_root).parent

    def _chip_root(self, chip) -> str:
        stem = chip.filename.name.rsplit(".fits", 1)[0]
        return str(self._output_folder() / f"{stem}_sci{chip.extver}")

    def _keep(self, path: str, data: np.ndarray,
              make_header: Callable[[], fits.Header]) -> np.ndarray | StoredImage:
        """An intermediate image as the session keeps it: the array itself
        (``in_memory=True``), or its file, written now with the header
        ``make_header()`` gives."""
        return data if self.in_memory else store_image(path, data, make_header())

    @staticmethod
    def _files_of(images) -> list[Path]:
        return [image.path for image in images if isinstance(image, StoredImage)]

    def _store_blots(self, result) -> list[Path]:
        """Keep the blotted medians as they come (a dict, or BlottedChip one by one)."""
        blotted = (BlottedChip(name, image) for name, image in result.items()) \
            if isinstance(result, Mapping) else result
        chips = {chip.name: chip for chip in self._all_chips()}
        images: dict[str, np.ndarray | StoredImage] = {}
        counts: dict[str, np.ndarray] = {}
        for item in blotted:
            chip = chips.get(item.name)
            if chip is None:
                self._fail_result("blot", f"a blotted image for {item.name!r}, which is "
                                          "not an input chip")
            if np.shape(item.image) != chip.shape:
                self._fail_result("blot", f"a blotted image of shape {np.shape(item.image)} "
                                          f"for {chip.name}; expected {chip.shape}")
            images[chip.name] = self._keep(
                f"{self._chip_root(chip)}_blt.fits", np.asarray(item.image, dtype=np.float32),
                lambda: products.blot_header(chip, sky=pipeline.blot_sky(self, chip)))
            if item.counts is not None:
                counts[chip.name] = item.counts
        missing = [name for name in chips if name not in images]
        if missing:
            self._fail_result("blot", f"no blotted image for {', '.join(missing)}")
        self.blotted_images = LoadedImages(images)
        self.blotted_counts = counts or None
        return self._files_of(images.values())

    def _store_singles(self, singles) -> list[Path]:
        """Keep the separate drizzles as they come (a list, or a generator that
        makes them one at a time, so that only one is ever in memory)."""
        self.single_drizzles = None
        kept: list[DrizzledImage] = []
        for single in singles:
            if len(kept) == len(self.exposures):
                self._fail_result("driz_separate", f"more than {len(self.exposures)} "
                                  "separate drizzles; expected one per exposure")
            self._check_single(single)
            exposure = self.exposures[len(kept)]
            root = self._output_folder() / exposure.filename.name.rsplit(".fits", 1)[0]
            headers = (None, None) if self.in_memory else products.single_headers(
                self.separate_grid, exposure, self.sky_values)
            kept.append(DrizzledImage(
                sci=self._keep(f"{root}_single_sci.fits", single.sci, lambda: headers[0]),
                wht=self._keep(f"{root}_single_wht.fits", single.wht, lambda: headers[1]),
                ctx=single.ctx, exptime=single.exptime, n_images=single.n_images))
        if len(kept) != len(self.exposures):
            self._fail_result("driz_separate", f"{len(kept)} separate drizzles; expected "
                              f"{len(self.exposures)}, one per exposure")
        self.single_drizzles = kept
        return self._files_of(image for single in kept for image in (single.sci, single.wht))

    def _write_static_masks(self) -> list[Path]:
        if self.in_memory or not self.static_masks:
            return []
        return [write_static_mask(mask, signature, self._output_folder())
                for signature, mask in self.static_masks.items()]

    def _write_cosmic_rays(self) -> list[Path]:
        """Write the ``_crmask`` files (intermediate) and ``_crclean`` images (kept by clean)."""
        written = []
        for chip in self._all_chips():
            mask = self.cr_masks[chip.name]
            if self.driz_cr_corr:
                root = self._chip_root(chip)
                written.append(write_crmask(f"{root}_crmask.fits", mask))
                clean = cosmic_ray_clean(self.read_science(chip),
                                         self.blotted_images[chip.name], mask)
                # AstroDrizzle's clean keeps the cosmic-ray cleaned images
                self.crclean_files.append(
                    write_crclean(f"{root}_crclean.fits", clean, products.crclean_header(
                        chip, sky=self.sky_values.get(chip.name, 0.0))))
            if self.workinplace and self.crbit:
                products.write_back_to_input(chip.filename, chip.extver,
                                             dq=update_dq(chip.read_dq(), mask, self.crbit))
        return [p for p in written if p is not None]

    def _write_back_sky(self) -> list[Path]:
        if self.workinplace:
            for chip in self._all_chips():
                products.write_back_to_input(chip.filename, chip.extver,
                                             sky=self.sky_values.get(chip.name, 0.0))
        return []

    def _write_final(self) -> list[Path]:
        suffix = "drc" if any(e.is_cte_corrected for e in self.exposures) else "drz"
        header = products.product_header(
            self.output_grid, exptime=self.final.exptime, n_images=self.final.n_images,
            units=self.final_units,
            parameters={k: repr(v) for k, v in self.parameters_dict().items()},
            exposures=self.exposures,
            sky_values=self.sky_values, sky_subtracted=self.sky_subtracted)
        written = products.write_drizzle_product(
            self.output_root, self._final_science(), self.final.wht, self.final.ctx,
            header, build=bool(self.build_mef), suffix=suffix)
        for path in written:
            log.info("wrote %s", path)
        return written

    def _remove(self, paths: list[Path]) -> None:
        """``clean=True``: remove the intermediate files, and the results kept in them."""
        for path in paths:
            Path(path).unlink(missing_ok=True)
            log.debug("clean: removed %s", path)
        for step, attribute in (("driz_separate", "single_drizzles"), ("median", "_median"),
                                ("blot", "blotted_images")):
            if getattr(self, attribute) is not None and not self.in_memory:
                setattr(self, attribute, None)
                record = self.step_records[step]
                record.status, record.reason = "removed", "files removed by clean=True"

    @contextlib.contextmanager
    def _run_environment(self):
        """Log to ``runfile`` and use ``num_cores`` threads for the duration of a run."""
        handler = None
        level = log.level
        if self.runfile:
            handler = logging.FileHandler(self.runfile, mode="a", encoding="utf-8")
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
            handler.setLevel(logging.INFO)
            log.addHandler(handler)
            if log.getEffectiveLevel() > logging.INFO:
                log.setLevel(logging.INFO)  # the run log holds every INFO message
        threads = numba.get_num_threads()
        if self.num_cores:
            numba.set_num_threads(max(1, min(int(self.num_cores),
                                             numba.config.NUMBA_NUM_THREADS)))
        try:
            yield
        finally:
            numba.set_num_threads(threads)
            if handler is not None:
                log.removeHandler(handler)
                log.setLevel(level)
                handler.close()

    def _apply_mdriztab(self) -> list[str]:
        """Set the parameters of the MDRIZTAB row that fits the inputs; returns their names."""
        files = resolve_inputs(self.input).files
        return apply_mdriztab(self, read_mdriztab(files[0], len(files)))

    def _read_options(self) -> ReadOptions:
        group = parse_group(self.group)
        return ReadOptions(
            group=tuple(group) if group is not None else None, wcskey=self.wcskey or "",
            coeffs=bool(self.coeffs), proc_unit=self.proc_unit, gain=self.gain,
            gainkeyword=self.gainkeyword or "", rdnoise=self.rdnoise,
            rnkeyword=self.rnkeyword or "", exptime=self.exptime,
            expkeyword=self.expkeyword or "")

    def _grid_request(self, prefix: str) -> GridRequest:
        """The grid asked for by ``final_*`` or ``driz_sep_*`` (+ MultiDrizzle's ra/dec/refimage)."""
        custom = self.final_wcs if prefix == "final" else self.driz_sep_wcs

        def value(name: str):
            return getattr(self, f"{prefix}_{name}") if custom else None

        refimage = value("refimage") or self.refimage or ""
        return GridRequest(
            scale=value("scale"), rotation=value("rot"),
            ra=value("ra") if value("ra") is not None else self.ra,
            dec=value("dec") if value("dec") is not None else self.dec,
            nx=value("outnx"), ny=value("outny"), refimage=refimage)

    def _estimate_memory(self, exposures: list[Exposure], grid: OutputGrid,
                         separate: OutputGrid) -> int:
        """Bytes of the largest set of arrays held at once during a run.

        With ``in_memory=False`` the separate drizzles and blots live in files
        and one exposure's worth is in memory at a time; with True all of them
        stay.
        """
        n_inputs = len(exposures)
        context_planes = (n_inputs + 31) // 32 if self.context else 0
        final_bytes = grid.nx * grid.ny * (2 * _FLOAT32 + _FLOAT32 * context_planes)
        kept_singles = n_inputs if self.in_memory else 1
        separate_bytes = separate.nx * separate.ny * 2 * _FLOAT32 * kept_singles
        median_bytes = separate.nx * separate.ny * _FLOAT32
        chip_sizes = [c.shape[0] * c.shape[1] for e in exposures for c in e.chips]
        blot_bytes = _FLOAT32 * (sum(chip_sizes) if self.in_memory else max(chip_sizes))
        chip_bytes = max(chip_sizes) * (_PIXMAP_BYTES_PER_PIXEL + 4 * _FLOAT32)
        return int(final_bytes + separate_bytes + median_bytes + blot_bytes + chip_bytes)

    def _mark_stale_after(self, step: str, reason: str, include: bool = False) -> None:
        index = STEPS.index(step)
        for later in STEPS[index if include else index + 1:]:
            record = self.step_records[later]
            if record.status == "done":
                record.status, record.reason = "stale", reason

    @observe("mdriztab")
    def _mdriztab_switched(self, change) -> None:
        """``md.mdriztab = True`` after construction applies the table at once."""
        if change["new"] and getattr(self, "inputs", None) is not None:
            self._apply_mdriztab()

    @observe(All)
    def _parameter_changed(self, change) -> None:
        """Mark the first step a parameter changes, and every later step, stale."""
        records = getattr(self, "step_records", None)
        if records is None:
            return
        name = change["name"]
        if name in _STALE_FROM:
            step = _STALE_FROM[name]
        else:
            step = _STEP_OF_TAG.get(self.trait_metadata(name, "step"))
        if step is not None:
            self._mark_stale_after(step, f"parameter {name!r} changed", include=True)

"""The ``Multidrizzle`` session: parameters, state of each step, and the plan.

This is the only module that knows traitlets beyond the parameter
declarations: it holds the parameters (inherited from
:class:`~multidrizzle.session.parameters.DrizzleParameters`), the results and status
of every step, and marks steps stale when a parameter they depend on changes.
"""

from __future__ import annotations

import contextlib
import functools
import datetime
import html
import logging
import platform
import signal
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Iterable, Mapping
from typing import Any, Callable

import numba
import numpy as np
from astropy.io import fits
from astropy.nddata import CCDData, StdDevUncertainty
from astropy.table import Table
from astropy.wcs import WCS

from traitlets import All, observe

from multidrizzle import __version__
from multidrizzle.session import checks, pipeline
from multidrizzle.session.execution import Executor, make_executor, prepare_worker
from multidrizzle.session.tasks import estimate_run, make_run_plan, tile_size_for
from multidrizzle.model.plan import RunPlan
from multidrizzle.model.coverage import Coverage, exposure_coverage
from multidrizzle.session.console import Console
from multidrizzle.errors import (
    ParameterError, RunInterrupted, StepOrderError, UnsupportedError,
)
from multidrizzle.model.geometry import (
    GridRequest, OutputGrid, PixelMap, check_memory, compute_pixel_map, make_output_grid,
)
from multidrizzle.io import products
from multidrizzle.io.inputs import (
    InputList, check_runfile, parse_group, prepare_output_folder, resolve_inputs,
)
from multidrizzle.io import manifest
from multidrizzle.io.atomic import FileSet
from multidrizzle.io.layout import OutputLayout
from multidrizzle.io.intermediates import (
    LoadedImages, ScaledImage, StoredImage, loaded, store_image,
)
from multidrizzle.io.runlog import PACKAGE_LOGGER, RunLog
from multidrizzle.session.mdriztab import apply_mdriztab, read_mdriztab
from multidrizzle.model import Exposure, ReadOptions, read_exposure
from multidrizzle.session.parameters import (
    STEP_TITLES, DrizzleParameters, format_parameter_value, help_text,
)
from multidrizzle.progress import for_step, reported, tracked
from multidrizzle.io.shiftfile import apply_shifts, output_frame, read_shiftfile
from multidrizzle.steps.drizzle import DrizzledImage, weight_scale
from multidrizzle.steps.sky import SkyResult

__all__ = ["Multidrizzle", "StepRecord", "BuildSummary", "STEPS", "astrodrizzle"]


log = logging.getLogger(__name__)

#: ``build`` and the processing steps, in order (see :data:`multidrizzle.session.pipeline.STEPS`).
STEPS = pipeline.STEP_NAMES

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
    warnings: list[str] = field(default_factory=list)
    coverage: Coverage | None = None

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
    configobj : str, path or mapping, optional
        Parameter file written by :meth:`save_pars`, or one of drizzlepac's
        ``.cfg`` files (its shipped ``astrodrizzle.cfg``) unchanged, or a
        configobj mapping; its values are applied before the keyword
        arguments.
    **params
        Any parameter by name (see :func:`multidrizzle.help`).

    Examples
    --------
    >>> md = Multidrizzle("*flt.fits", output="final", final_scale=0.05)  # doctest: +SKIP
    >>> md.build()                                                         # doctest: +SKIP
    """

    # The session's state, declared once: any other name set on a session
    # that is not a parameter is refused as a typo (see DrizzleParameters).
    step_records: dict[str, StepRecord]
    step_functions: dict[str, Callable]
    inputs: InputList | None
    exposures: list[Exposure]
    output_grid: OutputGrid | None
    separate_grid: OutputGrid | None
    pixel_maps: dict[str, PixelMap]
    separate_pixel_maps: dict[str, PixelMap]
    build_summary: BuildSummary | None
    _kept: dict[str, pipeline.Kept]
    _final_in_progress: products.ProductInProgress | None
    executor_is_remote: bool
    run_warnings: list[str]
    console: Console | None
    _active_console: Console | None

    def __init__(self, input: Any = None, output: str | None = None, *,
                 editpars: bool = False,
                 configobj: str | Path | Mapping[str, Any] | None = None,
                 **params: Any) -> None:
        super().__init__()
        self.step_records: dict[str, StepRecord] = {name: StepRecord() for name in STEPS}
        #: A Console that shows build() and run() (the command line sets its
        #: own); None: each call makes one from ``verbose``.
        self.console: Console | None = None
        self._active_console: Console | None = None
        self.inputs: InputList | None = None
        self.exposures: list[Exposure] = []
        self.output_grid: OutputGrid | None = None
        self.separate_grid: OutputGrid | None = None
        self.pixel_maps: dict[str, PixelMap] = {}
        self.separate_pixel_maps: dict[str, PixelMap] = {}
        self.build_summary: BuildSummary | None = None
        self._kept: dict[str, pipeline.Kept] = {}
        #: The final product being written in place by the final drizzle's strips
        #: (``in_memory=False``), until it is committed or discarded.
        self._final_in_progress = None
        self.executor_is_remote = False
        #: Warnings about the last build() and run(): degenerate inputs, weak
        #: cosmic-ray detection, an empty product (also logged; RunWarning).
        self.run_warnings: list[str] = []
        self.step_functions: dict[str, Callable] = dict(pipeline.DEFAULT_STEPS)
        if configobj is not None:
            self.update_from_configobj(configobj)
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
        """Edit the parameters interactively; see :func:`multidrizzle.session.editpars.edit_parameters`.

        In Jupyter, shows a widget form (returned; the session changes on
        *Apply*); in a terminal, opens the parameter file in ``$EDITOR`` until
        it is valid (returns the parameters changed, None if abandoned);
        otherwise raises :class:`~multidrizzle.session.editpars.EditorUnavailableError`.
        ``interface`` ('widgets' or 'editor') forces one of the two.
        """
        from multidrizzle.session.editpars import edit_parameters

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

        Notes
        -----
        Shows a progress bar of its parts (reading the inputs, the grid, the
        pixel maps) as ``verbose`` says.
        """
        with self._showing("build", ["inputs", "grid", "pixel maps"]):
            return self._build()

    def _build(self) -> BuildSummary:
        started = time.perf_counter()
        self._step_started("inputs")
        notes = self.check_consistency() or []
        inputs = resolve_inputs(self.input)
        # every check that needs no pixels comes first: nothing is written and no
        # input is touched (restore, workinplace) before they all pass
        self.run_warnings = []
        checks.check_paths(self, inputs.files)
        checks.check_step_parameters(self, len(inputs.files), self._switched_on())
        options = self._read_options()
        if self.restore:
            products.restore_inputs(inputs.files)
        exposures = [read_exposure(path, options, ivm) for path, ivm in tracked(
            list(zip(inputs.files, inputs.ivm_files)), self._progress_of("inputs"),
            label=lambda pair: Path(pair[0]).name)]
        checks.check_exposures(self, exposures)
        chips = [chip for exposure in exposures for chip in exposure.chips]
        self._step_started("grid")
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
        self._step_started("pixel maps")
        pixel_maps = {chip.name: compute_pixel_map(chip, output_grid, self.stepsize)
                      for chip in self._tracked_chips(chips, "pixel maps")}
        separate_maps = (pixel_maps if separate_grid is output_grid else
                         {chip.name: compute_pixel_map(chip, separate_grid, self.stepsize)
                          for chip in self._tracked_chips(chips, "pixel maps")})
        coverage = exposure_coverage([[pixel_maps[chip.name] for chip in exposure.chips]
                                      for exposure in exposures], output_grid.shape)
        checks.warn_about_overlap(self, exposures, coverage)
        notes.append("coverage: " + checks.coverage_text(coverage))
        # commit the new geometry only once everything succeeded; results of
        # earlier runs belong to the old geometry and are dropped
        self._kept = {}
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
        plan_lines = self._plan_lines()
        self.build_summary = BuildSummary(
            inputs=[str(p) for p in inputs.files], n_chips=len(chips),
            output_shape=output_grid.shape, scale=output_grid.scale,
            rotation=output_grid.rotation, separate_shape=separate_grid.shape,
            separate_is_final=separate_grid is output_grid, estimated_bytes=estimated,
            seconds=time.perf_counter() - started, pixel_map_wcs_seconds=wcs_seconds,
            notes=plan_lines + notes, warnings=list(self.run_warnings), coverage=coverage)
        record = self.step_records["build"]
        record.status, record.seconds, record.reason = "done", self.build_summary.seconds, ""
        log.info("build summary:\n%s", self.build_summary)
        return self.build_summary

    def run(self, static: bool | None = None, skysub: bool | None = None,
            driz_separate: bool | None = None, median: bool | None = None,
            blot: bool | None = None, driz_cr: bool | None = None,
            driz_combine: bool | None = None, *,
            only: str | Iterable[str] | None = None,
            client: Any = None) -> dict[str, StepRecord]:
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

        While it runs, a progress bar of the steps (and of the chips of long
        steps) and the warnings are shown as ``verbose`` says, and every
        message goes to ``runfile``: a new file for each run, which starts
        with the version, date, inputs, output grid and every parameter and
        ends with the step table and the files written (an earlier log of
        the same name is kept as ``runfile.1``, ``.2``, ... up to ``.9``).

        Parameters
        ----------
        static, skysub, driz_separate, median, blot, driz_cr, driz_combine : bool, optional
            Switch a step on or off for this call (None: its parameter says).
        only : str or iterable of str, optional
            Run these steps (names as in ``md.step_records``: ``'median'``,
            ``['blot', 'driz_cr']``) and switch every other one off for this
            call; not together with the switches.
        client : distributed.Client, optional
            Run the tasks on this Dask client's cluster (instead of what
            ``scheduler`` says); the client is left open.

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
        if only is not None:
            overrides = self._only(only, overrides)
        switches = {name: bool(getattr(self, step.switch)) if overrides[name] is None
                    else bool(overrides[name]) for name, step in pipeline.STEPS.items()}
        self._require_build()
        self.check_consistency()
        steps_to_run = [step for step, switched_on in switches.items() if switched_on]
        # parameters may have changed since build(): check again before writing
        self.run_warnings = list(self.build_summary.warnings)
        checks.check_paths(self, [exposure.filename for exposure in self.exposures])
        checks.check_step_parameters(self, len(self.exposures), steps_to_run)
        written: list[Path] = []
        prepare_output_folder(self._output_folder(), "output", self.output_root)
        if self.runfile:
            check_runfile(self.runfile)
        remote = client is not None or self.scheduler != "local"
        if remote and self.in_memory:
            raise ParameterError("in_memory=True keeps the intermediates in this process; "
                                 f"a run on Dask (scheduler={self.scheduler!r}) keeps them "
                                 "in files that every worker reads: set in_memory=False")
        if "driz_cr" in steps_to_run and self.build_summary.coverage is not None:
            checks.warn_about_cosmic_ray_depth(self, len(self.exposures),
                                               self.build_summary.coverage)
        plan = make_run_plan(self)
        with self._showing("run", steps_to_run), self._run_environment(steps_to_run,
                                                                        written), \
                self._interruptible(), make_executor(self.scheduler, self.num_cores, client,
                              prepare=functools.partial(
                                  prepare_worker, pipeline.kernel_variants(
                                      self, pipeline.default_steps_of(self, steps_to_run)))
                              ) as executor:
            self.executor_is_remote = executor.remote
            self._remove_leftovers()
            pipeline.prepare_kernels(self, steps_to_run)
            if self.workinplace:
                products.archive_inputs([e.filename for e in self.exposures],
                                        preserve=self.preserve, overwrite=self.overwrite)
            written_by: dict[str, list[Path]] = {}
            for step, switched_on in switches.items():
                if switched_on:
                    self._step_started(step)
                    self._check_inputs_of(step)
                    written_by[step] = self._run_step(step, plan, executor)
                    written += written_by[step]
                    if self.clean:
                        self._remove(self._files_read_no_more(step, steps_to_run,
                                                              written_by))
                else:
                    self._skip_step(step, by_call=overrides[step] is not None)
            if self.clean:
                self._remove(written)
        log.info("step timing:\n%s", self.step_table())
        return {name: self.step_records[name] for name in STEPS}

    def replace_step(self, step: str, function: Callable[..., Any], *,
                     form: str | None = None) -> None:
        """Use ``function`` instead of the built-in function of ``step``.

        ``function(inputs)`` (or ``function(inputs, progress=...)``) takes the
        step's frozen inputs and returns its result, as the built-in function
        does (see :mod:`multidrizzle.session.pipeline` for each step's inputs and
        result).  Such a function is recognised by its first parameter, named
        ``inputs`` or annotated with the step's inputs class (``SkyInputs``...),
        or by ``form='inputs'``.  Any other function is taken to be of the
        earlier form, ``function(md)`` taking the session: it still works but
        is deprecated (a :class:`DeprecationWarning`), and runs only in this
        process.

        Raises
        ------
        ParameterError
            For an unknown step or a function that is not callable.
        """
        self.step_functions[step] = pipeline.user_function(step, function, self, form)
        self._mark_stale_after(step, f"step {step!r} replaced", include=True)

    def restore_step(self, step: str) -> None:
        """Go back to the built-in function of ``step``."""
        if step not in pipeline.STEPS:
            raise ParameterError(f"restore_step: {step!r} is not a step; expected one of "
                                 f"{', '.join(pipeline.STEPS)}")
        self.step_functions[step] = pipeline.DEFAULT_STEPS[step]
        self._mark_stale_after(step, f"step {step!r} restored", include=True)

    def report_progress(self, step: str, done: int, total: int, label: str = "") -> None:
        """Report the progress of ``step``: ``done`` of ``total`` units, ``label`` the last.

        The steps' progress callbacks end here (see :mod:`multidrizzle.progress`);
        a user's step function may call it too.  Shown by the console of
        the ``build()`` or ``run()`` under way, if any; otherwise nothing
        happens.
        """
        if self._active_console is not None:
            self._active_console.report(step, done, total, label)

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
        """A chip's SCI array in processing units (never sky-subtracted): ``chip.read_science()``."""
        return chip.read_science()

    def read_dq(self, chip) -> np.ndarray:
        """A chip's DQ array with the ``resetbits`` cleared: ``chip.read_dq()``."""
        return chip.read_dq()

    # ------------------------------------------------------------- state

    def _result(self, step: str) -> Any:
        kept = self._kept.get(step)
        return None if kept is None else kept.result

    @property
    def static_masks(self) -> dict[tuple, np.ndarray] | None:
        """The static masks by chip signature (True = bad), or None before the step."""
        return self._result("static")

    @property
    def sky(self) -> SkyResult | None:
        """The sky step's result (values, whether subtracted, method), or None."""
        return self._result("sky")

    @property
    def sky_values(self) -> dict[str, float]:
        """The sky of every chip in its native units (MDRIZSKY); empty before the step."""
        return {} if self.sky is None else dict(self.sky.values)

    @property
    def sky_subtracted(self) -> bool:
        """Whether the later steps subtract ``sky_values``."""
        return self.sky is not None and bool(self.sky.subtract)

    @property
    def single_drizzles(self) -> list[DrizzledImage] | None:
        """The separate drizzles (arrays, or images kept in files), or None."""
        return self._result("driz_separate")

    @property
    def stored_median(self) -> np.ndarray | StoredImage | None:
        """The median as kept: an array (``in_memory``) or its file, not read."""
        median = self._result("median")
        return None if median is None else median.image

    @property
    def median_counts(self) -> np.ndarray | None:
        """How many exposures entered each median pixel (None when unknown)."""
        median = self._result("median")
        return None if median is None else median.counts

    @property
    def blotted_images(self) -> LoadedImages | None:
        """The blotted medians by chip name (read from their files when looked up)."""
        blots = self._result("blot")
        return None if blots is None else blots.images

    @property
    def blotted_counts(self) -> LoadedImages | None:
        """Exposures behind each blotted pixel, by chip name (None when unknown): a
        mapping whose arrays are unpacked when looked up."""
        blots = self._result("blot")
        return None if blots is None else blots.counts

    @property
    def cr_masks(self) -> LoadedImages | None:
        """The cosmic-ray masks by chip name (True = cosmic ray), or None; with
        ``in_memory=False`` each is read from its ``_crmask`` file when looked up."""
        cosmic_rays = self._result("driz_cr")
        return None if cosmic_rays is None else LoadedImages(cosmic_rays.masks)

    @property
    def crclean_files(self) -> list[Path]:
        """The ``_crclean`` images written (``driz_cr_corr``)."""
        cosmic_rays = self._result("driz_cr")
        return [] if cosmic_rays is None else list(cosmic_rays.crclean_files)

    @property
    def final(self) -> DrizzledImage | None:
        """The final drizzle (count rates), or None before the step."""
        return self._result("driz_combine")

    @property
    def products(self) -> list[Path]:
        """The product files of the last final drizzle."""
        kept = self._kept.get("driz_combine")
        return [] if kept is None else list(kept.products)

    @property
    def layout(self) -> OutputLayout:
        """Where the files of a run go (see :class:`multidrizzle.io.layout.OutputLayout`)."""
        return OutputLayout(self.output_root)

    @property
    def final_sci(self) -> np.ndarray | None:
        """Final drizzled science image (``final_units``), or None before the step."""
        return None if self.final is None else self._final_science()

    @property
    def final_wht(self) -> np.ndarray | None:
        """Final weight image, or None before the step (read from the product when
        it is kept there)."""
        return None if self.final is None else loaded(self.final.wht)

    @property
    def final_error(self) -> np.ndarray | None:
        """The final ERR image: standard deviation of ``final_sci`` (``final_units``), or None.

        Propagated from the inputs' variance when ``final_err`` is True (see
        ``docs/steps.rst``, the error plane); NaN where the weight is 0.  None
        before the final drizzle, with ``final_err=False``, or from a user's
        final-drizzle function that makes none.
        """
        if self.final is None or self.final.err is None:
            return None
        return self._final_science(image="err")

    @property
    def final_ctx(self) -> np.ndarray | None:
        """Final context image ``(planes, ny, nx)``, or None."""
        return None if self.final is None or self.final.ctx is None else \
            loaded(self.final.ctx)

    @property
    def final_has_valid_pixel(self) -> bool | None:
        """Whether some pixel of the final product has a positive weight (None before
        the final drizzle); False when every input pixel was masked."""
        return None if self.final is None else _has_valid_pixel(self.final.wht)

    @property
    def final_image(self) -> CCDData | None:
        """The final product as an :class:`astropy.nddata.CCDData`, or None before the step.

        ``data`` is ``md.final_sci`` (in ``final_units``; the same array, not a
        copy), ``wcs`` the output grid's WCS, ``unit`` the product's BUNIT as an
        astropy unit (``ELECTRONS/S`` -> ``electron / s``; HST's ``COUNTS``
        -> ``count``), ``mask`` True where the weight is 0 (no data), and
        ``meta`` the product's primary and SCI header keywords without the
        WCS ones (those are in ``wcs``), as written to the file except DATE,
        FILENAME and the output names.  ``uncertainty`` is the ERR image as a
        :class:`~astropy.nddata.StdDevUncertainty` when there is one
        (``final_err``).
        """
        if self.final is None:
            return None
        headers = self._product_headers()
        meta = headers.primary.copy()
        wcs_keywords = set(self.output_grid.wcs.to_header())
        for card in headers.science.cards:
            if card.keyword not in wcs_keywords and card.keyword not in ("COMMENT", "HISTORY"):
                meta[card.keyword] = (card.value, card.comment)
        error = self.final_error
        return CCDData(self._final_science(), wcs=self.output_grid.wcs.deepcopy(),
                       unit=products.bunit_unit(headers.science["BUNIT"]),
                       mask=self.final_wht == 0, meta=meta,
                       uncertainty=None if error is None else StdDevUncertainty(error))

    @property
    def sky_table(self) -> Table | None:
        """The sky of every chip as an :class:`astropy.table.Table`, or None before the sky step.

        One row per chip: ``file``, ``extver``, ``chip`` (its name),
        ``sky`` (in the chip's native units, MDRIZSKY), ``units`` (the
        chip's BUNIT) and ``subtracted`` (False when the later steps do not
        subtract it: ``skysub=False``, where it serves only the cosmic-ray
        noise model, or a sky file marked as already applied).
        """
        if not self.sky_values:
            return None
        chips = self._all_chips()
        return Table({"file": [chip.filename.name for chip in chips],
                      "extver": [int(chip.extver) for chip in chips],
                      "chip": [chip.name for chip in chips],
                      "sky": [float(self.sky_values.get(chip.name, 0.0)) for chip in chips],
                      "units": [chip.bunit for chip in chips],
                      "subtracted": [bool(self.sky_subtracted)] * len(chips)})

    @property
    def single_sci(self) -> list[np.ndarray]:
        """The separately drizzled images (count rates), one per exposure.

        Each is the cutout of the separate grid that its exposure reaches,
        ``md.single_drizzles[i].box`` (its ``_single_sci`` file carries the
        cutout's WCS); ``md.single_drizzles[i].on_grid(md.separate_grid.shape)``
        gives it on the whole grid.  With ``in_memory=False`` they are read
        from their files at each access.
        """
        return [loaded(s.sci) for s in self.single_drizzles or []]

    @property
    def single_wht(self) -> list[np.ndarray]:
        """The weights of the separate drizzles, cutouts as :attr:`single_sci`."""
        return [loaded(s.wht) for s in self.single_drizzles or []]

    def singles_on_grid(self, image: str = "sci") -> list[np.ndarray]:
        """The separate drizzles (``'sci'``) or their weights (``'wht'``) on the whole
        separate grid, one array each: for small grids (a mosaic's would not fit)."""
        fill = 0.0 if image == "wht" or self.driz_sep_fillval is None else \
            float(self.driz_sep_fillval)
        return [single.on_grid(self.separate_grid.shape, image, fill)
                for single in self.single_drizzles or []]

    @property
    def median_image(self) -> np.ndarray | None:
        """The median image on the separate grid (count rate), or None before the step.

        With ``in_memory=False`` it is read from the ``_med`` file at each access.
        """
        return None if self.stored_median is None else loaded(self.stored_median)

    # ------------------------------------------------------------ internals

    def _require_build(self) -> None:
        record = self.step_records["build"]
        if self.output_grid is None:
            raise StepOrderError("run(): build() has not been run; call md.build() first")
        if record.status == "stale":
            raise StepOrderError(f"run(): the geometry is stale ({record.reason}); call "
                                 "md.build() again")

    def _only(self, only: str | Iterable[str], overrides: dict[str, bool | None]
              ) -> dict[str, bool | None]:
        """``run(only=...)``: these steps on, every other off, for one call."""
        names = [only] if isinstance(only, str) else list(only)
        unknown = [name for name in names if name not in pipeline.STEPS]
        if unknown:
            raise ParameterError(f"run(only=...): {', '.join(map(repr, unknown))} is not a "
                                 f"step; expected some of {', '.join(pipeline.STEPS)}")
        given = [name for name, value in overrides.items() if value is not None]
        if given:
            raise ParameterError("run(): give either only= or the step switches, not both "
                                 f"(switches given for {', '.join(given)})")
        return {name: name in names for name in overrides}

    def _check_inputs_of(self, name: str) -> None:
        """Refuse a step whose required input is missing; warn about stale inputs."""
        step = pipeline.STEPS[name]
        for needed in step.needs:
            if needed not in self._kept:
                record = self.step_records[needed]
                state = record.status + (f": {record.reason}" if record.reason else "")
                raise StepOrderError(
                    f"run(): step {name!r} needs the results of step {needed!r}, which has "
                    f"none ({state}); switch it on "
                    f"(run({pipeline.STEPS[needed].switch}=True))")
        for earlier in step.reads:
            record = self.step_records[earlier]
            if record.status == "stale":
                log.warning("step %s uses the result of step %s, which is stale (%s); run "
                            "%s again (run(%s=True)) to bring it up to date", name, earlier,
                            record.reason, earlier, pipeline.STEPS[earlier].switch)

    def _skip_step(self, name: str, by_call: bool) -> None:
        """Record a step switched off.

        Switched off for this call only (``run(step=False)``), the step keeps
        the result of its last run so that later steps can be re-run on it.
        Switched off by its parameter (``md.driz_cr = False``), the step has
        no result: later steps run without it, and the sky step falls back to
        the reference's ``skysub=False`` meaning (sky values only for
        cosmic-ray rejection, nothing subtracted).
        """
        step = pipeline.STEPS[name]
        record = self.step_records[name]
        record.seconds = 0.0
        if by_call and record.status in ("done", "stale"):
            record.reason = f"not run in this call ({step.switch}=False); earlier result kept"
            return
        record.status = "skipped"
        record.reason = f"switched off ({step.switch}=False)"
        started = time.perf_counter()
        self._kept.pop(name, None)
        if step.when_off is not None:
            self._kept[name] = pipeline.Kept(step.when_off(self))
            record.reason += "; sky values kept for cosmic-ray rejection only"
        record.seconds = time.perf_counter() - started

    def _run_step(self, name: str, plan: RunPlan, executor: Executor) -> list[Path]:
        """Run one step on the session's state; returns the intermediate files written.

        A built-in step is cut into the plan's tasks (per exposure, tile, chip
        or strip) that ``executor`` runs; a user's function runs once, here.
        """
        step = pipeline.STEPS[name]
        started = time.perf_counter()
        log.info("step %s ...", name)
        function = self.step_functions[name]
        inputs = step.make_inputs(self)
        if step.split is not None and function is pipeline.DEFAULT_STEPS[name]:
            split = step.split(self, inputs, plan)
            results = executor.map(split.function, split.arguments, split.keys)
            result = split.join(reported(results, split.keys,
                                         for_step(self.report_progress, name)))
        else:
            result = pipeline.call_step(function, inputs,
                                        for_step(self.report_progress, name))
        step.check(self, result)
        self._kept.pop(name, None)
        kept = step.keep(self, result)
        self._kept[name] = kept
        record = self.step_records[name]
        record.status, record.seconds = "done", time.perf_counter() - started
        record.reason = "" if function is pipeline.DEFAULT_STEPS[name] else "user function"
        self._mark_stale_after(name, f"step {name!r} was run again")
        return list(kept.intermediates)

    def keep_image(self, path: str | Path, data: np.ndarray,
                   make_header: Callable[[], fits.Header],
                   compress: bool = False) -> np.ndarray | StoredImage:
        """An intermediate image as the session keeps it: the array itself
        (``in_memory=True``), or its file, written now with the header
        ``make_header()`` gives (tile-compressed if ``compress``)."""
        if self.in_memory or isinstance(data, StoredImage):  # a task kept it already
            return data
        return store_image(path, data, make_header(), compress=compress)

    def _final_science(self, image: str = "sci") -> np.ndarray:
        """The final ``sci`` (or ``err``) image in ``final_units``, as an array."""
        kept = self._kept["driz_combine"]
        if not kept.in_files:
            return self._science_of(self.final, image)
        # the product's, in the units it was written in
        science = loaded(getattr(self.final, image))
        if kept.units == self.final_units:
            return science
        exptime = np.float32(self.final.exptime)
        return science * exptime if self.final_units == "counts" else science / exptime

    def _science_of(self, final: DrizzledImage,
                    image: str = "sci") -> np.ndarray | ScaledImage | None:
        """The final ``sci`` (or ``err``) image in ``final_units`` (a file's is scaled as
        it is read); the error, a standard deviation, scales as the science does."""
        values = getattr(final, image)
        if self.final_units != "counts" or values is None:
            return values
        if isinstance(values, StoredImage):
            return ScaledImage(values, np.float32(final.exptime))
        return values * np.float32(final.exptime)

    def _all_chips(self):
        return [chip for exposure in self.exposures for chip in exposure.chips]

    def _output_folder(self) -> Path:
        return self.layout.folder

    def _product_suffix(self) -> str:
        return "drc" if any(e.is_cte_corrected for e in self.exposures) else "drz"

    def start_final_product(self, exptime: float, n_images: int, shape: tuple[int, int],
                            context_planes: int | None, error: bool
                            ) -> products.ProductInProgress:
        """The final product, allocated under temporary names for the final drizzle's
        strips to be written into (see :class:`products.ProductInProgress`);
        :meth:`write_final` finishes and commits it, :meth:`discard_final_product`
        removes it.

        Its headers are those of the finished product but for the footprint
        (``S_REGION``), allocated for the whole grid and rewritten at the end.
        """
        self.discard_final_product()
        allocation = DrizzledImage(sci=None, wht=None, exptime=exptime, n_images=n_images)
        file_set = FileSet()  # temporary names until every file is finished
        self._final_in_progress = products.ProductInProgress(
            self.output_root, self._product_suffix(), self._product_headers(allocation),
            build=bool(self.build_mef), shape=shape, context_planes=context_planes,
            error=error, file_set=file_set)
        return self._final_in_progress

    def discard_final_product(self) -> None:
        """Remove the temporary files of a final product not committed yet, if any."""
        product, self._final_in_progress = self._final_in_progress, None
        if product is not None:
            product.discard()

    def write_final(self, final: DrizzledImage) -> list[Path]:
        """Write the product of a final drizzle (or finish the one its strips were
        written into: :meth:`start_final_product`); returns the files written."""
        product = self._final_in_progress
        if product is not None and final.sci is not product.images["SCI"]:
            self.discard_final_product()   # a result made otherwise replaces it
            product = None
        if product is None:
            headers = self._product_headers(final)
        else:   # built at the start; only the footprint was not known then
            headers = products.with_footprint(product.headers, self.output_grid, final.wht)
        for conflict in headers.conflicts:
            log.warning("final product: %s", conflict)
        layout = self.layout
        valid = _has_valid_pixel(final.wht)   # read before a product in progress is renamed
        file_set = FileSet() if product is None else product.file_set
        try:
            if product is None:
                written = products.write_drizzle_product(
                    self.output_root, self._science_of(final), final.wht, final.ctx,
                    headers, build=bool(self.build_mef), suffix=self._product_suffix(),
                    err=self._science_of(final, "err"), file_set=file_set)
            else:
                written = product.finish(headers)
            # the earlier set stays whole and valid until here; from the first rename
            # until the new manifest is written, the set has no manifest: incomplete
            layout.manifest().unlink(missing_ok=True)
            file_set.commit()
        except BaseException:
            file_set.discard()
            raise
        finally:
            self._final_in_progress = None
        for path in written:
            log.info("wrote %s", path)
        for stale in layout.every_product():
            if stale.is_file() and stale not in written and stale != layout.manifest():
                stale.unlink()
                log.warning("removed %s, a product of an earlier run with another layout "
                            "(build_mef) or input type, which this product set replaces",
                            stale)
        manifest.write_manifest(
            layout.manifest(), parameters=self._result_parameters(),
            inputs=[exposure.filename for exposure in self.exposures],
            products={path: (file_set.sizes[path], file_set.checksums[path])
                      for path in written})
        log.info("wrote %s", layout.manifest())
        if not valid:  # warned here, where the log sees it
            checks.warn(self, f"the product {written[0]} has no valid pixel (weight 0 "
                              "everywhere): every input pixel was masked (DQ bits not in "
                              "final_bits, static mask, cosmic rays) or fell off the grid")
        return written

    def _result_parameters(self) -> dict[str, str]:
        """The parameters that change the products, as text (for the manifest's hash)."""
        return {name: format_parameter_value(value) if isinstance(value, WCS) else repr(value)
                for name, value in self.parameters_dict().items()
                if name not in pipeline.PARAMETERS_WITHOUT_RESULT}

    def _product_headers(self, final: DrizzledImage | None = None) -> products.ProductHeaders:
        """Headers and HDRTAB of the final product (see :func:`products.product_headers`)."""
        final = self.final if final is None else final
        drizzle = None
        if self.step_functions["driz_combine"] is pipeline.DEFAULT_STEPS["driz_combine"]:
            drizzle = products.DrizzleRecord(
                kernel=self.effective_kernel("final"), pixfrac=self.final_pixfrac,
                weight_scales=[weight_scale(self.final_wt_scl, e.exptime)
                               for e in self.exposures],
                fillval=self.final_fillval, wcskey=self.wcskey or "")
        return products.product_headers(
            self.output_grid, exptime=final.exptime, n_images=final.n_images,
            units=self.final_units,
            parameters={k: format_parameter_value(v) if isinstance(v, WCS) else repr(v)
                        for k, v in self.parameters_dict().items()},
            exposures=self.exposures, sky_values=self.sky_values,
            sky_subtracted=self.sky_subtracted, drizzle=drizzle, weight=final.wht)

    @staticmethod
    def _files_read_no_more(done: str, steps_to_run: list[str],
                            written_by: dict[str, list[Path]]) -> list[Path]:
        """``clean=True``: the intermediates of this run that no step after ``done`` reads
        (each step's are removed once the last step that reads them has run, not at
        the end, so that a run never holds every intermediate at once on disk).
        They are taken out of ``written_by``."""
        later = [pipeline.STEPS[step] for step in steps_to_run[steps_to_run.index(done) + 1:]]
        finished = [step for step in written_by
                    if not any(step in reader.reads + reader.needs for reader in later)]
        return [path for step in finished for path in written_by.pop(step)]

    def _remove(self, paths: list[Path]) -> None:
        """``clean=True``: remove the intermediate files, and the results kept in them."""
        for path in paths:
            Path(path).unlink(missing_ok=True)
            log.debug("clean: removed %s", path)
        removed = {Path(path) for path in paths}
        for name, kept in list(self._kept.items()):
            if kept.in_files and removed.intersection(kept.intermediates):
                del self._kept[name]
                record = self.step_records[name]
                record.status, record.reason = "removed", "files removed by clean=True"

    @contextlib.contextmanager
    def _showing(self, title: str, steps: list[str]):
        """Show the progress of ``build()`` or ``run()`` (and the warnings) on a console.

        The session's :attr:`console` when one is set (the command line's),
        else one made from ``verbose`` for this call only: bars as tqdm
        decides for ``verbose``, and warnings (at the package logger's level
        if the user raised it) unless ``verbose`` is False.
        """
        console = self.console
        owned = console is None
        if owned:
            user_level = logging.getLogger(PACKAGE_LOGGER).getEffectiveLevel()
            console = Console(self.verbose, level=None if self.verbose is False
                              else max(logging.WARNING, user_level))
            console.open()
        self._active_console = console
        console.begin(title, steps)
        completed = False
        try:
            yield console
            completed = True
        finally:
            console.end(completed)
            self._active_console = None
            if owned:
                console.close()

    def _step_started(self, step: str) -> None:
        if self._active_console is not None:
            self._active_console.step(step)

    def _progress_of(self, step: str):
        """The progress callback of ``step`` (see :mod:`multidrizzle.progress`)."""
        return for_step(self.report_progress, step)

    def _tracked_chips(self, chips, step: str):
        return tracked(chips, self._progress_of(step), label=lambda chip: chip.name)

    @contextlib.contextmanager
    def _run_environment(self, steps: list[str], written: list[Path]):
        """Log to ``runfile`` and use ``num_cores`` threads for the duration of a run.

        ``written`` is the run's list of files written, read at the end for
        the log's footer.
        """
        run_log = None
        if self.runfile:
            run_log = RunLog(self.runfile, self._run_log_header(steps))
            run_log.__enter__()
            if run_log.previous is not None:
                log.info("previous run log kept as %s", run_log.previous)
        threads = numba.get_num_threads()
        if self.num_cores:
            numba.set_num_threads(max(1, min(int(self.num_cores),
                                             numba.config.NUMBA_NUM_THREADS)))
        started = time.perf_counter()
        failure = None
        try:
            yield
        except BaseException as error:
            failure = error
            raise
        finally:
            numba.set_num_threads(threads)
            if run_log is not None:
                run_log.finish(self._run_log_footer(written, time.perf_counter() - started,
                                                    failure))

    @contextlib.contextmanager
    def _interruptible(self):
        """SIGTERM ends the run as Ctrl-C does (when it would otherwise kill the process
        at once), and an interrupted or failed run removes its partial files.

        Every file is written under a temporary name that its writer removes on
        any exception; what is left are the median being combined in place and
        the final product being written in place (under its temporary names).
        """
        previous = None
        if threading.current_thread() is threading.main_thread() and \
                signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            previous = signal.signal(signal.SIGTERM, _raise_interrupted)
        try:
            yield
        except BaseException:
            self.discard_final_product()
            for path in self.layout.partial_files():
                path.unlink(missing_ok=True)
            raise
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)

    def _remove_leftovers(self) -> None:
        """Remove the temporary files a killed run of this output left, and say whether
        the products in place are a complete set."""
        leftovers = self.layout.leftovers(self.exposures)
        for path in leftovers:
            path.unlink(missing_ok=True)
        if leftovers:
            log.warning("removed %d temporary file%s left by an interrupted run: %s",
                        len(leftovers), "s" if len(leftovers) != 1 else "",
                        ", ".join(path.name for path in leftovers))
        existing = [path for path in self.layout.every_product() if path.is_file()]
        if existing and not self.layout.manifest().exists():
            log.warning("products %s have no manifest (%s): an interrupted run left them, "
                        "or an older version wrote them; the final drizzle replaces them",
                        ", ".join(str(path) for path in existing), self.layout.manifest())

    def _run_log_header(self, steps: list[str]) -> str:
        """The top of the run log: software, date, inputs, output grid, parameters."""
        import astropy

        now = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
        lines = [
            "multidrizzle run log",
            f"software: multidrizzle {__version__} (Python {platform.python_version()}, "
            f"numpy {np.__version__}, astropy {astropy.__version__}, "
            f"numba {numba.__version__})",
            f"date: {now}",
            f"working folder: {Path.cwd()}",
            f"output: {self.output_root}",
            "",
            f"inputs ({len(self.exposures)}):",
        ]
        lines += [f"  {exposure.filename}" for exposure in self.exposures]
        if self.build_summary is not None:
            lines += ["", "build summary:"]
            lines += [f"  {line}" for line in str(self.build_summary).splitlines()]
        lines += ["", "parameters:"]
        for step, names in self.steps().items():
            if names:
                lines.append(f"  [{step}] {STEP_TITLES[step]}")
                lines += [f"    {name} = {format_parameter_value(getattr(self, name))}"
                          for name in names]
        lines += ["", "steps to run: " + (", ".join(steps) or "none"), "", "messages:"]
        return "\n".join(lines) + "\n"

    def _run_log_footer(self, written: list[Path], seconds: float,
                        failure: BaseException | None) -> str:
        """The end of the run log: step table, files written, how the run ended."""
        lines = ["", "step table:"]
        lines += [f"  {line}" for line in self.step_table().splitlines()]
        kept = [Path(path) for path in written if Path(path).exists()]
        files = [("products", list(self.products)), ("intermediate files", kept),
                 ("cosmic-ray cleaned images", list(self.crclean_files))]
        for title, paths in files:
            lines += ["", f"{title} ({len(paths)}):"] + [f"  {path}" for path in paths]
        now = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
        lines.append("")
        if failure is None:
            lines.append(f"finished: {now} after {seconds:.2f} s")
        else:
            lines.append(f"failed: {now} after {seconds:.2f} s")
            lines += traceback.format_exception(failure)
        return "\n".join(line.rstrip("\n") for line in lines) + "\n"

    # ---------------------------------------------------------------- display

    #: How many input names repr() shows before '...'.
    _NAMES_SHOWN = 3

    def _described_inputs(self) -> tuple[int, list[str]]:
        inputs = getattr(self, "inputs", None)  # None while the constructor runs
        files = inputs.files if inputs is not None else []
        return len(files), [Path(path).name for path in files[:self._NAMES_SHOWN]]

    def _described_grid(self) -> str:
        grid = getattr(self, "output_grid", None)
        if grid is None:
            return "not built (call build())"
        state = " (stale: call build() again)" if self.step_records["build"].status == \
            "stale" else ""
        return (f"{grid.nx} x {grid.ny} pixels, {grid.scale:.5f} arcsec/pixel, "
                f"rotation {grid.rotation:.3f} deg{state}")

    def __repr__(self) -> str:
        count, names = self._described_inputs()
        shown = ", ".join(names) + (", ..." if count > len(names) else "")
        lines = [f"<Multidrizzle: {count} input{'s' if count != 1 else ''} ({shown}) -> "
                 f"{self.output_root!r}",
                 f"output grid: {self._described_grid()}"]
        lines += self.step_table().splitlines()
        return "\n".join(lines) + ">"

    def _repr_html_(self) -> str:
        """The session in a Jupyter notebook: inputs, output grid and step table."""
        count, names = self._described_inputs()
        shown = ", ".join(f"<code>{html.escape(name)}</code>" for name in names)
        if count > len(names):
            shown += ", ..."
        rows = "".join(
            f"<tr><td><code>{name}</code></td><td>{html.escape(record.status)}</td>"
            f"<td style='text-align:right'>{record.seconds:.2f}</td>"
            f"<td style='text-align:left'>{html.escape(record.reason)}</td></tr>"
            for name, record in self.step_records.items())
        return (
            "<div class='multidrizzle-session'>"
            f"<b>Multidrizzle</b> session &rarr; <code>{html.escape(self.output_root)}</code>"
            "<ul>"
            f"<li>inputs ({count}): {shown}</li>"
            f"<li>output grid: {html.escape(self._described_grid())}</li>"
            "</ul>"
            "<table><thead><tr><th>step</th><th>status</th><th>seconds</th>"
            f"<th style='text-align:left'>reason</th></tr></thead><tbody>{rows}</tbody>"
            "</table></div>")

    def _apply_mdriztab(self) -> list[str]:
        """Set the parameters of the MDRIZTAB row that fits the inputs; returns their names."""
        files = resolve_inputs(self.input).files
        return apply_mdriztab(self, read_mdriztab(files[0], len(files)))

    def _switched_on(self) -> list[str]:
        """The steps that a run() with no switches given would run."""
        return [name for name, step in pipeline.STEPS.items() if getattr(self, step.switch)]

    def _read_options(self) -> ReadOptions:
        group = parse_group(self.group)
        return ReadOptions(
            group=tuple(group) if group is not None else None,
            resetbits=self.bit_flags("resetbits"), wcskey=self.wcskey or "",
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
        crpix = (value("crpix1"), value("crpix2"))
        return GridRequest(
            scale=value("scale"), rotation=value("rot"),
            ra=value("ra") if value("ra") is not None else self.ra,
            dec=value("dec") if value("dec") is not None else self.dec,
            nx=value("outnx"), ny=value("outny"), refimage=refimage,
            crpix=None if None in crpix else crpix)

    def _estimate_memory(self, exposures: list[Exposure], grid: OutputGrid,
                         separate: OutputGrid) -> int:
        """Bytes a run holds at once, before the footprints are known (checked in build()).

        The largest chip's arrays and dense pixel map, a tile (a strip of the
        final image of ``tile_size`` rows, science, weight and context), and,
        with ``in_memory=True``, the whole final image, the median and the
        blotted images, which then stay in memory.
        """
        n_inputs = len(exposures)
        context_planes = (n_inputs + 31) // 32 if self.context else 0
        final_pixel = 2 * _FLOAT32 + _FLOAT32 * context_planes
        chip_sizes = [c.shape[0] * c.shape[1] for e in exposures for c in e.chips]
        tile = int(self.tile_size) if self.tile_size else tile_size_for(self.memory_limit)
        strip = min(tile, grid.ny) * grid.nx * final_pixel * 2
        chip_bytes = max(chip_sizes) * (_PIXMAP_BYTES_PER_PIXEL + 4 * _FLOAT32)
        kept = 0
        if self.in_memory:
            kept = (grid.nx * grid.ny * final_pixel + separate.nx * separate.ny * _FLOAT32
                    + _FLOAT32 * sum(chip_sizes))
        return int(chip_bytes + strip + kept)

    @property
    def run_plan(self) -> RunPlan:
        """How a run on the present parameters splits into tasks (see
        :class:`~multidrizzle.model.plan.RunPlan`); needs ``build()``."""
        self._require_build()
        return make_run_plan(self)

    def _plan_lines(self) -> list[str]:
        plan = make_run_plan(self)
        return [plan.summary(), *estimate_run(self, plan).lines()]

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

    @observe("resetbits")
    def _resetbits_changed(self, change) -> None:
        """The chips read their DQ with the new ``resetbits`` from now on."""
        reset = self.bit_flags("resetbits") or 0
        for exposure in getattr(self, "exposures", None) or []:
            for chip in exposure.chips:
                chip.reset_bits = reset

    @observe(All)
    def _parameter_changed(self, change) -> None:
        """Mark the first step a parameter changes, and every later step, stale."""
        records = getattr(self, "step_records", None)
        if records is None:
            return
        name = change["name"]
        step = _first_step_changed_by(name, self.trait_metadata(name, "step"))
        if step is not None:
            self._mark_stale_after(step, f"parameter {name!r} changed", include=True)


#: Rows of the weight image looked at a time when looking for a valid pixel.
_ROWS_PER_CHECK = 256


def _raise_interrupted(signal_number: int, frame: Any) -> None:
    raise RunInterrupted(signal_number)


def _has_valid_pixel(weight: Any) -> bool:
    """True when some pixel of the weight image (an array or a file) is positive."""
    for start in range(0, weight.shape[0], _ROWS_PER_CHECK):
        if np.any(np.asarray(weight[start:start + _ROWS_PER_CHECK]) > 0):
            return True
    return False


def _first_step_changed_by(name: str, tag: str | None) -> str | None:
    """The first step whose result parameter ``name`` (of step tag ``tag``) changes.

    None for parameters that change no result
    (:data:`~multidrizzle.session.pipeline.PARAMETERS_WITHOUT_RESULT`); ``build``
    for those of the geometry's tags.
    """
    if name in pipeline.PARAMETERS_WITHOUT_RESULT:
        return None
    for step in pipeline.STEPS.values():
        if name in step.invalidated_by:
            return step.name
    if tag in pipeline.BUILD_TAGS:
        return "build"
    return next((step.name for step in pipeline.STEPS.values() if step.tag == tag), None)


def astrodrizzle(input: Any = None, mdriztab: bool = False, editpars: bool = False,
                 configobj: str | Path | Mapping[str, Any] | None = None,
                 wcsmap: Any = None, **input_dict: Any) -> Multidrizzle:
    """Build and run a session in one call, as ``drizzlepac.astrodrizzle.AstroDrizzle``.

    For scripts written for AstroDrizzle: the same call, with the same
    parameter names and the same ``configobj`` (drizzlepac's ``.cfg`` files
    are read unchanged), returns the finished session instead of None::

        from multidrizzle import astrodrizzle
        md = astrodrizzle("*flc.fits", output="m51", configobj="astrodrizzle.cfg",
                          final_scale=0.04)
        md.products

    Parameters
    ----------
    input : str, path or list, optional
        The exposures (as for :class:`Multidrizzle`); may also come from
        ``configobj``.
    mdriztab : bool
        Take parameter values from the inputs' MDRIZTAB.
    editpars : bool
        Must be False: to edit the parameters first, use
        ``Multidrizzle(..., editpars=True)`` and then ``build()`` and ``run()``.
    configobj : str, path or mapping, optional
        A parameter file (ours or drizzlepac's ``.cfg``) or configobj
        mapping, applied before ``input_dict``.
    wcsmap : None
        Must be None: custom WCS mapping functions are not supported.
    **input_dict
        Any parameter by its AstroDrizzle name (``output``, ``final_scale``,
        ``build``, ...).

    Returns
    -------
    Multidrizzle
        The session after ``build()`` and ``run()``: products in
        ``md.products``, every result and the step table on it.

    Raises
    ------
    UnsupportedError
        For ``editpars=True`` or a ``wcsmap``.
    """
    if editpars:
        raise UnsupportedError("astrodrizzle(): editpars=True is not supported in this "
                               "one-call form; use md = Multidrizzle(input, editpars=True), "
                               "then md.build() and md.run()")
    if wcsmap is not None:
        raise UnsupportedError("astrodrizzle(): a custom wcsmap is not supported; the pixel "
                               "maps are computed from each input's astropy.wcs WCS")
    if mdriztab:  # False leaves a configobj's value alone
        input_dict["mdriztab"] = True
    session = Multidrizzle(input, configobj=configobj, **input_dict)
    session.build()
    session.run()
    return session

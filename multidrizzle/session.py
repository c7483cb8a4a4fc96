"""The ``Multidrizzle`` session: parameters, state of each step, and the plan.

This is the only module that knows traitlets beyond the parameter
declarations: it holds the parameters (inherited from
:class:`~multidrizzle.parameters.DrizzleParameters`), the results and status
of every step, and marks steps stale when a parameter they depend on changes.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from traitlets import All, observe

from multidrizzle.errors import InputError, ParameterError
from multidrizzle.geometry import (
    GridRequest, OutputGrid, PixelMap, check_memory, compute_pixel_map, make_output_grid,
    native_orientation, native_scale,
)
from multidrizzle.io.inputs import InputList, parse_group, resolve_inputs
from multidrizzle.mdriztab import apply_mdriztab, read_mdriztab
from multidrizzle.model import Exposure, ReadOptions, read_exposure
from multidrizzle.parameters import DrizzleParameters, help_text
from multidrizzle.shiftfile import apply_shifts, read_shiftfile

__all__ = ["Multidrizzle", "StepRecord", "BuildSummary", "STEPS"]

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

#: Custom final-grid parameters; setting one switches ``final_wcs`` on.
_FINAL_CUSTOM = ("final_refimage", "final_rot", "final_scale", "final_outnx",
                 "final_outny", "final_ra", "final_dec")
_SEPARATE_CUSTOM = ("driz_sep_refimage", "driz_sep_rot", "driz_sep_scale",
                    "driz_sep_outnx", "driz_sep_outny", "driz_sep_ra", "driz_sep_dec")

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
        if configobj is not None:
            self.update_from_file(configobj)
        if input is not None:
            params["input"] = input
        if output is not None:
            params["output"] = output
        for name, value in params.items():
            if not self.has_trait(name):
                raise ParameterError(f"parameter {name!r} does not exist; see "
                                     "multidrizzle.help() for the list")
            setattr(self, name, value)
        self.inputs = resolve_inputs(self.input)
        if self.mdriztab:
            values = read_mdriztab(self.inputs.files[0], len(self.inputs.files))
            apply_mdriztab(self, values)
        self.check_consistency()
        if editpars:
            self.editpars()

    # ------------------------------------------------------------------ API

    def help(self) -> None:
        """Print the session syntax and the parameter table with current values."""
        print(help_text(self))

    def editpars(self) -> None:
        """Edit the parameters interactively (not built yet)."""
        raise NotImplementedError(
            "editpars(): the interactive parameter editor is not implemented yet; set "
            "parameters as attributes (md.final_scale = 0.05) or load a file saved with "
            "save_pars() through Multidrizzle(..., configobj=path)")

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
        options = self._read_options()
        exposures = [read_exposure(path, options, ivm)
                     for path, ivm in zip(inputs.files, inputs.ivm_files)]
        chips = [chip for exposure in exposures for chip in exposure.chips]
        final_request = self._grid_request("final")
        separate_request = self._grid_request("driz_sep")
        if self.shiftfile:
            first = chips[0]
            scale = final_request.scale or native_scale(first)
            rotation = (final_request.rotation if final_request.rotation is not None
                        else native_orientation(first))
            notes += apply_shifts(exposures, read_shiftfile(self.shiftfile), scale, rotation)
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
        # commit the new geometry only once everything succeeded
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
        self._mark_stale_after("build", "build() was run again")
        log.info("build summary:\n%s", self.build_summary)
        return self.build_summary

    def run(self, static: bool | None = None, skysub: bool | None = None,
            driz_separate: bool | None = None, median: bool | None = None,
            blot: bool | None = None, driz_cr: bool | None = None,
            driz_combine: bool | None = None) -> None:
        """Run the processing steps (not built yet)."""
        raise NotImplementedError(
            "run(): the processing steps (static mask, sky, separate drizzle, median, "
            "blot, cosmic rays, final drizzle) are not implemented yet; build() is")

    # ------------------------------------------------------------ internals

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
        n_inputs = len(exposures)
        context_planes = (n_inputs + 31) // 32 if self.context else 0
        final_bytes = grid.nx * grid.ny * (2 * _FLOAT32 + _FLOAT32 * context_planes)
        separate_bytes = separate.nx * separate.ny * 2 * _FLOAT32 * n_inputs
        median_bytes = separate.nx * separate.ny * _FLOAT32
        largest_chip = max(c.shape[0] * c.shape[1] for e in exposures for c in e.chips)
        chip_bytes = largest_chip * (_PIXMAP_BYTES_PER_PIXEL + 4 * _FLOAT32)
        return int(final_bytes + separate_bytes + median_bytes + chip_bytes)

    def _mark_stale_after(self, step: str, reason: str, include: bool = False) -> None:
        index = STEPS.index(step)
        for later in STEPS[index if include else index + 1:]:
            record = self.step_records[later]
            if record.status == "done":
                record.status, record.reason = "stale", reason

    @observe(*_FINAL_CUSTOM)
    def _final_custom_set(self, change) -> None:
        if change["new"] not in (None, "") and not self.final_wcs:
            log.info("%s set: final_wcs switched on", change["name"])
            self.final_wcs = True

    @observe(*_SEPARATE_CUSTOM)
    def _separate_custom_set(self, change) -> None:
        if change["new"] not in (None, "") and not self.driz_sep_wcs:
            log.info("%s set: driz_sep_wcs switched on", change["name"])
            self.driz_sep_wcs = True

    @observe(All)
    def _parameter_changed(self, change) -> None:
        """Mark the step a parameter belongs to, and every later step, stale."""
        records = getattr(self, "step_records", None)
        if records is None:
            return
        name = change["name"]
        tag = self.trait_metadata(name, "step")
        step = _STEP_OF_TAG.get(tag)
        if step is not None:
            self._mark_stale_after(step, f"parameter {name!r} changed", include=True)

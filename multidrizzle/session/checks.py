"""Checks of a run that involve the inputs and the parameters together.

``build()`` and ``run()`` call them before anything is written and before any
input is touched (``workinplace``, ``restore``): every problem a user can fix
is reported first, with the parameter or file that causes it, never after six
steps have written their files.

* :func:`check_paths`: the output folder (or the first folder above it that
  exists) is a writable folder, no product name is a folder, and with
  ``workinplace`` every input and its folder can be written.
* :func:`check_exposures`: the inputs do not mix instruments, detectors or
  filters (unless ``allow_mixed_inputs``), nor DN and electrons.
* :func:`check_step_parameters`: ``combine_nlow`` + ``combine_nhigh`` leave
  an image of those that the median combines.
* :func:`warn_about_overlap`, :func:`warn_about_cosmic_ray_depth`: inputs that
  overlap no other, and cosmic-ray detection over an output that fewer than
  three exposures cover (warnings: the run goes on).
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from multidrizzle.errors import InputError, ParameterError
from multidrizzle.io import products
from multidrizzle.io.products import ARCHIVE_FOLDER
from multidrizzle.model import Exposure
from multidrizzle.model.coverage import Coverage
from multidrizzle.steps.median import COMBINE_TYPES

if TYPE_CHECKING:  # pragma: no cover
    from multidrizzle.session.session import Multidrizzle

__all__ = ["check_paths", "check_exposures", "check_step_parameters", "warn",
           "warn_about_overlap", "warn_about_cosmic_ray_depth", "coverage_text",
           "WEAK_DETECTION_FRACTION"]

#: Below this fraction of the covered output seen by three or more exposures,
#: cosmic-ray detection is reported as weak.
WEAK_DETECTION_FRACTION = 0.5

log = logging.getLogger(__name__)


def warn(md: "Multidrizzle", message: str) -> None:
    """A warning about the run: logged (shown above the progress bars) and kept in
    ``md.run_warnings``."""
    if message in md.run_warnings:  # build() said it already
        return
    log.warning(message)
    md.run_warnings.append(message)


def _writable_folder(folder: Path, where: str) -> None:
    """InputError starting with ``where`` unless ``folder`` is a folder we can create
    files in (a nameless file that vanishes on close: the honest test)."""
    if not folder.is_dir():
        raise InputError(f"{where}: {folder} is not a folder")
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise InputError(f"{where}: folder {folder} is not writable "
                         f"({exc.strerror or exc})") from exc


def check_paths(md: "Multidrizzle", files: Iterable[Path]) -> None:
    """Check where the run writes, before anything is written.

    Parameters
    ----------
    md : Multidrizzle
    files : iterable of Path
        The input exposures.

    Raises
    ------
    InputError
        Naming the parameter (``output``, ``workinplace``) and the path.
    """
    root = md.output_root
    folder = md.layout.folder
    existing = next((part for part in (folder, *folder.parents) if part.exists()), Path("."))
    where = f"parameter 'output' = {root!r}"
    if not existing.is_dir():
        raise InputError(f"{where}: {existing} is a file, not a folder; expected a folder "
                         "for the products")
    _writable_folder(existing, where)
    for path in md.layout.every_product():
        if path.is_dir():
            raise InputError(f"{where}: the product {path} would replace a folder of that "
                             "name; choose another output name or move the folder")
    if md.workinplace:
        for path in files:
            where = f"parameter 'workinplace' = True: input file {path}"
            _writable_folder(path.parent, where)
            try:
                with open(path, "r+b"):  # opened for writing, nothing written
                    pass
            except OSError as exc:
                raise InputError(f"{where} cannot be written ({exc.strerror or exc}); "
                                 "workinplace changes the inputs: make them writable or "
                                 "set workinplace=False") from exc
            archive = path.parent / ARCHIVE_FOLDER
            if archive.exists():
                _writable_folder(archive, where)


def _describe(exposure: Exposure) -> str:
    return "/".join(part for part in (exposure.instrument, exposure.detector,
                                      exposure.filter_name) if part) or "unknown"


def check_exposures(md: "Multidrizzle", exposures: list[Exposure]) -> None:
    """Refuse inputs that cannot be combined (or, with ``allow_mixed_inputs``, warn).

    Raises
    ------
    InputError
        Naming two files and what differs: instrument, detector or filter
        (parameter ``allow_mixed_inputs``), or DN against electrons
        (parameter ``proc_unit``).
    """
    chips = [chip for exposure in exposures for chip in exposure.chips]
    products.product_bunit(chips)  # DN mixed with electrons: InputError naming proc_unit
    first = exposures[0]
    for other in exposures[1:]:
        differs = [what for what, a, b in (
            ("instrument", first.instrument, other.instrument),
            ("detector", first.detector, other.detector),
            ("filter", first.filter_name, other.filter_name)) if a != b]
        if not differs:
            continue
        message = (f"inputs mix {' and '.join(what + 's' for what in differs)}: "
                   f"{first.filename.name} is "
                   f"{_describe(first)} but {other.filename.name} is {_describe(other)}")
        if not md.allow_mixed_inputs:
            raise InputError(f"{message}; their combination has no single calibration "
                             "(set parameter 'allow_mixed_inputs' to True to combine them "
                             "anyway)")
        warn(md, f"{message}; combined because allow_mixed_inputs is True")
        return


def check_step_parameters(md: "Multidrizzle", n_exposures: int,
                          steps: Iterable[str]) -> None:
    """Check the parameters of the steps that will run against the number of inputs.

    Raises
    ------
    ParameterError
        When ``combine_nlow + combine_nhigh`` would reject every one of the
        ``n_exposures`` images that the median combines.
    """
    steps = set(steps)
    if "median" not in steps:
        return
    kind = COMBINE_TYPES[md.combine_type]
    rejected = int(md.combine_nlow) + int(md.combine_nhigh)
    if kind.needs_noise_model:
        if rejected:
            warn(md, f"combine_type={md.combine_type!r} ignores combine_nlow "
                     f"({md.combine_nlow}) and combine_nhigh ({md.combine_nhigh}); use "
                     "'median' or 'mean' to reject extreme values")
        return
    if rejected >= n_exposures:
        raise ParameterError(
            f"parameters 'combine_nlow' ({md.combine_nlow}) and 'combine_nhigh' "
            f"({md.combine_nhigh}) reject {rejected} values at each pixel but there are "
            f"{n_exposures} input image{'s' if n_exposures != 1 else ''}; expected "
            f"combine_nlow + combine_nhigh < {n_exposures}")


def warn_about_overlap(md: "Multidrizzle", exposures: list[Exposure],
                       coverage: Coverage) -> None:
    """Warn about inputs that share no part of the output with any other input."""
    if coverage.isolated:
        names = ", ".join(exposures[index].filename.name for index in coverage.isolated)
        warn(md, f"input{'s' if len(coverage.isolated) > 1 else ''} {names} overlap"
                 f"{'' if len(coverage.isolated) > 1 else 's'} no other input: no sky is "
                 "shared with the others and cosmic rays there cannot be found (the "
                 "median of one exposure is that exposure)")


def coverage_text(coverage: Coverage) -> str:
    """``'of the output covered, 92.0% by 3 or more exposures, 6.1% by 2, 1.9% by 1'``."""
    three = coverage.fraction_at_least(3)
    two = coverage.fraction_at_least(2) - three
    one = 1.0 - coverage.fraction_at_least(2)
    return (f"of the output covered, {100 * three:.1f}% is covered by 3 or more exposures, "
            f"{100 * two:.1f}% by 2 and {100 * one:.1f}% by 1")


def warn_about_cosmic_ray_depth(md: "Multidrizzle", n_exposures: int,
                                coverage: Coverage) -> None:
    """Warn when cosmic-ray detection cannot work (no part of the output seen twice) or
    is weak (less than :data:`WEAK_DETECTION_FRACTION` seen three times or more)."""
    if n_exposures < 2 or coverage.fraction_at_least(2) == 0.0:
        why = ("there is 1 input" if n_exposures < 2 else "the inputs do not overlap")
        warn(md, f"cosmic-ray detection: {why}, so no part of the output is covered by "
                 "2 or more exposures; the median of one exposure is that exposure and "
                 "its cosmic rays stay in the product (dither with 3 or more exposures, "
                 "or switch driz_cr off)")
    elif coverage.fraction_at_least(3) < WEAK_DETECTION_FRACTION:
        warn(md, f"cosmic-ray detection is weak: {coverage_text(coverage)}; where 2 cover "
                 "the output the median is their mean, which a cosmic ray raises, and "
                 "where 1 does none can be found")

"""Read parameter values from an MDRIZTAB reference table.

The HST pipeline keeps its MultiDrizzle/AstroDrizzle settings in a FITS
table, the MDRIZTAB, named in the primary header of every calibrated
exposure (``MDRIZTAB = 'jref$wfc_smov_mdz.fits'``).  Each row holds one set
of parameter values for a number of input images (column ``NUMIMAGES``) and,
in some tables, a filter (column ``FILTER``).  This module finds the table,
picks the row for the inputs at hand, and converts its columns to parameter
values.  Nothing is written to the inputs or the table.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from astropy.io import fits

from multidrizzle.errors import InputError, ParameterError

if TYPE_CHECKING:
    from multidrizzle.session.parameters import DrizzleParameters

__all__ = ["resolve_reference_path", "read_mdriztab", "apply_mdriztab", "input_filters"]

logger = logging.getLogger(__name__)

# Older MDRIZTAB column names and the parameter each one sets.
_RENAMED_COLUMNS = {"subsky": "skysub", "crbitval": "crbit", "readnoise": "rdnoise",
                    "build": "build_mef"}

# Columns that name pipeline files or the table itself rather than settings;
# AstroDrizzle ignores them too.
_IGNORED_COLUMNS = frozenset({"mdriztab", "shiftfile", "staticfile"})

# Columns used to choose the row, not parameter values.
_SELECTION_COLUMNS = frozenset({"numimages", "filter"})

# IRAF's INDEF for 32-bit integers, used by STSDAS tables for "no value".
_INDEF_INT = -2147483647

# Filter values that match any input filter.
_ANY_FILTER = frozenset({"", "ANY"})


def resolve_reference_path(name: str) -> Path:
    """Turn a reference file name from a header into a path.

    ``'jref$wfc_mdz.fits'`` becomes ``$jref/wfc_mdz.fits`` (IRAF-style
    prefix: the environment variable of that name, tried as written and then
    upper-case).  Names without a ``$`` prefix are used as they are.

    Parameters
    ----------
    name : str
        The header value, e.g. ``'iref$x1234_mdz.fits'``.

    Returns
    -------
    Path
        The file, which exists.

    Raises
    ------
    InputError
        If the environment variable is not set, or the file does not exist.
    """
    text = name.strip()
    if "$" in text:
        variable, _, file_name = text.partition("$")
        directory = os.environ.get(variable) or os.environ.get(variable.upper())
        if not directory:
            raise InputError(f"reference file {text!r}: environment variable {variable!r} is "
                             f"not set; set it to the directory holding {variable} reference "
                             "files")
        path = Path(os.path.expanduser(directory)) / file_name
    else:
        path = Path(os.path.expanduser(text))
    if not path.is_file():
        raise InputError(f"reference file {text!r}: {str(path)!r} does not exist")
    return path


def input_filters(header: fits.Header) -> set[str]:
    """The filters named in an HST primary header (FILTER, FILTER1, FILTER2).

    Blank, 'N/A' and 'CLEAR...' values are left out; names are upper-case.
    """
    filters = set()
    for keyword in ("FILTER", "FILTER1", "FILTER2"):
        value = str(header.get(keyword, "")).strip().upper()
        if value and value != "N/A" and not value.startswith("CLEAR"):
            filters.add(value)
    return filters


def _row_filters(value: Any) -> set[str]:
    text = str(value).strip().upper()
    return {part.strip() for part in text.split(",")
            if part.strip() and not part.strip().startswith("CLEAR")}


def _column_value(value: Any) -> Any:
    """Convert one table cell to a plain Python value; blank/INDEF/NaN give None."""
    if isinstance(value, (bytes, np.bytes_)):
        value = value.decode("ascii", errors="replace")
    if isinstance(value, str):
        text = value.strip()
        return None if text.upper() in ("", "INDEF", "NONE") else text
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return None if int(value) == _INDEF_INT else int(value)
    if isinstance(value, (float, np.floating)):
        if math.isnan(float(value)):
            return None
        # The shortest decimal of a float32 cell is what the table's author
        # wrote (0.2, not 0.20000000298023224).
        return float(np.format_float_positional(value, unique=True, trim="-"))
    return value


def _first_table(hdus: fits.HDUList, path: Path) -> fits.BinTableHDU:
    for hdu in hdus:
        if isinstance(hdu, fits.BinTableHDU):
            return hdu
    raise InputError(f"MDRIZTAB {str(path)!r} has no binary table extension")


def read_mdriztab(first_input: str | os.PathLike, n_inputs: int) -> dict[str, Any]:
    """Read the MDRIZTAB row that applies to a set of inputs.

    Parameters
    ----------
    first_input : str or Path
        The first input exposure; its primary header names the table
        (keyword ``MDRIZTAB``) and gives the filter.
    n_inputs : int
        Number of input exposures.

    Returns
    -------
    dict
        Parameter name to value for every table column that is a parameter
        (older names ``subsky``, ``crbitval`` and ``readnoise`` are
        translated); blank, INDEF and NaN cells give None.

    Raises
    ------
    InputError
        If the keyword is missing, the table cannot be found or read, or no
        row applies to ``n_inputs`` inputs.

    Notes
    -----
    The rows considered are those whose FILTER matches the input's filters
    (FILTER, FILTER1, FILTER2 without CLEAR); when there are none, the rows
    with FILTER 'ANY' or blank.  Tables without a FILTER column use every
    row.  Of those, the row with the largest NUMIMAGES not above
    ``n_inputs`` is used.
    """
    from multidrizzle.session.parameters import DrizzleParameters

    first_input = Path(first_input)
    try:
        header = fits.getheader(first_input, 0)
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the primary header of {str(first_input)!r}: "
                         f"{exc}") from None
    table_name = str(header.get("MDRIZTAB", "")).strip()
    if not table_name or table_name.upper() in ("N/A", "NONE"):
        raise InputError(f"mdriztab=True but {str(first_input)!r} has no MDRIZTAB keyword in "
                         "its primary header; set the parameters directly instead")
    table_path = resolve_reference_path(table_name)

    try:
        with fits.open(table_path, memmap=False) as hdus:
            table = _first_table(hdus, table_path).data
            columns = [name.lower() for name in table.columns.names]
            rows = [table[i] for i in range(len(table))]
    except OSError as exc:
        raise InputError(f"MDRIZTAB {str(table_path)!r} cannot be read: {exc}") from None
    if "numimages" not in columns:
        raise InputError(f"MDRIZTAB {str(table_path)!r} has no NUMIMAGES column")
    numimages_index = columns.index("numimages")

    candidates = list(range(len(rows)))
    filters = input_filters(header)
    filter_note = ""
    if "filter" in columns:
        filter_index = columns.index("filter")
        matching = [i for i in candidates
                    if filters and _row_filters(rows[i][filter_index]) == filters]
        if matching:
            candidates = matching
            filter_note = f", filter {'/'.join(sorted(filters))}"
        else:
            candidates = [i for i in candidates
                          if str(rows[i][filter_index]).strip().upper() in _ANY_FILTER]
            filter_note = ", filter ANY"
    usable = [i for i in candidates if int(rows[i][numimages_index]) <= n_inputs]
    if not usable:
        available = sorted({int(rows[i][numimages_index]) for i in candidates})
        raise InputError(f"MDRIZTAB {str(table_path)!r} has no row for {n_inputs} input(s)"
                         f"{filter_note}; NUMIMAGES values available: {available}")
    # Largest NUMIMAGES wins; among equals, the first in the table.
    chosen = max(usable, key=lambda i: (int(rows[i][numimages_index]), -i))
    row = rows[chosen]

    parameter_names = set(DrizzleParameters.parameter_names())
    values: dict[str, Any] = {}
    ignored = []
    for column, cell in zip(columns, row):
        name = _RENAMED_COLUMNS.get(column, column)
        if name in _SELECTION_COLUMNS:
            continue
        if name in _IGNORED_COLUMNS or name not in parameter_names:
            ignored.append(column)
            continue
        values[name] = _column_value(cell)
    logger.info("MDRIZTAB %s: using row %d (NUMIMAGES=%d%s) for %d input(s)", table_path,
                chosen + 1, int(row[numimages_index]), filter_note, n_inputs)
    if ignored:
        logger.debug("MDRIZTAB %s: columns not used: %s", table_path, ", ".join(ignored))
    return values


def apply_mdriztab(params: DrizzleParameters, values: dict[str, Any]) -> list[str]:
    """Set parameters from :func:`read_mdriztab` values and report them.

    Empty cells (None) of parameters that cannot be None (``crbit``, the
    step switches, ...) leave the current value.

    Parameters
    ----------
    params : DrizzleParameters
        The parameters (or session) to update.
    values : dict
        Parameter name to value.

    Returns
    -------
    list of str
        The names of the parameters set, in table order.  A summary
        ``"mdriztab set: combine_type='minmed', ..."`` is logged at INFO.

    Raises
    ------
    ParameterError
        If a value is not allowed; the message says it came from MDRIZTAB.
    """
    traits = params.parameter_traits()
    set_names: list[str] = []
    usable = {name: value for name, value in values.items()
              if value is not None or traits[name].accepts_none}
    for name in values.keys() - usable.keys():
        logger.debug("MDRIZTAB: %s is empty, keeping %r", name, getattr(params, name))
    with params._setting_together(list(usable)):
        for name, value in usable.items():
            try:
                setattr(params, name, value)
            except ParameterError as exc:
                raise type(exc)(f"MDRIZTAB: {exc}") from None
            set_names.append(name)
    if set_names:
        summary = ", ".join(f"{name}={getattr(params, name)!r}" for name in set_names)
        logger.info("mdriztab set: %s", summary)
    return set_names

"""Small MDRIZTAB reference tables and the exposures that name them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.io import fits

INDEF_INT = -2147483647

# One row per (NUMIMAGES, FILTER); combine_type tells the rows apart.
ROWS = [
    # numimages, filter, combine_type, combine_nsigma, driz_cr_snr, skywidth, skylower,
    # subsky, crbitval, final_rot, driz_sep_bits, final_outnx, shiftfile, comment
    (1, "ANY", "imedian", "4 3", "3.5 3.0", 0.3, np.nan, True, 4096, np.nan, 0, INDEF_INT,
     "pipe.shift", "one image"),
    (2, "ANY", "minmed", "6 3", "3.0 2.5", 0.1, -50.0, True, 4096, 0.0, 96, 2048,
     "", "two images"),
    (4, "ANY", "median", "6 3", "3.0 2.5", 0.1, -50.0, False, INDEF_INT, 0.0, 96, 4096,
     "", "four images"),
    (2, "F606W", "iminmed", "5 3", "3.5 2.5", 0.2, -40.0, True, 8192, 90.0, 8, INDEF_INT,
     "", "F606W, two"),
    (6, "F606W", "mean", "5 3", "3.5 2.5", 0.2, -40.0, True, 8192, 90.0, 8, INDEF_INT,
     "", "F606W, six"),
]


def write_mdriztab(path: Path, rows=ROWS, with_filter: bool = True,
                   with_numimages: bool = True) -> Path:
    """An MDRIZTAB file of ``rows`` (columns as in :data:`ROWS`), optionally without
    its FILTER or NUMIMAGES column."""
    columns = list(zip(*rows))
    definitions = [
        ("NUMIMAGES", "J", columns[0]), ("FILTER", "A8", columns[1]),
        ("COMBINE_TYPE", "A8", columns[2]), ("COMBINE_NSIGMA", "A8", columns[3]),
        ("DRIZ_CR_SNR", "A8", columns[4]), ("SKYWIDTH", "E", columns[5]),
        ("SKYLOWER", "E", columns[6]), ("SUBSKY", "L", columns[7]),
        ("CRBITVAL", "J", columns[8]), ("FINAL_ROT", "E", columns[9]),
        ("DRIZ_SEP_BITS", "J", columns[10]), ("FINAL_OUTNX", "J", columns[11]),
        ("SHIFTFILE", "A16", columns[12]), ("DESCRIPTION", "A16", columns[13]),
    ]
    fits_columns = [fits.Column(name=name, format=form, array=np.array(values))
                    for name, form, values in definitions
                    if (with_filter or name != "FILTER")
                    and (with_numimages or name != "NUMIMAGES")]
    table = fits.BinTableHDU.from_columns(fits_columns)
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(path)
    return path


def write_exposure(path: Path, mdriztab: str | None = "iref$fake_mdz.fits",
                   **filters: str) -> Path:
    """A 4x4 ACS exposure whose primary header names ``mdriztab`` and the ``filters``."""
    header = fits.Header()
    header["INSTRUME"] = "ACS"
    if mdriztab is not None:
        header["MDRIZTAB"] = mdriztab
    for keyword, value in filters.items():
        header[keyword] = value
    primary = fits.PrimaryHDU(header=header)
    science = fits.ImageHDU(np.zeros((4, 4), dtype=np.float32), name="SCI")
    fits.HDUList([primary, science]).writeto(path)
    return path

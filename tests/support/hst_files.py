"""Real HST headers (``tests/data``) with full-size synthetic pixels, for tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.io import fits

HEADERS = Path(__file__).resolve().parents[1] / "data"
UVIS_FLC = HEADERS / "wfc3_uvis_ib4606c6q_flc.fits"
UVIS_FLC_SHORT = HEADERS / "wfc3_uvis_ib4606c5q_flc.fits"
IR_FLT = HEADERS / "wfc3_ir_ib4606cpq_flt.fits"
ACS_FLT = HEADERS / "acs_wfc_j94f05bgq_flt.fits"
ACS_LOOKUP = HEADERS / "acs_wfc_npol_d2im_lookup.fits.gz"


def full_size_copy(source: Path, destination: Path, *, fill: float = 0.0,
                   seed: int | None = None) -> Path:
    """Copy a real HST file, replacing its tiny SCI/ERR/DQ arrays by full-size ones.

    The detector size comes from SIZAXIS1/SIZAXIS2 of each SCI header; every
    other extension (lookup tables for NPOL and D2IM among them) is kept.
    """
    rng = np.random.default_rng(seed) if seed is not None else None
    with fits.open(source) as hdul:
        out = fits.HDUList([fits.PrimaryHDU(header=hdul[0].header)])
        sizes = {}
        for hdu in hdul[1:]:
            if hdu.name == "SCI":
                sizes[hdu.ver] = (int(hdu.header["SIZAXIS2"]), int(hdu.header["SIZAXIS1"]))
        for hdu in hdul[1:]:
            if hdu.name in ("SCI", "ERR", "DQ"):
                shape = sizes[hdu.ver]
                if hdu.name == "DQ":
                    data = np.zeros(shape, dtype=np.int16)
                elif hdu.name == "ERR":
                    data = np.ones(shape, dtype=np.float32)
                elif rng is not None:
                    data = rng.normal(fill, 1.0, shape).astype(np.float32)
                else:
                    data = np.full(shape, fill, dtype=np.float32)
                header = hdu.header.copy()
                for key in ("NAXIS1", "NAXIS2"):
                    header.remove(key, ignore_missing=True)
                out.append(fits.ImageHDU(data=data, header=header, name=hdu.name,
                                         ver=hdu.ver))
            elif isinstance(hdu, fits.ImageHDU) and hdu.name in ("WCSDVARR", "D2IMARR"):
                out.append(hdu.copy())
        # the extensions left out (header lets, WCSCORR) are no longer promised
        out[0].header["NEXTEND"] = len(out) - 1
        out.writeto(destination, overwrite=True)
    return destination

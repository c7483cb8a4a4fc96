"""Bit-for-bit guard of the products of fixed demo runs.

The checksums were computed before the step-contract redesign (issue 10) and
must not change under refactoring: only a deliberate change of the science
(a kernel, a noise model) may update them, in a commit that says why.  So far:
the final SCI of pixels without weight became NaN (``final_maskval``, as
AstroDrizzle) when the six missing AstroDrizzle parameters were added; the
cosmic-ray test (sharpness and core tests, Poisson skew, holes in the median)
changed the masks and so every product.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from multidrizzle import Multidrizzle
from multidrizzle.demo.datasets import make_demo_dataset

#: (parameters, expected sha256 of final SCI, WHT, CTX, all CR masks)
CONFIGURATIONS = {
    "defaults": ({}, {"sci": "e7cf9ae67e11ff99", "wht": "9a661980e83ac42d",
                      "ctx": "0b11ef64a0ac5970", "cr": "024ed1ca19251457"}),
    "median-turbo": ({"combine_type": "median", "final_kernel": "turbo",
                      "final_pixfrac": 0.8, "driz_sep_kernel": "point",
                      "blot_interp": "poly3"},
                     {"sci": "21a837433c844a0b", "wht": "e59ef8a819c263a8",
                      "ctx": "704f2bed9de7fc5c", "cr": "72b58ff99ceed612"}),
}


def _digest(arrays) -> str:
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(str(array.dtype.newbyteorder("<")).encode())
        digest.update(str(array.shape).encode())
        digest.update(array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes())
    return digest.hexdigest()[:16]


def product_checksums(md: Multidrizzle) -> dict[str, str]:
    """Short sha256 of the final SCI, WHT, CTX and of every chip's cosmic-ray mask."""
    chips = [chip for exposure in md.exposures for chip in exposure.chips]
    return {"sci": _digest([md.final_sci]), "wht": _digest([md.final_wht]),
            "ctx": _digest([md.final_ctx]),
            "cr": _digest([md.cr_masks[chip.name] for chip in chips])}


@pytest.fixture(scope="module")
def demo_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("checksum_demo")
    make_demo_dataset(folder, n_exposures=4, chip_shape=(128, 256), seed=3)
    return folder


@pytest.mark.parametrize("name", sorted(CONFIGURATIONS))
def test_products_are_bit_identical(demo_folder, tmp_path, name):
    parameters, expected = CONFIGURATIONS[name]
    md = Multidrizzle(f"@{demo_folder / 'inputs.lst'}", output=str(tmp_path / "final"),
                      runfile="", **parameters)
    md.build()
    md.run()
    assert product_checksums(md) == expected

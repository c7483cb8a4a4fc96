"""Where every file of a run goes, by AstroDrizzle's names.

One :class:`OutputLayout` names every intermediate file and product of a
session (the session asks it; steps never name files).  Intermediates go to
the folder of the output root, named after the input they come from as
AstroDrizzle names them:

============================================  =======================================
``<input>_single_sci.fits``                   separate drizzle of one exposure
``<input>_single_wht.fits``                   its weight
``<output>_med.fits``                         the median
``<input>_sci<N>_blt.fits``                   the median blotted onto chip N
``<input>_sci<N>_crmask.fits``                chip N's cosmic-ray mask (1 = good)
``<input>_sci<N>_crclean.fits``               chip N with its cosmic rays replaced
``<DET>_<nx>x<ny>_<chip>_staticMask.fits``    static mask of a chip signature
``<output>_drz.fits`` (``_drc``)              the product (``build_mef``), or
``<output>_drz_sci/_wht/_ctx.fits``           its three images (``build_mef=False``)
============================================  =======================================
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from multidrizzle.io.atomic import TEMPORARY_SUFFIX
from multidrizzle.model import Chip, Exposure

__all__ = ["OutputLayout", "static_mask_filename", "PRODUCT_SUFFIXES",
           "PRODUCT_IMAGES"]

#: Suffixes of the final product: ``drz`` (FLT input), ``drc`` (CTE-corrected FLC).
PRODUCT_SUFFIXES = ("drz", "drc")
#: The images of the final product, each a file of its own with ``build_mef=False``.
PRODUCT_IMAGES = ("SCI", "WHT", "CTX", "ERR")


def static_mask_filename(signature: tuple) -> str:
    """``[Instrument][Detector]_[nx]x[ny]_[chip]_staticMask.fits`` for a signature.

    >>> static_mask_filename(("WFC3/UVIS", (4096, 2051), 1))
    'WFC3UVIS_4096x2051_1_staticMask.fits'
    """
    detector, (nx, ny), chip_id = signature
    prefix = "".join(str(detector).replace("/", "").split())
    return f"{prefix}_{int(nx)}x{int(ny)}_{chip_id}_staticMask.fits"


def _stem(path: Path) -> str:
    """``j8bt06nyq_flt`` of ``j8bt06nyq_flt.fits``."""
    return path.name.rsplit(".fits", 1)[0]


@dataclass(frozen=True)
class OutputLayout:
    """The names of a run's files.

    Attributes
    ----------
    root : str
        The output root name (``output``), possibly with a folder.
    """

    root: str

    @property
    def folder(self) -> Path:
        """Where intermediates and products go."""
        return Path(self.root).parent

    def static_mask(self, signature: tuple) -> Path:
        return self.folder / static_mask_filename(signature)

    def single(self, exposure: Exposure, image: str) -> Path:
        """``image`` is ``'sci'`` or ``'wht'``."""
        return self.folder / f"{_stem(exposure.filename)}_single_{image}.fits"

    def median(self) -> Path:
        return Path(f"{self.root}_med.fits")

    def median_part(self) -> Path:
        """The median being combined tile by tile, renamed to :meth:`median` when whole."""
        median = self.median()
        return median.with_name(f".{median.name}.part")

    def _chip(self, chip: Chip, what: str) -> Path:
        return self.folder / f"{_stem(chip.filename)}_sci{chip.extver}_{what}.fits"

    def blot(self, chip: Chip) -> Path:
        return self._chip(chip, "blt")

    def crmask(self, chip: Chip) -> Path:
        return self._chip(chip, "crmask")

    def crclean(self, chip: Chip) -> Path:
        return self._chip(chip, "crclean")

    def product(self, suffix: str) -> Path:
        """The multi-extension product, ``suffix`` ``'drz'`` or ``'drc'``."""
        return Path(f"{self.root}_{suffix}.fits")

    def partial_files(self) -> list[Path]:
        """The files a run builds in place and renames or removes when it ends: the
        median being combined.  (The final product is built in place under the
        temporary names of its :class:`~multidrizzle.io.atomic.FileSet`.)"""
        return [self.median_part()]

    def leftovers(self, exposures) -> list[Path]:
        """Temporary files in the output folder left by a run of this layout that was
        killed (``.NAME.XXXX.tmp`` of its files, partial images).

        Only names this layout (for these exposures) writes are matched, so the
        temporary files of another output name in the same folder are left alone.
        """
        if not self.folder.is_dir():
            return []
        stems = [Path(self.root).name] + [_stem(exposure.filename) for exposure in exposures]
        found = [path for path in self.partial_files() if path.exists()]
        for path in self.folder.glob(f".*{TEMPORARY_SUFFIX}"):
            target = path.name[1:].rsplit(".", 2)[0]  # .NAME.XXXX.tmp -> NAME
            if target.startswith(tuple(stems)) or target.endswith("_staticMask.fits"):
                found.append(path)
        return sorted(set(found))

    def manifest(self) -> Path:
        """``<output>_manifest.json``: the record of a complete product set, written last."""
        return Path(f"{self.root}_manifest.json")

    def every_product(self) -> list[Path]:
        """Every name a product of this root can have, in both layouts (``build_mef``)
        and both suffixes, and the manifest: what a new run replaces or removes."""
        names = [self.manifest()]
        for suffix in PRODUCT_SUFFIXES:
            names.append(self.product(suffix))
            names += list(self.product_images(suffix).values())
        return names

    def product_images(self, suffix: str) -> dict[str, Path]:
        """The simple-file products (``build_mef=False``), by extension name."""
        return {name: Path(f"{self.root}_{suffix}_{name.lower()}.fits")
                for name in PRODUCT_IMAGES}

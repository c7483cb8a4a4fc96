"""Output grids and per-chip pixel maps, from ``astropy.wcs``.

An :class:`OutputGrid` is a distortion-free tangent-plane WCS with a shape.
Its default scale and orientation come from the first input chip, its centre
from the middle of the union of all chip footprints and its size is the
smallest that holds every chip; any of these can be set, or the whole grid
taken from a reference image.

A :class:`PixelMap` maps every input pixel to the output grid through the
chip's full distortion.  The WCS chain is evaluated exactly on nodes every
``stepsize`` pixels and filled in bilinearly by a numba kernel; 1-D
detector-to-image (D2IM) tables are applied exactly per column or row.
"""

from __future__ import annotations

import functools
import logging
import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import psutil
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning

from multidrizzle.errors import GridTooLargeError, InputError, ParameterError
from multidrizzle.io.userfiles import split_file_spec
from multidrizzle.kernels.pixmap import (CoarsePixelMap, coarse_pixel_map,
                                         interpolate_pixel_map)
from multidrizzle.model.exposure import Chip

__all__ = [
    "GridRequest", "OutputGrid", "PixelMap", "make_output_grid", "compute_pixel_map",
    "chip_footprint", "sky_to_chip_pixels", "native_scale", "native_orientation",
    "available_memory", "check_memory", "read_reference_wcs", "reference_grid",
]

log = logging.getLogger(__name__)

#: Points sampled along each chip edge when finding footprints, per pixel.
_EDGE_SAMPLING = 1.0 / 32.0


@dataclass(frozen=True)
class GridRequest:
    """What the user asked of an output grid; None means "choose for me".

    ``crpix`` is the 1-based FITS reference pixel ``(CRPIX1, CRPIX2)``: the
    pixel of the grid's centre (``ra``, ``dec``, or the default centre).
    ``refimage`` is a reference image name (``'ref.fits[sci,1]'``) or an
    ``astropy.wcs.WCS`` with ``pixel_shape`` set; it wins over the rest.
    """

    scale: float | None = None
    rotation: float | None = None
    ra: float | None = None
    dec: float | None = None
    nx: int | None = None
    ny: int | None = None
    refimage: str | WCS = ""
    crpix: tuple[float, float] | None = None


@dataclass
class OutputGrid:
    """A distortion-free output frame.

    Attributes
    ----------
    wcs : astropy.wcs.WCS
        Tangent-plane WCS of the output frame (``pixel_shape`` set).
    shape : tuple of int
        ``(ny, nx)``.
    scale : float
        Pixel scale in arcsec/pixel.
    rotation : float
        Position angle of the output y axis, degrees east of north.
    origin : str
        How it was made, for summaries.
    """

    wcs: WCS
    shape: tuple[int, int]
    scale: float
    rotation: float
    origin: str = "computed"

    @property
    def nx(self) -> int:
        return self.shape[1]

    @property
    def ny(self) -> int:
        return self.shape[0]

    def cutout(self, rows: slice, columns: slice) -> "OutputGrid":
        """The part ``[rows, columns]`` of the grid as a grid of its own (CRPIX moved)."""
        y0, y1, _ = rows.indices(self.ny)
        x0, x1, _ = columns.indices(self.nx)
        wcs = self.wcs.deepcopy()
        wcs.wcs.crpix = [wcs.wcs.crpix[0] - x0, wcs.wcs.crpix[1] - y0]
        wcs.wcs.set()
        wcs.pixel_shape = (x1 - x0, y1 - y0)
        return OutputGrid(wcs, (y1 - y0, x1 - x0), self.scale, self.rotation,
                          origin=f"cutout [{y0}:{y1}, {x0}:{x1}] of a {self.origin} grid")

    def same_as(self, other: "OutputGrid") -> bool:
        """True when both grids map sky to pixels identically."""
        return (self.shape == other.shape
                and np.allclose(self.wcs.wcs.crval, other.wcs.wcs.crval, rtol=0, atol=1e-12)
                and np.allclose(self.wcs.wcs.crpix, other.wcs.wcs.crpix, rtol=0, atol=1e-9)
                and np.allclose(self.wcs.pixel_scale_matrix, other.wcs.pixel_scale_matrix,
                                rtol=1e-12, atol=0))


#: Nodes per axis sampled inside a chip when finding where it lands.
_INTERIOR_SAMPLES = 64


@dataclass
class PixelMap:
    """The map from one chip's pixels to an output grid.

    Holds the WCS-evaluated nodes; :meth:`evaluate` fills the dense map
    ``pixmap[y, x] = (x_out, y_out)`` on demand so that a session with
    many chips does not keep every dense map in memory.
    """

    chip_name: str
    shape: tuple[int, int]
    stepsize: int
    node_values: np.ndarray = field(repr=False)
    origin: tuple[float, float]
    column_shifts: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)
    row_shifts: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)
    wcs_seconds: float = 0.0

    def evaluate(self, window: tuple[slice, slice] | None = None) -> np.ndarray:
        """The dense pixel map, shape ``(ny, nx, 2)``, float64, or a window of it.

        Parameters
        ----------
        window : (slice, slice), optional
            Rows and columns of the chip (steps of 1): the result then holds
            exactly the values of those pixels in the map of the whole chip.
        """
        rows, columns = window if window is not None else (slice(None), slice(None))
        y0, y1, _ = rows.indices(self.shape[0])
        x0, x1, _ = columns.indices(self.shape[1])
        if self.stepsize == 1 and self.node_values.shape[:2] == self.shape:
            return self.node_values[y0:y1, x0:x1].copy()
        dx_col, dy_col = ((shift[x0:x1] for shift in self.column_shifts)
                          if self.column_shifts else (None, None))
        dx_row, dy_row = ((shift[y0:y1] for shift in self.row_shifts)
                          if self.row_shifts else (None, None))
        return interpolate_pixel_map(self.node_values, self.origin, self.stepsize,
                                     (y1 - y0, x1 - x0), dx_of_column=dx_col,
                                     dx_of_row=dx_row, dy_of_column=dy_col,
                                     dy_of_row=dy_row, first=(y0, x0))

    @functools.cached_property
    def mapped_bounds(self) -> tuple[float, float, float, float] | None:
        """``(x_low, y_low, x_high, y_high)`` of where the chip's pixel centres land,
        or None if nowhere finite; worked out once per map.

        The border pixels are mapped exactly (the map of a smooth distortion
        takes its extremes on the border), together with a sample of the
        nodes on the chip.
        """
        ny, nx = self.shape
        edges = [self.evaluate((slice(0, 1), slice(None))),
                 self.evaluate((slice(ny - 1, ny), slice(None))),
                 self.evaluate((slice(None), slice(0, 1))),
                 self.evaluate((slice(None), slice(nx - 1, nx)))]
        positions = np.concatenate([edge.reshape(-1, 2) for edge in edges]
                                   + [self._nodes_on_chip()])
        positions = positions[np.isfinite(positions).all(axis=1)]
        if positions.size == 0:
            return None
        (x_low, y_low), (x_high, y_high) = positions.min(axis=0), positions.max(axis=0)
        return float(x_low), float(y_low), float(x_high), float(y_high)

    def _nodes_on_chip(self) -> np.ndarray:
        """The mapped nodes that lie on the chip (pixel centres 0 .. n-1), as ``(n, 2)``."""
        ny, nx = self.shape
        x_origin, y_origin = self.origin
        n_node_y, n_node_x = self.node_values.shape[:2]
        node_x = x_origin + self.stepsize * np.arange(n_node_x)
        node_y = y_origin + self.stepsize * np.arange(n_node_y)
        columns = np.flatnonzero((node_x >= 0) & (node_x <= nx - 1))
        rows = np.flatnonzero((node_y >= 0) & (node_y <= ny - 1))
        # a sample of them is enough: they only guard against a map whose extreme is
        # not on the border (a stepsize-1 map has a node per pixel)
        columns = columns[::max(1, columns.size // _INTERIOR_SAMPLES)]
        rows = rows[::max(1, rows.size // _INTERIOR_SAMPLES)]
        return self.node_values[np.ix_(rows, columns)].reshape(-1, 2)

    def coarse(self, offset: tuple[float, float] = (0.0, 0.0)) -> CoarsePixelMap:
        """The map for kernels that evaluate it from the nodes row by row.

        The positions they read are those of :meth:`evaluate`, to the last
        bit, minus ``offset``, without the dense ``(ny, nx, 2)`` array.

        Parameters
        ----------
        offset : (float, float)
            ``(x, y)`` subtracted from every position: the origin of the
            window of the output grid the kernel reads.
        """
        if self.stepsize == 1 and self.node_values.shape[:2] == self.shape:
            return coarse_pixel_map(self.node_values, (0.0, 0.0), 1.0, self.shape,
                                    offset=offset)
        dx_col, dy_col = self.column_shifts if self.column_shifts else (None, None)
        dx_row, dy_row = self.row_shifts if self.row_shifts else (None, None)
        return coarse_pixel_map(self.node_values, self.origin, self.stepsize, self.shape,
                                dx_of_column=dx_col, dx_of_row=dx_row, dy_of_column=dy_col,
                                dy_of_row=dy_row, offset=offset)


# --------------------------------------------------------------------------
# scale, orientation, footprints


def native_scale(chip: Chip) -> float:
    """Undistorted pixel scale of a chip in arcsec/pixel.

    ``IDCSCALE`` (the scale of the distortion solution) when the header has
    it, as AstroDrizzle uses; otherwise the square root of the pixel area at
    the reference pixel from the linear WCS.
    """
    if chip.idcscale:
        return chip.idcscale
    return float(math.sqrt(abs(np.linalg.det(chip.wcs.pixel_scale_matrix))) * 3600.0)


def native_orientation(chip: Chip) -> float:
    """Position angle of the chip's y axis (degrees east of north)."""
    matrix = chip.wcs.pixel_scale_matrix
    return float(math.degrees(math.atan2(matrix[0, 1], matrix[1, 1])))


def chip_footprint(chip: Chip) -> np.ndarray:
    """Sky positions (deg) along the outer edges of the chip's pixels.

    The edges are sampled every 32 pixels and at the corners, through the
    full distortion, so the footprint's bounding box holds every pixel.
    """
    ny, nx = chip.shape
    xs = _edge_samples(nx)
    ys = _edge_samples(ny)
    edges = np.concatenate([
        np.column_stack([xs, np.full_like(xs, -0.5)]),
        np.column_stack([xs, np.full_like(xs, ny - 0.5)]),
        np.column_stack([np.full_like(ys, -0.5), ys]),
        np.column_stack([np.full_like(ys, nx - 0.5), ys]),
    ])
    return chip.wcs.all_pix2world(edges, 0)


def _edge_samples(n: int) -> np.ndarray:
    count = max(2, int(math.ceil(n * _EDGE_SAMPLING)) + 1)
    return np.linspace(-0.5, n - 0.5, count)


def _tangent_wcs(crval: Sequence[float], scale: float, rotation: float,
                 crpix: Sequence[float] = (1.0, 1.0)) -> WCS:
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [float(crval[0]) % 360.0, float(crval[1])]
    wcs.wcs.crpix = [float(crpix[0]), float(crpix[1])]
    theta = math.radians(rotation)
    degrees = scale / 3600.0
    wcs.wcs.cd = [[-degrees * math.cos(theta), degrees * math.sin(theta)],
                  [degrees * math.sin(theta), degrees * math.cos(theta)]]
    wcs.wcs.radesys = "ICRS"
    wcs.wcs.set()
    return wcs


def _mean_direction(sky: np.ndarray) -> tuple[float, float]:
    ra = np.radians(sky[:, 0])
    dec = np.radians(sky[:, 1])
    vector = np.array([np.mean(np.cos(dec) * np.cos(ra)),
                       np.mean(np.cos(dec) * np.sin(ra)),
                       np.mean(np.sin(dec))])
    ra0 = math.degrees(math.atan2(vector[1], vector[0])) % 360.0
    dec0 = math.degrees(math.atan2(vector[2], math.hypot(vector[0], vector[1])))
    return ra0, dec0


# --------------------------------------------------------------------------
# output grid


def make_output_grid(chips: Sequence[Chip], request: GridRequest) -> OutputGrid:
    """The output frame for these chips, as the request and defaults say.

    Parameters
    ----------
    chips : sequence of Chip
        Every chip to drizzle; the first gives the default scale and
        orientation.
    request : GridRequest
        User choices; ``refimage`` wins over everything else.

    Returns
    -------
    OutputGrid
    """
    if isinstance(request.refimage, WCS) or request.refimage:
        wcs, shape = reference_grid(request.refimage)
        matrix = wcs.pixel_scale_matrix
        scale = float(math.sqrt(abs(np.linalg.det(matrix))) * 3600.0)
        rotation = float(math.degrees(math.atan2(matrix[0, 1], matrix[1, 1])))
        origin = ("refimage WCS" if isinstance(request.refimage, WCS)
                  else f"refimage {request.refimage}")
        return OutputGrid(wcs, shape, scale, rotation, origin=origin)
    first = chips[0]
    scale = request.scale if request.scale is not None else native_scale(first)
    rotation = request.rotation if request.rotation is not None else native_orientation(first)
    footprints = np.concatenate([chip_footprint(chip) for chip in chips])
    fixed_centre = request.ra is not None and request.dec is not None
    if fixed_centre:
        centre = (float(request.ra), float(request.dec))
    else:
        centre = _bounding_box_centre(footprints, _mean_direction(footprints), scale, rotation)
    frame = _tangent_wcs(centre, scale, rotation)
    x, y = frame.wcs_world2pix(footprints[:, 0], footprints[:, 1], 0)
    nx, crpix_x = _axis_size(x, request.nx, fixed_centre)
    ny, crpix_y = _axis_size(y, request.ny, fixed_centre)
    if request.crpix is not None:
        # AstroDrizzle's final_crpix1/2: the centre goes to this pixel, the
        # size stays (the field moves in the frame)
        crpix_x, crpix_y = (float(value) for value in request.crpix)
    wcs = _tangent_wcs(centre, scale, rotation, crpix=(crpix_x, crpix_y))
    wcs.pixel_shape = (nx, ny)
    origin = "computed" if request == GridRequest() else "custom"
    return OutputGrid(wcs, (ny, nx), float(scale), float(rotation) % 360.0, origin=origin)


def _bounding_box_centre(footprints: np.ndarray, provisional: tuple[float, float],
                         scale: float, rotation: float) -> tuple[float, float]:
    """Sky position of the middle of the footprints' box in the output frame."""
    centre = provisional
    for _ in range(2):  # the second pass removes the small tangent-point bias
        frame = _tangent_wcs(centre, scale, rotation)
        x, y = frame.wcs_world2pix(footprints[:, 0], footprints[:, 1], 0)
        middle = ((x.min() + x.max()) / 2.0, (y.min() + y.max()) / 2.0)
        ra, dec = frame.wcs_pix2world([middle[0]], [middle[1]], 0)
        centre = (float(ra[0]), float(dec[0]))
    return centre


def _axis_size(positions: np.ndarray, requested: int | None,
               symmetric: bool) -> tuple[int, float]:
    """Size along one axis and the 1-based reference pixel of the centre.

    ``positions`` are relative to the centre (at 0).  Without a requested
    size the axis is the smallest whole number of pixels holding every
    position; with a fixed centre it is symmetric about it.
    """
    low, high = float(positions.min()), float(positions.max())
    if requested is not None:
        size = int(requested)
    elif symmetric:
        size = int(math.ceil(2.0 * max(abs(low), abs(high))))
    else:
        size = int(math.ceil(high - low))
    size = max(size, 1)
    if requested is None and not symmetric:
        # put the middle of the extent in the middle of the axis
        crpix = (size - 1) / 2.0 - (low + high) / 2.0 + 1.0
    else:
        crpix = (size - 1) / 2.0 + 1.0
    return size, crpix


def reference_grid(refimage: str | WCS, *, source: str | None = None
                   ) -> tuple[WCS, tuple[int, int]]:
    """WCS and ``(ny, nx)`` of a reference grid: an image name or a WCS with a shape.

    Parameters
    ----------
    refimage : str or astropy.wcs.WCS
        A name for :func:`read_reference_wcs`, or a celestial 2-D WCS with
        ``pixel_shape`` set (a copy is returned).
    source : str, optional
        Where ``refimage`` came from, for messages.

    Raises
    ------
    ParameterError
        For a WCS without ``pixel_shape`` or not celestial.
    InputError
        For a file that cannot be used (see :func:`read_reference_wcs`).
    """
    if not isinstance(refimage, WCS):
        return read_reference_wcs(refimage, source=source)
    source = source or "parameter 'refimage', 'final_refimage' or 'driz_sep_refimage'"
    if refimage.pixel_shape is None:
        raise ParameterError(f"{source}: the reference WCS has no pixel_shape; set "
                             "wcs.pixel_shape = (nx, ny)")
    if refimage.naxis != 2 or not refimage.has_celestial:
        raise ParameterError(f"{source}: the reference WCS is not a two-dimensional "
                             "celestial WCS")
    wcs = refimage.deepcopy()
    nx, ny = (int(n) for n in wcs.pixel_shape)
    return wcs, (ny, nx)


def read_reference_wcs(spec: str, *, source: str | None = None) -> tuple[WCS, tuple[int, int]]:
    """WCS and ``(ny, nx)`` of a reference image ``'file.fits'`` or ``'file.fits[sci,1]'``.

    Without an extension the first HDU holding a 2-D image with a celestial
    WCS is used.  A data-less HDU whose size is in NPIX1/NPIX2 (the
    ``tweak_wcs.fits[wcs]`` frame TweakReg writes) also counts as an image.

    Parameters
    ----------
    spec : str
        File name, optionally followed by ``[number]``, ``[name]`` or
        ``[name,version]``.
    source : str, optional
        Where ``spec`` came from, for messages (``"parameter
        'final_refimage'"``, ``"shift file s.txt, line 4"``).  By default
        the reference-image parameters are named.

    Returns
    -------
    wcs : astropy.wcs.WCS
        With ``pixel_shape`` set.
    shape : tuple of int
        ``(ny, nx)`` of the reference image.

    Raises
    ------
    ParameterError
        If the extension in brackets cannot be understood.
    InputError
        If the file is missing, is not a FITS file, lacks the extension,
        or has no 2-D image with a celestial WCS.
    """
    source = source or "parameter 'refimage', 'final_refimage' or 'driz_sep_refimage'"
    text = str(spec).strip()
    where = f"reference image {text!r} ({source})"
    path, extension, extension_text = split_file_spec(text, where)
    if not path.exists():
        raise InputError(f"{where}: file {path} does not exist")
    if not path.is_file():
        raise InputError(f"{where}: {path} is not a regular file; expected a FITS image")
    try:
        with fits.open(path, mode="readonly") as hdul:
            candidates = [extension] if extension is not None else range(len(hdul))
            for candidate in candidates:
                try:
                    hdu = hdul[candidate]
                except (KeyError, IndexError) as exc:
                    names = ", ".join(f"[{i}] {h.name},{h.ver}" for i, h in enumerate(hdul))
                    raise InputError(f"{where}: {path} has no extension "
                                     f"[{extension_text}]; it has {names}") from exc
                header = hdu.header
                if header.get("NAXIS") == 2:
                    shape = (int(header["NAXIS2"]), int(header["NAXIS1"]))
                elif (header.get("NAXIS", 0) == 0 and isinstance(header.get("NPIX1"), int)
                        and isinstance(header.get("NPIX2"), int)):
                    # TweakReg writes its reference frame (tweak_wcs.fits[wcs], named in
                    # the shift files it writes) as a data-less HDU sized by NPIX1/NPIX2
                    shape = (int(header["NPIX2"]), int(header["NPIX1"]))
                else:
                    continue
                try:
                    with warnings.catch_warnings():
                        if header.get("NAXIS", 0) == 0:  # "more axes than the image"
                            warnings.simplefilter("ignore", FITSFixedWarning)
                        wcs = WCS(header, fobj=hdul)
                except (ValueError, KeyError, fits.VerifyError) as exc:
                    # astropy.wcs raises ValueError subclasses (WcsError) for bad headers
                    raise InputError(f"{where}: the WCS of extension {candidate!r} cannot "
                                     f"be read ({exc})") from exc
                if wcs.has_celestial and wcs.naxis == 2:
                    wcs.pixel_shape = (shape[1], shape[0])
                    return wcs, shape
    except (OSError, fits.VerifyError) as exc:
        raise InputError(f"{where}: {path} cannot be read as FITS ({exc}); expected a "
                         "FITS image with a celestial WCS") from exc
    if extension is not None:
        raise InputError(f"{where}: extension [{extension_text}] is not a 2-D "
                         "image with a celestial WCS")
    raise InputError(f"{where}: has no 2-D image with a celestial WCS")


# --------------------------------------------------------------------------
# memory


def available_memory() -> int:
    """Bytes of memory available to new allocations without swapping (``psutil``)."""
    return int(psutil.virtual_memory().available)


def check_memory(estimated_bytes: int, what: str, limit: int | None = None) -> None:
    """Refuse work whose arrays would not fit in memory, before allocating them.

    Raises
    ------
    GridTooLargeError
        Naming ``what`` and both figures.
    """
    limit = available_memory() if limit is None else limit
    if estimated_bytes > limit:
        raise GridTooLargeError(
            f"{what} needs about {estimated_bytes / 2**30:.2f} GiB but only "
            f"{limit / 2**30:.2f} GiB of memory is available; choose a larger scale, "
            "smaller outnx/outny, or fewer inputs")


# --------------------------------------------------------------------------
# pixel maps


def compute_pixel_map(chip: Chip, grid: OutputGrid | Chip, stepsize: int) -> PixelMap:
    """Map every pixel of ``chip`` onto ``grid``, or onto another chip's pixels.

    Parameters
    ----------
    chip : Chip
        Input chip with its full-distortion WCS.
    grid : OutputGrid or Chip
        Output frame, or a chip whose pixels to map onto (through its full
        distortion near it; positions far off it are only needed roughly,
        and take its linear WCS: see :func:`sky_to_chip_pixels`).
    stepsize : int
        Node spacing in input pixels; 1 evaluates the WCS at every pixel.

    Returns
    -------
    PixelMap
    """
    if int(stepsize) < 1:
        raise ValueError(f"stepsize must be >= 1, got {stepsize}")
    stepsize = int(stepsize)
    started = time.perf_counter()
    ny, nx = chip.shape
    if stepsize == 1:
        y, x = np.mgrid[0:ny, 0:nx].astype(np.float64)
        nodes = _to_output(chip.wcs, grid, x, y)
        return PixelMap(chip.name, chip.shape, 1, nodes, (0.0, 0.0),
                        wcs_seconds=time.perf_counter() - started)
    smooth_wcs, column_shifts, row_shifts = _split_detector_shifts(chip.wcs, chip.shape)
    x_nodes = np.arange(-1, int(math.ceil((nx - 1) / stepsize)) + 2) * float(stepsize)
    y_nodes = np.arange(-1, int(math.ceil((ny - 1) / stepsize)) + 2) * float(stepsize)
    node_x, node_y = np.meshgrid(x_nodes, y_nodes)
    nodes = _to_output(smooth_wcs, grid, node_x, node_y)
    return PixelMap(chip.name, chip.shape, stepsize, nodes,
                    (float(x_nodes[0]), float(y_nodes[0])), column_shifts, row_shifts,
                    wcs_seconds=time.perf_counter() - started)


def _to_output(chip_wcs: WCS, grid: OutputGrid | Chip, x: np.ndarray,
               y: np.ndarray) -> np.ndarray:
    ra, dec = chip_wcs.all_pix2world(x.ravel(), y.ravel(), 0)
    if isinstance(grid, Chip):
        x_out, y_out = sky_to_chip_pixels(grid, ra, dec)
    elif grid.wcs.has_distortion:
        x_out, y_out = grid.wcs.all_world2pix(ra, dec, 0)
    else:
        x_out, y_out = grid.wcs.wcs_world2pix(ra, dec, 0)
    return np.stack([x_out.reshape(x.shape), y_out.reshape(x.shape)], axis=-1)


#: The linear WCS places a sky position within this fraction of a chip's size
#: of its distorted position (HST distortions are a few per cent); positions
#: farther out are certainly off the chip and skip the iterative inversion.
_DISTORTION_MARGIN = 0.25


def sky_to_chip_pixels(chip: Chip, ra: np.ndarray, dec: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Pixel positions of sky positions on ``chip``: exact near it, linear far from it.

    Within a quarter of the chip's size of its edges the full distortion is
    inverted (``all_world2pix``); farther out the linear WCS is used, which
    places a position within a few per cent of the chip's size and never
    brings it onto the chip.
    """
    x, y = chip.wcs.wcs_world2pix(ra, dec, 0)
    ny, nx = chip.shape
    margin = _DISTORTION_MARGIN * max(nx, ny)
    near = (x > -margin) & (x < nx + margin) & (y > -margin) & (y < ny + margin)
    if near.any():
        exact_x, exact_y = chip.wcs.all_world2pix(ra[near], dec[near], 0, quiet=True)
        x = x.copy()
        y = y.copy()
        x[near], y[near] = exact_x, exact_y
    return x, y


def _split_detector_shifts(wcs: WCS, shape: tuple[int, int]):
    """Separate 1-D D2IM tables from the smooth part of the distortion.

    HST's detector-to-image tables change from one column to the next, so
    interpolating between nodes would blur them.  When every table present
    varies along one axis only, the correction is exact as a per-column or
    per-row shift (evaluated by astropy on one line of pixels) and the
    remaining chain is smooth.  Two-dimensional tables are coarse (tens of
    pixels per cell) and stay in the interpolated chain.

    Returns
    -------
    smooth_wcs : WCS
        ``wcs`` itself, or a copy without the 1-D D2IM tables.
    column_shifts, row_shifts : tuple of two arrays, or None
        ``(dx, dy)`` as functions of column and of row.
    """
    tables = [wcs.det2im1, wcs.det2im2]
    present = [t for t in tables if t is not None]
    if not present or not all(1 in np.shape(t.data) for t in present):
        return wcs, None, None
    ny, nx = shape
    columns = np.arange(nx, dtype=np.float64)
    rows = np.arange(ny, dtype=np.float64)
    along_x = np.column_stack([columns, np.zeros(nx)])
    along_y = np.column_stack([np.zeros(ny), rows])
    shift_x = wcs.det2im(along_x, 0) - along_x
    shift_y = wcs.det2im(along_y, 0) - along_y
    column_shifts = [np.zeros(nx), np.zeros(nx)]
    row_shifts = [np.zeros(ny), np.zeros(ny)]
    for axis, table in enumerate(tables):
        if table is None:
            continue
        varies_along_columns = np.shape(table.data)[0] == 1  # one row of values
        if varies_along_columns:
            column_shifts[axis] = shift_x[:, axis].copy()
        else:
            row_shifts[axis] = shift_y[:, axis].copy()
    smooth = wcs.deepcopy()
    smooth.det2im1 = None
    smooth.det2im2 = None
    return smooth, tuple(column_shifts), tuple(row_shifts)

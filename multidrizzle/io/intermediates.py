"""Intermediate images kept on disk (``in_memory=False``) and read back on demand.

With ``in_memory=False`` (AstroDrizzle's default) the separate drizzles, the
median and the blotted medians are written to FITS files as they are made,
and the session keeps a :class:`StoredImage` for each instead of the array:
memory then holds one exposure's intermediates at a time, whatever the
number of inputs.  A :class:`StoredImage` reads as much as it is asked for
(``image[rows]`` reads those rows only, through a memory map that is closed
at once, so the pages read do not stay in the process) and converts it to a
native-endian array; ``np.asarray(image)`` reads it all.

With ``compress=True`` (``driz_sep_compress``) an image is written with
lossless FITS tile compression (GZIP_2 without quantization, one row per
tile) in the first extension, and read back through astropy's tile-wise
``section``: the same values, smaller files, slower reads and writes.
"""

from __future__ import annotations

import mmap
import os
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits

from multidrizzle.io.atomic import atomic_write, atomic_writeto
from multidrizzle.io.dataunits import DataUnit, read_data_unit
from multidrizzle.io.products import STRUCTURAL_KEYWORDS, write_image

__all__ = ["StoredImage", "CompressedStoredImage", "store_image", "create_image",
           "ScaledImage", "PackedImage", "LoadedImages", "loaded",
           "write_static_mask", "write_crmask", "write_crclean", "StoredCosmicRayMask"]

#: Bytes of pixels converted to big-endian at a time when an image is stored.
_WRITE_BLOCK_BYTES = 16 * 2**20
_FITS_BLOCK = 2880

#: Keywords of a caller's header that a pre-allocated image does not keep.
_ALLOCATED_DROPPED = ("SIMPLE", "XTENSION", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "NAXIS3",
                      "EXTEND", "PCOUNT", "GCOUNT", "BSCALE", "BZERO")

#: Data types written unscaled, with their FITS BITPIX.
_STORABLE = {np.dtype(np.float32): -32, np.dtype(np.float64): -64, np.dtype(np.int16): 16,
             np.dtype(np.int32): 32}
_BITPIX = {**_STORABLE, np.dtype(np.uint8): 8}


class StoredImage:
    """An image (or a stack of planes) in a FITS file written by this session.

    Parameters
    ----------
    path : path
        The file.
    shape : tuple of int
        ``(ny, nx)``, or ``(n_planes, ny, nx)``.
    file_dtype : numpy.dtype
        The data type as stored (big-endian, as FITS requires).
    data_offset : int
        Byte offset of the data in the file.
    """

    def __init__(self, path: str | os.PathLike, shape: tuple[int, int],
                 file_dtype: np.dtype, data_offset: int) -> None:
        self.path = Path(path)
        self.shape = tuple(int(n) for n in shape)
        self.file_dtype = np.dtype(file_dtype)
        self.data_offset = int(data_offset)

    @property
    def dtype(self) -> np.dtype:
        """The (native-endian) type of the arrays it reads."""
        return self.file_dtype.newbyteorder("=")

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        return f"StoredImage({str(self.path)!r}, shape={self.shape}, dtype={self.dtype})"

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    def __getitem__(self, key: Any) -> np.ndarray:
        return read_data_unit(self.path, DataUnit(self.data_offset, self.file_dtype,
                                                  self.shape), key)

    def read(self) -> np.ndarray:
        """The whole image as a native-endian array."""
        return self[...]

    def write(self, key: Any, values: np.ndarray) -> None:
        """Write ``values`` into the part ``key`` of the image (a region of a tile).

        Only the pages of that part are mapped, and only for this call.  The
        pages written stay in the system's file cache, where every later read
        of the file finds them; they are not forced to disk here (a
        synchronous flush of the whole map per region cost a second of a
        mosaic's final drizzle), as no other file of the run is.
        """
        count = self.size
        with open(self.path, "r+b") as stream, \
                mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_WRITE) as mapped:
            image = np.frombuffer(mapped, dtype=self.file_dtype, count=count,
                                  offset=self.data_offset).reshape(self.shape)
            image[key] = values
            del image

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        data = self.read()
        return data if dtype is None else data.astype(dtype, copy=False)


class CompressedStoredImage(StoredImage):
    """A 2-D image stored tile-compressed in the first extension of a FITS file.

    Reads go through astropy's ``CompImageHDU.section``, which decompresses
    only the tiles (rows) asked for.
    """

    def __init__(self, path: str | os.PathLike, shape: tuple[int, int],
                 file_dtype: np.dtype) -> None:
        super().__init__(path, shape, file_dtype, data_offset=0)

    def __repr__(self) -> str:
        return (f"CompressedStoredImage({str(self.path)!r}, shape={self.shape}, "
                f"dtype={self.dtype})")

    def __getitem__(self, key: Any) -> np.ndarray:
        with fits.open(self.path, mode="readonly") as hdul:
            return np.array(hdul[1].section[key], dtype=self.dtype)


#: Lossless tile compression of ``compress=True``: GZIP_2 (byte shuffling
#: helps floats) with no quantization, so the values read back are those
#: written.
_COMPRESSION = {"compression_type": "GZIP_2", "quantize_level": 0.0}


def store_image(path: str | os.PathLike, data: np.ndarray,
                header: fits.Header | None = None, *,
                compress: bool = False) -> StoredImage:
    """Write ``data`` (atomically) to ``path`` and return its :class:`StoredImage`.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    data : numpy.ndarray
        A 2-D image of float32, float64, int16 or int32.
    header : astropy.io.fits.Header, optional
        Cards to write with it.
    compress : bool
        Write it with lossless FITS tile compression in extension 1 (a
        :class:`CompressedStoredImage` is returned).
    """
    data = np.asarray(data)
    if data.ndim != 2 or data.dtype not in _BITPIX:
        raise ValueError(f"store_image: expected a 2-D image of {', '.join(map(str, _BITPIX))}, "
                         f"got shape {data.shape} and dtype {data.dtype}")
    if compress:
        image = fits.CompImageHDU(data=data, header=header, **_COMPRESSION)
        written = atomic_writeto(fits.HDUList([fits.PrimaryHDU(), image]), path)
        return CompressedStoredImage(written, data.shape, data.dtype.newbyteorder(">"))
    # Written here rather than by astropy's writeto: the header is made once
    # and the pixels go out in big-endian blocks, with no verification pass
    # and no re-open to find the data offset (a mosaic writes thousands).
    header_bytes = _header_bytes(header, data.shape, data.dtype, STRUCTURAL_KEYWORDS)
    big_endian = data.dtype.newbyteorder(">")
    rows = max(1, _WRITE_BLOCK_BYTES // max(1, data.shape[1] * data.dtype.itemsize))

    def write(stream) -> None:
        stream.write(header_bytes)
        for start in range(0, data.shape[0], rows):
            stream.write(np.ascontiguousarray(data[start:start + rows], dtype=big_endian))
        stream.write(bytes(-data.nbytes % _FITS_BLOCK))
    written = atomic_write(path, write)
    return StoredImage(written, data.shape, big_endian, len(header_bytes))


def _header_bytes(header: fits.Header | None, shape: tuple[int, ...], dtype: np.dtype,
                  dropped: tuple[str, ...]) -> bytes:
    """The primary header of a FITS image of ``shape`` and ``dtype`` with ``header``'s
    cards (but ``dropped``), as written to a file.

    The structural cards are written ahead of the caller's cards as text:
    inserting them into an astropy Header re-indexes every card each time.
    """
    content = fits.Header() if header is None else header.copy()
    for keyword in dropped:
        content.remove(keyword, ignore_missing=True, remove_all=True)
    structure = [fits.Card("SIMPLE", True, "conforms to FITS standard"),
                 fits.Card("BITPIX", _BITPIX[np.dtype(dtype)], "array data type"),
                 fits.Card("NAXIS", len(shape), "number of array dimensions")]
    structure += [fits.Card(f"NAXIS{axis}", int(length))
                  for axis, length in enumerate(reversed(shape), start=1)]
    structure.append(fits.Card("EXTEND", True))
    text = ("".join(card.image for card in structure)
            + content.tostring(endcard=False, padding=False) + "END".ljust(80))
    return (text + " " * (-len(text) % _FITS_BLOCK)).encode("ascii")


def create_image(path: str | os.PathLike, shape: tuple[int, ...], dtype: np.dtype,
                 header: fits.Header | None = None) -> StoredImage:
    """A FITS file holding an image of ``shape`` whose pixels are still to be written.

    The data area is allocated but not written (a sparse file reads as
    zeros): tiles are written into it with :meth:`StoredImage.write`, so an
    image larger than memory is made a region at a time.  The caller renames
    or removes it (it is not written atomically: it is a file under
    construction).
    """
    dtype = np.dtype(dtype)
    if dtype not in _BITPIX:
        raise ValueError(f"create_image: cannot store dtype {dtype}")
    header_bytes = _header_bytes(header, shape, dtype, _ALLOCATED_DROPPED)
    data_bytes = int(np.prod(shape)) * dtype.itemsize
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as stream:
        stream.write(header_bytes)
        stream.truncate(len(header_bytes) + data_bytes + (-data_bytes % _FITS_BLOCK))
    return StoredImage(path, shape, dtype.newbyteorder(">"), len(header_bytes))


class ScaledImage:
    """An image kept in a file, multiplied by a factor as it is read (a few rows at a time).

    The final science image in counts is the count-rate image times the
    exposure time; this gives it without reading the whole image at once.
    """

    def __init__(self, image: StoredImage, factor: np.floating) -> None:
        self.image = image
        self.factor = factor
        self.shape = image.shape
        self.dtype = image.dtype

    def __getitem__(self, key: Any) -> np.ndarray:
        return self.image[key] * self.factor


class PackedImage:
    """A small-integer image kept losslessly compressed in memory (zlib), unpacked when read.

    For per-chip images a session keeps through several steps whose values
    come in large uniform areas (the blotted median's input counts): a few
    kilobytes each instead of one byte a pixel, so what the session holds
    does not grow by a chip's pixels per input.  Reads give the values
    packed, to the last bit.
    """

    def __init__(self, image: np.ndarray) -> None:
        image = np.ascontiguousarray(image)
        self.shape = image.shape
        self.dtype = image.dtype
        self._packed = zlib.compress(image.tobytes(), 1)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def nbytes_packed(self) -> int:
        """Bytes the packed image takes."""
        return len(self._packed)

    def read(self) -> np.ndarray:
        """The image as a new array."""
        return np.frombuffer(zlib.decompress(self._packed), dtype=self.dtype).reshape(
            self.shape).copy()

    def __getitem__(self, key: Any) -> np.ndarray:
        return self.read()[key]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        data = self.read()
        return data if dtype is None else data.astype(dtype, copy=False)

    def __repr__(self) -> str:
        return (f"PackedImage(shape={self.shape}, dtype={self.dtype}, "
                f"{self.nbytes_packed} bytes packed)")


def loaded(image: np.ndarray | StoredImage | PackedImage) -> np.ndarray:
    """The array of an in-memory, packed or stored image."""
    return image.read() if isinstance(image, (StoredImage, PackedImage)) else image


class LoadedImages(Mapping):
    """A read-only mapping whose stored images are read when looked up.

    Wraps ``{key: ndarray or StoredImage}`` so that ``images[key]`` is always
    an array, read from disk only for the key asked for.
    """

    def __init__(self, images: Mapping[str, np.ndarray | StoredImage]) -> None:
        self._images = dict(images)

    def __getitem__(self, key: str) -> np.ndarray:
        return loaded(self._images[key])

    def __iter__(self) -> Iterator[str]:
        return iter(self._images)

    def __len__(self) -> int:
        return len(self._images)

    def stored(self, key: str) -> np.ndarray | StoredImage | PackedImage:
        """The array, :class:`StoredImage` or :class:`PackedImage` behind ``key``, without
        reading it."""
        return self._images[key]


# ---------------------------------------------------------------------------
# masks and cleaned images


def write_static_mask(mask: np.ndarray, signature: tuple, path: str | os.PathLike) -> Path:
    """Write a static mask in AstroDrizzle's convention (uint8, 1 = good, 0 = bad).

    Written atomically: a reader never sees a partial file and an existing
    mask is replaced in one step.

    Parameters
    ----------
    mask : ndarray of bool
        True = bad, shape ``(ny, nx)`` of the signature.
    signature : tuple
        ``('INSTRUMENT/DETECTOR', (nx, ny), chip)``.
    path : path
        The file (:meth:`multidrizzle.io.layout.OutputLayout.static_mask`).

    Returns
    -------
    Path
        The written file.
    """
    mask = np.asarray(mask, dtype=bool)
    nx, ny = signature[1]
    if mask.shape != (ny, nx):
        raise ValueError(f"mask has shape {mask.shape} but signature {signature} "
                         f"needs {(ny, nx)}")
    hdu = fits.PrimaryHDU(data=(~mask).astype(np.uint8))
    hdu.header["MASKTYPE"] = ("STATIC", "static bad-pixel mask, 1 = good, 0 = bad")
    hdu.header["DETECTOR"] = (str(signature[0]), "instrument/detector of the chips")
    hdu.header["CHIP"] = (str(signature[2]), "chip of the signature")
    return atomic_writeto(fits.HDUList([hdu]), path)


class StoredCosmicRayMask(StoredImage):
    """A ``_crmask`` file (uint8, 1 = good) read as a cosmic-ray mask (True = cosmic ray).

    What the session keeps of a mask it wrote: a mosaic's masks stay on
    disk, and a task on another machine gets the file's name, not the mask.
    """

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(bool)

    def __getitem__(self, key: Any) -> np.ndarray:
        return super().__getitem__(key) == 0


def write_crmask(path: str | os.PathLike, cr_mask: np.ndarray) -> StoredCosmicRayMask:
    """Write a ``_crmask`` file: uint8 primary image, 1 = good, 0 = cosmic ray.

    The file is written to a temporary file in the same folder and then
    renamed over ``path``, so readers never see a partial file.

    Returns
    -------
    StoredCosmicRayMask
        The mask as written (``.path`` is the file), read back on demand.
    """
    mask = np.asarray(cr_mask)
    if mask.ndim != 2:
        raise ValueError(f"cr_mask must be a 2-D mask; got an array of shape {mask.shape}.")
    good = np.logical_not(mask.astype(np.bool_)).astype(np.uint8)
    stored = store_image(path, good)
    return StoredCosmicRayMask(stored.path, stored.shape, stored.file_dtype,
                               stored.data_offset)


def write_crclean(path: str | os.PathLike, clean: np.ndarray,
                  header: fits.Header | None) -> Path:
    """Write a ``_crclean`` image as a simple FITS file, atomically.

    Parameters
    ----------
    path : str or os.PathLike
        Output file (replaced if it exists).
    clean : numpy.ndarray
        The cleaned 2-D image (see :func:`cosmic_ray_clean`).
    header : astropy.io.fits.Header or None
        Header to carry over (typically the chip's SCI header); its structural
        keywords (``XTENSION``, ``NAXISn``, ``EXTNAME``...) are dropped and
        the caller's header is not modified.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    image = np.asarray(clean)
    if image.ndim != 2:
        raise ValueError(f"clean must be a 2-D image; got an array of shape {image.shape}.")
    return write_image(path, image, header)

"""The manifest of a product set: ``<output>_manifest.json``, written last.

A run writes its products under temporary names, renames them together and
only then writes the manifest (see :meth:`multidrizzle.io.atomic.FileSet`);
it removes the previous manifest before it starts.  So a product set whose
manifest exists and agrees with the files is complete, and one without a
manifest, or whose files differ from it, was left by an interrupted run (or
changed since).  :func:`check_product_set` tells which.

The manifest records::

    {"format": 1, "software": "multidrizzle 0.1.0", "written": "<UTC time>",
     "parameters_sha256": "...",            # of the parameters that change results
     "inputs": [{"file": ..., "size": ..., "mtime": ...}, ...],
     "products": [{"file": ..., "size": ..., "sha256": ...}, ...]}

Product and input names are relative to the manifest's folder when they are
inside it.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
from pathlib import Path
from typing import Iterable, Mapping

from multidrizzle import __version__
from multidrizzle.errors import InputError
from multidrizzle.io.atomic import atomic_write_text

__all__ = ["MANIFEST_FORMAT", "parameters_digest", "write_manifest", "read_manifest",
           "check_product_set"]

#: Version of the manifest's layout.
MANIFEST_FORMAT = 1
_HASH_BLOCK = 16 * 2**20


def parameters_digest(parameters: Mapping[str, str]) -> str:
    """sha256 of the parameters (names and their text), independent of their order."""
    text = json.dumps(dict(sorted(parameters.items())), sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _name(path: Path, folder: Path) -> str:
    path = Path(path)
    try:
        return str(path.resolve().relative_to(folder.resolve()))
    except ValueError:
        return str(path.resolve())


def write_manifest(path: str | os.PathLike, *, parameters: Mapping[str, str],
                   inputs: Iterable[Path], products: Mapping[Path, tuple[int, str]]
                   ) -> Path:
    """Write the manifest of a complete product set (atomically).

    Parameters
    ----------
    path : path
        ``<output>_manifest.json``.
    parameters : mapping
        Parameter names and values as text (those that change the products).
    inputs : iterable of Path
        The input exposures (size and modification time are recorded).
    products : mapping
        Each product file and its ``(size, sha256)``.
    """
    path = Path(path)
    folder = path.parent
    record = {
        "format": MANIFEST_FORMAT,
        "software": f"multidrizzle {__version__}",
        "written": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"),
        "parameters_sha256": parameters_digest(parameters),
        "inputs": [{"file": _name(source, folder), "size": os.path.getsize(source),
                    "mtime": os.path.getmtime(source)} for source in inputs],
        "products": [{"file": _name(product, folder), "size": int(size), "sha256": digest}
                     for product, (size, digest) in products.items()],
    }
    return atomic_write_text(path, json.dumps(record, indent=1) + "\n")


def read_manifest(path: str | os.PathLike) -> dict:
    """The manifest's content.

    Raises
    ------
    InputError
        Naming the file when it is missing or not a manifest.
    """
    path = Path(path)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InputError(f"manifest {path}: does not exist; the product set is incomplete "
                         "(an interrupted run) or was not written by multidrizzle") from exc
    except (OSError, ValueError) as exc:
        raise InputError(f"manifest {path}: cannot be read ({exc})") from exc
    if not isinstance(record, dict) or record.get("format") != MANIFEST_FORMAT or \
            not isinstance(record.get("products"), list):
        raise InputError(f"manifest {path}: is not a multidrizzle manifest of format "
                         f"{MANIFEST_FORMAT}")
    return record


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(_HASH_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def check_product_set(path: str | os.PathLike, checksums: bool = True) -> list[str]:
    """What is wrong with the product set a manifest describes; empty when it is complete.

    Parameters
    ----------
    path : path
        ``<output>_manifest.json``.
    checksums : bool
        Also compare every product's sha256 (reads the products); False
        compares sizes only.

    Returns
    -------
    list of str
        One line per product that is missing or differs, or the reason the
        manifest cannot be used.
    """
    path = Path(path)
    try:
        record = read_manifest(path)
    except InputError as error:
        return [str(error)]
    problems = []
    for entry in record["products"]:
        product = Path(entry["file"])
        product = product if product.is_absolute() else path.parent / product
        if not product.is_file():
            problems.append(f"{product}: missing")
        elif product.stat().st_size != entry["size"]:
            problems.append(f"{product}: {product.stat().st_size} bytes, the manifest "
                            f"says {entry['size']}")
        elif checksums and _sha256(product) != entry["sha256"]:
            problems.append(f"{product}: its sha256 differs from the manifest's")
    return problems

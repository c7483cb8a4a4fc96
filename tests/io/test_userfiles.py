"""The one parser of ``file[ext]`` specifications."""

from __future__ import annotations

from pathlib import Path

import pytest

from multidrizzle.errors import ParameterError
from multidrizzle.io.userfiles import parse_extension, split_file_spec


@pytest.mark.parametrize("text, path, extension", [
    ("ref.fits", "ref.fits", None),
    ("ref.fits[1]", "ref.fits", 1),
    ("ref.fits[sci]", "ref.fits", "SCI"),
    ("ref.fits[sci,2]", "ref.fits", ("SCI", 2)),
    ("'dir/ref.fits' {MASK, 3}", "dir/ref.fits", ("MASK", 3)),
    ("ref.fits[('sci', 2)]", "ref.fits", ("SCI", 2)),
])
def test_file_specifications(text, path, extension):
    spec = split_file_spec(text, "parameter 'x'")
    assert spec.path == Path(path) and spec.extension == extension


@pytest.mark.parametrize("text", ["sci,", "1,2,3", "a b", ""])
def test_bad_extensions_name_where_they_came_from(text):
    with pytest.raises(ParameterError, match="parameter 'final_refimage'.*not understood"):
        parse_extension(text, "parameter 'final_refimage'")

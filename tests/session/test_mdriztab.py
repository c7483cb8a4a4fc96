"""Tests of MDRIZTAB reading: path resolution, row choice, conversion, reporting."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from multidrizzle.errors import InputError, ParameterError
from multidrizzle.session.mdriztab import (
    apply_mdriztab, input_filters, read_mdriztab, resolve_reference_path,
)
from multidrizzle.session.parameters import DrizzleParameters

from support.mdriztab_files import write_exposure, write_mdriztab


@pytest.fixture
def reference_directory(tmp_path, monkeypatch) -> Path:
    directory = tmp_path / "iref"
    directory.mkdir()
    write_mdriztab(directory / "fake_mdz.fits")
    monkeypatch.setenv("iref", str(directory))
    return directory


@pytest.fixture
def f606w_exposure(tmp_path, reference_directory) -> Path:
    return write_exposure(tmp_path / "j1_flt.fits", FILTER1="F606W", FILTER2="CLEAR2L")


# ------------------------------------------------------------------- paths


def test_resolve_reference_path(reference_directory, monkeypatch):
    expected = reference_directory / "fake_mdz.fits"
    assert resolve_reference_path("iref$fake_mdz.fits") == expected
    monkeypatch.setenv("jref", str(reference_directory))
    assert resolve_reference_path("jref$fake_mdz.fits") == expected
    assert resolve_reference_path(str(expected)) == expected


def test_upper_case_environment_variable_is_used(reference_directory, monkeypatch):
    monkeypatch.delenv("iref")
    monkeypatch.setenv("IREF", str(reference_directory))
    assert resolve_reference_path("iref$fake_mdz.fits").name == "fake_mdz.fits"


def test_unset_environment_variable_is_named(monkeypatch):
    monkeypatch.delenv("jref", raising=False)
    monkeypatch.delenv("JREF", raising=False)
    with pytest.raises(InputError, match="environment variable 'jref' is not set"):
        resolve_reference_path("jref$wfc_smov_mdz.fits")


def test_missing_table_names_the_path(reference_directory, tmp_path):
    with pytest.raises(InputError) as caught:
        resolve_reference_path("iref$absent_mdz.fits")
    assert str(reference_directory / "absent_mdz.fits") in str(caught.value)
    exposure = write_exposure(tmp_path / "x_flt.fits", mdriztab="iref$absent_mdz.fits")
    with pytest.raises(InputError, match="absent_mdz.fits.*does not exist"):
        read_mdriztab(exposure, 2)


def test_input_without_mdriztab_keyword(tmp_path, reference_directory):
    exposure = write_exposure(tmp_path / "x_flt.fits", mdriztab=None)
    with pytest.raises(InputError, match="x_flt.fits.*no MDRIZTAB keyword"):
        read_mdriztab(exposure, 2)


def test_input_filters_ignore_clear_and_blank():
    header = fits.Header({"FILTER1": "CLEAR1L", "FILTER2": "F814W"})
    assert input_filters(header) == {"F814W"}
    assert input_filters(fits.Header({"FILTER": "f160w"})) == {"F160W"}
    assert input_filters(fits.Header()) == set()


# --------------------------------------------------------------- row choice


@pytest.mark.parametrize("n_inputs, combine_type", [
    (2, "iminmed"), (3, "iminmed"), (5, "iminmed"), (6, "mean"), (40, "mean"),
])
def test_rows_of_the_input_filter_are_preferred(f606w_exposure, n_inputs, combine_type):
    assert read_mdriztab(f606w_exposure, n_inputs)["combine_type"] == combine_type


@pytest.mark.parametrize("n_inputs, combine_type", [
    (1, "imedian"), (2, "minmed"), (3, "minmed"), (4, "median"), (10, "median"),
])
def test_other_filters_fall_back_to_any_rows(tmp_path, reference_directory, n_inputs,
                                             combine_type):
    exposure = write_exposure(tmp_path / "x_flt.fits", FILTER1="CLEAR1L", FILTER2="F814W")
    assert read_mdriztab(exposure, n_inputs)["combine_type"] == combine_type


def test_too_few_inputs_for_any_filter_row_is_an_error(f606w_exposure):
    with pytest.raises(InputError, match="no row for 1 input.*F606W.*\\[2, 6\\]"):
        read_mdriztab(f606w_exposure, 1)


def test_table_without_filter_column_uses_every_row(tmp_path, monkeypatch):
    write_mdriztab(tmp_path / "nofilter_mdz.fits", with_filter=False)
    monkeypatch.setenv("iref", str(tmp_path))
    exposure = write_exposure(tmp_path / "x_flt.fits", mdriztab="iref$nofilter_mdz.fits",
                              FILTER="F606W")
    # Two rows have NUMIMAGES=2: the first in the table wins.
    assert read_mdriztab(exposure, 3)["combine_type"] == "minmed"
    assert read_mdriztab(exposure, 5)["combine_type"] == "median"
    assert read_mdriztab(exposure, 6)["combine_type"] == "mean"


def test_table_without_numimages_column(tmp_path, monkeypatch):
    write_mdriztab(tmp_path / "bad_mdz.fits", with_numimages=False)
    monkeypatch.setenv("iref", str(tmp_path))
    exposure = write_exposure(tmp_path / "x_flt.fits", mdriztab="iref$bad_mdz.fits")
    with pytest.raises(InputError, match="no NUMIMAGES column"):
        read_mdriztab(exposure, 3)


def test_file_without_binary_table(tmp_path, monkeypatch):
    fits.PrimaryHDU(np.zeros(3)).writeto(tmp_path / "image_mdz.fits")
    monkeypatch.setenv("iref", str(tmp_path))
    exposure = write_exposure(tmp_path / "x_flt.fits", mdriztab="iref$image_mdz.fits")
    with pytest.raises(InputError, match="image_mdz.fits.*no binary table"):
        read_mdriztab(exposure, 3)


# --------------------------------------------------------------- conversion


def test_values_are_converted_and_columns_translated(tmp_path, reference_directory):
    exposure = write_exposure(tmp_path / "x_flt.fits", FILTER="F814W")
    one = read_mdriztab(exposure, 1)
    assert one == {
        "combine_type": "imedian", "combine_nsigma": "4 3", "driz_cr_snr": "3.5 3.0",
        "skywidth": 0.3, "skylower": None, "skysub": True, "crbit": 4096,
        "final_rot": None, "driz_sep_bits": 0, "final_outnx": None,
    }
    assert type(one["skysub"]) is bool and type(one["crbit"]) is int
    four = read_mdriztab(exposure, 4)
    assert four["skysub"] is False
    assert four["crbit"] is None
    assert four["final_outnx"] == 4096
    assert "shiftfile" not in four and "description" not in four


def test_apply_mdriztab_sets_and_reports(f606w_exposure, caplog):
    params = DrizzleParameters()
    with caplog.at_level(logging.INFO, logger="multidrizzle"):
        values = read_mdriztab(f606w_exposure, 6)
        set_names = apply_mdriztab(params, values)
    assert set_names == list(values)
    assert params.combine_type == "mean"
    assert params.combine_nsigma == (5.0, 3.0)
    assert params.driz_cr_snr == (3.5, 2.5)
    assert params.skywidth == 0.2  # float32 cell read as the decimal written
    assert params.skylower == -40.0
    assert params.crbit == 8192
    assert params.final_rot == 90.0
    assert params.bit_flags("driz_sep_bits") == 8
    assert params.final_outnx is None
    assert "mdriztab set: combine_type='mean', combine_nsigma=(5.0, 3.0)" in caplog.text
    assert "using row 5 (NUMIMAGES=6, filter F606W) for 6 input(s)" in caplog.text


def test_empty_cells_of_required_parameters_keep_the_current_value(tmp_path,
                                                                   reference_directory):
    exposure = write_exposure(tmp_path / "x_flt.fits", FILTER="F814W")
    params = DrizzleParameters(crbit=1024)
    set_names = apply_mdriztab(params, read_mdriztab(exposure, 4))
    assert "crbit" not in set_names
    assert params.crbit == 1024


def test_bad_table_value_names_mdriztab_and_parameter():
    params = DrizzleParameters()
    with pytest.raises(ParameterError, match="MDRIZTAB: parameter 'combine_type'"):
        apply_mdriztab(params, {"combine_type": "average"})

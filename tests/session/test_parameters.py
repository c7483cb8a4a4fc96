"""Tests of the parameter layer: types, validation, rules, files and help."""

from __future__ import annotations

import logging
import os
import warnings

import numpy as np
import pytest
from traitlets import TraitError, validate

from multidrizzle.errors import ParameterError
from multidrizzle.session.parameters import (
    KERNELS, STEPS, BitFlags, BoundedFloat, BoundedInt, Choice, DrizzleParameters, Flag,
    FloatPair, GroupSpec, InputSpec, OptionalAngle, OptionalFloat, OptionalInt,
    MemoryAmount, ParameterWarning, ReferenceImage, Scheduler, Text,
    UnsupportedFlag, UnsupportedParameterError, UnsupportedText, Verbosity, WcsKey,
    WeightScale, describe, format_parameter_value, help_text, load_pars, parameter_table,
    save_pars,
)

# Defaults as documented in the AstroDrizzle API reference (astrodrizzle_api), typed
# the way multidrizzle stores them (pairs as tuples, INDEF/None as None).
ASTRODRIZZLE_DOCUMENTED_DEFAULTS = {
    "input": "*flt.fits", "output": "", "mdriztab": False, "runfile": "astrodrizzle.log",
    "wcskey": "", "proc_unit": "native", "coeffs": True, "context": True, "group": None,
    "build_mef": False, "crbit": 4096, "stepsize": 10, "resetbits": 4096, "num_cores": None,
    "in_memory": False, "rules_file": "", "updatewcs": False,
    "restore": False, "preserve": True, "overwrite": False, "clean": False,
    "static": True, "static_sig": 4.0,
    "skysub": True, "skymethod": "localmin", "skywidth": 0.3, "skystat": "median",
    "skylower": None, "skyupper": None, "skyclip": 5, "skylsigma": 4.0, "skyusigma": 4.0,
    "skymask_cat": "", "use_static": True, "sky_bits": 0, "skyfile": "", "skyuser": "",
    "driz_separate": True, "driz_sep_kernel": "turbo", "driz_sep_wt_scl": "exptime",
    "driz_sep_pixfrac": 1.0, "driz_sep_fillval": None, "driz_sep_bits": 0,
    "driz_sep_wcs": False, "driz_sep_refimage": "", "driz_sep_rot": None,
    "driz_sep_scale": None, "driz_sep_outnx": None, "driz_sep_outny": None,
    "driz_sep_ra": None, "driz_sep_dec": None,
    "median": True, "median_newmasks": True, "combine_maskpt": 0.3, "combine_type": "minmed",
    "combine_nsigma": (4.0, 3.0), "combine_nlow": 0, "combine_nhigh": 0,
    "combine_lthresh": None, "combine_hthresh": None, "combine_grow": 1,
    "combine_bufsize": None,
    "blot": True, "blot_interp": "poly5", "blot_sinscl": 1.0, "blot_addsky": True,
    "blot_skyval": 0.0,
    "driz_cr": True, "driz_cr_corr": False, "driz_cr_snr": (3.5, 3.0), "driz_cr_grow": 1,
    "driz_cr_ctegrow": 0, "driz_cr_scale": (1.2, 0.7),
    "driz_combine": True, "final_wht_type": "EXP", "final_kernel": "square",
    "final_wt_scl": "exptime", "final_pixfrac": 1.0, "final_fillval": None, "final_bits": 0,
    "final_units": "cps",
    "final_wcs": False, "final_refimage": "", "final_rot": None, "final_scale": None,
    "final_outnx": None, "final_outny": None, "final_ra": None, "final_dec": None,
    "gain": None, "gainkeyword": "", "rdnoise": None, "rnkeyword": "", "exptime": None,
    "expkeyword": "",
}

# In drizzlepac's shipped astrodrizzle.cfg (3.11) but not on the API page.
ASTRODRIZZLE_CFG_DEFAULTS = {
    "driz_sep_compress": False, "driz_sep_crpix1": None, "driz_sep_crpix2": None,
    "final_maskval": None, "final_crpix1": None, "final_crpix2": None,
}

# Where Table 2 of the MultiDrizzle user guide gives another default.
MULTIDRIZZLE_TABLE_2_DEFAULTS = {
    "skywidth": 0.1, "skylower": -50.0, "skyupper": 200.0, "combine_type": "median",
    "combine_nsigma": (6.0, 3.0), "combine_nhigh": 1, "driz_cr_snr": (3.0, 2.5),
    "final_rot": 0.0, "build_mef": True, "runfile": "multidrizzle.run",
}

MULTIDRIZZLE_ONLY = {"workinplace", "refimage", "bits", "ra", "dec", "shiftfile", "staticfile",
                     "gnkeyword"}
#: Parameters of this package that neither program documents.
PACKAGE_ONLY = {"verbose", "memory_limit", "tile_size", "scheduler", "driz_cr_sharpness",
                "driz_cr_peak_ratio", "final_err", "allow_mixed_inputs"}

# A value of the wrong kind for each trait type.
BAD_VALUE_BY_TYPE = {
    Flag: "maybe", UnsupportedFlag: "maybe", BoundedFloat: "abc", OptionalFloat: "abc",
    BoundedInt: "abc", OptionalInt: 2.5, Choice: "nonsense", FloatPair: "a b",
    BitFlags: "4+x", Text: 12, UnsupportedText: 12, WcsKey: "AB", WeightScale: "sometimes",
    GroupSpec: "foo", InputSpec: 42, Verbosity: "loud", OptionalAngle: "abc",
    MemoryAmount: "plenty", Scheduler: "slurm",
    ReferenceImage: 12,
}

# A valid value different from the default for every parameter that can have
# one (gnkeyword follows gainkeyword; updatewcs and rules_file are fixed).
NON_DEFAULT_VALUES = {
    "input": ["j8cw03a1q_flt.fits", "j8cw03a2q_flt.fits"], "output": "12",
    "mdriztab": True, "runfile": "my run.log", "verbose": "always", "wcskey": "A",
    "memory_limit": 2_000_000_000, "tile_size": 512, "scheduler": "tcp://127.0.0.1:8786",
    "proc_unit": "electrons", "allow_mixed_inputs": True,
    "coeffs": False, "context": False, "group": "sci,2", "build_mef": False, "crbit": 8192,
    "stepsize": 5, "resetbits": "4096+8192", "num_cores": 4, "in_memory": True,
    "refimage": "ref_drz.fits[sci,1]", "bits": "~(4+8)", "ra": 150.25, "dec": -2.5,
    "shiftfile": "shifts.txt",
    "workinplace": True, "restore": True, "preserve": False, "overwrite": True, "clean": True,
    "static": False, "static_sig": 3.5, "staticfile": "static mask.fits",
    "skysub": False, "skymethod": "globalmin+match", "skywidth": 0.1, "skystat": "mode",
    "skylower": -50.0, "skyupper": 200.0, "skyclip": 3, "skylsigma": 3.0, "skyusigma": 2.5,
    "skymask_cat": "masks.cat", "use_static": False, "sky_bits": "4,8", "skyfile": "sky.txt",
    "skyuser": "it's # MDRIZSKY",
    "driz_separate": False, "driz_sep_kernel": "gaussian", "driz_sep_wt_scl": "expsq",
    "driz_sep_pixfrac": 0.5, "driz_sep_fillval": 0.0, "driz_sep_bits": -13,
    "driz_sep_wcs": True, "driz_sep_refimage": "None.fits", "driz_sep_rot": 0.0,
    "driz_sep_scale": 0.05, "driz_sep_outnx": 2048, "driz_sep_outny": 1024,
    "driz_sep_ra": 10.0, "driz_sep_dec": 20.0, "driz_sep_crpix1": 1024.5,
    "driz_sep_crpix2": 512.0, "driz_sep_compress": True,
    "median": False, "median_newmasks": False, "combine_maskpt": 0.7,
    "combine_type": "iminmed", "combine_nsigma": (6.0, 3.0), "combine_nlow": 1,
    "combine_nhigh": 2, "combine_lthresh": -100.0, "combine_hthresh": 1.0e5,
    "combine_grow": 2, "combine_bufsize": 4.0,
    "blot": False, "blot_interp": "sinc", "blot_sinscl": 2.0, "blot_addsky": False,
    "blot_skyval": 12.5,
    "driz_cr": False, "driz_cr_corr": True, "driz_cr_snr": (3.0, 2.5), "driz_cr_grow": 2,
    "driz_cr_ctegrow": 3, "driz_cr_scale": (1.5, 0.5), "driz_cr_sharpness": 3.0,
    "driz_cr_peak_ratio": 0.5,
    "driz_combine": False, "final_wht_type": "IVM", "final_kernel": "lanczos3",
    "final_wt_scl": 2.5, "final_pixfrac": 0.8, "final_fillval": -1.0, "final_bits": "~4,8",
    "final_units": "counts", "final_maskval": 0.0, "final_err": False,
    "final_wcs": True, "final_refimage": "'quoted'.fits", "final_rot": 45.0,
    "final_scale": 0.04, "final_outnx": 4000, "final_outny": 4200, "final_ra": 150.1,
    "final_dec": 2.2, "final_crpix1": -3.5, "final_crpix2": 4000.0,
    # Values and keywords both set would fail check_consistency, which a file
    # round trip does not involve.
    "gain": 2.0, "gainkeyword": "CCDGAIN", "rdnoise": 5.0, "rnkeyword": "READNSEA",
    "exptime": 1000.0, "expkeyword": "EXPTIME",
}


@pytest.fixture
def params() -> DrizzleParameters:
    return DrizzleParameters()


# ------------------------------------------------------------------ defaults


def test_every_default_is_valid_and_stored_as_is(params):
    for name, trait in DrizzleParameters.parameter_traits().items():
        assert trait.check(trait.default_value) == trait.default_value, name
        assert getattr(params, name) == trait.default_value, name


def test_defaults_match_astrodrizzle_documentation(params):
    values = params.parameters_dict()
    # build_mef follows MultiDrizzle (one multi-extension product) and keeps
    # AstroDrizzle's default as metadata
    multidrizzle_defaults_used = {name for name, trait in
                                  DrizzleParameters.parameter_traits().items()
                                  if "astrodrizzle_default" in trait.metadata}
    assert multidrizzle_defaults_used == {"build_mef"}
    for name, documented in {**ASTRODRIZZLE_DOCUMENTED_DEFAULTS,
                             **ASTRODRIZZLE_CFG_DEFAULTS}.items():
        if name in multidrizzle_defaults_used:
            assert DrizzleParameters.parameter_trait(name).metadata[
                "astrodrizzle_default"] == documented, name
            assert values[name] == MULTIDRIZZLE_TABLE_2_DEFAULTS[name], name
            continue
        assert values[name] == documented, name
        assert type(values[name]) is type(documented), name


def test_every_astrodrizzle_parameter_is_declared():
    declared = set(DrizzleParameters.parameter_names())
    astrodrizzle = set(ASTRODRIZZLE_DOCUMENTED_DEFAULTS) | set(ASTRODRIZZLE_CFG_DEFAULTS)
    assert astrodrizzle <= declared
    assert declared - astrodrizzle == MULTIDRIZZLE_ONLY | PACKAGE_ONLY


def test_representative_defaults_from_the_brief(params):
    assert params.skywidth == 0.3
    assert params.skystat == "median"
    assert params.combine_type == "minmed"
    assert params.combine_nsigma == (4.0, 3.0)
    assert params.driz_cr_snr == (3.5, 3.0)
    assert params.driz_cr_scale == (1.2, 0.7)
    assert params.final_kernel == "square"
    assert params.driz_sep_kernel == "turbo"
    assert params.crbit == 4096
    assert params.stepsize == 10
    assert params.resetbits == 4096
    assert params.final_wht_type == "EXP"
    assert params.final_units == "cps"
    assert params.static_sig == 4.0
    assert params.skyclip == 5
    assert params.blot_interp == "poly5"
    assert params.runfile == "astrodrizzle.log"
    assert params.combine_grow == 1
    assert params.combine_maskpt == 0.3


def test_multidrizzle_defaults_follow_table_2(params):
    assert DrizzleParameters.multidrizzle_defaults() == MULTIDRIZZLE_TABLE_2_DEFAULTS
    changed = params.apply_multidrizzle_defaults()
    assert set(changed) == set(MULTIDRIZZLE_TABLE_2_DEFAULTS)
    for name, value in MULTIDRIZZLE_TABLE_2_DEFAULTS.items():
        assert getattr(params, name) == value


def test_metadata_of_every_parameter():
    traits = DrizzleParameters.parameter_traits()
    for name, trait in traits.items():
        assert trait.metadata["step"] in STEPS, name
        assert trait.metadata["origin"] in ("both", "astrodrizzle", "multidrizzle",
                                            "package"), name
        assert trait.help, name
    origins = {name for name, trait in traits.items()
               if trait.metadata["origin"] == "multidrizzle"}
    assert origins == MULTIDRIZZLE_ONLY
    assert {name for name, trait in traits.items()
            if trait.metadata["origin"] == "package"} == PACKAGE_ONLY
    assert traits["gnkeyword"].metadata["alias_of"] == "gainkeyword"
    assert {traits[name].metadata["step"] for name in
            ("restore", "preserve", "overwrite", "clean", "workinplace")} == {"state"}


def test_parameter_names_in_declaration_order_and_steps():
    names = DrizzleParameters.parameter_names()
    assert names[:3] == ["input", "output", "mdriztab"]
    assert names.index("driz_sep_kernel") < names.index("final_kernel")
    steps = DrizzleParameters.steps()
    assert list(steps) == list(STEPS)
    assert sorted(sum(steps.values(), [])) == sorted(names)
    assert DrizzleParameters.parameter_names("driz_cr") == [
        "driz_cr", "driz_cr_corr", "driz_cr_snr", "driz_cr_grow", "driz_cr_ctegrow",
        "driz_cr_scale", "driz_cr_sharpness", "driz_cr_peak_ratio"]
    assert "final_rot" in steps["final_wcs"]
    with pytest.raises(ParameterError, match="unknown step 'sky_sub'"):
        DrizzleParameters.parameter_names("sky_sub")


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize("name", DrizzleParameters.parameter_names())
def test_bad_type_raises_parameter_error_naming_the_parameter(params, name):
    trait = DrizzleParameters.parameter_trait(name)
    bad_value = BAD_VALUE_BY_TYPE[type(trait)]
    with pytest.raises(ParameterError) as by_attribute:
        setattr(params, name, bad_value)
    assert f"parameter {name!r}" in str(by_attribute.value)
    assert repr(bad_value) in str(by_attribute.value)
    assert "expected" in str(by_attribute.value)
    assert getattr(params, name) == trait.default_value
    with pytest.raises(ParameterError, match=f"parameter '{name}'"):
        DrizzleParameters(**{name: bad_value})


def test_pixfrac_not_a_number(params):
    with pytest.raises(ParameterError, match=r"parameter 'final_pixfrac': value 'abc' is "
                                             r"not allowed; expected a number in \[0, 1\]"):
        params.final_pixfrac = "abc"
    with pytest.raises(ParameterError, match="final_pixfrac"):
        DrizzleParameters(final_pixfrac="abc")


def test_bad_kernel_message_lists_the_kernels(params):
    with pytest.raises(ParameterError) as caught:
        params.driz_sep_kernel = "sqare"
    assert str(caught.value) == (
        "parameter 'driz_sep_kernel': value 'sqare' is not allowed; expected one of "
        "square, point, turbo, gaussian, lanczos3, tophat")


@pytest.mark.parametrize("kernel", KERNELS)
def test_every_kernel_is_accepted(params, kernel):
    params.final_kernel = kernel.upper()
    assert params.final_kernel == kernel


@pytest.mark.parametrize("name, value", [
    ("final_pixfrac", 1.5), ("final_pixfrac", -0.1), ("driz_sep_pixfrac", 1.01),
    ("final_scale", 0), ("driz_sep_scale", -0.05), ("final_outnx", 0), ("driz_sep_outny", -3),
    ("final_outnx", 100.5), ("static_sig", 0), ("skylsigma", -1), ("skyusigma", 0),
    ("skywidth", 0), ("stepsize", 0), ("crbit", -1), ("crbit", 4097), ("skyclip", -1),
    ("combine_maskpt", 1.2), ("combine_nsigma", "4 -3"), ("combine_nsigma", "1 2 3"),
    ("driz_cr_snr", "0 1"), ("driz_cr_scale", []), ("num_cores", 0), ("final_dec", 91),
    ("dec", -90.5), ("ra", 400), ("gain", 0), ("rdnoise", -1), ("exptime", 0),
    ("driz_cr_grow", 0), ("combine_nlow", -1), ("combine_bufsize", 0),
    ("final_wt_scl", 0), ("driz_sep_wt_scl", -1), ("blot_sinscl", 0), ("group", 0),
    ("group", "sci,0"), ("wcskey", "1"), ("static_sig", float("nan")),
    ("final_rot", float("inf")), ("final_fillval", True), ("stepsize", True),
    ("sky_bits", True), ("input", ""), ("input", []), ("final_units", "electrons"),
    ("final_wht_type", "WHT"), ("combine_type", "average"), ("skymethod", "min"),
    ("blot_interp", "poly7"), ("proc_unit", "counts"), ("skystat", "clipped"),
])
def test_value_out_of_range_is_rejected(params, name, value):
    with pytest.raises(ParameterError, match=f"parameter '{name}'"):
        setattr(params, name, value)


@pytest.mark.parametrize("name, given, stored", [
    ("final_pixfrac", "0.8", 0.8), ("final_pixfrac", 0, 0.0), ("skyclip", "3", 3),
    ("skyclip", 3.0, 3), ("final_outnx", "2048.0", 2048), ("final_outnx", "INDEF", None),
    ("final_scale", "None", None), ("final_scale", "", None), ("final_rot", float("nan"), None),
    ("final_rot", "NaN", None), ("final_outnx", float("nan"), None), ("final_outnx", "nan", None),
    ("final_rot", "-30", -30.0), ("num_cores", None, None), ("num_cores", "2", 2),
    ("build_mef", "yes", True), ("build_mef", "No", False), ("build_mef", 1, True), ("clean", "true", True),
    ("coeffs", "header", True), ("final_wht_type", "ivm", "IVM"),
    ("combine_type", " MinMed ", "minmed"), ("skyuser", None, ""), ("skyuser", " MDRIZSKY ",
                                                                      "MDRIZSKY"),
    ("final_refimage", "INDEF", ""), ("wcskey", "a", "A"), ("wcskey", " ", ""),
    ("final_wt_scl", "EXPSQ", "expsq"), ("final_wt_scl", "2", 2.0), ("final_wt_scl", 3, 3.0),
    ("group", 2, 2), ("group", "2", 2), ("group", "SCI, 1", "sci,1"), ("group", "1, 2", "1,2"),
    ("group", "None", None), ("group", "[sci,2]", "sci,2"),
    ("input", "a_flt.fits, b_flt.fits", "a_flt.fits, b_flt.fits"),
    ("input", ("a.fits", "b.fits"), ["a.fits", "b.fits"]),
])
def test_values_are_converted_at_the_boundary(params, name, given, stored):
    setattr(params, name, given)
    assert getattr(params, name) == stored
    assert type(getattr(params, name)) is type(stored)


def test_path_values_become_text(params, tmp_path):
    params.final_refimage = tmp_path / "ref.fits"
    assert params.final_refimage == str(tmp_path / "ref.fits")
    params.input = [tmp_path / "a.fits"]
    assert params.input == [str(tmp_path / "a.fits")]


@pytest.mark.parametrize("given, expected", [
    ("3.5 3.0", (3.5, 3.0)), ("3.5,3.0", (3.5, 3.0)), (" 3.5 , 3 ", (3.5, 3.0)),
    ([3.5, 3.0], (3.5, 3.0)), ((4, 3), (4.0, 3.0)), (5, (5.0, 5.0)), ("6", (6.0, 6.0)),
    ([2.5], (2.5, 2.5)),
])
def test_float_pair_parsing(params, given, expected):
    params.driz_cr_snr = given
    assert params.driz_cr_snr == expected
    assert all(type(value) is float for value in params.driz_cr_snr)


@pytest.mark.parametrize("expression, stored, interpreted", [
    ("4+8", "4+8", 12), ("4,8", "4,8", 12), ("~4,8", "~4,8", ~12), ("~(4+8)", "~(4+8)", ~12),
    (-13, -13, -13), ("-13", -13, -13), (None, None, None), ("None", None, None),
    ("INDEF", None, None), ("", None, None), (0, 0, 0), ("4096", 4096, 4096),
    ([4, 8], "4,8", 12), (4096.0, 4096, 4096),
])
def test_bit_flag_expressions(params, expression, stored, interpreted):
    params.final_bits = expression
    assert params.final_bits == stored
    assert params.bit_flags("final_bits") == interpreted


@pytest.mark.parametrize("expression", ["4+x", "~~4", "4+8+", "four"])
def test_bad_bit_expressions(params, expression):
    with pytest.raises(ParameterError, match="parameter 'sky_bits'.*bit expression"):
        params.sky_bits = expression


def test_bit_flags_of_a_parameter_that_is_not_bits(params):
    assert params.bit_flags("bits") == 0
    assert params.bit_flags("resetbits") == 4096
    with pytest.raises(ParameterError, match="'final_pixfrac' is not a DQ bit-flag"):
        params.bit_flags("final_pixfrac")


def test_unknown_parameter_name_suggests_the_close_one():
    with pytest.raises(ParameterError, match="unknown parameter 'final_pixfac'.*final_pixfrac"):
        DrizzleParameters(final_pixfac=0.5)


def test_unsupported_values_raise_not_implemented(params):
    with pytest.raises(UnsupportedParameterError, match="never rewrites the WCS") as caught:
        params.updatewcs = True
    assert isinstance(caught.value, ParameterError)
    assert isinstance(caught.value, NotImplementedError)
    params.updatewcs = "no"
    assert params.updatewcs is False
    with pytest.raises(NotImplementedError, match="header blending rules"):
        DrizzleParameters(rules_file="acs_header.rules")


def test_traitlets_errors_from_cross_validation_become_parameter_errors():
    class Stricter(DrizzleParameters):
        @validate("final_scale")
        def _no_huge_pixels(self, proposal):
            if proposal["value"] is not None and proposal["value"] > 1:
                raise TraitError("pixels larger than 1 arcsec are not allowed here")
            return proposal["value"]

    stricter = Stricter()
    with pytest.raises(ParameterError, match="parameter 'final_scale': value 2 .*1 arcsec"):
        stricter.final_scale = 2
    stricter.final_scale = 0.5
    assert stricter.final_scale == 0.5


def test_changes_are_notified(params):
    seen = []
    params.observe(lambda change: seen.append((change["name"], change["new"])),
                   names=["final_pixfrac"])
    params.final_pixfrac = "0.7"
    params.final_pixfrac = 0.7
    assert seen == [("final_pixfrac", 0.7)]


# ----------------------------------------------------------- gain alias


def test_gnkeyword_is_an_alias_of_gainkeyword(params):
    params.gnkeyword = "CCDGAIN"
    assert params.gainkeyword == "CCDGAIN"
    params.gainkeyword = "ATODGAIN"
    assert params.gnkeyword == "ATODGAIN"
    params.gainkeyword = ""
    assert params.gnkeyword == ""
    assert DrizzleParameters(gnkeyword="CCDGAIN").gainkeyword == "CCDGAIN"
    assert DrizzleParameters(gnkeyword="G", gainkeyword="G").gainkeyword == "G"
    with pytest.raises(ParameterError, match="'gainkeyword'.*'gnkeyword'.*differ"):
        DrizzleParameters(gnkeyword="A", gainkeyword="B")


# ------------------------------------------------------- rules between values


@pytest.mark.parametrize("values, names", [
    ({"gain": 2.0, "gainkeyword": "CCDGAIN"}, ("gain", "gainkeyword")),
    ({"gain": 2.0, "gnkeyword": "CCDGAIN"}, ("gain", "gainkeyword")),
    ({"rdnoise": 4.0, "rnkeyword": "READNSEA"}, ("rdnoise", "rnkeyword")),
    ({"exptime": 100.0, "expkeyword": "EXPTIME"}, ("exptime", "expkeyword")),
    ({"skylower": 10.0, "skyupper": 5.0}, ("skylower", "skyupper")),
    ({"combine_lthresh": 1.0, "combine_hthresh": 1.0}, ("combine_lthresh", "combine_hthresh")),
    ({"refimage": "a.fits", "final_refimage": "b.fits"}, ("refimage", "final_refimage")),
])
def test_conflicting_parameters(values, names):
    params = DrizzleParameters(**values)
    with pytest.raises(ParameterError) as caught:
        params.check_consistency()
    for name in names:
        assert repr(name) in str(caught.value)


def test_all_conflicts_are_reported_together():
    params = DrizzleParameters(gain=2.0, gainkeyword="CCDGAIN", rdnoise=3.0,
                               rnkeyword="READNSE")
    with pytest.raises(ParameterError, match="'gain'.*'rdnoise'"):
        params.check_consistency()


def test_consistent_parameters_give_notes(params, caplog):
    assert params.check_consistency() == []
    # final_wcs given with them: the custom values do not switch it on
    params.update({"final_wcs": False, "final_scale": 0.05, "final_rot": 0.0,
                   "skyuser": "MDRIZSKY", "driz_sep_pixfrac": 0.0})
    with caplog.at_level(logging.INFO, logger="multidrizzle"):
        notes = params.check_consistency()
    assert any("final_rot, final_scale set but final_wcs is False" in note for note in notes)
    assert any("skyuser" in note for note in notes)
    assert any("driz_sep_pixfrac" in note and "'point'" in note for note in notes)
    assert all(note in caplog.text for note in notes)
    params.final_wcs = True
    assert not any("final_wcs" in note for note in params.check_consistency())


def test_tiny_pixfrac_switches_to_point_kernel(params, caplog):
    params.final_pixfrac = 0.0005
    with caplog.at_level(logging.INFO, logger="multidrizzle"):
        assert params.effective_kernel("final") == "point"
    assert "final_pixfrac=0.0005" in caplog.text and "'point'" in caplog.text
    assert params.final_kernel == "square"  # the user's choice is left as it was
    params.driz_sep_pixfrac = 0.001
    assert params.effective_kernel("driz_sep") == "turbo"


def test_lanczos3_with_pixfrac_below_one_warns(params, caplog):
    params.final_kernel = "lanczos3"
    params.final_pixfrac = 0.8
    with pytest.warns(ParameterWarning, match="lanczos3.*pixfrac=1"):
        assert params.effective_kernel("final") == "lanczos3"
    assert "lanczos3" in caplog.text
    params.final_pixfrac = 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert params.effective_kernel("final") == "lanczos3"
    with pytest.raises(ParameterError, match="prefix 'blot'"):
        params.effective_kernel("blot")


# ------------------------------------------------------------ parameter files


def test_non_default_values_cover_every_parameter():
    fixed = {"gnkeyword", "updatewcs", "rules_file"}
    assert set(NON_DEFAULT_VALUES) == set(DrizzleParameters.parameter_names()) - fixed
    for name, value in NON_DEFAULT_VALUES.items():
        trait = DrizzleParameters.parameter_trait(name)
        assert trait.check(value) != trait.default_value, name


def test_save_and_load_round_trip(tmp_path):
    original = DrizzleParameters(**NON_DEFAULT_VALUES)
    path = original.save_pars(tmp_path / "run.cfg")
    reloaded = DrizzleParameters(configobj=path)
    assert reloaded.parameters_dict() == original.parameters_dict()
    loaded = load_pars(path)
    expected = original.parameters_dict()
    del expected["gnkeyword"]
    assert loaded == expected
    for name, value in loaded.items():
        assert type(value) is type(expected[name]), name


def test_round_trip_of_defaults_and_keyword_alias(tmp_path):
    params = DrizzleParameters(gnkeyword="CCDGAIN")
    save_pars(params, tmp_path / "defaults.cfg")
    text = (tmp_path / "defaults.cfg").read_text()
    assert "gainkeyword = CCDGAIN" in text
    assert not any(line.startswith("gnkeyword") for line in text.splitlines())
    reloaded = DrizzleParameters(configobj=tmp_path / "defaults.cfg")
    assert reloaded.parameters_dict() == params.parameters_dict()


def test_file_format_is_sectioned_and_commented(tmp_path):
    params = DrizzleParameters(driz_cr_snr="3.0 2.5", final_bits="~4,8", skyuser="MY SKY",
                               sky_bits="4,8", output="None.fits")
    path = save_pars(params, tmp_path / "p.cfg")
    lines = path.read_text().splitlines()
    assert "[driz_cr]" in lines and "[final_wcs]" in lines and "[state]" in lines
    assert "driz_cr_snr = 3.0 2.5" in lines
    assert "final_bits = ~4,8" in lines
    assert "sky_bits = '4,8'" in lines
    assert "skyuser = MY SKY" in lines
    assert "final_rot = None" in lines
    assert "skysub = True" in lines
    index = lines.index("combine_type = minmed")
    comment = []
    while lines[index - 1 - len(comment)].startswith("# "):
        comment.insert(0, lines[index - 1 - len(comment)][2:])
    assert " ".join(comment).startswith("How to combine the separate drizzles")
    assert " ".join(comment).endswith("[default: minmed]")
    sections = [line[1:-1] for line in lines if line.startswith("[")]
    assert sections == list(STEPS)


def test_hand_written_file_with_plain_values(tmp_path):
    path = tmp_path / "hand.cfg"
    path.write_text("# my settings\n[final]\nfinal_kernel = Lanczos3\nfinal_pixfrac = 1\n"
                    "\n[driz_cr]\n  driz_cr_snr = 4 3  \n[init]\ngroup = sci,1\n"
                    "build = no\nbits = 4+8\n[sky]\nskylower = INDEF\nskyuser =\n")
    params = DrizzleParameters(configobj=path)
    assert params.final_kernel == "lanczos3"
    assert params.driz_cr_snr == (4.0, 3.0)
    assert params.group == "sci,1"
    assert params.build_mef is False  # AstroDrizzle's name 'build' is an alias
    assert params.bit_flags("bits") == 12
    assert params.skylower is None and params.skyuser == ""


def test_unknown_name_in_file_names_file_line_and_name(tmp_path):
    path = tmp_path / "bad.cfg"
    path.write_text("[final]\nfinal_kernel = square\n\n# comment\nfinal_pixfac = 0.5\n")
    with pytest.raises(ParameterError) as caught:
        load_pars(path)
    message = str(caught.value)
    assert str(path) in message and "line 5" in message and "'final_pixfac'" in message
    assert "final_pixfrac" in message
    with pytest.raises(ParameterError, match="line 5"):
        DrizzleParameters(configobj=path)


@pytest.mark.parametrize("content, line, fragment", [
    ("[final]\nfinal_pixfrac = 2\n", 2, "parameter 'final_pixfrac'"),
    ("[sky]\nskywidth 0.3\n", 2, "expected 'name = value'"),
    ("[sky]\nskywidth = '0.3\n", 2, "cannot read"),
    ("skywidth = 0.3\n\nskywidth = 0.2\n", 3, "already set on line 1"),
    ("gainkeyword = A\ngnkeyword = A\n", 2, "already set on line 1"),
    ("updatewcs = True\n", 1, "never rewrites"),
])
def test_bad_files_name_the_line(tmp_path, content, line, fragment):
    path = tmp_path / "bad.cfg"
    path.write_text(content)
    with pytest.raises(ParameterError) as by_loader:
        load_pars(path)
    with pytest.raises(ParameterError) as by_update:
        DrizzleParameters().update_from_file(path)
    for caught in (by_loader, by_update):
        assert f"line {line}" in str(caught.value)
        assert fragment in str(caught.value)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ParameterError, match="cannot be read"):
        load_pars(tmp_path / "missing.cfg")


def test_save_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "run.cfg"
    save_pars(DrizzleParameters(final_pixfrac=0.5), path)
    before = path.read_text()

    def failing_replace(source, destination):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        save_pars(DrizzleParameters(final_pixfrac=0.7), path)
    assert path.read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.cfg"]
    monkeypatch.undo()
    save_pars(DrizzleParameters(final_pixfrac=0.7), path)
    assert "final_pixfrac = 0.7" in path.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.cfg"]


def test_configobj_mapping_and_keywords_override_file(tmp_path):
    path = save_pars(DrizzleParameters(final_pixfrac=0.5, final_scale=0.04), tmp_path / "a.cfg")
    params = DrizzleParameters(configobj=path, final_pixfrac=0.9)
    assert params.final_pixfrac == 0.9 and params.final_scale == 0.04
    assert DrizzleParameters(configobj={"skywidth": "0.2"}).skywidth == 0.2


@pytest.mark.parametrize("value", [None, True, False, 0, -13, 0.3, 1e-7, (3.5, 3.0), "",
                                   "square", "12", "None", "True", "a b", " padded ",
                                   "it's", "4,8", "~4,8", "sci,1", "[x]", ["a", "b"]])
def test_format_parameter_value_reads_back(value):
    from multidrizzle.session.parameters import _parse_file_value

    parsed = _parse_file_value(format_parameter_value(value))
    if isinstance(value, tuple):
        assert FloatPair((1, 1)).convert(parsed) == value
    else:
        assert parsed == value and type(parsed) is type(value)


# -------------------------------------------------------------------- help


def test_help_text_starts_with_syntax_and_lists_every_parameter():
    text = help_text()
    assert text.startswith("MultiDrizzle")
    assert "md = multidrizzle.Multidrizzle(input, output=None" in text
    assert "md.editpars()" in text and "md.build()" in text
    assert ("md.run(static=None, skysub=None, driz_separate=None, median=None,\n"
            "           blot=None, driz_cr=None, driz_combine=None)") in text
    table_lines = text.split("Parameters\n==========\n")[1].splitlines()
    first_words = {line.split()[0] for line in table_lines if line and not line[0].isspace()}
    for name in DrizzleParameters.parameter_names():
        assert name in first_words, name
    for step in STEPS:
        assert f"[{step}]" in text


def test_parameter_table_shows_current_values():
    params = DrizzleParameters(final_pixfrac=0.75)
    table = parameter_table(params)
    assert table.splitlines()[0].split() == ["name", "type", "default", "value", "allowed",
                                             "values"]
    row = next(line for line in table.splitlines() if line.startswith("final_pixfrac "))
    assert row.split()[:4] == ["final_pixfrac", "float", "1.0", "0.75"]


def test_describe_one_parameter():
    text = describe("driz_cr_snr")
    assert text.startswith("driz_cr_snr")
    assert "default:  3.5 3.0" in text
    assert "MultiDrizzle default: 3.0 2.5" in text
    assert "float pair" in text and "driz_cr" in text
    assert "signal-to-noise" in text.lower()
    assert "alias of: gainkeyword" in describe("gnkeyword")
    for name in DrizzleParameters.parameter_names():
        assert describe(name).startswith(name)
    with pytest.raises(ParameterError, match="unknown parameter 'skywith'.*'skywidth'"):
        describe("skywith")


def test_astrodrizzle_name_build_is_an_alias_of_build_mef():
    params = DrizzleParameters(build=False)
    assert params.build_mef is False
    params.update({"build": True})
    assert params.build_mef is True
    assert "build_mef" in describe("build")


@pytest.mark.parametrize("value, stored", [
    (True, True), (False, False), ("yes", True), ("no", False), (0, False), (1, True),
    ("always", "always"), (" Always ", "always"),
])
def test_verbose_takes_a_boolean_or_always(params, value, stored):
    params.verbose = value
    assert params.verbose == stored
    assert type(params.verbose) is type(stored)


# ------------------------------------------------------- mistyped attributes


def test_a_mistyped_attribute_is_refused_with_the_closest_names(params):
    with pytest.raises(ParameterError) as caught:
        params.final_pixfrc = 0.5
    message = str(caught.value)
    assert "'final_pixfrc'" in message and "'final_pixfrac'" in message
    assert params.final_pixfrac == 1.0
    assert not hasattr(params, "final_pixfrc")
    params.final_pixfrac = 0.5  # the real name still works
    assert params.final_pixfrac == 0.5


def test_setting_build_names_the_build_mef_parameter(params):
    with pytest.raises(ParameterError,
                       match=r"'build' cannot be set.*build\(\) method.*'build_mef'"):
        params.build = False
    assert params.build_mef is True  # unchanged (MultiDrizzle's default)


def test_declared_attributes_of_a_subclass_can_be_set():
    class WithNotes(DrizzleParameters):
        notes: list[str]

        def __init__(self, **values):
            super().__init__(**values)
            self.notes = []

    with_notes = WithNotes(final_pixfrac=0.7)
    with_notes.notes.append("ok")
    with_notes.notes = ["replaced"]
    assert with_notes.final_pixfrac == 0.7
    with pytest.raises(ParameterError, match="'undeclared'.*class annotations"):
        with_notes.undeclared = 1


def test_class_members_can_be_replaced_on_an_instance(params, monkeypatch):
    monkeypatch.setattr(params, "check_consistency", lambda: ["patched"])
    assert params.check_consistency() == ["patched"]


# ------------------------------------------------ drizzlepac parameter files

# The layout of drizzlepac's shipped astrodrizzle.cfg (3.11), abridged, with
# the pieces its TEAL editor adds: _task_name_, section titles, inline
# comments (its HAP files), and a [_RULES_] section whose entries repeat
# parameter names and must not be read as values.
DRIZZLEPAC_CFG = """\
_task_name_ = astrodrizzle
input = "*flt.fits"
output = ""
runfile = "astrodrizzle.log"
group = ""
build = True# Create multi-extension output file for final drizzle?
resetbits = "4096"
num_cores = None

[STATE OF INPUT FILES]
clean = False

[STEP 1: STATIC MASK]
static = True
static_sig = 4.0

[STEP 2: SKY SUBTRACTION]
skysub = True
skymethod = "localmin"
skywidth = 0.1
skylower = None
sky_bits = "0"

[STEP 3: DRIZZLE SEPARATE IMAGES]
driz_sep_kernel = turbo
driz_sep_bits = "4+8"
driz_sep_compress = True

[STEP 3a: CUSTOM WCS FOR SEPARATE OUTPUTS]
driz_sep_wcs = False
driz_sep_crpix1 = None
driz_sep_crpix2 = None

[STEP 4: CREATE MEDIAN IMAGE]
combine_type = minmed
combine_nsigma = 4 3

[STEP 6: REMOVE COSMIC RAYS WITH DERIV, DRIZ_CR]
driz_cr_snr = 3.5 3.0
driz_cr_scale = 1.2 0.7

[STEP 7: DRIZZLE FINAL COMBINED IMAGE]
final_wt_scl = "exptime"
final_fillval = None
final_maskval = 0.0
final_bits = "~4,8"

[STEP 7a: CUSTOM WCS FOR FINAL OUTPUT]
final_wcs = True
final_scale = 0.04
final_crpix1 = 100.5
final_crpix2 = 200.5

[INSTRUMENT PARAMETERS]
gain = ""
gnkeyword = ""
exptime  = ""

[ _RULES_ ]
_rule1_ = string_kw(default='', when='entry', code='OUT = VAL')
final_pixfrac = float_kw(default=1., comment="Linear size of drop in input pixels")
"""


def test_drizzlepac_cfg_file_is_read_unchanged(tmp_path):
    path = tmp_path / "astrodrizzle.cfg"
    path.write_text(DRIZZLEPAC_CFG)
    values = load_pars(path)
    assert "final_pixfrac" not in values  # only in [_RULES_]
    assert values["build_mef"] is True   # 'build', with an inline comment
    assert values["resetbits"] == 4096 and values["sky_bits"] == 0
    assert values["driz_sep_bits"] == "4+8" and values["final_bits"] == "~4,8"
    assert values["combine_nsigma"] == (4.0, 3.0) and values["driz_cr_scale"] == (1.2, 0.7)
    assert values["group"] is None and values["gain"] is None and values["output"] == ""
    assert values["skymethod"] == "localmin" and values["skywidth"] == 0.1
    assert values["final_crpix1"] == 100.5 and values["final_maskval"] == 0.0
    assert values["driz_sep_compress"] is True
    params = DrizzleParameters(configobj=path)
    assert params.final_wcs is True and params.final_scale == 0.04
    assert params.parameters_dict() == {**DrizzleParameters().parameters_dict(), **values,
                                        "gnkeyword": ""}


def test_configobj_mapping_with_sections_is_read_like_a_file(tmp_path):
    from configobj import ConfigObj

    path = tmp_path / "astrodrizzle.cfg"
    path.write_text(DRIZZLEPAC_CFG)
    # as drizzlepac passes it around: a ConfigObj with its own value parsing
    as_configobj = DrizzleParameters(configobj=ConfigObj(str(path)))
    assert as_configobj.parameters_dict() == DrizzleParameters(configobj=path).parameters_dict()
    nested = DrizzleParameters(configobj={"_task_name_": "astrodrizzle",
                                          "STEP 7": {"final_pixfrac": 0.6},
                                          "_RULES_": {"final_pixfrac": "float_kw()"}})
    assert nested.final_pixfrac == 0.6
    with pytest.raises(ParameterError, match=r"configobj \[STEP 7\] final_pixfac.*final_pixfrac"):
        DrizzleParameters(configobj={"STEP 7": {"final_pixfac": 0.6}})


def test_files_of_other_tasks_and_duplicates_are_refused(tmp_path):
    path = tmp_path / "tweakreg.cfg"
    path.write_text("_task_name_ = tweakreg\nrefimage = ''\n")
    with pytest.raises(ParameterError, match="line 1: .*task 'tweakreg'.*astrodrizzle"):
        load_pars(path)
    path.write_text("[STEP 7: FINAL]\nfinal_pixfrac = 0.5\n[final]\nfinal_pixfrac = 0.6\n")
    with pytest.raises(ParameterError, match="line 4: parameter 'final_pixfrac' is already "
                                             "set on line 2"):
        load_pars(path)


def test_an_empty_input_in_a_file_leaves_the_input_unset(tmp_path):
    path = tmp_path / "hap.cfg"
    path.write_text('_task_name_ = astrodrizzle# \ninput = ""# Input files\n')
    assert "input" not in load_pars(path)
    assert DrizzleParameters(configobj=path, input="a_flt.fits").input == "a_flt.fits"


def test_text_with_quotes_or_hash_survives_a_round_trip(tmp_path):
    params = DrizzleParameters(skyuser="SKY # mine", output="'quoted'.fits",
                               final_refimage='ref "b".fits')
    path = save_pars(params, tmp_path / "p.cfg")
    reloaded = DrizzleParameters(configobj=path)
    assert reloaded.skyuser == "SKY # mine"
    assert reloaded.output == "'quoted'.fits"
    assert reloaded.final_refimage == 'ref "b".fits'


# ------------------------------------------------- astropy types at the boundary


@pytest.mark.parametrize("name, quantity, expected", [
    ("final_rot", "30 deg", 30.0),
    ("final_rot", "0.5 rad", 28.64788975654116),
    ("driz_sep_rot", "-90 deg", -90.0),
    ("final_scale", "0.04 arcsec", 0.04),
    ("final_scale", "40 mas / pix", 0.04),
    ("driz_sep_scale", "1e-5 deg / pix", 0.036),
    ("final_ra", "10 hourangle", 150.0),
    ("ra", "150.25 deg", 150.25),
    ("final_dec", "-7200 arcsec", -2.0),
    ("dec", "2 deg", 2.0),
    ("driz_sep_ra", "150 deg", 150.0),
    ("driz_sep_dec", "0.5 deg", 0.5),
])
def test_angles_and_scales_accept_quantities(params, name, quantity, expected):
    from astropy import units as u

    setattr(params, name, u.Quantity(quantity))
    value = getattr(params, name)
    assert type(value) is float
    assert value == pytest.approx(expected, rel=1e-12)


def test_an_angle_accepts_an_astropy_angle(params):
    from astropy.coordinates import Angle

    params.final_ra = Angle("10h00m28.6s")
    params.final_dec = Angle("+02d12m21s")
    assert params.final_ra == pytest.approx(150.119166667, abs=1e-9)
    assert params.final_dec == pytest.approx(2.205833333, abs=1e-9)


@pytest.mark.parametrize("name, quantity, fragment", [
    ("final_rot", "3 m", "'m' cannot be converted to deg"),
    ("final_scale", "2 s", "'s' cannot be converted to arcsec/pix"),
    ("final_scale", "-0.04 arcsec", "expected a number > 0"),
    ("final_dec", "100 deg", "expected a number in [-90, 90]"),
    ("ra", "5", "'dimensionless' cannot be converted"),
])
def test_a_quantity_in_a_wrong_unit_names_the_parameter(params, name, quantity, fragment):
    from astropy import units as u

    before = getattr(params, name)
    with pytest.raises(ParameterError) as caught:
        setattr(params, name, u.Quantity(quantity))
    assert f"parameter {name!r}" in str(caught.value)
    assert fragment in str(caught.value)
    assert getattr(params, name) == before


def test_an_array_quantity_is_refused(params):
    from astropy import units as u

    with pytest.raises(ParameterError, match="'final_rot'.*not an array"):
        params.final_rot = [1, 2] * u.deg


def _grid_wcs(nx=300, ny=200):
    from astropy.wcs import WCS

    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [150.1, 2.2]
    wcs.wcs.crpix = [nx / 2, ny / 2]
    wcs.wcs.cd = [[-1e-5, 0.0], [0.0, 1e-5]]
    wcs.pixel_shape = (nx, ny)
    return wcs


@pytest.mark.parametrize("name", ["final_refimage", "driz_sep_refimage", "refimage"])
def test_reference_images_accept_a_wcs_with_a_shape(params, name):
    wcs = _grid_wcs()
    setattr(params, name, wcs)
    stored = getattr(params, name)
    assert stored.pixel_shape == (300, 200)
    wcs.wcs.crval = [0.0, 0.0]  # the caller's WCS changing later changes nothing
    assert list(stored.wcs.crval) == [150.1, 2.2]
    if name != "refimage":
        assert getattr(params, name.replace("refimage", "wcs")) is True


def test_a_wcs_without_shape_or_sky_axes_names_the_parameter(params):
    from astropy.wcs import WCS

    shapeless = _grid_wcs()
    shapeless.pixel_shape = None
    with pytest.raises(ParameterError, match=r"parameter 'final_refimage': value <WCS \? "
                                             r"pixels>.*no pixel_shape"):
        params.final_refimage = shapeless
    linear = WCS(naxis=2)
    linear.pixel_shape = (10, 10)
    with pytest.raises(ParameterError, match="'driz_sep_refimage'.*not a two-dimensional "
                                             "celestial WCS"):
        params.driz_sep_refimage = linear
    assert params.final_refimage == "" and params.driz_sep_refimage == ""


def test_a_wcs_is_saved_as_a_fits_grid_beside_the_parameter_file(tmp_path):
    from multidrizzle.model.geometry import read_reference_wcs
    from multidrizzle.session.parameters import reference_grid_file

    wcs = _grid_wcs()
    params = DrizzleParameters(final_refimage=wcs, final_pixfrac=0.8)
    path = save_pars(params, tmp_path / "with_grid.cfg")
    grid_file = reference_grid_file(path, "final_refimage")
    assert grid_file == tmp_path / "with_grid_final_refimage.fits"
    assert f"final_refimage = {grid_file.resolve()}" in path.read_text().splitlines()
    reloaded = DrizzleParameters(configobj=path)
    assert reloaded.final_refimage == str(grid_file.resolve()) and reloaded.final_wcs
    read_back, shape = read_reference_wcs(reloaded.final_refimage)
    assert shape == (200, 300)
    np.testing.assert_allclose(read_back.wcs.crval, wcs.wcs.crval, rtol=0, atol=1e-12)
    np.testing.assert_allclose(read_back.wcs.crpix, wcs.wcs.crpix, rtol=0, atol=1e-12)
    np.testing.assert_allclose(read_back.pixel_scale_matrix, wcs.pixel_scale_matrix,
                               rtol=1e-12, atol=0)
    assert format_parameter_value(params.final_refimage) == "<WCS 300 x 200 pixels>"

"""Each algorithm family has one registry; parameters offer exactly its names."""

from __future__ import annotations

import numpy as np
import pytest

from multidrizzle.errors import ParameterError, UnknownAlgorithmError
from multidrizzle.kernels import blot as blot_kernels
from multidrizzle.kernels import drizzle as drizzle_kernels
from multidrizzle.kernels import statistics as statistics_kernels
from multidrizzle.session.parameters import DrizzleParameters
from multidrizzle.steps.blot import BLOT_INTERPOLANTS
from multidrizzle.steps.cosmic_rays import median_variance_ratio
from multidrizzle.steps.drizzle import DRIZZLE_KERNELS, WEIGHT_TYPES
from multidrizzle.steps.median import COMBINE_TYPES, create_median
from multidrizzle.steps.sky import SKY_METHODS, SKY_STATISTICS

REGISTRIES = [SKY_METHODS, SKY_STATISTICS, COMBINE_TYPES, DRIZZLE_KERNELS, BLOT_INTERPOLANTS,
              WEIGHT_TYPES]


@pytest.mark.parametrize("registry", REGISTRIES, ids=lambda r: r.family)
def test_parameter_choices_are_the_registry_names(registry):
    assert registry.parameters
    for parameter in registry.parameters:
        trait = DrizzleParameters.class_traits()[parameter]
        assert trait.choices == registry.names


@pytest.mark.parametrize("registry", REGISTRIES, ids=lambda r: r.family)
def test_unknown_name_raises_naming_family_and_parameter(registry):
    with pytest.raises(UnknownAlgorithmError) as caught:
        registry["no-such-algorithm"]
    message = str(caught.value)
    assert registry.family in message and "no-such-algorithm" in message
    assert all(parameter in message for parameter in registry.parameters)
    assert isinstance(caught.value, ParameterError)


@pytest.mark.parametrize("registry", REGISTRIES, ids=lambda r: r.family)
def test_look_up_ignores_case_and_blanks(registry):
    for name in registry.names:
        assert registry[f" {name.upper()} "] is registry[name]
        assert registry.canonical(name.upper()) == name


def test_the_numba_layer_implements_every_registered_kernel_and_interpolant():
    assert set(DRIZZLE_KERNELS.names) <= set(drizzle_kernels.DRIZZLE_KERNELS)
    assert set(BLOT_INTERPOLANTS.names) <= set(blot_kernels.BLOT_INTERPOLANTS)
    assert set(SKY_STATISTICS.names) <= set(statistics_kernels.SKY_STATISTICS)


def test_unknown_combine_type_raises_in_the_median_step():
    images = [np.ones((4, 5), np.float32)] * 3
    with pytest.raises(UnknownAlgorithmError, match="combine_type"):
        create_median(images, images, combine_type="imode")


def test_combine_type_mean_property_sets_the_cosmic_ray_variance_ratio():
    counts = np.array([1, 2, 3, 10])
    means = [name for name in COMBINE_TYPES if COMBINE_TYPES[name].is_mean]
    assert means == ["mean", "imean"]
    for name, entry in COMBINE_TYPES.items():
        ratio = median_variance_ratio(counts, combine_is_mean=entry.is_mean)
        expected_last = 1 / 10 if entry.is_mean else np.pi / 20
        assert ratio[-1] == pytest.approx(expected_last, rel=1e-6), name


def test_blot_halo_covers_the_interpolant_reach():
    assert BLOT_INTERPOLANTS["poly5"].halo() > BLOT_INTERPOLANTS["poly3"].halo()
    assert BLOT_INTERPOLANTS["sinc"].halo(2.0) >= 2 * blot_kernels.SINC_HALF_WIDTH

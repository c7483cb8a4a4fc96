"""Layer 2, the data model: exposures and chips, instruments, grids, pixel maps, plans.

Modules here use astropy and the kernels, never the steps or the session.
"""

from multidrizzle.model.exposure import (  # noqa: F401
    UNITS_PER_SECOND, Chip, Exposure, ReadOptions, read_exposure,
)

__all__ = ["Chip", "Exposure", "ReadOptions", "read_exposure", "UNITS_PER_SECOND"]

"""Layer 4, the session: parameters, the step records, the ``Multidrizzle`` class.

The only layer that knows traitlets; also the parameter editor, MDRIZTAB
reference tables, the console display and the command line.
"""

from multidrizzle.session.session import (  # noqa: F401
    STEPS, BuildSummary, Multidrizzle, StepRecord, astrodrizzle,
)

__all__ = ["Multidrizzle", "StepRecord", "BuildSummary", "STEPS", "astrodrizzle"]

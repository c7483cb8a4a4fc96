"""drizzlepac's own shipped parameter file, ``pars/astrodrizzle.cfg``, through the session.

The file is read unchanged (its ``_task_name_``, section titles and quoted
values), the same way as drizzlepac's own loader reads it, and a session
built from it and run on the parity demo set gives exactly what the session
given the same values as keyword arguments gives (``conftest.SHARED_PARAMETERS``
are AstroDrizzle 3.11's defaults, the values of that file), which the other
parity tests compare with AstroDrizzle itself.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from multidrizzle import Multidrizzle
from multidrizzle.session.parameters import DrizzleParameters, load_pars

drizzlepac = pytest.importorskip("drizzlepac")

pytestmark = pytest.mark.parity

SHIPPED_CFG = Path(drizzlepac.__file__).resolve().parent / "pars" / "astrodrizzle.cfg"


#: Parameters a parity run sets itself (where and how products are written,
#: the grid, threads).
RUN_SPECIFIC = {"input", "output", "runfile", "in_memory", "num_cores", "build_mef",
                "final_wcs", "final_refimage", "driz_sep_wcs", "driz_sep_refimage"}


def test_the_shipped_file_holds_the_parity_parameters(ours_on_astrodrizzle_grid):
    values = load_pars(SHIPPED_CFG)
    assert len(values) >= 99  # every line of the file but _task_name_
    for name in ("driz_sep_compress", "driz_sep_crpix1", "driz_sep_crpix2", "final_maskval",
                 "final_crpix1", "final_crpix2"):
        assert name in values, name
    for name, value in values.items():
        if name not in RUN_SPECIFIC:
            assert value == getattr(ours_on_astrodrizzle_grid, name), name


def test_the_shipped_file_reads_as_drizzlepac_reads_it():
    """drizzlepac's loader types the values with its .cfgspc (and adds TEAL's
    ``_mdriztab_btn_``); the mapping it returns and the file give the same
    parameters."""
    from drizzlepac import util

    theirs = util.getDefaultConfigObj("drizzlepac.astrodrizzle", None, {}, loadOnly=True)
    from_their_mapping = DrizzleParameters(configobj=theirs).parameters_dict()
    from_the_file = DrizzleParameters(configobj=SHIPPED_CFG).parameters_dict()
    assert from_their_mapping == from_the_file


@pytest.fixture(scope="module")
def ours_from_shipped_cfg(demo_data, astrodrizzle_run, tmp_path_factory) -> Multidrizzle:
    """The shipped file as it is, plus what a run must say: inputs, output names
    and AstroDrizzle's output grid (as for ``ours_on_astrodrizzle_grid``)."""
    folder = tmp_path_factory.mktemp("shipped_cfg")
    reference = f"{astrodrizzle_run.folder / 'astrodrizzle_drc.fits'}[SCI,1]"
    md = Multidrizzle([str(p) for p in demo_data.input_files], configobj=SHIPPED_CFG,
                      output=str(folder / "from_cfg"), runfile=str(folder / "from_cfg.log"),
                      final_refimage=reference, driz_sep_refimage=reference)
    md.build()
    md.run()
    return md


def test_the_shipped_file_runs_as_the_parity_parameters(ours_from_shipped_cfg,
                                                        ours_on_astrodrizzle_grid):
    md, same = ours_from_shipped_cfg, ours_on_astrodrizzle_grid
    assert {record.status for record in md.step_records.values()} == {"done"}
    # build = False: sci, wht, ctx files, and err (final_err, not in AstroDrizzle's file)
    assert not md.build_mef and len(md.products) == 4
    assert all(Path(path).exists() for path in md.products)
    np.testing.assert_array_equal(md.final_sci, same.final_sci)  # NaN where no weight, both
    np.testing.assert_array_equal(md.final_wht, same.final_wht)
    np.testing.assert_array_equal(md.final_ctx, same.final_ctx)
    for name, mask in same.cr_masks.items():
        np.testing.assert_array_equal(md.cr_masks[name], mask)


def test_pixels_without_weight_are_nan_as_in_astrodrizzle(ours_from_shipped_cfg,
                                                          astrodrizzle_run):
    """final_maskval = None: AstroDrizzle starts its final image at NaN, which
    stays where no input adds weight.  It writes a zero-weight input pixel's
    value into an empty output pixel (drizzle's INDEF fill); multidrizzle
    gives no weight, no value, so all its zero-weight pixels are NaN.

    The pixels without weight are the same in both, up to the few where every
    input is flagged as a cosmic ray by one package and not by the other (the
    cosmic-ray tests differ on purpose; see docs/differences.rst)."""
    md = ours_from_shipped_cfg
    uncovered = astrodrizzle_run.final_wht == 0
    assert uncovered.sum() > 1000
    disagree = (md.final_wht == 0) != uncovered
    assert disagree.sum() <= 1e-4 * disagree.size, f"{disagree.sum()} pixels differ"
    uncovered = md.final_wht == 0
    assert np.isnan(md.final_sci[uncovered]).all()
    assert np.isfinite(md.final_sci[~uncovered]).all()
    assert np.isnan(astrodrizzle_run.final_sci[uncovered]).mean() > 0.5

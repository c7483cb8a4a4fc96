"""Helpers of the test suite that are not fixtures.

``tests/`` is on ``sys.path`` while pytest runs (its ``conftest.py`` sits
there and the suite uses pytest's default import mode), so test modules
import these as ``from support.hst_files import ...``.  A benchmark or a user
can do the same after putting ``tests/`` on ``sys.path``.

* :mod:`support.hst_files`: the real HST headers of ``tests/data`` and
  full-size copies of them;
* :mod:`support.sessions`: demo sessions, running some steps only;
* :mod:`support.mdriztab_files`: small MDRIZTAB reference tables and the
  exposures that name them;
* :mod:`support.geometry`: a tangent-plane WCS and synthetic pixel maps;
* :mod:`support.references`: the slow, obvious numpy versions of the kernels.

Fixtures live in the ``conftest.py`` files, never here; no test module
imports another.
"""

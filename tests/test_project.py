"""The README's two fresh-machine commands and CI agree."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```bash\n(.+?)\n```", text)


def test_readme_starts_with_two_commands():
    install_and_demo, install_and_test = _readme_commands()[:2]
    assert "multidrizzle demo" in install_and_demo
    assert ".[test]" in install_and_test and "pytest" in install_and_test


def test_ci_runs_the_readme_test_command_as_written():
    ci_script = (ROOT / ".ci" / "run").read_text()
    assert _readme_commands()[1] in ci_script.splitlines()


def _pyproject() -> dict:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    with open(ROOT / "pyproject.toml", "rb") as stream:
        return tomllib.load(stream)["project"]


def test_license_file_is_bsd_3_clause_as_pyproject_says():
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("BSD 3-Clause License")
    assert "Copyright (c) 2026, multidrizzle developers" in text
    assert "Neither the name of the copyright holder" in text
    project = _pyproject()
    assert project["license"] == "BSD-3-Clause" and project["license-files"] == ["LICENSE"]


def test_version_is_defined_once_in_pyproject():
    import multidrizzle

    project = _pyproject()
    assert multidrizzle.__version__ == project["version"]
    assert project["version"] not in (ROOT / "multidrizzle" / "__init__.py").read_text()


def test_distribution_name_is_not_the_old_stsci_release_and_readme_says_how_to_install():
    import multidrizzle

    project = _pyproject()
    assert project["name"] == multidrizzle.DISTRIBUTION
    assert project["name"] != "multidrizzle"  # STScI's MultiDrizzle 3.4.2 (2014) on PyPI
    readme = (ROOT / "README.md").read_text()
    assert f"pip install {project['name']}" in readme
    dependencies = " ".join(project["dependencies"])
    assert "configobj" in dependencies and "psutil" in dependencies


def test_files_are_written_where_os_has_no_fchmod(tmp_path, monkeypatch):
    """Windows has no os.fchmod: every atomic writer must still work and set the mode."""
    import numpy as np
    from astropy.io import fits

    from multidrizzle.io.products import atomic_writeto
    from multidrizzle.session.parameters import DrizzleParameters, save_pars
    from multidrizzle.io.intermediates import write_crmask

    monkeypatch.delattr(os, "fchmod", raising=False)
    written = [
        atomic_writeto(fits.HDUList([fits.PrimaryHDU(np.zeros((2, 2)))]), tmp_path / "a.fits"),
        save_pars(DrizzleParameters(final_pixfrac=0.5), tmp_path / "p.cfg"),
        write_crmask(tmp_path / "m_crmask.fits", np.zeros((2, 2), bool)).path,
    ]
    for path in written:
        assert path.exists() and (path.stat().st_mode & 0o777) == 0o644, path
    assert DrizzleParameters(configobj=tmp_path / "p.cfg").final_pixfrac == 0.5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.fits", "m_crmask.fits", "p.cfg"]

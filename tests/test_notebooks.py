"""The notebooks in notebooks/ run from their committed source, in a fresh kernel.

They are committed without outputs; each runs on small demo data in seconds.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_the_three_walkthroughs_exist():
    assert [path.name for path in NOTEBOOKS] == [
        "01_quickstart.ipynb", "02_inspect_steps.ipynb", "03_custom_step.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebook_is_committed_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, (
                f"{path.name}: strip the outputs before committing")


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebook_executes(path, tmp_path):
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError naming the cell that failed
    images = [output for cell in notebook.cells if cell.cell_type == "code"
              for output in cell.outputs if "image/png" in output.get("data", {})]
    assert images, f"{path.name} shows no figure"
    errors = [output for cell in notebook.cells if cell.cell_type == "code"
              for output in cell.outputs if output.output_type == "error"]
    assert not errors
    if path.name == "01_quickstart.ipynb":  # md.editpars() in a kernel shows the form
        widgets = [output for cell in notebook.cells if cell.cell_type == "code"
                   for output in cell.outputs
                   if "application/vnd.jupyter.widget-view+json" in output.get("data", {})]
        assert widgets, "md.editpars() showed no widget form in the kernel"

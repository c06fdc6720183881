"""docs/quickstart.ipynb runs top to bottom in a real Jupyter kernel (nbclient), so the notebook front door
cannot rot: each result displays itself, the plots show inline, and no cell raises."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "docs" / "quickstart.ipynb"


def test_the_quickstart_notebook_runs_and_shows_its_results(tmp_path: Path) -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    # its runs/ folder goes to the test's folder, never the repository's
    NotebookClient(
        notebook, timeout=240, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.get("outputs", [])]
    assert not [output for output in outputs if output.output_type == "error"]
    html = [output["data"]["text/html"] for output in outputs if "text/html" in output.get("data", {})]
    assert any(page.startswith("<div><h4>Diagnosis of builtin:shapes-few") for page in html)
    assert any(page.startswith("<div><h4>improve builtin:shapes-few") for page in html)
    assert sum("image/png" in output.get("data", {}) for output in outputs) == 3
    printed = "".join(output.get("text", "") for output in outputs if output.output_type == "stream")
    assert "images per split:" in printed and ("lift" in printed or "No lift" in printed)
    assert (tmp_path / "runs" / "quickstart" / "report.html").is_file()

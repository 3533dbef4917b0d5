"""The example notebooks run from top to bottom and do what they show, and are committed without outputs.

Each notebook runs once per test run, in a temporary folder (``tests/notebook_runs.py``); the
documentation build in ``tests/test_docs_reference.py`` renders the same executed copies.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest
import tomlkit

from hyrax.datasets.inference_dataset import InferenceDataSet
from hyrax.results import list_results_dirs
from notebook_runs import NOTEBOOKS, NotebookRun


def output_text(notebook: nbformat.NotebookNode) -> str:
    """Everything the notebook's cells printed or returned as text."""
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", ""))
            parts.append(output.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


def only_run(work_dir: Path, verb: str) -> Path:
    """The one complete results directory of ``verb`` the notebook wrote."""
    (directory,) = list_results_dirs(work_dir / "results", verb)
    return directory


def check_quickstart(run: NotebookRun, text: str) -> None:
    assert (only_run(run.work_dir, "outliers") / "outliers.parquet").is_file()
    pictures = [
        output
        for cell in run.notebook().cells
        for output in cell.get("outputs", [])
        if "image/png" in output.get("data", {})
    ]
    assert pictures, "the static picture of the embedding was not displayed"


def check_own_fits_cutouts(run: NotebookRun, text: str) -> None:
    only_run(run.work_dir, "train")
    latents = InferenceDataSet.from_directory(only_run(run.work_dir, "infer"))
    assert len(latents) == 10
    assert "FitsImageDataSet: 10 objects" in text
    assert "10 latent vectors of 8 numbers" in text


def check_model_plugin(run: NotebookRun, text: str) -> None:
    train = only_run(run.work_dir, "train")
    config = tomlkit.parse((train / "runtime_config.toml").read_text(encoding="utf-8"))
    assert config["model"]["name"] == "TinyAutoencoder"
    # The settings the notebook declared, with its change, are recorded with their comments.
    assert config["model"]["TinyAutoencoder"]["latent_dim"] == 6
    written = (train / "runtime_config.toml").read_text(encoding="utf-8")
    assert "# [>= 1] Length of the latent vector" in written
    assert "TinyAutoencoder passes every check of the model contract." in text
    assert "ContractError: BatchScaledAutoencoder fails the check" in " ".join(text.split())
    latents = InferenceDataSet.from_directory(only_run(run.work_dir, "infer"))
    assert latents[0]["data"].shape == (6,)


def check_explore_latent_space(run: NotebookRun, text: str) -> None:
    only_run(run.work_dir, "umap")
    only_run(run.work_dir, "save_to_database")
    (selected,) = re.findall(r"^(\d+) objects in the box around galaxy_\d+$", text, re.MULTILINE)
    assert int(selected) >= 1
    (found,) = re.findall(r"^(\d+) nearest neighbours of galaxy_\d+: ", text, re.MULTILINE)
    assert int(found) == 6


OUTCOMES: dict[str, Callable[[NotebookRun, str], None]] = {
    "quickstart": check_quickstart,
    "own_fits_cutouts": check_own_fits_cutouts,
    "model_plugin": check_model_plugin,
    "explore_latent_space": check_explore_latent_space,
}
"""The key outcome of each notebook, checked after it ran without errors."""


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebook_is_committed_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    with_outputs = [i for i, cell in enumerate(notebook.cells) if cell.get("outputs")]
    assert not with_outputs, f"{path.name}: cells {with_outputs} have outputs; clear them before committing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebook_runs_from_top_to_bottom(path, notebook_runs):
    assert path.stem in OUTCOMES, f"add a check of what {path.name} does to OUTCOMES"
    run = notebook_runs.run(path)
    if run.skipped:
        pytest.skip(run.skipped)
    assert not run.error, f"{path.name} failed:\n{run.error}"
    notebook = run.notebook()
    errors = [
        output
        for cell in notebook.cells
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]
    assert not errors
    OUTCOMES[path.stem](run, output_text(notebook))

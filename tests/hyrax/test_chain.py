"""train → infer → umap, from Python and from the command line, on the default data and the HSC sample."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from hyrax import Hyrax
from hyrax.datasets.inference_dataset import InferenceDataSet
from hyrax.errors import ResultsNotFoundError
from hyrax.results import is_complete, list_results_dirs
from hyrax_cli.main import main

COMMON_TOML = """
[general]
results_dir = "{root}/results"
data_dir = "{root}/data"
[model.HyraxAutoencoder]
latent_dim = 8
[data_loader]
batch_size = 16
[train]
epochs = 1
progress_bar = false
mlflow = false
tensorboard = false
[umap.parameters]
n_neighbors = {neighbours}
"""

DEFAULT_DATA_TOML = """
[data_set.SyntheticGalaxyDataSet]
size = 64
image_size = 16
"""

HSC_TOML = """
[data_set]
name = "FitsImageDataSet"
[data_set.FitsImageDataSet]
catalog = "{sample}/star_cat_correct.fits"
object_id_column = "# object_id"
filename_column = "star_filename"
"""


def write_config(root: Path, data: str, neighbours: int = 15) -> Path:
    path = root / "chain.toml"
    path.write_text(COMMON_TOML.format(root=root, neighbours=neighbours) + data)
    return path


def latest(root: Path, verb: str) -> InferenceDataSet:
    (directory,) = list_results_dirs(root / "results", verb)[-1:]
    return InferenceDataSet.from_directory(directory)


def check_paired(infer: InferenceDataSet, embedding: InferenceDataSet) -> None:
    """Every object keeps its id, origin index and label from the dataset to the UMAP embedding."""
    origin = infer.origin
    rows = infer.reader.read(0, len(infer))
    embedded = embedding.reader.read(0, len(embedding))
    assert len(rows) == len(origin) == len(embedded)
    assert embedded["id"].tolist() == rows["id"].tolist()
    np.testing.assert_array_equal(embedded["index"], rows["index"])
    assert [origin.ids()[int(i)] for i in rows["index"]] == rows["id"].tolist()
    if "label" in rows.dtype.names:
        assert [origin.get_label(int(i)) for i in rows["index"]] == rows["label"].tolist()
        np.testing.assert_array_equal(embedded["label"], rows["label"])
    assert np.isfinite(embedded["tensor"]).all() and embedded["tensor"].shape[1] == 2
    some = rows["id"][[0, -1]].tolist()
    np.testing.assert_array_equal(embedding.indices_of(some), infer.indices_of(some))


def test_chain_from_python_on_the_default_data(tmp_path):
    h = Hyrax(config_file=write_config(tmp_path, DEFAULT_DATA_TOML))
    model = h.train()
    infer = h.infer()
    embedding = h.umap()
    check_paired(infer, embedding)
    first = infer[0]
    source = infer.origin[infer.origin.index_of(first["object_id"])]
    np.testing.assert_allclose(
        model(source["data"][None])[0].detach().numpy(), first["data"].numpy(), atol=1e-5
    )
    assert (
        embedding.metadata([0], ["class"])["class"][0]
        == infer.origin.metadata([int(infer.reader.row(0)["index"])], ["class"])["class"][0]
    )


def test_chain_from_the_command_line_on_the_hsc_sample(tmp_path, hsc_sample_dir):
    config = write_config(tmp_path, HSC_TOML.format(sample=hsc_sample_dir), neighbours=4)
    for verb in ("train", "infer", "umap", "visualize"):
        assert main([verb, "-c", str(config)]) == 0, verb
    infer, embedding = latest(tmp_path, "infer"), latest(tmp_path, "umap")
    assert len(infer) == 10
    (shown,) = list_results_dirs(tmp_path / "results", "visualize")
    assert (shown / "visualize.html").stat().st_size > 100_000 and (shown / "embedding.png").is_file()
    check_paired(infer, embedding)
    assert "ira" in embedding.metadata_fields()


def test_chain_from_the_command_line_on_the_default_data(tmp_path):
    config = write_config(tmp_path, DEFAULT_DATA_TOML)
    for verb in ("train", "infer", "umap"):
        assert main([verb, "-c", str(config)]) == 0, verb
    check_paired(latest(tmp_path, "infer"), latest(tmp_path, "umap"))


def test_chain_from_python_on_the_hsc_sample(tmp_path, hsc_sample_dir):
    h = Hyrax(config_file=write_config(tmp_path, HSC_TOML.format(sample=hsc_sample_dir), neighbours=4))
    h.train()
    infer = h.infer()
    check_paired(infer, h.umap())
    explorer = h.visualize(save=False)
    everything = explorer.select_box(-1e9, -1e9, 1e9, 1e9)
    assert sorted(everything) == sorted(infer.ids())
    assert explorer._thumbnail_html().count('class="hyrax-thumbnail"') == 10


def test_missing_weights_are_named_on_the_command_line(tmp_path, capsys):
    config = write_config(tmp_path, DEFAULT_DATA_TOML)
    missing = tmp_path / "gone.pth"
    assert main(["infer", "-c", str(config), "--set", f'infer.model_weights_file="{missing}"']) == 1
    assert f"No model weights at {missing}" in capsys.readouterr().err


def test_an_infer_killed_midway_is_never_read(tmp_path):
    """SIGKILL leaves an infer directory without its completion marker, which umap never takes."""
    big = DEFAULT_DATA_TOML.replace("size = 64", "size = 200000")
    config = write_config(tmp_path, big)
    h = Hyrax(config_file=config)
    h.set_config("data_set.SyntheticGalaxyDataSet.size", 64)
    h.train()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "hyrax_cli.main", "infer", "-c", str(config)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        directory = _wait_for_the_run(tmp_path, process)
        time.sleep(1.0)  # inside the loop over 200,000 objects, which takes minutes
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert not is_complete(directory) and not (directory / "batch_index.npy").exists()
    with pytest.raises(ResultsNotFoundError, match="did not finish"):
        h.umap()
    with pytest.raises(ResultsNotFoundError, match="did not finish"):
        InferenceDataSet.from_directory(directory)
    finished = h.infer()
    h.set_config("umap.parameters.n_neighbors", 5)
    embedding = h.umap()
    assert len(embedding) == 64 and list(embedding.ids()) == list(finished.ids())


def _wait_for_the_run(root: Path, process: subprocess.Popen, timeout: float = 240) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for directory in list_results_dirs(root / "results", "infer", complete_only=False):
            if (directory / "runtime_config.toml").is_file():
                return directory
        if process.poll() is not None:
            raise AssertionError(f"infer ended (exit code {process.returncode}) before it started writing")
        time.sleep(0.2)
    raise AssertionError("infer did not start writing in time")


def test_importing_the_verbs_imports_nothing_heavy():
    code = (
        "import sys, hyrax.verbs.infer, hyrax.verbs.umap, hyrax.verbs.test; "
        "print(sorted({'torch', 'umap', 'numba', 'mlflow', 'matplotlib'} & set(sys.modules)))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"

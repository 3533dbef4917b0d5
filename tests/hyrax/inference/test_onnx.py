"""Tests of ONNX export (``hyrax export``, ``export_onnx``) and of running exports with ``OnnxModel``."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import onnxruntime
import pytest
import torch

from hyrax import Hyrax
from hyrax.config import load_config
from hyrax.datasets.loading import build_dataset, make_data_loader
from hyrax.inference.onnx_export import OnnxExportError, check_export, export_onnx
from hyrax.inference.onnx_model import EXPORT_INFO_NAME, OnnxModel, OnnxModelError, read_export_info
from hyrax.inference.runner import infer_into
from hyrax.inference.trained_model import WeightsNotFoundError, load_trained_model
from hyrax.models.autoencoder import HyraxAutoencoder
from hyrax.results import is_complete

# Astropy's notes on the sample catalog's column names are not under test.
pytestmark = pytest.mark.filterwarnings("ignore::astropy.utils.exceptions.AstropyWarning")


def hsc_hyrax(sample_dir, root):
    """A Hyrax over the real HSC sample (10 star cutouts) that trains the default autoencoder briefly."""
    h = Hyrax()
    settings = {
        "general.results_dir": str(root / "results"),
        "general.data_dir": str(root / "data"),
        "data_set.name": "FitsImageDataSet",
        "data_set.FitsImageDataSet.catalog": str(sample_dir / "star_cat_correct.fits"),
        "data_set.FitsImageDataSet.object_id_column": "# object_id",
        "data_set.FitsImageDataSet.filename_column": "star_filename",
        "model.HyraxAutoencoder.latent_dim": 8,
        "train.epochs": 1,
        "train.mlflow": False,
        "train.tensorboard": False,
        "train.progress_bar": False,
    }
    for key, value in settings.items():
        h.set_config(key, value)
    return h


def batches(config, dataset, batch_size):
    settings = {**config["data_loader"], "batch_size": batch_size}
    return list(make_data_loader(dataset, None, settings, shuffle=False, seed=0))


class Rows:
    """Collects what ``infer_into`` writes, in place of a ResultsWriter."""

    def __init__(self):
        self.ids, self.vectors = [], []

    def write(self, ids, vectors, index, labels):
        self.ids += list(ids)
        self.vectors.append(vectors)


def test_export_matches_pytorch_on_the_hsc_sample_at_any_batch_size(work_dir, hsc_sample_dir):
    h = hsc_hyrax(hsc_sample_dir, work_dir)
    h.train()
    path = h.export()
    assert path.name == "model.onnx" and is_complete(path.parent)
    info = json.loads((path.parent / EXPORT_INFO_NAME).read_text())
    assert info == read_export_info(path.parent)
    assert info["model"] == "HyraxAutoencoder" and info["max_abs_difference"] < 1e-5

    config = h.config
    dataset = build_dataset(config)
    model = load_trained_model(config, dataset, info["weights"])
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (declared,) = session.get_inputs()
    assert declared.name == "data" and isinstance(declared.shape[0], str)  # a dynamic batch dimension
    assert session.get_outputs()[0].name == "output"
    onnx_model = OnnxModel(path.parent)
    for batch_size in (10, 3):
        for batch in batches(config, dataset, batch_size):
            with torch.no_grad():
                expected = model.infer_step(batch).numpy()
            (got,) = session.run(None, {"data": batch["data"].numpy()})
            assert got.shape == expected.shape == (len(batch["data"]), 8)
            assert np.allclose(got, expected, rtol=0, atol=1e-5), np.abs(got - expected).max()
            from_model = onnx_model.infer_step(batch)
            assert isinstance(from_model, torch.Tensor) and from_model.dtype == torch.float32
            np.testing.assert_array_equal(from_model.numpy(), got)

    # The inference loop runs the export unchanged, and gives what the PyTorch model gives.
    rows, reference = Rows(), Rows()
    loader = make_data_loader(dataset, None, config["data_loader"], shuffle=False, seed=0)
    assert infer_into(onnx_model.eval().to("cpu"), loader, rows, progress=False) == 10
    infer_into(model, loader, reference, progress=False)
    assert rows.ids == reference.ids
    np.testing.assert_allclose(np.concatenate(rows.vectors), np.concatenate(reference.vectors), atol=1e-5)

    # The infer verb runs the export (infer.onnx_model) with no PyTorch model: same ids, same vectors.
    from_torch = h.infer()
    h.set_config("infer.onnx_model", str(path.parent))
    h.set_config("infer.split", "train")
    from_onnx = h.infer()
    torch_rows = from_torch.reader.read(0, len(from_torch.reader))
    onnx_rows = from_onnx.reader.read(0, len(from_onnx.reader))
    train = np.load(info["train_dir"] + "/splits.npz")["train"]
    assert sorted(onnx_rows["index"].tolist()) == sorted(train.tolist())
    by_index = {int(i): v for i, v in zip(torch_rows["index"], torch_rows["tensor"], strict=True)}
    expected = np.stack([by_index[int(i)] for i in onnx_rows["index"]])
    np.testing.assert_allclose(onnx_rows["tensor"], expected, rtol=0, atol=1e-5)
    recorded = json.loads((from_onnx.results_dir / "infer_info.json").read_text())
    assert recorded["onnx_model"] == str(path) and recorded["weights"] == info["weights"]


@pytest.fixture
def exported(tmp_path):
    """An untrained autoencoder for (2, 12, 12) images, exported: (model, data, path)."""
    torch.manual_seed(0)
    model = HyraxAutoencoder(load_config(), (2, 12, 12)).eval()
    data = torch.rand(4, 2, 12, 12)
    return model, data, export_onnx(model, {"data": data}, tmp_path / "model.onnx")


def test_a_wrong_input_shape_names_both_shapes_and_the_file(exported):
    _, _, path = exported
    model = OnnxModel(path)
    assert model.item_shape == (2, 12, 12)
    with pytest.raises(OnnxModelError) as error:
        model.infer_step({"data": torch.rand(3, 2, 16, 16)})
    message = str(error.value)
    assert str(path) in message and "(2, 12, 12)" in message and "(2, 16, 16)" in message
    with pytest.raises(OnnxModelError, match=r"\(2, 12, 12\)"):
        model.check_item_shape((12, 12))


def test_check_export_reports_the_difference_and_rejects_another_model(exported):
    model, data, path = exported
    assert check_export(path, model, {"data": data}) < 1e-5
    other = HyraxAutoencoder(load_config(), (2, 12, 12)).eval()
    with pytest.raises(OnnxExportError, match="differs from PyTorch"):
        check_export(path, other, {"data": data})


class Branchy(HyraxAutoencoder):
    """Takes a Python branch on a tensor value, which torch.export cannot capture."""

    def infer_step(self, batch):
        x = batch["data"]
        return x.flatten(1) if x.sum() > 0 else -x.flatten(1)


class NeedsIds(HyraxAutoencoder):
    """Reads the object ids, which an exported model never receives."""

    def infer_step(self, batch):
        return self(batch["data"]) * len(batch["object_id"])


def test_a_model_that_cannot_be_exported_gets_a_one_line_reason(tmp_path):
    data = torch.rand(3, 1, 8, 8)
    with pytest.raises(OnnxExportError) as error:
        export_onnx(Branchy(load_config(), (1, 8, 8)), {"data": data}, tmp_path / "model.onnx")
    message = str(error.value)
    assert message.startswith("Branchy cannot be exported to ONNX: ") and "\n" not in message
    assert "test_onnx.py" in message and "x.sum() > 0" in message
    with pytest.raises(OnnxExportError, match=r"NeedsIds.infer_step reads batch\['object_id'\]"):
        export_onnx(NeedsIds(load_config(), (1, 8, 8)), {"data": data}, tmp_path / "model.onnx")
    assert not list(tmp_path.iterdir())


def test_a_missing_or_broken_onnx_file_is_named(tmp_path):
    with pytest.raises(WeightsNotFoundError, match="hyrax export"):
        OnnxModel(tmp_path / "gone.onnx")
    (tmp_path / "model.onnx").write_bytes(b"not a model")
    with pytest.raises(OnnxModelError, match="onnxruntime cannot load"):
        OnnxModel(tmp_path)


def test_the_export_verb_and_onnx_model_do_not_import_torch():
    code = (
        "import sys, hyrax.verbs.export, hyrax.inference.onnx_model; "
        "print(sorted({'torch', 'onnx', 'onnxruntime'} & set(sys.modules)))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"

"""``OnnxModel``: run a model exported by ``hyrax export`` with onnxruntime, without the training code.

The file (see :mod:`hyrax.inference.onnx_export`) takes one input ``data`` and returns one output
``output`` with one row per object. :class:`OnnxModel` offers what the inference loop
(:func:`hyrax.inference.runner.infer_into`) calls on a model: ``infer_step(batch)``, ``eval()`` and
``to(device)``. Neither the model's class nor its weights file is needed.

Examples
--------
>>> from hyrax.inference.onnx_model import OnnxModel
>>> model = OnnxModel("results/20260101-120000-export-1a2b/model.onnx")  # doctest: +SKIP
>>> model.infer_step({"data": images}).shape  # doctest: +SKIP
torch.Size([10, 64])
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from hyrax.errors import HyraxError

logger = logging.getLogger(__name__)

ONNX_MODEL_NAME = "model.onnx"
EXPORT_INFO_NAME = "export_info.json"
INPUT_NAME = "data"
OUTPUT_NAME = "output"


class OnnxModelError(HyraxError, ValueError):
    """An exported ONNX model cannot be loaded, or cannot process the data given to it."""


class OnnxPackagesMissingError(HyraxError, ModuleNotFoundError):
    """A package that exporting or running ONNX models needs is not installed."""


def require_onnx_packages(*names: str) -> None:
    """Raise an error naming the install command when any of the packages ``names`` is missing.

    Raises
    ------
    OnnxPackagesMissingError
        Listing the missing packages.
    """
    import importlib.util

    missing = [name for name in names if importlib.util.find_spec(name) is None]
    if missing:
        raise OnnxPackagesMissingError(
            f"ONNX export and inference need {', '.join(missing)}, which is not installed. Install the "
            f"extra with `pip install 'hyrax[onnx]'`."
        )


def read_export_info(path: str | os.PathLike) -> dict[str, Any]:
    """What ``hyrax export`` recorded beside an ONNX file (``export_info.json``), or {} when nothing.

    The record holds ``weights`` and ``train_dir`` (the train run the weights came from, whose
    ``splits.npz`` an ``infer.split`` needs), ``model``, ``item_shape`` and ``max_abs_difference``.
    """
    import json

    info = resolve_onnx_file(path).parent / EXPORT_INFO_NAME
    return json.loads(info.read_text(encoding="utf-8")) if info.is_file() else {}


def resolve_onnx_file(path: str | os.PathLike) -> Path:
    """The ONNX file ``path`` names: the file itself, or ``model.onnx`` inside an export results directory.

    Raises
    ------
    WeightsNotFoundError
        Naming the path tried, when there is no such file.
    """
    from hyrax.inference.trained_model import WeightsNotFoundError

    path = Path(path)
    candidate = path / ONNX_MODEL_NAME if path.is_dir() else path
    if not candidate.is_file():
        raise WeightsNotFoundError(
            f"No ONNX model at {candidate}. Name a {ONNX_MODEL_NAME} written by `hyrax export`, or the "
            f"export results directory holding it; run `hyrax export` first to write one."
        )
    return candidate.resolve()


def _shape_text(shape: Any) -> str:
    return "(" + ", ".join(str(size) if isinstance(size, int) else "batch" for size in shape) + ")"


class OnnxModel:
    """A model exported by ``hyrax export``, run with onnxruntime; a drop-in model for ``infer_into``.

    Parameters
    ----------
    path : path
        The ``.onnx`` file, or the export results directory holding ``model.onnx``.
    device : str
        ``"auto"`` or ``"cuda[:N]"`` use onnxruntime's CUDA provider when it is installed, and the CPU
        otherwise; any other value (``"cpu"``, ``"mps"``) uses the CPU.
    threads : int, optional
        CPU threads for one batch; onnxruntime's default (one per core) when omitted. Processes
        sharing a node pass their share of its cores.

    Attributes
    ----------
    path : Path
        The ONNX file.
    input_shape : tuple
        The declared input shape; the batch dimension (and any other free dimension) is a str.
    item_shape : tuple
        ``input_shape`` without the batch dimension: the shape of one object's data.
    output_shape : tuple
        The declared output shape.
    providers : list of str
        The onnxruntime execution providers in use.

    Raises
    ------
    WeightsNotFoundError
        When there is no file at ``path``.
    OnnxModelError
        When onnxruntime cannot load the file.
    OnnxPackagesMissingError
        When onnxruntime is not installed.
    """

    def __init__(self, path: str | os.PathLike, device: str = "auto", threads: int | None = None):
        require_onnx_packages("onnxruntime")
        import onnxruntime

        self.path = resolve_onnx_file(path)
        options = onnxruntime.SessionOptions()
        if threads:
            options.intra_op_num_threads = int(threads)
        wants_gpu = device == "auto" or device.startswith("cuda")
        providers = ["CPUExecutionProvider"]
        if wants_gpu and "CUDAExecutionProvider" in onnxruntime.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        try:
            self.session = onnxruntime.InferenceSession(str(self.path), options, providers=providers)
        except Exception as error:
            reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
            raise OnnxModelError(
                f"onnxruntime cannot load {self.path}: {reason}. Write the file again with `hyrax export`."
            ) from None
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        named = [item for item in outputs if item.name == OUTPUT_NAME]
        output = named[0] if named else outputs[0] if len(outputs) == 1 else None
        if len(inputs) != 1 or output is None:
            raise OnnxModelError(
                f"{self.path} has inputs ({', '.join(item.name for item in inputs)}) and outputs "
                f"({', '.join(item.name for item in outputs)}); Hyrax runs models with one input, the "
                f"batch's data, and one output (or one named {OUTPUT_NAME!r}), as `hyrax export` writes them."
            )
        self.input_name, self.output_name = inputs[0].name, output.name
        self.input_shape = tuple(inputs[0].shape)
        self.item_shape = self.input_shape[1:]
        self.output_shape = tuple(output.shape)
        self.providers = self.session.get_providers()
        logger.debug("Loaded %s with %s, input %s", self.path, self.providers, _shape_text(self.input_shape))

    def __repr__(self) -> str:
        return f"OnnxModel({str(self.path)!r}, input {_shape_text(self.input_shape)})"

    def check_item_shape(self, item_shape: tuple[int, ...]) -> None:
        """Raise an error unless one object's data of shape ``item_shape`` fits the model's input.

        Raises
        ------
        OnnxModelError
            Naming both shapes and the file.
        """
        item_shape = tuple(int(size) for size in item_shape)
        declared = self.item_shape
        fits = len(item_shape) == len(declared) and all(
            not isinstance(want, int) or want == got for want, got in zip(declared, item_shape, strict=True)
        )
        if not fits:
            raise OnnxModelError(
                f"The ONNX model {self.path} takes objects of shape {_shape_text(declared)} (input "
                f"{_shape_text(self.input_shape)}), but the data has objects of shape {item_shape}. Use the "
                f"dataset settings the model was exported with (runtime_config.toml beside the file), or "
                f"change the data's shape with data_set.crop_to."
            )

    def run(self, data: Any) -> np.ndarray:
        """The model's output for ``data`` (array or tensor of shape ``(batch, *item_shape)``), as numpy."""
        if hasattr(data, "detach"):  # a torch tensor, possibly on a GPU
            data = data.detach().to("cpu").numpy()
        data = np.ascontiguousarray(data, dtype=np.float32)
        self.check_item_shape(data.shape[1:])
        try:
            return self.session.run([self.output_name], {self.input_name: data})[0]
        except Exception as error:
            reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
            raise OnnxModelError(
                f"onnxruntime failed to run {self.path} on a batch of shape {data.shape}: {reason}"
            ) from error

    def infer_step(self, batch: Mapping[str, Any]) -> Any:
        """The output for ``batch["data"]``, one row per object, as a float32 CPU torch tensor."""
        import torch

        return torch.from_numpy(self.run(batch["data"]))

    def eval(self) -> OnnxModel:
        """Return self: an exported model is always in inference mode."""
        return self

    def to(self, device: Any) -> OnnxModel:
        """Return self: the execution provider, chosen when loading, decides where the model runs."""
        return self

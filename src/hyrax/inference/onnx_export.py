"""Export what a model's ``infer_step`` computes to one ONNX file, and check the file against PyTorch.

The exported graph takes one input, ``data`` (float32, shape ``(batch, *item_shape)``, with a dynamic
batch dimension), and returns one output, ``output``: the model's ``infer_step({"data": data})``, one
row per object. :class:`~hyrax.inference.onnx_model.OnnxModel` runs it with onnxruntime.

The exporter is PyTorch's ``torch.export``-based one (``torch.onnx.export(..., dynamo=True)``, the default
since PyTorch 2.9). It exports every built-in model with outputs equal to PyTorch's to about 1e-7, and
a model it cannot capture fails with the line of model code at fault. The older TorchScript exporter
(``dynamo=False``) is deprecated, and it traces: a Python branch on tensor values is silently frozen
into the graph. Nothing falls back to it.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hyrax.errors import HyraxError
from hyrax.inference.onnx_model import INPUT_NAME, OUTPUT_NAME, OnnxModel

logger = logging.getLogger(__name__)

_ADVICE = (
    "An exported model must compute its output from the data with torch operations only (no Python "
    "branch on tensor values, no .item() or .numpy()); see https://pytorch.org/docs/stable/export.html. "
    "`hyrax infer` with the trained weights still works without an export."
)


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class OnnxExportError(HyraxError, RuntimeError):
    """A model cannot be exported to ONNX, or its export does not compute what the model computes."""


class _InferStep(torch.nn.Module):
    """``model.infer_step`` on a batch holding only ``data``, as a module ``torch.onnx.export`` takes."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, data: torch.Tensor) -> torch.Tensor:
        return self.model.infer_step({INPUT_NAME: data})


def _device(model: torch.nn.Module) -> torch.device:
    return next((parameter.device for parameter in model.parameters()), torch.device("cpu"))


def _one_line_reason(error: BaseException) -> str:
    """The innermost cause of ``error`` in one line, with the model code it points at when it names one."""
    cause = error
    while cause.__cause__ is not None:
        cause = cause.__cause__
    text = _ANSI.sub("", str(cause)).strip()
    reason = f"{type(cause).__name__}: {text.splitlines()[0] if text else '(no message)'}".rstrip(".")
    where = re.search(r'File "([^"]+)", line (\d+), in (\w+)\n\s*(.+)', _ANSI.sub("", str(error)))
    if where:
        reason += f" (at {Path(where[1]).name}:{where[2]} in {where[3]}: `{where[4].strip()}`)"
    return reason


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Hold back the exporter's warnings and the graphs torch.export prints; log them at debug level."""
    torch_logger = logging.getLogger("torch")
    level = torch_logger.level
    printed = io.StringIO()
    torch_logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stderr(printed):
            warnings.simplefilter("ignore")
            yield
    finally:
        torch_logger.setLevel(level)
        if printed.getvalue().strip():
            logger.debug("The ONNX exporter printed:\n%s", printed.getvalue())


def _save_atomically(program: Any, path: Path) -> None:
    """Save an ``ONNXProgram`` as ``path``: readers never see half a file.

    The file is written into a staging folder beside ``path`` under its final name, because weights
    over 2 GB go to an external data file that the model names; data files are moved first.
    """
    with tempfile.TemporaryDirectory(
        prefix=f".{path.name}.", dir=path.parent, ignore_cleanup_errors=True
    ) as name:
        staging = Path(name)
        program.save(staging / path.name, external_data=None)
        for extra in staging.iterdir():
            if extra.name != path.name:
                os.replace(extra, path.parent / extra.name)
        os.replace(staging / path.name, path)


def export_onnx(
    model: torch.nn.Module,
    sample_batch: Mapping[str, Any],
    path: str | os.PathLike,
    *,
    opset_version: int | None = None,
) -> Path:
    """Write ``model.infer_step`` as an ONNX graph with a dynamic batch dimension to ``path``.

    Parameters
    ----------
    model : HyraxModel
        The model; it is put in eval mode.
    sample_batch : mapping
        A batch from the data loader; only ``sample_batch["data"]`` is used, to trace the model.
    path : path
        The ``.onnx`` file to write, atomically.
    opset_version : int, optional
        The ONNX opset; the exporter's default when omitted.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    OnnxExportError
        Naming the model and the exporter's reason, when the model cannot be exported.
    """
    name = type(model).__name__
    data = torch.as_tensor(sample_batch[INPUT_NAME], dtype=torch.float32).to(_device(model))
    if len(data) < 2:  # an example batch of one could pin the batch dimension to 1
        data = torch.cat([data, data])
    wrapper = _InferStep(model).eval()
    try:
        with torch.no_grad():
            output = wrapper(data)
    except KeyError as error:
        raise OnnxExportError(
            f"{name}.infer_step reads batch[{error.args[0]!r}], but an exported model receives only the "
            f"data (batch[{INPUT_NAME!r}]). Compute the output from the data alone to export {name}."
        ) from error
    if not isinstance(output, torch.Tensor) or output.dim() == 0 or len(output) != len(data):
        shape = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
        raise OnnxExportError(
            f"{name}.infer_step returned {shape} for a batch of {len(data)} objects; an exported model "
            f"must return one tensor with one row per object."
        )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with _quiet_exporter():
            program = torch.onnx.export(
                wrapper,
                (data,),
                None,
                dynamo=True,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_shapes=({0: torch.export.Dim("batch")},),
                opset_version=opset_version,
                verbose=False,
            )
    except Exception as error:
        raise OnnxExportError(
            f"{name} cannot be exported to ONNX: {_one_line_reason(error)}. {_ADVICE}"
        ) from error
    _save_atomically(program, path)
    logger.info("Exported %s for data of shape %s to %s", name, tuple(data.shape[1:]), path)
    return path


def check_export(
    path: str | os.PathLike, model: torch.nn.Module, batch: Mapping[str, Any], *, tolerance: float = 1e-4
) -> float:
    """Compare the ONNX file's outputs with ``model.infer_step`` on ``batch``, at two batch sizes.

    The whole batch and its first object are run through both, which also checks the batch
    dimension is dynamic.

    Parameters
    ----------
    path : path
        The file :func:`export_onnx` wrote.
    model : HyraxModel
        The model it was exported from.
    batch : mapping
        A batch from the data loader; ``batch["data"]`` is used.
    tolerance : float
        Largest difference allowed, relative to the largest absolute value of the model's output.

    Returns
    -------
    float
        The largest absolute difference between ONNX and PyTorch outputs.

    Raises
    ------
    OnnxExportError
        When the shapes differ or a difference exceeds the tolerance.
    """
    onnx_model = OnnxModel(path, device="cpu")
    data = torch.as_tensor(batch[INPUT_NAME], dtype=torch.float32).to(_device(model))
    name = type(model).__name__
    largest = 0.0
    for size in sorted({len(data), 1}, reverse=True):
        with torch.no_grad():
            expected = model.eval().infer_step({INPUT_NAME: data[:size]}).cpu().numpy()
        got = onnx_model.run(data[:size])
        if got.shape != expected.shape:
            raise OnnxExportError(
                f"For a batch of {size} objects, the ONNX export of {name} at {path} returns shape "
                f"{got.shape} but {name}.infer_step returns {expected.shape}: the export fixed a size that "
                f"depends on the batch. {_ADVICE}"
            )
        difference = np.abs(got.astype(np.float64) - expected)
        difference[np.isnan(got) & np.isnan(expected)] = 0.0
        worst = float(np.max(difference)) if difference.size else 0.0
        scale = float(np.nanmax(np.abs(expected))) if expected.size else 0.0
        if not worst <= tolerance * max(scale, 1e-6):
            raise OnnxExportError(
                f"The ONNX export of {name} at {path} differs from PyTorch by up to {worst:.3g} on a batch "
                f"of {size} objects whose outputs reach {scale:.3g}, more than export.tolerance = "
                f"{tolerance:g} of that. An operation may not be exported faithfully; {_ADVICE}"
            )
        largest = max(largest, worst)
    return largest

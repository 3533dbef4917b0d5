"""The checks behind :func:`hyrax.testing.check_model`: the contract of ``HyraxModel``."""

from __future__ import annotations

import io
import math
import numbers
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from unittest import mock

import torch

from hyrax.config import load_config
from hyrax.datasets.base import HyraxDataset
from hyrax.models.base import HyraxModel
from hyrax.registry import MODEL_REGISTRY
from hyrax.testing._common import ContractError, PluginChecks, generators_restored, shown
from hyrax.training.seeding import seed_everything

SEED = 1234
"""Seed of the two instances whose initial weights must be equal."""

RTOL, ATOL = 1e-4, 1e-5
"""Tolerance of "the same output": an object alone and in a batch may take other kernels."""


def _as_batch(sample: Any) -> dict[str, Any]:
    """The sample with ``"object_id"`` and ``"index"`` filled in; TypeError or ValueError if not a batch."""
    if not isinstance(sample, Mapping) or "data" not in sample:
        raise TypeError(
            f"check_model needs a sample batch: a dict with 'data', a float32 tensor (batch, *shape); "
            f"got {type(sample).__name__}."
        )
    data = sample["data"]
    if not isinstance(data, torch.Tensor) or data.dtype != torch.float32 or data.dim() < 2 or len(data) < 2:
        found = (
            f"{data.dtype} tensor of shape {tuple(data.shape)}" if isinstance(data, torch.Tensor) else data
        )
        raise ValueError(
            f"The sample's 'data' must be a float32 tensor (batch, *shape) of at least 2 objects, "
            f"e.g. torch.rand(4, 1, 16, 16); got {found!r}."
        )
    count = len(data)
    batch = {"object_id": [f"sample_{i}" for i in range(count)], "index": torch.arange(count), **sample}
    if "label" in batch:
        batch["label"] = torch.as_tensor(batch["label"])
    for key in ("object_id", "index", "label"):
        if len(batch.get(key, data)) != count:
            raise ValueError(f"The sample has {count} objects but {len(batch[key])} values of '{key}'.")
    return batch


def _sample_dataset(batch: Mapping[str, Any]) -> Any:
    """The sample's objects as a HyraxDataset, for ``check_data``."""

    class _SampleBatch(HyraxDataset):
        registry_name = None

        def __len__(self) -> int:
            return len(batch["data"])

        def get_data(self, index: int) -> Any:
            return batch["data"][index].numpy()

        def ids(self) -> list[str]:
            return [str(i) for i in batch["object_id"]]

        def get_label(self, index: int) -> int | None:
            return int(batch["label"][index]) if "label" in batch else None

    return _SampleBatch()


def _snapshot(model: Any) -> dict[str, Any]:
    return {key: value.detach().clone() for key, value in model.state_dict().items()}


def _changed_entries(first: Mapping[str, Any], second: Mapping[str, Any]) -> list[str]:
    """Names of the entries of two snapshots that differ (or exist in one only)."""
    return sorted(
        key
        for key in first.keys() | second.keys()
        if key not in first or key not in second or not torch.equal(first[key], second[key])
    )


def _output_difference(first: Any, second: Any) -> str | None:
    """How two outputs differ, or None when they are the same within the tolerance."""
    if first.shape != second.shape:
        return f"shape {tuple(first.shape)} against {tuple(second.shape)}"
    if torch.allclose(first, second, rtol=RTOL, atol=ATOL):
        return None
    return f"largest difference {float((first - second).abs().max()):.3g}"


class ModelChecks(PluginChecks):
    def __init__(self, cls: type, sample: Any, config: Mapping | None):
        super().__init__(cls)
        self.batch = _as_batch(sample)
        self.config = load_config() if config is None else config
        self.shape = tuple(self.batch["data"].shape[1:])

    def run(self) -> None:
        with generators_restored(), torch.enable_grad():
            self.check_subclass(
                HyraxModel, "Subclass HyraxModel (a torch.nn.Module); its docstring lists what to implement."
            )
            if not any(MODEL_REGISTRY.get(name) is self.cls for name in MODEL_REGISTRY.names()):
                raise self.fail(
                    "registered in MODEL_REGISTRY",
                    "no name in hyrax.registry.MODEL_REGISTRY refers to this class",
                    f'Decorate it with @hyrax_model("{self.name}") (from hyrax.models.base), which checks '
                    f'its methods and registers it so that model.name = "{self.name}" finds it.',
                )
            self.check_data()
            model = self.build("builds from (config, sample_shape)", SEED)
            self.check_seeded_construction(model)
            self.check_weights_only_state(model)
            self.check_infer_step(model)
            self.check_validate_step(model)
            self.check_train_step(model)
            self.check_save_load(model)

    def check_data(self) -> None:
        check = "check_data accepts the sample"
        dataset = _sample_dataset(self.batch)
        with self.errors_fail(
            check,
            f"{self.name}.check_data(config, <dataset of the sample's {len(dataset)} objects>)",
            "check_data must only reject data the model cannot learn from; if the model needs labels or "
            "settings, give the sample 'label' and set them in the config passed to check_model.",
        ):
            result = self.cls.check_data(self.config, dataset)
        if result is not None:
            raise self.fail(check, f"check_data returned {result!r}", "Return None, or raise an error.")

    def build(self, check: str, seed: int) -> Any:
        seed_everything(seed)
        with self.errors_fail(
            check,
            f"{self.name}(config, sample_shape={self.shape})",
            "Give __init__ the arguments (self, config, sample_shape), call "
            "super().__init__(config, sample_shape) first, and size the layers from sample_shape.",
        ):
            model = self.cls(self.config, self.shape)
        if tuple(getattr(model, "sample_shape", ())) != self.shape:
            raise self.fail(
                check,
                f"model.sample_shape is {getattr(model, 'sample_shape', None)!r}, not {self.shape}",
                "Call super().__init__(config, sample_shape) first in __init__ and leave sample_shape as is.",
            )
        # Like build_model: one batch through compute_loss materialises torch.nn.Lazy* layers.
        model.eval()
        with (
            self.errors_fail(
                check,
                f"{self.name}.compute_loss(sample)",
                "compute_loss must accept a batch as the data loader makes it; if the model needs labels, "
                "give the sample 'label'.",
            ),
            torch.no_grad(),
        ):
            model.compute_loss(self.batch)
        return model.train()

    def check_seeded_construction(self, model: Any) -> None:
        check = "builds the same weights under the same seed"
        differ = _changed_entries(_snapshot(model), _snapshot(self.build(check, SEED)))
        if differ:
            raise self.fail(
                check,
                f"two instances built after seed_everything({SEED}) differ in {len(differ)} tensor(s): "
                f"{shown(differ)}",
                "Draw initial weights from torch's global generator (torch.nn.init, torch.rand), not from "
                "an unseeded source (np.random.default_rng(), time): every process of a distributed run "
                "builds the model itself and must get the same weights.",
            )

    def check_weights_only_state(self, model: Any) -> None:
        check = "state_dict holds only tensors"
        fix = (
            "Keep only tensors (parameters and buffers) and plain values in the state_dict: checkpoints and "
            "weight files are read with weights_only=True."
        )
        buffer = io.BytesIO()
        with self.errors_fail(check, "torch.save(model.state_dict())", fix):
            torch.save(model.state_dict(), buffer)
        buffer.seek(0)
        with self.errors_fail(check, "torch.load(<the saved state_dict>, weights_only=True)", fix):
            torch.load(buffer, weights_only=True)

    def infer(self, model: Any, batch: Mapping[str, Any], check: str) -> Any:
        count = len(batch["data"])
        with (
            self.errors_fail(
                check,
                f"{self.name}.infer_step(batch of {count})",
                "infer_step must accept any batch the data loader makes, of any size.",
            ),
            torch.no_grad(),
        ):
            output = model.infer_step(batch)
        if not isinstance(output, torch.Tensor) or output.dim() == 0 or len(output) != count:
            found = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
            raise self.fail(
                "infer_step returns one row per object",
                f"infer_step returned {found} for a batch of {count} objects",
                "Return a tensor whose first dimension is the batch: one row per object, which "
                "inference stores under the object's id.",
            )
        return output

    def check_infer_step(self, model: Any) -> None:
        model.eval()
        before = _snapshot(model)
        output = self.infer(model, self.batch, "infer_step runs in eval mode")
        if not output.is_floating_point() or not bool(torch.isfinite(output).all()):
            raise self.fail(
                "infer_step output is finite floats",
                "infer_step returned "
                + (f"dtype {output.dtype}" if not output.is_floating_point() else "NaN or infinity")
                + " for the sample",
                "Return finite floating-point values; inference stores them as float32.",
            )
        changed = _changed_entries(before, _snapshot(model))
        if changed:
            raise self.fail(
                "infer_step leaves the model unchanged",
                f"after infer_step these entries of the state_dict changed: {shown(changed)}",
                "Do not update weights or buffers in infer_step; it runs in eval mode without gradients.",
            )
        check = "infer_step is deterministic"
        difference = _output_difference(self.infer(model, self.batch, check), output)
        if difference:
            raise self.fail(
                check,
                f"the same batch twice in eval mode gave different outputs ({difference})",
                "Make the eval-mode output depend only on the input and the weights: dropout and "
                "sampling belong to training mode (check self.training).",
            )
        check = "infer_step is independent of the batch"
        for row in range(len(output)):
            batch = {key: value[row : row + 1] for key, value in self.batch.items()}
            alone = self.infer(model, batch, check)[0]
            difference = (
                f"shape {tuple(alone.shape)} alone but {tuple(output.shape[1:])} in the batch"
                if alone.shape != output.shape[1:]
                else _output_difference(alone, output[row])
            )
            if difference:
                raise self.fail(
                    check,
                    f"object {row} alone differs from its row in the batch of {len(output)} ({difference})",
                    "Compute each object's output from that object alone: no statistics over the batch in "
                    "eval mode (batch norm uses its running statistics there), and the same output shape "
                    "for every batch size.",
                )

    def check_step_output(self, step: str, output: Any) -> None:
        check = f"{step} returns a dict of finite floats with 'loss'"
        if not isinstance(output, Mapping) or "loss" not in output:
            raise self.fail(
                check,
                f"{step} returned "
                + (f"keys {sorted(output)}" if isinstance(output, Mapping) else type(output).__name__),
                'Return a dict such as {"loss": loss.item()}; "loss" is averaged per epoch and ranks '
                "checkpoints.",
            )
        for key, value in output.items():
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
                raise self.fail(
                    check,
                    f"{step} returned {key!r}: {value!r} ({type(value).__name__})",
                    "Return plain finite Python floats, e.g. loss.item(), not tensors.",
                )

    def check_validate_step(self, model: Any) -> None:
        model.eval()
        with (
            self.errors_fail(
                "validate_step runs in eval mode",
                f"{self.name}.validate_step(sample)",
                "validate_step must accept the batches train_step accepts; it runs without gradients.",
            ),
            torch.no_grad(),
        ):
            output = model.validate_step(self.batch)
        self.check_step_output("validate_step", output)

    def check_train_step(self, model: Any) -> None:
        check = "train_step calls optimize and changes the weights"
        model.train()
        with self.errors_fail(
            check,
            "model.configure_training()",
            "build_optimizer must return an optimizer over the trainable parameters.",
        ):
            model.configure_training()
        before = _snapshot(model)
        with (
            mock.patch.object(model, "optimize", wraps=model.optimize) as optimize,
            self.errors_fail(
                check,
                f"{self.name}.train_step(sample)",
                "train_step must accept a batch as the data loader makes it.",
            ),
        ):
            output = model.train_step(self.batch)
        self.check_step_output("train_step", output)
        trainable = [name for name, parameter in model.named_parameters() if parameter.requires_grad]
        changed = [name for name in _changed_entries(before, _snapshot(model)) if name in trainable]
        if not optimize.called:
            raise self.fail(
                check,
                "train_step never called self.optimize(loss)"
                + (" but changed the weights" if changed else ""),
                "Call self.optimize(loss) rather than loss.backward() and optimizer.step(): it applies "
                "mixed precision, gradient clipping and the averaging of gradients across processes.",
            )
        if not changed:
            raise self.fail(
                check,
                f"no trainable parameter changed in one step ({len(trainable)} trainable parameter tensors)",
                "Make the loss depend on the parameters (not computed under torch.no_grad() or from "
                ".detach()ed outputs) and keep parameters trainable (requires_grad).",
            )

    def check_save_load(self, model: Any) -> None:
        check = "save and load round trip"
        model.eval()
        expected = self.infer(model, self.batch, check)
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "weights.pth"
            with self.errors_fail(check, f"model.save({path.name!r})"):
                model.save(path)
            fresh = self.build(check, SEED + 1)
            with self.errors_fail(
                check,
                f"<a new {self.name}>.load({path.name!r})",
                "load must read what save writes into an instance built from the same config and shape.",
            ):
                fresh.load(path)
        differ = _changed_entries(_snapshot(model), _snapshot(fresh))
        if differ:
            raise self.fail(
                check,
                f"after load, {len(differ)} state_dict entries differ from the saved ones: {shown(differ)}",
                "Keep every weight and buffer the model uses in its state_dict (register tensors as "
                "parameters or buffers) and let save/load write and read all of it.",
            )
        fresh.eval()
        try:
            difference = _output_difference(self.infer(fresh, self.batch, check), expected)
        except ContractError as error:
            raise self.fail(check, error.found, error.fix) from error
        if difference:
            raise self.fail(
                check,
                f"infer_step of the reloaded model differs from the saved model's ({difference})",
                "Keep all state that changes the output in the state_dict, not in plain attributes.",
            )

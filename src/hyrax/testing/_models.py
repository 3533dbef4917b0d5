"""``check_model``: the contract of :class:`~hyrax.models.base.HyraxModel`, as one function."""

from __future__ import annotations

import inspect
import math
import numbers
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hyrax.testing._common import ContractError, call, default_config, shown

SEED = 1234
"""Seed of the two instances whose initial weights must be equal."""

RTOL, ATOL = 1e-4, 1e-5
"""Tolerance of "the same output": an object alone and in a batch may take other kernels."""


def check_model(model_class: type, sample: Mapping[str, Any], config: Mapping | None = None) -> None:
    """Check that a model class keeps the :class:`~hyrax.models.base.HyraxModel` contract.

    The checks, in order (the first that fails raises):

    1. the class subclasses ``HyraxModel`` and is registered in ``MODEL_REGISTRY`` (``@hyrax_model``);
    2. its ``check_data`` accepts a dataset made of the sample's objects;
    3. it builds as ``model_class(config, sample_shape)``, keeps ``sample_shape``, and the sample
       passes through ``compute_loss`` (as in :func:`hyrax.models.factory.build_model`);
    4. two instances built after seeding every generator with the same seed have equal weights, as
       every process of a distributed run rebuilds the model from the configuration;
    5. its ``state_dict`` holds only tensors and plain values, so checkpoints load with
       ``torch.load(weights_only=True)``. (Models are never pickled: processes receive the
       configuration and the weights, not the model.);
    6. in eval mode without gradients, ``infer_step`` returns a finite tensor with one row per object,
       leaves the model's state unchanged, gives the same output for the same batch twice, and gives
       each object the same row alone as in the batch;
    7. ``validate_step`` returns a dict of finite floats with ``"loss"``;
    8. ``train_step`` returns a dict of finite floats with ``"loss"``, calls ``self.optimize(loss)``
       and changes the weights;
    9. weights written by ``save`` and read by ``load`` into a newly built instance give it the same
       state and the same ``infer_step`` output.

    The global random generators are restored afterwards, so the check does not disturb the tests
    around it.

    Parameters
    ----------
    model_class : type
        The model class (a ``HyraxModel`` subclass).
    sample : mapping
        One batch as the data loader makes it: ``"data"``, a float32 tensor
        ``(batch, *sample_shape)`` of at least two objects, and, when the model needs them,
        ``"label"`` (int64 tensor, one per object). ``"object_id"`` (list of str) and ``"index"``
        (int64 tensor) are added when missing. Make the objects different from each other, so that
        an output mixing them up shows.
    config : ConfigDict or mapping, optional
        The whole configuration the model is built with, e.g. with ``[model.<Class>]`` settings set;
        Hyrax's defaults (and the installed plug-ins') when omitted.

    Raises
    ------
    ContractError
        An ``AssertionError`` naming the class, the check, what was found and what to change.
    TypeError, ValueError
        When ``sample`` is not a batch as described above.

    Examples
    --------
    >>> import torch
    >>> from hyrax.testing import check_model
    >>> from hyrax.models.autoencoder import HyraxAutoencoder
    >>> check_model(HyraxAutoencoder, {"data": torch.rand(3, 1, 16, 16)})
    """
    import torch

    from hyrax.training.seeding import RNGState

    config = default_config(config)
    batch = _as_batch(sample)
    saved = RNGState().state_dict()
    try:
        with torch.enable_grad():
            _ModelChecks(model_class, batch, config).run()
    finally:
        RNGState().load_state_dict(saved)


def _as_batch(sample: Any) -> dict[str, Any]:
    import torch

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
    batch = dict(sample)
    batch.setdefault("object_id", [f"sample_{i}" for i in range(count)])
    batch.setdefault("index", torch.arange(count))
    if "label" in batch:
        batch["label"] = torch.as_tensor(batch["label"])
    for key in ("object_id", "index", "label"):
        if key in batch and len(batch[key]) != count:
            raise ValueError(f"The sample has {count} objects but {len(batch[key])} values of '{key}'.")
    return batch


def _slice(batch: Mapping[str, Any], start: int, stop: int) -> dict[str, Any]:
    return {key: value[start:stop] for key, value in batch.items()}


def _sample_dataset(batch: Mapping[str, Any]) -> Any:
    """The sample's objects as a HyraxDataset, for ``check_data``."""
    from hyrax.datasets.base import HyraxDataset

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


def _differences(first: Mapping[str, Any], second: Mapping[str, Any]) -> list[str]:
    """Names of the entries of two state dicts that differ (or exist in one only)."""
    import torch

    names = []
    for key in sorted(set(first) | set(second)):
        a, b = first.get(key), second.get(key)
        if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
            if a.shape != b.shape or not torch.equal(a, b):
                names.append(key)
        elif a is None or b is None or a != b:
            names.append(key)
    return names


def _snapshot(model: Any) -> dict[str, Any]:
    return {key: value.detach().clone() for key, value in model.state_dict().items()}


class _ModelChecks:
    def __init__(self, cls: type, batch: dict[str, Any], config: Mapping):
        self.cls = cls
        self.name = getattr(cls, "__name__", repr(cls))
        self.batch = batch
        self.config = config
        self.shape = tuple(batch["data"].shape[1:])

    def fail(self, check: str, found: str, fix: str) -> ContractError:
        return ContractError(self.name, check, found, fix)

    def run(self) -> None:
        self.check_class()
        self.check_data()
        model = self.build("builds from (config, sample_shape)", SEED)
        self.check_seeded_construction(model)
        self.check_weights_only_state(model)
        self.check_infer_step(model)
        self.check_validate_step(model)
        self.check_train_step(model)
        self.check_save_load(model)

    def check_class(self) -> None:
        from hyrax.models.base import HyraxModel
        from hyrax.registry import MODEL_REGISTRY

        if not (inspect.isclass(self.cls) and issubclass(self.cls, HyraxModel)):
            raise self.fail(
                "subclasses HyraxModel",
                f"{self.cls!r} is not a subclass of hyrax.models.base.HyraxModel",
                "Subclass HyraxModel (a torch.nn.Module); its docstring lists what to implement.",
            )
        if not any(MODEL_REGISTRY.get(name) is self.cls for name in MODEL_REGISTRY.names()):
            raise self.fail(
                "registered in MODEL_REGISTRY",
                "no name in hyrax.registry.MODEL_REGISTRY refers to this class",
                f'Decorate it with @hyrax_model("{self.name}") (from hyrax.models.base), which checks its '
                f'methods and registers it so that model.name = "{self.name}" finds it.',
            )

    def check_data(self) -> None:
        check = "check_data accepts the sample"
        result = call(
            self.name,
            check,
            f"{self.name}.check_data(config, <dataset of the sample's {len(self.batch['data'])} objects>)",
            "check_data must only reject data the model cannot learn from; if the model needs labels or "
            "settings, give the sample 'label' and set them in the config passed to check_model.",
            self.cls.check_data,
            self.config,
            _sample_dataset(self.batch),
        )
        if result is not None:
            raise self.fail(check, f"check_data returned {result!r}", "Return None, or raise an error.")

    def build(self, check: str, seed: int) -> Any:
        import torch

        from hyrax.training.seeding import seed_everything

        seed_everything(seed)
        model = call(
            self.name,
            check,
            f"{self.name}(config, sample_shape={self.shape})",
            "Give __init__ the arguments (self, config, sample_shape), call "
            "super().__init__(config, sample_shape) first, and size the layers from sample_shape.",
            self.cls,
            self.config,
            self.shape,
        )
        if tuple(getattr(model, "sample_shape", ())) != self.shape:
            raise self.fail(
                check,
                f"model.sample_shape is {getattr(model, 'sample_shape', None)!r}, not {self.shape}",
                "Call super().__init__(config, sample_shape) first in __init__ and leave sample_shape as is.",
            )
        # Like build_model: one batch through compute_loss materialises torch.nn.Lazy* layers.
        model.eval()
        with torch.no_grad():
            call(
                self.name,
                check,
                f"{self.name}.compute_loss(sample)",
                "compute_loss must accept a batch as the data loader makes it; if the model needs labels, "
                "give the sample 'label'.",
                model.compute_loss,
                self.batch,
            )
        return model.train()

    def check_seeded_construction(self, model: Any) -> None:
        check = "builds the same weights under the same seed"
        differ = _differences(_snapshot(model), _snapshot(self.build(check, SEED)))
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
        import io

        import torch

        buffer = io.BytesIO()
        check = "state_dict holds only tensors"
        call(self.name, check, "torch.save(model.state_dict())", "", torch.save, model.state_dict(), buffer)
        buffer.seek(0)
        call(
            self.name,
            check,
            "torch.load(<the saved state_dict>, weights_only=True)",
            "Keep only tensors (parameters and buffers) and plain values in the state_dict: checkpoints and "
            "weight files are read with weights_only=True.",
            lambda: torch.load(buffer, weights_only=True),
        )

    def infer(self, model: Any, batch: Mapping[str, Any], check: str) -> Any:
        import torch

        with torch.no_grad():
            output = call(
                self.name,
                check,
                f"{self.name}.infer_step(batch of {len(batch['data'])})",
                "infer_step must accept any batch the data loader makes, of any size.",
                model.infer_step,
                batch,
            )
        count = len(batch["data"])
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
        import torch

        model.eval()
        before = _snapshot(model)
        output = self.infer(model, self.batch, "infer_step runs in eval mode")
        if not output.is_floating_point() or not bool(torch.isfinite(output).all()):
            what = f"dtype {output.dtype}" if not output.is_floating_point() else "NaN or infinity"
            raise self.fail(
                "infer_step output is finite floats",
                f"infer_step returned {what} for the sample",
                "Return finite floating-point values; inference stores them as float32.",
            )
        changed = _differences(before, _snapshot(model))
        if changed:
            raise self.fail(
                "infer_step leaves the model unchanged",
                f"after infer_step these entries of the state_dict changed: {shown(changed)}",
                "Do not update weights or buffers in infer_step; it runs in eval mode without gradients.",
            )
        again = self.infer(model, self.batch, "infer_step is deterministic")
        if not torch.allclose(again, output, rtol=RTOL, atol=ATOL):
            raise self.fail(
                "infer_step is deterministic",
                "the same batch twice in eval mode gave different outputs "
                f"(largest difference {float((again - output).abs().max()):.3g})",
                "Make the eval-mode output depend only on the input and the weights: dropout and "
                "sampling belong to training mode (check self.training).",
            )
        for row in range(len(output)):
            alone = self.infer(
                model, _slice(self.batch, row, row + 1), "infer_step is independent of the batch"
            )
            if alone.shape[1:] != output.shape[1:] or not torch.allclose(alone[0], output[row], RTOL, ATOL):
                found = (
                    f"shape {tuple(alone.shape[1:])} alone but {tuple(output.shape[1:])} in the batch"
                    if alone.shape[1:] != output.shape[1:]
                    else f"largest difference {float((alone[0] - output[row]).abs().max()):.3g}"
                )
                raise self.fail(
                    "infer_step is independent of the batch",
                    f"object {row} alone differs from its row in the batch of {len(output)} ({found})",
                    "Compute each object's output from that object alone: no statistics over the batch in "
                    "eval mode (batch norm uses its running statistics there), and the same output shape "
                    "for every batch size.",
                )
        model.train()

    def check_step_output(self, step: str, output: Any) -> None:
        check = f"{step} returns a dict of finite floats with 'loss'"
        if not isinstance(output, Mapping) or "loss" not in output:
            found = f"keys {sorted(output)}" if isinstance(output, Mapping) else type(output).__name__
            raise self.fail(
                check,
                f"{step} returned {found}",
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
        import torch

        model.eval()
        with torch.no_grad():
            output = call(
                self.name,
                "validate_step runs in eval mode",
                f"{self.name}.validate_step(sample)",
                "validate_step must accept the batches train_step accepts; it runs without gradients.",
                model.validate_step,
                self.batch,
            )
        model.train()
        self.check_step_output("validate_step", output)

    def check_train_step(self, model: Any) -> None:
        check = "train_step calls optimize and changes the weights"
        model.train()
        call(
            self.name,
            check,
            "model.configure_training()",
            "build_optimizer must return an optimizer over the trainable parameters.",
            model.configure_training,
        )
        calls = []
        optimize = model.optimize
        model.optimize = lambda loss: calls.append(loss) or optimize(loss)
        before = _snapshot(model)
        try:
            output = call(
                self.name,
                check,
                f"{self.name}.train_step(sample)",
                "train_step must accept a batch as the data loader makes it.",
                model.train_step,
                self.batch,
            )
        finally:
            del model.optimize
        self.check_step_output("train_step", output)
        trainable = [name for name, parameter in model.named_parameters() if parameter.requires_grad]
        changed = [name for name in _differences(before, _snapshot(model)) if name in trainable]
        if not calls:
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
        import torch

        check = "save and load round trip"
        model.eval()
        expected = self.infer(model, self.batch, check)
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "weights.pth"
            call(self.name, check, f"model.save({path.name!r})", "", model.save, path)
            fresh = self.build(check, SEED + 1)
            call(
                self.name,
                check,
                f"<a new {self.name}>.load({path.name!r})",
                "load must read what save writes into an instance built from the same config and shape.",
                fresh.load,
                path,
            )
        differ = _differences(_snapshot(model), _snapshot(fresh))
        if differ:
            raise self.fail(
                check,
                f"after load, {len(differ)} state_dict entries differ from the saved ones: {shown(differ)}",
                "Keep every weight and buffer the model uses in its state_dict (register tensors as "
                "parameters or buffers) and let save/load write and read all of it.",
            )
        fresh.eval()
        try:
            loaded = self.infer(fresh, self.batch, check)
        except ContractError as error:
            raise self.fail(check, error.found, error.fix) from error
        if not torch.allclose(loaded, expected, rtol=RTOL, atol=ATOL):
            raise self.fail(
                check,
                "infer_step of the reloaded model differs from the saved model's "
                f"(largest difference {float((loaded - expected).abs().max()):.3g})",
                "Keep all state that changes the output in the state_dict, not in plain attributes.",
            )

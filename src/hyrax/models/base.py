"""``HyraxModel``: the base class of every Hyrax model, and the ``@hyrax_model`` decorator.

A plug-in author reads only this file to add a model.

Writing a model
---------------
Subclass :class:`HyraxModel` and decorate the class with ``@hyrax_model("Name")``; users then write
``name = "Name"`` in the ``[model]`` table (or the dotted import path of the class). Implement:

``__init__(self, config, sample_shape)``
    Call ``super().__init__(config, sample_shape)`` first, then build the layers. ``sample_shape`` is
    the shape of one object's data, e.g. ``(channels, height, width)``, read from the dataset, so
    layers can size themselves; ``torch.nn.Lazy*`` layers also work, because Hyrax runs one batch
    through the model before training. The model's own settings are ``self.settings``, the
    ``[model.Name]`` table (``Name`` being the class name) of your package's ``default_config.toml``.
``forward(self, x)``
    The model's output for the input tensor ``to_tensor`` makes. Inference stores what it returns,
    one row per object (for an autoencoder, the latent vector).

and, when the defaults below do not fit, any of:

``to_tensor(self, batch)``
    Turns a batch from the data loader into the input of ``forward``. A batch is a dict:
    ``"data"`` a float32 tensor ``(batch, *sample_shape)`` already on the model's device,
    ``"object_id"`` a list of str, ``"index"`` an int64 tensor, and ``"label"`` an int64 tensor for
    labelled data. Default: ``batch["data"]``.
``compute_loss(self, batch)``
    A scalar loss tensor. Default: ``self.criterion(self(x), x)`` with ``x = self.to_tensor(batch)``,
    which suits models whose output has the shape of their input. Overriding this one method is
    usually all a model needs, since the steps below call it.
``train_step(self, batch)``
    One optimisation step; returns a dict of floats that is shown in the progress bar and averaged
    per epoch (``"loss"`` is the one that checkpoints rank runs by). Default: ``loss =
    self.compute_loss(batch)``, ``self.optimize(loss)``, ``{"loss": loss.item()}``. A custom step must
    call ``self.optimize(loss)`` rather than ``loss.backward()`` and ``optimizer.step()`` itself: that
    is where mixed precision, gradient clipping and the averaging of gradients across processes happen.
``validate_step(self, batch)``
    Runs under ``torch.no_grad()`` in eval mode; returns a dict of floats. Default:
    ``{"loss": self.compute_loss(batch).item()}``.
``infer_step(self, batch)``
    Runs under ``torch.no_grad()`` in eval mode; returns a tensor with one row per object.
    Default: ``self(self.to_tensor(batch))``.
``check_data(cls, config, dataset)``
    A classmethod that rejects a dataset the model cannot learn from as configured, by raising an
    error that says how to fix it; it returns nothing. The train and test verbs call it before the
    model is built or any batch is read, so a mismatch is reported at once rather than mid-epoch.
    Inference does not call it, since it uses no labels. Read the model's settings with
    ``cls.settings_in(config)``. Default: accept any dataset. A classifier checks, for example, that
    the dataset has labels and that they fit its number of classes (see ``HyraxCNN.check_data``).

The base class provides ``self.criterion`` (from ``[criterion]``, or ``default_criterion`` when
``criterion.name`` is false), ``self.optimizer`` and ``self.scheduler`` (from ``[optimizer]`` and
``[scheduler]``, built when training starts; override ``build_optimizer`` for e.g. per-layer learning
rates), ``self.device``, and ``save(path)`` / ``load(path)`` of the weights.

Check a model against this contract in a test with ``hyrax.testing.check_model(MyModel, batch)``.

Examples
--------
>>> import torch
>>> from hyrax.config import load_config
>>> from hyrax.models.base import HyraxModel, hyrax_model
>>> @hyrax_model("ScaledIdentity", force=True)
... class ScaledIdentity(HyraxModel):
...     '''Learns one factor that maps the data onto itself.'''
...     def __init__(self, config, sample_shape):
...         super().__init__(config, sample_shape)
...         self.scale = torch.nn.Parameter(torch.tensor(0.5))
...     def forward(self, x):
...         return x * self.scale
>>> model = ScaledIdentity(load_config(), (1, 4, 4))
>>> model.configure_training()
>>> step = model.train_step({"data": torch.ones(2, 1, 4, 4)})
>>> round(step["loss"], 2)
0.25
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import torch

from hyrax.errors import HyraxError
from hyrax.files import replacing
from hyrax.models.builders import build_criterion, build_optimizer, build_scheduler
from hyrax.registry import MODEL_REGISTRY


class ModelDataError(HyraxError, ValueError):
    """A model cannot be built for, or cannot process, the data of a dataset."""


class HyraxModel(torch.nn.Module):
    """Base class of Hyrax models; see the module docstring for what to implement.

    Parameters
    ----------
    config : ConfigDict or mapping
        The whole Hyrax configuration.
    sample_shape : tuple of int
        Shape of one object's data, without the batch dimension.

    Attributes
    ----------
    default_criterion : str
        Dotted path of the loss used when ``criterion.name`` is false.
    """

    default_criterion: ClassVar[str] = "torch.nn.MSELoss"

    def __init__(self, config: Mapping, sample_shape: tuple[int, ...]):
        super().__init__()
        self.config = config
        self.sample_shape = tuple(int(size) for size in sample_shape)
        self.criterion = self.build_criterion()
        self.optimizer: torch.optim.Optimizer | None = None
        self.scheduler: Any = None
        self.grad_scaler: torch.amp.GradScaler | None = None
        self.gradient_clip: float | None = None
        self._average_gradients: Callable[[list[torch.nn.Parameter]], None] | None = None

    @classmethod
    def settings_in(cls, config: Mapping) -> Mapping:
        """The ``[model.<ClassName>]`` table of ``config``, or an empty mapping when there is none.

        A subclass without a table of its own uses the table of the nearest model class it derives
        from, so a variant of a model keeps its settings.
        """
        # Mixins in the MRO are not models and have no table; the search ends at HyraxModel itself.
        for klass in cls.__mro__[: cls.__mro__.index(HyraxModel)]:
            table = config["model"].get(klass.__name__) if issubclass(klass, HyraxModel) else None
            if isinstance(table, Mapping):
                return table
        return {}

    @property
    def settings(self) -> Mapping:
        """This model's ``[model.<ClassName>]`` table, or an empty mapping when there is none."""
        return self.settings_in(self.config)

    @classmethod
    def check_data(cls, config: Mapping, dataset: Any) -> None:
        """Raise an error when this model, as ``config`` sets it up, cannot learn from ``dataset``.

        The train and test verbs call it before the model is built; inference does not. The default
        accepts every dataset.

        Parameters
        ----------
        config : ConfigDict or mapping
            The whole configuration.
        dataset : HyraxDataset
            The dataset to train or test on (possibly wrapped in a cache).

        Raises
        ------
        ConfigError or ModelDataError
            Saying what does not fit and how to fix it.
        """

    @property
    def device(self) -> torch.device:
        """Device of the model's parameters (CPU for a model without parameters)."""
        return next((parameter.device for parameter in self.parameters()), torch.device("cpu"))

    def build_criterion(self) -> torch.nn.Module:
        """The loss named by ``[criterion]``, or ``default_criterion`` when ``criterion.name`` is false."""
        return build_criterion(self.config["criterion"], default=self.default_criterion)

    def build_optimizer(self) -> torch.optim.Optimizer:
        """The optimizer named by ``[optimizer]``, over every trainable parameter."""
        return build_optimizer(self.config["optimizer"], [p for p in self.parameters() if p.requires_grad])

    def build_scheduler(self, optimizer: torch.optim.Optimizer) -> Any:
        """The learning-rate scheduler named by ``[scheduler]``, or None."""
        return build_scheduler(self.config["scheduler"], optimizer)

    def configure_training(
        self,
        *,
        gradient_clip: float | None = None,
        grad_scaler: torch.amp.GradScaler | None = None,
        average_gradients: Callable[[list[torch.nn.Parameter]], None] | None = None,
    ) -> None:
        """Build the optimizer and scheduler and set how :meth:`optimize` works; the trainer calls it.

        Call it after the model is on its device, so the optimizer state is created there.

        Parameters
        ----------
        gradient_clip : float, optional
            Clip the total gradient norm to this value.
        grad_scaler : torch.amp.GradScaler, optional
            Scales the loss for float16 mixed precision.
        average_gradients : callable, optional
            Averages the gradients of a list of parameters across processes.
        """
        self.optimizer = self.build_optimizer()
        self.scheduler = self.build_scheduler(self.optimizer)
        self.gradient_clip = gradient_clip
        self.grad_scaler = grad_scaler
        self._average_gradients = average_gradients

    def optimize(self, loss: torch.Tensor) -> None:
        """Back-propagate ``loss`` and take one optimizer step.

        Applies loss scaling, cross-process gradient averaging and gradient clipping as configured by
        :meth:`configure_training`.
        """
        optimizer = self.optimizer
        if optimizer is None:
            raise RuntimeError(
                f"{type(self).__name__}.optimize() needs an optimizer: call model.configure_training() "
                "first (the train verb does this before the first step)."
            )
        optimizer.zero_grad(set_to_none=True)
        scaler = self.grad_scaler
        if scaler is not None:
            # The backward pass runs outside autocast, as PyTorch recommends.
            with torch.autocast(device_type=loss.device.type, enabled=False):
                scaler.scale(loss).backward()
        else:
            loss.backward()
        if self._average_gradients is not None or self.gradient_clip is not None:
            parameters = [
                p for group in optimizer.param_groups for p in group["params"] if p.grad is not None
            ]
            if self._average_gradients is not None:
                self._average_gradients(parameters)
            if self.gradient_clip is not None:
                if scaler is not None:
                    scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(parameters, self.gradient_clip)
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()

    def to_tensor(self, batch: Mapping[str, Any]) -> torch.Tensor:
        """The input of ``forward`` for ``batch``: by default ``batch["data"]``."""
        return batch["data"]

    def compute_loss(self, batch: Mapping[str, Any]) -> torch.Tensor:
        """The loss of ``batch``: by default the criterion between the output and the input."""
        x = self.to_tensor(batch)
        return self.criterion(self(x), x)

    def train_step(self, batch: Mapping[str, Any]) -> dict[str, float]:
        """One optimisation step on ``batch``; returns ``{"loss": float}``."""
        loss = self.compute_loss(batch)
        self.optimize(loss)
        return {"loss": loss.item()}

    def validate_step(self, batch: Mapping[str, Any]) -> dict[str, float]:
        """The validation metrics of ``batch`` (called under ``torch.no_grad()``); ``{"loss": float}``."""
        return {"loss": self.compute_loss(batch).item()}

    def infer_step(self, batch: Mapping[str, Any]) -> torch.Tensor:
        """The output for ``batch``, one row per object (called under ``torch.no_grad()``)."""
        return self(self.to_tensor(batch))

    def save(self, path: str | os.PathLike) -> Path:
        """Write the weights (the state dict) to ``path``, atomically; return the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with replacing(path) as temporary:
            torch.save(self.state_dict(), temporary)
        return path

    def load(self, path: str | os.PathLike) -> HyraxModel:
        """Load weights written by :meth:`save` onto the model's current device; return the model.

        Only tensors are unpickled (``weights_only=True``), so a file from an untrusted source cannot
        run code, and weights saved on a GPU load on a CPU-only machine.

        Raises
        ------
        FileNotFoundError
            When ``path`` does not exist.
        ModelDataError
            When the weights do not fit this model's layers, naming the mismatched keys.
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"No model weights at {path}. Name a file written by `hyrax train`.")
        state = torch.load(path, map_location=self.device, weights_only=True)
        if isinstance(state, Mapping) and "model" in state and "trainer" in state:
            state = state["model"]  # a training checkpoint holds the weights under "model"
        try:
            self.load_state_dict(state)
        except RuntimeError as error:
            differences = _describe_mismatch(state, self.state_dict()) or str(error)
            config_file = path.parent / "runtime_config.toml"
            raise ModelDataError(
                f"The weights in {path} do not fit {type(self).__name__} built for data of shape "
                f"{self.sample_shape}: {differences}. They were trained with other model settings or "
                f"data of another shape; use the configuration they were trained with"
                + (f" ({config_file})." if config_file.is_file() else ".")
            ) from None
        return self


def _describe_mismatch(saved: Mapping, expected: Mapping, shown: int = 3) -> str:
    """How saved weights differ from a model's own, in one sentence naming the first few tensors."""
    missing = [key for key in expected if key not in saved]
    unexpected = [key for key in saved if key not in expected]
    reshaped = [
        f"{key} saved {list(saved[key].shape)}, here {list(expected[key].shape)}"
        for key in expected
        if key in saved and hasattr(saved[key], "shape") and saved[key].shape != expected[key].shape
    ]
    parts = []
    for label, names in (
        ("of another shape", reshaped),
        ("missing from the file", missing),
        ("not in this model", unexpected),
    ):
        if names:
            more = f", and {len(names) - shown} more" if len(names) > shown else ""
            parts.append(f"{len(names)} tensor(s) {label} ({'; '.join(names[:shown])}{more})")
    return ", ".join(parts)


_SKELETON = """\
from hyrax.models.base import HyraxModel, hyrax_model

@hyrax_model("{name}")
class {cls}(HyraxModel):
    def __init__(self, config, sample_shape):
        super().__init__(config, sample_shape)
        ...  # build layers sized from sample_shape

    def forward(self, x):
        ...

    def compute_loss(self, batch):  # optional: the default compares forward(x) with x
        ..."""


def _check_signature(cls: type, method: str, arguments: tuple[str, ...], first: str = "self") -> None:
    # check_data is called on the class, before any instance exists, so it must be a classmethod.
    if first == "cls" and not isinstance(inspect.getattr_static(cls, method), classmethod):
        raise TypeError(
            f"{cls.__qualname__}.{method} must be a classmethod: decorate it with @classmethod and "
            f"give it the arguments ({', '.join(('cls', *arguments))})."
        )
    function = getattr(cls, method)
    given = arguments if first == "cls" else (None, *arguments)  # a classmethod is bound to the class
    try:
        inspect.signature(function).bind(*given)
    except TypeError:
        raise TypeError(
            f"{cls.__qualname__}.{method}{inspect.signature(function)} must accept "
            f"({', '.join((first, *arguments))})."
        ) from None


def hyrax_model(name: str, *, force: bool = False) -> Callable[[type], type]:
    """Register a :class:`HyraxModel` subclass as model ``name``; the class is returned unchanged.

    The class is checked when it is decorated: it must subclass :class:`HyraxModel` (which is a
    ``torch.nn.Module``; to reuse an existing module, make it an attribute of your model), implement
    ``forward``, and its methods must take the arguments the module docstring lists.

    Parameters
    ----------
    name : str
        The name users write as ``model.name``.
    force : bool
        Replace a different class already registered under ``name``.

    Raises
    ------
    TypeError
        Saying what the class lacks, with a skeleton to start from.
    """

    def decorate(cls: type) -> type:
        if not inspect.isclass(cls):
            raise TypeError(f"@hyrax_model({name!r}) decorates {cls!r}, which is not a class.")
        start = "Start from:\n\n" + _SKELETON.format(name=name, cls=cls.__name__)
        if not issubclass(cls, HyraxModel):
            raise TypeError(
                f"@hyrax_model({name!r}) decorates {cls.__qualname__}, which does not subclass HyraxModel. "
                f"Hyrax models subclass hyrax.models.base.HyraxModel (a torch.nn.Module), which provides "
                f"training steps, save/load and the optimizer. {start}"
            )
        if cls.forward is torch.nn.Module.forward:
            raise TypeError(f"Model {cls.__qualname__} must implement forward(self, x). {start}")
        _check_signature(cls, "__init__", ("config", "sample_shape"))
        for method in ("to_tensor", "compute_loss", "train_step", "validate_step", "infer_step"):
            _check_signature(cls, method, ("batch",))
        _check_signature(cls, "check_data", ("config", "dataset"), first="cls")
        MODEL_REGISTRY.register(name, cls, force=force)
        return cls

    return decorate

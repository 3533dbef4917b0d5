"""Build the configured model for a dataset, and check it can process that dataset's data."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch.utils.data import default_collate

from hyrax.models.base import HyraxModel, ModelDataError
from hyrax.registry import MODEL_REGISTRY, get_or_load_class, qualified_name


def model_class(config: Mapping) -> type[HyraxModel]:
    """The model class ``config["model"]["name"]`` names: a registered name or a dotted path.

    Raises
    ------
    TypeError
        When the name resolves to something that is not a :class:`HyraxModel` subclass.
    """
    cls = get_or_load_class(config["model"], MODEL_REGISTRY)
    if not (inspect.isclass(cls) and issubclass(cls, HyraxModel)):
        raise TypeError(
            f"model.name = {config['model']['name']!r} is {qualified_name(cls)}, which is not a Hyrax "
            f"model: models subclass hyrax.models.base.HyraxModel (see its docstring)."
        )
    return cls


def _describe_dataset(dataset: Any) -> str:
    # A cache (or subset) wrapper names the dataset it wraps as ``dataset``.
    name = type(getattr(dataset, "dataset", dataset)).__name__
    return f"dataset {name} ({len(dataset)} objects)"


def build_model(
    config: Mapping,
    dataset: Any,
    *,
    indices: Sequence[int] | None = None,
    collate_fn: Callable[[list], Any] | None = None,
    for_training: bool = True,
) -> HyraxModel:
    """Build the configured model sized for ``dataset``, and run one small batch through it.

    The trial batch catches a model that does not suit the data before training starts, and
    materialises ``torch.nn.Lazy*`` layers so the optimizer sees every parameter.

    Parameters
    ----------
    config : ConfigDict or mapping
        The whole configuration; ``model.name`` picks the class, which receives it.
    dataset : HyraxDataset
        The data the model will see; its first item gives ``sample_shape``.
    indices : sequence of int, optional
        Objects to take the trial batch from (e.g. the train split); the first two are used.
    collate_fn : callable, optional
        How the data loader combines items into a batch; PyTorch's default when omitted.
    for_training : bool
        Try the batch through ``compute_loss`` (training needs labels where the model does), or, when
        False, through ``infer_step`` only (inference needs none).

    Returns
    -------
    HyraxModel
        The model, on the CPU, in training mode.

    Raises
    ------
    ModelDataError
        Naming the model, the shape of the input and the dataset, when the model cannot be built for
        the data or fails on the trial batch.
    """
    cls = model_class(config)
    if len(dataset) == 0:
        raise ModelDataError(f"Cannot build model {cls.__name__}: the {_describe_dataset(dataset)} is empty.")
    candidates = list(indices[:2]) if indices is not None and len(indices) else [0, 1]
    items = [dataset[int(i)] for i in candidates if int(i) < len(dataset)]
    sample_shape = tuple(items[0]["data"].shape)
    where = f"{_describe_dataset(dataset)}, whose items have data of shape {sample_shape}"
    try:
        model = cls(config, sample_shape)
    except Exception as error:
        raise ModelDataError(
            f"Model {cls.__name__} could not be built for the {where}: {type(error).__name__}: "
            f"{str(error).rstrip('.')}. "
            f"Check that the model suits this data, or change its shape with data_set.crop_to."
        ) from error
    batch = (collate_fn or default_collate)(items)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            if for_training:
                model.compute_loss(batch)
            else:
                model.infer_step(batch)
    except Exception as error:
        input_shape = tuple(batch["data"].shape) if isinstance(batch, Mapping) and "data" in batch else "?"
        raise ModelDataError(
            f"Model {cls.__name__} fails on a batch of input shape {input_shape} from the {where}: "
            f"{type(error).__name__}: {str(error).rstrip('.')}. Check that the model suits this data (its "
            f"settings are in [model.{cls.__name__}]), or change the data's shape with data_set.crop_to."
        ) from error
    finally:
        model.train(was_training)
    return model

"""Find the weights of a trained model, rebuild the model, and reuse the splits it was trained with.

The infer and test verbs name their weights the same way: a weights file, a train results directory,
or false for the most recent complete train run. :func:`find_trained_weights` resolves that into a
:class:`TrainedWeights`, :func:`load_trained_model` builds the configured model and loads them, and
:func:`split_indices` reads the split the train run saved, so evaluation never sees training objects.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hyrax.errors import ConfigError, ResultsNotFoundError
from hyrax.results import resolve_input_dir

logger = logging.getLogger(__name__)


class WeightsNotFoundError(ResultsNotFoundError):
    """The model weights to load do not exist."""


@dataclass(frozen=True)
class TrainedWeights:
    """Model weights, and the train results directory they belong to.

    Attributes
    ----------
    weights : Path
        The weights file.
    train_dir : Path or None
        The train run's results directory (holding ``splits.npz``), or None for weights found elsewhere.
    """

    weights: Path
    train_dir: Path | None


def find_trained_weights(
    configured: str | os.PathLike | bool,
    key: str,
    *,
    results_root: str | os.PathLike,
    weights_filename: str,
) -> TrainedWeights:
    """Resolve a weights setting into a weights file and its train run.

    Parameters
    ----------
    configured : path or False
        A weights file, a train results directory, or False for the most recent complete train run.
    key : str
        The dotted configuration key ``configured`` came from, named in errors.
    results_root : path
        Where train runs are looked for (``general.results_dir``).
    weights_filename : str
        The weights file's name in a train directory whose own configuration does not say
        (``train.weights_filename``).

    Returns
    -------
    TrainedWeights
        The weights file and, when it sits in a train results directory, that directory.

    Raises
    ------
    WeightsNotFoundError
        Naming the path tried, when the weights file does not exist.
    ResultsNotFoundError
        When there is no complete train run to take the weights from.
    """
    from hyrax.config import RUNTIME_CONFIG_NAME, read_toml

    if not configured or Path(configured).is_dir():
        train_dir = resolve_input_dir(configured, "train", results_root)  # False: the most recent
        how = (
            f"the train results directory {key} names"
            if configured
            else f"the most recent complete train run ({key} = false)"
        )
        runtime = train_dir / RUNTIME_CONFIG_NAME
        if runtime.is_file():  # the train run's own train.weights_filename comes first
            name = read_toml(runtime).unwrap().get("train", {}).get("weights_filename")
            weights_filename = name if isinstance(name, str) and name else weights_filename
        weights = train_dir / weights_filename
    else:
        weights = Path(configured)
        train_dir = weights.parent if (weights.parent / "splits.npz").is_file() else None
        how = key
    if not weights.is_file():
        raise WeightsNotFoundError(
            f"No model weights at {weights} (from {how}). Set {key} to a weights file written by "
            f"`hyrax train` (its train.weights_filename) or to a train results directory, or run "
            f"`hyrax train` first."
        )
    return TrainedWeights(weights.resolve(), train_dir.resolve() if train_dir is not None else None)


def split_indices(trained: TrainedWeights, split: str | bool, n_objects: int, key: str) -> np.ndarray | None:
    """Indices of ``split`` as the train run saved them, or None for the whole dataset.

    Parameters
    ----------
    trained : TrainedWeights
        Where the weights came from.
    split : str or False
        ``"train"``, ``"validate"`` or ``"test"``, or False for every object.
    n_objects : int
        Size of the dataset, to check the saved splits belong to it.
    key : str
        The dotted configuration key ``split`` came from, named in errors.

    Raises
    ------
    ConfigError
        When the split name is unknown, the weights have no train run, or the splits do not fit.
    """
    from hyrax.datasets.splits import SPLIT_NAMES, load_splits

    if split is False:
        return None
    if split not in SPLIT_NAMES:
        raise ConfigError(
            f"{key} = {split!r} is not a split; use one of {', '.join(map(repr, SPLIT_NAMES))}, or false "
            f"for the whole dataset.",
            key=key,
        )
    if trained.train_dir is None:
        raise ConfigError(
            f"{key} = {split!r} needs the splits of the train run, but the weights {trained.weights} are "
            f"not in a train results directory (no splits.npz beside them). Name the train results "
            f"directory instead of the file, or set {key} = false for the whole dataset.",
            key=key,
        )
    indices = load_splits(trained.train_dir)[split]
    if len(indices) and int(np.max(indices)) >= n_objects:
        raise ConfigError(
            f"The splits of {trained.train_dir} index up to object {int(np.max(indices))}, but the dataset "
            f"has {n_objects} objects: it is not the dataset the model was trained on. Use the data_set "
            f"settings of that run (its runtime_config.toml), or set {key} = false.",
            key=key,
        )
    return indices


def load_trained_model(
    config: Mapping,
    dataset: Any,
    weights: str | os.PathLike,
    *,
    indices: Sequence[int] | None = None,
    collate_fn: Callable[[list], Any] | None = None,
    device: Any = None,
) -> Any:
    """Build the configured model for ``dataset``, load ``weights`` and put it in eval mode.

    Parameters
    ----------
    config : ConfigDict or mapping
        The whole configuration; ``model.name`` and its table must match the trained model.
    dataset : HyraxDataset
        The data the model will process.
    weights : path
        A file written by ``HyraxModel.save`` (or a training checkpoint).
    indices : sequence of int, optional
        Objects to take the model's trial batch from.
    collate_fn : callable, optional
        The data loader's collate function.
    device : torch.device, optional
        Where to put the model; the CPU when omitted.

    Returns
    -------
    HyraxModel
        The model with the trained weights, in eval mode.
    """
    from hyrax.models.factory import build_model

    model = build_model(config, dataset, indices=indices, collate_fn=collate_fn, for_training=False)
    if device is not None:
        model.to(device)
    model.load(weights)
    logger.info("Loaded %s weights from %s", type(model).__name__, weights)
    return model.eval()

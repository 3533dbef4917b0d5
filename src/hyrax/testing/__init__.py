"""Contract checks for Hyrax plug-ins: the checks every built-in model, dataset and vector database passes.

A plug-in author runs them from their own tests, as scikit-learn's ``check_estimator`` is run on
third-party estimators::

    from hyrax.testing import check_model

    def test_my_model_keeps_the_contract():
        check_model(MyModel, {"data": torch.rand(4, 1, 32, 32)})

Each check raises :class:`ContractError` (an ``AssertionError``) naming the plug-in, the check that
failed, what it found and what to change. Importing this module is cheap: torch and the plug-ins are
imported when a check runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hyrax.testing._common import ContractError

__all__ = ["ContractError", "check_dataset", "check_model", "check_vector_db"]


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
    from hyrax.testing._models import ModelChecks

    ModelChecks(model_class, sample, config).run()


def check_dataset(
    dataset_class: type,
    config: Mapping | None = None,
    *,
    allow_non_finite: bool = False,
    deterministic: bool = True,
) -> None:
    """Check that a dataset class keeps the :class:`~hyrax.datasets.base.HyraxDataset` contract.

    The checks, in order (the first that fails raises):

    1. the class subclasses ``HyraxDataset``, does not override ``__getitem__``, and is registered in
       ``DATA_SET_REGISTRY`` (or, with ``registry_name = None``, importable by its dotted path);
    2. it builds as ``dataset_class(config)`` and has at least one object;
    3. ``ids()`` gives one non-empty, unique ``str`` per object;
    4. for objects spread over the dataset: ``get_data`` returns a float32 ``numpy.ndarray``, the same
       shape for every object and finite (unless ``allow_non_finite``); the item has ``"data"`` (a
       float32 tensor of that array), ``"object_id"`` equal to ``ids()[i]`` and ``"index"`` equal to
       ``i``; labels are integers equal to ``get_label(i)``, for every object or none;
    5. (``deterministic``) reading an object again, after the global random generators moved, and
       reading it from a second instance built from the same config, give the same data; the second
       instance has the same ids and labels;
    6. ``index_of(ids()[i]) == i``, ``indices_of`` agrees, and an unknown id raises an error naming it;
    7. ``metadata_fields()`` is a list of unique names; ``metadata(indices, fields)`` returns every
       field asked for, one value per index, in the order of the indices, and rejects an unknown field;
    8. the dataset survives ``pickle`` (data-loader workers started with "spawn" receive it so) and
       the copy gives the same items;
    9. a data loader made by :func:`hyrax.datasets.loading.make_data_loader`, with the configured
       collate function, yields a batch of the expected shape, ids and indices.

    Parameters
    ----------
    dataset_class : type
        The dataset class (a ``HyraxDataset`` subclass).
    config : ConfigDict or mapping, optional
        The whole configuration the dataset is built from; Hyrax's defaults (and the installed
        plug-ins') when omitted. Keep the dataset small: every id is read, and a few objects.
    allow_non_finite : bool
        Accept NaN and infinity in the data, for datasets documented to serve them.
    deterministic : bool
        Require the same data for the same object on every read; set it to False for datasets with
        random augmentations.

    Raises
    ------
    ContractError
        An ``AssertionError`` naming the class, the check, what was found and what to change.

    Examples
    --------
    >>> from hyrax.config import load_config
    >>> from hyrax.testing import check_dataset
    >>> from hyrax.datasets.random_dataset import HyraxRandomDataset
    >>> config = load_config()
    >>> config["data_set"]["HyraxRandomDataset"]["size"] = 10
    >>> check_dataset(HyraxRandomDataset, config)
    """
    from hyrax.testing._datasets import DatasetChecks

    DatasetChecks(dataset_class, config, allow_non_finite, deterministic).run()


def check_vector_db(db_class: type | str, folder: str | Path | None = None, **options: Any) -> None:
    """Check that a vector database backend keeps the :class:`~hyrax.vector_dbs.base.VectorDB` contract.

    Each check builds its own database in a new subfolder of ``folder``:

    - upserting 600 vectors counts them, and each object is its own nearest neighbour at distance
      ~0, with distances sorted nearest first;
    - ``metric="l2"`` gives the squared Euclidean distance and ``"cosine"`` one minus the cosine;
    - re-upserting ids replaces their vectors and metadata and never duplicates them;
    - a closed database reopens from its folder with its count, dimension, metadata fields and vectors;
    - searches return 2-d ``str`` ids and float32 distances of shape ``(n, min(k, count()))``, with a
      logged warning when ``k`` exceeds the collection, and an empty collection gives ``(n, 0)``;
    - queries of the wrong shape, NaN or infinite queries and a ``k`` that is not a positive integer
      are rejected with a message giving the reason;
    - ``get_by_id`` returns vectors and metadata in the order asked; unknown ids raise
      ``UnknownIdError`` naming them;
    - upserts larger than ``max_batch_size`` reach the backend in batches of that size;
    - invalid upserts (wrong dimension, repeated ids, NaN, mismatched lengths or metadata fields)
      are rejected and store nothing;
    - reopening with another dimension or metric is an error.

    Parameters
    ----------
    db_class : type or str
        The backend: a ``VectorDB`` subclass, or its name in ``VECTOR_DB_REGISTRY``.
    folder : path, optional
        An empty folder to create the databases in; a temporary folder, removed afterwards, when
        omitted.
    **options
        Further constructor arguments of the backend, passed to every database the checks open
        (e.g. ``exact_limit=200`` to drive FAISS's approximate index at test sizes).

    Raises
    ------
    ContractError
        An ``AssertionError`` naming the backend, the check, what was found and what to change.
    MissingDependencyError
        When the backend's optional library is not installed (a test may skip on it).

    Examples
    --------
    >>> from hyrax.testing import check_vector_db
    >>> check_vector_db("faiss")  # doctest: +SKIP
    """
    from hyrax.testing._vector_dbs import VectorDBChecks

    VectorDBChecks(db_class, options).run(folder)

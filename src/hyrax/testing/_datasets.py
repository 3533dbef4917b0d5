"""The checks behind :func:`hyrax.testing.check_dataset`: the contract of ``HyraxDataset``."""

from __future__ import annotations

import pickle
from collections import Counter
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from hyrax.config import load_config
from hyrax.datasets.base import HyraxDataset
from hyrax.datasets.loading import make_data_loader
from hyrax.errors import HyraxError
from hyrax.registry import DATA_SET_REGISTRY, qualified_name
from hyrax.testing._common import PluginChecks, generators_restored, shown
from hyrax.training.seeding import seed_everything

ITEMS = 6
"""How many objects, spread over the dataset, are read by the item checks."""

BATCH = 4
"""Size of the batch the data loader check makes."""


def _same(first: Any, second: Any) -> bool:
    """Whether two arrays (or tensors) are equal, NaN equal to NaN."""
    first, second = np.asarray(first), np.asarray(second)
    numeric = first.dtype.kind in "fc" and second.dtype.kind in "fc"
    return first.shape == second.shape and bool(np.array_equal(first, second, equal_nan=numeric))


class DatasetChecks(PluginChecks):
    def __init__(self, cls: type, config: Mapping | None, allow_non_finite: bool, deterministic: bool):
        super().__init__(cls)
        self.config = load_config() if config is None else config
        self.allow_non_finite = allow_non_finite
        self.deterministic = deterministic

    def run(self) -> None:
        with generators_restored():
            self.check_class()
            dataset = self.build("builds from config")
            self.check_length(dataset)
            ids = self.check_ids(dataset)
            spread = np.linspace(0, len(dataset) - 1, min(len(dataset), ITEMS)).round()
            indices = sorted({int(index) for index in spread})
            items = {index: self.check_item(dataset, ids, index) for index in indices}
            self.check_shape_and_labels(dataset, items)
            if self.deterministic:
                self.check_deterministic(dataset, ids, items)
            self.check_index_of(dataset, ids, indices)
            self.check_metadata(dataset, indices)
            self.check_pickle(dataset, items)
            self.check_data_loader(dataset, ids, items)

    def check_class(self) -> None:
        self.check_subclass(
            HyraxDataset, "Subclass HyraxDataset and implement __len__, get_data and ids (see its docstring)."
        )
        if self.cls.__getitem__ is not HyraxDataset.__getitem__:
            raise self.fail(
                "keeps HyraxDataset.__getitem__",
                "the class overrides __getitem__",
                "Remove __getitem__ and implement get_data (and get_label): the base class builds the "
                'items {"data", "object_id", "index", "label"} that training, inference and the vector '
                "database rely on.",
            )
        # A class kept out of the registry is found by its dotted path.
        hidden = self.cls.registry_name is None
        name = qualified_name(self.cls) if hidden else self.cls.registry_name or self.cls.__name__
        try:
            found = DATA_SET_REGISTRY.get(name) is self.cls
        except HyraxError:
            found = False
        if not found:
            raise self.fail(
                "registered in DATA_SET_REGISTRY",
                f"data_set.name = {name!r} does not find this class"
                + (" (registry_name = None keeps it out of the registry)" if hidden else ""),
                "Subclasses of HyraxDataset register under their class name (or registry_name) when defined; "
                "leave registry_name unset, or define the class at module level so its dotted path imports.",
            )

    def build(self, check: str) -> Any:
        fix = "Call super().__init__(config) first and read the settings from config['data_set']."
        with self.errors_fail(check, f"{self.name}(config)", fix):
            return self.cls(self.config)

    def check_length(self, dataset: Any) -> None:
        with self.errors_fail("has objects", "len(dataset)", "Implement __len__."):
            length = len(dataset)
        if length < 1:
            raise self.fail(
                "has objects", "len(dataset) is 0", "Give check_dataset a config with at least one object."
            )

    def check_ids(self, dataset: Any) -> list[str]:
        check = "ids are unique strings, one per object"
        with self.errors_fail(check, "dataset.ids()", "Implement ids()."):
            ids = list(dataset.ids())
        if len(ids) != len(dataset):
            raise self.fail(
                check, f"ids() has {len(ids)} ids for {len(dataset)} objects", "Give one id per index."
            )
        bad = [value for value in ids if not isinstance(value, str) or not value]
        if bad:
            raise self.fail(
                check,
                f"ids() holds {len(bad)} values that are not non-empty str: {shown(bad)}",
                "Return str ids (convert numbers with str()); they key the results and the vector database.",
            )
        repeated = [value for value, times in Counter(ids).items() if times > 1]
        if repeated:
            raise self.fail(
                check,
                f"{len(repeated)} ids occur more than once: {shown(repeated)}",
                "Make every object's id unique, e.g. by adding the file name or index to it.",
            )
        return ids

    def check_item(self, dataset: Any, ids: list[str], index: int) -> dict[str, Any]:
        check = "items hold float32 data, the id and the index"
        with self.errors_fail(check, f"dataset.get_data({index})"):
            data = dataset.get_data(index)
        if not isinstance(data, np.ndarray) or data.dtype != np.float32:
            raise self.fail(
                "get_data returns a float32 numpy array",
                f"get_data({index}) returned a "
                + (f"{data.dtype} array" if isinstance(data, np.ndarray) else type(data).__name__),
                "Return a numpy.ndarray of float32, e.g. with .astype(np.float32).",
            )
        if not self.allow_non_finite and not np.isfinite(data).all():
            raise self.fail(
                "data is finite",
                f"get_data({index}) holds {int((~np.isfinite(data)).sum())} NaN or infinite values",
                "Replace bad pixels (see nan_mode of FitsImageDataSet), or pass allow_non_finite=True to "
                "check_dataset if the dataset is documented to serve them.",
            )
        with self.errors_fail(check, f"dataset[{index}]"):
            item = dataset[index]
        if not isinstance(item, Mapping) or not {"data", "object_id", "index"} <= set(item):
            found = f"keys {sorted(item)}" if isinstance(item, Mapping) else type(item).__name__
            raise self.fail(check, f"dataset[{index}] has {found}", "Do not override __getitem__.")
        tensor = item["data"]
        if (
            not isinstance(tensor, torch.Tensor)
            or tensor.dtype != torch.float32
            or tensor.shape != data.shape
        ):
            raise self.fail(
                check, f"dataset[{index}]['data'] is {tensor!r:.80}", "Do not override __getitem__."
            )
        if item["object_id"] != ids[index] or item["index"] != index:
            raise self.fail(
                check,
                f"dataset[{index}] has object_id {item['object_id']!r} and index {item['index']!r}, "
                f"but ids()[{index}] is {ids[index]!r}",
                "Return the ids in index order, and compute them once so that every call agrees.",
            )
        return item

    def check_shape_and_labels(self, dataset: Any, items: dict[int, dict[str, Any]]) -> None:
        shapes = {index: tuple(item["data"].shape) for index, item in items.items()}
        if len(set(shapes.values())) > 1:
            raise self.fail(
                "data has one shape",
                "objects have data of different shapes: "
                + ", ".join(f"{index}: {shape}" for index, shape in shapes.items()),
                "Give every object the same shape (crop or pad, like data_set.crop_to); a batch stacks them.",
            )
        check = "labels are integers, for every object or none"
        labelled = {index for index, item in items.items() if "label" in item}
        if labelled and labelled != set(items):
            raise self.fail(
                check,
                f"objects {sorted(labelled)} have a label and {sorted(set(items) - labelled)} have none",
                "get_label must return an int for every object of a labelled dataset, None for none.",
            )
        for index in labelled:
            label, direct = items[index]["label"], dataset.get_label(index)
            if not isinstance(label, int) or label != direct or not isinstance(direct, int):
                raise self.fail(
                    check,
                    f"object {index} has label {label!r} in its item and get_label({index}) is {direct!r}",
                    "Return an int (a class number from 0) from get_label, or None for unlabelled data.",
                )

    def check_deterministic(self, dataset: Any, ids: list[str], items: dict[int, dict[str, Any]]) -> None:
        check = "the same object gives the same data"
        fix = (
            "Derive random content from a seed in the config and the object's index "
            "(np.random.default_rng([seed, index])), never from the global generators or the order of "
            "reads; pass deterministic=False to check_dataset for random augmentations."
        )
        # Moving the global generators between reads shows a dataset that draws from them.
        seed_everything(987654321)
        for index, item in reversed(items.items()):
            with self.errors_fail(check, f"dataset.get_data({index})", fix):
                again = dataset.get_data(index)
            if not _same(again, item["data"]):
                raise self.fail(check, f"get_data({index}) read twice gave different data", fix)
        seed_everything(13579)
        other = self.build("two instances from one config agree")
        other_ids = list(other.ids())
        if other_ids != ids:
            differ = [i for i, (a, b) in enumerate(zip(ids, other_ids, strict=False)) if a != b]
            raise self.fail(
                "two instances from one config agree",
                f"a second instance has {len(other_ids)} ids (of {len(ids)}); they differ at indices "
                f"{shown(differ)}",
                "Make the object order and ids depend only on the config: sort file listings, seed from "
                "the config.",
            )
        for index, item in items.items():
            if not _same(other.get_data(index), item["data"]):
                raise self.fail(check, f"a second instance gives other data for object {index}", fix)
            if other.get_label(index) != item.get("label"):
                raise self.fail(check, f"a second instance gives another label for object {index}", fix)

    def check_index_of(self, dataset: Any, ids: list[str], indices: list[int]) -> None:
        check = "index_of finds each id"
        for index in indices:
            with self.errors_fail(check, f"dataset.index_of({ids[index]!r})"):
                found = dataset.index_of(ids[index])
            if found != index:
                raise self.fail(
                    check,
                    f"index_of({ids[index]!r}) is {found!r}, not {index}",
                    "Keep index_of the inverse of ids(); the default of HyraxDataset is.",
                )
        with self.errors_fail(check, "dataset.indices_of(ids)"):
            many = dataset.indices_of([ids[i] for i in indices])
        if not _same(many, indices):
            raise self.fail(
                check, f"indices_of gave {many!r} for the ids of {indices}", "Keep it the inverse of ids()."
            )
        unknown = "no such object id (hyrax.testing)"
        try:
            dataset.index_of(unknown)
        except Exception as error:
            if unknown not in str(error):
                raise self.fail(
                    check, f"index_of(unknown id) raised {error!r}", "Name the unknown id."
                ) from error
        else:
            raise self.fail(check, "index_of(unknown id) returned", "Raise DataError naming the unknown id.")

    def check_metadata(self, dataset: Any, indices: list[int]) -> None:
        check = "metadata gives each field, one value per index"
        with self.errors_fail(check, "dataset.metadata_fields()"):
            fields = dataset.metadata_fields()
        if not isinstance(fields, (list, tuple)) or not all(isinstance(f, str) for f in fields):
            raise self.fail(check, f"metadata_fields() returned {fields!r}", "Return a list of str.")
        if len(set(fields)) != len(fields):
            raise self.fail(check, f"metadata_fields() repeats names: {fields}", "List each field once.")
        fix = (
            "Return {field: array with one value per index, in the order given} for every field of "
            "metadata_fields() (or implement metadata_table and leave metadata to the base class)."
        )
        order = list(reversed(indices))
        with self.errors_fail(check, f"dataset.metadata({indices}, {shown(fields)})", fix):
            columns = dataset.metadata(indices, list(fields))
        with self.errors_fail(check, f"dataset.metadata({order}, ...)", fix):
            backwards = dataset.metadata(order, list(fields))
        for field in fields:
            if field not in columns or field not in backwards:
                raise self.fail(check, f"metadata(...) lacks the field {field!r}", fix)
            column = np.asarray(columns[field])
            if column.shape != (len(indices),):
                raise self.fail(
                    check, f"field {field!r} has shape {column.shape} for {len(indices)} indices", fix
                )
            if not _same(backwards[field], column[::-1]):
                raise self.fail(check, f"field {field!r} does not follow the order of the indices", fix)
        unknown = "no_such_field_hyrax_testing"
        try:
            dataset.metadata(indices[:1], [unknown])
        except Exception:
            return
        raise self.fail(
            check,
            f"metadata(indices, [{unknown!r}]) returned without error",
            "Reject unknown fields, e.g. with self.check_metadata_fields(fields), naming the valid ones.",
        )

    def check_pickle(self, dataset: Any, items: dict[int, dict[str, Any]]) -> None:
        check = "survives pickling for data-loader workers"
        fix = (
            "Data-loader workers started with 'spawn' (macOS, Windows, CUDA) receive the dataset "
            "pickled: keep open files, locks, generators and lambdas out of its attributes, or reopen "
            "them in __setstate__ (see InferenceDataSet)."
        )
        with self.errors_fail(check, "pickle.loads(pickle.dumps(dataset))", fix):
            copy = pickle.loads(pickle.dumps(dataset))
        for index, item in items.items():
            with self.errors_fail(check, f"<unpickled dataset>[{index}]", fix):
                again = copy[index]
            same = again["object_id"] == item["object_id"] and again.get("label") == item.get("label")
            if not same or (self.deterministic and not _same(again["data"], item["data"])):
                raise self.fail(check, f"the unpickled dataset gives another item {index}", fix)

    def check_data_loader(self, dataset: Any, ids: list[str], items: dict[int, dict[str, Any]]) -> None:
        check = "a data loader batches the items"
        size = min(BATCH, len(dataset))
        settings = {**dict(self.config.get("data_loader", {})), "batch_size": size, "num_workers": 0}
        loader = make_data_loader(dataset, list(range(size)), settings, shuffle=False, seed=0)
        with self.errors_fail(check, "next(iter(make_data_loader(dataset, ...)))"):
            batch = next(iter(loader))
        shape = (size, *next(iter(items.values()))["data"].shape)
        data = batch.get("data") if isinstance(batch, Mapping) else None
        if not isinstance(data, torch.Tensor) or tuple(data.shape) != shape or data.dtype != torch.float32:
            found = f"{data.dtype} {tuple(data.shape)}" if isinstance(data, torch.Tensor) else repr(data)[:80]
            raise self.fail(
                check,
                f"the batch's data is {found}, expected float32 {shape}",
                "Give every object the same shape.",
            )
        if list(batch["object_id"]) != ids[:size] or batch["index"].tolist() != list(range(size)):
            raise self.fail(
                check, "the batch's object_id and index do not match ids()", "Do not override __getitem__."
            )

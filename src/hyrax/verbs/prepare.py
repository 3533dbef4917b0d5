"""The ``prepare`` verb: build the configured dataset, summarise it and return it."""

from __future__ import annotations

from typing import Any

from hyrax.verbs.base import Verb, hyrax_verb

_LISTED = 5


@hyrax_verb("prepare")
class Prepare(Verb):
    """Build the configured dataset and summarise it: objects, shape, filters, splits, missing files."""

    next_step = "`hyrax train`"

    def run(self) -> Any:
        """Build ``data_set.name`` from the configuration and print a summary of it.

        Nothing is written. In a notebook, the returned dataset is what ``train`` and ``infer`` would
        read: ``h.prepare()[0]`` is its first item.

        Returns
        -------
        HyraxDataset
            The dataset.
        """
        from hyrax.datasets.loading import build_dataset

        dataset = build_dataset(self.config)
        print(summarize(dataset, self.config))
        return dataset


def summarize(dataset: Any, config: Any) -> str:
    """Describe a dataset in a few lines: size, item shape, filters, splits, metadata, objects left out.

    Parameters
    ----------
    dataset : HyraxDataset
        The dataset.
    config : ConfigDict
        The configuration the dataset was built from; its ``[data_set]`` split sizes are used.

    Returns
    -------
    str
        The summary.
    """
    import numpy as np

    from hyrax.datasets.splits import splits_from_config

    lines = [f"{type(dataset).__name__}: {len(dataset)} objects"]
    if len(dataset):
        item = dataset[0]
        data = np.asarray(item["data"])
        lines.append(f"  each item: data of shape {tuple(data.shape)} ({data.dtype})")
        if "label" in item:
            lines[-1] += ", with a label"
    filters = getattr(dataset, "filters", None)
    if filters:
        lines.append(f"  filters: {', '.join(map(str, filters))}")
    splits = splits_from_config(config, len(dataset))
    table = config["data_set"]
    sizes = ", ".join(f"{name} {len(indices)}" for name, indices in splits.items())
    settings = ", ".join(f"{name}_size = {table[f'{name}_size']}" for name in ("train", "validate", "test"))
    lines.append(f"  splits: {sizes} (data_set: {settings}; seed {config['general']['seed']})")
    fields = [name for name in dataset.metadata_fields() if name != "object_id"]
    if fields:
        shown = ", ".join(fields[:12]) + (", ..." if len(fields) > 12 else "")
        lines.append(f"  metadata: {shown}")
    left_out = getattr(dataset, "left_out", [])
    if left_out:
        listed = ", ".join(f"{object_id} ({reason})" for object_id, reason in left_out[:_LISTED])
        more = ", ..." if len(left_out) > _LISTED else ""
        lines.append(f"  left out: {len(left_out)} object(s): {listed}{more}")
    else:
        lines.append("  left out: none (every object has all its files)")
    return "\n".join(lines)

"""An embedding to look at: the 2-D or 3-D points of a umap run with their ids, colours and fields.

The fields come from the original dataset, through the results' link to it, in one vectorised call
per field.
"""

from __future__ import annotations

import base64
import io
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hyrax.errors import ConfigError, DataError, did_you_mean
from hyrax.outliers.scores import SCORE_FIELD, scores_of

logger = logging.getLogger(__name__)

LABEL_FIELD = "label"
# Integer fields with at most this many distinct values are coloured as categories, with a legend.
MAX_CATEGORIES = 32


@dataclass
class Embedding:
    """The points of a umap run, ready to draw.

    Attributes
    ----------
    frame : pandas.DataFrame
        One row per object: ``x``, ``y`` (and ``z`` in 3-D), ``object_id``, the colour column and
        the hover fields.
    dims : int
        2 or 3.
    color : str or None
        The column points are coloured by, or None for one colour.
    categorical : bool
        True when ``color`` holds categories (a pandas categorical column, drawn with a legend), False
        for numbers (a colour bar).
    fields : list of str
        The hover fields, besides the object id.
    source : InferenceDataSet
        The umap results, linked to the original dataset for thumbnails.
    """

    frame: Any
    dims: int
    color: str | None
    categorical: bool
    fields: list[str] = field(default_factory=list)
    source: Any = None

    def __post_init__(self) -> None:
        import pandas as pd

        # The plots read the categories (and their order, for the colours) from the column's dtype.
        column = self.frame[self.color] if self.color else None
        if self.categorical and column is not None and not isinstance(column.dtype, pd.CategoricalDtype):
            self.frame[self.color] = column.astype(str).astype("category")

    @property
    def columns(self) -> list[str]:
        """The columns hover and the selection table show: the object id, the colour, the fields."""
        return list(dict.fromkeys(["object_id", *([self.color] if self.color else []), *self.fields]))

    def select_box(self, x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
        """Row positions of the points inside the box with corners (x0, y0) and (x1, y1)."""
        x, y = self.frame["x"].to_numpy(), self.frame["y"].to_numpy()
        left, right = sorted((x0, x1))
        bottom, top = sorted((y0, y1))
        return np.flatnonzero((x >= left) & (x <= right) & (y >= bottom) & (y <= top))

    def select_polygon(self, xs: Sequence[float], ys: Sequence[float]) -> np.ndarray:
        """Row positions of the points inside the polygon with vertices (xs, ys), as a lasso draws it."""
        from matplotlib.path import Path as PolygonPath

        if len(xs) < 3:
            return np.empty(0, dtype=np.int64)
        polygon = PolygonPath(np.column_stack([xs, ys]))
        points = self.frame[["x", "y"]].to_numpy()
        # Only the points in the polygon's bounding box need the exact (slower) test.
        box = self.select_box(min(xs), min(ys), max(xs), max(ys))
        return box[polygon.contains_points(points[box])]

    def thumbnails(self, positions: Sequence[int], size: int = 96) -> list[tuple[str, str]]:
        """``(object id, PNG data URI)`` of the objects at ``positions``, drawn from the original dataset.

        The images are the data the model was given (after the dataset's scaling and transforms),
        mapped to grey (one band) or colour (the last three bands as red, green, blue) between their
        1st and 99th percentiles.

        Raises
        ------
        DataError
            When the results are not linked to a dataset, or its items are not images.
        """
        positions = np.asarray(positions, dtype=np.int64)
        if positions.size == 0:
            return []
        origin = self.source.origin
        ids = self.frame["object_id"].to_numpy()[positions]
        images = []
        for object_id, index in zip(ids, self.source.origin_indices(positions), strict=True):
            data = np.asarray(origin[int(index)]["data"], dtype=np.float32)
            images.append((str(object_id), _png_data_uri(_to_rgb(data, str(object_id)), size)))
        return images


def _to_rgb(data: np.ndarray, object_id: str) -> np.ndarray:
    if data.ndim == 2:
        data = data[None]
    if data.ndim != 3:
        raise DataError(
            f"Object {object_id}: its data has shape {data.shape}, not an image (bands, height, width), "
            "so no thumbnail can be drawn. Set visualize.display_images = false for non-image data."
        )
    bands = data[-3:][::-1] if data.shape[0] >= 3 else np.repeat(data.mean(axis=0, keepdims=True), 3, 0)
    finite = bands[np.isfinite(bands)]
    low, high = np.percentile(finite, [1, 99]) if finite.size else (0.0, 1.0)
    scaled = np.clip((np.nan_to_num(bands, nan=low) - low) / max(high - low, 1e-12), 0, 1)
    return (scaled.transpose(1, 2, 0) * 255).astype(np.uint8)


def _png_data_uri(rgb: np.ndarray, size: int) -> str:
    from PIL import Image

    image = Image.fromarray(rgb).resize((size, size), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _categorical(column: Any) -> bool:
    import pandas as pd

    if isinstance(column.dtype, pd.CategoricalDtype) or column.dtype.kind in "OUSb":
        return True
    return column.dtype.kind in "iu" and column.nunique() <= MAX_CATEGORIES


def _check_fields(names: Sequence[str], known: Sequence[str], key: str) -> None:
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ConfigError(
            f"{key} names {', '.join(map(repr, unknown))}, which the dataset behind the embedding does "
            f"not have.{did_you_mean(unknown[0], known)} Its fields: {', '.join(known) or 'none'}.",
            key=key,
        )


def load_embedding(config: Mapping, input_dir: str | Path) -> Embedding:
    """Read the umap results in ``input_dir`` with the colour and hover fields of ``[visualize]``.

    Parameters
    ----------
    config : ConfigDict or mapping
        The whole configuration; ``visualize.color_column`` and ``visualize.fields`` are read.
    input_dir : path
        A complete umap results directory of 2-D or 3-D vectors.

    Returns
    -------
    Embedding
        The points, coloured by ``color_column``, or by the class label when it is empty and the
        dataset has labels.

    Raises
    ------
    ConfigError
        When ``color_column`` or a field is not a field of the dataset (the message lists them).
    DataError
        When the vectors are not 2-D or 3-D.
    """
    import pandas as pd

    from hyrax.datasets.inference_dataset import InferenceDataSet

    settings = config["visualize"]
    source = InferenceDataSet.from_directory(input_dir, config)
    rows = source.reader.read(0, len(source))
    vectors = np.asarray(rows["tensor"], dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[1] not in (2, 3):
        raise DataError(
            f"The vectors in {input_dir} have {vectors.shape[1] if vectors.ndim == 2 else 1} dimensions; "
            "visualize draws 2 or 3. Run `hyrax umap` with umap.parameters.n_components = 2 or 3 and "
            "visualize its results (visualize.input_dir)."
        )
    dims = vectors.shape[1]
    columns: dict[str, Any] = {name: vectors[:, i] for i, name in enumerate("xyz"[:dims])}
    columns["object_id"] = rows["id"].astype(str)
    wanted_color = str(settings["color_column"])
    fields = [str(name) for name in settings["fields"]]
    has_labels = source.reader.has_labels
    needed = [name for name in dict.fromkeys([*fields, wanted_color]) if name]
    if SCORE_FIELD in needed:
        scores = scores_of(config["general"]["results_dir"], columns["object_id"])
        needed.remove(SCORE_FIELD)
        if scores is None:
            raise ConfigError(
                f"visualize asks for {SCORE_FIELD}, but there is no complete outliers run in "
                f"{config['general']['results_dir']}. Run `hyrax outliers` first.",
                key="visualize.color_column" if wanted_color == SCORE_FIELD else "visualize.fields",
            )
        columns[SCORE_FIELD] = scores
    if needed:
        extra = [LABEL_FIELD, SCORE_FIELD] if has_labels else [SCORE_FIELD]
        known = list(dict.fromkeys([*source.metadata_fields(), *extra]))
        _check_fields(fields, known, "visualize.fields")
        _check_fields([wanted_color] if wanted_color else [], known, "visualize.color_column")
        # Labels stored with the vectors are named by class here; other fields come from the dataset.
        from_metadata = [name for name in needed if not (name == LABEL_FIELD and has_labels)]
        if from_metadata:
            columns.update(source.metadata(np.arange(len(source)), from_metadata))
    color = wanted_color or (LABEL_FIELD if has_labels else None)
    if has_labels and LABEL_FIELD in (color, *fields):
        columns[LABEL_FIELD] = _label_names(source, rows["label"])
    frame = pd.DataFrame(columns)
    categorical = color is not None and _categorical(frame[color])
    logger.info("Loaded %d points of %s%s", len(frame), input_dir, f", coloured by {color}" if color else "")
    return Embedding(frame, dims, color, categorical, fields, source)


def _label_names(source: Any, labels: np.ndarray) -> Any:
    """The labels as a categorical column named by class where the original dataset names its classes.

    Built from the integer codes, so a million labels cost one array, not a million strings.
    """
    import pandas as pd

    try:
        names = getattr(source.origin, "class_names", None)
    except DataError:
        names = None
    labels = np.asarray(labels, dtype=np.int64)
    if names and labels.size and labels.min() >= 0 and labels.max() < len(names):
        return pd.Categorical.from_codes(labels, categories=[str(name) for name in names])
    values = np.unique(labels)
    return pd.Categorical.from_codes(np.searchsorted(values, labels), categories=[str(v) for v in values])

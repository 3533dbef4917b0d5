"""The visualize verb and its explorer, on umap results written directly."""

from __future__ import annotations

import re
import socket

import numpy as np
import pytest

from hyrax.errors import ConfigError, DataError, ResultsNotFoundError
from hyrax.results import list_results_dirs
from hyrax.visualize.embedding import load_embedding
from hyrax.visualize.explorer import THUMBNAIL_CLASS, Explorer


def test_colours_by_class_name_when_the_dataset_has_labels(small_hyrax, umap_run):
    directory, ids, _ = umap_run(small_hyrax)
    embedding = load_embedding(small_hyrax.config, directory)
    assert embedding.color == "label" and embedding.categorical
    assert set(embedding.frame["label"]) <= {"elliptical", "spiral", "edge_on", "star", "blend"}
    assert embedding.frame["object_id"].tolist() == ids


def test_a_numeric_field_gets_a_colour_bar_and_fields_are_loaded(small_hyrax, umap_run):
    directory, _, _ = umap_run(small_hyrax)
    small_hyrax.set_config("visualize.color_column", "snr")
    small_hyrax.set_config("visualize.fields", ["class", "magnitude"])
    embedding = load_embedding(small_hyrax.config, directory)
    assert not embedding.categorical
    assert embedding.frame["snr"].dtype.kind == "f"
    origin = embedding.source.origin
    expected = origin.metadata(np.arange(len(origin)), ["magnitude"])["magnitude"]
    np.testing.assert_allclose(embedding.frame["magnitude"].to_numpy(), expected)


def test_an_unknown_colour_field_lists_the_fields(small_hyrax, umap_run):
    directory, _, _ = umap_run(small_hyrax)
    small_hyrax.set_config("visualize.color_column", "redshfit")
    with pytest.raises(ConfigError, match="Did you mean `redshift`.*Its fields: class, label"):
        load_embedding(small_hyrax.config, directory)


def test_box_selection_fills_the_selection_and_the_thumbnails(small_hyrax, umap_run):
    directory, ids, _ = umap_run(small_hyrax)
    explorer = Explorer(load_embedding(small_hyrax.config, directory), small_hyrax.config["visualize"])
    assert explorer.selected_ids() == []
    chosen = explorer.select_box(4.5, -100, 9.5, 100)
    assert chosen == ids[5:10] == explorer.selected_ids()
    assert explorer._thumbnail_html().count(THUMBNAIL_CLASS) == 5
    assert explorer._table.value["object_id"].tolist() == ids[5:10]
    assert explorer.select_ids([ids[3], ids[1]]) == [ids[1], ids[3]]


def test_lasso_selects_the_points_inside_the_polygon(small_hyrax, umap_run):
    directory, ids, points = umap_run(small_hyrax)
    embedding = load_embedding(small_hyrax.config, directory)
    triangle_x, triangle_y = [-0.5, 20.5, -0.5], [-100, 0, 100]
    inside = embedding.select_polygon(triangle_x, triangle_y)
    from matplotlib.path import Path

    expected = np.flatnonzero(Path(np.column_stack([triangle_x, triangle_y])).contains_points(points[:, :2]))
    np.testing.assert_array_equal(inside, expected)
    assert 0 < len(inside) < len(ids)


def test_thumbnails_show_the_data_the_model_saw(small_hyrax, umap_run):
    directory, ids, _ = umap_run(small_hyrax)
    embedding = load_embedding(small_hyrax.config, directory)
    ((object_id, uri),) = embedding.thumbnails([7])
    assert object_id == ids[7] and uri.startswith("data:image/png;base64,")
    import base64
    import io

    from PIL import Image

    image = np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))))
    assert image.shape == (96, 96, 3) and image.std() > 0


def test_above_the_threshold_the_plot_is_rasterised(small_hyrax, umap_run):
    import holoviews as hv

    directory, _, _ = umap_run(small_hyrax)
    small_hyrax.set_config("visualize.rasterize_threshold", 10)
    for colour in ("", "snr"):
        small_hyrax.set_config("visualize.color_column", colour)
        explorer = Explorer(load_embedding(small_hyrax.config, directory), small_hyrax.config["visualize"])
        assert isinstance(explorer.plot, (hv.DynamicMap, hv.Overlay))
        rendered = hv.render(explorer.plot, backend="bokeh")
        assert rendered is not None


def test_three_components_give_a_rotatable_3d_scatter(small_hyrax, umap_run):
    directory, _, _ = umap_run(small_hyrax, dims=3)
    small_hyrax.set_config("visualize.max_3d_points", 25)
    explorer = Explorer(load_embedding(small_hyrax.config, directory), small_hyrax.config["visualize"])
    traces = explorer.plot.data
    assert {trace.type for trace in traces} == {"scatter3d"}
    assert sum(len(trace.x) for trace in traces) == 25
    assert {trace.name for trace in traces} <= {"elliptical", "spiral", "edge_on", "star", "blend"}


def test_jupyter_displays_the_explorer(small_hyrax, umap_run):
    umap_run(small_hyrax)
    explorer = small_hyrax.visualize(save=False)
    bundle = explorer._repr_mimebundle_()
    data = bundle[0] if isinstance(bundle, tuple) else bundle
    assert any(kind.startswith(("text/html", "application/vnd")) for kind in data)
    assert list_results_dirs(small_hyrax.config["general"]["results_dir"], "visualize") == []


def test_the_verb_writes_a_page_and_a_png(small_hyrax, umap_run):
    import matplotlib

    umap_run(small_hyrax)
    backend = matplotlib.get_backend()
    matplotlib.use("svg")  # as if a notebook had chosen its own
    try:
        small_hyrax.visualize()
        assert matplotlib.get_backend() == "svg", "drawing embedding.png changed the caller's backend"
    finally:
        matplotlib.use(backend)
    (directory,) = list_results_dirs(small_hyrax.config["general"]["results_dir"], "visualize")
    page = (directory / "visualize.html").read_text()
    assert "<script" in page and "Bokeh" in page
    assert (
        re.findall(r"<script[^>]*\ssrc=", page) == [] and re.findall(r"<link[^>]*\shref=\"http", page) == []
    )
    from PIL import Image

    png = np.asarray(Image.open(directory / "embedding.png").convert("RGB"))
    coloured = (np.ptp(png.astype(int), axis=2) > 60).sum()
    assert coloured > 100
    # The legend stands right of the axes; every one of the 40 points must show as a strong colour.
    plot_area = png[:, : png.shape[1] * 2 // 3].astype(int)
    in_plot = (np.ptp(plot_area, axis=2) > 100).sum()
    assert in_plot >= 40, f"only {in_plot} strongly coloured pixels for 40 points"


def test_the_png_shows_each_of_many_sparse_points_in_a_strong_colour(tmp_path):
    import pandas as pd
    from PIL import Image

    from hyrax.visualize.embedding import Embedding
    from hyrax.visualize.plots import static_png

    # 2,000 points along thin curves, as a umap embedding of a small dataset looks: too many for
    # spreading to widen them, so each must be drawn opaque on its own.
    rng = np.random.default_rng(5)
    x = rng.uniform(0, 10, 2000)
    frame = pd.DataFrame(
        {
            "x": x,
            "y": np.sin(x) * 4 + rng.normal(0, 0.05, 2000),
            "object_id": [str(i) for i in range(2000)],
            # Plain strings: the Embedding makes them categories.
            "label": rng.choice(["elliptical", "spiral", "star"], 2000),
        }
    )
    static_png(Embedding(frame, 2, "label", True), tmp_path / "embedding.png")
    png = np.asarray(Image.open(tmp_path / "embedding.png").convert("RGB"))
    plot_area = png[:, : png.shape[1] * 2 // 3].astype(int)
    coloured = (np.ptp(plot_area, axis=2) > 100).sum()
    assert coloured >= 500, f"only {coloured} strongly coloured pixels for 2,000 points"


def test_vectors_that_are_not_2d_or_3d_are_a_named_error(small_hyrax, umap_run):
    directory, _, _ = umap_run(small_hyrax, dims=4)
    with pytest.raises(DataError, match="have 4 dimensions; visualize draws 2 or 3"):
        load_embedding(small_hyrax.config, directory)


def test_no_umap_run_is_a_named_error(small_hyrax, umap_run):
    with pytest.raises(ResultsNotFoundError, match="umap"):
        small_hyrax.visualize()


def test_too_many_points_for_a_page_writes_nothing(small_hyrax, umap_run):
    umap_run(small_hyrax)
    small_hyrax.set_config("visualize.html_max_points", 30)
    with pytest.raises(ConfigError, match="40 points, more than a static page can hold.*--serve"):
        small_hyrax.visualize()
    root = small_hyrax.config["general"]["results_dir"]
    assert list_results_dirs(root, "visualize", complete_only=False) == []


def test_a_port_in_use_is_a_named_error(small_hyrax, umap_run):
    umap_run(small_hyrax)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        small_hyrax.set_config("visualize.port", holder.getsockname()[1])
        with pytest.raises(ConfigError, match="is in use.*visualize.port"):
            small_hyrax.visualize(serve=True)


def test_colour_by_the_outlier_score_of_the_newest_outliers_run(small_hyrax, umap_run):
    directory, ids, _ = umap_run(small_hyrax)
    small_hyrax.set_config("visualize.color_column", "outlier_score")
    with pytest.raises(ConfigError, match="no complete outliers run"):
        load_embedding(small_hyrax.config, directory)
    small_hyrax.set_config("outliers.input_dir", str(directory))
    table = small_hyrax.outliers(top=0).set_index("object_id")
    embedding = load_embedding(small_hyrax.config, directory)
    assert embedding.color == "outlier_score" and not embedding.categorical
    np.testing.assert_allclose(
        embedding.frame["outlier_score"].to_numpy(), table.loc[ids, "score"].to_numpy()
    )

"""The figures of an :class:`~hyrax.visualize.embedding.Embedding`.

- :func:`scatter_2d`: HoloViews on Bokeh. Up to ``rasterize_threshold`` points are real glyphs (hover
  shows each object's id and fields); above it Datashader rasterises them at the zoom level in view,
  so a million points stay fluid. Categories get a legend, numbers a colour bar, in both modes.
- :func:`scatter_3d`: a rotatable Plotly 3-D scatter.
- :func:`static_png`: the whole embedding drawn by Datashader into a PNG for papers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hyrax.visualize.embedding import Embedding

WIDTH, HEIGHT = 760, 640
NUMERIC_CMAP = "viridis"
DENSITY_CMAP = "Blues"
# Bokeh's Category20, so categories look alike in glyphs, rasters, 3-D and the PNG.
CATEGORY_COLORS = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
    "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#c7c7c7",
    "#dbdb8d", "#9edae5",
]  # fmt: skip


def category_colors(embedding: Embedding) -> dict[str, str]:
    """A colour for each category of the colour column, cycling through 20 colours."""
    categories = embedding.frame[embedding.color].cat.remove_unused_categories().cat.categories
    return {str(name): CATEGORY_COLORS[i % len(CATEGORY_COLORS)] for i, name in enumerate(categories)}


def _points(embedding: Embedding) -> Any:
    import holoviews as hv

    return hv.Points(embedding.frame, kdims=["x", "y"], vdims=embedding.columns)


def scatter_2d(embedding: Embedding, rasterize_threshold: int) -> tuple[Any, Any]:
    """The 2-D plot and the element that box and lasso selections attach to.

    Parameters
    ----------
    embedding : Embedding
        The points.
    rasterize_threshold : int
        Above this many points, Datashader rasterises them.

    Returns
    -------
    (plot, selectable)
        ``plot`` is displayed; ``selectable`` is the element to give ``hv.streams.BoundsXY`` and
        ``hv.streams.Lasso`` as their source.
    """
    import holoviews as hv

    hv.extension("bokeh", logo=False)
    points = _points(embedding)
    common = {
        "width": WIDTH,
        "height": HEIGHT,
        "tools": ["box_select", "lasso_select"],
        "active_tools": ["box_select", "wheel_zoom"],
        "xlabel": "UMAP 1",
        "ylabel": "UMAP 2",
        "title": f"{len(embedding.frame):,} objects" + (f" by {embedding.color}" if embedding.color else ""),
    }
    if len(embedding.frame) <= rasterize_threshold:
        return _glyphs(embedding, points, common), points
    return _raster(embedding, points, common)


def _glyphs(embedding: Embedding, points: Any, common: dict) -> Any:
    options: dict[str, Any] = {
        "size": 4,
        "alpha": 0.8,
        "nonselection_alpha": 0.15,
        "tools": [*common["tools"], "hover"],
    }
    if embedding.color and embedding.categorical:
        # One element (not an overlay per category), so box and lasso selections reach one stream.
        options.update(color=embedding.color, cmap=category_colors(embedding), legend_position="right")
    elif embedding.color:
        options.update(color=embedding.color, cmap=NUMERIC_CMAP, colorbar=True)
    return points.opts(**{**common, **options})


def _raster(embedding: Embedding, points: Any, common: dict) -> tuple[Any, Any]:
    import datashader as ds
    from holoviews.operation.datashader import datashade, dynspread, rasterize

    if embedding.color and embedding.categorical:
        colors = category_colors(embedding)
        shaded = dynspread(datashade(points, aggregator=ds.count_cat(embedding.color), color_key=colors))
        # HoloViews draws the categories' legend of a datashaded count_cat itself.
        shaded = shaded.opts(**common)
        return shaded, shaded
    if embedding.color:
        raster = rasterize(points, aggregator=ds.mean(embedding.color)).opts(
            cmap=NUMERIC_CMAP, colorbar=True, clabel=embedding.color, **common
        )
    else:
        raster = rasterize(points, aggregator=ds.count()).opts(
            cmap=DENSITY_CMAP, cnorm="eq_hist", colorbar=True, clabel="objects", **common
        )
    return dynspread(raster), raster


def scatter_3d(embedding: Embedding, max_points: int, seed: int = 0) -> Any:
    """A rotatable Plotly 3-D scatter of at most ``max_points`` points (a seeded random sample above it).

    Returns
    -------
    plotly.graph_objects.Figure
        One trace per category (with a legend), or one trace with a colour bar, or one colour; hover
        shows the object id.
    """
    import plotly.express as px

    frame = embedding.frame
    if len(frame) > max_points:
        keep = np.sort(np.random.default_rng(seed).choice(len(frame), max_points, replace=False))
        frame = frame.iloc[keep]
    colors = category_colors(embedding) if embedding.color and embedding.categorical else {}
    title = f"{len(embedding.frame):,} objects" + (
        f" ({len(frame):,} shown)" if len(frame) < len(embedding.frame) else ""
    )
    figure = px.scatter_3d(
        frame,
        x="x",
        y="y",
        z="z",
        color=embedding.color or None,
        hover_name="object_id",
        opacity=0.8,
        color_discrete_map=colors,
        category_orders={embedding.color: list(colors)} if colors else None,
        color_continuous_scale="Viridis",
        labels={"x": "UMAP 1", "y": "UMAP 2", "z": "UMAP 3"},
        title=title,
        width=WIDTH,
        height=HEIGHT,
    )
    figure.update_traces(marker_size=2, hovertemplate="%{hovertext}<extra></extra>")
    figure.update_layout(margin={"l": 0, "r": 0, "t": 40, "b": 0})
    return figure


def static_bokeh_figure(embedding: Embedding) -> Any:
    """A plain Bokeh figure of every point, for a page with no server behind it.

    Every point is a WebGL glyph, whatever the size (a file cannot rasterise again on zoom), with hover,
    zoom, and box and lasso selection. Only Bokeh's own models are used, so the page needs no script
    but Bokeh's, which the caller inlines.
    """
    from bokeh.models import ColorBar, ColumnDataSource, HoverTool, LinearColorMapper
    from bokeh.palettes import Viridis256
    from bokeh.plotting import figure
    from bokeh.transform import factor_cmap

    frame = embedding.frame
    source = ColumnDataSource({name: _plain_column(frame[name]) for name in ["x", "y", *embedding.columns]})
    title = f"{len(frame):,} objects" + (f" by {embedding.color}" if embedding.color else "")
    plot = figure(
        width=WIDTH,
        height=HEIGHT,
        title=title,
        output_backend="webgl",
        x_axis_label="UMAP 1",
        y_axis_label="UMAP 2",
        tools="pan,wheel_zoom,box_select,lasso_select,reset,save",
        active_drag="box_select",
    )
    style = {"size": 4, "alpha": 0.8, "nonselection_alpha": 0.15}
    if embedding.color and embedding.categorical:
        colors = category_colors(embedding)
        style["color"] = factor_cmap(embedding.color, list(colors.values()), list(colors))
        plot.scatter("x", "y", source=source, legend_field=embedding.color, **style)
        plot.add_layout(plot.legend[0], "right")
    elif embedding.color:
        values = frame[embedding.color].to_numpy(dtype=float)
        finite = values[np.isfinite(values)]
        mapper = LinearColorMapper(
            Viridis256, low=finite.min() if finite.size else 0, high=finite.max() if finite.size else 1
        )
        plot.scatter("x", "y", source=source, color={"field": embedding.color, "transform": mapper}, **style)
        plot.add_layout(ColorBar(color_mapper=mapper, title=embedding.color), "right")
    else:
        plot.scatter("x", "y", source=source, **style)
    plot.add_tools(HoverTool(tooltips=[(name, f"@{{{name}}}") for name in embedding.columns]))
    return plot


def _plain_column(values: Any) -> np.ndarray:
    array = values.to_numpy()
    return array.astype(str) if array.dtype.kind == "O" or str(values.dtype) == "category" else array


def static_png(embedding: Embedding, path: Path) -> Path:
    """Draw every point with Datashader into ``path`` (a PNG with axes, and a legend or colour bar)."""
    from functools import partial

    import datashader as ds
    import datashader.transfer_functions as tf
    from datashader.mpl_ext import dsshow

    # A Figure without pyplot draws offscreen and leaves the notebook's or script's backend alone.
    from matplotlib.figure import Figure

    frame, color = embedding.frame, embedding.color
    figure = Figure(figsize=(8, 7), dpi=150, layout="constrained")
    axes = figure.subplots()
    if color and embedding.categorical:
        # Opaque from one object per pixel up: datashader's default fades sparse points almost to white.
        aggregator = ds.count_cat(color)
        style = {"color_key": category_colors(embedding), "alpha_range": (200, 255)}
    else:
        aggregator = ds.mean(color) if color else ds.count()
        style = {"cmap": NUMERIC_CMAP if color else DENSITY_CMAP, "norm": "linear" if color else "log"}
    artist = dsshow(
        frame,
        ds.Point("x", "y"),
        aggregator,
        ax=axes,
        x_range=_padded(frame["x"].to_numpy()),
        y_range=_padded(frame["y"].to_numpy()),
        aspect="auto",
        interpolation="antialiased",
        # Spreading isolated pixels keeps a few hundred points visible; dense regions are left as they are.
        shade_hook=partial(tf.dynspread, threshold=0.5, max_px=4),
        **style,
    )
    if color and embedding.categorical:
        handles = artist.get_legend_elements()[:20]
        axes.legend(handles=handles, title=color, loc="center left", bbox_to_anchor=(1.0, 0.5))
    else:
        figure.colorbar(artist, ax=axes, label=color or "objects per pixel")
    axes.set_xlabel("UMAP 1")
    axes.set_ylabel("UMAP 2")
    axes.set_title(f"{len(frame):,} objects" + (f" coloured by {color}" if color else ""))
    figure.savefig(path)
    return path


def _padded(values: np.ndarray) -> tuple[float, float]:
    low, high = float(np.nanmin(values)), float(np.nanmax(values))
    pad = (high - low) * 0.03 or 1.0
    return low - pad, high + pad

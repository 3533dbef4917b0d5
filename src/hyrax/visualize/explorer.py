"""``Explorer``: the latent-space explorer, one object for Jupyter, the live server and the static files.

In Jupyter, ``h.visualize()`` returns an :class:`Explorer`, which displays itself: the embedding, and
beside it a table and a grid of image thumbnails of the objects selected with the box or lasso tool.
The selection is readable from Python afterwards (:meth:`Explorer.selected_ids`) and can be set from
it (:meth:`Explorer.select_ids`, :meth:`Explorer.select_box`). :func:`serve` runs the same app with
Panel's server; :meth:`Explorer.save_html` writes the plot as one self-contained HTML file.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hyrax.visualize.embedding import Embedding

logger = logging.getLogger(__name__)

TABLE_ROWS = 1000
THUMBNAIL_CLASS = "hyrax-thumbnail"


class Explorer:
    """The embedding with a linked table and thumbnails of the selected objects.

    Parameters
    ----------
    embedding : Embedding
        The points to show.
    settings : mapping
        The ``[visualize]`` table: ``rasterize_threshold``, ``display_images``, ``max_thumbnails``,
        ``max_3d_points``.
    seed : int
        Seed of the sample a large 3-D embedding is drawn from.
    """

    def __init__(self, embedding: Embedding, settings: Mapping, seed: int = 0):
        import panel as pn

        # Plotly's script is 4.8 MB, which every page would load and parse: only a 3-D plot asks for it.
        pn.extension("tabulator", *(["plotly"] if embedding.dims == 3 else []), notifications=False)
        self.embedding = embedding
        self.settings = settings
        self._selection = np.empty(0, dtype=np.int64)
        self._summary = pn.pane.Markdown(self._summary_text(), sizing_mode="stretch_width")
        self._table = pn.widgets.Tabulator(
            embedding.frame[embedding.columns].iloc[:0],
            disabled=True,
            show_index=False,
            pagination="local",
            page_size=10,
            width=460,
            css_classes=["hyrax-selection-table"],
        )
        self._thumbnails = pn.pane.HTML("", width=460, css_classes=["hyrax-thumbnails"])
        if embedding.dims == 2:
            import holoviews as hv

            from hyrax.visualize.plots import scatter_2d

            plot, selectable = scatter_2d(embedding, int(settings["rasterize_threshold"]))
            self._box = hv.streams.BoundsXY(source=selectable, subscribers=[self._on_box])
            self._lasso = hv.streams.Lasso(source=selectable, subscribers=[self._on_lasso])
            self.plot = plot
            plot_pane = pn.pane.HoloViews(plot, backend="bokeh", linked_axes=False)
        else:
            from hyrax.visualize.plots import scatter_3d

            self.plot = scatter_3d(embedding, int(settings["max_3d_points"]), seed)
            plot_pane = pn.pane.Plotly(self.plot)
        side = [self._summary, self._table]
        if settings["display_images"]:
            side.append(self._thumbnails)
        self.layout = pn.Row(plot_pane, pn.Column(*side))

    def selected_ids(self) -> list[str]:
        """The object ids of the current selection, in the order of the embedding's rows."""
        return self.embedding.frame["object_id"].to_numpy()[self._selection].tolist()

    def selected(self) -> Any:
        """The selected rows of the embedding's table (``pandas.DataFrame``)."""
        return self.embedding.frame.iloc[self._selection]

    def select_box(self, x0: float, y0: float, x1: float, y1: float) -> list[str]:
        """Select the points inside a box, as the box tool does; return their ids."""
        return self._select(self.embedding.select_box(x0, y0, x1, y1))

    def select_ids(self, object_ids: Sequence[str]) -> list[str]:
        """Select objects by id (e.g. the neighbours ``h.lookup`` found); return the ids selected.

        Raises
        ------
        DataError
            Naming ids that are not in the embedding.
        """
        positions = np.asarray(self.embedding.source.indices_of([str(i) for i in object_ids]), dtype=np.int64)
        return self._select(np.sort(positions))

    def _on_box(self, bounds: tuple | None = None, **_: Any) -> None:
        if bounds is not None:
            self._select(self.embedding.select_box(*bounds))

    def _on_lasso(self, geometry: Any = None, **_: Any) -> None:
        if geometry is not None and len(geometry):
            self._select(self.embedding.select_polygon(*np.asarray(geometry).T))

    def _select(self, positions: np.ndarray) -> list[str]:
        self._selection = np.asarray(positions, dtype=np.int64)
        self._summary.object = self._summary_text()
        self._table.value = self.embedding.frame[self.embedding.columns].iloc[self._selection[:TABLE_ROWS]]
        if self.settings["display_images"]:
            self._thumbnails.object = self._thumbnail_html()
        return self.selected_ids()

    def _summary_text(self) -> str:
        count = len(self._selection)
        if not count:
            return "**No selection.** Drag a box (or switch to the lasso) on the plot to select objects."
        shown = f"; the first {TABLE_ROWS:,} are listed" if count > TABLE_ROWS else ""
        return f"**{count:,} objects selected**{shown}."

    def _thumbnail_html(self) -> str:
        limit = int(self.settings["max_thumbnails"])
        images = self.embedding.thumbnails(self._selection[:limit])
        figures = "".join(
            f'<figure class="{THUMBNAIL_CLASS}" style="margin:2px;display:inline-block;text-align:center">'
            f'<img src="{uri}" width="96" height="96" alt="{html.escape(object_id)}">'
            f'<figcaption style="font-size:10px;max-width:96px;overflow:hidden">{html.escape(object_id)}'
            "</figcaption></figure>"
            for object_id, uri in images
        )
        return f'<div style="display:flex;flex-wrap:wrap">{figures}</div>'

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> Any:
        return self.layout._repr_mimebundle_(include, exclude)

    def save_html(self, path: str | Path) -> Path:
        """Write the plot as one HTML file with every script inlined, so it opens offline.

        A static page has no Python behind it: hover, zoom and the selection tools work, while the
        table, the thumbnails and re-rasterising on zoom need the live app (``hyrax visualize --serve``).
        """
        from hyrax.files import write_text_atomically

        if self.embedding.dims == 3:
            return write_text_atomically(path, self.plot.to_html(include_plotlyjs=True, full_html=True))
        from bokeh.embed import file_html
        from bokeh.resources import INLINE

        from hyrax.visualize.plots import static_bokeh_figure

        title = f"Hyrax: {Path(self.embedding.source.results_dir).name}"
        page = file_html(static_bokeh_figure(self.embedding), INLINE, title)
        return write_text_atomically(path, _without_server_extensions(page))


def _without_server_extensions(page: str) -> str:
    """``page`` without the tags that load scripts or style sheets from elsewhere.

    Bokeh adds to a page the scripts and style sheets of every model class imported in the process,
    used or not; once Panel is imported those are Panel's, which only a Panel server (or a CDN) serves.
    The static figure uses Bokeh's own models alone, whose code is inlined, so such tags could only
    fail to load from a file, or reach out to the network.
    """
    script = r'<script\b[^>]*\ssrc="[^"]*"[^>]*>\s*</script>\s*'
    sheet = r'<link\b[^>]*\shref="[^"]*"[^>]*>\s*'
    return re.sub(sheet, "", re.sub(script, "", page))


def serve(make_explorer: Any, port: int, title: str = "Hyrax") -> None:
    """Serve the app on 127.0.0.1:``port`` until Ctrl-C; each browser tab gets its own explorer.

    Parameters
    ----------
    make_explorer : callable
        Returns a new :class:`Explorer` (one per browser session, so selections stay separate).
    port : int
        The port; it must be free.
    title : str
        The browser tab's title.
    """
    import panel as pn

    server = pn.serve(
        {"/": lambda: make_explorer().layout},
        port=port,
        address="127.0.0.1",
        websocket_origin=[f"127.0.0.1:{port}", f"localhost:{port}"],
        show=False,
        start=False,
        title=title,
        threaded=False,
    )
    print(f"Hyrax visualize is serving http://127.0.0.1:{port}/ (Ctrl-C stops it)", flush=True)
    try:
        server.start()
        server.io_loop.start()
    finally:
        server.stop()

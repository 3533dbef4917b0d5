"""The ``visualize`` verb: explore a umap embedding in Jupyter, in a static page, or in the live app."""

from __future__ import annotations

import contextlib
import logging
import socket
from typing import Any

from hyrax.verbs.base import Verb, hyrax_verb

logger = logging.getLogger(__name__)

HTML_NAME = "visualize.html"
PNG_NAME = "embedding.png"


@hyrax_verb("visualize")
class Visualize(Verb):
    """Explore a umap embedding: a plot with selection, a table and image thumbnails."""

    next_step = "`hyrax visualize --serve` (select objects, see their images) or `hyrax lookup`"

    add_parser_kwargs = {
        "epilog": "Colour with visualize.color_column, hover fields with visualize.fields. In Jupyter, "
        "h.visualize() displays the explorer and .selected_ids() reads the selection."
    }

    def run(self, serve: bool = False, save: bool = True) -> Any:
        """Show the embedding of ``visualize.input_dir`` (or of the most recent complete umap run).

        Parameters
        ----------
        serve : bool
            Serve the live app on 127.0.0.1 at ``visualize.port`` until Ctrl-C: selections fill a table
            and a grid of thumbnails, and rasterised plots re-draw at every zoom, at any size.
        save : bool
            Write ``visualize.html`` (self-contained, opens offline) and ``embedding.png`` into a new
            results directory. Ignored with ``serve``.

        Returns
        -------
        Explorer or None
            The explorer, which Jupyter displays; ``.selected_ids()`` reads its selection. None after
            serving.
        """
        from hyrax.errors import ConfigError
        from hyrax.results import resolve_input_dir
        from hyrax.visualize.embedding import load_embedding
        from hyrax.visualize.explorer import Explorer

        config = self.config
        settings = config["visualize"]
        seed = int(config["general"]["seed"])
        input_dir = resolve_input_dir(settings["input_dir"], "umap", config["general"]["results_dir"])
        embedding = load_embedding(config, input_dir)
        if serve:
            from hyrax.visualize.explorer import serve as serve_app

            port = int(settings["port"])
            _check_port_free(port)
            # Ctrl-C ends the server's loop, by its own signal handler or as a KeyboardInterrupt.
            with contextlib.suppress(KeyboardInterrupt):
                serve_app(lambda: Explorer(embedding, settings, seed), port, title=f"Hyrax: {input_dir.name}")
            print("Stopped serving.", flush=True)
            return None
        points, limit = len(embedding.frame), int(settings["html_max_points"])
        if save and points > limit:
            raise ConfigError(
                f"The embedding has {points:,} points, more than a static page can hold "
                f"(visualize.html_max_points = {limit:,}). Explore it live with `hyrax visualize --serve`, "
                "or raise visualize.html_max_points, or write no page with --no-save.",
                key="visualize.html_max_points",
            )
        explorer = Explorer(embedding, settings, seed)
        if save:
            from hyrax.visualize.plots import static_png

            with self.results_directory() as results_dir:
                explorer.save_html(results_dir / HTML_NAME)
                static_png(embedding, results_dir / PNG_NAME)
                logger.info("Wrote %s and %s", results_dir / HTML_NAME, results_dir / PNG_NAME)
        return explorer


def _check_port_free(port: int) -> None:
    from hyrax.errors import ConfigError

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As the server itself binds: a port left in TIME_WAIT by a stopped server is free to use.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as error:
            raise ConfigError(
                f"Port {port} on 127.0.0.1 is in use ({error.strerror}); stop what holds it, or serve on "
                f"another port with --set visualize.port=N.",
                key="visualize.port",
            ) from None

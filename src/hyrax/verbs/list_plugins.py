"""The ``list`` verb: what verbs, models, datasets and other plug-ins are available."""

from __future__ import annotations

import inspect

from hyrax.verbs.base import Verb, hyrax_verb


def _summary(obj: object) -> str:
    return (inspect.getdoc(obj) or "").split("\n", 1)[0]


@hyrax_verb("list")
class ListPlugins(Verb):
    """List the registered verbs, models, datasets, vector databases, outlier methods and services."""

    def run(self, quiet: bool = False) -> dict[str, dict[str, str]]:
        """Print and return the registered plug-ins.

        Parameters
        ----------
        quiet : bool
            Return the listing without printing it.

        Returns
        -------
        dict
            ``{"verbs": {name: summary}, "models": {...}, "datasets": {...}, "vector databases": {...},
            "outlier methods": {...}, "download services": {...}}``.
        """
        from hyrax import registry

        listing = {}
        for kind, plugins in (
            ("verbs", registry.VERB_REGISTRY),
            ("models", registry.MODEL_REGISTRY),
            ("datasets", registry.DATA_SET_REGISTRY),
            ("vector databases", registry.VECTOR_DB_REGISTRY),
            ("outlier methods", registry.OUTLIER_REGISTRY),
            ("download services", registry.DOWNLOAD_SERVICE_REGISTRY),
        ):
            listing[kind] = {name: _summary(plugin) for name, plugin in plugins.items()}
        if not quiet:
            for kind, entries in listing.items():
                print(f"{kind[0].upper()}{kind[1:]}:")
                width = max((len(name) for name in entries), default=0)
                for name, summary in entries.items():
                    print(f"  {name:<{width}}  {summary}")
        return listing

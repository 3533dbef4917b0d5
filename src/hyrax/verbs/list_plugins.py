"""The ``list`` verb: what verbs, models and datasets are available."""

from __future__ import annotations

import inspect

from hyrax.verbs.base import Verb, hyrax_verb


def _summary(obj: object) -> str:
    return (inspect.getdoc(obj) or "").split("\n", 1)[0]


@hyrax_verb("list")
class ListPlugins(Verb):
    """List the registered verbs, models and datasets, one line each."""

    def run(self, quiet: bool = False) -> dict[str, dict[str, str]]:
        """Print and return the registered plug-ins.

        Parameters
        ----------
        quiet : bool
            Return the listing without printing it.

        Returns
        -------
        dict
            ``{"verbs": {name: summary}, "models": {...}, "datasets": {...}}``.
        """
        from hyrax.registry import DATA_SET_REGISTRY, MODEL_REGISTRY, VERB_REGISTRY

        listing = {
            "verbs": {name: VERB_REGISTRY.get(name).description() for name in VERB_REGISTRY.names()},
            "models": {name: _summary(MODEL_REGISTRY.get(name)) for name in MODEL_REGISTRY.names()},
            "datasets": {name: _summary(DATA_SET_REGISTRY.get(name)) for name in DATA_SET_REGISTRY.names()},
        }
        if not quiet:
            for kind, entries in listing.items():
                print(f"{kind.capitalize()}:")
                width = max((len(name) for name in entries), default=0)
                for name, summary in entries.items():
                    print(f"  {name:<{width}}  {summary}")
        return listing

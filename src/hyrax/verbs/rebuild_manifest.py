"""The ``rebuild_manifest`` verb: rewrite ``manifest.fits`` of a folder of downloaded cutouts."""

from __future__ import annotations

from pathlib import Path

from hyrax.verbs.base import Verb, hyrax_verb


@hyrax_verb("rebuild_manifest")
class RebuildManifest(Verb):
    """Rewrite manifest.fits of an HSC cutout folder from the files it holds."""

    def run(self, directory: str = "") -> Path:
        """Scan the folder's ``<object_id>_<filter>.fits`` files and write its ``manifest.fits``.

        Per-object columns of the old manifest (``ra``, ``dec``, ...) are kept for the objects that
        are still there.

        Parameters
        ----------
        directory : str
            The folder; by default ``data_set.HSCDataSet.data_dir``, or the folder of the newest
            complete download, or ``general.data_dir``: the folder ``HSCDataSet`` reads.

        Returns
        -------
        Path
            The manifest written.
        """
        from hyrax.datasets.cutout_folder import cutout_folder, rebuild_manifest

        general = self.config["general"]
        folder = directory or cutout_folder(
            self.config["data_set"]["HSCDataSet"]["data_dir"], general["results_dir"], general["data_dir"]
        )
        manifest = rebuild_manifest(folder)
        print(f"Wrote {manifest}")
        return manifest

"""The ``download`` verb: fetch a catalog's cutouts from a survey's cutout service."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hyrax.verbs.base import Verb, hyrax_verb

logger = logging.getLogger(__name__)

FAILURES_NAME = "failures.csv"
_LISTED = 5


@hyrax_verb("download")
class Download(Verb):
    """Fetch cutouts of a catalog's objects from a cutout service (download.service); resumable."""

    next_step = "`hyrax train --set data_set.name=HSCDataSet` (it finds the new cutouts by itself)"
    add_parser_kwargs = {
        "epilog": "Services: hsc_das (HSC data archive; account from HYRAX_DOWNLOAD_USER and "
        "HYRAX_DOWNLOAD_PASSWORD or download.credentials_file) and legacy_survey (public). Run it again to "
        "resume: complete files are kept, missing or broken ones are fetched."
    }

    def run(self) -> Any:
        """Download every object of ``download.source_catalog`` in every filter, then write the manifest.

        Returns
        -------
        DownloadSummary
            Counts (fetched, already on disk, without data, failed), rate and failures; its
            ``folder`` attribute is the folder written.
        """
        import csv
        import json

        from hyrax.config.redact import redact_text
        from hyrax.datasets.cutout_folder import DOWNLOAD_INFO_NAME
        from hyrax.download.runner import Downloader

        service, settings, (ids, ras, decs) = self._prepare()
        logger.info(
            "Downloading %d objects x %d filters from %s into %s",
            len(ids),
            len(settings.filters),
            service.describe(),
            settings.folder,
        )
        with self.results_directory() as results_dir:
            summary = Downloader(service, settings).run(ids, ras, decs)
            if summary.failures:
                with open(results_dir / FAILURES_NAME, "w", newline="", encoding="utf-8") as stream:
                    writer = csv.writer(stream)
                    writer.writerow(["object_id", "filter", "reason"])
                    writer.writerows(summary.failures)
            info = {
                "data_dir": str(settings.folder.resolve()),
                "service": self.config["download"]["service"],
                "url": redact_text(service.url),
                "filters": list(settings.filters),
                **{key: getattr(summary, key) for key in ("total", "fetched", "skipped", "refetched")},
                **{key: getattr(summary, key) for key in ("no_data", "failed", "seconds")},
            }
            (results_dir / DOWNLOAD_INFO_NAME).write_text(json.dumps(info, indent=2))
        print(summary.line())
        if summary.failures:
            shown = "; ".join(f"{i} {f}: {reason}" for i, f, reason in summary.failures[:_LISTED])
            print(f"Failed: {shown}{' ...' if summary.failed > _LISTED else ''} (all in {FAILURES_NAME}).")
            print("Run `hyrax download` again to retry them; complete files are not fetched again.")
        return summary

    def _prepare(self) -> tuple[Any, Any, tuple]:
        """Check the settings and the catalog and build the service, before any request is made."""
        from hyrax.download.credentials import find_credentials, missing_credentials_message
        from hyrax.download.runner import DownloadSettings
        from hyrax.download.services.base import LAYERS, CutoutShape, DownloadError
        from hyrax.download.targets import parse_angle, read_targets
        from hyrax.registry import DOWNLOAD_SERVICE_REGISTRY

        table = self.config["download"]
        name = str(table["service"])
        service_class = DOWNLOAD_SERVICE_REGISTRY.get(name)
        service_table = table.get(name, {})
        layers = tuple(layer for layer in LAYERS if table[layer])
        unsupported = [layer for layer in layers if layer not in service_class.layers]
        if not layers or unsupported:
            raise DownloadError(
                f"download.service = {name!r} serves the layers {', '.join(service_class.layers)}; "
                f"{'none is chosen' if not layers else 'not ' + ', '.join(unsupported)}. Set download.image, "
                "download.mask and download.variance accordingly."
            )
        filters = tuple(map(str, table["filters"])) if table["filters"] else service_class.default_filters
        odd = [f for f in filters if not f or any(c in f for c in "_/\\")]
        if odd or not filters:
            raise DownloadError(
                f"download.filters holds {', '.join(map(repr, odd)) or 'nothing'}; filter names must be "
                "non-empty, without underscores or slashes (they end the file names)."
            )
        if not table["source_catalog"]:
            raise DownloadError(
                "download.source_catalog is not set: name a catalog (FITS, CSV, Parquet, VOTable, ...) with "
                f"columns {table['object_id_column']}, {table['ra_column']} and {table['dec_column']} "
                "(or set download.object_id_column, ra_column and dec_column to its names)."
            )
        shape = CutoutShape(
            parse_angle(table["semi_width"], "download.semi_width"),
            parse_angle(table["semi_height"], "download.semi_height"),
            layers,
        )
        targets = read_targets(
            table["source_catalog"], table["object_id_column"], table["ra_column"], table["dec_column"]
        )
        credentials = None
        if service_class.needs_credentials:
            url = str(service_table.get("url", ""))
            credentials = find_credentials(
                table["username"], table["password"], table["credentials_file"], url
            )
            if credentials is None:
                raise DownloadError(missing_credentials_message(name, url))
        service = service_class(service_table, shape, credentials)
        folder = Path(table["data_dir"] or Path(self.config["general"]["data_dir"]) / "cutouts")
        settings = DownloadSettings(
            folder=folder,
            filters=filters,
            timeout=float(table["timeout"]),
            retries=int(table["retries"]),
            retry_wait=float(table["retry_wait"]),
            concurrent_requests=int(table["concurrent_requests"]),
        )
        return service, settings, targets

"""The HSC data archive cutout service ("DAS cutout"): lists of up to ~1,000 cutouts per request.

Protocol (the archive's bulk interface): one ``POST`` to ``download.hsc_das.url`` with HTTP Basic
credentials and a ``multipart/form-data`` body whose file field ``list`` is a coordinate list: a first
line ``#? rerun type filter tract ra dec sw sh image mask variance`` naming the columns, then one line
per cutout. The answer is a tar archive with one member per cutout found,
``arch-<date>-<time>/<line>-cutout-<filter>-<tract>-<rerun>.fits``, where ``<line>`` is the cutout's
line in the list (the header is line 1). A line without a member has no data at that position.
"""

from __future__ import annotations

import re
import tarfile
from collections.abc import Iterator
from typing import Any, ClassVar

from hyrax.download.services.base import LAYERS, CutoutRequest, CutoutService, raise_for_status

_MEMBER = re.compile(r"(?:.*/)?(?P<line>\d+)-(?:cutout|coadd\+bg)-[^/]*\.fits")
_COLUMNS = ("rerun", "type", "filter", "tract", "ra", "dec", "sw", "sh", "image", "mask", "variance")


class HSCDataArchive(CutoutService):
    """Cutouts of the HSC-SSP data releases, from the archive's bulk cutout service (account needed)."""

    registry_name = "hsc_das"
    default_filters: ClassVar[tuple[str, ...]] = ("HSC-G", "HSC-R", "HSC-I", "HSC-Z", "HSC-Y")
    layers: ClassVar[tuple[str, ...]] = ("image", "mask", "variance")
    needs_credentials = True

    @property
    def batch_size(self) -> int:
        """``download.hsc_das.rows_per_request``: the service caps a list at about 1,000 lines."""
        return int(self.table["rows_per_request"])

    def coordinate_list(self, batch: list[CutoutRequest]) -> str:
        """The list file: a header of ``_COLUMNS``, then one line per cutout (line 2 is ``batch[0]``)."""
        same = {
            "rerun": str(self.table["rerun"]),
            "type": str(self.table["image_type"]),
            "tract": "any",
            "sw": f"{self.shape.semi_width_deg:.10e}deg",
            "sh": f"{self.shape.semi_height_deg:.10e}deg",
            **{layer: str(layer in self.shape.layers).lower() for layer in LAYERS},
        }
        rows = [
            {**same, "filter": request.filter, "ra": f"{request.ra:.10f}deg", "dec": f"{request.dec:.10f}deg"}
            for request in batch
        ]
        lines = [" ".join(row[column] for column in _COLUMNS) for row in rows]
        return "\n".join(["#? " + " ".join(_COLUMNS), *lines]) + "\n"

    def fetch(self, session: Any, batch: list[CutoutRequest], timeout: float) -> Iterator[tuple]:
        """POST the batch's coordinate list and yield each cutout of the tar answer as it streams in."""
        files = {"list": ("coordlist.txt", self.coordinate_list(batch), "text/plain")}
        with session.post(self.url, files=files, timeout=timeout, stream=True) as response:
            raise_for_status(response, self.describe())
            response.raw.decode_content = True
            with tarfile.open(fileobj=response.raw, mode="r|") as archive:
                for member in archive:
                    match = _MEMBER.fullmatch(member.name)
                    if not member.isfile() or not match:
                        continue
                    position = int(match["line"]) - 2
                    if not 0 <= position < len(batch):
                        continue
                    content = archive.extractfile(member)
                    if content is not None:
                        yield batch[position], content.read()

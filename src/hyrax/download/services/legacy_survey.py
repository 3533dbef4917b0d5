"""The Legacy Surveys FITS cutout service: one ``GET`` per object and band, no account needed.

Protocol: ``GET <download.legacy_survey.url>?ra=<deg>&dec=<deg>&layer=<layer>&pixscale=<arcsec/pixel>
&bands=<band>&width=<pixels>&height=<pixels>`` answers a FITS file whose primary HDU holds the cutout.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from hyrax.download.services.base import CutoutRequest, CutoutService, raise_for_status


class LegacySurveys(CutoutService):
    """Cutouts of the DESI Legacy Imaging Surveys, from the public viewer's FITS cutout service."""

    registry_name = "legacy_survey"
    default_filters: ClassVar[tuple[str, ...]] = ("g", "r", "z")

    def pixels(self) -> tuple[int, int]:
        """Cutout width and height in pixels, from the angular size and ``pixel_scale``."""
        scale = float(self.table["pixel_scale"]) / 3600.0
        return (
            max(1, round(2 * self.shape.semi_width_deg / scale)),
            max(1, round(2 * self.shape.semi_height_deg / scale)),
        )

    def fetch(self, session: Any, batch: list[CutoutRequest], timeout: float) -> Iterator[tuple]:
        """GET each cutout of the batch (one, as ``batch_size`` is 1)."""
        width, height = self.pixels()
        for request in batch:
            params = {
                "ra": f"{request.ra:.10f}",
                "dec": f"{request.dec:.10f}",
                "layer": self.table["layer"],
                "pixscale": self.table["pixel_scale"],
                "bands": request.filter,
                "width": width,
                "height": height,
            }
            with session.get(self.url, params=params, timeout=timeout) as response:
                raise_for_status(response, self.describe())
                yield request, response.content

    def check(self, hdu_shapes: list[tuple[int, ...]]) -> str | None:
        """Expect one image in the primary HDU: 2-D, or a cube of one band."""
        shape = hdu_shapes[0] if hdu_shapes else ()
        if len(shape) == 2 or (len(shape) == 3 and shape[0] == 1):
            return None
        return f"its primary HDU has shape {shape}, a 2-D image expected"

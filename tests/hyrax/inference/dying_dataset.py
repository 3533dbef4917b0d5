"""A random dataset whose process exits abruptly on one object, as a rank that dies mid-run."""

from __future__ import annotations

import os

from hyrax.datasets.random_dataset import HyraxRandomDataset

DIE_AT_INDEX = 37
SWITCH = "HYRAX_TEST_DIE_AT"


class DyingRandomDataset(HyraxRandomDataset):
    """HyraxRandomDataset whose process exits (as if killed) on object 37 while ``SWITCH`` is set."""

    registry_name = None

    def get_data(self, index):
        """The random image, unless this is the object to die on."""
        if int(index) == DIE_AT_INDEX and os.environ.get(SWITCH):
            os._exit(9)
        return super().get_data(index)

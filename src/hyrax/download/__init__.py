"""Downloading cutouts from survey archives into the folder layout ``HSCDataSet`` reads.

:mod:`hyrax.download.runner` fetches, checks and writes the cutouts with retries and resumes;
:mod:`hyrax.download.services` holds one module per cutout service (each a
:class:`~hyrax.download.services.base.CutoutService`); :mod:`hyrax.download.manifest` keeps the
journal and writes ``manifest.fits``. The ``download`` verb ties them to the configuration.
"""

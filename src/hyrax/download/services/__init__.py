"""Cutout services, one per module; each registers itself with ``DOWNLOAD_SERVICE_REGISTRY`` on import."""

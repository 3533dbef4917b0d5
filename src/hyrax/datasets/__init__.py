"""Built-in datasets. Each module registers its classes with ``DATA_SET_REGISTRY`` on import."""

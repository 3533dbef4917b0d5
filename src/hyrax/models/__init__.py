"""Built-in models. Each module registers its classes with ``MODEL_REGISTRY`` on import."""

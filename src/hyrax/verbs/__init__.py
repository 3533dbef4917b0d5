"""Built-in verbs. Each module registers its verb with ``VERB_REGISTRY`` on import."""

"""Vector database backends used by ``save_to_database`` and ``lookup``."""

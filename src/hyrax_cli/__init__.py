"""The ``hyrax`` command-line entry point."""

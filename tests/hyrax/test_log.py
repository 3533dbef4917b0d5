import logging

import pytest

from hyrax.errors import ConfigError
from hyrax.log import setup_logging


def test_log_to_a_file(tmp_path):
    path = tmp_path / "hyrax.log"
    setup_logging("debug", str(path))
    logging.getLogger("hyrax.test").debug("a debug line")
    logging.getLogger("some_library").info("library noise")
    for handler in logging.getLogger().handlers:
        handler.flush()
    text = path.read_text()
    assert "a debug line" in text and "library noise" not in text
    setup_logging("info", "stderr")
    assert sum(type(h).__name__.startswith("Hyrax") for h in logging.getLogger().handlers) == 1


def test_bad_level_is_a_config_error():
    with pytest.raises(ConfigError, match="general.log_level"):
        setup_logging("verbose")


def test_unwritable_log_file(tmp_path):
    with pytest.raises(ConfigError, match="general.log_destination"):
        setup_logging("info", str(tmp_path / "missing" / "dir" / "x.log"))

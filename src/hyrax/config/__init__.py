"""Layered, checked TOML configuration: defaults → plug-in defaults → user file → runtime changes."""

from hyrax.config.config_dict import ConfigDict
from hyrax.config.manager import (
    DEFAULT_CONFIG_PATH,
    RUNTIME_CONFIG_NAME,
    ConfigFileNotFoundError,
    ConfigManager,
    load_config,
    read_toml,
)

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "RUNTIME_CONFIG_NAME",
    "ConfigDict",
    "ConfigFileNotFoundError",
    "ConfigManager",
    "load_config",
    "read_toml",
]

"""A verb's process-wide settings: the library environment, and logging restored when it ends."""

from __future__ import annotations

import logging
import os

import pytest

from hyrax import Hyrax
from hyrax.log import logging_scope
from hyrax.process import library_environment, set_library_environment
from hyrax.registry import VERB_REGISTRY
from hyrax.verbs.base import Verb, hyrax_verb


@pytest.fixture
def seen_inside():
    seen: dict = {}

    @hyrax_verb("scope_probe", force=True)
    class ScopeProbe(Verb):
        """Record the process's settings while a verb runs."""

        def run(self) -> None:
            """Record them."""
            seen["environment"] = {name: os.environ.get(name) for name in library_environment()}
            seen["handlers"] = [type(h).__name__ for h in logging.getLogger().handlers]
            seen["hyrax_level"] = logging.getLogger("hyrax").getEffectiveLevel()
            logging.getLogger("hyrax.scope_probe").info("inside the verb")

    yield seen
    VERB_REGISTRY.unregister("scope_probe")


def test_a_verb_logs_where_general_says_and_leaves_logging_as_it_was(work_dir, seen_inside, tmp_path):
    root, hyrax_logger = logging.getLogger(), logging.getLogger("hyrax")
    before = (list(root.handlers), root.level, hyrax_logger.level)
    h = Hyrax()
    h.set_config("general.log_destination", str(tmp_path / "run.log"))
    h.scope_probe()
    assert "HyraxFileHandler" in seen_inside["handlers"]
    assert seen_inside["hyrax_level"] == logging.INFO
    assert "inside the verb" in (tmp_path / "run.log").read_text()
    assert (list(root.handlers), root.level, hyrax_logger.level) == before


def test_the_library_environment_keeps_what_the_user_set(work_dir, seen_inside, monkeypatch, tmp_path):
    for name in library_environment():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "mine"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    Hyrax().scope_probe()
    assert seen_inside["environment"] == {
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "ANONYMIZED_TELEMETRY": "False",
        "NUMBA_CACHE_DIR": str(tmp_path / "mine"),
    }
    assert set_library_environment() == []


def test_a_logging_scope_inside_another_restores_the_outer_one(tmp_path):
    with logging_scope("debug", str(tmp_path / "outer.log")) as outer:
        with logging_scope("warning", "stderr") as inner:
            assert inner in logging.getLogger().handlers and outer not in logging.getLogger().handlers
        assert outer in logging.getLogger().handlers and inner not in logging.getLogger().handlers
        assert logging.getLogger("hyrax").level == logging.DEBUG
    assert outer not in logging.getLogger().handlers


def test_the_command_line_applies_a_log_level_given_with_set(work_dir, seen_inside):
    from hyrax_cli.main import main

    assert main(["scope_probe", "--set", "general.log_level='debug'"]) == 0
    assert seen_inside["hyrax_level"] == logging.DEBUG

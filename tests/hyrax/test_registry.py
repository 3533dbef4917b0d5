import logging
import sys
import types

import pytest

from hyrax.errors import DuplicateNameError, PluginImportError, UnknownNameError
from hyrax.registry import (
    DATA_SET_REGISTRY,
    MODEL_REGISTRY,
    VERB_REGISTRY,
    Registry,
    get_or_load_class,
    import_object,
)


class Alpha:
    pass


class Beta:
    pass


@pytest.fixture
def registry():
    return Registry("widget")


def test_register_and_get(registry):
    registry.register("Alpha", Alpha)
    assert registry.get("Alpha") is Alpha
    assert registry["Alpha"] is Alpha
    assert "Alpha" in registry and list(registry) == ["Alpha"] and len(registry) == 1


def test_duplicate_name_names_both_classes(registry):
    registry.register("Thing", Alpha)
    with pytest.raises(DuplicateNameError) as caught:
        registry.register("Thing", Beta)
    assert "test_registry.Alpha" in str(caught.value) and "test_registry.Beta" in str(caught.value)
    registry.register("Thing", Beta, force=True)
    assert registry.get("Thing") is Beta


def test_reregistering_the_same_class_is_allowed(registry):
    registry.register("Alpha", Alpha)
    registry.register("Alpha", Alpha)
    assert registry.get("Alpha") is Alpha


def test_unknown_name_lists_choices_and_suggests(registry):
    registry.register("Alpha", Alpha)
    registry.register("Beta", Beta)
    with pytest.raises(UnknownNameError) as caught:
        registry.get("Alpah")
    message = str(caught.value)
    assert "Did you mean `Alpha`?" in message and "Alpha, Beta" in message
    assert isinstance(caught.value, KeyError)


def test_dotted_path_loads_a_class(registry):
    assert registry.get("collections.OrderedDict").__name__ == "OrderedDict"


def test_missing_module_is_reported_as_such():
    with pytest.raises(PluginImportError, match="module 'no_such_pkg.models' was not found"):
        import_object("no_such_pkg.models.Net")


def test_missing_class_lists_the_modules_classes():
    with pytest.raises(PluginImportError) as caught:
        import_object("hyrax.errors.ConfigEror")
    message = str(caught.value)
    assert "has no attribute 'ConfigEror'" in message
    assert "Did you mean `ConfigError`?" in message and "HyraxError" in message


def test_not_a_dotted_path():
    with pytest.raises(PluginImportError, match="not a dotted import path"):
        import_object("Net")


def test_get_or_load_class_reads_the_name_key(registry):
    registry.register("Alpha", Alpha)
    assert get_or_load_class({"name": "Alpha"}, registry) is Alpha
    with pytest.raises(UnknownNameError, match="set `name`"):
        get_or_load_class({"name": False}, registry)


def test_unregister(registry):
    registry.register("Alpha", Alpha)
    registry.unregister("Alpha")
    assert "Alpha" not in registry
    with pytest.raises(UnknownNameError):
        registry.unregister("Alpha")


def test_builtin_registries_find_their_plugins():
    assert "list" in VERB_REGISTRY.names()
    assert "HyraxRandomDataset" in DATA_SET_REGISTRY.names()
    assert MODEL_REGISTRY.kind == "model"


GOOD_MODULE = """
from tests_registry_target import REGISTRY


class Good:
    pass


REGISTRY.register("Good", Good)
"""


@pytest.fixture
def fake_builtins(tmp_path, monkeypatch):
    """A registry whose built-ins are the temporary package ``fake_builtins``; yields (folder, registry)."""
    package = tmp_path / "fake_builtins"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "good.py").write_text(GOOD_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = Registry("widget", "fake_builtins")
    target = types.ModuleType("tests_registry_target")
    target.REGISTRY = registry
    monkeypatch.setitem(sys.modules, "tests_registry_target", target)
    yield package, registry
    for name in [name for name in sys.modules if name.partition(".")[0] == "fake_builtins"]:
        del sys.modules[name]


def test_builtins_are_imported_on_first_lookup(fake_builtins):
    _, registry = fake_builtins
    assert registry.get("Good").__name__ == "Good"
    assert registry.names() == ["Good"]


def test_a_failing_builtin_module_is_reported_on_every_lookup(fake_builtins):
    package, registry = fake_builtins
    (package / "broken.py").write_text("raise RuntimeError('boom in broken')\n")
    for _ in range(2):
        with pytest.raises(PluginImportError) as caught:
            registry.get("Good")
        message = str(caught.value)
        assert "fake_builtins.broken" in message and "RuntimeError: boom in broken" in message
        assert isinstance(caught.value.__cause__, RuntimeError)
    with pytest.raises(PluginImportError, match="fake_builtins.broken"):
        registry.names()
    (package / "broken.py").write_text("")
    assert registry.get("Good").__name__ == "Good"


def test_a_builtin_module_may_look_names_up_while_it_is_imported(fake_builtins):
    package, registry = fake_builtins
    # Modules are imported in name order, so good.py has registered Good before looks_up.py runs.
    source = "from tests_registry_target import REGISTRY\nSEEN = REGISTRY.names()\n"
    (package / "looks_up.py").write_text(source)
    assert registry.names() == ["Good"]
    assert sys.modules["fake_builtins.looks_up"].SEEN == ["Good"]


def test_a_builtin_needing_a_missing_package_says_to_install_it(fake_builtins):
    package, registry = fake_builtins
    (package / "needy.py").write_text("import no_such_dependency_for_hyrax\n")
    with pytest.raises(PluginImportError, match="Install the package that provides 'no_such_dependency"):
        registry.names()


def test_a_failing_external_plugin_is_logged_and_skipped(monkeypatch, caplog):
    import importlib.metadata

    import hyrax.registry

    broken = importlib.metadata.EntryPoint("broken_plugin", "no_such_plugin_module", "hyrax.plugins")
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: [broken])
    monkeypatch.setattr(hyrax.registry, "_plugins_loaded", False)
    with caplog.at_level(logging.WARNING, logger="hyrax.registry"):
        hyrax.registry.load_plugins()
    assert "'broken_plugin' (no_such_plugin_module) failed to load" in caplog.text
    assert "ModuleNotFoundError" in caplog.text

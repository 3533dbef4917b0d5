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

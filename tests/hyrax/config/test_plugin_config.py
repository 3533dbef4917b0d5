"""A tiny external plug-in package, built in a temp dir, with its own default_config.toml."""

import sys
import textwrap

import pytest

from hyrax.config import load_config
from hyrax.errors import ConfigKeyError, ConfigTypeError


@pytest.fixture
def plugin_package(tmp_path, monkeypatch):
    package = tmp_path / "site" / "starplug"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "models.py").write_text(
        textwrap.dedent(
            '''
            class TinyStarModel:
                """A plug-in model."""
            '''
        )
    )
    (package / "default_config.toml").write_text(
        textwrap.dedent(
            """
            [model.TinyStarModel]
            # Width of the hidden layer.
            hidden = 16
            # [path|false] Optional pretrained weights.
            pretrained = false

            [starplug]
            # Plug-in wide switch.
            verbose = false
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    yield package
    for name in [m for m in sys.modules if m.startswith("starplug")]:
        del sys.modules[name]


def test_plugin_defaults_merge_when_named_by_dotted_path(plugin_package, tmp_path):
    user = tmp_path / "user.toml"
    user.write_text('[model]\nname = "starplug.models.TinyStarModel"\n[model.TinyStarModel]\nhidden = 32\n')
    config = load_config(user)
    assert config["model"]["TinyStarModel"]["hidden"] == 32
    assert config["model"]["TinyStarModel"]["pretrained"] is False
    assert config["starplug"]["verbose"] is False
    assert "starplug.models" not in sys.modules, "finding the defaults must not import the plug-in"


def test_plugin_typos_are_caught_against_its_defaults(plugin_package, tmp_path):
    user = tmp_path / "user.toml"
    user.write_text('[model]\nname = "starplug.models.TinyStarModel"\n[model.TinyStarModel]\nhiden = 32\n')
    with pytest.raises(
        ConfigKeyError, match=r"\[model.TinyStarModel\] has no key 'hiden'. Did you mean `hidden`"
    ):
        load_config(user)
    user.write_text(
        '[model]\nname = "starplug.models.TinyStarModel"\n[model.TinyStarModel]\nhidden = "wide"\n'
    )
    with pytest.raises(ConfigTypeError, match="model.TinyStarModel.hidden"):
        load_config(user)


def test_plugin_tables_are_unknown_until_the_plugin_is_named(plugin_package, tmp_path):
    user = tmp_path / "user.toml"
    user.write_text("[model.TinyStarModel]\nhidden = 32\n")
    with pytest.raises(ConfigKeyError, match="TinyStarModel"):
        load_config(user)


def test_runtime_naming_of_a_plugin_learns_its_keys(plugin_package):
    from hyrax import Hyrax

    h = Hyrax()
    h.set_config("model.name", "starplug.models.TinyStarModel")
    assert h.config["model"]["TinyStarModel"]["hidden"] == 16
    h.config["model"]["TinyStarModel"]["hidden"] = 8
    h.set_config("data_set.name", "HyraxRandomDataset")
    assert h.config["model"]["TinyStarModel"]["hidden"] == 8


def test_plugins_chosen_by_method_or_service_keys_are_found_too():
    from hyrax.config.manager import iter_dotted_names

    values = {
        "model": {"name": "pkg_a.models.Net"},
        "outliers": {"method": "pkg_b.scores.Odd"},
        "download": {"service": "pkg_c.archive.Service", "filters": ["g.r"]},
        "data_set": {"name": "HSCDataSet"},
    }
    assert sorted(iter_dotted_names(values)) == [
        "pkg_a.models.Net",
        "pkg_b.scores.Odd",
        "pkg_c.archive.Service",
    ]

"""Ranges and choices declared beside each default key, checked when the configuration is loaded."""

import logging
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from hyrax.config import ConfigManager, load_config
from hyrax.config.constraints import Bound, Choices, Length, parse_constraint
from hyrax.config.schema import key_spec
from hyrax.errors import ConfigTypeError, ConfigValueError


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_constraint_forms_parse():
    assert parse_constraint(">= 1") == Bound(">=", 1.0)
    assert parse_constraint("float <= 1") == Bound("<=", 1.0, "float")
    assert parse_constraint('"a"|"b"') == Choices(("a", "b"))
    assert parse_constraint("length 2") == Length(2)
    assert parse_constraint("height") is None


def test_a_bracketed_start_that_is_not_a_tag_stays_in_the_description():
    spec = key_spec("shape", False, "# [height, width] of every cutout")
    assert spec.constraints == () and spec.description == "[height, width] of every cutout"


@pytest.mark.parametrize(
    ("comment", "default", "allowed", "refused"),
    [
        ("# [>= 1] passes", 10, [1, 500], [0, -3]),
        ("# [>= 0, <= 1] fraction", 0.5, [0, 0.25, 1], [-0.1, 1.5, float("nan")]),
        ("# [float|int|false, >= 0, float <= 1] size", 0.6, [0.6, 7, False], [1.5, -2]),
        ('# ["auto"|"cpu"|"cuda"|"cuda:<int>"|"mps"] device', "auto", ["cuda:3", "mps"], ["gpu", "cuda:x"]),
        ("# [list|false, length 2] shape", False, [[8, 8], False], [[8], [1, 2, 3]]),
    ],
)
def test_keys_allow_what_their_tag_declares(comment, default, allowed, refused):
    spec = key_spec("key", default, comment)
    assert all(spec.allows(value) for value in allowed)
    assert not any(spec.allows(value) for value in refused)


@pytest.mark.parametrize(
    ("table", "key", "value", "allowed"),
    [
        ("train", "epochs", -3, "an integer >= 1"),
        ("train", "epochs", 0, "an integer >= 1"),
        ("data_loader", "batch_size", 0, "an integer >= 1"),
        ("data_loader", "num_workers", -1, "an integer >= 0"),
        ("data_set", "train_size", 1.5, "a number >= 0 (a float <= 1) or false"),
        ("general", "device", "gpu", '"cuda:<int>"'),
        ("vector_db", "metric", "euclid", 'one of "l2" or "cosine"'),
        ("general", "log_level", "verbose", '"debug"'),
    ],
)
def test_a_value_out_of_range_in_a_file_names_file_key_value_and_what_is_allowed(
    tmp_path, table, key, value, allowed
):
    rendered = f'"{value}"' if isinstance(value, str) else repr(value)
    user = _write(tmp_path / "user.toml", f"[{table}]\n{key} = {rendered}\n")
    with pytest.raises(ConfigValueError) as caught:
        load_config(user)
    message = str(caught.value)
    assert str(user) in message
    assert f"'{table}.{key}'" in message and repr(value) in message and allowed in message
    assert caught.value.key == f"{table}.{key}" and caught.value.file == str(user)


def test_nested_plugin_tables_are_checked_too(tmp_path):
    user = _write(tmp_path / "user.toml", '[data_set.FitsImageDataSet]\nnan_mode = "quantil"\n')
    with pytest.raises(ConfigValueError, match='one of "quantile", "zero" or "leave"'):
        load_config(user)


def test_every_default_value_is_within_its_own_constraints():
    config = load_config()
    assert config["train"]["epochs"] == 10


def test_runtime_changes_are_checked():
    config = load_config()
    with pytest.raises(ConfigValueError, match="'train.epochs'"):
        config["train"]["epochs"] = 0
    config["train"]["epochs"] = 2
    assert config["train"]["epochs"] == 2


def test_dev_mode_turns_a_range_error_into_a_warning(tmp_path, caplog):
    user = _write(tmp_path / "user.toml", "[general]\ndev_mode = true\n[train]\nepochs = 0\n")
    with caplog.at_level(logging.WARNING, logger="hyrax"):
        config = load_config(user)
    assert config["train"]["epochs"] == 0
    assert "train.epochs" in caplog.text


@pytest.mark.parametrize("text", ["general = 5\n", 'train = "fast"\n', "[model]\nHyraxCNN = 3\n"])
def test_a_table_given_a_scalar_is_a_type_error(tmp_path, text):
    user = _write(tmp_path / "user.toml", text)
    with pytest.raises(ConfigTypeError) as caught:
        load_config(user)
    assert str(user) in str(caught.value) and "is a table" in str(caught.value)


def test_a_bad_range_stops_the_cli_before_any_results_directory(tmp_path):
    user = _write(tmp_path / "user.toml", "[train]\nepochs = -3\n")
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    result = subprocess.run(
        [sys.executable, "-m", "hyrax_cli.main", "train", "-c", str(user)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert result.returncode == 1
    assert "'train.epochs' key must be an integer >= 1. Got -3" in result.stderr
    assert "Traceback" not in result.stderr and "log_level" not in result.stderr
    assert not (tmp_path / "results").exists()


def test_set_from_the_cli_names_the_option(capsys):
    from hyrax_cli.main import main

    assert main(["list", "--set", "data_loader.batch_size=0"]) == 1
    err = capsys.readouterr().err
    assert "--set data_loader.batch_size=0" in err and "'data_loader.batch_size'" in err


def test_a_dev_mode_config_with_an_unknown_key_survives_pickling(tmp_path, caplog):
    user = _write(tmp_path / "user.toml", "[general]\ndev_mode = true\n[train]\nnot_a_key = 1\n")
    config = ConfigManager(user).config
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="hyrax"):
        again = pickle.loads(pickle.dumps(config))
    assert again["train"]["not_a_key"] == 1
    assert again.to_dict() == config.to_dict()
    assert caplog.records == []
    again["train"]["another_unknown"] = 2
    assert again["train"]["another_unknown"] == 2


def test_a_strict_config_stays_strict_after_pickling():
    again = pickle.loads(pickle.dumps(load_config()))
    with pytest.raises(ConfigValueError):
        again["train"]["epochs"] = 0

import logging
import textwrap
from pathlib import Path

import pytest

from hyrax.config import ConfigFileNotFoundError, ConfigManager, load_config, read_toml
from hyrax.errors import ConfigError, ConfigKeyError, ConfigParseError, ConfigTypeError, ConfigValueError


def _write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


def test_defaults_load_and_paths_are_absolute(work_dir):
    config = load_config()
    assert config["train"]["epochs"] == 10
    assert Path(config["general"]["results_dir"]) == work_dir / "results"


def test_user_file_overrides_defaults(tmp_path):
    user = _write(
        tmp_path / "user.toml", "[train]\nepochs = 3\n[optimizer.kwargs]\nlr = 0.5\nmomentum = 0.9\n"
    )
    config = load_config(user)
    assert config["train"]["epochs"] == 3
    assert config["optimizer"]["kwargs"] == {"lr": 0.5, "momentum": 0.9}
    assert config["train"]["weights_filename"] == "model_weights.pth"


def test_unknown_key_names_file_table_key_and_suggestion(tmp_path):
    user = _write(tmp_path / "typo.toml", "[train]\nepoch = 3\n")
    with pytest.raises(ConfigKeyError) as caught:
        load_config(user)
    message = str(caught.value)
    assert str(user) in message
    assert "[train]" in message and "'epoch'" in message
    assert "Did you mean `epochs`?" in message
    assert caught.value.key == "train.epoch"


def test_unknown_table_is_an_error(tmp_path):
    user = _write(tmp_path / "typo.toml", "[trian]\nepochs = 3\n")
    with pytest.raises(ConfigKeyError, match="no key 'trian'. Did you mean `train`"):
        load_config(user)


def test_reading_a_missing_key_says_which_and_suggests():
    config = load_config()
    with pytest.raises(KeyError) as caught:
        config["general"]["resluts_dir"]
    assert "[general]" in str(caught.value) and "`results_dir`" in str(caught.value)


def test_wrong_type_is_an_error_naming_the_key(tmp_path):
    user = _write(tmp_path / "bad.toml", '[train]\nepochs = "10"\n')
    with pytest.raises(ConfigTypeError) as caught:
        load_config(user)
    assert "'train.epochs'" in str(caught.value) and "an integer" in str(caught.value)
    assert str(user) in str(caught.value)


def test_int_is_accepted_where_a_float_is_expected(tmp_path):
    user = _write(tmp_path / "ok.toml", "[optimizer.kwargs]\nlr = 1\n[umap.parameters]\nmin_dist = 0\n")
    assert load_config(user)["umap"]["parameters"]["min_dist"] == 0


def test_optional_path_keys_check_their_declared_types(tmp_path):
    good = _write(tmp_path / "good.toml", '[infer]\nmodel_weights_file = "w.pth"\n')
    assert load_config(good)["infer"]["model_weights_file"] == str(tmp_path / "w.pth")
    bad = _write(tmp_path / "bad.toml", "[infer]\nmodel_weights_file = true\n")
    with pytest.raises(ConfigTypeError, match="a path or false"):
        load_config(bad)


def test_runtime_assignment_is_checked():
    config = load_config()
    config["train"]["epochs"] = 2
    with pytest.raises(ConfigTypeError):
        config["train"]["epochs"] = "two"
    with pytest.raises(ConfigKeyError, match="`epochs`"):
        config["train"]["epohcs"] = 2
    config.set_dotted("optimizer.kwargs.weight_decay", 0.01)
    assert config.get_dotted("optimizer.kwargs.weight_decay") == 0.01


def test_malformed_toml_names_file_line_and_column(tmp_path):
    user = _write(tmp_path / "broken.toml", "[train]\nepochs = 3\nlr = = 2\n")
    with pytest.raises(ConfigParseError) as caught:
        load_config(user)
    assert caught.value.line == 3
    assert f"{user}: line 3, column" in str(caught.value)


def test_missing_config_file_names_the_path(tmp_path):
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigFileNotFoundError, match=str(missing)):
        load_config(missing)


def test_relative_paths_resolve_against_the_files_folder(tmp_path, work_dir):
    folder = tmp_path / "configs"
    folder.mkdir()
    user = _write(folder / "user.toml", '[general]\ndata_dir = "../data"\nresults_dir = "out"\n')
    config = load_config(user)
    assert config["general"]["data_dir"] == str(tmp_path / "data")
    assert config["general"]["results_dir"] == str(folder / "out")


def test_dev_mode_turns_errors_into_warnings(tmp_path, caplog):
    user = _write(tmp_path / "dev.toml", '[general]\ndev_mode = true\n[train]\nepoch = 3\nepochs = "x"\n')
    with caplog.at_level(logging.WARNING, logger="hyrax"):
        config = load_config(user)
    messages = " ".join(record.getMessage() for record in caplog.records)
    assert "epoch" in messages and "dev_mode" in messages
    assert config["train"]["epoch"] == 3


def test_runtime_config_round_trip_keeps_comments_and_drops_secrets(tmp_path):
    manager = ConfigManager()
    manager.config["train"]["epochs"] = 4
    manager.config["download"]["password"] = "hunter2"
    manager.config["optimizer"]["kwargs"]["momentum"] = 0.5
    written = manager.write_runtime_config(tmp_path, header="test run")
    text = written.read_text()
    assert "hunter2" not in text
    assert "# [>= 1] Number of passes over the train split." in text
    again = load_config(written)
    assert again["train"]["epochs"] == 4
    assert again["optimizer"]["kwargs"]["momentum"] == 0.5
    assert again["download"]["password"] == ""
    assert again.to_dict()["general"] == manager.config.to_dict()["general"]


def test_read_toml_keeps_comments(tmp_path):
    path = _write(tmp_path / "c.toml", "# hello\n[a]\nb = 1  # the b\n")
    assert "# the b" in read_toml(path).as_string()


def test_config_error_is_a_value_error():
    assert issubclass(ConfigKeyError, ConfigError) and issubclass(ConfigKeyError, KeyError)
    assert issubclass(ConfigError, ValueError)


def test_a_plug_in_defined_at_run_time_adds_checked_keys_with_their_comments(tmp_path):
    manager = ConfigManager()
    manager.add_defaults(
        "[model.TinyNet]\n# [>= 1] Width of the hidden layer.\nhidden = 16\n", origin="a cell"
    )
    assert manager.config["model"]["TinyNet"]["hidden"] == 16
    manager.config["model"]["TinyNet"]["hidden"] = 32
    with pytest.raises(ConfigKeyError, match="Did you mean `hidden`"):
        manager.config["model"]["TinyNet"]["hiden"] = 3
    with pytest.raises(ConfigValueError, match=">= 1"):
        manager.config["model"]["TinyNet"]["hidden"] = 0
    with pytest.raises(ConfigParseError, match="a cell: line 1"):
        manager.add_defaults("[model.Broken\nx = 1", origin="a cell")
    written = manager.write_runtime_config(tmp_path).read_text()
    assert "# [>= 1] Width of the hidden layer.\nhidden = 32" in written


def test_defaults_added_after_a_run_reach_the_next_runtime_config(tmp_path):
    manager = ConfigManager()
    first = manager.write_runtime_config(tmp_path).read_text()
    assert "[model.LateNet]" not in first
    manager.add_defaults("[model.LateNet]\n# [>= 1] Depth of the net.\ndepth = 2\n", origin="a cell")
    second = manager.write_runtime_config(tmp_path).read_text()
    assert "# [>= 1] Depth of the net.\ndepth = 2" in second

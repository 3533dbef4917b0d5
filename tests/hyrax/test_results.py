import json
import re

import pytest

from hyrax.errors import ResultsNotFoundError
from hyrax.results import (
    COMPLETE_MARKER_NAME,
    create_results_dir,
    find_most_recent_results_dir,
    is_complete,
    list_results_dirs,
    mark_complete,
    resolve_input_dir,
)


def test_directory_name_format(tmp_path):
    directory = create_results_dir(tmp_path / "results", "train")
    assert re.fullmatch(r"\d{8}-\d{6}-train-[0-9a-f]{6}", directory.name)
    assert json.loads((directory / ".hyrax_run.json").read_text())["verb"] == "train"
    assert not is_complete(directory)


def test_directories_are_unique_within_one_second(tmp_path):
    made = {create_results_dir(tmp_path, "infer") for _ in range(50)}
    assert len(made) == 50


def test_most_recent_complete_directory_is_found(tmp_path):
    first = create_results_dir(tmp_path, "train")
    mark_complete(first)
    second = create_results_dir(tmp_path, "train")
    mark_complete(second)
    create_results_dir(tmp_path, "train")  # a newer run that never finished
    other = create_results_dir(tmp_path, "infer")
    mark_complete(other)
    assert find_most_recent_results_dir(tmp_path, "train") == second
    assert list_results_dirs(tmp_path, "train") == [first, second]


def test_no_complete_directory_says_so(tmp_path):
    create_results_dir(tmp_path, "infer")
    with pytest.raises(ResultsNotFoundError) as caught:
        find_most_recent_results_dir(tmp_path, "infer")
    message = str(caught.value)
    assert "1 infer run(s) there did not finish" in message and "hyrax infer" in message
    assert isinstance(caught.value, FileNotFoundError)


def test_named_input_directory_must_be_complete(tmp_path):
    directory = create_results_dir(tmp_path, "infer")
    with pytest.raises(ResultsNotFoundError, match="did not finish"):
        resolve_input_dir(str(directory), "infer", tmp_path)
    mark_complete(directory)
    assert (directory / COMPLETE_MARKER_NAME).is_file()
    assert resolve_input_dir(str(directory), "infer", tmp_path) == directory
    assert resolve_input_dir(False, "infer", tmp_path) == directory
    with pytest.raises(ResultsNotFoundError, match="does not exist"):
        resolve_input_dir(str(tmp_path / "missing"), "infer", tmp_path)

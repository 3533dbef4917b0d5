import inspect

import pytest

from hyrax import Hyrax


@pytest.fixture
def h(work_dir):
    return Hyrax()


def test_verbs_are_methods_with_their_docs_and_signature(h):
    assert "list" in dir(h)
    method = h.list
    assert "quiet" in inspect.signature(method).parameters
    assert "List the registered verbs" in method.__doc__
    listing = method(quiet=True)
    assert "list" in listing["verbs"]
    assert "HyraxRandomDataset" in listing["datasets"]
    assert set(listing["vector databases"]) == {"chromadb", "faiss"}
    assert {"hsc_das", "legacy_survey"} <= set(listing["download services"]) and "knn" in listing[
        "outlier methods"
    ]


def test_misspelled_verb_lists_the_verbs(h):
    with pytest.raises(AttributeError) as caught:
        h.lsit()
    assert "Did you mean `list`?" in str(caught.value) and "Verbs:" in str(caught.value)


def test_set_config_and_config_file(tmp_path, work_dir):
    user = tmp_path / "u.toml"
    user.write_text("[train]\nepochs = 7\n")
    h = Hyrax(config_file=user)
    assert h.config["train"]["epochs"] == 7
    h.set_config("train.epochs", 2)
    assert h.config["train"]["epochs"] == 2
    with pytest.raises(KeyError, match="epochs"):
        h.set_config("train.epoch", 2)


def test_list_helpers(h):
    assert "list" in h.list_verbs()
    assert isinstance(h.list_models(), list)
    assert "HyraxRandomDataset" in h.list_datasets()

import argparse

import pytest

from hyrax.config import ConfigManager
from hyrax.registry import VERB_REGISTRY
from hyrax.results import find_most_recent_results_dir, is_complete, list_results_dirs
from hyrax.verbs.base import Verb, hyrax_verb, parameter_docs


@pytest.fixture
def manager(work_dir):
    return ConfigManager()


@pytest.fixture
def echo_verb():
    @hyrax_verb("echo_test", force=True)
    class EchoVerb(Verb):
        """Echo options back."""

        def run(self, message: str = "hi", times: int = 1, loud: bool = False, fail: bool = False):
            """Echo.

            Parameters
            ----------
            message : str
                What to say.
            times : int
                How often.
            loud : bool
                Shout it.
            fail : bool
                Raise inside the results directory.
            """
            with self.results_directory() as directory:
                if fail:
                    raise RuntimeError("boom")
                text = (message.upper() if loud else message) * times
                (directory / "echo.txt").write_text(text)
            return text

    yield EchoVerb
    VERB_REGISTRY.unregister("echo_test")


def test_options_come_from_the_run_signature(echo_verb, manager):
    parser = argparse.ArgumentParser()
    echo_verb.setup_parser(parser)
    args = parser.parse_args(["--message", "ab", "--times", "2", "--loud"])
    assert echo_verb(manager).run_cli(args) == "ABAB"
    assert "How often." in parser.format_help()
    assert echo_verb(manager).run_cli(parser.parse_args([])) == "hi"


def test_results_directory_is_complete_after_success(echo_verb, manager):
    echo_verb(manager).run(message="x")
    directory = find_most_recent_results_dir(manager.config["general"]["results_dir"], "echo_test")
    assert (directory / "echo.txt").read_text() == "x"
    assert (directory / "runtime_config.toml").is_file()


def test_results_directory_is_not_complete_after_failure(echo_verb, manager):
    with pytest.raises(RuntimeError):
        echo_verb(manager).run(fail=True)
    [directory] = list_results_dirs(
        manager.config["general"]["results_dir"], "echo_test", complete_only=False
    )
    assert not is_complete(directory)


def test_function_verbs_are_allowed(manager):
    @hyrax_verb("double_test", force=True)
    def double(config, value: int = 2):
        """Double a number."""
        return value * 2 + config["train"]["epochs"] * 0

    try:
        verb_class = VERB_REGISTRY.get("double_test")
        assert verb_class.description() == "Double a number."
        parser = argparse.ArgumentParser()
        verb_class.setup_parser(parser)
        assert verb_class(manager).run_cli(parser.parse_args(["--value", "5"])) == 10
        assert list(verb_class.run_signature().parameters) == ["value"]
    finally:
        VERB_REGISTRY.unregister("double_test")


def test_decorating_a_non_verb_class_is_an_error():
    with pytest.raises(TypeError, match="must subclass Verb"):

        @hyrax_verb("bad_test")
        class NotAVerb:
            pass


def test_parameter_docs_reads_numpydoc():
    def f(a, b=1):
        """Do.

        Parameters
        ----------
        a : int
            First thing,
            on two lines.
        b : int
            Second.

        Returns
        -------
        int
        """

    assert parameter_docs(f) == {"a": "First thing, on two lines.", "b": "Second."}


def test_a_finished_run_ends_with_one_line_naming_its_results_and_the_next_verb(echo_verb, manager, caplog):
    echo_verb.next_step = "`hyrax shout` (louder)"
    try:
        with caplog.at_level("INFO", logger="hyrax"):
            echo_verb(manager).run(message="x")
    finally:
        echo_verb.next_step = ""
    directory = find_most_recent_results_dir(manager.config["general"]["results_dir"], "echo_test")
    last = caplog.records[-1].getMessage()
    assert last == f"hyrax echo_test finished; results in {directory}. Next, usually: `hyrax shout` (louder)."


def test_a_failed_run_has_no_closing_line(echo_verb, manager, caplog):
    with caplog.at_level("INFO", logger="hyrax"), pytest.raises(RuntimeError):
        echo_verb(manager).run(fail=True)
    assert not any("finished; results in" in record.getMessage() for record in caplog.records)


def test_the_chained_verbs_say_what_comes_next():
    for name in ("train", "infer", "umap", "save_to_database"):
        assert VERB_REGISTRY.get(name).next_step.startswith("`hyrax ")


def test_a_run_stopped_by_bad_input_before_writing_leaves_no_directory(manager):
    from hyrax.errors import DataError

    @hyrax_verb("bad_input_test", force=True)
    class BadInput(Verb):
        """Fail on input after the directory is made."""

        def run(self, write_first: bool = False):
            """Fail.

            Parameters
            ----------
            write_first : bool
                Write a result before failing.
            """
            with self.results_directory() as directory:
                if write_first:
                    (directory / "partial.npy").write_bytes(b"x")
                raise DataError("catalog not found")

    try:
        with pytest.raises(DataError):
            BadInput(manager).run()
        root = manager.config["general"]["results_dir"]
        assert list_results_dirs(root, "bad_input_test", complete_only=False) == []
        with pytest.raises(DataError):
            BadInput(manager).run(write_first=True)
        kept = list_results_dirs(root, "bad_input_test", complete_only=False)
        assert len(kept) == 1 and not is_complete(kept[0])
    finally:
        VERB_REGISTRY.unregister("bad_input_test")

import subprocess
import sys

import pytest

from hyrax_cli.main import main

HEAVY = ("torch", "chromadb", "umap", "mlflow", "holoviews", "bokeh", "astropy")


def _run(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "hyrax_cli.main", *args], capture_output=True, text=True, cwd=cwd, timeout=120
    )


def test_help_lists_every_verb_with_one_line():
    result = _run("--help")
    assert result.returncode == 0
    assert "list" in result.stdout and "List the registered verbs" in result.stdout


def test_version():
    from hyrax import __version__

    result = _run("--version")
    assert result.returncode == 0 and __version__ in result.stdout


def test_no_verb_is_a_usage_error(capsys):
    assert main([]) == 2
    assert "usage" in capsys.readouterr().err


def test_bad_option_is_a_usage_error():
    result = _run("list", "--no-such-option")
    assert result.returncode == 2 and "unrecognized arguments" in result.stderr


def test_runtime_error_is_one_message_without_traceback(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[train]\nepoch = 3\n")
    result = _run("list", "-c", str(bad))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "hyrax list: error:" in result.stderr and "`epochs`" in result.stderr and str(bad) in result.stderr


def test_debug_log_level_shows_the_traceback(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[general]\nlog_level = "debug"\n')
    result = _run("list", "-c", str(bad), "--set", "train.epochs='x'")
    assert result.returncode == 1
    assert "Traceback" in result.stderr


def test_set_parses_toml_values():
    from hyrax_cli.main import _parse_assignment

    assert _parse_assignment("train.amp=false") == ("train.amp", False)
    assert _parse_assignment("train.epochs = 3") == ("train.epochs", 3)
    assert _parse_assignment("data_set.crop_to=[8, 8]") == ("data_set.crop_to", [8, 8])
    assert _parse_assignment("general.data_dir=/tmp/x") == ("general.data_dir", "/tmp/x")


def test_set_overrides_a_key(tmp_path, capsys):
    assert main(["list", "--quiet", "--set", "train.epochs=3"]) == 0
    assert main(["list", "--set", "train.epochs='x'"]) == 1
    assert "'train.epochs' key must be an integer" in capsys.readouterr().err


@pytest.mark.parametrize("code", ["import hyrax", "import hyrax_cli.main as m; m.build_parser()"])
def test_start_up_imports_nothing_heavy(code):
    probe = f"{code}\nimport sys\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_only_an_unexpected_error_suggests_the_debug_traceback(capsys):
    from hyrax.registry import VERB_REGISTRY
    from hyrax.verbs.base import hyrax_verb

    @hyrax_verb("explode_test", force=True)
    def explode_test(config):
        """Fail the way a bug would."""
        raise RuntimeError("unexpected")

    try:
        assert main(["explode_test"]) == 1
        err = capsys.readouterr().err
        assert "RuntimeError: unexpected" in err and 'log_level = "debug"' in err
        assert main(["list", "--set", "train.epochs=0"]) == 1
        err = capsys.readouterr().err
        assert "'train.epochs'" in err and "log_level" not in err
    finally:
        VERB_REGISTRY.unregister("explode_test")


def test_the_debug_traceback_masks_url_credentials(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text(
        '[general]\nlog_level = "debug"\n[vector_db]\nserver_url = "http://ann:pw-6a1c@127.0.0.1:9"\n'
    )
    result = _run("lookup", "-c", str(config), "--id", "x", cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "http://***@127.0.0.1:9" in result.stderr
    assert "pw-6a1c" not in result.stderr

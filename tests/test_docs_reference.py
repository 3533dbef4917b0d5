"""The generated reference pages (``docs/_ext/hyrax_reference.py``) and the documentation build."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import tomlkit

from hyrax.config.manager import DEFAULT_CONFIG_PATH
from hyrax.registry import VERB_REGISTRY
from notebook_runs import NOTEBOOKS

REPO_ROOT = Path(__file__).resolve().parent.parent
DOCS_DIR = REPO_ROOT / "docs"
EXTENSION = DOCS_DIR / "_ext" / "hyrax_reference.py"
NOTEBOOK_EXTENSION = DOCS_DIR / "_ext" / "hyrax_notebooks.py"
_HEADING = re.compile(r"^#{2,} `\[(?P<table>[^\]]+)\]`$")
_CELL_SPLIT = re.compile(r"(?<!\\)\|")


def _load_extension(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def reference():
    return _load_extension(EXTENSION)


@pytest.fixture(scope="module")
def notebook_pages():
    return _load_extension(NOTEBOOK_EXTENSION)


@pytest.fixture(scope="module")
def generated(reference, tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("reference")
    stale = out_dir / "verbs" / "no_such_verb.md"
    stale.parent.mkdir()
    stale.write_text("# left over from a verb that was removed\n")
    reference.generate(out_dir)
    return out_dir


def _default_tables() -> dict[str, dict]:
    """Every table of the default configuration file (read plainly, not through hyrax.config.schema)."""
    tables: dict[str, dict] = {}

    def walk(values: dict, prefix: str) -> None:
        for name, value in values.items():
            if isinstance(value, dict):
                dotted = f"{prefix}.{name}" if prefix else name
                tables[dotted] = {key: item for key, item in value.items() if not isinstance(item, dict)}
                walk(value, dotted)

    walk(tomlkit.parse(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8")).unwrap(), "")
    return tables


def _parse_reference(text: str) -> dict[str, dict[str, list[str]]]:
    """``{table: {key: [cells]}}`` from the key tables of the configuration reference."""
    rows: dict[str, dict[str, list[str]]] = {}
    table = None
    for line in text.splitlines():
        heading = _HEADING.match(line)
        if heading:
            table = heading["table"]
            rows[table] = {}
        elif table and line.startswith("| `"):
            cells = [cell.strip().replace("\\|", "|") for cell in _CELL_SPLIT.split(line)[1:-1]]
            rows[table][cells[0].strip("`")] = cells
    return rows


def _toml(cell: str):
    """The value of a ``"`default`"`` cell."""
    return tomlkit.parse(f"value = {cell.strip('`').strip()}").unwrap()["value"]


def test_configuration_reference_lists_every_table_and_key_with_its_default(generated):
    rows = _parse_reference((generated / "configuration.md").read_text(encoding="utf-8"))
    expected = _default_tables()

    assert list(rows) == list(expected)
    for table, keys in expected.items():
        assert list(rows[table]) == list(keys), f"[{table}]"
        for key, default in keys.items():
            key_cell, default_cell, allowed, description = rows[table][key]
            assert _toml(default_cell) == default, f"{table}.{key}: {default_cell}"
            assert allowed, f"{table}.{key} has no allowed values"
            assert "#" not in description.replace("\\#", ""), f"{table}.{key}: {description}"
    assert "**secret**" in rows["download"]["password"][2]
    assert "**secret**" not in rows["download"]["username"][2]
    assert rows["train"]["epochs"][2] == "an integer \\>= 1"
    assert '`"debug"`' in rows["general"]["log_level"][2]


def test_every_verb_has_a_page_with_its_command_and_python_call(reference, generated):
    names = VERB_REGISTRY.names()
    pages = {path.stem for path in (generated / "verbs").glob("*.md")}

    assert pages == {*names, "index"}  # the page of a verb that no longer exists is removed
    index = (generated / "verbs" / "index.md").read_text(encoding="utf-8")
    for name in names:
        page = (generated / "verbs" / f"{name}.md").read_text(encoding="utf-8")
        assert f"hyrax {name} -c config.toml" in page
        assert f"usage: hyrax {name} " in page  # the verb's own --help
        assert f"h.{name}(" in page
        assert "## Example" in page and (name in reference.EXAMPLES or name in reference.GUIDES)
        assert f"\n{name}\n" in index  # in the toctree
    lookup = (generated / "verbs" / "lookup.md").read_text(encoding="utf-8")
    assert "| `--id ID` | Required." in lookup
    assert "`numpy.ndarray`" in lookup  # the Returns section of Lookup.run
    assert "<config-vector_db>" in lookup


def test_generation_rewrites_only_changed_pages(reference, generated):
    page = generated / "configuration.md"
    before = page.stat().st_mtime_ns
    time.sleep(0.01)
    reference.generate(generated)
    assert page.stat().st_mtime_ns == before


def test_notebook_copies_are_rewritten_only_when_changed(notebook_pages, tmp_path):
    source, target = tmp_path / "source", tmp_path / "target"
    source.mkdir()
    for name in ("same", "changed", "removed"):
        (source / f"{name}.ipynb").write_text("{}")
    notebook_pages.copy_notebooks(source, target)
    unchanged = (target / "same.ipynb").stat().st_mtime_ns
    (source / "changed.ipynb").write_text('{"cells": []}')
    (source / "removed.ipynb").unlink()
    (source / "added.ipynb").write_text("{}")

    copies = notebook_pages.copy_notebooks(source, target)

    names = ["added.ipynb", "changed.ipynb", "same.ipynb"]
    assert [path.name for path in copies] == names
    assert sorted(path.name for path in target.glob("*.ipynb")) == names
    assert (target / "same.ipynb").stat().st_mtime_ns == unchanged
    assert (target / "changed.ipynb").read_text() == '{"cells": []}'


def test_the_hsc_sample_is_found_above_the_docs_or_by_its_variable(notebook_pages, tmp_path, monkeypatch):
    sample = tmp_path / "shared" / "data" / "hsc_sample"
    sample.mkdir(parents=True)
    (sample / notebook_pages.HSC_SAMPLE_CATALOG).write_text("")
    docs = tmp_path / "repo" / "docs"
    docs.mkdir(parents=True)
    monkeypatch.delenv(notebook_pages.HSC_SAMPLE_ENV, raising=False)
    assert notebook_pages.find_hsc_sample(docs) == sample.resolve()
    monkeypatch.setenv(notebook_pages.HSC_SAMPLE_ENV, str(tmp_path / "elsewhere"))
    assert notebook_pages.find_hsc_sample(docs) is None
    monkeypatch.setenv(notebook_pages.HSC_SAMPLE_ENV, str(sample))
    assert notebook_pages.find_hsc_sample(tmp_path / "unrelated") == sample.resolve()


def test_docs_build_without_warnings(tmp_path, notebook_runs):
    for module in ("sphinx", "myst_nb", "sphinx_rtd_theme"):
        pytest.importorskip(module)
    # The notebooks as the notebook tests ran them, rendered with their outputs rather than run again.
    executed = notebook_runs.run_all()
    source = tmp_path / "docs"
    shutil.copytree(
        DOCS_DIR, source, ignore=shutil.ignore_patterns("_build", "reference", "notebooks", "jupyter_execute")
    )
    no_execution = ["-D", "nb_execution_mode=off", "-D", f"hyrax_notebooks_dir={executed}"]
    command = [sys.executable, "-m", "sphinx", "-q", "-W", "-b", "html", *no_execution]
    started = time.perf_counter()
    result = subprocess.run(
        [*command, str(source), str(tmp_path / "html")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    seconds = time.perf_counter() - started
    assert result.returncode == 0, f"sphinx-build failed after {seconds:.1f} s:\n{result.stderr}"
    assert (tmp_path / "html" / "reference" / "configuration.html").is_file()
    assert (tmp_path / "html" / "reference" / "verbs" / "train.html").is_file()
    index = (tmp_path / "html" / "index.html").read_text(encoding="utf-8")
    for notebook in NOTEBOOKS:
        run = notebook_runs.run(notebook)
        page = (tmp_path / "html" / "notebooks" / f"{notebook.stem}.html").read_text(encoding="utf-8")
        assert f'href="notebooks/{notebook.stem}.html"' in index
        if not (run.skipped or run.error):
            assert 'class="output' in page, f"{notebook.name} is rendered without its outputs"


def test_the_data_page_lists_every_built_in_dataset():
    from hyrax.registry import DATA_SET_REGISTRY

    page = (DOCS_DIR / "data.md").read_text(encoding="utf-8")
    built_in = [
        name
        for name in DATA_SET_REGISTRY.names()
        if DATA_SET_REGISTRY.get(name).__module__.startswith("hyrax.")
    ]
    missing = [name for name in built_in if f"| `{name}` |" not in page]
    assert built_in and not missing, f"docs/data.md's table of built-in datasets lacks {missing}"

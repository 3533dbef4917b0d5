"""Sphinx extension: the example notebooks as pages of the documentation, with their outputs.

Sphinx reads only files inside the documentation folder, so on ``config-inited`` this copies every
``*.ipynb`` of the notebook folder into ``docs/notebooks/`` (ignored by git), where myst-nb renders
them. The notebook folder is ``example_notebooks/`` beside ``docs/``, or the ``hyrax_notebooks_dir``
setting (``-D hyrax_notebooks_dir=...``).

The committed notebooks have no outputs, so myst-nb executes them while it reads them, each in a
temporary folder (``nb_execution_*`` in ``conf.py``). The test suite executes every notebook anyway;
it then builds the documentation from those executed copies with ``-D nb_execution_mode=off``, so
that no notebook runs twice.

A notebook whose metadata holds ``"hyrax": {"requires_hsc_sample": true}`` reads the real HSC sample,
which ships beside the repository (``shared/data/hsc_sample``) rather than in it. Its kernels run in a
temporary folder, out of reach of the notebook's own search upwards from the working directory, so
the sample found from the documentation folder is handed to them in ``HYRAX_HSC_SAMPLE``. Where there
is no sample, such a notebook is rendered without executing it.

Only copies whose bytes changed are rewritten, so an incremental build re-reads (and re-executes)
only the notebooks that changed; copies of notebooks that no longer exist are removed.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

GENERATED_DIR = "notebooks"
"""Folder, relative to the documentation source folder, the notebooks are copied into."""

HSC_SAMPLE_ENV = "HYRAX_HSC_SAMPLE"
HSC_SAMPLE_SUBDIR = Path("shared") / "data" / "hsc_sample"
HSC_SAMPLE_CATALOG = "star_cat_correct.fits"


def copy_notebooks(source: Path, target: Path) -> list[Path]:
    """Copy ``source/*.ipynb`` into ``target``, rewriting only changed files; return the copies."""
    target.mkdir(parents=True, exist_ok=True)
    copies = []
    for notebook in sorted(source.glob("*.ipynb")):
        copy = target / notebook.name
        if not copy.is_file() or copy.read_bytes() != notebook.read_bytes():
            shutil.copyfile(notebook, copy)
        copies.append(copy)
    for stale in target.glob("*.ipynb"):
        if stale not in copies:
            stale.unlink()
    return copies


def requires_hsc_sample(notebook: Path) -> bool:
    """Whether the notebook's metadata says it reads the real HSC sample."""
    metadata = json.loads(notebook.read_text(encoding="utf-8")).get("metadata", {})
    return bool(metadata.get("hyrax", {}).get("requires_hsc_sample"))


def find_hsc_sample(start: Path) -> Path | None:
    """``$HYRAX_HSC_SAMPLE``, else ``shared/data/hsc_sample`` in ``start`` or a folder above it."""
    if os.environ.get(HSC_SAMPLE_ENV):
        candidates = [Path(os.environ[HSC_SAMPLE_ENV])]
    else:
        start = start.resolve()
        candidates = [folder / HSC_SAMPLE_SUBDIR for folder in (start, *start.parents)]
    return next((folder.resolve() for folder in candidates if (folder / HSC_SAMPLE_CATALOG).is_file()), None)


def _on_config_inited(app: Any, config: Any) -> None:
    from hyrax.process import set_library_environment

    # Kernels inherit this process's environment: no telemetry, and umap's compiled code cached.
    set_library_environment()
    source = Path(config.hyrax_notebooks_dir or Path(app.confdir).parent / "example_notebooks")
    copies = copy_notebooks(source, Path(app.srcdir) / GENERATED_DIR)
    needing_sample = [copy for copy in copies if requires_hsc_sample(copy)]
    if not needing_sample:
        return
    sample = find_hsc_sample(Path(app.confdir))
    if sample is not None:
        os.environ[HSC_SAMPLE_ENV] = str(sample)
        return
    from sphinx.util import logging

    if os.environ.get(HSC_SAMPLE_ENV):
        why = f"{HSC_SAMPLE_ENV} is {os.environ[HSC_SAMPLE_ENV]}, which holds no {HSC_SAMPLE_CATALOG}"
    else:
        why = f"there is no {HSC_SAMPLE_SUBDIR} in {app.confdir} or above it, and {HSC_SAMPLE_ENV} is unset"
    config.nb_execution_excludepatterns = [
        *config.nb_execution_excludepatterns,
        *(f"{GENERATED_DIR}/{copy.name}" for copy in needing_sample),
    ]
    for copy in needing_sample:
        logging.getLogger(__name__).info(
            "%s reads the HSC sample, which is absent (%s); it is rendered without outputs.", copy.name, why
        )


def setup(app: Any) -> dict[str, Any]:
    """Register the notebook copier with Sphinx."""
    app.add_config_value("hyrax_notebooks_dir", "", "env", [str])
    app.connect("config-inited", _on_config_inited)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}

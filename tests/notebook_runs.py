"""Each example notebook executed once per test run, for the tests that check it and the docs build.

``tests/test_notebooks.py`` checks what each notebook did; ``tests/test_docs_reference.py`` renders
the executed copies into the documentation with execution off, so that no notebook runs twice. Under
pytest-xdist the runs live in the folder all workers of the run share: a file lock per notebook makes
the first worker that asks for it run it, and any other wait for that run and read it.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import nbformat

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "example_notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
TIMEOUT = 600
"""Seconds one cell may take."""


@dataclass(frozen=True)
class NotebookRun:
    """One notebook's run.

    Attributes
    ----------
    executed : Path
        The notebook with its outputs, up to the failing cell when one failed; the committed notebook
        when it was skipped.
    work_dir : Path
        The folder it ran in, which holds its ``./results``.
    error : str
        Why the run failed, or ``""``.
    skipped : str
        Why the notebook was not run, or ``""``.
    """

    executed: Path
    work_dir: Path
    error: str = ""
    skipped: str = ""

    def notebook(self) -> nbformat.NotebookNode:
        return nbformat.read(self.executed, as_version=4)


def needs_hsc_sample(path: Path) -> bool:
    """Whether the notebook's metadata says it reads the real HSC sample."""
    return bool(nbformat.read(path, as_version=4).metadata.get("hyrax", {}).get("requires_hsc_sample"))


class NotebookRuns:
    """Runs notebooks into ``root``, each at most once, whichever process asks first.

    Parameters
    ----------
    root : Path
        A folder every process of the test run sees.
    hsc_sample : Path
        The real HSC sample; notebooks that need it are skipped when it is absent.
    """

    def __init__(self, root: Path, hsc_sample: Path):
        self.root = root
        self.hsc_sample = hsc_sample
        self.executed_dir = root / "executed"

    def run(self, source: Path) -> NotebookRun:
        """The run of notebook ``source``, running it first if no process has."""
        from filelock import FileLock

        self.executed_dir.mkdir(parents=True, exist_ok=True)
        status = self.root / f"{source.stem}.json"
        with FileLock(self.root / f"{source.stem}.lock"):
            if not status.is_file():
                run = self._execute(source)
                status.write_text(json.dumps({"error": run.error, "skipped": run.skipped}))
        outcome = json.loads(status.read_text())
        return NotebookRun(
            self.executed_dir / source.name, self.root / source.stem, outcome["error"], outcome["skipped"]
        )

    def run_all(self) -> Path:
        """Run every notebook; return the folder of their executed copies."""
        for source in NOTEBOOKS:
            self.run(source)
        return self.executed_dir

    def _execute(self, source: Path) -> NotebookRun:
        from nbclient import NotebookClient
        from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

        work_dir = self.root / source.stem
        work_dir.mkdir(parents=True, exist_ok=True)
        executed = self.executed_dir / source.name
        env = dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true")
        if needs_hsc_sample(source):
            if not (self.hsc_sample / "images").is_dir():
                shutil.copyfile(source, executed)
                reason = f"the real HSC sample is not at {self.hsc_sample} (it ships beside the repository)"
                return NotebookRun(executed, work_dir, skipped=reason)
            # The notebook runs in a temporary folder, so its search upwards would not find the sample.
            env["HYRAX_HSC_SAMPLE"] = str(self.hsc_sample)
        notebook = nbformat.read(source, as_version=4)
        client = NotebookClient(
            notebook, timeout=TIMEOUT, kernel_name="python3", resources={"metadata": {"path": str(work_dir)}}
        )
        error = ""
        try:
            client.execute(env=env)
        except (CellExecutionError, CellTimeoutError, DeadKernelError) as failure:
            error = f"{type(failure).__name__}: {failure}"
        nbformat.write(notebook, executed)
        return NotebookRun(executed, work_dir, error=error)

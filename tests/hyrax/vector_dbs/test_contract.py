"""The contract every vector database backend keeps, run over every registered backend.

The checks live in :func:`hyrax.testing.check_vector_db`, which third-party backends run too; this
file runs it over Hyrax's own. ``VARIANTS`` adds constructor options that drive a backend through
another code path (FAISS's IVF index instead of exact search) at test sizes. The tests below it are
about the backends as a family, not about one backend's behaviour.
"""

import subprocess
import sys

import pytest

from hyrax.registry import VECTOR_DB_REGISTRY
from hyrax.testing import check_vector_db
from hyrax.vector_dbs.base import MissingDependencyError

VARIANTS = {"faiss-ivf": ("faiss", {"exact_limit": 200})}
BACKENDS = {
    name: (name, {})
    for name in VECTOR_DB_REGISTRY.names()
    if VECTOR_DB_REGISTRY.get(name).__module__.startswith("hyrax.")
} | VARIANTS


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_backend_keeps_the_contract(backend, tmp_path):
    name, options = BACKENDS[backend]
    try:
        check_vector_db(name, tmp_path, **options)
    except MissingDependencyError as error:
        pytest.skip(str(error))


def test_backend_modules_import_without_their_libraries():
    code = (
        "import sys, hyrax.registry as r; r.VECTOR_DB_REGISTRY.names(); "
        "print(sorted(m for m in ('chromadb', 'faiss', 'torch') if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"


def test_a_backend_missing_methods_is_refused_when_defined():
    from hyrax.vector_dbs.base import VectorDB

    class _Partial(VectorDB):
        registry_name = None  # an abstract intermediate class is allowed and not registered

    with pytest.raises(TypeError, match="must implement _close, _count, _get"):

        class Incomplete(_Partial):
            registry_name = "incomplete"

            def _open(self):
                return None

    assert "incomplete" not in VECTOR_DB_REGISTRY

#!/usr/bin/env bash
# Sets up a development environment in .venv: the CPU build of torch, hyrax with its dev extra, and
# the pre-commit hooks. Uses uv when it can (about ten times faster than pip), plain pip otherwise.
#   HYRAX_USE_PIP=1 bash .setup_dev.sh   forces plain pip.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

PYTHON=${PYTHON:-python3}
TORCH_SPEC="torch==2.13.0"
VENV_PY=.venv/bin/python

[ -x "$VENV_PY" ] || "$PYTHON" -m venv .venv

# uv ignores pip's configuration, so hand it the find-links folders pip is configured with (where a
# CPU build of torch may wait), and never let it pick a newer CUDA torch on its own.
find_links=()
while IFS= read -r folder; do
    [ -n "$folder" ] && find_links+=(--find-links "$folder")
done < <("$VENV_PY" -m pip config list 2>/dev/null | sed -n "s/^[^=]*find-links='\(.*\)'$/\1/p" | tr ' ' '\n' | sort -u)

install() {
    if [ -n "${UV:-}" ]; then
        # Byte-compiled at install, or every run where bytecode is not written compiles thousands of files.
        "$UV" pip install --compile-bytecode --python "$VENV_PY" "${find_links[@]}" "$@"
    else
        "$VENV_PY" -m pip install --quiet "$@"
    fi
}

UV=""
if [ -z "${HYRAX_USE_PIP:-}" ]; then
    if command -v uv >/dev/null 2>&1; then
        UV=$(command -v uv)
    elif "$VENV_PY" -m pip install --quiet uv >/dev/null 2>&1; then
        UV=.venv/bin/uv
    fi
fi

echo "== Installing $TORCH_SPEC (CPU build where one is available) ${UV:+with uv}"
install "$TORCH_SPEC"
echo "== Installing hyrax with its dev extra"
install -e ".[dev]"

"$VENV_PY" -m compileall -q src >/dev/null
# umap's numba code compiles once into the per-user cache, so that no `hyrax umap` waits for it.
echo "== Compiling umap's numba code into $("$VENV_PY" -c 'from hyrax.process import numba_cache_dir as d; print(d())')"
"$VENV_PY" -W ignore -c "from hyrax.inference.umap_reducer import warm_numba_cache; warm_numba_cache()"

if [ -d .git ] || git rev-parse --git-dir >/dev/null 2>&1; then
    .venv/bin/pre-commit install --install-hooks >/dev/null
fi
echo "== Ready: $(.venv/bin/hyrax --version)"

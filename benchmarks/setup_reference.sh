#!/usr/bin/env bash
# Builds benchmarks/.reference-venv with the reference implementation (hyrax 0.13 from PyPI) and the
# same CPU torch, for the benchmarks that compare against it (startup.py).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
VENV=.reference-venv
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
find_links=()
while IFS= read -r folder; do
    [ -n "$folder" ] && find_links+=(--find-links "$folder")
done < <("$VENV/bin/python" -m pip config list 2>/dev/null | sed -n "s/^[^=]*find-links='\(.*\)'$/\1/p" | sort -u)
"$VENV/bin/python" -m pip install --quiet uv
"$VENV/bin/uv" pip install --python "$VENV/bin/python" "${find_links[@]}" torch==2.13.0
"$VENV/bin/uv" pip install --python "$VENV/bin/python" "${find_links[@]}" "hyrax==0.13" "torch==2.13.0"
echo "reference ready: $VENV/bin/hyrax"

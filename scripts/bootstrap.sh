# Sourced by ./run and ./test: a virtualenv in .venv with the pinned requirements.
# Usage: source scripts/bootstrap.sh [requirements file]
set -euo pipefail
_requirements="${1:-requirements.txt}"

_python=""
for candidate in python3.11 python3 python; do
  if command -v "$candidate" >/dev/null 2>&1 &&
     "$candidate" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' 2>/dev/null; then
    _python="$candidate"; break
  fi
done
if [ -z "$_python" ]; then
  echo "Takedown needs Python 3.11 (python3.11 or python3 on PATH)." >&2
  exit 1
fi

if [ ! -x .venv/bin/python ]; then
  echo "Creating .venv with $($_python --version)" >&2
  "$_python" -m venv .venv
fi
# Install only when the requirements changed since the last install.
_stamp=".venv/.installed-$(basename "$_requirements")"
_digest="$(cat requirements*.txt | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$_stamp" 2>/dev/null)" != "$_digest" ]; then
  echo "Installing $_requirements into .venv (a minute the first time)" >&2
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$_requirements"
  echo "$_digest" > "$_stamp"
fi
export PATH="$PWD/.venv/bin:$PATH"
export PYTHONUNBUFFERED=1

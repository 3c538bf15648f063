#!/usr/bin/env bash
# Create the Aegra venv (Python >= 3.12, separate from the project's 3.11+ .venv) and install
# aegra-api + aegra-cli + this project into it. Idempotent: a stamp file skips a finished install.
# Usage: deploy/aegra/install.sh [VENV_DIR]   (default: .venv-aegra in the project root)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
VENV="${1:-${AEGRA_VENV:-$ROOT/.venv-aegra}}"
AEGRA_VERSION="${AEGRA_VERSION:-0.11.0}"
STAMP="$VENV/.installed-aegra-$AEGRA_VERSION"

if [[ -f "$STAMP" && "$STAMP" -nt "$ROOT/pyproject.toml" ]]; then
  exit 0
fi

find_python() {
  # An explicit interpreter wins; then python3.12+ on PATH (a pyenv shim only counts if it runs);
  # then pyenv's install directory directly.
  local candidate
  for candidate in "${AEGRA_PYTHON:-}" python3.12 python3.13 \
                   "$HOME"/.pyenv/versions/3.12*/bin/python3.12 "$HOME"/.pyenv/versions/3.13*/bin/python3.13 \
                   /root/.pyenv/versions/3.12*/bin/python3.12 /root/.pyenv/versions/3.13*/bin/python3.13; do
    [[ -z "$candidate" ]] && continue
    if "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1; then
      command -v "$candidate" 2>/dev/null || echo "$candidate"
      return 0
    fi
  done
  return 1
}

if [[ ! -x "$VENV/bin/python" ]]; then
  PY="$(find_python)" || {
    echo "error: Aegra needs Python >= 3.12 and none was found: install python3.12 or set AEGRA_PYTHON=/path/to/python3.12" >&2
    exit 2
  }
  echo "Creating the Aegra venv at $VENV with $PY"
  "$PY" -m venv "$VENV"
fi
started=$(date +%s)
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet "aegra-api==$AEGRA_VERSION" "aegra-cli==$AEGRA_VERSION" -e "$ROOT[postgres]"
rm -f "$VENV"/.installed-aegra-*
touch "$STAMP"
echo "Aegra $AEGRA_VERSION installed in $VENV in $(( $(date +%s) - started ))s"

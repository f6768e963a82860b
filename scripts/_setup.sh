# Shared set-up for scripts/demo.sh and scripts/test.sh: a project-local virtualenv with
# pinned dependencies. Sourced, not run. Re-running is cheap: pip skips what is installed.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${CLARITYQ_VENV:-$REPO/.venv}"
EXTRAS="${1:-emulator}"

step() { printf '\033[1m==> %s\033[0m\n' "$*"; }

pick_python() {
  for candidate in "${PYTHON:-}" python3 python3.12 python3.11 python3.10 python3.13; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  echo "error: Python >= 3.10 is required (set PYTHON=/path/to/python3.x)" >&2
  return 1
}

if [ ! -x "$VENV/bin/python" ]; then
  PY="$(pick_python)"
  step "Creating virtualenv $VENV with $($PY --version)"
  "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip setuptools wheel
fi

step "Installing clarityq-emulator and airflow-provider-clarityq[$EXTRAS] (pinned by constraints.txt)"
# One pip run: the provider's emulator extra is satisfied by the emulator distribution in ./emulator.
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
  -c "$REPO/constraints.txt" -e "$REPO/emulator" -e "$REPO[$EXTRAS]"

export PATH="$VENV/bin:$PATH"
# The Alibaba SDK applies proxy variables even to loopback addresses; the emulator is local.
unset HTTP_PROXY HTTPS_PROXY ALL_PROXY http_proxy https_proxy all_proxy

#!/usr/bin/env bash
# The whole suite: lint, format, type check, import contracts, unit + integration tests, docs.
# Usage: bash scripts/test.sh [extra pytest args]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_setup.sh" test
cd "$REPO"

step "ruff check";            ruff check .
step "ruff format --check";   ruff format --check .
step "mypy (strict)";         mypy
step "import contracts";      lint-imports
step "pytest";                python -m pytest "$@"
step "docs (mkdocs --strict)"; mkdocs build --strict --quiet --site-dir "$(mktemp -d)"
step "all checks passed"

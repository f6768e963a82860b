#!/usr/bin/env bash
# The main job on the embedded emulator: provision ClarityQ's access, check its health, sync.
# Re-runnable: state lives in .clarityq/ (delete it to start from an empty project).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_setup.sh" emulator,report
cd "$REPO"
exec python scripts/demo.py "$@"

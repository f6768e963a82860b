#!/usr/bin/env bash
# End to end on a real Airflow deployment: PostgreSQL, api-server, scheduler, dag-processor and triggerer
# as separate processes (LocalExecutor; --celery adds Redis and a Celery worker), the emulator as its own
# process, the UI in headless Chromium. Prints "N passed, M failed"; exits 0 only when M is 0.
# Usage: bash scripts/e2e.sh [--celery] [--gates N] [--keep] [--workdir DIR] [--screenshots DIR]
set -euo pipefail

DEBIAN_PACKAGES=(postgresql chromium chromium-driver redis-server)

missing=()
for package in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    printf '\033[1m==> %s\033[0m\n' "Installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "error: install these Debian packages first (as root): ${missing[*]}" >&2
    exit 2
  fi
fi

# The project's virtualenv with the e2e extra: PostgreSQL drivers, the Celery executor, Selenium.
source "$(dirname "${BASH_SOURCE[0]}")/_setup.sh" e2e
cd "$REPO"
step "End-to-end run on a real Airflow deployment"
exec python tests/e2e/run.py "$@"

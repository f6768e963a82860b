"""Render the pages shown in docs/history.md and photograph them with headless Chromium into docs/img/.

    .venv/bin/python scripts/screenshots.py [--out docs/img] [--chromium chromium]

Pages: the health report of 30 synthetic nights (tests/history_nights.py: failures, recoveries, drift, a key
rotation), the same history on a night the check failed, and an access plan as a readable diff. Chromium
runs headless with a fresh profile and no network features; the pages load nothing anyway.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from history_nights import PRINCIPAL, PROJECT, nights  # noqa: E402

from airflow_provider_clarityq.core.grants.model import Grantee, ObjectRef, ProjectAction, TableAction  # noqa: E402
from airflow_provider_clarityq.core.grants.plan import Plan  # noqa: E402
from airflow_provider_clarityq.core.grants.plan_diff import plan_diff  # noqa: E402
from airflow_provider_clarityq.core.grants.steps import AddUser, CreateRole, GrantActions, GrantRole, RevokeActions  # noqa: E402
from airflow_provider_clarityq.core.history.html import render_health_html  # noqa: E402
from airflow_provider_clarityq.core.history.store import ReportSource, SQLiteHistoryStore  # noqa: E402
from airflow_provider_clarityq.core.identifiers import parse_principal  # noqa: E402

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def sample_plan() -> dict[str, object]:
    principal = parse_principal(PRINCIPAL)
    reader = Grantee.role("clarityq_reader")
    steps = [
        AddUser(project=PROJECT, principal=principal, reason=f"the RAM user is not a member of project {PROJECT}"),
        CreateRole(project=PROJECT, role="clarityq_reader", reason="role clarityq_reader does not exist"),
        GrantActions(
            project=PROJECT,
            grantee=reader,
            object=ObjectRef.for_project(PROJECT),
            actions=(ProjectAction.CREATE_INSTANCE, ProjectAction.LIST),
            reason=f"the spec grants CreateInstance, List on projects/{PROJECT} to role clarityq_reader",
        ),
        GrantActions(
            project=PROJECT,
            grantee=reader,
            object=ObjectRef.for_table(PROJECT, "*"),
            actions=(TableAction.DESCRIBE, TableAction.SELECT),
            reason=f"the spec grants Describe, Select on projects/{PROJECT}/tables/* to role clarityq_reader",
        ),
        GrantRole(project=PROJECT, role="clarityq_reader", principal=principal, reason="the user lacks the role"),
        RevokeActions(
            project=PROJECT,
            grantee=reader,
            object=ObjectRef.for_table(PROJECT, "orders"),
            actions=(TableAction.UPDATE,),
            reason="role clarityq_reader holds Update on orders beyond the spec",
        ),
    ]
    steps.sort(key=lambda step: step.phase)
    return Plan(mode="sync", principal=PRINCIPAL, steps=tuple(steps)).to_dict()


def pages(directory: Path) -> dict[str, tuple[Path, int]]:
    """file name of the screenshot -> (page, window height)."""
    store = SQLiteHistoryStore(directory / "history.sqlite3", retention_days=3650)
    written = nights(30)
    for night in written:
        source = ReportSource("clarityq_connection_health", "check_connection", f"scheduled__{night.index}", 1, -1)
        store.append("clarityq_reader", night.report, source=source, now=night.at)
    stored = store.reports("clarityq_reader")
    month = directory / "month.html"
    month.write_text(render_health_html(stored, conn_id="clarityq_reader", generated_at=written[-1].at))
    failing = directory / "failing.html"
    failing.write_text(render_health_html(stored[:11], conn_id="clarityq_reader", generated_at=written[10].at))
    plan = directory / "plan.html"
    plan.write_text(plan_diff(sample_plan()).to_html())
    return {
        "health-report-30-nights.png": (month, 2250),
        "health-report-failing-night.png": (failing, 1120),
        "access-plan-diff.png": (plan, 820),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "img")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "chromium")
    parser.add_argument("--width", type=int, default=1280)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="clarityq-shots-") as tmp:
        for name, (page, height) in pages(Path(tmp)).items():
            profile = Path(tmp) / f"profile-{name}"
            command = [
                args.chromium,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                f"--window-size={args.width},{height}",
                f"--screenshot={args.out / name}",
                page.as_uri(),
            ]
            subprocess.run(command, check=True, capture_output=True, timeout=120)
            print(args.out / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The README's main job, end to end: ``scripts/demo.py`` on the embedded emulator, run twice."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parent.parent


def _demo(state_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env["CLARITYQ_DEMO_DIR"] = str(state_dir)
    return subprocess.run(
        [sys.executable, str(REPO / "scripts" / "demo.py")],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
        cwd=REPO,
    )


def test_demo_provisions_checks_and_syncs_then_reruns_with_no_changes(tmp_path: Path) -> None:
    first = _demo(tmp_path)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    out = first.stdout
    assert "RAM user clarityq: created" in out
    assert "GRANT CreateInstance, List ON PROJECT clarityq_demo TO ROLE clarityq_reader" in out
    assert "5 change(s) applied" in out
    assert "AccessKey of clarityq: created" in out
    assert "ClarityQ health: HEALTHY" in out
    (page,) = re.findall(r"==> Health report: (\S+\.html)", out)
    assert out.rstrip().endswith(page + "\x1b[0m")  # the demo ends with it
    html = Path(page).read_text()
    assert "ClarityQ health: clarityq_reader" in html and html.count("<svg") >= 2
    (output,) = re.findall(r"sync output: (\S+\.json)", out)
    synced = json.loads(Path(output).read_text())
    assert {t["name"]: t["row_count"] for t in synced["tables"]} == {"customers": 5, "orders": 6, "products": 3}

    connections = json.loads((tmp_path / "connections.json").read_text())
    assert oct((tmp_path / "connections.json").stat().st_mode & 0o777) == "0o600"
    secret = connections["clarityq_reader"]["password"]
    assert secret not in first.stdout + first.stderr
    server_side = {tmp_path / "connections.json", tmp_path / "emulator-state.json"}  # where the key belongs
    for artefact in tmp_path.rglob("*"):  # the history, the HTML report, task logs, the metadata DB...
        if artefact.is_file() and artefact not in server_side:
            assert secret.encode() not in artefact.read_bytes(), artefact

    second = _demo(tmp_path)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert "0 change(s) applied" in second.stdout
    assert "No changes" in second.stdout
    assert "ClarityQ health: HEALTHY" in second.stdout
    assert json.loads((tmp_path / "connections.json").read_text())["clarityq_reader"]["password"] == secret
    assert secret not in second.stdout + second.stderr
    # the first run's check and sync gate, and this run's check
    assert re.findall(r"health report \((\d+) report\(s\) in the history\)", second.stdout) == ["3"]


def test_demo_fails_with_a_clear_reason(tmp_path: Path) -> None:
    (tmp_path / "emulator-state.json").write_text("{not json")
    result = _demo(tmp_path)
    assert result.returncode != 0
    assert "demo failed:" in result.stderr

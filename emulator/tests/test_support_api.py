"""The test-support API (reset, request log, faults, clock) and the package's import hygiene."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from clarityq_emulator import RunningEmulator, serve, start_emulator
from clarityq_emulator.core.dispatch import Emulator
from clarityq_emulator.core.requestlog import RequestLog
from clarityq_emulator.core.state import EmulatorState
from odps import ODPS, errors, options

pytestmark = pytest.mark.integration


def _odps(emu: RunningEmulator) -> ODPS:
    options.retry_times = 0
    info = emu.info
    return ODPS(info.access_key_id, info.access_key_secret, info.project, endpoint=info.maxcompute_endpoint)


def test_reset_goes_back_to_the_seed_and_keeps_the_credentials(tmp_path: Path) -> None:
    state_file = tmp_path / "state.json"
    with start_emulator(state_file=state_file) as emu:
        odps = _odps(emu)
        odps.execute_sql("CREATE TABLE scratch (id BIGINT)")
        odps.run_security_query("CREATE ROLE analysts")
        emu.add_fault(path="/nothing", status=503, count=5)
        emu.advance_clock(3600)
        assert emu.requests()
        info_before = emu.info

        emu.reset()

        assert emu.requests() == []
        assert len(emu.emulator.faults) == 0
        assert emu.state.clock.offset == 0.0
        assert emu.info == info_before  # same account, same owner key
        assert not odps.exist_table("scratch")
        assert odps.exist_table("customers")
        assert not odps.exist_role("analysts")
        saved = json.loads(state_file.read_text())
        assert saved["clock_offset"] == 0.0
        assert "scratch" not in json.dumps(saved["sql"])


def test_reset_is_for_loopback_clients_and_post_only(clarityq_emulator: RunningEmulator) -> None:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(f"{clarityq_emulator.base_url}/_emulator/reset", method="GET")  # noqa: S310
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=5)  # noqa: S310
    assert caught.value.code in (404, 405)


def test_the_request_log_is_a_ring_buffer() -> None:
    log = RequestLog(size=3)
    for i in range(5):
        log.add({"n": i})
    assert [e["n"] for e in log.snapshot()] == [2, 3, 4]
    assert log.dropped == 2
    log.clear()
    assert log.snapshot() == [] and log.dropped == 0


def test_emulator_without_injected_handler_answers_grant() -> None:
    running = serve(Emulator(EmulatorState()))
    try:
        odps = _odps(running)
        odps.run_security_query("CREATE ROLE readers")
        odps.run_security_query("GRANT Describe, Select ON TABLE customers TO ROLE readers")
        grants = odps.run_security_query("SHOW GRANTS FOR ROLE readers")
        assert "customers" in json.dumps(grants)
        with pytest.raises(errors.ODPSError):
            odps.run_security_query("GRANT Fly ON TABLE customers TO ROLE readers")
    finally:
        running.stop()


def test_the_cli_and_the_server_stack_import_without_duckdb() -> None:
    code = (
        "import sys; sys.modules['duckdb'] = None\n"
        "import clarityq_emulator.cli, clarityq_emulator.core.app, clarityq_emulator.core.server\n"
        "import clarityq_emulator.maxcompute.rest, clarityq_emulator.maxcompute.sql.compiler\n"
        "import clarityq_emulator.acs.protocol, clarityq_emulator.pytest_plugin\n"
        "from clarityq_emulator.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit as exc:\n    assert exc.code == 0\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "--state-file" in result.stdout

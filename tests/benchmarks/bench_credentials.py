"""What a keyless credential source costs, against a static AccessKey, measured in one run on the emulator.

Run on demand: ``.venv/bin/python tests/benchmarks/bench_credentials.py``. For each source (``static``,
``oidc_role_arn``, ``ecs_ram_role``), in turns:

- a cold health check (new clients, first credential fetch included): median wall time of 15;
- a warm health check on the same probe (credentials cached): median of 15;
- requests to STS / the metadata service per cold check.

Ratios are source / static (lower is better).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "integration"))
sys.path.insert(0, str(REPO / "tests"))
for name in [k for k in os.environ if "proxy" in k.lower()]:
    del os.environ[name]

from clarityq_emulator import start_emulator  # noqa: E402
from odps import ODPS  # noqa: E402
from test_credential_sources import PROVIDER, SUBJECT, _fields, _seed, ecs_fields, oidc_fields  # noqa: E402

from airflow_provider_clarityq.core.alibaba.clients import ClientBundle  # noqa: E402
from airflow_provider_clarityq.core.connection import parse_connection  # noqa: E402
from airflow_provider_clarityq.core.health.probe import MaxComputeProbe  # noqa: E402
from airflow_provider_clarityq.core.health.runner import run_health_checks  # noqa: E402

ROUNDS = 15


def main() -> None:
    with start_emulator(seed=_seed()) as emu, tempfile.TemporaryDirectory() as tmp:
        owner = ODPS(
            emu.info.access_key_id, emu.info.access_key_secret, emu.info.project, endpoint=emu.info.maxcompute_endpoint
        )
        for role in ("rrsa-admin", "ecs-admin"):
            owner.execute_security_query(f"ADD USER `RAM${emu.info.account_id}:role/{role}`")
            owner.execute_security_query(f"GRANT admin TO `RAM${emu.info.account_id}:role/{role}`")
        token = Path(tmp) / "token"
        token.write_text(emu.mint_oidc_token(PROVIDER, SUBJECT, ttl_seconds=86400))
        static = _fields(emu)
        static.update(login=emu.info.access_key_id, password=emu.info.access_key_secret)
        sources: dict[str, dict[str, Any]] = {
            "static": static,
            "oidc_role_arn": oidc_fields(emu, token),
            "ecs_ram_role": ecs_fields(emu),
        }
        cold: dict[str, list[float]] = {s: [] for s in sources}
        warm: dict[str, list[float]] = {s: [] for s in sources}
        fetches: dict[str, list[int]] = {s: [] for s in sources}
        for _ in range(ROUNDS):
            for name, fields in sources.items():
                emu.clear_requests()
                started = time.perf_counter()
                probe = MaxComputeProbe(ClientBundle(parse_connection(fields)))
                assert run_health_checks(probe).verdict in ("HEALTHY", "DEGRADED")
                cold[name].append(time.perf_counter() - started)
                log = emu.requests()
                fetches[name].append(
                    sum(1 for r in log if r["action"] == "AssumeRoleWithOIDC" or r["service"] == "ecs")
                )
                started = time.perf_counter()
                run_health_checks(probe)
                warm[name].append(time.perf_counter() - started)
        base_cold, base_warm = statistics.median(cold["static"]), statistics.median(warm["static"])
        print(f"{'source':<15} {'cold ms':>9} {'ratio':>7} {'warm ms':>9} {'ratio':>7} {'fetch requests':>15}")
        for name in sources:
            c, w = statistics.median(cold[name]), statistics.median(warm[name])
            print(
                f"{name:<15} {c * 1000:9.1f} {c / base_cold:7.2f} {w * 1000:9.1f} {w / base_warm:7.2f} "
                f"{statistics.median(fetches[name]):15.0f}"
            )


if __name__ == "__main__":
    main()

"""Running the checks: a dependency graph (``graphlib``), independent checks concurrently, one report.

A check starts once the checks it needs passed (or warned); independent checks run concurrently in a thread
pool; a check whose prerequisite failed is reported ``skipped`` with code ``BLOCKED`` rather than failing a
second time for the same reason; checks still running at the time limit fail as unreachable. No Airflow.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import replace
from datetime import datetime, timezone
from graphlib import TopologicalSorter

from airflow_provider_clarityq.core.errors import ConfigurationError, one_line, redact
from airflow_provider_clarityq.core.health.checks import BUILTIN_CHECKS, CheckSpec, CheckState, Outcome, validation_spec
from airflow_provider_clarityq.core.health.options import CHECK_NAMES, HealthOptions, ValidationQuery
from airflow_provider_clarityq.core.health.protocol import Probe
from airflow_provider_clarityq.core.health.remediation import RemediationContext, diagnose
from airflow_provider_clarityq.core.health.report import CheckResult, HealthReport, json_safe

__all__ = ["run_health_checks", "unusable_connection_report"]


def _selected_specs(names: Sequence[str]) -> list[CheckSpec]:
    """The named checks plus their prerequisites, in the canonical order."""
    wanted: set[str] = set()
    stack = list(names)
    while stack:
        name = stack.pop()
        if name not in wanted:
            wanted.add(name)
            stack.extend(BUILTIN_CHECKS[name].needs)
    return [BUILTIN_CHECKS[n] for n in CHECK_NAMES if n in wanted]


def run_health_checks(
    probe: Probe,
    options: HealthOptions | None = None,
    *,
    validations: Sequence[ValidationQuery] = (),
    now: Callable[[], datetime] | None = None,
) -> HealthReport:
    """Run the checks over ``probe`` and build the report; never raises for a service failure."""
    options = options or HealthOptions()
    clock_now = now or (lambda: datetime.now(timezone.utc))
    started_at = clock_now()
    started = time.monotonic()
    specs = _selected_specs([*options.checks, *(["project_accessible"] if validations else [])])
    seen: set[str] = set()
    for validation in validations:
        if validation.check_name in seen:
            raise ConfigurationError(
                "validations", f"name {validation.name!r} is used twice", "give each validation a unique name"
            )
        seen.add(validation.check_name)
        specs.append(validation_spec(validation))
    state = CheckState(
        options=options,
        ctx=RemediationContext(
            project=probe.project,
            endpoint=probe.endpoint,
            role=options.role,
            access_key_id=probe.access_key_id,
            table=options.table,
            secrets=tuple(probe.secrets),
        ),
        now=started_at,
    )
    results = _run_graph(specs, probe, state, deadline=started + options.timeout_s, max_workers=options.max_workers)
    ordered = [results[s.name] for s in specs]
    return HealthReport.build(
        ordered,
        started_at=started_at,
        duration_ms=int((time.monotonic() - started) * 1000),
        project=probe.project,
        endpoint=probe.endpoint,
        principal=state.identity.principal if state.identity else None,
    )


def _run_graph(
    specs: Sequence[CheckSpec], probe: Probe, state: CheckState, *, deadline: float, max_workers: int
) -> dict[str, CheckResult]:
    by_name = {spec.name: spec for spec in specs}
    graph = TopologicalSorter({spec.name: spec.needs for spec in specs})
    graph.prepare()
    results: dict[str, CheckResult] = {}
    running: dict[Future[CheckResult], CheckSpec] = {}
    pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="clarityq-health")
    try:
        while graph.is_active():
            for name in graph.get_ready():
                spec = by_name.get(name)
                if spec is None:  # a prerequisite no spec provides: its dependents are blocked
                    graph.done(name)
                    continue
                prerequisites = [results.get(n) for n in spec.needs]
                failed = [r for r in prerequisites if r is not None and r.status not in ("pass", "warn")]
                if failed or None in prerequisites:
                    why = (
                        f"{failed[0].name} {failed[0].status} ({failed[0].code})" if failed else "prerequisites missing"
                    )
                    results[name] = CheckResult(name, "skipped", "BLOCKED", f"not run: {why}")
                    graph.done(name)
                else:
                    running[pool.submit(_run_one, spec, probe, state)] = spec
            if not running:
                continue
            done, _ = wait(list(running), timeout=max(0.0, deadline - time.monotonic()), return_when=FIRST_COMPLETED)
            if not done:
                _time_out(
                    running, [s for s in specs if s.name not in results and s not in running.values()], results, state
                )
                break
            for future in done:
                spec = running.pop(future)
                results[spec.name] = future.result()
                graph.done(spec.name)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return results


def _time_out(
    running: dict[Future[CheckResult], CheckSpec],
    pending: list[CheckSpec],
    results: dict[str, CheckResult],
    state: CheckState,
) -> None:
    limit = state.options.timeout_s
    for future, spec in running.items():
        future.cancel()
        results[spec.name] = CheckResult(
            spec.name,
            "fail",
            "CHECK_TIMEOUT",
            f"no answer within the health run's time limit ({limit:g} s)",
            f"check that {state.ctx.endpoint} answers from the Airflow workers (network, proxy), then retry.",
            retryable=True,
            duration_ms=int(limit * 1000),
            category="unreachable",
        )
    running.clear()
    for spec in pending:
        results[spec.name] = CheckResult(spec.name, "skipped", "BLOCKED", "not run: the time limit was reached")


def _run_one(spec: CheckSpec, probe: Probe, state: CheckState) -> CheckResult:
    started = time.monotonic()
    try:
        outcome = spec.run(probe, state)
    except Exception as exc:
        outcome = Outcome.failure(diagnose(exc, state.ctx, missing=spec.missing))
    secrets = state.ctx.secrets
    return CheckResult(
        name=spec.name,
        status=outcome.status,
        code=outcome.code,
        message=redact(one_line(outcome.message), secrets),
        remediation=redact(one_line(outcome.remediation), secrets) if outcome.remediation else None,
        retryable=outcome.status == "fail" and outcome.category == "unreachable",
        duration_ms=int((time.monotonic() - started) * 1000),
        category=outcome.category if outcome.status == "fail" else None,
        details=json_safe(dict(outcome.details)),
    )


def unusable_connection_report(
    exc: BaseException,
    *,
    conn_id: str | None = None,
    options: HealthOptions | None = None,
    secrets: Sequence[str] = (),
    now: datetime | None = None,
) -> HealthReport:
    """A CONFIG_ERROR report for a connection that cannot even be read (missing, invalid field)."""
    options = options or HealthOptions()
    ctx = RemediationContext(project="", endpoint="", role=options.role, secrets=tuple(secrets))
    diagnosis = diagnose(exc, ctx)
    if diagnosis.category == "system":
        diagnosis = replace(diagnosis, category="config", code="CONNECTION_UNREADABLE")
    label = f"connection {conn_id!r}" if conn_id else "the connection"
    checks = [
        CheckResult(
            "connection",
            "fail",
            diagnosis.code,
            redact(f"{label}: {diagnosis.message}", secrets),
            redact(diagnosis.remediation, secrets),
            retryable=diagnosis.retryable,
            category=diagnosis.category,
        ),
        *(
            CheckResult(s.name, "skipped", "BLOCKED", "not run: connection fail")
            for s in _selected_specs(options.checks)
        ),
    ]
    return HealthReport.build(checks, started_at=now or datetime.now(timezone.utc), duration_ms=0)

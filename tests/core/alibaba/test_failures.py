"""The one classifier of failures from pyodps, the Alibaba SDKs and the transport, on their real exception classes,
and the one retry policy."""

from __future__ import annotations

import pytest

from airflow_provider_clarityq.core.alibaba.failures import (
    Failure,
    RetryPolicy,
    ServiceError,
    call_with_retries,
    classify,
    failure_of,
    is_transient,
)


class TestFailureOf:
    def test_pyodps_errors(self) -> None:
        from odps import errors

        failure = failure_of(errors.ServiceUnavailable("busy", code="ServiceUnavailable", status_code=503))
        assert (failure.status, failure.code, failure.kind) == (503, "ServiceUnavailable", "server_error")
        exists = failure_of(errors.ObjectAlreadyExists("Role r already exists", code="ObjectAlreadyExists"))
        assert exists.code == "ObjectAlreadyExists" and not exists.transient

    def test_tea_sdk_errors(self) -> None:
        from alibabacloud_tea_openapi.exceptions import ClientException, ThrottlingException

        throttled = failure_of(ThrottlingException(status_code=400, code="Throttling.User", message="flow control"))
        assert throttled.kind == "throttled" and throttled.code == "Throttling.User"
        missing = failure_of(ClientException(status_code=404, code="EntityNotExist.User", message="no user"))
        assert (missing.status, missing.code, missing.transient) == (404, "EntityNotExist.User", False)

    def test_no_answer(self) -> None:
        import requests

        assert failure_of(requests.exceptions.ConnectionError("Connection aborted.")).kind == "no_answer"
        assert failure_of(ConnectionResetError(104, "Connection reset by peer")).reset
        assert failure_of(RuntimeError("RetryError: ('Connection aborted.', RemoteDisconnected())")).reset
        assert not failure_of(ValueError("bad value")).reset

    def test_a_cause_counts(self) -> None:
        outer = ValueError("the check failed")
        outer.__cause__ = ConnectionRefusedError(111, "Connection refused")
        assert is_transient(outer) and failure_of(outer).kind == "no_answer"


@pytest.mark.parametrize(
    ("failure", "kind"),
    [
        (Failure(status=429), "throttled"),
        (Failure(status=400, code="Throttling.User"), "throttled"),
        (Failure(status=400, code="RequestLimitExceeded"), "throttled"),
        (Failure(status=503, code="ServiceUnavailable"), "server_error"),
        (Failure(status=500, code="SystemBusy"), "server_error"),
        (Failure(status=400, code="ServerBusy"), "server_error"),
        (Failure(status=408, code="RequestTimeout"), "server_error"),
        (Failure(status=507), "server_error"),
        (Failure(status=501), None),  # Not Implemented: waiting never repairs it
        (Failure(status=505), None),
        (Failure(status=403, code="NoPermission"), None),
        (Failure(reset=True), "no_answer"),
    ],
)
def test_kind(failure: Failure, kind: str | None) -> None:
    assert failure.kind == kind and failure.transient is (kind is not None)


@pytest.mark.parametrize(
    ("failure", "destructive", "outcome"),
    [
        (Failure(code="ObjectAlreadyExists", message="user already exists"), False, "converged"),
        (Failure(status=409, code="EntityAlreadyExists.User"), False, "converged"),
        (Failure(status=404, code="NoSuchObject"), True, "converged"),
        (Failure(status=404, code="NoSuchObject", message="table does not exist"), False, "permanent"),
        (Failure(status=503, code="ServiceUnavailable"), False, "transient"),
        (Failure(status=400, code="Throttling.User"), False, "transient"),
        (Failure(status=403, code="NoPermission"), False, "permanent"),
        (Failure(reset=True, message="connection reset: already"), False, "transient"),
    ],
)
def test_classify_a_change(failure: Failure, destructive: bool, outcome: str) -> None:
    assert classify(failure, destructive=destructive) == outcome


def test_retry_policy_is_bounded_and_jittered() -> None:
    assert RetryPolicy(attempts=5, base=0.5, cap=2.0).delays() == (0.5, 1.0, 2.0, 2.0)
    assert RetryPolicy(attempts=1).delays() == ()
    policy = RetryPolicy(attempts=5, base=1.0, cap=4.0, jitter=0.25)
    for n, base in enumerate((1.0, 2.0, 4.0, 4.0, 4.0), start=1):
        assert base <= policy.delay(n) <= base * 1.25


def test_call_with_retries_retries_transient_failures_only() -> None:
    waits: list[float] = []
    policy = RetryPolicy(attempts=3, base=0.1, jitter=0.0, sleep=waits.append)
    answers = iter([ServiceError.of(status=503), ServiceError.of(reset=True), "ok"])

    def call() -> str:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert call_with_retries(call, policy) == "ok" and waits == [0.1, 0.2]
    with pytest.raises(ServiceError, match="403"):
        call_with_retries(lambda: (_ for _ in ()).throw(ServiceError.of(status=403)), policy)

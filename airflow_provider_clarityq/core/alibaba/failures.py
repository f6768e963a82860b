"""What a failed call to MaxCompute, RAM or STS means - one answer for every caller.

No Airflow import, and no pyodps or SDK import either: exceptions are read by duck typing (pyodps errors carry
``code`` and ``status_code``; Tea exceptions ``code``, ``statusCode`` and ``data``; transport errors are known
by class name or, when the SDK wraps them in ``UnretryableException``, by their text).

* :func:`failure_of` reduces an exception (and its explicit causes) to a :class:`Failure`;
* :attr:`Failure.kind` says whether waiting may help: ``throttled``, ``server_error`` or ``no_answer``;
* :func:`classify` adds the context of a change: ``converged`` when the error means its effect is already
  there (a race with another run), else ``transient`` or ``permanent``;
* :func:`retrying` is the one tenacity policy for calls (bounded, jittered backoff on transient failures).

Decisions where earlier copies disagreed: throttling is ``Throttling*``, ``RequestLimitExceeded`` and HTTP 429;
server errors are ``ServiceUnavailable``, ``SystemBusy``, ``ServerBusy``, ``InternalError``,
``InternalServerError``, ``RequestTimeout`` and any 5xx but 501 Not Implemented and 505 HTTP Version Not
Supported, which no wait repairs.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from airflow_provider_clarityq.core.errors import ClarityQError, ConfigurationError, one_line

__all__ = [
    "Failure",
    "FailureKind",
    "Outcome",
    "RetryPolicy",
    "ServiceError",
    "causes",
    "classify",
    "failure_of",
    "is_transient",
    "retrying",
]

FailureKind = Literal["throttled", "server_error", "no_answer"]
Outcome = Literal["converged", "transient", "permanent"]
T = TypeVar("T")

THROTTLING_CODES = ("Throttling", "RequestLimitExceeded")
SERVER_CODES = (
    "ServiceUnavailable",
    "SystemBusy",
    "ServerBusy",
    "InternalError",
    "InternalServerError",
    "RequestTimeout",
)
#: 5xx answers no wait repairs.
PERMANENT_5XX = frozenset({501, 505})
_ALREADY = ("already", "duplicate")
_ABSENT = ("nosuch", "not exist", "notexist", "not found", "not granted")
_MAX_MESSAGE = 300

#: Exception class names (anywhere in the MRO) that mean "no answer": the request may or may not have run.
_NO_ANSWER_CLASSES = frozenset(
    {
        "ConnectionError",  # builtin and requests'
        "ConnectionResetError",
        "ConnectionAbortedError",
        "ConnectionRefusedError",
        "BrokenPipeError",
        "RemoteDisconnected",
        "ProtocolError",
        "ChunkedEncodingError",
        "Timeout",
        "TimeoutError",
        "ConnectTimeout",
        "ReadTimeout",
        "ReadTimeoutError",
        "WaitTimeoutError",
        "ProxyError",
        "SSLError",
        "NewConnectionError",
        "MaxRetryError",
        "UnretryableException",
        "RetryError",
    }
)
_THROTTLING_CLASSES = frozenset({"ThrottlingException"})
_SERVER_CLASSES = frozenset({"InternalServerError", "ServiceUnavailable", "ServerException"})
#: Text of wrapped transport errors (the Tea SDK's ``UnretryableException`` says only this much).
_NO_ANSWER_MARKERS = (
    "connection aborted",
    "connection reset",
    "connection refused",
    "remotedisconnected",
    "remote end closed",
    "broken pipe",
    "timed out",
    "read timeout",
    "max retries exceeded",
)


@dataclass(frozen=True)
class Failure:
    """What a failed request amounts to, whatever library raised it."""

    status: int | None = None
    code: str = ""
    message: str = ""
    reset: bool = False  # no answer at all: connection reset/aborted/refused, timeout
    throttled: bool = False  # the library said so by its class (ThrottlingException)
    server: bool = False  # the library said so by its class (ServerException, ...)

    @property
    def kind(self) -> FailureKind | None:
        """Why waiting may help, or None when it will not."""
        if self.throttled or self.status == 429 or self.code.startswith(THROTTLING_CODES):
            return "throttled"
        server_status = self.status is not None and self.status >= 500 and self.status not in PERMANENT_5XX
        if self.server or server_status or self.code.startswith(SERVER_CODES):
            return "server_error"
        if self.reset:
            return "no_answer"
        return None

    @property
    def transient(self) -> bool:
        """Worth retrying: throttling, a server error, or no answer (every change this provider makes is idempotent)."""
        return self.kind is not None

    def describe(self) -> str:
        parts = [str(self.status) if self.status is not None else "", self.code]
        head = " ".join(p for p in parts if p) or ("connection failed" if self.reset else "error")
        return f"{head}: {self.message}" if self.message else head

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "code": self.code, "message": self.message, "reset": self.reset}


class ServiceError(ClarityQError):
    """A failed request in the shape of :class:`Failure` (raised by test fakes; adapters may too)."""

    def __init__(self, failure: Failure) -> None:
        self.failure = failure
        super().__init__(failure.describe())

    @classmethod
    def of(cls, *, status: int | None = None, code: str = "", message: str = "", reset: bool = False) -> ServiceError:
        return cls(Failure(status, code, message, reset))


def causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception and its explicit causes (``raise ... from``); implicit context is not a cause."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(seen) < 8:
        seen.add(id(current))
        yield current
        current = current.__cause__


def _status(exc: BaseException) -> int | None:
    for attr in ("status_code", "statusCode", "status"):
        value = getattr(exc, attr, None)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    data = getattr(exc, "data", None)
    if isinstance(data, dict) and isinstance(data.get("statusCode"), int):
        status: int = data["statusCode"]
        return status
    return None


def _code(exc: BaseException) -> str:
    code = getattr(exc, "code", None)
    return str(code) if isinstance(code, (str, int)) and code not in ("", None, "None") else ""


def _one(exc: BaseException) -> Failure:
    if isinstance(exc, ServiceError):
        return exc.failure
    names = {cls.__name__ for cls in type(exc).__mro__}
    status, code = _status(exc), _code(exc)
    message = one_line(str(getattr(exc, "message", None) or exc or type(exc).__name__))
    if len(message) > _MAX_MESSAGE:
        message = message[:_MAX_MESSAGE] + "..."
    no_answer = status is None and not code
    reset = no_answer and (
        bool(names & _NO_ANSWER_CLASSES)
        or isinstance(exc, OSError)
        or any(marker in message.lower() for marker in _NO_ANSWER_MARKERS)
    )
    return Failure(
        status=status,
        code=code,
        message=message,
        reset=reset,
        throttled=bool(names & _THROTTLING_CLASSES),
        server=bool(names & _SERVER_CLASSES),
    )


def failure_of(exc: BaseException) -> Failure:
    """The failure an exception stands for: the first transient one in its cause chain, else its own."""
    first = _one(exc)
    if first.transient:
        return first
    for cause in list(causes(exc))[1:]:
        found = _one(cause)
        if found.transient:
            return found
    return first


def is_transient(exc: BaseException) -> bool:
    """True when waiting may help (anywhere in the cause chain)."""
    return failure_of(exc).transient


def classify(failure: Failure, *, destructive: bool) -> Outcome:
    """For a change (a grant, a revoke, a create): ``converged`` when the error means its effect is already in
    place (another run got there first), ``transient`` when a retry may work, else ``permanent``."""
    text = f"{failure.code} {failure.message}".lower()
    if not failure.reset:
        if destructive and any(marker in text for marker in _ABSENT):
            return "converged"
        if not destructive and any(marker in text for marker in _ALREADY):
            return "converged"
    return "transient" if failure.transient else "permanent"


# --------------------------------------------------------------------------------------------------
# Retries


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff plus up to ``jitter`` x the delay; ``attempts`` counts the first try.

    ``sleep`` is injectable so tests do not wait.
    """

    attempts: int = 5
    base: float = 0.5
    cap: float = 8.0
    jitter: float = 0.25
    sleep: Callable[[float], None] = time.sleep

    def __post_init__(self) -> None:
        if not 1 <= self.attempts <= 20:
            raise ConfigurationError("retry.attempts", f"is {self.attempts}", "use 1 to 20 attempts")

    def delays(self) -> tuple[float, ...]:
        """The waits between attempts, without jitter (seconds)."""
        return tuple(min(self.cap, self.base * 2**i) for i in range(max(self.attempts - 1, 0)))

    def delay(self, retry_number: int) -> float:
        """Seconds to wait before retry ``retry_number`` (1-based), jitter included."""
        delays = self.delays() or (0.0,)
        base = delays[min(retry_number, len(delays)) - 1]
        return base + random.uniform(0.0, base * self.jitter)


def retrying(
    policy: RetryPolicy,
    *,
    retry_on: Callable[[BaseException], bool] = is_transient,
    before_sleep: Callable[[RetryCallState], None] | None = None,
) -> Retrying:
    """The tenacity loop for one call: retry while ``retry_on`` says so, re-raise the last original error."""
    return Retrying(
        stop=stop_after_attempt(policy.attempts),
        wait=lambda state: policy.delay(state.attempt_number),
        retry=retry_if_exception(retry_on),
        sleep=policy.sleep,
        before_sleep=before_sleep,
        reraise=True,
    )


def call_with_retries(call: Callable[[], T], policy: RetryPolicy, **kwargs: Any) -> T:
    """``call()`` under :func:`retrying`."""
    for attempt in retrying(policy, **kwargs):
        with attempt:
            return call()
    raise AssertionError("unreachable: tenacity either returns or re-raises")  # pragma: no cover

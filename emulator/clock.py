"""Virtual time for executions: Wait states and retry back-off advance a clock instead
of sleeping, so an 8-hour export is simulated in milliseconds.

Each thread has its own clock (an execution runs in its own thread in moto); a thread
starts at the clock of the thread that started it, so a child execution begins at its
parent's current time. The export model reads the same clock.
"""

from __future__ import annotations

import datetime as dt
import threading
import time as _time
import types
from typing import Any

EPOCH = dt.datetime(2026, 1, 5, 3, 0, tzinfo=dt.timezone.utc).timestamp()
"""Where every clock starts unless a test sets another start."""

HEADER = "x-emulator-clock"
"""Request header carrying the calling execution's clock to a server thread."""

_local = threading.local()
_start_lock = threading.Lock()
_start = EPOCH


def now() -> float:
    """Current virtual time (epoch seconds) of this thread."""
    value = getattr(_local, "now", None)
    return _start if value is None else value


def now_datetime() -> dt.datetime:
    return dt.datetime.fromtimestamp(now(), tz=dt.timezone.utc)


def advance(seconds: float) -> None:
    """Move this thread's clock forward (what a sleep does in virtual time)."""
    _local.now = now() + max(0.0, float(seconds))
    _local.slept = getattr(_local, "slept", 0.0) + max(0.0, float(seconds))


def adopt(value: float | None) -> None:
    """Serve a request at the caller's time (from ``HEADER``), if it sent one."""
    if value is not None:
        _local.now = value


def adopt_header(headers: Any) -> None:
    """``adopt`` the clock a request carries in ``HEADER`` (server mode), if any."""
    value = headers.get(HEADER) if headers is not None else None
    adopt(float(value) if value else None)


def reset(start: float = EPOCH) -> None:
    """Set where clocks of threads started from now on begin (and this thread's)."""
    global _start
    with _start_lock:
        _start = start
    _local.now = start


def _wait_interval(self: Any, env: Any, wait_seconds: int) -> None:
    advance(wait_seconds)


def _inheriting_start(original: Any) -> Any:
    def start(self: threading.Thread) -> None:
        inherited = getattr(_local, "now", None)
        if inherited is not None:
            run = self.run

            def run_with_clock() -> None:
                _local.now = inherited
                run()

            self.run = run_with_clock  # type: ignore[method-assign]
        original(self)

    return start


def _adopting_setup(original: Any) -> Any:
    def setup_class(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        # Every request served in server mode runs at its caller's time, if it says one.
        adopt_header(getattr(request, "headers", None))
        return original(self, request, *args, **kwargs)

    return setup_class


def install() -> None:
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function import wait_function

    wait_function.WaitFunction._wait_interval = _wait_interval  # type: ignore[method-assign]
    shim = types.SimpleNamespace(
        **{n: getattr(_time, n) for n in dir(_time) if not n.startswith("_")}
    )
    shim.sleep = advance
    retrier_decl.time = shim  # type: ignore[attr-defined,assignment]
    threading.Thread.start = _inheriting_start(threading.Thread.start)  # type: ignore[method-assign]
    from moto.core.responses import BaseResponse

    BaseResponse.setup_class = _adopting_setup(BaseResponse.setup_class)  # type: ignore[method-assign]

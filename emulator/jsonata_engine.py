"""Plugs the jsonata-python evaluator into moto, with Step Functions' extra functions.

``$millis()`` and ``$now()`` read the evaluating thread's virtual clock (``clock``), not
the wall clock: registering them on the expression replaces jsonata-python's built-ins
(tested). ``$now`` keeps its optional picture and timezone arguments.
"""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from typing import Any

import jsonata
from jsonata.functions import Functions
from moto.stepfunctions.parser.asl.component.intrinsic import jsonata as sfn_functions
from moto.stepfunctions.parser.asl.jsonata import jsonata as moto_jsonata
from moto.stepfunctions.parser.asl.utils.encoding import to_json_str

from . import clock

_HASH_ALGORITHMS = {
    "MD5": "md5",
    "SHA-1": "sha1",
    "SHA-256": "sha256",
    "SHA-384": "sha384",
    "SHA-512": "sha512",
}


def _hash(value: Any, algorithm: str) -> str:
    if algorithm not in _HASH_ALGORITHMS:
        raise ValueError(f"$hash: unsupported algorithm {algorithm!r}")
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return hashlib.new(_HASH_ALGORITHMS[algorithm], text.encode("utf-8")).hexdigest()


def _parse(text: str) -> Any:
    return json.loads(text)


def _uuid() -> str:
    return str(uuid.uuid4())


def _millis() -> int:
    return int(clock.now() * 1000)


def _now(picture: str | None = None, timezone: str | None = None) -> str | None:
    # Without a picture: ISO-8601 in UTC with milliseconds, e.g. 2026-01-05T03:00:00.000Z.
    return Functions.datetime_from_millis(_millis(), picture, timezone)


_lock = threading.Lock()


_last = threading.local()


def evaluate(expression: str) -> Any:
    """Evaluate a complete expression as moto composes it (bindings included)."""
    # moto checks a string result by evaluating "$type(<same expression>)" again; answer
    # from the result just computed instead of evaluating everything twice.
    if (
        expression.startswith("$type(")
        and expression[6:-1] == getattr(_last, "expression", None)
        and isinstance(getattr(_last, "result", None), str)
    ):
        return "string"
    with _lock:  # jsonata-python keeps per-expression state; keep it simple
        expr = jsonata.Jsonata(expression)
        expr.register_lambda("hash", _hash)
        expr.register_lambda("parse", _parse)
        expr.register_lambda("uuid", _uuid)
        expr.register_lambda("millis", _millis)
        expr.register_lambda("now", _now)
        result = expr.evaluate(None)
    _last.expression, _last.result = expression, result
    return result


def _encode_bindings(bindings: dict[str, Any]) -> str:
    # moto writes string values between quotes without escaping them; any string
    # holding a quote or backslash (an error cause, say) would break the expression.
    parts = []
    for name, value in bindings.items():
        literal = (
            json.dumps(value)
            if isinstance(value, str)
            else to_json_str(value, separators=(",", ":"))
        )
        parts.append(f"{name}:={literal};")
    return "".join(parts)


def install() -> None:
    moto_jsonata._eval_jsonata = evaluate
    moto_jsonata.encode_jsonata_variable_declarations = _encode_bindings
    # The real implementations above replace moto's placeholder declarations.
    for name in ("$hash", "$uuid", "$parse"):
        sfn_functions._DECLARATION_BY_VARIABLE_REFERENCE.pop(name, None)
    # Modules that imported the encoder by name.
    import moto.stepfunctions.parser.asl.eval.states as states_mod
    import moto.stepfunctions.parser.asl.eval.variable_store as store_mod

    for module in (states_mod, store_mod):
        if hasattr(module, "encode_jsonata_variable_declarations"):
            module.encode_jsonata_variable_declarations = _encode_bindings

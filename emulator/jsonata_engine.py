"""Plugs the jsonata-python evaluator into moto, with Step Functions' extra functions."""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from typing import Any

import jsonata
from moto.stepfunctions.parser.asl.component.intrinsic import jsonata as sfn_functions
from moto.stepfunctions.parser.asl.jsonata import jsonata as moto_jsonata
from moto.stepfunctions.parser.asl.utils.encoding import to_json_str

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


_lock = threading.Lock()


def evaluate(expression: str) -> Any:
    """Evaluate a complete expression as moto composes it (bindings included)."""
    with _lock:  # jsonata-python keeps per-expression state; keep it simple
        expr = jsonata.Jsonata(expression)
        expr.register_lambda("hash", _hash)
        expr.register_lambda("parse", _parse)
        expr.register_lambda("uuid", _uuid)
        return expr.evaluate(None)


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

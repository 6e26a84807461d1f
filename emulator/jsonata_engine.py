"""Plugs the jsonata-python evaluator into moto, with Step Functions' JSONata dialect.

Step Functions runs JavaScript JSONata 2.0.6 with a few changes; moto has no evaluator
of its own, and the stand-ins it inlines into every expression differ from AWS. What
this module adds to or changes in moto, each with the AWS page (or JSONata source) it
follows:

- Evaluation: jsonata-python is moto's evaluator (moto leaves it unset).
- "Transforming data with JSONata in Step Functions", section "Supported JSONata
  version": every JSONata 2.0.6 built-in works except ``$eval`` (use ``$parse``), which
  is therefore undefined here, so calling it fails as calling any non-function does.
- Same page, "JSONata functions provided by Step Functions": ``$partition``,
  ``$range``, ``$hash``, ``$random`` (with an optional seed), ``$uuid`` and ``$parse``
  are real implementations (below, one comment each), and moto's stand-ins (which
  differ: ``$partition([], 50)`` gives ``[[]]``, 52 items by 50 give chunks of 50, 2 and
  0) are all removed from moto's table, ``$randomSeeded`` included.
- Non-ASCII text, after JSONata 2.0.6 (jsonata-js ``src/functions.js``, ``src/utils.js``
  at tag v2.0.6): ``$length``, ``$substring`` and ``$pad`` count Unicode code points
  (``stringToArray`` iterates the string with ``for...of``), and ``$string`` leaves
  non-ASCII characters as they are (``JSON.stringify``). jsonata-python counts code
  points too, but reads ``\\ud83d\\ude80`` (and the surrogate pairs moto's definition
  parser hands over for characters outside the BMP) as two lone surrogates: each pair
  is now read as the one character it encodes, and bindings are no longer escaped.
  ``$string`` of objects and arrays no longer escapes non-ASCII, and writes numbers as
  JavaScript does (15 significant digits, ``1e-7``, ``100000000000000000000``).
- ``$millis()`` and ``$now()`` read the evaluating thread's virtual clock (``clock``),
  not the wall clock (test support: Wait states and polling run in virtual time).
  ``$now`` keeps its optional picture and timezone arguments.
- Bindings: moto writes every bound value into each expression as a JSON literal
  (strings unescaped between quotes, which a quote or backslash breaks; the rest
  ASCII-escaped), and jsonata-python spends most of a large run parsing them. Values
  are now bound as variables (as Step Functions binds ``$states``), referenced by name,
  with JSON nulls as JSONata nulls. No AWS page: an emulator cost, not a behaviour.
- "Error handling in Step Functions": an expression that fails to evaluate (a JSONata
  error, or a bad argument below) fails its state with ``States.QueryEvaluationError``
  and an ``EvaluationFailed`` event; moto reported ``States.Runtime``. Bad arguments
  raise ``JSONataFunctionError``; where AWS documents no rule, the comment at the
  function says so. The cause's wording is the emulator's, not AWS's.
"""

from __future__ import annotations

import decimal
import hashlib
import json
import math
import random
import re
import threading
import uuid
from collections import OrderedDict
from typing import Any

import jsonata
from jsonata import parser as jsonata_parser
from jsonata.functions import Functions
from jsonata.jexception import JException
from jsonata.utils import Utils
from moto.stepfunctions.parser.asl.component.intrinsic import jsonata as sfn_functions
from moto.stepfunctions.parser.asl.jsonata import jsonata as moto_jsonata
from moto.stepfunctions.parser.asl.utils.encoding import _DateTimeEncoder

from . import clock


class JSONataFunctionError(ValueError):
    """A Step Functions JSONata function was given arguments it does not accept."""


# -- Step Functions' additions ("Transforming data with JSONata in Step Functions",
#    "JSONata functions provided by Step Functions") ----------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _integer(function: str, name: str, value: Any) -> int:
    # The page: integer arguments are rounded down (so 2.9 is 2 and -2.5 is -3).
    if not _is_number(value) or not math.isfinite(value):
        raise JSONataFunctionError(f"{function}: {name} must be a number, got {value!r}")
    return math.floor(value)


def _partition(array: Any = None, size: Any = None) -> list[list[Any]] | None:
    """``$partition(array, size)``: consecutive chunks of ``size`` items; only the last
    may be shorter, and an empty array has no chunks (``[]``)."""
    if array is None:
        return None  # undefined in, undefined out, as JSONata's own functions do
    items = list(array) if isinstance(array, list) else [array]  # a value is a 1-array
    chunk = _integer("$partition", "size", size)
    # The page does not say what a size below 1 does; the JSONPath twin
    # (States.ArrayPartition, "Intrinsic functions for JSONPath states") requires a
    # positive chunk size, so it is an error here too.
    if chunk < 1:
        raise JSONataFunctionError(f"$partition: size must be at least 1, got {size!r}")
    return [items[i : i + chunk] for i in range(0, len(items), chunk)]


def _range(first: Any = None, last: Any = None, step: Any = None) -> list[int]:
    """``$range(first, last, step)``: from ``first`` up to ``last`` inclusive, ``step``
    apart (a negative step counts down); ``[]`` when the step points away from ``last``."""
    start = _integer("$range", "first", first)
    end = _integer("$range", "last", last)
    by = _integer("$range", "step", step)
    # Undocumented for $range; States.ArrayRange requires a non-zero step. Its
    # 1,000-element limit is not documented for $range and is not modelled.
    if by == 0:
        raise JSONataFunctionError("$range: step must not be 0")
    return list(range(start, end + (1 if by > 0 else -1), by))


_HASH_ALGORITHMS = {
    "MD5": "md5",
    "SHA-1": "sha1",
    "SHA-256": "sha256",
    "SHA-384": "sha384",
    "SHA-512": "sha512",
}


def _hash(value: Any = None, algorithm: Any = None) -> str | None:
    """``$hash(value, algorithm)``: hex digest of the value's UTF-8 bytes with one of
    the page's algorithms: MD5, SHA-1, SHA-256, SHA-384, SHA-512."""
    if value is None:
        return None
    if algorithm not in _HASH_ALGORITHMS:
        # The page lists the algorithms; what another name does is not documented.
        raise JSONataFunctionError(
            f"$hash: algorithm must be one of {', '.join(_HASH_ALGORITHMS)}, got {algorithm!r}"
        )
    # The page hashes strings; a non-string is hashed as $string would render it
    # (undocumented).
    text = value if isinstance(value, str) else _stringify(value, False)
    return hashlib.new(_HASH_ALGORITHMS[algorithm], _utf8(text)).hexdigest()


def _random(seed: Any = None) -> float:
    """``$random([seed])``: a number in [0, 1); the same (integer) seed always gives the
    same number."""
    if seed is None:
        return random.random()
    return random.Random(_integer("$random", "seed", seed)).random()


def _uuid() -> str:
    """``$uuid()``: a version 4 UUID."""
    return str(uuid.uuid4())


def _parse(text: Any = None) -> Any:
    """``$parse(jsonString)``: the value a JSON string holds (``$eval``'s replacement)."""
    if text is None:
        return None
    if not isinstance(text, str):
        # Undocumented: the page only speaks of JSON strings.
        raise JSONataFunctionError(f"$parse: expects a JSON string, got {text!r}")
    try:
        return json.loads(text)
    except ValueError as exc:
        raise JSONataFunctionError(f"$parse: not valid JSON: {exc}") from exc


# -- JSONata 2.0.6 on non-ASCII text ---------------------------------------------------

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
# A \u escape of a high surrogate then one of a low surrogate, the first backslash not
# itself escaped (an even number of backslashes before it).
_ESCAPED_PAIR = re.compile(
    r"(?<!\\)((?:\\\\)*)\\u([dD][89abAB][0-9a-fA-F]{2})\\u([dD][c-fC-F][0-9a-fA-F]{2})"
)


def _join_surrogate_pairs(expression: str) -> str:
    # JavaScript strings are UTF-16, so "\ud83d\ude80" in a JSONata string is one emoji
    # (length 1 in JSONata 2.0.6, which counts code points); jsonata-python would read
    # two lone surrogates. Writing the character itself is the same literal. moto's
    # definition parser hands over characters outside the BMP as surrogate pairs too
    # (it decodes the definition's JSON escapes one by one): join those as well.
    def join(match: re.Match[str]) -> str:
        high, low = int(match.group(2), 16), int(match.group(3), 16)
        return match.group(1) + chr(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))

    if "\\u" in expression:
        expression = _ESCAPED_PAIR.sub(join, expression)
    if _LONE_SURROGATE.search(expression):
        # UTF-16 decoding joins every high-low pair; lone surrogates stay as they are.
        expression = expression.encode("utf-16-le", "surrogatepass").decode(
            "utf-16-le", "surrogatepass"
        )
    return expression


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def _js_number(value: int | float) -> str:
    """A number as JSONata 2.0.6's ``$string`` writes it: rounded to 15 significant
    digits (``toPrecision(15)``), then in JavaScript's ``Number#toString`` notation."""
    if isinstance(value, int) and abs(value) < 10**15:
        return str(value)
    number = float(f"{float(value):.15g}")
    if number == 0:
        return "0"
    sign, digits, exponent = decimal.Decimal(repr(number)).normalize().as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits))
    k, n = len(text), len(text) + exponent  # number = 0.<text> * 10**n
    if k <= n <= 21:
        body = text + "0" * (n - k)
    elif 0 < n <= 21:
        body = text[:n] + "." + text[n:]
    elif -6 < n <= 0:
        body = "0." + "0" * -n + text
    else:
        e = n - 1
        body = (
            text[0] + ("." + text[1:] if k > 1 else "") + ("e+" if e >= 0 else "e-") + str(abs(e))
        )
    return ("-" if sign else "") + body


def _js_string_literal(text: str) -> str:
    # JSON.stringify escapes quotes, backslashes and control characters, and (being
    # well-formed since ES2019) lone surrogates; every other character stays as it is.
    literal = json.dumps(text, ensure_ascii=False)
    return _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", literal)


def _is_function(value: Any) -> bool:
    return isinstance(
        value, (jsonata.Jsonata.JFunction, jsonata.Jsonata.JLambda, jsonata_parser.Parser.Symbol)
    )


def _stringify(value: Any, prettify: bool) -> str:
    """``JSON.stringify`` as JSONata 2.0.6's ``$string`` calls it (functions become
    ``""``; ``prettify`` indents by two spaces)."""
    indent = "  " if prettify else ""

    def write(item: Any, depth: int) -> str:
        if item is None or item is Utils.NULL_VALUE:
            return "null"
        if isinstance(item, bool):
            return "true" if item else "false"
        if _is_number(item):
            return _js_number(item) if math.isfinite(item) else "null"
        if isinstance(item, str):
            return _js_string_literal(item)
        if _is_function(item):
            return '""'
        if isinstance(item, dict):
            parts = [(_js_string_literal(str(k)), v) for k, v in item.items()]
            colon = ": " if prettify else ":"
            entries = [f"{k}{colon}{write(v, depth + 1)}" for k, v in parts]
            return _wrap("{", "}", entries, depth)
        if isinstance(item, (list, tuple)):
            return _wrap("[", "]", [write(v, depth + 1) for v in item], depth)
        return _js_string_literal(str(item))

    def _wrap(open_: str, close: str, entries: list[str], depth: int) -> str:
        if not entries:
            return open_ + close
        if not prettify:
            return open_ + ",".join(entries) + close
        inner = "\n" + indent * (depth + 1)
        return open_ + inner + ("," + inner).join(entries) + "\n" + indent * depth + close

    return write(value, 0)


class _JSONata206:
    """Built-ins replaced to behave as JSONata 2.0.6 (bound with their own signatures)."""

    @staticmethod
    def string(arg: Any, prettify: Any) -> str | None:
        # jsonata-js v2.0.6 src/functions.js, function string: strings are returned as
        # they are, functions become "", non-finite numbers are error D3001, anything
        # else goes through JSON.stringify with numbers at 15 significant digits.
        if isinstance(arg, Utils.JList) and arg.outer_wrapper:
            arg = arg[0]
        if arg is None:
            return None
        if isinstance(arg, str):
            return arg
        if _is_function(arg):
            return ""
        if _is_number(arg) and not math.isfinite(arg):
            raise JException("D3001", -1)
        return _stringify(arg, bool(prettify))


# -- virtual time ----------------------------------------------------------------------


def _millis() -> int:
    return int(clock.now() * 1000)


def _now(picture: str | None = None, timezone: str | None = None) -> str | None:
    # Without a picture: ISO-8601 in UTC with milliseconds, e.g. 2026-01-05T03:00:00.000Z.
    return Functions.datetime_from_millis(_millis(), picture, timezone)


# -- evaluation ------------------------------------------------------------------------

_LAMBDAS = {
    "partition": _partition,
    "range": _range,
    "hash": _hash,
    "random": _random,
    "uuid": _uuid,
    "parse": _parse,
    "millis": _millis,
    "now": _now,
}

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
        expr = jsonata.Jsonata(_join_surrogate_pairs(expression))
        for name, implementation in _LAMBDAS.items():
            expr.register_lambda(name, implementation)
        expr.register_function(
            "string", jsonata.Jsonata.JNativeFunction("string", "<x-b?:s>", _JSONata206, "string")
        )
        # Not available in Step Functions: an unbound name, so $eval(...) fails (T1006).
        expr.register_function("eval", None)
        for name, value in _bound_values(expression).items():
            expr.assign(name, value)
        result = expr.evaluate(None)
    _last.expression, _last.result = expression, result
    return result


# moto writes every bound value ($states, variables) into each expression as a JSON
# literal, so a run over many tables has jsonata-python parse megabytes of literals. The
# values are kept here instead, keyed by their JSON text, and the expression refers to
# them by name: the same binding, parsed once by the json module. (moto wrote strings
# between quotes without escaping them, and everything else ASCII-escaped; neither
# survives this.)
_BOUND_PREFIX = "$__sfn_bound_"
_BOUND_REFERENCE = re.compile(re.escape(_BOUND_PREFIX) + "[0-9a-f]{32}")
_BOUND_MAX_CHARS = 64_000_000
_bound: OrderedDict[str, str] = OrderedDict()
_bound_chars = 0
_bound_lock = threading.Lock()


def _bind(value: Any) -> str:
    global _bound_chars
    text = json.dumps(value, cls=_DateTimeEncoder, ensure_ascii=False, separators=(",", ":"))
    name = _BOUND_PREFIX + hashlib.blake2b(_utf8(text), digest_size=16).hexdigest()
    with _bound_lock:
        if name in _bound:
            _bound.move_to_end(name)
        else:
            _bound[name] = text
            _bound_chars += len(text)
            while _bound_chars > _BOUND_MAX_CHARS and len(_bound) > 1:
                _bound_chars -= len(_bound.popitem(last=False)[1])
    return name


def _with_jsonata_nulls(value: Any) -> Any:
    # A JSON null inside a literal is JSONata's null (not undefined).
    if value is None:
        return Utils.NULL_VALUE
    if isinstance(value, dict):
        return {k: _with_jsonata_nulls(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_with_jsonata_nulls(v) for v in value]
    return value


def _bound_values(expression: str) -> dict[str, Any]:
    values = {}
    for name in set(_BOUND_REFERENCE.findall(expression)):
        with _bound_lock:
            text = _bound.get(name)
        if text is None:
            raise RuntimeError(f"binding {name} is no longer kept; raise _BOUND_MAX_CHARS")
        values[name[1:]] = _with_jsonata_nulls(json.loads(text))
    return values


def _encode_bindings(bindings: dict[str, Any]) -> str:
    return "".join(f"{name}:={_bind(value)};" for name, value in bindings.items())


def _report_errors_as_query_evaluation_errors() -> None:
    # "Error handling in Step Functions": a JSONata expression that fails to evaluate
    # fails its state with States.QueryEvaluationError (catchable, retriable), which
    # moto reports as States.Runtime (or not at all). Its cause wording is moto's own.
    from moto.stepfunctions.parser.api import EvaluationFailedEventDetails, HistoryEventType
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
        StatesErrorName,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.component.common.string.string_expression import (
        StringJSONata,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    evaluate_body = StringJSONata._eval_body
    if getattr(evaluate_body, "_reports_query_errors", False):
        return

    def eval_body(self: Any, env: Any) -> None:
        try:
            evaluate_body(self, env)
        except FailureEventException:
            raise
        except Exception as exc:  # any failure inside the expression
            error = StatesErrorNameType.StatesQueryEvaluationError.to_name()
            details = EvaluationFailedEventDetails(
                error=error,
                cause=f"The JSONata expression '{self.expression}' threw an error during "
                f"evaluation: {exc}",
            )
            env.event_manager.add_event(
                context=env.event_history_context,
                event_type=HistoryEventType.EvaluationFailed,
                event_details=EventDetails(evaluationFailedEventDetails=details),  # type: ignore[typeddict-item]
            )
            raise FailureEventException(
                failure_event=FailureEvent(
                    env=env,
                    error_name=StatesErrorName(typ=StatesErrorNameType.StatesQueryEvaluationError),
                    event_type=HistoryEventType.EvaluationFailed,
                    event_details=EventDetails(evaluationFailedEventDetails=details),  # type: ignore[typeddict-item]
                )
            ) from exc

    eval_body._reports_query_errors = True  # type: ignore[attr-defined]
    StringJSONata._eval_body = eval_body  # type: ignore[method-assign]


def install() -> None:
    moto_jsonata._eval_jsonata = evaluate
    _report_errors_as_query_evaluation_errors()
    moto_jsonata.encode_jsonata_variable_declarations = _encode_bindings
    # Remove every stand-in moto inlines for Step Functions' functions ($partition,
    # $range, $hash, $randomSeeded, $uuid, $parse): the implementations above replace them.
    sfn_functions._DECLARATION_BY_VARIABLE_REFERENCE.clear()
    # Modules that imported the encoder by name.
    import moto.stepfunctions.parser.asl.eval.states as states_mod
    import moto.stepfunctions.parser.asl.eval.variable_store as store_mod

    for module in (states_mod, store_mod):
        if hasattr(module, "encode_jsonata_variable_declarations"):
            module.encode_jsonata_variable_declarations = _encode_bindings  # type: ignore[attr-defined]

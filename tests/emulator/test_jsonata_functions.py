"""Step Functions' JSONata dialect in the emulator: the functions Step Functions adds
("Transforming data with JSONata in Step Functions"), ``$eval`` removed, and JSONata
2.0.6's handling of non-ASCII text (code points, ``$string`` leaving text unescaped).

Most cases run through a one-state JSONata machine, so they go through moto's own
expression building (bindings, inlined declarations) as a real definition does."""

from __future__ import annotations

import hashlib
import itertools
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any, cast

import pytest
from moto import mock_aws
from moto.core.config import DefaultConfig
from moto.stepfunctions.parser.asl.component.intrinsic import jsonata as moto_sfn_functions

import emulator
from emulator import harness, jsonata_engine

_names = itertools.count()

TEXTS = ["é", "日本語", "🚀", "Ünïcödé 🚀 日本語", "a🚀b"]


def run_expression(
    sfn: Any, expression: str, payload: Any = None, timeout: float = 20.0
) -> dict[str, Any]:
    """Evaluate ``expression`` as the Output of a Pass state; the described execution."""
    n = next(_names)
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "Evaluate",
        "States": {
            "Evaluate": {"Type": "Pass", "Output": {"v": f"{{% {expression} %}}"}, "End": True}
        },
    }
    arn = sfn.create_state_machine(
        name=f"jsonata-{n}", definition=json.dumps(definition), roleArn=harness.ROLE_ARN
    )["stateMachineArn"]
    execution = sfn.start_execution(
        stateMachineArn=arn, name=f"run-{n}", input=json.dumps({"value": payload})
    )["executionArn"]
    deadline = time.monotonic() + timeout
    while True:
        described = sfn.describe_execution(executionArn=execution)
        if described["status"] != "RUNNING":
            return dict(described)
        assert time.monotonic() < deadline, f"{expression} still running"
        time.sleep(0.02)


def output_of(sfn: Any, expression: str, payload: Any = None) -> Any:
    described = run_expression(sfn, expression, payload)
    assert described["status"] == "SUCCEEDED", (described.get("error"), described.get("cause"))
    return json.loads(described["output"])["v"]


def assert_fails(sfn: Any, expression: str, payload: Any = None) -> dict[str, Any]:
    described = run_expression(sfn, expression, payload)
    assert described["status"] == "FAILED", described.get("output")
    # "Error handling in Step Functions": a failing JSONata expression.
    assert described["error"] == "States.QueryEvaluationError", described.get("cause")
    return described


@pytest.fixture(scope="module")
def sfn() -> Iterator[Any]:
    """One emulator for the module: each test evaluates its own expressions in its own
    one-state machine, and nothing else is kept between them."""
    with mock_aws(config=cast(DefaultConfig, emulator.MOTO_CONFIG)):
        emulator.install()
        yield harness.clients()["stepfunctions"]


# -- moto's stand-ins ------------------------------------------------------------------


def test_none_of_motos_stand_ins_is_inlined_any_more(sfn: Any) -> None:
    assert moto_sfn_functions._DECLARATION_BY_VARIABLE_REFERENCE == {}
    assert (
        moto_sfn_functions.get_intrinsic_functions_declarations(
            {"$partition", "$range", "$hash", "$randomSeeded", "$uuid", "$parse"}
        )
        == ""
    )


# -- $partition ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "chunks"),
    [
        (0, []),
        (1, [1]),
        (49, [49]),
        (50, [50]),
        (51, [50, 1]),
        (52, [50, 2]),
        (100, [50, 50]),
        (120, [50, 50, 20]),
    ],
)
def test_partition_gives_full_chunks_then_one_shorter_and_nothing_for_nothing(
    sfn: Any, count: int, chunks: list[int]
) -> None:
    items = list(range(count))

    result = output_of(sfn, "$partition($states.input.value, 50)", items)

    assert [len(chunk) for chunk in result] == chunks
    assert [item for chunk in result for item in chunk] == items


def test_partition_of_the_documented_example(sfn: Any) -> None:
    assert output_of(sfn, "$partition([1, 2, 3, 4, 5, 6, 7, 8, 9], 4)") == [
        [1, 2, 3, 4],
        [5, 6, 7, 8],
        [9],
    ]


def test_partition_rounds_the_size_down(sfn: Any) -> None:
    assert output_of(sfn, "$partition([1, 2, 3, 4, 5], 2.9)") == [[1, 2], [3, 4], [5]]


@pytest.mark.parametrize("size", ["0", "-2", "0.5", "'2'"])
def test_partition_rejects_a_size_below_one(sfn: Any, size: str) -> None:
    assert_fails(sfn, f"$partition([1, 2, 3], {size})")


# -- $range ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ("0, 10, 2", [0, 2, 4, 6, 8, 10]),
        ("1, 9, 2", [1, 3, 5, 7, 9]),
        ("0, 9, 2", [0, 2, 4, 6, 8]),
        ("10, 0, -3", [10, 7, 4, 1]),
        ("3, 3, 1", [3]),
        ("5, 1, 1", []),
        ("1, 5, -1", []),
        ("1.9, 4.2, 1.7", [1, 2, 3, 4]),  # each rounded down: 1, 4, 1
        ("-1.5, 1, 1", [-2, -1, 0, 1]),
    ],
)
def test_range_is_inclusive_with_integer_arguments_rounded_down(
    sfn: Any, args: str, expected: list[int]
) -> None:
    assert output_of(sfn, f"$range({args})") == expected


@pytest.mark.parametrize("args", ["1, 5, 0", "1, 5, 0.5", "'a', 5, 1"])
def test_range_rejects_a_zero_step_and_non_numbers(sfn: Any, args: str) -> None:
    assert_fails(sfn, f"$range({args})")


# -- $hash -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("algorithm", "name"),
    [
        ("MD5", "md5"),
        ("SHA-1", "sha1"),
        ("SHA-256", "sha256"),
        ("SHA-384", "sha384"),
        ("SHA-512", "sha512"),
    ],
)
def test_hash_supports_the_documented_algorithms(sfn: Any, algorithm: str, name: str) -> None:
    text = "Überschreitung 日本語 🚀"

    result = output_of(sfn, f"$hash($states.input.value, '{algorithm}')", text)

    assert result == hashlib.new(name, text.encode("utf-8")).hexdigest()


def test_hash_rejects_other_algorithms(sfn: Any) -> None:
    assert_fails(sfn, "$hash('x', 'SHA-3')")


# -- $random, $uuid, $parse ------------------------------------------------------------


def test_random_is_in_the_unit_interval_and_a_seed_repeats_its_number(sfn: Any) -> None:
    result = output_of(
        sfn,
        "{'unseeded': [$random(), $random(), $random()],"
        " 'seeded': [$random(7), $random(7), $random(7.8)], 'other': $random(8)}",
    )

    assert all(0 <= n < 1 for n in result["unseeded"] + result["seeded"] + [result["other"]])
    assert len(set(result["seeded"])) == 1  # 7.8 is rounded down to 7
    assert result["other"] != result["seeded"][0]


def test_uuid_is_a_fresh_version_4_uuid(sfn: Any) -> None:
    first, second = output_of(sfn, "[$uuid(), $uuid()]")

    assert first != second
    assert all(uuid.UUID(u).version == 4 and str(uuid.UUID(u)) == u for u in (first, second))


def test_parse_reads_a_json_string(sfn: Any) -> None:
    text = json.dumps({"a": [1, {"b": "日本語 🚀"}], "n": None})

    assert output_of(sfn, "$parse($states.input.value)", text) == json.loads(text)
    assert_fails(sfn, "$parse('{not json')")


# -- $eval -----------------------------------------------------------------------------


@pytest.mark.parametrize("expression", ["$eval('1 + 1')", "$eval('[1, 2]', {})"])
def test_eval_is_not_available(sfn: Any, expression: str) -> None:
    assert_fails(sfn, expression)
    with pytest.raises(Exception, match="non-function"):
        jsonata_engine.evaluate(expression)


def test_eval_is_undefined_as_a_value(sfn: Any) -> None:
    assert output_of(sfn, "$exists($eval)") is False


# -- non-ASCII text (JSONata 2.0.6 counts code points) ---------------------------------


@pytest.mark.parametrize("text", TEXTS)
def test_string_of_a_string_is_the_string(sfn: Any, text: str) -> None:
    assert output_of(sfn, "$string($states.input.value)", text) == text


@pytest.mark.parametrize("text", TEXTS)
def test_string_of_objects_and_arrays_keeps_non_ascii_unescaped(sfn: Any, text: str) -> None:
    result = output_of(
        sfn,
        "[$string({'m': $states.input.value}), $string([$states.input.value, 1]),"
        " $string({'m': [$states.input.value]}, true)]",
        text,
    )

    assert result == [
        '{"m":"' + text + '"}',
        '["' + text + '",1]',
        '{\n  "m": [\n    "' + text + '"\n  ]\n}',
    ]
    assert "\\u" not in "".join(result)


def test_string_still_escapes_what_json_must(sfn: Any) -> None:
    text = 'quote " backslash \\ newline \n tab \t bell \x07 é'

    result = output_of(sfn, "$string({'m': $states.input.value})", text)

    assert result == '{"m":"quote \\" backslash \\\\ newline \\n tab \\t bell \\u0007 é"}'
    assert json.loads(result) == {"m": text}


@pytest.mark.parametrize(
    ("text", "length"), [("é", 1), ("日本語", 3), ("🚀", 1), ("a🚀b", 3), ("👩‍💻", 3)]
)
def test_length_counts_code_points(sfn: Any, text: str, length: int) -> None:
    # "👩‍💻" is three code points (woman, zero-width joiner, laptop), five UTF-16 units.
    assert output_of(sfn, "$length($states.input.value)", text) == length


@pytest.mark.parametrize(
    ("text", "args", "expected"),
    [
        ("日本語", "1", "本語"),
        ("日本語", "0, 2", "日本"),
        ("日本語", "-1", "語"),
        ("a🚀b", "1, 1", "🚀"),
        ("a🚀b", "2", "b"),
        ("🚀🚀🚀", "-2, 1", "🚀"),
        ("é🚀", "0, 1", "é"),
    ],
)
def test_substring_counts_code_points(sfn: Any, text: str, args: str, expected: str) -> None:
    assert output_of(sfn, f"$substring($states.input.value, {args})", text) == expected


@pytest.mark.parametrize(
    ("text", "args", "expected"),
    [
        ("🚀", "3, '#'", "🚀##"),
        ("日本", "-4", "  日本"),
        ("a", "-4, '🚀'", "🚀🚀🚀a"),
        ("é", "4, 'xy'", "éxyx"),
    ],
)
def test_pad_counts_code_points(sfn: Any, text: str, args: str, expected: str) -> None:
    assert output_of(sfn, f"$pad($states.input.value, {args})", text) == expected


def test_escaped_surrogate_pairs_in_an_expression_are_one_character(sfn: Any) -> None:
    # In a definition, "\\ud83d\\ude80" inside a JSONata string is one emoji (JavaScript
    # strings are UTF-16); an escaped backslash before "u" is not an escape.
    result = output_of(
        sfn, "[$length('\\ud83d\\ude80'), '\\ud83d\\ude80' = '🚀', $length('\\\\ud83d')]"
    )

    assert result == [1, True, 6]


def test_variables_keep_non_ascii_text_across_states(sfn: Any) -> None:
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "Keep",
        "States": {
            "Keep": {
                "Type": "Pass",
                "Assign": {"kept": "{% $states.input.value %}"},
                "Next": "Use",
            },
            "Use": {
                "Type": "Pass",
                "Output": "{% [$kept, $length($kept), $substring($kept, 1, 1), $string([$kept])] %}",
                "End": True,
            },
        },
    }
    arn = sfn.create_state_machine(
        name="jsonata-variables", definition=json.dumps(definition), roleArn=harness.ROLE_ARN
    )["stateMachineArn"]
    execution = sfn.start_execution(
        stateMachineArn=arn, name="run", input=json.dumps({"value": "a🚀日"})
    )["executionArn"]
    deadline = time.monotonic() + 20
    while (described := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.02)

    assert json.loads(described["output"]) == ["a🚀日", 3, "🚀", '["a🚀日"]']


# -- $string's numbers (JSONata 2.0.6: 15 significant digits, JavaScript notation) -----


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("$string({'n': 0.1 + 0.2})", '{"n":0.3}'),
        (
            "$string([1e-7, 1e21, 123.456, -0.5, 2, 1e20])",
            "[1e-7,1e+21,123.456,-0.5,2,100000000000000000000]",
        ),
        ("$string(1e20)", "100000000000000000000"),
        ("$string(0.000001)", "0.000001"),
        ("$string(4 / 2)", "2"),
    ],
)
def test_string_writes_numbers_as_jsonata_206(expression: str, expected: str) -> None:
    assert jsonata_engine.evaluate(expression) == expected

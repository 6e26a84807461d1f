"""The ASL builder refuses machines Step Functions would refuse, or never notice."""

from __future__ import annotations

import pytest
from table_exporter.kernel.asl import (
    AslError,
    Catch,
    Choice,
    Fail,
    Graph,
    Machine,
    Map,
    Pass,
    Succeed,
    Task,
    jsonata,
)
from table_exporter.kernel.grants import Grant, Resource, fixed


def test_states_linked_by_reference_render_by_name() -> None:
    done = Succeed("Done")
    failed = Fail("Failed", error="E", cause="c")
    call = Task("Call", resource="arn:aws:states:::aws-sdk:s3:getObject", next=done)
    call.catch.append(Catch(["States.ALL"], failed))
    start = Pass("Start")
    start.then(Choice("Route").when(jsonata("$x = 1"), call).otherwise(done))

    rendered = Machine(start, built=[start, call, done, failed]).render()

    assert rendered["StartAt"] == "Start"
    assert rendered["States"]["Start"]["Next"] == "Route"
    assert rendered["States"]["Route"]["Choices"] == [{"Condition": "{% $x = 1 %}", "Next": "Call"}]
    assert rendered["States"]["Call"]["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "Next": "Failed"}
    ]
    assert set(rendered["States"]) == {"Start", "Route", "Call", "Done", "Failed"}


def test_a_state_that_leads_nowhere_is_rejected() -> None:
    with pytest.raises(AslError, match="'Start' needs exactly one of a next state or End"):
        Machine(Pass("Start")).render()


def test_a_state_with_both_next_and_end_is_rejected() -> None:
    with pytest.raises(AslError, match="exactly one"):
        Machine(Pass("Start", next=Succeed("Done"), end=True)).render()


def test_two_states_with_one_name_are_rejected() -> None:
    start = Pass("Same")
    start.then(Pass("Same", end=True))
    with pytest.raises(AslError, match="two states are named 'Same'"):
        Machine(start).render()


def test_a_built_state_nothing_reaches_is_rejected() -> None:
    start = Pass("Start", end=True)
    orphan = Fail("Orphan", error="E", cause="c")
    with pytest.raises(AslError, match="unreachable states: Orphan"):
        Machine(start, built=[start, orphan]).render()


def test_a_choice_without_choices_is_rejected() -> None:
    with pytest.raises(AslError, match="no choices"):
        Machine(Choice("Empty", default=Succeed("Done"))).render()


def test_grants_are_collected_from_tasks_and_maps_including_map_processors() -> None:
    children = Resource("Children", fixed("arn:aws:states:::children"))
    itself = Resource("Itself", fixed("arn:aws:states:::self"))
    objects = Resource("Objects", fixed("arn:aws:s3:::objects/*"))
    inner = Task(
        "Inner",
        resource="arn:aws:states:::states:startExecution.sync:2",
        end=True,
        grants=(Grant(children, ("states:StartExecution",)),),
    )
    fan_out = Map(
        "FanOut",
        items=jsonata("[1, 2]"),
        processor=Graph(inner),
        distributed=True,
        end=True,
        grants=(Grant(itself, ("states:StartExecution",)),),
    )
    first = Task(
        "First",
        resource="arn:aws:states:::aws-sdk:s3:getObject",
        next=fan_out,
        grants=(Grant(objects, ("s3:GetObject",)), Grant(children, ("states:StopExecution",))),
    )

    machine = Machine(first)

    # In the order the machine first asks: First, the Map, then the Map's processor.
    assert list(machine.grants().items()) == [
        (objects, ("s3:GetObject",)),
        (children, ("states:StartExecution", "states:StopExecution")),
        (itself, ("states:StartExecution",)),
    ]
    processor = machine.render()["States"]["FanOut"]["ItemProcessor"]
    assert processor["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    assert processor["StartAt"] == "Inner"

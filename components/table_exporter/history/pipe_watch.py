"""The pipe watch: notices a change-history pipe that stopped running.

EventBridge Pipes may disable a pipe after nearly continuous 4xx errors, IAM failures
among them (EventBridge user guide, "Error handling and troubleshooting in Amazon
EventBridge Pipes"). A stopped pipe publishes no metrics at all, so every metric alarm
treats it as quiet, and the table's stream records expire after 24 hours: the history
is lost without a sound. No metric says "stopped", so on a schedule this small machine
asks each pipe its state (``DescribePipe``) and fails, naming every pipe whose
``CurrentState`` is not ``RUNNING`` and its ``StateReason``; its alarms fire on a failed
watch and on no successful watch for two hours (the watch itself broken)::

    DescribePipes (Map, 10 at once: DescribePipe) ─▶ AnyStopped ─┬▶ AllRunning
                                                                 └▶ PipesNotRunning (Fail)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from table_exporter.kernel import fragments
from table_exporter.kernel.alarms import AlarmSpec, any_in_five_minutes, none_succeeded_within
from table_exporter.kernel.asl import (
    Choice,
    Fail,
    Graph,
    Machine,
    Map,
    StateBuilder,
    Succeed,
    Task,
    jsonata,
)
from table_exporter.kernel.grants import Grant, Resource, statements
from table_exporter.kernel.iam import document
from table_exporter.kernel.retries import retry_for

SCHEDULE = "rate(30 minutes)"
"""How often the watch runs: a stopped pipe is noticed within the hour, well inside the
stream's 24 hours of retention."""
STALE_HOURS = 2


@dataclass(frozen=True)
class PipeWatchSpec:
    pipe_names: Sequence[str]
    partition: str = "aws"

    def __post_init__(self) -> None:
        if not self.pipe_names:
            raise ValueError("the pipe watch needs at least one pipe")


@dataclass(frozen=True)
class PipeWatchRole:
    pipe_arns: Sequence[str]


PIPES: Resource[PipeWatchRole] = Resource(
    "DescribeTheExportersPipes", lambda role: sorted(role.pipe_arns)
)
"""Exactly the exporter's pipes."""


class _Builder(StateBuilder):
    """Builds the watch in the order an execution meets its states: the pipes are
    described, then judged."""

    def __init__(self, spec: PipeWatchSpec) -> None:
        super().__init__(spec.partition)
        self.spec = spec

    def build(self) -> Machine:
        pipes = self.describe_pipes()
        self.verdict(pipes)
        return Machine(
            pipes,
            built=self.built,
            comment="Fail when a change-history pipe is not running, naming it and why.",
            timeout_seconds=900,
        )

    def describe_pipes(self) -> Map:
        """Every pipe's state, ten at a time; the pipes not ``RUNNING`` go to ``$stopped``."""
        return self.add(
            Map(
                "DescribePipes",
                items=list(self.spec.pipe_names),
                item_selector={"name": jsonata("$states.context.Map.Item.Value")},
                max_concurrency=10,
                processor=Graph(self.describe_pipe()),
                assign={
                    "stopped": jsonata(
                        "[$filter($states.result, function($p) { $p.state != 'RUNNING' })]"
                    )
                },
                catch=fragments.catch_all(
                    fragments.rejected(
                        self,
                        "WatchFailed",
                        prefix="PipeWatch",
                        cause=jsonata("$string($states.input.Cause)"),
                        comment="DescribePipe itself failed (after its retries): say which error.",
                    )
                ),
            )
        )

    def describe_pipe(self) -> Task:
        """One Map item. Not added to ``built``: it belongs to the Map's processor."""
        return Task(
            "DescribePipe",
            resource=f"{self.sdk}pipes:describePipe",
            retry=retry_for("pipes", "describePipe"),
            grants=(Grant(PIPES, ("pipes:DescribePipe",)),),
            arguments={"Name": jsonata("$states.input.name")},
            output={
                "name": jsonata("$states.result.Name"),
                "state": jsonata("$states.result.CurrentState"),
                "desired": jsonata("$states.result.DesiredState"),
                "reason": jsonata("$states.result.StateReason ? $states.result.StateReason : ''"),
            },
            end=True,
        )

    def verdict(self, pipes: Map) -> None:
        """Fails naming the pipes that are not running, if any."""
        cause = (
            "$substring($string({'message': $string($count($stopped)) & ' of ' & "
            f"'{len(self.spec.pipe_names)} change-history pipes are not running: ' & "
            "$join($stopped.(name & ' (' & state & ')'), ', '), 'pipes': $stopped}), 0, 32768)"
        )
        pipes.then(self.add(Choice("AnyStopped"))).when(
            jsonata("$count($stopped) > 0"),
            self.add(Fail("PipesNotRunning", error="PipesNotRunning", cause=jsonata(cause))),
        ).otherwise(self.add(Succeed("AllRunning")))


def pipe_watch_machine(spec: PipeWatchSpec) -> Machine:
    return _Builder(spec).build()


def pipe_watch_definition(spec: PipeWatchSpec) -> dict[str, Any]:
    return pipe_watch_machine(spec).render()


def pipe_watch_role_policy(spec: PipeWatchSpec, *, pipe_arns: Sequence[str]) -> dict[str, Any]:
    """``pipes:DescribePipe`` on exactly the exporter's pipes (grants from the states)."""
    return document(*statements(pipe_watch_machine(spec).grants(), PipeWatchRole(pipe_arns)))


def pipe_watch_alarm_specs() -> list[AlarmSpec]:
    return [
        any_in_five_minutes(
            "pipe-watch-failed",
            "pipe_watch",
            "ExecutionsFailed",
            "A change-history pipe is not running (or could not be asked): its stream records expire after 24 hours.",
        ),
        none_succeeded_within(
            "pipe-watch-stale",
            "pipe_watch",
            STALE_HOURS,
            f"No pipe watch succeeded in the last {STALE_HOURS} hours: stopped pipes would go unnoticed.",
        ),
    ]

"""A small Amazon States Language builder: states linked by reference, rendered once.

States are Python objects; ``next``, ``catch`` and ``choices`` hold the states they lead
to, not their names. A machine is rendered from its start state by following those
links, and ``render`` refuses what Step Functions would refuse later, or never notice:
a state that leads nowhere, two states with one name, and a state built for the
machine that nothing reaches. Each Task states the IAM actions it needs and the
resource they act on (``grants.py``), so a role's policy is collected from its machine.

Only what the exporter's machines use is here: JSONata states (``QueryLanguage``
``JSONata``), Task, Pass, Wait, Choice, Succeed, Fail and Map (inline or distributed).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from table_exporter.kernel.grants import Grant, Grants, collect


def jsonata(expression: str) -> str:
    """Wrap an expression for a JSONata field; multi-line sources become one line."""
    return "{% " + " ".join(expression.split()) + " %}"


@dataclass(eq=False)
class State:
    """A state; ``name`` is its key in ``States``."""

    name: str
    comment: str | None = field(default=None, kw_only=True)

    def targets(self) -> list[State]:
        """The states this one can lead to."""
        return []

    def body(self) -> dict[str, Any]:
        raise NotImplementedError

    def render(self) -> dict[str, Any]:
        rendered: dict[str, Any] = {"Type": type(self).__name__}
        if self.comment:
            rendered["Comment"] = self.comment
        rendered.update(self.body())
        return rendered


_S = TypeVar("_S", bound=State)


@dataclass(eq=False)
class _Flowing(State):
    """A state that goes on to ``next``; one without ``next`` must be ``end``."""

    next: State | None = field(default=None, kw_only=True)
    end: bool = field(default=False, kw_only=True)
    output: Any = field(default=None, kw_only=True)
    assign: dict[str, Any] | None = field(default=None, kw_only=True)

    def then(self, state: _S) -> _S:
        """Link ``state`` after this one; returns it, so chains read left to right."""
        self.next = state
        return state

    def targets(self) -> list[State]:
        return [self.next] if self.next is not None else []

    def _flow(self) -> dict[str, Any]:
        if (self.next is None) == (not self.end):
            raise AslError(f"state {self.name!r} needs exactly one of a next state or End")
        fields: dict[str, Any] = {}
        if self.assign is not None:
            fields["Assign"] = self.assign
        if self.output is not None:
            fields["Output"] = self.output
        fields.update({"Next": self.next.name} if self.next is not None else {"End": True})
        return fields


@dataclass(eq=False)
class Catch:
    errors: Sequence[str]
    next: State
    output: Any = None

    def render(self) -> dict[str, Any]:
        rendered: dict[str, Any] = {"ErrorEquals": list(self.errors)}
        if self.output is not None:
            rendered["Output"] = self.output
        rendered["Next"] = self.next.name
        return rendered


@dataclass(eq=False)
class _Guarded(_Flowing):
    retry: list[dict[str, Any]] = field(default_factory=list, kw_only=True)
    catch: list[Catch] = field(default_factory=list, kw_only=True)
    grants: tuple[Grant, ...] = field(default=(), kw_only=True)
    """What the machine's role must allow for this state's calls."""

    def on_error(self, errors: Sequence[str], state: State, output: Any = None) -> _Guarded:
        self.catch.append(Catch(errors, state, output))
        return self

    def targets(self) -> list[State]:
        return super().targets() + [c.next for c in self.catch]

    def _guards(self) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        if self.retry:
            fields["Retry"] = self.retry
        if self.catch:
            fields["Catch"] = [c.render() for c in self.catch]
        return fields


@dataclass(eq=False)
class Task(_Guarded):
    resource: str = field(kw_only=True)
    arguments: Any = field(default=None, kw_only=True)

    def body(self) -> dict[str, Any]:
        fields: dict[str, Any] = {"Resource": self.resource}
        if self.arguments is not None:
            fields["Arguments"] = self.arguments
        return {**fields, **self._guards(), **self._flow()}


@dataclass(eq=False)
class Pass(_Flowing):
    def body(self) -> dict[str, Any]:
        return self._flow()


@dataclass(eq=False)
class Wait(_Flowing):
    seconds: Any = field(kw_only=True)

    def body(self) -> dict[str, Any]:
        return {"Seconds": self.seconds, **self._flow()}


@dataclass(eq=False)
class Choice(State):
    choices: list[tuple[str, State]] = field(default_factory=list, kw_only=True)
    """``(JSONata condition, state)`` pairs, tried in order."""
    default: State | None = field(default=None, kw_only=True)
    assign: dict[str, Any] | None = field(default=None, kw_only=True)

    def when(self, condition: str, state: State) -> Choice:
        self.choices.append((condition, state))
        return self

    def otherwise(self, state: State) -> Choice:
        self.default = state
        return self

    def targets(self) -> list[State]:
        return [s for _, s in self.choices] + ([self.default] if self.default else [])

    def body(self) -> dict[str, Any]:
        if not self.choices:
            raise AslError(f"choice {self.name!r} has no choices")
        fields: dict[str, Any] = {
            "Choices": [{"Condition": c, "Next": s.name} for c, s in self.choices]
        }
        if self.default is not None:
            fields["Default"] = self.default.name
        if self.assign is not None:
            fields["Assign"] = self.assign
        return fields


@dataclass(eq=False)
class Succeed(State):
    output: Any = field(default=None, kw_only=True)

    def body(self) -> dict[str, Any]:
        return {"Output": self.output} if self.output is not None else {}


@dataclass(eq=False)
class Fail(State):
    error: str = field(kw_only=True)
    cause: str = field(kw_only=True)

    def body(self) -> dict[str, Any]:
        return {"Error": self.error, "Cause": self.cause}


@dataclass(eq=False)
class Map(_Guarded):
    items: Any = field(kw_only=True)
    processor: Graph = field(kw_only=True)
    """The states run for each item."""
    item_selector: dict[str, Any] | None = field(default=None, kw_only=True)
    max_concurrency: int | None = field(default=None, kw_only=True)
    distributed: bool = field(default=False, kw_only=True)
    """Distributed mode: each item is a STANDARD child workflow execution."""
    tolerated_failure_percentage: float | None = field(default=None, kw_only=True)
    result_writer: dict[str, Any] | None = field(default=None, kw_only=True)
    label: str | None = field(default=None, kw_only=True)

    def body(self) -> dict[str, Any]:
        fields: dict[str, Any] = {"Items": self.items}
        if self.item_selector is not None:
            fields["ItemSelector"] = self.item_selector
        if self.max_concurrency is not None:
            fields["MaxConcurrency"] = self.max_concurrency
        config = (
            {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
            if self.distributed
            else {"Mode": "INLINE"}
        )
        fields["ItemProcessor"] = {"ProcessorConfig": config, **self.processor.render_states()}
        if self.label is not None:
            fields["Label"] = self.label
        if self.tolerated_failure_percentage is not None:
            fields["ToleratedFailurePercentage"] = self.tolerated_failure_percentage
        if self.result_writer is not None:
            fields["ResultWriter"] = self.result_writer
        return {**fields, **self._guards(), **self._flow()}


class AslError(ValueError):
    """A machine Step Functions would reject, or one with a state nothing reaches."""


@dataclass(eq=False)
class Graph:
    """The states reachable from ``start``; ``built`` are all the states made for it,
    so a state left out of the links is caught instead of silently dropped."""

    start: State
    built: Iterable[State] = ()

    def reachable(self) -> list[State]:
        seen: dict[int, State] = {}
        order: list[State] = []
        pending = [self.start]
        while pending:
            state = pending.pop(0)
            if id(state) in seen:
                continue
            seen[id(state)] = state
            order.append(state)
            pending.extend(state.targets())
        return order

    def render_states(self) -> dict[str, Any]:
        states = self.reachable()
        names: dict[str, State] = {}
        for state in states:
            if state.name in names:
                raise AslError(f"two states are named {state.name!r}")
            names[state.name] = state
        reached = {id(s) for s in states}
        unreachable = [s.name for s in self.built if id(s) not in reached]
        if unreachable:
            raise AslError(f"unreachable states: {', '.join(sorted(unreachable))}")
        return {"StartAt": self.start.name, "States": {s.name: s.render() for s in states}}

    def tasks(self) -> list[Task]:
        """Every Task, those of Map processors included."""
        return [s for s in self.calling() if isinstance(s, Task)]

    def calling(self) -> list[_Guarded]:
        """Every state that calls AWS (Tasks and Maps), those of Map processors included."""
        found: list[_Guarded] = []
        for state in self.reachable():
            if isinstance(state, _Guarded):
                found.append(state)
            if isinstance(state, Map):
                found.extend(state.processor.calling())
        return found

    def grants(self) -> Grants:
        """Actions per resource, collected from the states that call AWS, in the order
        the machine first asks for each resource."""
        return collect(grant for state in self.calling() for grant in state.grants)


@dataclass(eq=False)
class Machine(Graph):
    comment: str = ""
    timeout_seconds: int | None = None

    def render(self) -> dict[str, Any]:
        rendered: dict[str, Any] = {"Comment": self.comment, "QueryLanguage": "JSONata"}
        if self.timeout_seconds is not None:
            rendered["TimeoutSeconds"] = self.timeout_seconds
        rendered.update(self.render_states())
        return rendered


# -- paging: a listing task that runs again while the service returns a page token ----

MORE_PAGES = "{% $type($next) = 'string' %}"
"""The condition of another page: the listing task left a token in ``$next``."""


def paged_arguments(first_page: str, token_member: str) -> str:
    """A listing task's JSONata arguments: ``first_page`` (a JSONata object) plus the
    token of the next page, under ``token_member``, once ``$next`` holds one."""
    return jsonata(
        f"$merge([{first_page}, $type($next) = 'string' ? {{'{token_member}': $next}} : {{}}])"
    )


def next_page_token(result_member: str) -> str:
    """What a listing task assigns to ``$next``: the result's token, or null at the end."""
    return jsonata(
        f"$exists($states.result.{result_member}) ? $states.result.{result_member} : null"
    )


class StateBuilder:
    """Collects the states one machine is built from, so ``render`` can tell a state
    left out of the links; ``task`` makes an aws-sdk Task with the service's retries
    (``retries.py``) and the grants it needs."""

    def __init__(self, partition: str) -> None:
        self.sdk = f"arn:{partition}:states:::aws-sdk:"
        self.built: list[State] = []

    def add(self, state: _S) -> _S:
        self.built.append(state)
        return state

    def while_more_pages(self, name: str, page: Task, *, then: State) -> Choice:
        """Run ``page`` again while it leaves a token in ``$next``, then go to ``then``."""
        more = self.add(Choice(name, default=then).when(MORE_PAGES, page))
        page.then(more)
        return more

    def polling_loop(
        self,
        names: tuple[str, str, str],
        *,
        action: str,
        grants: tuple[Grant, ...],
        arguments: dict[str, Any],
        described: tuple[str, str],
        next_wait: Callable[[str], str],
        catch: list[Catch],
    ) -> tuple[Wait, Task, Choice]:
        """``Wait`` ─▶ DynamoDB ``action`` ─▶ ``Choice`` (``names``, in that order): waits
        ``$wait`` seconds, describes, keeps the description in ``described[0]`` (taken
        from the result's ``described[1]``), adds the wait to ``$elapsed`` and plans the
        next wait with ``next_wait``. The choice goes back to waiting by default; its
        exits are the caller's to add."""
        wait_name, describe_name, finished_name = names
        wait = self.add(Wait(wait_name, seconds=jsonata("$wait")))
        variable, member = described
        describe = self.task(
            describe_name,
            "dynamodb",
            action,
            grants=grants,
            arguments=arguments,
            assign={
                variable: jsonata(f"$states.result.{member}"),
                "elapsed": jsonata("$elapsed + $wait"),
                "wait": jsonata(next_wait("$elapsed + $wait")),
            },
            catch=catch,
        )
        finished = self.add(Choice(finished_name, default=wait))
        wait.then(describe).then(finished)
        return wait, describe, finished

    def task(
        self, name: str, service: str, action: str, *, grants: tuple[Grant, ...], **fields: Any
    ) -> Task:
        from table_exporter.kernel.retries import retry_for

        fields.setdefault("output", {})
        fields.setdefault("retry", retry_for(service, action))
        return self.add(
            Task(name, resource=f"{self.sdk}{service}:{action}", grants=grants, **fields)
        )

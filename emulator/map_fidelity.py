"""Distributed Map runs as AWS documents them, where moto 5.2.5 falls short.

What moto does and what this module changes, each with the AWS page it follows
(titles of the AWS Step Functions Developer Guide and API Reference); where AWS says
nothing, the code says "undocumented" and what it chose:

- parsing: moto's grammar rejects an integer ``ToleratedFailurePercentage`` (``100``;
  it wants ``100.0``) and a JSONata ``ResultWriter`` with ``Arguments`` (it knows only
  ``Parameters``), and reads a JSONata ``ToleratedFailureCount`` as a percentage;
- tolerance: moto ignores ``ToleratedFailurePercentage`` / ``ToleratedFailureCount``;
  here failed and timed-out items are tolerated up to the threshold, beyond it the Map
  Run fails with ``States.ExceedToleratedFailureThreshold``, items not started stay
  pending and running ones are aborted;
- child workflow executions: each item gets a name, an ARN, start and stop dates (in
  the emulator's virtual time), a status and its output or error, kept with the Map Run;
- scheduling: at most ``MaxConcurrency`` children at once, and the next item goes to
  the worker that is free first in virtual time, so exactly ``MaxConcurrency`` run
  while items wait; the parent's clock ends at the last child's stop;
- ``ResultWriter``: ``manifest.json`` and ``SUCCEEDED_n`` / ``FAILED_n`` /
  ``PENDING_n`` files with one entry per child (moto writes an empty manifest);
- ``DescribeMapRun`` counts that match what happened, returned to an
  ``aws-sdk:sfn:describeMapRun`` task with PascalCase fields;
- ``aws-sdk:s3:getObject`` returns ``Body`` as text (moto hands back a stream);
- ``ListExecutions`` with ``mapRunArn`` lists the Map Run's child executions.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from . import clock
from .sfn_fidelity import iso8601, validating_client

EXCEEDED = "States.ExceedToleratedFailureThreshold"
DISTRIBUTED_MAX_CONCURRENCY = 10_000
"""Children a Distributed Map runs in parallel when ``MaxConcurrency`` is 0 or absent
("Using Map state in Distributed mode")."""


# --------------------------------------------------------------------------- parsing


def _normalise_states(states: Any, query_language: str) -> None:
    """Rewrites, in place, what AWS accepts and moto's grammar does not.

    Follows "Map state ToleratedFailurePercentage" (a number from 0 to 100: an
    integer is a number) and "ResultWriter (Map)" (JSONata states give the bucket and
    prefix in ``Arguments``). The rewrite only changes spelling, never meaning:
    ``100`` becomes ``100.0``, and ``Arguments`` reaches moto's grammar as
    ``Parameters``, where ``_visit_result_writer`` reads it back as JSONata.
    """
    if not isinstance(states, dict):
        return
    for state in states.values():
        if not isinstance(state, dict):
            continue
        language = state.get("QueryLanguage", query_language)
        if state.get("Type") == "Map":
            percentage = state.get("ToleratedFailurePercentage")
            if isinstance(percentage, int) and not isinstance(percentage, bool):
                state["ToleratedFailurePercentage"] = float(percentage)
            writer = state.get("ResultWriter")
            if (
                language == "JSONata"
                and isinstance(writer, dict)
                and isinstance(writer.get("Arguments"), dict)
                and "Parameters" not in writer
            ):
                state["ResultWriter"] = {
                    ("Parameters" if key == "Arguments" else key): value
                    for key, value in writer.items()
                }
            for key in ("ItemProcessor", "Iterator"):
                inner = state.get(key)
                if isinstance(inner, dict):
                    _normalise_states(inner.get("States"), inner.get("QueryLanguage", language))  # type: ignore[arg-type]
        for branch in state.get("Branches", []) if state.get("Type") == "Parallel" else []:
            if isinstance(branch, dict):
                _normalise_states(branch.get("States"), branch.get("QueryLanguage", language))  # type: ignore[arg-type]


def normalise_definition(definition: str) -> str:
    """The definition as moto's grammar can read it (see ``_normalise_states``)."""
    try:
        document = json.loads(definition)
    except (TypeError, ValueError):
        return definition
    if not isinstance(document, dict):
        return definition
    _normalise_states(document.get("States"), document.get("QueryLanguage", "JSONPath"))
    return json.dumps(document)


def _install_parsing() -> None:
    from antlr4 import CommonTokenStream, InputStream
    from moto.stepfunctions.parser.asl.antlr.runtime.ASLLexer import ASLLexer
    from moto.stepfunctions.parser.asl.antlr.runtime.ASLParser import ASLParser
    from moto.stepfunctions.parser.asl.component.common.parargs import (
        ArgumentsJSONataTemplateValueObject,
    )
    from moto.stepfunctions.parser.asl.component.common.query_language import (
        QueryLanguageMode,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map import tolerated_failure
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer.result_writer_decl import (
        ResultWriter,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import (
        Resource,
    )
    from moto.stepfunctions.parser.asl.component.state.state_props import StateProps
    from moto.stepfunctions.parser.asl.parse import asl_parser
    from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor

    original_parse = asl_parser.AmazonStateLanguageParser.parse

    def parse(definition: str) -> Any:
        return original_parse(normalise_definition(definition))

    asl_parser.AmazonStateLanguageParser.parse = staticmethod(parse)  # type: ignore[method-assign]

    def visit_result_writer(self: Any, ctx: Any) -> Any:
        """Per "ResultWriter (Map)": in JSONata, ``Arguments`` is a JSONata template."""
        props = StateProps()
        for child in ctx.children[3:-1]:
            parameters = getattr(child, "parameters_decl", lambda: None)()
            if parameters is not None and self._is_query_language(
                query_language_mode=QueryLanguageMode.JSONata
            ):
                text = parameters.payload_tmpl_decl().getText()
                parser = ASLParser(CommonTokenStream(ASLLexer(InputStream(text))))
                template = self.visit(parser.jsonata_template_value_object())
                props.add(
                    ArgumentsJSONataTemplateValueObject(jsonata_template_value_object=template)
                )
            else:
                props.add(self.visit(child))
        resource = props.get(
            typ=Resource, raise_on_missing=ValueError("ResultWriter needs a Resource")
        )
        from moto.stepfunctions.parser.asl.component.common.parargs import Parargs

        parargs = props.get(
            typ=Parargs, raise_on_missing=ValueError("ResultWriter needs Arguments")
        )
        return ResultWriter(resource=resource, parargs=parargs)  # type: ignore[arg-type]

    Preprocessor.visitResult_writer_decl = visit_result_writer  # type: ignore[method-assign]

    def visit_count_jsonata(self: Any, ctx: Any) -> Any:
        """Per "Map state ToleratedFailureCount": a JSONata count is a count (moto built a
        percentage from it)."""
        return tolerated_failure.ToleratedFailureCountStringJSONata(
            string_jsonata=self.visitString_jsonata(ctx=ctx.string_jsonata())
        )

    Preprocessor.visitTolerated_failure_count_string_jsonata = visit_count_jsonata  # type: ignore[method-assign]

    def percentage_jsonata(self: Any, env: Any) -> float:
        """Per "Map state ToleratedFailurePercentage": a number from 0 to 100, fractions
        kept (moto truncated it to an integer). Out of range: ``States.Runtime``
        (the error name is undocumented; the range is documented)."""
        self.string_jsonata.eval(env=env)
        value = float(env.stack.pop())
        if not 0.0 <= value <= 100.0:
            raise ValueError("ToleratedFailurePercentage must be between 0 and 100.")
        return value

    tolerated_failure.ToleratedFailurePercentageStringJSONata._eval_tolerated_failure_percentage = (  # type: ignore[method-assign]
        percentage_jsonata
    )
    # moto warns that tolerance "has no effect"; here it has.
    import logging

    logging.getLogger("moto.stepfunctions.parser.asl.parse.preprocessor").setLevel(logging.ERROR)


# ------------------------------------------------------------------- the Map Run


@dataclass
class Child:
    """One child workflow execution of a Map Run ("Child workflow executions")."""

    index: int
    input: Any
    name: str
    execution_arn: str
    state_machine_arn: str
    start: dt.datetime
    stop: dt.datetime | None = None
    status: str = "RUNNING"
    output: Any = None
    error: str | None = None
    cause: str | None = None

    def result_entry(self) -> dict[str, Any]:
        """One entry of a ``SUCCEEDED_n`` / ``FAILED_n`` file, with the fields "ResultWriter
        (Map)" lists for STANDARD children; Input and Output are JSON text as in
        DescribeExecution. ``RedriveCount`` 0 and ``RedriveStatus`` follow DescribeExecution;
        the ``RedriveStatusReason`` wording is undocumented."""
        entry: dict[str, Any] = {
            "ExecutionArn": self.execution_arn,
            "Input": json.dumps(self.input, separators=(",", ":")),
            "InputDetails": {"Included": True},
            "Name": self.name,
        }
        if self.status == "SUCCEEDED":
            entry["Output"] = json.dumps(self.output, separators=(",", ":"))
            entry["OutputDetails"] = {"Included": True}
        else:
            if self.error is not None:
                entry["Error"] = self.error
            if self.cause is not None:
                entry["Cause"] = self.cause
        entry.update(
            {
                "RedriveCount": 0,
                "RedriveStatus": "NOT_REDRIVABLE" if self.status == "SUCCEEDED" else "REDRIVABLE",
                "StartDate": iso8601(self.start),
                "StateMachineArn": self.state_machine_arn,
                "Status": self.status,
                "StopDate": iso8601(self.stop or self.start),
            }
        )
        return entry

    def list_item(self, map_run_arn: str) -> dict[str, Any]:
        item: dict[str, Any] = {
            "executionArn": self.execution_arn,
            "stateMachineArn": self.state_machine_arn,
            "name": self.name,
            "status": self.status,
            "startDate": self.start,
            "mapRunArn": map_run_arn,
            "itemCount": 1,
        }
        if self.stop is not None:
            item["stopDate"] = self.stop
        return item


@dataclass
class Run:
    """What happened in one Map Run, kept for DescribeMapRun, ResultWriter and
    ListExecutions."""

    map_run_arn: str
    state_machine_arn: str
    items: list[Any]
    tolerated_count: int | None
    tolerated_percentage: float | None
    children: dict[int, Child] = field(default_factory=dict)
    frames: dict[int, Any] = field(default_factory=dict)
    aborted: set[int] = field(default_factory=set)
    exceeded: bool = False
    results_written: int = 0
    lock: threading.RLock = field(default_factory=threading.RLock)

    def failures(self) -> int:
        return sum(c.status in ("FAILED", "TIMED_OUT") for c in self.children.values())

    def exceeds_tolerance(self) -> bool:
        """Per "Using Map state in Distributed mode" (failure threshold): the Map Run fails
        when failed or timed-out items exceed ToleratedFailureCount or their share of all
        items exceeds ToleratedFailurePercentage, whichever is given (either, if both);
        with neither, no failure is tolerated. Checked as each item ends, as AWS fails
        a run before all items finish (exactly when is undocumented)."""
        failed = self.failures()
        if failed == 0:
            return False
        if self.tolerated_count is None and self.tolerated_percentage is None:
            return True
        total = max(1, len(self.items))
        by_count = self.tolerated_count is not None and failed > self.tolerated_count
        by_share = (
            self.tolerated_percentage is not None
            and failed * 100.0 / total > self.tolerated_percentage
        )
        return by_count or by_share

    def counts(self) -> dict[str, int]:
        statuses = [c.status for c in self.children.values()]
        started = len(statuses)
        return {
            "aborted": statuses.count("ABORTED"),
            "failed": statuses.count("FAILED"),
            "pending": len(self.items) - started,
            "resultsWritten": self.results_written,
            "running": statuses.count("RUNNING"),
            "succeeded": statuses.count("SUCCEEDED"),
            "timedOut": statuses.count("TIMED_OUT"),
            "total": len(self.items),
        }


_RUNS: dict[str, Run] = {}
_current = threading.local()  # the Map state being evaluated in this thread
_RUNS_LOCK = threading.Lock()


def run_of(map_run_arn: str) -> Run | None:
    with _RUNS_LOCK:
        return _RUNS.get(map_run_arn)


def reset() -> None:
    """Forget every Map Run (a fresh emulator)."""
    with _RUNS_LOCK:
        _RUNS.clear()


def _set(counter: Any, value: int) -> None:
    with counter._mutex:
        counter._count = value


def _sync_record(record: Any, run: Run) -> None:
    """moto's MapRunRecord counters, set from what happened ("DescribeMapRun",
    MapRunItemCounts / MapRunExecutionCounts). One item per child (no ItemBatcher), so
    execution counts equal item counts, except that items never started have no
    execution: ``pending`` executions stay 0 (undocumented for items left when a run
    fails)."""
    counts = run.counts()
    for name, value in counts.items():
        attribute = {"resultsWritten": "results_written", "timedOut": "timed_out"}.get(name, name)
        _set(getattr(record.item_counter, attribute), value)
        if name == "pending":
            value = 0
        elif name == "total":
            value = len(run.children)
        _set(getattr(record.execution_counter, attribute), value)


def _install_map_run() -> None:
    from moto.stepfunctions.parser.api import HistoryEventType, MapRunFailedEventDetails
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
    from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import EvalTimeoutError
    from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import (
        distributed_iteration_component as component_mod,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor import (
        distributed_item_processor_worker as worker_mod,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor import (
        map_run_record as record_mod,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.job import (
        JobClosed,
        JobPool,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
    from moto.stepfunctions.parser.asl.eval.program_state import (
        ProgramError,
        ProgramStopped,
        ProgramTimedOut,
    )
    from moto.stepfunctions.parser.asl.eval.states import ItemData, MapData
    from moto.stepfunctions.parser.utils import TMP_THREADS

    record_init = record_mod.MapRunRecord.__init__

    def record_starts_now(self: Any, *args: Any, **kwargs: Any) -> None:
        record_init(self, *args, **kwargs)
        self.start_date = clock.now_datetime()

    def record_stops_now(self: Any, status: Any) -> None:
        self.status = status
        self.stop_date = clock.now_datetime()

    record_mod.MapRunRecord.__init__ = record_starts_now  # type: ignore[method-assign]
    record_mod.MapRunRecord.set_stop = record_stops_now  # type: ignore[method-assign]

    class VirtualTimePool(JobPool):
        """Hands each next item to the worker that is free first in virtual time.

        Workers run in real threads but their clocks are virtual. A worker asking for an
        item at virtual time t gets one when no other worker could ask earlier: it is
        the earliest of those asking, and every worker still running a child began
        that child no later than t (a child never ends before it begins). So
        ``MaxConcurrency`` children run at once whenever items wait ("Using Map state
        in Distributed mode": MaxConcurrency is how many child workflow executions run
        in parallel). Stops handing out items once the run exceeds its tolerance."""

        def __init__(self, job_program: Any, job_inputs: list[Any], run: Run, workers: int):
            super().__init__(job_program=job_program, job_inputs=job_inputs)
            self._run = run
            self._condition = threading.Condition(self._mutex)
            self._began = clock.now()
            self._unstarted = workers
            self._seen: set[int] = set()
            self._asking: dict[int, tuple[float, int]] = {}
            self._running_since: dict[int, float] = {}
            self._order = 0
            self._started = 0
            self._closed = 0

        def _no_more(self) -> bool:
            return bool(self._run.exceeded or not self._open_jobs or self._worker_exception)

        def next_job(self) -> Any:
            me, now = threading.get_ident(), clock.now()
            with self._condition:
                if me not in self._seen:
                    self._seen.add(me)
                    self._unstarted -= 1
                self._running_since.pop(me, None)
                self._order += 1
                self._asking[me] = (now, self._order)
                self._condition.notify_all()
                while True:
                    if self._no_more():
                        del self._asking[me]
                        self._condition.notify_all()
                        self._notify_on_termination()
                        return None
                    bound = min(self._running_since.values(), default=float("inf"))
                    if self._unstarted:
                        bound = min(bound, self._began)
                    first = min(self._asking, key=self._asking.__getitem__)
                    if first == me and now <= bound:
                        del self._asking[me]
                        self._running_since[me] = now
                        self._started += 1
                        self._condition.notify_all()
                        return self._open_jobs.pop()
                    self._condition.wait(0.5)

        def _is_terminated(self) -> bool:
            return self._no_more() and self._closed == self._started

        def close_job(self, job: Any) -> None:
            with self._condition:
                self._closed += 1
                if isinstance(job.job_output, Exception):
                    self._worker_exception = job.job_output
                else:
                    self._closed_jobs.add(
                        JobClosed(job_index=job.job_index, job_output=job.job_output)
                    )
                self._notify_on_termination()
                self._condition.notify_all()

    def eval_job(self: Any, env: Any, job: Any) -> None:
        """One child workflow execution ("Child workflow executions"): its record,
        status and result. Names are UUIDs and ARNs are ``execution:<machine>/<label>:
        <name>`` as AWS shows them for Map Run children (the exact form is undocumented)."""
        record = self._map_run_record
        run = run_of(record.map_run_arn)
        assert run is not None
        name = str(uuid.uuid4())
        child = Child(
            index=job.job_index,
            input=job.job_input,
            name=name,
            execution_arn=record.map_state_machine_arn.replace(":stateMachine:", ":execution:")
            + f":{name}",
            state_machine_arn=record.map_state_machine_arn,
            start=clock.now_datetime(),
        )
        with run.lock:
            run.children[job.job_index] = child
            run.frames[job.job_index] = env
            _sync_record(record, run)
        status, output, error, cause = "SUCCEEDED", None, None, None
        try:
            env.states.context_object.context_object_data["Map"] = MapData(
                Item=ItemData(Index=job.job_index, Value=job.job_input)
            )
            env.states.reset(job.job_input)
            env.stack.append(env.states.get_input())
            self._eval_input(env_frame=env)
            _eval_program_keeping_time(job.job_program, env)
            end = env.program_state()
            if isinstance(end, ProgramError):
                status = "FAILED"
                error, cause = (end.error or {}).get("error"), (end.error or {}).get("cause")
            elif isinstance(end, ProgramStopped):
                status, error, cause = "ABORTED", end.error, end.cause
            elif isinstance(end, ProgramTimedOut):
                status, error = "TIMED_OUT", "States.Timeout"
            else:
                output = env.states.get_input()
        except EvalTimeoutError:
            status, error = "TIMED_OUT", "States.Timeout"
        except FailureEventException as ex:
            status = "FAILED"
            error, cause = ex.extract_error_cause_pair() or (None, None)
        except Exception as ex:  # a child's crash is that child's failure
            status, error, cause = "FAILED", "States.Runtime", f"{type(ex).__name__}({ex})"
        with run.lock:
            if job.job_index in run.aborted and status != "SUCCEEDED":
                # Stopped because the run failed; moto may report the stop as an error.
                status, error, cause = "ABORTED", None, None
            child.status, child.output, child.error, child.cause = status, output, error, cause
            child.stop = clock.now_datetime()
            run.frames.pop(job.job_index, None)
            if not run.exceeded and run.exceeds_tolerance():
                run.exceeded = True
                for index, frame in run.frames.items():
                    run.aborted.add(index)
                    frame.set_stop(stop_date=child.stop, cause=None, error=None)
            _sync_record(record, run)
        run_end = getattr(record, "_emulator_end", clock.now())
        record._emulator_end = max(run_end, clock.now())
        # Without a ResultWriter, a failed child's entry in the Map's output is its
        # error (undocumented; moto gave null).
        job.job_output = output if status == "SUCCEEDED" else {"Error": error, "Cause": cause}

    def _eval_program_keeping_time(program: Any, env: Any) -> None:
        # moto's Program.eval runs the child in a thread of its own and forgets that
        # thread's clock; the same, with the worker's clock moved to where the child
        # ended, so the worker's next child starts then.
        timeout = program.timeout_seconds.timeout_seconds if program.timeout_seconds else None
        env.next_state_name = program.start_at.start_at_name
        ended: list[float] = []

        def body() -> None:
            try:
                EvalComponent.eval(program, env)
            finally:
                ended.append(clock.now())

        thread = threading.Thread(target=body, daemon=True)
        TMP_THREADS.append(thread)
        thread.start()
        thread.join(timeout=timeout)
        if thread.is_alive():
            env.set_timed_out()
        if ended:
            clock.adopt(ended[0])

    worker_mod.DistributedItemProcessorWorker._eval_job = eval_job  # type: ignore[method-assign]

    def map_run(self: Any, env: Any, eval_input: Any) -> None:
        record = eval_input.map_run_record
        items: list[Any] = env.stack.pop()
        given = getattr(_current, "tolerance_given", (True, True))
        run = Run(
            map_run_arn=record.map_run_arn,
            state_machine_arn=record.map_state_machine_arn,
            items=list(items),
            tolerated_count=int(eval_input.tolerated_failure_count or 0) if given[0] else None,
            tolerated_percentage=(
                float(eval_input.tolerated_failure_percentage or 0.0) if given[1] else None
            ),
        )
        with _RUNS_LOCK:
            _RUNS[record.map_run_arn] = run
        record._emulator_run = run
        record._emulator_end = clock.now()
        _sync_record(record, run)
        limit = record.max_concurrency or DISTRIBUTED_MAX_CONCURRENCY
        workers = max(0, min(limit, len(items)))
        pool = VirtualTimePool(self._get_iteration_program(), list(items), run, workers)
        for _ in range(workers):
            self._launch_worker(env=env, eval_input=eval_input, job_pool=pool)
        if workers:
            pool.await_jobs()
        clock.adopt(record._emulator_end)
        if pool.get_worker_exception() is not None:
            raise pool.get_worker_exception()  # type: ignore[misc]
        if run.exceeded:
            failed, total = run.failures(), len(run.items)
            # The cause's wording is undocumented.
            cause = (
                f"The Map Run failed: {failed} of {total} items failed or timed out, more than "
                f"tolerated (ToleratedFailureCount {run.tolerated_count}, "
                f"ToleratedFailurePercentage {run.tolerated_percentage})."
            )
            error_name = StatesErrorName(
                typ=StatesErrorNameType.StatesExceedToleratedFailureThreshold
            )
            raise FailureEventException(
                failure_event=FailureEvent(
                    env=env,
                    error_name=error_name,
                    event_type=HistoryEventType.MapRunFailed,
                    event_details=EventDetails(  # type: ignore[typeddict-item]
                        mapRunFailedEventDetails=MapRunFailedEventDetails(
                            error=error_name.error_name, cause=cause
                        )
                    ),
                )
            )
        env.stack.append([closed.job_output for closed in pool.get_closed_jobs()])

    component_mod.DistributedIterationComponent._map_run = map_run  # type: ignore[method-assign]


# ---------------------------------------------------------------- ResultWriter


def write_results(run: Run, bucket: str, prefix: str, region: str) -> dict[str, Any]:
    """Per "ResultWriter (Map)", exporting to Amazon S3: under ``<Prefix>/<map run id>/``
    (the id is the MapRunArn's last part), ``SUCCEEDED_0.json``, ``FAILED_0.json``
    (failed, timed-out and aborted children) and ``PENDING_0.json`` (items never
    started), each a JSON array, written only when not empty, then ``manifest.json``
    listing them by ``Key`` and ``Size``. AWS splits files at 5 GB; one file each here.
    What a PENDING entry holds is undocumented: here the item's ``Input``."""
    s3 = validating_client(region=region, service="s3")
    run_id = run.map_run_arn.split(":")[-1]
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    folder = f"{prefix}{run_id}/"
    with run.lock:
        children = sorted(run.children.values(), key=lambda c: c.index)
        groups = {
            "SUCCEEDED": [c.result_entry() for c in children if c.status == "SUCCEEDED"],
            "FAILED": [c.result_entry() for c in children if c.status != "SUCCEEDED"],
            "PENDING": [
                {"Input": json.dumps(item, separators=(",", ":"))}
                for index, item in enumerate(run.items)
                if index not in run.children
            ],
        }
    files: dict[str, list[dict[str, Any]]] = {"FAILED": [], "PENDING": [], "SUCCEEDED": []}
    for status, entries in groups.items():
        if not entries:
            continue
        key = f"{folder}{status}_0.json"
        body = json.dumps(entries).encode("utf-8")
        s3.put_object(Bucket=bucket, Key=key, Body=body)
        files[status].append({"Key": key, "Size": len(body)})
    manifest_key = f"{folder}manifest.json"
    manifest = {"DestinationBucket": bucket, "MapRunArn": run.map_run_arn, "ResultFiles": files}
    s3.put_object(Bucket=bucket, Key=manifest_key, Body=json.dumps(manifest).encode("utf-8"))
    with run.lock:
        run.results_written = len(groups["SUCCEEDED"]) + len(groups["FAILED"])
    return {
        "MapRunArn": run.map_run_arn,
        "ResultWriterDetails": {"Bucket": bucket, "Key": manifest_key},
    }


def _install_result_writer() -> None:
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map import state_map
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.distributed_iteration_component import (
        DistributedIterationComponent,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer.resource_eval import (
        resource_eval_s3,
    )

    def put_object(env: Any, resource_runtime_part: Any, state_credentials: Any) -> None:
        parameters = env.stack.pop()
        env.stack.pop()  # the children's outputs: the files hold them
        record = env.map_run_record_pool_manager.get_all()[-1]
        run: Run = record._emulator_run
        result = write_results(
            run, parameters["Bucket"], parameters.get("Prefix", ""), resource_runtime_part.region
        )
        _sync_record(record, run)
        env.stack.append(result)

    resource_eval_s3.ResourceEvalS3._handle_put_object = staticmethod(put_object)  # type: ignore[method-assign]

    from moto.stepfunctions.parser.asl.component.state.exec.state_map.tolerated_failure import (
        ToleratedFailureCountDecl,
        ToleratedFailurePercentageDecl,
    )

    original_props = state_map.StateMap.from_state_props

    def from_state_props(self: Any, state_props: Any) -> None:
        # Which tolerance fields the definition gives (moto fills absent ones with 0).
        original_props(self, state_props)
        self._emulator_tolerance_given = (
            state_props.get(ToleratedFailureCountDecl) is not None,
            state_props.get(ToleratedFailurePercentageDecl) is not None,
        )

    state_map.StateMap.from_state_props = from_state_props  # type: ignore[method-assign]
    original = state_map.StateMap._eval_execution

    def eval_execution(self: Any, env: Any) -> None:
        """Per "ResultWriter (Map)": results are exported also when the Map Run fails (that
        is what PENDING files are for); then the Map state fails as before."""
        _current.tolerance_given = getattr(self, "_emulator_tolerance_given", (True, True))
        try:
            original(self, env)
        except FailureEventException:
            records = env.map_run_record_pool_manager.get_all()
            run = getattr(records[-1], "_emulator_run", None) if records else None
            if self.result_writer is not None and run is not None and run.exceeded:
                env.stack.append([])
                self.result_writer.eval(env)
                env.stack.pop()
            raise
        finally:
            box = getattr(env, "_emulator_clock_box", None)
            if box is not None:
                box.append(clock.now())

    state_map.StateMap._eval_execution = eval_execution  # type: ignore[method-assign]

    original_with_timeout = state_map.StateMap._evaluate_with_timeout

    def evaluate_with_timeout(self: Any, env: Any) -> None:
        # moto evaluates the state in a thread of its own: carry that thread's clock
        # (where the last child ended) back, so the next state starts then.
        if not isinstance(self.iteration_component, DistributedIterationComponent):
            return original_with_timeout(self, env)
        box: list[float] = []
        open_frame = env.open_frame

        def open_marked_frame(*args: Any, **kwargs: Any) -> Any:
            del env.open_frame
            frame = open_frame(*args, **kwargs)
            frame._emulator_clock_box = box
            return frame

        env.open_frame = open_marked_frame
        try:
            return original_with_timeout(self, env)
        finally:
            env.__dict__.pop("open_frame", None)
            if box:
                clock.adopt(max(box))

    state_map.StateMap._evaluate_with_timeout = evaluate_with_timeout  # type: ignore[method-assign]


# ------------------------------------------------------- aws-sdk calls and listing


def _pascal_case(value: Any) -> Any:
    if isinstance(value, dict):
        return {key[:1].upper() + key[1:]: _pascal_case(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [_pascal_case(inner) for inner in value]
    return value


def _install_sdk_calls() -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_aws_sdk as aws_sdk,
    )

    original = aws_sdk.StateTaskServiceAwsSdk._eval_service_task

    def eval_service_task(
        self: Any,
        env: Any,
        resource_runtime_part: Any,
        normalised_parameters: dict,
        state_credentials: Any,
    ) -> None:
        service = self.resource.api_name
        action = self.resource.api_action.lower()
        if service == "sfn" and action == "describemaprun":
            # "DescribeMapRun": the API takes and returns camelCase; an aws-sdk task gives
            # and gets the same members in PascalCase, nested ones too ("Learning to use
            # AWS service SDK integrations in Step Functions"; moto passed them unchanged).
            client = validating_client(region=resource_runtime_part.region, service="stepfunctions")
            arguments = {k[:1].lower() + k[1:]: v for k, v in normalised_parameters.items()}
            response = client.describe_map_run(**arguments)
            response.pop("ResponseMetadata", None)
            env.stack.append(_pascal_case(response))
            return
        original(self, env, resource_runtime_part, normalised_parameters, state_credentials)
        if service == "s3" and action == "getobject":
            # Step Functions returns an object's content as the text of ``Body``; moto left
            # botocore's stream, which is not JSON. Non-UTF-8 content: undocumented here,
            # decoded with replacement characters.
            response = env.stack[-1]
            body = response.get("Body") if isinstance(response, dict) else None
            if hasattr(body, "read"):
                response["Body"] = body.read().decode("utf-8", errors="replace")  # type: ignore[union-attr]

    aws_sdk.StateTaskServiceAwsSdk._eval_service_task = eval_service_task  # type: ignore[method-assign]


def _install_list_executions() -> None:
    from moto.core.responses import ActionResult
    from moto.stepfunctions.responses import StepFunctionResponse

    original = StepFunctionResponse.list_executions

    def list_executions(self: Any) -> Any:
        """Per "ListExecutions": with ``mapRunArn`` (and no ``stateMachineArn``), the Map Run's
        child workflow executions ("Child workflow executions"); moto requires a state
        machine. Newest first is undocumented for Map Runs; here in item order."""
        map_run_arn = self._get_param("mapRunArn")
        if not map_run_arn:
            return original(self)
        run = run_of(map_run_arn)
        children = sorted(run.children.values(), key=lambda c: c.index) if run else []
        items = [c.list_item(map_run_arn) for c in children]
        status_filter = self._get_param("statusFilter")
        if status_filter:
            items = [i for i in items if i["status"] == status_filter]
        return ActionResult({"executions": items})

    StepFunctionResponse.list_executions = list_executions  # type: ignore[method-assign]


_installed = False


def install() -> None:
    """Apply every patch once per process (idempotent)."""
    global _installed
    if _installed:
        return
    _install_parsing()
    _install_map_run()
    _install_result_writer()
    _install_sdk_calls()
    _install_list_executions()
    _installed = True

"""State patterns more than one machine is built from (in the sense of a reusable
piece of a state machine): each adds its states to the caller's builder and returns
the states the caller links on from, so a machine's builder reads in the order an
execution meets its states. What differs between machines (state names, the resources
granted, arguments) is a parameter."""

from __future__ import annotations

from typing import Any

from table_exporter.kernel.asl import (
    MORE_PAGES,
    Catch,
    Choice,
    Fail,
    Graph,
    Map,
    Pass,
    State,
    StateBuilder,
    Task,
    Wait,
    jsonata,
    next_page_token,
    paged_arguments,
)
from table_exporter.kernel.grants import Grant, Resource
from table_exporter.kernel.imports import ACCOUNT_LISTS, import_table_grants
from table_exporter.kernel.polling import PollPolicy
from table_exporter.kernel.retries import retry_for

ERROR_OUTPUT = jsonata("$states.errorOutput")
"""A catch's output: the error's ``Error`` and ``Cause``, for the handler to report."""


def catch_all(handler: State) -> list[Catch]:
    """Any error into ``handler``, which gets the error and its cause as its input."""
    return [Catch(["States.ALL"], handler, ERROR_OUTPUT)]


def rejected(
    builder: StateBuilder,
    name: str,
    *,
    prefix: str,
    cause: str,
    comment: str = "A permanent error, or a transient one that outlasted its retries.",
) -> Fail:
    """The machine's end for an error its tasks catch (``catch_all``). Error names that
    start ``States.`` are reserved for Step Functions' own errors, so those become
    ``<prefix>.<rest>``; others pass through."""
    return builder.add(
        Fail(
            name,
            comment=comment,
            error=jsonata(
                "$substring($states.input.Error, 0, 7) = 'States.' ? "
                f"'{prefix}.' & $substringAfter($states.input.Error, 'States.') : $states.input.Error"
            ),
            cause=cause,
        )
    )


# -- paging --------------------------------------------------------------------------------


def more_pages(builder: StateBuilder, name: str, page: Task) -> Choice:
    """``page`` ─▶ ``name`` ⟲: the listing runs again while it leaves a token in
    ``$next``. The choice's way out is the caller's (``otherwise``), so it can be
    linked to a state built after it."""
    more = builder.add(Choice(name).when(MORE_PAGES, page))
    page.then(more)
    return more


def paged_listing(
    builder: StateBuilder,
    name: str,
    service: str,
    action: str,
    *,
    more: str,
    grants: tuple[Grant, ...],
    first_page: str,
    tokens: tuple[str, str],
    assign: dict[str, Any],
    catch: list[Catch],
    comment: str | None = None,
) -> tuple[Task, Choice]:
    """A listing task and its ``more`` choice (``more_pages``): the first page's JSONata
    arguments, then the token the result left, under ``tokens`` (the request's member,
    the result's). ``assign`` collects from each page; ``$next`` must start null."""
    request_token, result_token = tokens
    page = builder.task(
        name,
        service,
        action,
        comment=comment,
        grants=grants,
        arguments=paged_arguments(first_page, request_token),
        assign={"next": next_page_token(result_token), **assign},
        catch=catch,
    )
    return page, more_pages(builder, more, page)


def list_tables(
    builder: StateBuilder, *, collect: str, names: str, catch: list[Catch]
) -> tuple[Task, Choice]:
    """``ListTables`` ⟲ ``MoreTables``: appends ``names`` (JSONata over the page's
    ``$states.result.TableNames``) to the list in ``$<collect>``."""
    return paged_listing(
        builder,
        "ListTables",
        "dynamodb",
        "listTables",
        more="MoreTables",
        grants=(Grant(ACCOUNT_LISTS, ("dynamodb:ListTables",)),),
        first_page="{'Limit': 100}",
        tokens=("ExclusiveStartTableName", "LastEvaluatedTableName"),
        assign={collect: jsonata(f"$append(${collect}, {names})")},
        catch=catch,
    )


# -- deleting tables a Map item at a time --------------------------------------------------


def ends_unnamed(name: str) -> Pass:
    """A Map item's end that names no table: the item's table was kept or not deleted."""
    return Pass(name, output=jsonata("null"), end=True)


def delete_item_table(
    builder: StateBuilder, name: str, *, tables: Resource[Any], catch: list[Catch]
) -> Task:
    """Deletes the table the Map item names (``$states.input.name``) and ends with that
    name, which ``delete_tables`` collects. Not added to ``builder.built``: it belongs
    to the Map's processor, not to the machine's top level."""
    return Task(
        name,
        resource=f"{builder.sdk}dynamodb:deleteTable",
        grants=(Grant(tables, ("dynamodb:DeleteTable",)),),
        arguments={"TableName": jsonata("$states.input.name")},
        retry=retry_for("dynamodb", "deleteTable"),
        output=jsonata("$states.input.name"),
        catch=catch,
        end=True,
    )


def delete_tables(
    builder: StateBuilder,
    name: str,
    *,
    comment: str,
    tables: str,
    processor: State,
    collect: str,
    **fields: Any,
) -> Map:
    """A Map over the table names ``tables`` (JSONata), five at a time, each item
    ``{"name": ...}`` run from ``processor``; the names of the tables it deleted (the
    items that ended with a string) go to ``$<collect>``. ``fields``: the Map's own
    ``output``, ``catch`` and ``next``."""
    return builder.add(
        Map(
            name,
            comment=comment,
            items=jsonata(tables),
            item_selector={"name": jsonata("$states.context.Map.Item.Value")},
            max_concurrency=5,
            processor=Graph(processor),
            assign={
                collect: jsonata("[$filter($states.result, function($v) { $type($v) = 'string' })]")
            },
            **fields,
        )
    )


# -- importing a table from an export, and following the import ----------------------------


def polling_from(import_description: str, poll: PollPolicy) -> dict[str, Any]:
    """What a state leading into ``import_polling`` assigns: the import (JSONata of an
    object with its ``ImportArn``), no time waited yet, and the first wait."""
    return {"import": jsonata(import_description), "elapsed": 0, "wait": poll.min_seconds}


def import_table(
    builder: StateBuilder,
    *,
    into: Resource[Any],
    objects: Resource[Any],
    bucket_resource: Resource[Any],
    key: Resource[Any],
    token_from: str,
    bucket: str,
    folder: str,
    bucket_owner: str | None,
    export_format: str,
    table: tuple[str, Any, Any],
    poll: PollPolicy,
    catch: list[Catch],
    comment: str | None = None,
) -> Task:
    """``ImportTable``: a new on-demand table from the GZIP data files of the export in
    ``folder`` (JSONata; its ``data/``) of ``bucket`` (the field's value: a name, or a
    JSONata field), then the start of ``import_polling``. ``table``: the new table's name (JSONata), key schema and
    attribute definitions. ``export_format`` (JSONata) is DynamoDB JSON when absent. The
    ``ClientToken`` is a hash of ``token_from`` (JSONata), so a retried call returns the
    import the first one started. ``into``, ``objects``, ``bucket_resource`` and ``key``: what the
    call creates and reads, granted as ``kernel/imports.py`` says."""
    source: dict[str, Any] = {"S3Bucket": bucket, "S3KeyPrefix": jsonata(f"{folder} & 'data/'")}
    if bucket_owner:
        source["S3BucketOwner"] = bucket_owner
    name, key_schema, attributes = table
    return builder.task(
        "ImportTable",
        "dynamodb",
        "importTable",
        comment=comment,
        grants=import_table_grants(into, objects, bucket_resource, key),
        arguments={
            "ClientToken": jsonata(f"$substring($hash({token_from}, 'SHA-256'), 0, 36)"),
            "S3BucketSource": source,
            "InputFormat": jsonata(f"{export_format} ? {export_format} : 'DYNAMODB_JSON'"),
            "InputCompressionType": "GZIP",
            "TableCreationParameters": {
                "TableName": jsonata(name),
                "KeySchema": key_schema,
                "AttributeDefinitions": attributes,
                "BillingMode": "PAY_PER_REQUEST",
            },
        },
        assign=polling_from("$states.result.ImportTableDescription", poll),
        catch=catch,
    )


def import_polling(
    builder: StateBuilder, *, imports: Resource[Any], poll: PollPolicy, catch: list[Catch]
) -> tuple[Wait, Task, Choice]:
    """``WaitForImport`` ─▶ ``DescribeImport`` ─▶ ``ImportFinished`` for the import in
    ``$import`` (restore drills and the importer): ``$import`` follows the description,
    and the choice waits again until the caller's exits match (``import_exits``)."""
    return builder.polling_loop(
        ("WaitForImport", "DescribeImport", "ImportFinished"),
        action="describeImport",
        grants=(Grant(imports, ("dynamodb:DescribeImport",)),),
        arguments={"ImportArn": jsonata("$import.ImportArn")},
        described=("import", "ImportTableDescription"),
        next_wait=poll.jsonata_next_wait,
        catch=catch,
    )


IMPORT_ENDED = jsonata("$import.ImportStatus in ['COMPLETED', 'FAILED', 'CANCELLED']")
"""The import has ended, one way or another (``DescribeImport``'s final statuses)."""


def import_exits(
    finished: Choice, *, ended: State, timed_out: State, timeout_seconds: int
) -> Choice:
    """``ImportFinished``'s ways out: ``ended`` once the import has ended, else
    ``timed_out`` after ``timeout_seconds`` of polling. The end is tried first, so an
    import that ended in the last poll is judged rather than called late."""
    return finished.when(IMPORT_ENDED, ended).when(
        jsonata(f"$elapsed >= {timeout_seconds}"), timed_out
    )

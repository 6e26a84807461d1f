"""Typed grants: what a state needs IAM to allow, and on what.

A ``Grant`` names its actions and the ``Resource`` they act on. A ``Resource`` is
declared once, beside the role it belongs to: the statement id it renders as, its
ARNs and any condition, both read from that role's typed description (a frozen
dataclass of plain values, such as the bucket, the account's scope and the tables).
A role's policy is then collected from its machine: every resource its states ask
for becomes one statement, in the order the machine first needs it, with the union
of the actions asked for.

Why the ARNs are read from the role rather than written into each state: one
machine definition serves up to 1,000 tables, and which table ARNs fit IAM's policy
size limit is decided for the whole policy (``policies.table_scope``), after every
other statement is known.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from table_exporter.kernel.iam import Document, allow, allow_principal, region_of, via_service

R = TypeVar("R", contravariant=True)


@dataclass(frozen=True, eq=False)
class Resource(Generic[R]):
    """The resources of one statement: ``arns`` and ``condition`` read the role's
    description; no ARNs for a role whose machine asks for them is an error, never
    a statement dropped, unless the resource ``may_be_absent`` (a bucket's
    customer-managed key: the states need it only where there is one)."""

    sid: str
    arns: Callable[[R], Sequence[str]]
    condition: Callable[[R], Document] | None = None
    may_be_absent: bool = False

    def __repr__(self) -> str:
        return f"Resource({self.sid})"


@dataclass(frozen=True)
class Grant:
    """IAM actions a state needs, on ``on``."""

    on: Resource[Any]
    actions: tuple[str, ...]


Grants = Mapping[Resource[Any], tuple[str, ...]]
"""Actions per resource, as a rendered machine collects them (``asl.Graph.grants``),
in the order its states first ask."""


def collect(grants: Iterable[Grant]) -> dict[Resource[Any], tuple[str, ...]]:
    """The union of actions per resource, keeping the order resources first appear."""
    collected: dict[Resource[Any], set[str]] = {}
    for grant in grants:
        collected.setdefault(grant.on, set()).update(grant.actions)
    return {resource: tuple(sorted(actions)) for resource, actions in collected.items()}


def statements(grants: Grants, role: Any, principal: Document | None = None) -> list[Document]:
    """One ``Allow`` per resource, its ARNs and condition read from ``role``; for a
    resource policy (a bucket's), the same statements for ``principal``."""
    rendered: list[Document] = []
    for resource, actions in grants.items():
        arns = list(resource.arns(role))
        if not arns and resource.may_be_absent:
            continue
        if not arns:
            raise ValueError(
                f"the machine's states need {resource.sid}, "
                f"but this {type(role).__name__} names no resources for it"
            )
        extra = {"Condition": resource.condition(role)} if resource.condition else {}
        if principal is None:
            rendered.append(allow(resource.sid, actions, arns, **extra))
        else:
            rendered.append(allow_principal(resource.sid, principal, actions, arns, **extra))
    return rendered


def fixed(*arns: str) -> Callable[[object], Sequence[str]]:
    """ARNs that do not depend on the role (``"*"`` for actions without resources)."""
    return lambda _role: arns


def via_s3(role: Any) -> Document:
    """Only for S3's requests made with the caller's rights, never direct use of the key."""
    # S3 calls KMS from the bucket's region, which is the key's.
    return {"StringEquals": via_service("s3", region_of(role.kms_key_arn))}


def optional(arn: str | None) -> Sequence[str]:
    return [arn] if arn else []

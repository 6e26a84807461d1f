"""IAM documents as plain data: the one way every policy here is written.

Identity, trust, bucket and key policies are all ``document(*statements)``; an
identity-policy statement is ``allow(sid, actions, resources, ...)``, with its actions
sorted and de-duplicated and its resources de-duplicated in order, so a policy renders
the same whatever order its grants were collected in; a bucket- or key-policy statement
is ``allow_principal``, the same for one principal; a role's trust policy is
``service_trust``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

Document = dict[str, Any]
VERSION = "2012-10-17"


def document(*statements: Document) -> Document:
    """A policy of ``statements``; IAM wants their ``Sid`` unique within it ("IAM JSON
    policy elements: Sid"), and refuses the policy otherwise."""
    sids = [s["Sid"] for s in statements if "Sid" in s]
    repeated = sorted({sid for sid in sids if sids.count(sid) > 1})
    if repeated:
        raise ValueError(f"statement ids must be unique within a policy: {', '.join(repeated)}")
    # The same page: a Sid holds ASCII letters and digits only.
    unfit = sorted(sid for sid in set(sids) if not (sid.isascii() and sid.isalnum()))
    if unfit:
        raise ValueError(f"statement ids hold ASCII letters and digits only: {', '.join(unfit)}")
    return {"Version": VERSION, "Statement": list(statements)}


def allow(sid: str, actions: Sequence[str], resources: Sequence[str], **extra: Any) -> Document:
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Action": sorted(set(actions)),
        "Resource": list(dict.fromkeys(resources)),
        **extra,
    }


def allow_principal(
    sid: str, principal: Document, actions: Sequence[str], resources: Sequence[str], **extra: Any
) -> Document:
    """A resource-policy statement (a bucket's, a key's): ``allow`` for ``principal``."""
    statement = allow(sid, actions, resources, **extra)
    head = {"Sid": statement.pop("Sid"), "Effect": statement.pop("Effect")}
    return {**head, "Principal": principal, **statement}


def service_trust(
    sid: str,
    service: str,
    account_id: str,
    source_arn: str | list[str] | None = None,
    *,
    exact: bool = False,
) -> Document:
    """A trust policy: only ``service``, acting for this account (and for its resource
    ``source_arn``, matched as an ARN pattern unless ``exact``), may assume the role:
    the confused-deputy conditions ("The confused deputy problem", IAM user guide)."""
    equals: dict[str, Any] = {"aws:SourceAccount": account_id}
    condition: dict[str, Any] = {"StringEquals": equals}
    if source_arn is not None and exact:
        equals["aws:SourceArn"] = source_arn
    elif source_arn is not None:
        condition["ArnLike"] = {"aws:SourceArn": source_arn}
    return document(
        {
            "Sid": sid,
            "Effect": "Allow",
            "Principal": {"Service": service},
            "Action": "sts:AssumeRole",
            "Condition": condition,
        }
    )


def region_of(arn: str) -> str:
    return arn.split(":")[3]


def via_service(service: str, region: str, suffix: str = "amazonaws.com") -> dict[str, str]:
    """``kms:ViaService``: the key may be used only by ``service`` in ``region``, on the
    caller's behalf (AWS KMS developer guide, "kms:ViaService")."""
    return {"kms:ViaService": f"{service}.{region}.{suffix}"}

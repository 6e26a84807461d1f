"""IAM documents as plain data: the one way every policy here is written.

Identity, trust, bucket and key policies are all ``document(*statements)``; an
identity-policy statement is ``allow(sid, actions, resources, ...)``, with its actions
sorted and de-duplicated and its resources de-duplicated in order, so a policy renders
the same whatever order its grants were collected in.
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
    return {"Version": VERSION, "Statement": list(statements)}


def allow(sid: str, actions: Sequence[str], resources: Sequence[str], **extra: Any) -> Document:
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Action": sorted(set(actions)),
        "Resource": list(dict.fromkeys(resources)),
        **extra,
    }

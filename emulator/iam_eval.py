"""Offline evaluation of IAM policy documents, for the policy tests and the emulator's authorisation.

Statement matching is principalmapper's local policy simulation: Effect, Action and
NotAction, Resource and NotResource with ``*``/``?`` wildcards, and the condition
operators (String*, Arn*, Bool, Numeric*, Date*, IpAddress, Null, with IfExists and the
ForAnyValue/ForAllValues set qualifiers) against a request context. This module puts
IAM's decision logic around it and answers the three questions the tests ask:

* :func:`allowed` -- does an identity policy allow a request? An explicit Deny wins,
  then an Allow, and anything not allowed is denied.
* :func:`service_may_assume` -- does a role's trust policy let a service principal
  call ``sts:AssumeRole``, given the request context the service sends?
* :func:`resource_policy_denies` -- does a resource policy (a bucket policy) deny a
  request from a caller in the resource's account?

Two adjustments to principalmapper 1.1.5, both local to this module:

* It imports ``Mapping`` and ``MutableMapping`` from ``collections``, where Python 3.10
  removed them; they are aliased from ``collections.abc`` before the import.
* It compiles every pattern case-insensitively, which is right for actions and wrong
  for resources: IAM matches resource ARNs case-sensitively (``table/Orders`` is not
  ``table/orders``). Before a document is handed over, each ``Resource`` list keeps
  only the entries that also match the request's resource case-sensitively, and a
  statement left with none is dropped, as IAM would not apply it. Entries with policy
  variables (``${...}``) are left to principalmapper, which substitutes them from the
  context. ``NotResource`` is left as is. The ARN condition operators (``ArnEquals``,
  ``ArnLike``, with or without ``IfExists``) are case-sensitive in IAM too: their values
  are filtered the same way against the request's context value, and a condition left
  with no value cannot be met, so its statement is dropped.
"""

from __future__ import annotations

import collections
import collections.abc
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

for _name in ("Mapping", "MutableMapping"):
    if not hasattr(collections, _name):
        setattr(collections, _name, getattr(collections.abc, _name))

from principalmapper.common import Node  # noqa: E402
from principalmapper.querying.local_policy_simulation import (  # noqa: E402
    ResourcePolicyEvalResult,
    policy_has_matching_statement,
    resource_policy_authorization,
)
from principalmapper.util.case_insensitive_dict import CaseInsensitiveDict  # noqa: E402

Document = Mapping[str, Any]
Context = Mapping[str, str | list[str]]


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


@lru_cache(maxsize=1024)
def _resource_pattern(pattern: str) -> re.Pattern[str]:
    """IAM's resource wildcards: ``*`` any run of characters, ``?`` any one; case-sensitive."""
    parts = ("." if c == "?" else ".*" if c == "*" else re.escape(c) for c in pattern)
    return re.compile("".join(parts), re.DOTALL)


def _resource_entry_applies(entry: str, resource: str) -> bool:
    return "${" in entry or _resource_pattern(entry).fullmatch(resource) is not None


def resource_matches(pattern: str, resource: str) -> bool:
    """Whether a Resource entry without policy variables names ``resource``, as IAM matches it."""
    return _resource_pattern(pattern).fullmatch(resource) is not None


_ARN_CONDITIONS = ("ArnEquals", "ArnLike", "ArnEqualsIfExists", "ArnLikeIfExists")


def _case_sensitive_conditions(
    condition: Mapping[str, Any], context: CaseInsensitiveDict
) -> dict[str, Any] | None:
    """``condition`` with ARN values that cannot match case-sensitively removed; ``None``
    when one of its ARN conditions is left with no value it could be met by."""
    kept: dict[str, Any] = {}
    for operator, keys in condition.items():
        if operator not in _ARN_CONDITIONS:
            kept[operator] = keys
            continue
        kept[operator] = {}
        for key, values in keys.items():
            if key not in context:
                kept[operator][key] = values  # principalmapper applies IfExists
                continue
            requested = _as_list(context[key])
            matching = [
                v for v in _as_list(values) if any(resource_matches(v, r) for r in requested)
            ]
            if not matching:
                return None
            kept[operator][key] = matching
    return kept


def _case_sensitive(
    document: Document, resource: str, context: CaseInsensitiveDict
) -> dict[str, Any]:
    statements = []
    for statement in _as_list(document["Statement"]):
        if "Resource" in statement:
            entries = [
                e for e in _as_list(statement["Resource"]) if _resource_entry_applies(e, resource)
            ]
            if not entries:
                continue
            statement = {**statement, "Resource": entries}
        if "Condition" in statement:
            condition = _case_sensitive_conditions(statement["Condition"], context)
            if condition is None:
                continue
            statement = {**statement, "Condition": condition}
        statements.append(statement)
    return {**document, "Statement": statements}


def _context(context: Context | None) -> CaseInsensitiveDict:
    # Condition keys are case-insensitive; their values are compared as IAM compares them.
    return CaseInsensitiveDict(dict(context or {}))


def allowed(policy: Document, action: str, resource: str, context: Context | None = None) -> bool:
    """Whether an identity policy allows ``action`` on ``resource`` in ``context``.

    IAM's order: a matching Deny statement denies; otherwise a matching Allow statement
    allows; otherwise the request is implicitly denied.
    """
    keys = _context(context)
    document = _case_sensitive(policy, resource, keys)
    if policy_has_matching_statement(document, "Deny", action, resource, keys):
        return False
    return policy_has_matching_statement(document, "Allow", action, resource, keys)


def _account_of(arn: str) -> str:
    return arn.split(":")[4]


def service_may_assume(
    trust_policy: Document, service: str, role_arn: str, context: Context | None = None
) -> bool:
    """Whether ``service`` (``states.amazonaws.com``) may assume the role ``role_arn``.

    ``context`` is what the service sends with the request: ``aws:SourceAccount`` and
    ``aws:SourceArn`` name the account and resource it acts for.
    """
    keys = _context(context)
    result = resource_policy_authorization(
        service,
        _account_of(role_arn),
        _case_sensitive(trust_policy, role_arn, keys),
        "sts:AssumeRole",
        role_arn,
        keys,
    )
    return result is ResourcePolicyEvalResult.SERVICE_MATCH


def _role(arn: str) -> Node:
    return Node(
        arn=arn,
        id_value="AROAEXAMPLEROLEID0000",
        attached_policies=[],
        group_memberships=[],
        trust_policy={"Version": "2012-10-17", "Statement": []},
        instance_profile=None,
        num_access_keys=0,
        active_password=False,
        is_admin=False,
        permissions_boundary=None,
        has_mfa=False,
        tags={},
    )


def resource_policy_denies(
    policy: Document,
    action: str,
    resource: str,
    context: Context | None = None,
    *,
    caller_arn: str = "arn:aws:iam::123456789012:role/caller",
) -> bool:
    """Whether a resource policy explicitly denies ``caller_arn`` (a role) the request."""
    keys = _context(context)
    result = resource_policy_authorization(
        _role(caller_arn),
        _account_of(caller_arn),
        _case_sensitive(policy, resource, keys),
        action,
        resource,
        keys,
    )
    return result is ResourcePolicyEvalResult.DENY_MATCH


def explicitly_denies(
    policy: Document, action: str, resource: str, context: Context | None = None
) -> bool:
    """Whether an identity policy has a Deny statement that matches the request."""
    keys = _context(context)
    document = _case_sensitive(policy, resource, keys)
    return bool(policy_has_matching_statement(document, "Deny", action, resource, keys))


def resource_policy_result(
    policy: Document,
    action: str,
    resource: str,
    context: Context | None,
    *,
    caller_arn: str,
    resource_account: str,
) -> ResourcePolicyEvalResult:
    """How a resource policy (bucket or key policy) of ``resource_account`` answers a
    role's request: ``DENY_MATCH``, ``NODE_MATCH`` (names the role, same account),
    ``ROOT_MATCH`` (names only the account: delegates to IAM), ``DIFF_ACCOUNT_MATCH``
    (allows a caller of another account) or ``NO_MATCH``."""
    keys = _context(context)
    return resource_policy_authorization(
        _role(caller_arn),
        resource_account,
        _case_sensitive(policy, resource, keys),
        action,
        resource,
        keys,
    )

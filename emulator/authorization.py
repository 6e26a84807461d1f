"""Authorisation: every call a state machine (or the change-history path) makes is
allowed or denied as IAM would decide it, from the policies the component generates.

Without this, moto lets every call through, so a policy that lacks a grant where two
features meet (a KMS key with S3 Bucket Keys, a bucket in another account) looks fine
in every executed test. ``REGISTRY`` holds what IAM decides with, per test:

- identity policies per role ARN (several inline documents per role);
- the role of each state machine (its executions act as that role; Distributed Map
  children as their parent's) and of each change-history pipe and delivery stream;
- per bucket: its policy, owning account and default encryption (SSE-S3, or SSE-KMS
  with a key and whether S3 Bucket Keys are on);
- key policies per KMS key ARN; a key without one has the default key policy, which
  allows the key's own account and so delegates to IAM there ("Default key policy").

The decision ("Policy evaluation logic", IAM User Guide): an explicit Deny in any
applicable policy denies; within one account a request is allowed if an identity policy
or the resource policy allows it; across accounts ("Cross-account policy evaluation
logic") both the caller's identity policy and the bucket or key policy must allow it.
A KMS key is used only if its key policy allows it, directly or by delegating to IAM
in the key's account ("Key policies in AWS KMS"). Which IAM requests each call implies
is in ``requests``. Calls not made by a registered machine or path (a test's own
set-up) are not checked, and nothing is checked while ``REGISTRY.enabled`` is false.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import iam_eval
from .iam_eval import ResourcePolicyEvalResult

Document = Mapping[str, Any]


def account_of(arn: str) -> str:
    return arn.split(":")[4]


@dataclass(frozen=True)
class Request:
    """One IAM request: what is asked, of which resource, with which condition keys.
    ``policy`` says which resource policy also decides ("s3" bucket, "kms" key)."""

    action: str
    resource: str
    context: tuple[tuple[str, str | tuple[str, ...]], ...] = ()
    policy: str | None = None
    bucket: str | None = None

    def keys(self) -> dict[str, str | list[str]]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.context}


@dataclass
class Bucket:
    owner: str | None = None
    """Owning account; ``None``: the account moto created it in."""
    policy: Document | None = None
    kms_key_arn: str | None = None
    """Default encryption SSE-KMS with this key; ``None``: SSE-S3."""
    bucket_key: bool = False


@dataclass(frozen=True)
class Denial:
    principal: str
    request: Request
    reason: str


class AccessDenied(Exception):
    def __init__(self, principal: str, request: Request, reason: str) -> None:
        self.principal, self.request, self.reason = principal, request, reason
        super().__init__(
            f"User: {principal} is not authorized to perform: {request.action} on resource: "
            f"{request.resource} because {reason}"
        )


def _default_key_policy(key_arn: str) -> Document:
    """ "Default key policy": the key's account (its root) may do everything, which lets
    IAM policies in that account allow the key's use."""
    partition, account = key_arn.split(":")[1], account_of(key_arn)
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:{partition}:iam::{account}:root"},
                "Action": "kms:*",
                "Resource": "*",
            }
        ],
    }


@dataclass
class Registry:
    enabled: bool = False
    roles: dict[str, list[Document]] = field(default_factory=dict)
    machines: dict[str, str] = field(default_factory=dict)
    services: dict[str, str] = field(default_factory=dict)
    buckets: dict[str, Bucket] = field(default_factory=dict)
    key_policies: dict[str, Document] = field(default_factory=dict)
    objects: dict[tuple[str, str], tuple[str | None, bool]] = field(default_factory=dict)
    """(bucket, key) -> (KMS key ARN or None, bucket key used), as each object was written."""
    denials: list[Denial] = field(default_factory=list)
    allowed: list[tuple[str, Request]] = field(default_factory=list)
    """Every (principal, request) allowed, in order: what a role really used."""
    lock: threading.RLock = field(default_factory=threading.RLock)

    def reset(self) -> None:
        with self.lock:
            self.enabled = False
            for store in (self.roles, self.machines, self.services, self.buckets):
                store.clear()
            self.key_policies.clear()
            self.objects.clear()
            self.denials.clear()
            self.allowed.clear()

    # -- what the tests register ---------------------------------------------------------

    def put_role_policy(self, role_arn: str, *documents: Document) -> None:
        """Attach inline policy documents to a role (added to those it has). IAM refuses
        a policy whose statement ids repeat ("IAM JSON policy elements: Sid": "In IAM,
        the Sid value must be unique within a JSON policy"); so does this."""
        for document in documents:
            sids = [s["Sid"] for s in document.get("Statement", []) if "Sid" in s]
            if len(sids) != len(set(sids)):
                raise ValueError(f"MalformedPolicyDocument: repeated statement ids in {sids}")
        with self.lock:
            self.roles.setdefault(role_arn, []).extend(documents)

    def set_machine_role(self, machine_arn: str, role_arn: str) -> None:
        with self.lock:
            self.machines[machine_arn] = role_arn

    def set_service_role(self, resource_arn: str, role_arn: str) -> None:
        """The role a pipe or delivery stream (its ARN) acts as."""
        with self.lock:
            self.services[resource_arn] = role_arn

    def configure_bucket(
        self,
        name: str,
        *,
        owner: str | None = None,
        policy: Document | None = None,
        kms_key_arn: str | None = None,
        bucket_key: bool = False,
    ) -> None:
        with self.lock:
            self.buckets[name] = Bucket(owner, policy, kms_key_arn, bucket_key)

    def put_key_policy(self, key_arn: str, document: Document) -> None:
        with self.lock:
            self.key_policies[key_arn] = document

    # -- what the model looks up ---------------------------------------------------------

    def bucket(self, name: str) -> Bucket:
        return self.buckets.get(name) or Bucket()

    def bucket_owner(self, name: str, default: str) -> str:
        owner = self.bucket(name).owner
        if owner:
            return owner
        from moto.s3.models import s3_backends

        found = s3_backends.bucket_accounts.get(name)
        return str(found[1]) if found else default

    def role_of_machine(self, machine_arn: str) -> str | None:
        # A Distributed Map's child runs as its machine: ``stateMachine:<name>/<label>``.
        return self.machines.get(machine_arn.split("/", 1)[0])

    # -- the decision ----------------------------------------------------------------

    def decide(self, principal: str, request: Request) -> str | None:
        """``None`` if IAM would allow the request, else why it is denied."""
        caller_account = account_of(principal)
        keys = request.keys()
        keys.setdefault("aws:PrincipalArn", principal)
        keys.setdefault("aws:PrincipalAccount", caller_account)
        keys.setdefault("aws:SecureTransport", "true")
        identities = self.roles.get(principal, [])
        if any(
            iam_eval.explicitly_denies(d, request.action, request.resource, keys)
            for d in identities
        ):
            return "an identity-based policy explicitly denies it"
        identity = any(
            iam_eval.allowed(d, request.action, request.resource, keys) for d in identities
        )
        if request.policy == "kms":
            return self._decide_key(principal, request, keys, identity)
        resource_account, policy = caller_account, None
        if request.policy == "s3" and request.bucket:
            resource_account = self.bucket_owner(request.bucket, caller_account)
            policy = self.bucket(request.bucket).policy
        keys.setdefault("aws:ResourceAccount", resource_account)
        result = ResourcePolicyEvalResult.NO_MATCH
        if policy is not None:
            result = iam_eval.resource_policy_result(
                policy,
                request.action,
                request.resource,
                keys,
                caller_arn=principal,
                resource_account=resource_account,
            )
        if result is ResourcePolicyEvalResult.DENY_MATCH:
            return "the bucket policy explicitly denies it"
        if resource_account == caller_account:
            if identity or result is ResourcePolicyEvalResult.NODE_MATCH:
                return None
            return "no identity-based policy allows it"
        if not identity:
            return "no identity-based policy allows it"
        if result is not ResourcePolicyEvalResult.DIFF_ACCOUNT_MATCH:
            return f"the bucket policy of account {resource_account} does not allow it"
        return None

    def _decide_key(
        self, principal: str, request: Request, keys: dict[str, Any], identity: bool
    ) -> str | None:
        key_arn = request.resource
        key_account = account_of(key_arn)
        keys.setdefault("aws:ResourceAccount", key_account)
        policy = self.key_policies.get(key_arn) or _default_key_policy(key_arn)
        result = iam_eval.resource_policy_result(
            policy,
            request.action,
            key_arn,
            keys,
            caller_arn=principal,
            resource_account=key_account,
        )
        if result is ResourcePolicyEvalResult.DENY_MATCH:
            return "the key policy explicitly denies it"
        if key_account == account_of(principal):
            if result is ResourcePolicyEvalResult.NODE_MATCH:
                return None
            if result is ResourcePolicyEvalResult.ROOT_MATCH:
                return None if identity else "no identity-based policy allows it"
            return "the key policy does not allow it"
        if not identity:
            return "no identity-based policy allows it"
        if result is not ResourcePolicyEvalResult.DIFF_ACCOUNT_MATCH:
            return f"the key policy of account {key_account} does not allow it"
        return None

    def check(self, principal: str, requests: list[Request]) -> None:
        """Raise ``AccessDenied`` for the first request IAM would deny."""
        with self.lock:
            for request in requests:
                reason = self.decide(principal, request)
                if reason is not None:
                    self.denials.append(Denial(principal, request, reason))
                    raise AccessDenied(principal, request, reason)
                self.allowed.append((principal, request))

    def allows(self, principal: str, request: Request) -> bool:
        with self.lock:
            return self.decide(principal, request) is None


REGISTRY = Registry()


# -- who is calling -----------------------------------------------------------------------

_acting = threading.local()


def current_principal() -> str | None:
    """The role the current thread's calls are made as, if it acts for a registered
    machine or path and authorisation is on."""
    if not REGISTRY.enabled:
        return None
    return getattr(_acting, "principal", None)


@contextlib.contextmanager
def acting_as(principal: str | None) -> Iterator[None]:
    previous = getattr(_acting, "principal", None)
    _acting.principal = principal
    try:
        yield
    finally:
        _acting.principal = previous


def principal_of_env(env: Any) -> str | None:
    """The role an execution's calls are made as: its state machine's. Map children
    (Distributed Map included) share their parent's context object, so its machine."""
    data = env.states.context_object.context_object_data
    machine = data.get("StateMachine", {}).get("Id", "")
    return REGISTRY.role_of_machine(machine)

"""A policy is collected from typed grants: one statement per resource, its ARNs and
condition read from the role's description, and nothing silently dropped."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from table_exporter.kernel.grants import Grant, Resource, collect, optional, statements
from table_exporter.kernel.iam import allow, document


@dataclass(frozen=True)
class _Role:
    bucket: str
    key: str | None = None


OBJECTS: Resource[_Role] = Resource("Objects", lambda role: [f"arn:aws:s3:::{role.bucket}/*"])
KEY: Resource[_Role] = Resource(
    "Key",
    lambda role: optional(role.key),
    lambda _role: {"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}},
)


def test_actions_on_one_resource_become_one_statement_in_first_asked_order() -> None:
    grants = collect(
        [
            Grant(OBJECTS, ("s3:PutObject",)),
            Grant(KEY, ("kms:GenerateDataKey",)),
            Grant(OBJECTS, ("s3:GetObject", "s3:PutObject")),
        ]
    )

    rendered = statements(grants, _Role("b", key="arn:aws:kms:eu-west-1:111122223333:key/k"))

    assert [s["Sid"] for s in rendered] == ["Objects", "Key"]
    assert rendered[0]["Action"] == ["s3:GetObject", "s3:PutObject"]
    assert rendered[0]["Resource"] == ["arn:aws:s3:::b/*"]
    assert "Condition" not in rendered[0]
    assert rendered[1]["Condition"] == {
        "StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}
    }


def test_a_resource_the_role_does_not_have_is_an_error_not_a_dropped_statement() -> None:
    grants = collect([Grant(KEY, ("kms:Decrypt",))])

    with pytest.raises(ValueError, match="need Key, but this _Role names no resources"):
        statements(grants, _Role("b"))


def test_a_policy_with_two_statements_of_one_id_is_refused() -> None:
    # IAM wants statement ids unique within a policy ("IAM JSON policy elements: Sid").
    twin: Resource[_Role] = Resource("Objects", lambda role: [f"arn:aws:s3:::{role.bucket}"])
    grants = collect([Grant(OBJECTS, ("s3:GetObject",)), Grant(twin, ("s3:ListBucket",))])

    with pytest.raises(ValueError, match="unique within a policy: Objects"):
        document(*statements(grants, _Role("b")))


def test_a_statement_id_of_other_than_ascii_letters_and_digits_is_refused() -> None:
    statement = allow("Reads-Exports", ["s3:GetObject"], ["arn:aws:s3:::b/*"])
    with pytest.raises(ValueError, match="ASCII letters and digits only: Reads-Exports"):
        document(statement)


def test_a_resource_that_may_be_absent_gives_no_statement_where_the_role_has_none() -> None:
    key: Resource[_Role] = Resource("Key", lambda role: optional(role.key), may_be_absent=True)
    grants = collect([Grant(OBJECTS, ("s3:GetObject",)), Grant(key, ("kms:Decrypt",))])

    assert [s["Sid"] for s in statements(grants, _Role("b"))] == ["Objects"]
    with_key = statements(grants, _Role("b", key="arn:aws:kms:eu-west-1:111122223333:key/k"))
    assert [s["Sid"] for s in with_key] == ["Objects", "Key"]

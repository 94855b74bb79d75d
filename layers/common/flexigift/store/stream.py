"""The table's stream records, as its consumers read them: a record's new image as Python values."""

from __future__ import annotations

from typing import Any

from boto3.dynamodb.types import TypeDeserializer


class _StreamImage(TypeDeserializer):
    """boto3's rules (N as Decimal in DynamoDB's context, sets as sets) except for binary values, which stay the
    base64 text the stream's JSON carries (boto3 would wrap that text, undecoded, in a Binary): none of the
    items the consumers read holds one."""

    def _deserialize_b(self, value: Any) -> Any:
        return value


_IMAGE = _StreamImage()


def new_image(record: dict[str, Any]) -> dict[str, Any]:
    """The item as the change left it (INSERT, MODIFY); {} for a record without one (REMOVE)."""
    image = (record.get("dynamodb") or {}).get("NewImage") or {}
    return {name: _IMAGE.deserialize(value) for name, value in image.items()}

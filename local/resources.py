"""The template's data resources, created in moto under local physical names.

provision() creates every DynamoDB table, S3 bucket, SQS queue and KMS key that template.yaml declares
and returns what !Ref and !GetAtt resolve to for them (plus functions and pseudo parameters), so that
the functions' Environment can be resolved. A reference to any other resource type fails loudly at start,
naming it (see lambda_runtime.function_environment): give that type a stand-in here first.
"""

from __future__ import annotations

import json
import re
from typing import Any

from local import template
from local.moto_backend import ACCOUNT_ID, REGION

PREFIX = "flexigift-local"
_QUEUE_ATTRIBUTES = ("FifoQueue", "ContentBasedDeduplication", "VisibilityTimeout", "MessageRetentionPeriod",
                     "DelaySeconds", "ReceiveMessageWaitTimeSeconds", "MaximumMessageSize")
DEFAULT_TABLE = PREFIX  # the physical name of the template's `Table`


def _name(logical_id: str) -> str:
    """RewardsDeliveryDLQ -> flexigift-local-rewards-delivery-dlq (valid for tables, buckets and queues)."""
    if logical_id == "Table":
        return DEFAULT_TABLE
    return f"{PREFIX}-{re.sub(r'(?<=[a-z0-9])(?=[A-Z])', '-', logical_id).lower()}"


def pseudo_parameters() -> dict[str, str]:
    return {"AWS::Region": REGION, "AWS::AccountId": ACCOUNT_ID, "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com", "AWS::StackName": PREFIX, "AWS::NoValue": ""}


def physical_names(table_name: str = DEFAULT_TABLE) -> dict[str, str]:
    """Names that need no AWS call: the table, functions, pseudo parameters (KMS keys need provision())."""
    names = {**pseudo_parameters()}
    for logical_id, resource in template.resources().items():
        kind = resource.get("Type")
        if kind == "AWS::DynamoDB::Table":
            name = table_name if logical_id == "Table" else _name(logical_id)
            names[logical_id] = name
            names[f"{logical_id}.Arn"] = f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/{name}"
        elif kind == "AWS::S3::Bucket":
            name = _name(logical_id)
            names[logical_id] = name
            names[f"{logical_id}.Arn"] = f"arn:aws:s3:::{name}"
            names[f"{logical_id}.DomainName"] = f"{name}.s3.amazonaws.com"
        elif kind == "AWS::SQS::Queue":
            fifo = bool((resource.get("Properties") or {}).get("FifoQueue"))
            name = _name(logical_id) + (".fifo" if fifo else "")
            names[logical_id] = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT_ID}/{name}"
            names[f"{logical_id}.QueueName"] = name
            names[f"{logical_id}.QueueUrl"] = names[logical_id]
            names[f"{logical_id}.Arn"] = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{name}"
        elif kind in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
            name = f"{PREFIX}-{logical_id}"
            names[logical_id] = name
            names[f"{logical_id}.Arn"] = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}"
    return names


def provision(table_name: str = DEFAULT_TABLE, endpoint: str | None = None) -> dict[str, str]:
    """Create the template's tables, buckets, queues and KMS keys; return the physical-name map."""
    import boto3

    names = physical_names(table_name)

    def client(service: str) -> Any:
        return boto3.client(service, region_name=REGION, endpoint_url=endpoint)

    queues: dict[str, dict[str, Any]] = {}
    for logical_id, resource in template.resources().items():
        kind, props = resource.get("Type"), resource.get("Properties") or {}
        if kind == "AWS::DynamoDB::Table":
            _create_table(client("dynamodb"), names[logical_id], logical_id)
        elif kind == "AWS::S3::Bucket":
            if names[logical_id] not in {b["Name"] for b in client("s3").list_buckets().get("Buckets", [])}:
                client("s3").create_bucket(Bucket=names[logical_id])
        elif kind == "AWS::SQS::Queue":
            attributes = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in props.items()
                          if k in _QUEUE_ATTRIBUTES}
            url = client("sqs").create_queue(QueueName=names[f"{logical_id}.QueueName"],
                                             Attributes=attributes)["QueueUrl"]
            names[logical_id] = names[f"{logical_id}.QueueUrl"] = url
            queues[logical_id] = props
        elif kind == "AWS::KMS::Key":
            key = _existing_key(client("kms"), f"{PREFIX} {logical_id}") or client("kms").create_key(
                Description=f"{PREFIX} {logical_id}", KeySpec=props.get("KeySpec", "SYMMETRIC_DEFAULT"),
                KeyUsage=props.get("KeyUsage", "ENCRYPT_DECRYPT"))["KeyMetadata"]
            names[logical_id] = names[f"{logical_id}.KeyId"] = key["KeyId"]
            names[f"{logical_id}.Arn"] = key["Arn"]
    # what refers to other resources comes second: dead-letter queues, aliases
    for logical_id, props in queues.items():
        redrive = props.get("RedrivePolicy")
        if redrive:
            policy = {k: template.resolve(v, names) for k, v in redrive.items()}
            client("sqs").set_queue_attributes(QueueUrl=names[logical_id],
                                               Attributes={"RedrivePolicy": json.dumps(policy)})
    for logical_id, resource in template.resources().items():
        if resource.get("Type") == "AWS::KMS::Alias":
            props = resource.get("Properties") or {}
            alias = str(template.resolve(props.get("AliasName"), names))
            kms = client("kms")
            if any(a["AliasName"] == alias for a in kms.list_aliases().get("Aliases", [])):
                kms.delete_alias(AliasName=alias)  # kept from a restored run: pointed again, as deployed
            kms.create_alias(AliasName=alias, TargetKeyId=str(template.resolve(props.get("TargetKeyId"),
                                                                                        names)))
            names[logical_id] = alias
    return names


def _existing_key(kms: Any, description: str) -> dict[str, Any] | None:
    """A key made by an earlier run whose data was restored (local/persistence.py): its material decrypts
    what was encrypted then."""
    for listed in kms.list_keys().get("Keys", []):
        metadata = kms.describe_key(KeyId=listed["KeyId"])["KeyMetadata"]
        if metadata.get("Description") == description and metadata.get("KeyState") == "Enabled":
            return dict(metadata)
    return None


def _create_table(dynamodb: Any, table_name: str, logical_id: str) -> None:
    if table_name in dynamodb.list_tables().get("TableNames", []):
        return  # restored with its items (local/persistence.py)
    dynamodb.create_table(TableName=table_name, **template.table_definition(logical_id))
    ttl = template.ttl_attribute(logical_id)
    if ttl:
        dynamodb.update_time_to_live(TableName=table_name,
                                     TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl})

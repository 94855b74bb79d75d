"""template.yaml's rewards resources: least privilege per function, the delivery queue's dead-letter
queue, the table's stream and the outbox relay, the feed bucket's protections, the schedule. And the local
services that read them."""

from __future__ import annotations

import datetime
import json

from local import template
from local.rewards_services import filter_patterns, matches, rate_seconds, sqs_records, stream_records

REWARDS_FUNCTIONS = ("GetRewardsCatalogFunction", "RefreshRewardsCatalogFunction", "CreateRewardOrderFunction",
                     "GetRewardOrderFunction", "ListRewardOrdersFunction", "ResendRewardOrderFunction",
                     "DeliverRewardEmailsFunction", "FailRewardDeliveriesFunction", "RelayOutboxFunction")


def statements(logical_id: str) -> list[dict]:
    props = template.resources()[logical_id]["Properties"]
    return [s for policy in props.get("Policies", []) for s in policy.get("Statement", [])]


def holders(action: str) -> set[str]:
    """The functions (of the whole template) whose policies allow an action."""
    return {fn for fn in template.functions() if any(action in s["Action"] for s in statements(fn))}


def test_secrets_and_side_effects_are_granted_only_where_needed():
    # reward codes (RewardCodesKey) and webhook endpoints' secrets (WebhookSecretsKey: sealed when an endpoint is
    # created, opened by the delivery worker to sign)
    assert holders("kms:Encrypt") == {"CreateRewardOrderFunction", "CreateWebhookEndpointFunction"}
    assert holders("kms:Decrypt") == {"CreateRewardOrderFunction", "DeliverRewardEmailsFunction",
                                      "DeliverWebhooksFunction"}
    assert holders("ses:SendEmail") == {"DeliverRewardEmailsFunction"}
    # requests never send: the outbox relay does, through its own role (below); the webhook worker queues one
    # message per endpoint of an event the relay queued (a fan-out after the commit, not a request's side effect)
    assert holders("sqs:SendMessage") == {"DeliverWebhooksFunction"}
    assert holders("s3:GetObject") == {"RefreshRewardsCatalogFunction"}


def test_kms_use_is_bound_to_reward_codes_and_writes_to_the_rewards_partitions():
    for fn in REWARDS_FUNCTIONS:
        for statement in statements(fn):
            assert statement["Effect"] == "Allow" and isinstance(statement["Action"], list)
            if any(a.startswith("kms:") for a in statement["Action"]):
                assert statement["Condition"]["StringEquals"]["kms:EncryptionContext:purpose"] == "reward_code"
                assert statement["Resource"] == {"Fn::GetAtt": ["RewardCodesKey", "Arn"]}
            if {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"} & set(statement["Action"]):
                leading = statement["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
                # the rewards' own partitions; an order paid into a wallet (delivery_method 3) also writes the
                # new card (its item, guard, ledger, the card id counter) and its owner's wallet (user, guard)
                wallet = {"P#*#CARD#*", "P#*#UNIQUE#CARD#*", "P#*#COUNTER#CARD", "P#*#UNIQUE#USER#*", "P#*#USER#*"}
                # and the events (reward_order.delivered/failed, the new card's balance) written with the change
                assert all(k in ("REWARD#*", "P#*#EVENT#*") or k.startswith((
                    "P#*#REWARD_ORDER#", "P#*#IDEMPOTENCY#reward_order#", "P#*#OUTBOX#reward_email#"))
                           or (fn == "CreateRewardOrderFunction" and k in wallet) for k in leading), (fn, leading)
            assert "*" not in str(statement.get("Action"))


def test_the_key_policy_lets_iam_grant_only_reward_code_use():
    props = template.resources()["RewardCodesKey"]["Properties"]
    assert props["EnableKeyRotation"] is True
    use = [s for s in props["KeyPolicy"]["Statement"] if "kms:Decrypt" in s["Action"]]
    assert len(use) == 1 and use[0]["Condition"]["StringEquals"]["kms:EncryptionContext:purpose"] == "reward_code"
    assert all("kms:*" not in s["Action"] for s in props["KeyPolicy"]["Statement"])


def test_the_delivery_queue_dead_letters_after_three_tries_and_both_queues_are_encrypted():
    queue = template.resources()["RewardsDeliveryQueue"]["Properties"]
    assert queue["RedrivePolicy"] == {"deadLetterTargetArn": {"Fn::GetAtt": ["RewardsDeliveryDLQ", "Arn"]},
                                      "maxReceiveCount": 3}
    worker_timeout = template.functions()["DeliverRewardEmailsFunction"].timeout
    assert queue["VisibilityTimeout"] >= 6 * worker_timeout
    for name in ("RewardsDeliveryQueue", "RewardsDeliveryDLQ"):
        assert template.resources()[name]["Properties"]["SqsManagedSseEnabled"] is True


def test_both_queue_consumers_report_partial_batch_failures():
    sources = {fn.logical_id: event["Properties"] for fn in template.functions().values()
               for event in fn.events.values() if event["Type"] == "SQS"}
    assert set(sources) == {"DeliverRewardEmailsFunction", "FailRewardDeliveriesFunction", "DeliverWebhooksFunction"}
    assert sources["DeliverWebhooksFunction"]["Queue"] == {"Fn::GetAtt": ["WebhookDeliveriesQueue", "Arn"]}
    assert sources["DeliverRewardEmailsFunction"]["Queue"] == {"Fn::GetAtt": ["RewardsDeliveryQueue", "Arn"]}
    assert sources["FailRewardDeliveriesFunction"]["Queue"] == {"Fn::GetAtt": ["RewardsDeliveryDLQ", "Arn"]}
    assert all(s["FunctionResponseTypes"] == ["ReportBatchItemFailures"] for s in sources.values())


def test_the_feed_bucket_is_private_encrypted_and_tls_only():
    bucket = template.resources()["CatalogFeedBucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values()) and len(bucket["PublicAccessBlockConfiguration"]) == 4
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    deny = template.resources()["CatalogFeedBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_the_refresh_runs_hourly():
    events = template.functions()["RefreshRewardsCatalogFunction"].events
    assert events["Hourly"]["Type"] == "Schedule" and events["Hourly"]["Properties"]["Schedule"] == "rate(1 hour)"
    assert rate_seconds("rate(1 hour)") == 3600 and rate_seconds("rate(5 minutes)") == 300
    assert rate_seconds("cron(0 * * * ? *)") is None


def test_the_refresh_also_runs_once_when_this_stack_finishes_deploying():
    """The catalog from the first minute after `sam deploy`: a rule on this stack's own status change."""
    rule = template.functions()["RefreshRewardsCatalogFunction"].events["AfterDeploy"]
    assert rule["Type"] == "EventBridgeRule"
    pattern = rule["Properties"]["Pattern"]
    assert pattern["source"] == ["aws.cloudformation"]
    assert pattern["detail-type"] == ["CloudFormation Stack Status Change"]
    assert pattern["resources"] == [{"Ref": "AWS::StackId"}]  # this stack's events, not every stack's
    assert sorted(pattern["detail"]["status-details"]["status"]) == ["CREATE_COMPLETE", "UPDATE_COMPLETE"]


def test_the_local_poller_builds_lambdas_sqs_event():
    message = {"MessageId": "m1", "ReceiptHandle": "r1", "Body": '{"order_id": "x"}', "MD5OfBody": "d",
               "Attributes": {"ApproximateReceiveCount": "2"}}
    record = sqs_records([message], "arn:aws:sqs:us-east-1:123456789012:q")["Records"][0]
    assert record["messageId"] == "m1" and record["receiptHandle"] == "r1" and record["body"] == message["Body"]
    assert record["eventSource"] == "aws:sqs" and record["attributes"]["ApproximateReceiveCount"] == "2"
    assert record["eventSourceARN"].endswith(":q")


# --- the transactional outbox ------------------------------------------------------------------------


def relay_source() -> dict:
    return template.functions()["RelayOutboxFunction"].events["Outbox"]


def test_the_table_streams_new_images_and_requests_write_no_queue():
    """Given the template, then the table's stream carries new images, and no API function may call SQS
    (an order or a resend only writes its outbox record in its transaction)."""
    assert template.resources()["Table"]["Properties"]["StreamSpecification"] == {"StreamViewType": "NEW_IMAGE"}
    for fn in ("CreateRewardOrderFunction", "ResendRewardOrderFunction"):
        assert "REWARDS_QUEUE_URL" not in template.functions()[fn].environment
        assert not any(a.startswith("sqs:") for s in statements(fn) for a in s["Action"])


def test_the_relay_reads_only_outbox_inserts_reports_item_failures_bisects_and_has_a_failure_destination():
    source = relay_source()
    assert source["Type"] == "DynamoDB"
    props = source["Properties"]
    assert props["Stream"] == {"Fn::GetAtt": ["Table", "StreamArn"]}
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"] and props["BisectBatchOnFunctionError"] is True
    assert props["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": ["RelayOutboxDLQ", "Arn"]}
    assert props["MaximumRetryAttempts"] > 0 and props["MaximumRecordAgeInSeconds"] >= 600
    # outbox records (reward emails, webhook retries) and events (to be delivered to webhooks)
    assert filter_patterns(props) == [{"eventName": ["INSERT"],
                                       "dynamodb": {"NewImage": {"type": {"S": ["OUTBOX", "EVENT"]}}}}]
    assert template.resources()["RelayOutboxDLQ"]["Properties"]["SqsManagedSseEnabled"] is True


def test_the_relays_role_reads_only_the_stream_and_sends_only_to_its_queues():
    role = template.resources()["RelayOutboxRole"]["Properties"]
    assert template.resources()["RelayOutboxFunction"]["Properties"]["Role"] == {"Fn::GetAtt": ["RelayOutboxRole", "Arn"]}
    [policy] = role["Policies"]
    by_sid = {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}
    assert set(by_sid) == {"ReadTheTablesStream", "SendDeliveriesAndFailedBatches"}
    assert by_sid["ReadTheTablesStream"]["Resource"] == {"Fn::GetAtt": ["Table", "StreamArn"]}
    assert set(by_sid["ReadTheTablesStream"]["Action"]) == {"dynamodb:DescribeStream", "dynamodb:GetRecords",
                                                             "dynamodb:GetShardIterator", "dynamodb:ListStreams"}
    assert by_sid["SendDeliveriesAndFailedBatches"]["Action"] == ["sqs:SendMessage"]
    assert by_sid["SendDeliveriesAndFailedBatches"]["Resource"] == [
        {"Fn::GetAtt": ["RewardsDeliveryQueue", "Arn"]}, {"Fn::GetAtt": ["WebhookDeliveriesQueue", "Arn"]},
        {"Fn::GetAtt": ["RelayOutboxDLQ", "Arn"]}]
    assert all(s["Effect"] == "Allow" and "*" not in json.dumps(s["Action"]) for s in by_sid.values())
    assert [str(a) for a in role["ManagedPolicyArns"]] == [
        str({"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"}),
        str({"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/AWSXrayWriteOnlyAccess"})]


def _record(name: str, image: dict) -> dict:
    return {"eventID": "e", "eventName": name, "eventSource": "aws:dynamodb",
            "dynamodb": {"NewImage": image, "SequenceNumber": "7",
                         "ApproximateCreationDateTime": datetime.datetime(2026, 11, 22, tzinfo=datetime.UTC)}}


def test_the_local_stream_reader_applies_the_templates_filter_and_builds_lambdas_event():
    """Given stream records as moto's GetRecords returns them, then the event has Lambda's shape (epoch
    time, binaries as base64, the stream's ARN) and the template's filter passes only OUTBOX inserts."""
    [pattern] = filter_patterns(relay_source()["Properties"])
    outbox = {"type": {"S": "OUTBOX"}, "order_id": {"S": "ro_1"}}
    order = {"type": {"S": "REWARD_ORDER"}, "code_ciphertext": {"B": b"\x00\x01"}}
    event = stream_records([_record("INSERT", outbox), _record("INSERT", order), _record("MODIFY", outbox)],
                           "arn:stream")["Records"]
    assert [matches(pattern, r) for r in event] == [True, False, False]
    assert event[0]["eventSourceARN"] == "arn:stream" and event[0]["dynamodb"]["ApproximateCreationDateTime"] == 1795305600
    assert event[1]["dynamodb"]["NewImage"]["code_ciphertext"] == {"B": "AAE="}
    assert matches({"dynamodb": {"NewImage": {"kind": [{"exists": False}]}}}, event[0])

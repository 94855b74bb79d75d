"""template.yaml's observability: tracing on, and alarms on the dead-letter queue and the API's 5xx rate
that notify an optional SNS topic."""

from local import template

NOTIFY = {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}


def test_tracing_is_active_for_every_function_and_the_api():
    loaded = template.load()
    assert loaded["Globals"]["Function"]["Tracing"] == "Active"
    assert template.resources()["Api"]["Properties"]["TracingEnabled"] is True
    for logical_id, resource in template.resources().items():
        if resource["Type"] == "AWS::Serverless::Function":
            assert resource["Properties"].get("Tracing", "Active") == "Active", logical_id


def test_the_alarm_topic_is_optional():
    loaded = template.load()
    assert loaded["Parameters"]["AlarmTopicArn"]["Default"] == ""
    assert loaded["Conditions"]["HasAlarmTopic"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmTopicArn"}, ""]}]}


def test_a_message_on_the_dead_letter_queue_raises_the_alarm():
    alarm = template.resources()["RewardsDeliveryDLQAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["RewardsDeliveryDLQ", "QueueName"]}}]
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)
    assert alarm["AlarmActions"] == alarm["OKActions"] == NOTIFY


def test_more_than_one_percent_of_5xx_over_five_minutes_raises_the_alarm():
    alarm = template.resources()["Api5xxRateAlarm"]["Properties"]
    queries = {query["Id"]: query for query in alarm["Metrics"]}
    api_name = template.resources()["Api"]["Properties"]["Name"]
    for query_id, metric_name in (("errors", "5XXError"), ("requests", "Count")):
        stat = queries[query_id]["MetricStat"]
        assert stat["Metric"]["MetricName"] == metric_name and stat["Metric"]["Namespace"] == "AWS/ApiGateway"
        assert stat["Stat"] == "Sum" and stat["Period"] == 300
        dimensions = {d["Name"]: d["Value"] for d in stat["Metric"]["Dimensions"]}
        assert dimensions == {"ApiName": {"Fn::Sub": "${AWS::StackName}"}, "Stage": {"Ref": "StageName"}}
        assert api_name == {"Ref": "AWS::StackName"}
    assert queries["rate"]["Expression"] == "IF(requests > 0, 100 * errors / requests, 0)"
    assert [q["Id"] for q in alarm["Metrics"] if q.get("ReturnData")] == ["rate"]
    assert (alarm["ComparisonOperator"], alarm["Threshold"], alarm["EvaluationPeriods"]) == ("GreaterThanThreshold", 1, 1)
    assert alarm["AlarmActions"] == alarm["OKActions"] == NOTIFY

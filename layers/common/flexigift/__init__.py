"""Flexigift domain package: shared by every Lambda function through the common layer.

In Lambda (its runtime sets AWS_LAMBDA_FUNCTION_NAME) a function's init runs with the cyclic garbage
collector paused: importing boto3 and creating clients allocates hundreds of thousands of objects and no
garbage worth a collection, and the collector's passes over them were about a tenth of a cold start.
flexigift.aws.warm, which every handler module calls at the end of its init, freezes what init made (later
collections skip it) and turns the collector back on (tests/unit/test_lambda_init.py checks every function)."""

import os

if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
    import gc

    gc.disable()

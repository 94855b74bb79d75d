"""Flexigift domain package: shared by every Lambda function through the common layer."""

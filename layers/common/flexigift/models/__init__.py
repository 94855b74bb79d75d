"""Requests, responses and what is stored, as models in pydantic v2's vocabulary, validated at run time by
flexigift.shapes (pydantic itself builds their OpenAPI schemas: local/pydantic_twin.py)."""

"""pydantic v2 shapes: requests, responses and what is stored."""

"""Use cases. Logic raises domain errors from flexigift.errors and never builds HTTP responses."""

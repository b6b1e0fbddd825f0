"""The user's language: YAML specs validated into pydantic models, errors with file:line:key."""

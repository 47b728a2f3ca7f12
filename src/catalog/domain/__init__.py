"""The catalog's domain model: pure rules, no I/O."""

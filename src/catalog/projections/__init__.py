"""The catalog's read models, one module each."""

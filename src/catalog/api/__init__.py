"""The HTTP edge (FastAPI): the only place pydantic request models live."""

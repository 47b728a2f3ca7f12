"""A lending library on Tandem: one aggregate (a book), two commands (add a book, lend
it), one projection (the shelf) and a query that waits for the version a command
returned, on SQLite or on PostgreSQL.

    python -m examples.library                      # SQLite, in a temporary directory
    python -m examples.library postgresql://…/db    # PostgreSQL
"""

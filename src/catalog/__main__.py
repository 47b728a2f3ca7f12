"""`python -m catalog` runs the `tandem` command."""

from catalog.cli import main

main()

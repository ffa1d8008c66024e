"""``python -m cli``: the same as the ``resurface`` command."""

from cli.root import main

main()

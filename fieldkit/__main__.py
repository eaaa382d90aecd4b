"""``python -m fieldkit`` runs the command line, like the ``fieldkit`` script."""

from fieldkit.cli import main

main()

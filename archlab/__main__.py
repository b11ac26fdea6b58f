"""``python -m archlab``: the command line (:mod:`archlab.cli`)."""

from archlab.cli import main

main()

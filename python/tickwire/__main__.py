"""``python -m tickwire`` runs the command line, as the ``tickwire`` script does."""

from .cli import main

raise SystemExit(main())

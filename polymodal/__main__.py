"""``python -m polymodal``: the command line, as the ``polymodal`` script runs it."""

from polymodal.cli import main

raise SystemExit(main())

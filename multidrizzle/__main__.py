"""``python -m multidrizzle``: the ``multidrizzle`` command."""

from multidrizzle.session.cli import main

raise SystemExit(main())

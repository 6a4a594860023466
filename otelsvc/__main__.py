"""``python -m otelsvc``: the same commands as the ``otelsvc`` script."""

from otelsvc._cli import main

raise SystemExit(main())

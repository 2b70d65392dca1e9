"""``python -m sonar_tui.config [--update README.md]``: the configuration reference."""

from sonar_tui.config.reference import main

raise SystemExit(main())

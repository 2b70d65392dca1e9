"""``python -m sonar_tui.mock --port N --profile P``."""

import sys

from sonar_tui.mock.command import main

sys.exit(main())

from sonar_tui.cli import main

raise SystemExit(main())

from stapel.cli.main import main

raise SystemExit(main())

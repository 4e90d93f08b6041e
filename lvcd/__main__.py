from lvcd.cli import main

raise SystemExit(main())

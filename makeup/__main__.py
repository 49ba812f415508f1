import sys

from makeup.cli import main

sys.exit(main())

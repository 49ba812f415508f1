import sys

from makeup.train.command import main

sys.exit(main())

import sys

from kubeharden.cli import main

sys.exit(main())

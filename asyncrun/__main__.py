import sys

from asyncrun.cli import main

sys.exit(main())

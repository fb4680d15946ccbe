import sys

from parcelwatch.cli import main

sys.exit(main())

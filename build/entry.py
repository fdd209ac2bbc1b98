"""Entry point of the desktop bundle: the same as the `quantplanner` console script."""
import sys

from app.launcher import main

if __name__ == "__main__":
    sys.exit(main())

"""``python3 -m trainers rm|dpo|eval --config FILE``: see cli.py and README.md."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())

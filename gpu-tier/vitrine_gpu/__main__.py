"""`python -m vitrine_gpu <command> [args]`: the gpu-tier's one command line (vitrine_gpu/cli.py)."""

import sys

from .cli import main

sys.exit(main())

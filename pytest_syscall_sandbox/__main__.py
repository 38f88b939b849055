"""Entry point of ``python -m pytest_syscall_sandbox``."""

import sys

from .cli import main

sys.exit(main())

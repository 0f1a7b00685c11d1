"""``python bench/stability [options]`` (or ``make stability``): see ``--help``."""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCH, ROOT = HERE.parent, HERE.parents[1]
# Run as a directory, Python puts bench/stability first on sys.path: drop it, so that no
# module of this package shadows a library; then bench/ (for ``stability``) and the repo
# root (for tests/redis_servers.py) go last, after the libraries (bench/redis.py must not
# shadow redis-py).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path += [str(BENCH), str(ROOT)]

from stability.cli import main  # noqa: E402

sys.exit(main())

import os
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
sys.path.insert(0, str(Path(__file__).resolve().parent))
# Subprocesses (nbgrader calls `alembic`, kernels start `python`) must find this environment.
os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")

# About how many seconds each file takes on a 2-core machine (CI's --durations). `make test`
# hands whole files to two workers in this order, heaviest first, so that both finish at
# about the same time rather than one starting the longest file last.
SECONDS = {
    "test_autograde.py": 550,
    "test_term.py": 500,
    "test_hostile_modules.py": 480,
    "test_hostile.py": 460,
    "test_browser.py": 420,
    "test_colab.py": 350,
    "test_gan.py": 100,
    "test_diffusion.py": 100,
    "test_edition.py": 80,
    "test_platforms.py": 40,
}


def pytest_collection_modifyitems(items):
    items.sort(key=lambda item: -SECONDS.get(item.path.name, 0))  # stable: a file keeps its order

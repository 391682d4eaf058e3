"""`python -m benchmarks`: the side-by-side comparison (benchmarks/compare.py)."""

import sys
from pathlib import Path

# The benchmark scripts import their siblings by name, as when run as files.
sys.path.insert(0, str(Path(__file__).resolve().parent))

import compare

sys.exit(compare.main())

from __future__ import annotations

import sys

from hitprep.cli import main

sys.exit(main())

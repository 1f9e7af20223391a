"""The `portal` fixture (a local Bitrix24 on 127.0.0.1) comes with b24-crest's pytest plugin."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

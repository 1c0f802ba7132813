"""Write hooks/<name> from the one shim template in git_data/templates/hook.sh."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from git_data.shims import HOOKS, shim_text  # noqa: E402

for hook in HOOKS:
    path = ROOT / "hooks" / hook
    path.write_text(shim_text(hook))
    path.chmod(0o755)
    print(f"wrote {path.relative_to(ROOT)}")

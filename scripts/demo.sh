#!/usr/bin/env bash
# The end-to-end tour behind `make demo`: everything happens in a temporary directory, on the
# embedded default store (a local folder next to a bare "team" repository). No server needed.
set -euo pipefail

DEMO=$(mktemp -d "${TMPDIR:-/tmp}/git-data-demo.XXXXXX")
export HOME="$DEMO/home" GIT_CONFIG_NOSYSTEM=1
mkdir -p "$HOME"
git config --global user.name "Demo User"
git config --global user.email demo@example.com
git config --global init.defaultBranch main
git config --global advice.detachedHead false

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@"; }
checksum() { python3 -c "import hashlib,sys;print(hashlib.sha256(open(sys.argv[1],'rb').read()).hexdigest()[:16])" "$1"; }

cd "$DEMO"
step "A new repository with git-data installed"
show git init -q project
cd project
show git data install
show git data track "data/**"
show cat .gitattributes

step "Add a generated 200 MB dataset with plain git"
python3 - <<'PY'
import os, random
os.makedirs("data/train", exist_ok=True); os.makedirs("data/test", exist_ok=True)
rng = random.Random(1)
with open("data/train/images.bin", "wb") as f:
    for _ in range(190):
        f.write(rng.randbytes(1 << 20))
with open("data/train/labels.csv", "w") as f:
    f.write("id,label\n" + "".join(f"{i},{rng.randrange(10)}\n" for i in range(100000)))
with open("data/test/images.bin", "wb") as f:
    f.write(rng.randbytes(8 << 20))
PY
echo "print('training')" > train.py
show du -sh data
show git add -A
show git commit -qm "Dataset v1"
echo "What git stores for data/train/images.bin:"
show git show HEAD:data/train/images.bin
V1=$(checksum data/train/images.bin)

step "Edit the data and commit again"
python3 -c "
f = open('data/train/images.bin', 'r+b'); f.seek(1000); f.write(b'EDITED' * 1000)"
show git commit -qam "Dataset v2"
V2=$(checksum data/train/images.bin)
echo "v1 checksum $V1, v2 checksum $V2"

step "Check out the older commit: the older bytes are back"
show git checkout -q HEAD~1
echo "checksum now: $(checksum data/train/images.bin) (v1 was $V1)"
[ "$(checksum data/train/images.bin)" = "$V1" ]
show git checkout -q main

step "Status and integrity"
show git data status
show git data fsck

step "Share through a bare 'team' repository: its data/ folder is the store"
show git init -q --bare "$DEMO/team.git"
show git remote add origin "$DEMO/team.git"
show git push -q -u origin main
show git data ls-remote

step "A branch with different data"
show git switch -qc experiment
python3 -c "
import random; open('data/test/images.bin','wb').write(random.Random(7).randbytes(4 << 20))"
show git commit -qam "Smaller test set"
show git push -q -u origin experiment
show git switch -q main

step "A second clone without data, then one folder only"
cd "$DEMO"
show git data clone --no-data "$DEMO/team.git" colleague
cd colleague
show head -c 120 data/test/images.bin; echo
show git data pull --include "data/test/**"
show git data status

step "Switching branch brings that branch's data (fetched in parallel during checkout)"
show git switch -q experiment
echo "data/test/images.bin is now $(stat -c %s data/test/images.bin) bytes"
show git status --short

step "Train from the exact commit: run 1 on the built-in 'local' host"
cd "$DEMO/project"
seq 1 1000 > data/numbers.txt
cat > train.py <<'PY'
import os, pathlib, sys
lr = float(sys.argv[1]) if len(sys.argv) > 1 else 0.1
xs = [int(x) for x in open("data/numbers.txt")]
w = 0.0
for epoch in range(3):
    w += lr * (sum(xs) / len(xs) - w)
    print(f"epoch {epoch} w={w:.3f}", flush=True)
(pathlib.Path(os.environ["GIT_DATA_RUN_OUTPUT"]) / "model.txt").write_text(f"w={w}\n")
PY
echo outputs/ > .gitignore
git add -A && git commit -qm "Tiny training script" && git push -q origin main
show git data run -- python3 train.py 0.5
show git data runs
show git data logs 1
show git data cp runs/1/outputs/model.txt outputs/run1-model.txt
show cat outputs/run1-model.txt

printf '\nDemo finished; everything is in %s\n' "$DEMO"

#!/bin/sh
# git over a generated repository: add, commit, log, diff, gc (deterministic content).
set -e
d=$1
rm -rf "$d" && mkdir -p "$d" && cd "$d"
git init -q . && git config user.email b@example.invalid && git config user.name bench
for r in 1 2 3 4; do
    i=0
    while [ $i -lt 400 ]; do
        printf 'file %d rev %d\n%s\n' $i $r "$(seq $((i % 50 + r)) | tr '\n' ' ')" > "f$i.txt"
        i=$((i + 1))
    done
    git add -A && git commit -qm "rev $r"
done
git log --stat --oneline | wc -l
git diff HEAD~3 --stat | tail -1
git gc -q --aggressive
git count-objects -v | head -1

#!/bin/bash
# Forks and execs many children (the shim must profile each into its own file or the
# shared one, and never change what they print).
set -e
total=0
for i in $(seq 1 60); do
    n=$(echo "$i" | sed 's/0/o/g' | tr 'a-z' 'A-Z' | wc -c)
    total=$((total + n))
    ( sort -n <<<"$(seq $i -1 1)" | head -1 >/dev/null ) &
    if [ $((i % 10)) -eq 0 ]; then wait; fi
done
wait
echo "total $total"
printf '%s\n' c b a | sort | tr '\n' ' '
echo

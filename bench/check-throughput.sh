#!/usr/bin/env bash
# Times `lms check` on one large delivery (default ~1 GB): a generated month of Helse Sør-Øst's coding
# extract, repeated with fresh contact ids until the file reaches the size. Reports MB/s and peak memory.
# Usage: bench/check-throughput.sh [SIZE_MB]   (needs python3 and GNU time at /usr/bin/time)
set -euo pipefail
cd "$(dirname "$0")/.."
size_mb=${1:-1024}
work=${BENCH_DIR:-$(mktemp -d)}
cargo build --profile profiling --quiet
lms=${CARGO_TARGET_DIR:-target}/profiling/lms
"$lms" generate --out "$work/gen" --seed 7 --years 2021 --scale 0.1 >/dev/null
python3 - "$work/gen/HSO/HSO_coding_2021-03.csv" "$work/HSO_coding_2021-03.csv" "$size_mb" <<'PY'
import sys
src, dst, size_mb = sys.argv[1], sys.argv[2], int(sys.argv[3])
header, *rows = open(src, encoding="utf-8", newline="").read().split("\n")
rows = [r for r in rows if r]
target = size_mb * 1024 * 1024
with open(dst, "w", encoding="utf-8", newline="") as out:
    out.write(header + "\n")
    written, rep = 0, 0
    while written < target:
        chunk = "".join(r.replace("HSO,", "HSO,", 1).replace("-2021-03-", f"-2021-03-r{rep}-", 1) + "\n" for r in rows)
        out.write(chunk)
        written += len(chunk.encode())
        rep += 1
PY
bytes=$(stat -c %s "$work/HSO_coding_2021-03.csv")
echo "file: $((bytes / 1024 / 1024)) MiB, $(($(wc -l < "$work/HSO_coding_2021-03.csv") - 1)) rows"
/usr/bin/time -f "elapsed %e s, user %U s, peak memory %M KiB" \
  taskset -c 0 "$lms" check --extract coding --rhf HSO "$work/HSO_coding_2021-03.csv" | tail -n 3

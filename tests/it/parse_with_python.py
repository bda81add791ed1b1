"""Parses every generated delivery with Python's standard csv and json modules, in each region's
dialect, and checks the record counts against the manifest. Used by tests/it/demo_data.rs."""
import csv
import json
import sys
from pathlib import Path

DIALECTS = {  # rhf: (encoding, delimiter); HMN is JSON Lines
    "HSO": ("utf-8", ","),
    "HV": ("cp1252", ";"),
    "HN": ("utf-8-sig", ";"),
}

root = Path(sys.argv[1])
manifest = json.loads((root / "manifest.json").read_text("utf-8"))
parsed = 0
for f in manifest["files"]:
    if f["rejected"]:
        continue  # planted to be unreadable or misnamed
    path = root / f["path"]
    rhf = f["rhf"]
    if rhf == "HMN":
        lines = path.read_text("utf-8").splitlines()
        records = [json.loads(line) for line in lines]
    else:
        encoding, delimiter = DIALECTS[rhf]
        raw = path.read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf") == (rhf == "HN"), f"{path}: byte order mark"
        if rhf in ("HV", "HN"):
            assert raw.count(b"\n") == raw.count(b"\r\n"), f"{path}: CRLF line ends"
        with open(path, encoding=encoding, newline="") as fh:
            records = list(csv.reader(fh, delimiter=delimiter, strict=True))[1:]
    assert len(records) == f["rows"], f"{path}: {len(records)} records, manifest says {f['rows']}"
    parsed += 1
print(f"parsed {parsed} files")

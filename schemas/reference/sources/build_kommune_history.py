"""Builds ../kommune_history.csv from SSB Klass 131 API responses
(copies stored in opisthokonta/kommuneendringer, data-raw/)."""
import json, csv, sys
import os
RAW = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'klass_131') + '/'
START = '2020-01-01'
VERSIONS = ['2020', '2022', '2023', '2024']   # all Klass 131 versions overlapping 2020-01-01..today (per 131.json)
EXCLUDE = {'9999'}                            # 'Uoppgitt' (unknown municipality) pseudo-code

meta = json.load(open(RAW + 'klass_131.json'))
vmeta = {v['name']: v for v in meta['versions']}
# sanity: the versions we use are exactly those overlapping [2020-01-01, open)
overl = sorted(v['name'] for v in meta['versions'] if (v.get('validTo') or '9999') > START)
assert overl == ['Kommuneinndeling ' + y for y in VERSIONS], overl

codes = {}   # code -> dict(first_from, last_to, name)
for y in VERSIONS:
    d = json.load(open(RAW + f'klass_Kommuneinndeling_{y}.json'))
    vm = vmeta['Kommuneinndeling ' + y]
    assert d['validFrom'] == vm['validFrom'] and d.get('validTo') == vm.get('validTo')
    for it in d['classificationItems']:
        c = it['code']
        if c in EXCLUDE: continue
        assert it['level'] == '1' and len(c) == 4
        e = codes.setdefault(c, {'from': d['validFrom'], 'to': None, 'name': None, 'versions': []})
        if e['versions']:  # contiguity check
            assert e['to'] == d['validFrom'], (c, e, d['validFrom'])
        e['versions'].append(y); e['to'] = d.get('validTo'); e['name'] = it['name']

changes = json.load(open(RAW + 'klass_changetables.json'))['codeChanges']
cur = {c for c, e in codes.items() if e['to'] is None}

def successors(code, date):
    """follow Klass code changes from `date` until codes valid in the current version"""
    out = []
    nxt = [ch for ch in changes if ch['oldCode'] == code and ch['changeOccurred'] == date and ch['newCode'] != code]
    assert nxt, (code, date)
    for ch in nxt:
        n = ch['newCode']
        if n in cur: out.append(n)
        else: out += successors(n, codes[n]['to'])
    return sorted(set(out))

rows = []
for c in sorted(codes):
    e = codes[c]
    vf = max(e['from'], START)
    vt = e['to'] or ''
    succ = [c] if vt == '' else successors(c, vt)
    for s in succ:
        rows.append({'kommune': c, 'name': e['name'], 'valid_from': vf, 'valid_to': vt, 'successor': s})

with open(os.path.join(os.path.dirname(RAW.rstrip('/')), '..', 'kommune_history.csv'), 'w', newline='') as f:
    w = csv.DictWriter(f, fieldnames=['kommune', 'name', 'valid_from', 'valid_to', 'successor'], lineterminator='\n')
    w.writeheader(); w.writerows(rows)
print(len(rows), 'rows;', len(codes), 'codes;', len(cur), 'current codes')

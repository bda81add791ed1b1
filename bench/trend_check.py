#!/usr/bin/env python3
"""Recomputes the recent trend of every national series from the served values and intervals, by
indicators.md's definition (third edition, "Recent trend"), and compares with GET /api/v1/trend/{id}.

    python3 bench/trend_check.py http://127.0.0.1:8080/     # a server without tokens (lms demo)

Prints how many series agree and each indicator's national label."""
import json, urllib.request, sys
base = sys.argv[1]
get = lambda p: json.load(urllib.request.urlopen(base + p))
def fit(pts):
    w = [1 / ((hi - lo) / 3.92) ** 2 for (_, _, lo, hi) in pts]
    sw = sum(w); tb = sum(wi * p[0] for wi, p in zip(w, pts)) / sw; yb = sum(wi * p[1] for wi, p in zip(w, pts)) / sw
    stt = sum(wi * (p[0] - tb) ** 2 for wi, p in zip(w, pts)); sty = sum(wi * (p[0] - tb) * (p[1] - yb) for wi, p in zip(w, pts))
    return sty / stt, (sty / stt) ** 2 * stt
checked = agree = 0; labels = {}
for ind in get('api/v1/indicators'):
    try: trends = get(f"api/v1/trend/{ind['id']}?level=national")
    except urllib.error.HTTPError: continue
    cells = get(f"api/v1/indicators/{ind['id']}?level=national")
    years = sorted({c['year'] for c in cells})[-5:]
    for t in trends:
        pts = []
        for y in years:
            c = [c for c in cells if c['year'] == y and c['breakdown'] == t['breakdown']]
            if c and not c[0]['suppressed'] and c[0]['value'] is not None and c[0]['ci_low'] is not None: pts.append((y, c[0]['value'], c[0]['ci_low'], c[0]['ci_high']))
        if len(pts) < 5 or any(hi - lo <= 0 for (_, _, lo, hi) in pts): mine = 'cannot_be_calculated'
        else:
            b, chi2 = fit(pts)
            loo = [fit(pts[:i] + pts[i + 1:])[0] for i in range(5)]
            mine = ('increasing' if b > 0 else 'decreasing') if chi2 > 9.5495 and all((x > 0) == (b > 0) and x != 0 for x in loo) else 'no_significant_change'
            assert abs(b - t['slope']) <= 1e-9 * max(1, abs(b)) and abs(chi2 - t['chi2']) <= 1e-6 * max(1, chi2), (ind['id'], b, chi2, t)
        checked += 1; agree += mine == t['trend']
        if mine != t['trend']: print('DIFFERS', ind['id'], t['breakdown'], mine, t['trend'])
        if t['breakdown'] == '': labels[ind['id']] = (t['trend'], t['from_year'], t['to_year'], t['slope'])
print(f'{checked} national series recomputed, {agree} agree')
for k, v in labels.items(): print(f'{k}: {v[0]} ({v[1]}–{v[2]}, slope {v[3]:.4g})' if v[3] is not None else f'{k}: {v[0]}')

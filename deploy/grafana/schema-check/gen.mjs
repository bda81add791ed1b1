// Writes generated/<name>.ts for each dashboard given: the dashboard and each of its panels as a
// `const … satisfies` the type @grafana/schema has for it (a core panel's own Options and
// FieldConfig), so `tsc -p .` reports every field of the wrong type, misspelt or misplaced.
// usage: node gen.mjs <dashboard.json>... (PLUGIN_PANELS=a,b allows panel types of plugins)
import fs from 'node:fs';
import path from 'node:path';

const here = path.dirname(new URL(import.meta.url).pathname);
const schema = path.join(here, 'node_modules/@grafana/schema');
const pkg = JSON.parse(fs.readFileSync(path.join(schema, 'package.json')));
const cfg = {}; // panel type -> import path of its generated types
for (const k of Object.keys(pkg.exports)) {
  const m = k.match(/raw\/composable\/([^/]+)\/panelcfg\/x\/(\w+)_types\.gen$/);
  if (m) cfg[m[1]] = '@grafana/schema' + k.slice(1);
}
const hasFieldConfig = (t) => /export interface FieldConfig\b/.test(fs.readFileSync(
  path.join(schema, `dist/types/raw/composable/${t}/panelcfg/x/types.gen.d.ts`), 'utf8'));
const out = path.join(here, 'generated');
fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(out, { recursive: true });
const plugins = (process.env.PLUGIN_PANELS || '').split(',');
for (const f of process.argv.slice(2)) {
  const d = JSON.parse(fs.readFileSync(f, 'utf8'));
  const imports = new Set();
  const lines = [];
  const emitPanel = (p, where) => {
    const t = p.type;
    let ty;
    if (t === 'row') ty = 'RowJson';
    else if (cfg[t]) {
      imports.add(t);
      ty = `PanelJson<P_${t}.Options${hasFieldConfig(t) ? `, P_${t}.FieldConfig` : ''}>`;
    } else {
      ty = 'PanelJson';
      if (!plugins.includes(t)) {
        console.error(`${f}: ${where}: panel type ${JSON.stringify(t)} is not a core panel of @grafana/schema`);
        process.exitCode = 1;
      }
    }
    lines.push(`// ${where} id=${p.id} type=${t} title=${JSON.stringify(p.title)}`);
    lines.push(`export const panel_${lines.length} = ${JSON.stringify(p, null, 2)} as const satisfies ${ty};`);
    if (t === 'row') (p.panels || []).forEach((c, i) => emitPanel(c, `${where}.panels[${i}]`));
  };
  (d.panels || []).forEach((p, i) => emitPanel(p, `panels[${i}]`));
  const { panels, ...rest } = d;
  const head = [
    `import type { DashboardJson, PanelJson, RowJson } from '../types';`,
    ...[...imports].map((t) => `import type * as P_${t} from '${cfg[t]}';`),
    `// dashboard ${f}`,
    `export const dashboard = ${JSON.stringify({ ...rest, panels: [] }, null, 2)} as const satisfies DashboardJson;`,
  ];
  const name = path.basename(f, '.json').replace(/\W/g, '_');
  fs.writeFileSync(path.join(out, `${name}.ts`), [...head, ...lines].join('\n') + '\n');
  console.log(`${f}: ${(d.panels || []).length} panels`);
}

// The dashboards as JSON hold the values of Grafana's types (string enums as their text); options and
// custom field settings are all optional, since Grafana fills their defaults when it loads a panel.
import type { Dashboard, Panel, RowPanel, FieldConfig, FieldConfigSource } from '@grafana/schema';
type Prim = string | number | boolean | null | undefined;
// Strict: keep required/optional as declared, map string enums to literal unions.
export type Strict<T> = T extends string ? `${T}` : T extends Prim ? T
  : T extends readonly (infer U)[] ? Strict<U>[] : T extends object ? { [K in keyof T]: Strict<T[K]> } : T;
// Loose: like Strict but every nested field optional (Grafana fills option defaults at load time).
export type Loose<T> = T extends string ? `${T}` : T extends Prim ? T
  : T extends readonly (infer U)[] ? Loose<U>[] : T extends object ? { [K in keyof T]?: Loose<T[K]> } : T;
export type DashboardJson = Omit<Strict<Dashboard>, 'panels'> & { panels?: unknown[] };
export type RowJson = Omit<Strict<RowPanel>, 'panels'> & { panels: unknown[] };
export type PanelJson<O = Record<string, unknown>, F = Record<string, unknown>> =
  Omit<Strict<Panel>, 'options' | 'fieldConfig'> & {
    options?: Loose<O>;
    fieldConfig?: Omit<Strict<FieldConfigSource>, 'defaults'> & {
      defaults: Omit<Strict<FieldConfig>, 'custom'> & { custom?: Loose<F> };
    };
  };

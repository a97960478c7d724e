// Offline validation of a Grafana dashboard JSON:
//  1. type-check it against @grafana/schema (a generated .ts with `satisfies Dashboard`, tsc --strict),
//  2. parse every query with Grafana's LogQL and Prometheus's PromQL grammars (strict mode),
//  3. structural checks (unique ids, grid bounds, datasource uids, low-cardinality Loki selectors,
//     metric names present in the detector's exposition when --metrics is given).
// Usage: node check-dashboard.mjs DASHBOARD.json [--metrics EXPOSITION.txt] [--emit-promql OUT.json]
import { readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parser as promqlParser } from '@prometheus-io/lezer-promql';
import { parser as logqlParser } from '@grafana/lezer-logql';
import { queriesOf, substitute } from './queries.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const file = args[0];
const opt = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
if (!file) {
  console.error('usage: check-dashboard.mjs DASHBOARD.json [--metrics FILE] [--emit-promql FILE]');
  process.exit(2);
}
const dashboard = JSON.parse(readFileSync(file, 'utf8'));
const problems = [];

// 1. Schema types.
const tsFile = join(here, 'dashboard.check.ts');
writeFileSync(
  tsFile,
  [
    "import type { Dashboard, DataQuery } from '@grafana/schema';",
    '',
    '// JSON holds enum values as plain strings: compare against the string values of string enums.',
    '// Query contents are datasource-specific (DataQuery has no index signature): allow extra keys there.',
    'type Literal<T> = T extends DataQuery',
    '  ? { [K in keyof T]: Literal<T[K]> } & { [key: string]: unknown }',
    '  : T extends string',
    '    ? `${T}`',
    '    : T extends number | boolean | null | undefined',
    '      ? T',
    '      : T extends Array<infer U>',
    '        ? Array<Literal<U>>',
    '        : T extends object',
    '          ? { [K in keyof T]: Literal<T[K]> }',
    '          : T;',
    '',
    `export const dashboard = ${JSON.stringify(dashboard, null, 2)} satisfies Literal<Dashboard>;`,
    '',
  ].join('\n'),
);
const tsc = spawnSync(
  join(here, 'node_modules', '.bin', 'tsc'),
  ['--noEmit', '--strict', '--skipLibCheck', '--target', 'es2022', '--module', 'esnext', '--moduleResolution', 'bundler', tsFile],
  { encoding: 'utf8' },
);
if (tsc.status !== 0) {
  problems.push(`schema: tsc rejected the dashboard:\n${tsc.stdout}${tsc.stderr}`);
}

// 2. Query grammars.
const strictPromql = promqlParser.configure({ strict: true });
const strictLogql = logqlParser.configure({ strict: true });
const queries = queriesOf(dashboard);
const promql = [];
for (const q of queries) {
  const expr = substitute(q.expr);
  if (/\$/.test(expr)) {
    problems.push(`${q.where}: unsubstituted variable left in ${JSON.stringify(expr)}`);
    continue;
  }
  try {
    (q.lang === 'promql' ? strictPromql : strictLogql).parse(expr);
  } catch (e) {
    problems.push(`${q.where}: ${q.lang} does not parse: ${e.message}\n    ${expr}`);
    continue;
  }
  if (q.lang === 'promql') promql.push({ where: q.where, expr });
  if (q.lang === 'logql') {
    for (const sel of expr.matchAll(/\{([^{}]*)\}/g)) {
      const labels = [...sel[1].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!=|!~|=)/g)].map((m) => m[1]);
      const allowed = ['job', 'service', 'level', 'kind', 'severity'];
      const bad = labels.filter((l) => !allowed.includes(l));
      if (labels.length && bad.length) problems.push(`${q.where}: Loki selector uses non-stream labels ${bad.join(', ')}`);
    }
  }
}

// 3. Structure.
const seen = new Set();
const walk = (panels, inRow) => {
  for (const p of panels ?? []) {
    const name = `panel ${p.id} "${p.title}"`;
    if (seen.has(p.id)) problems.push(`${name}: duplicate id`);
    seen.add(p.id);
    const g = p.gridPos ?? {};
    if (!(g.w > 0 && g.h > 0 && g.x >= 0 && g.x + g.w <= 24)) problems.push(`${name}: gridPos out of the 24-column grid`);
    if (p.type !== 'row') {
      const uid = p.datasource?.uid;
      if (!['prometheus', 'loki'].includes(uid)) problems.push(`${name}: datasource uid ${uid} is not provisioned`);
      if (!p.targets?.length) problems.push(`${name}: no queries`);
      const refs = (p.targets ?? []).map((t) => t.refId);
      if (new Set(refs).size !== refs.length) problems.push(`${name}: duplicate refId`);
      if (!p.description) problems.push(`${name}: no description`);
    }
    if (p.panels?.length && inRow) problems.push(`${name}: rows cannot nest`);
    walk(p.panels, true);
  }
};
walk(dashboard.panels, false);

const metricsFile = opt('--metrics');
if (metricsFile) {
  const names = new Set();
  for (const line of readFileSync(metricsFile, 'utf8').split('\n')) {
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/);
    if (m) names.add(m[1]);
    // Families without samples yet still have a TYPE line (OpenMetrics names counters without _total).
    const t = line.match(/^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|unknown)/);
    if (t && t[2] === 'counter') names.add(t[1].endsWith('_total') ? t[1] : `${t[1]}_total`);
    if (t && t[2] === 'gauge') names.add(t[1]);
    if (t && t[2] === 'histogram') ['_bucket', '_sum', '_count'].forEach((s) => names.add(t[1] + s));
  }
  for (const q of promql) {
    for (const m of q.expr.matchAll(/\banomaly_detector_[a-z0-9_]+/g)) {
      if (!names.has(m[0])) problems.push(`${q.where}: metric ${m[0]} is not exported by the detector`);
    }
  }
}

const emit = opt('--emit-promql');
if (emit) writeFileSync(emit, JSON.stringify(promql, null, 2));

if (problems.length) {
  console.error(`${file}: ${problems.length} problem(s)\n- ${problems.join('\n- ')}`);
  process.exit(1);
}
console.log(`${file}: schema ok, ${queries.length} queries parse (${promql.length} PromQL), structure ok`);

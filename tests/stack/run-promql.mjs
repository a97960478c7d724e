// Runs every PromQL query of the dashboard against a live Prometheus.
// Usage: node run-promql.mjs PROMETHEUS_URL QUERIES.json [--require-data] [--optional REGEX] [--deadline-secs N]
// Every query must evaluate without error; with --require-data, each query not matching --optional must
// also return at least one series (retried until the deadline, as rate() needs two scrapes).
import { readFileSync } from 'node:fs';

const [base, file, ...rest] = process.argv.slice(2);
const requireData = rest.includes('--require-data');
const optIdx = rest.indexOf('--optional');
const optional = optIdx >= 0 ? new RegExp(rest[optIdx + 1]) : null;
const dlIdx = rest.indexOf('--deadline-secs');
const deadline = Date.now() + 1000 * (dlIdx >= 0 ? Number(rest[dlIdx + 1]) : 60);
const queries = JSON.parse(readFileSync(file, 'utf8'));

async function run(expr) {
  const res = await fetch(`${base}/api/v1/query?${new URLSearchParams({ query: expr })}`);
  const body = await res.json();
  if (body.status !== 'success') return { error: `${body.errorType}: ${body.error}` };
  const r = body.data.result;
  return { count: Array.isArray(r) ? r.length : 1 };
}

let pending = queries.map((q) => ({ ...q, needData: requireData && !(optional && optional.test(q.expr)) }));
const failures = [];
for (;;) {
  const next = [];
  for (const q of pending) {
    const r = await run(q.expr);
    if (r.error) failures.push(`${q.where}: error ${r.error}\n    ${q.expr}`);
    else if (q.needData && r.count === 0) next.push(q);
    else console.log(`ok   ${String(r.count).padStart(3)} series  ${q.where}`);
  }
  pending = next;
  if (!pending.length || Date.now() > deadline) break;
  await new Promise((ok) => setTimeout(ok, 1000));
}
for (const q of pending) failures.push(`${q.where}: no data\n    ${q.expr}`);
if (failures.length) {
  console.error(`${failures.length} dashboard quer${failures.length === 1 ? 'y' : 'ies'} failed:\n- ${failures.join('\n- ')}`);
  process.exit(1);
}
console.log(`${queries.length} PromQL queries evaluated${requireData ? ', all required ones returned data' : ''}`);

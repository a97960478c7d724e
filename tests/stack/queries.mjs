// Every query of a dashboard (panels, nested rows, annotations, template variables) with its grammar.

const langOf = (ds) => (ds?.uid === 'loki' || ds?.type === 'loki' ? 'logql' : ds?.uid === 'prometheus' || ds?.type === 'prometheus' ? 'promql' : undefined);

export function queriesOf(dashboard) {
  const out = [];
  const walk = (panels) => {
    for (const p of panels ?? []) {
      for (const t of p.targets ?? []) {
        const lang = langOf(t.datasource ?? p.datasource);
        if (lang && t.expr) out.push({ where: `panel ${p.id} "${p.title}" ${t.refId}`, lang, expr: t.expr });
      }
      walk(p.panels);
    }
  };
  walk(dashboard.panels);
  for (const a of dashboard.annotations?.list ?? []) {
    const lang = langOf(a.target?.datasource ?? a.datasource);
    if (lang && a.target?.expr) out.push({ where: `annotation "${a.name}"`, lang, expr: a.target.expr });
  }
  for (const v of dashboard.templating?.list ?? []) {
    const q = typeof v.query === 'string' ? v.query : v.query?.query;
    if (v.type === 'query' && q) {
      // label_values(metric, label) is Grafana syntax, not PromQL: check its metric selector.
      const m = q.match(/^label_values\((.*),\s*[a-zA-Z_][a-zA-Z0-9_]*\)$/);
      out.push({ where: `variable ${v.name}`, lang: langOf(v.datasource), expr: m ? m[1] : q });
    }
  }
  return out;
}

// Grafana's built-in interval variables become durations; user variables (only used inside regex
// matchers) become `.*`, which is what "All" sends.
export function substitute(expr) {
  return expr
    .replace(/\$__rate_interval|\$\{__rate_interval\}/g, '1m')
    .replace(/\$__interval_ms|\$\{__interval_ms\}/g, '15000')
    .replace(/\$__interval|\$\{__interval\}/g, '15s')
    .replace(/\$__range|\$\{__range\}/g, '5m')
    .replace(/\$__auto|\$\{__auto\}/g, '1m')
    .replace(/\$\{[a-zA-Z_][a-zA-Z0-9_]*(?::[a-z]+)?\}|\$[a-zA-Z_][a-zA-Z0-9_]*/g, '.*');
}

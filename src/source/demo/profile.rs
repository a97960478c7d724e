//! The shape of normal traffic: endpoints with their latency, status and size profiles, the client
//! population and its user agents, and the sampling helpers the generator draws from.

use std::collections::HashSet;
use std::fmt::Write as _;

use rand::distributions::{Distribution, WeightedIndex};
use rand::Rng;

/// How the concrete path of a request is built from its endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PathKind {
    /// The template is the path.
    Fixed,
    /// `/api/users` or `/api/users?page=N`.
    Paged,
    /// `/api/products?category=..&page=N` or bare.
    Catalogue,
    /// `{id}` replaced by a number in `1..=max`.
    Id(u32),
    /// `/api/search?q=word+word`.
    Search,
}

/// One endpoint of the simulated API and its normal behaviour.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    /// `GET /api/users/{id}`: method, a space, the path template (what the parser calls an endpoint).
    pub name: &'static str,
    pub method: &'static str,
    pub template: &'static str,
    pub path: PathKind,
    /// Share of the background (Poisson) traffic; 0 for endpoints only monitors call.
    pub weight: f64,
    /// Whether only browsers request it (static assets).
    pub browser_only: bool,
    pub median_ms: f64,
    /// Lognormal sigma of the latency.
    pub sigma: f64,
    /// Success status, then `(status, probability)` of each client error.
    pub ok_status: u16,
    pub errors: &'static [(u16, f64)],
    /// Mean body size of a successful response, bytes.
    pub bytes_mean: f64,
    /// Probability of a `304 Not Modified` (static assets), empty body.
    pub not_modified: f64,
}

#[allow(clippy::too_many_arguments)]
fn ep(
    name: &'static str,
    path: PathKind,
    weight: f64,
    median_ms: f64,
    sigma: f64,
    ok_status: u16,
    errors: &'static [(u16, f64)],
    bytes_mean: f64,
) -> Endpoint {
    let (method, template) = name.split_once(' ').expect("endpoint names are \"METHOD /path\"");
    let browser_only = template.starts_with("/static/");
    Endpoint {
        name,
        method,
        template,
        path,
        weight,
        browser_only,
        median_ms,
        sigma,
        ok_status,
        errors,
        bytes_mean,
        not_modified: if browser_only { 0.35 } else { 0.0 },
    }
}

/// Index of `GET /healthz` in [`endpoints`].
pub(crate) const HEALTHZ: usize = 12;
/// Index of `GET /metrics` in [`endpoints`].
pub(crate) const METRICS: usize = 13;

/// The API's endpoints. Weights add up to about 1 (they are normalised anyway).
pub(crate) fn endpoints() -> Vec<Endpoint> {
    let list = vec![
        ep("GET /api/users", PathKind::Paged, 0.14, 30.0, 0.35, 200, &[], 1800.0),
        ep("GET /api/users/{id}", PathKind::Id(50_000), 0.16, 15.0, 0.35, 200, &[(404, 0.015)], 650.0),
        ep("GET /api/products", PathKind::Catalogue, 0.14, 60.0, 0.4, 200, &[], 5200.0),
        ep("GET /api/products/{id}", PathKind::Id(8_000), 0.15, 25.0, 0.35, 200, &[(404, 0.01)], 1400.0),
        ep(
            "POST /api/orders",
            PathKind::Fixed,
            0.04,
            120.0,
            0.4,
            201,
            &[(400, 0.002), (409, 0.0015), (422, 0.0015)],
            420.0,
        ),
        ep("GET /api/orders/{id}", PathKind::Id(250_000), 0.05, 35.0, 0.35, 200, &[(404, 0.01), (403, 0.005)], 900.0),
        ep("GET /api/search", PathKind::Search, 0.09, 150.0, 0.45, 200, &[(400, 0.002)], 3800.0),
        ep("GET /api/reports/daily", PathKind::Fixed, 0.003, 1500.0, 0.3, 200, &[], 48_000.0),
        ep("POST /api/login", PathKind::Fixed, 0.03, 80.0, 0.3, 200, &[(401, 0.03)], 350.0),
        ep("GET /static/app.js", PathKind::Fixed, 0.10, 5.0, 0.4, 200, &[], 182_000.0),
        ep("GET /api/cart", PathKind::Fixed, 0.05, 22.0, 0.35, 200, &[], 1100.0),
        ep("DELETE /api/cart/items/{id}", PathKind::Id(8_000), 0.01, 20.0, 0.35, 204, &[(404, 0.01)], 0.0),
        ep("GET /healthz", PathKind::Fixed, 0.0, 2.0, 0.3, 200, &[], 15.0),
        ep("GET /metrics", PathKind::Fixed, 0.0, 4.0, 0.3, 200, &[], 12_400.0),
    ];
    debug_assert_eq!(list[HEALTHZ].name, "GET /healthz");
    debug_assert_eq!(list[METRICS].name, "GET /metrics");
    list
}

/// A client of the API.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    pub ip: String,
    pub ua: &'static str,
    pub browser: bool,
}

/// Browser user agents (they also fetch static assets and send a referer).
pub(crate) const BROWSER_UAS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
];

/// API clients that are not browsers, with their share of the non-browser population.
const API_UAS: &[(&str, f64)] = &[
    ("ShopApp/4.2 (iOS 17.1)", 0.45),
    ("ShopApp/4.2 (Android 14)", 0.25),
    ("python-requests/2.31.0", 0.2),
    ("curl/8.4.0", 0.1),
];

/// Liveness/readiness probe user agent (`GET /healthz`).
pub(crate) const PROBE_UA: &str = "kube-probe/1.29";
/// Metrics scraper user agent (`GET /metrics`).
pub(crate) const SCRAPER_UA: &str = "Prometheus/2.45.0";

/// What the site's pages send as referer.
pub(crate) const SITE_REFERER: &str = "https://shop.example.com/";

/// Number of regular clients.
pub(crate) const CLIENTS: usize = 300;
/// Zipf exponent of client activity.
const ZIPF_S: f64 = 0.9;

/// First octets of public-looking IPv4 addresses.
const PUBLIC_FIRST_OCTETS: &[u8] =
    &[23, 31, 45, 51, 66, 73, 77, 81, 89, 98, 104, 109, 142, 151, 176, 185, 188, 203, 212, 217];

/// A random IPv4 address, private or public-looking.
pub(crate) fn random_ipv4(rng: &mut impl Rng, private: bool) -> String {
    if private {
        match rng.gen_range(0..10) {
            0..=6 => format!("10.{}.{}.{}", rng.gen_range(0..=255), rng.gen_range(0..=255), rng.gen_range(2..=254)),
            7..=8 => format!("192.168.{}.{}", rng.gen_range(0..=20), rng.gen_range(2..=254)),
            _ => format!("172.{}.{}.{}", rng.gen_range(16..=31), rng.gen_range(0..=255), rng.gen_range(2..=254)),
        }
    } else {
        let first = PUBLIC_FIRST_OCTETS[rng.gen_range(0..PUBLIC_FIRST_OCTETS.len())];
        format!("{first}.{}.{}.{}", rng.gen_range(0..=255), rng.gen_range(0..=255), rng.gen_range(1..=254))
    }
}

fn random_ipv6(rng: &mut impl Rng) -> String {
    let prefixes = ["2a02:8108", "2001:4860", "2a01:4f8", "2600:1700", "2a00:1450"];
    let prefix = prefixes[rng.gen_range(0..prefixes.len())];
    format!(
        "{prefix}:{:x}:{:x}::{:x}",
        rng.gen_range(0..0xffffu32),
        rng.gen_range(0..0xffffu32),
        rng.gen_range(1..0xffffu32)
    )
}

/// The regular client population, most active first; IPs are unique.
pub(crate) fn clients(rng: &mut impl Rng) -> Vec<Client> {
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(CLIENTS);
    while out.len() < CLIENTS {
        let ip = if out.len() % 60 == 7 {
            random_ipv6(rng)
        } else {
            let private = rng.gen_bool(0.45);
            random_ipv4(rng, private)
        };
        if !seen.insert(ip.clone()) {
            continue;
        }
        let browser = rng.gen_bool(0.6);
        let ua = if browser { BROWSER_UAS[rng.gen_range(0..BROWSER_UAS.len())] } else { pick_weighted(rng, API_UAS) };
        out.push(Client { ip, ua, browser });
    }
    out
}

/// Zipf-like weights of client activity, by rank.
pub(crate) fn client_weights() -> WeightedIndex<f64> {
    WeightedIndex::new((1..=CLIENTS).map(|rank| 1.0 / (rank as f64).powf(ZIPF_S))).expect("positive weights")
}

fn pick_weighted(rng: &mut impl Rng, items: &[(&'static str, f64)]) -> &'static str {
    let total: f64 = items.iter().map(|(_, w)| w).sum();
    let mut x = rng.gen::<f64>() * total;
    for (item, w) in items {
        if x < *w {
            return item;
        }
        x -= w;
    }
    items[items.len() - 1].0
}

/// Words search queries are built from.
const SEARCH_WORDS: &[&str] = &[
    "wireless",
    "headphones",
    "usb-c",
    "charger",
    "laptop",
    "stand",
    "coffee",
    "grinder",
    "running",
    "shoes",
    "desk",
    "lamp",
    "mechanical",
    "keyboard",
    "monitor",
    "27",
    "inch",
    "water",
    "bottle",
    "backpack",
    "yoga",
    "mat",
    "phone",
    "case",
    "bluetooth",
    "speaker",
    "kids",
    "winter",
    "jacket",
    "gift",
    "ideas",
    "organic",
    "tea",
    "camera",
    "tripod",
];
const CATEGORIES: &[&str] = &["electronics", "books", "home", "garden", "sports", "toys", "fashion", "beauty"];

/// Appends the concrete path of a request to `ep` to `out`.
pub(crate) fn write_path(rng: &mut impl Rng, ep: &Endpoint, out: &mut String) {
    match ep.path {
        PathKind::Fixed => out.push_str(ep.template),
        PathKind::Paged => {
            out.push_str(ep.template);
            if rng.gen_bool(0.7) {
                let _ = write!(out, "?page={}", rng.gen_range(1..=12));
            }
        }
        PathKind::Catalogue => {
            out.push_str(ep.template);
            if rng.gen_bool(0.75) {
                let category = CATEGORIES[rng.gen_range(0..CATEGORIES.len())];
                let _ = write!(out, "?category={category}&page={}", rng.gen_range(1..=8));
            }
        }
        PathKind::Id(max) => write_template(ep.template, rng.gen_range(1..=max), out),
        PathKind::Search => {
            out.push_str(ep.template);
            out.push_str("?q=");
            let words = rng.gen_range(1..=3);
            for i in 0..words {
                if i > 0 {
                    out.push('+');
                }
                out.push_str(SEARCH_WORDS[rng.gen_range(0..SEARCH_WORDS.len())]);
            }
            if rng.gen_bool(0.2) {
                let _ = write!(out, "&page={}", rng.gen_range(2..=5));
            }
        }
    }
}

/// Appends `template` with `{id}` replaced by `id`.
pub(crate) fn write_template(template: &str, id: u32, out: &mut String) {
    match template.split_once("{id}") {
        Some((before, after)) => {
            out.push_str(before);
            let _ = write!(out, "{id}");
            out.push_str(after);
        }
        None => out.push_str(template),
    }
}

/// Standard normal draw (Box–Muller).
pub(crate) fn normal(rng: &mut impl Rng) -> f64 {
    let u1 = 1.0 - rng.gen::<f64>(); // (0, 1]
    let u2 = rng.gen::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Lognormal draw with the given median and sigma.
pub(crate) fn lognormal(rng: &mut impl Rng, median: f64, sigma: f64) -> f64 {
    median * (sigma * normal(rng)).exp()
}

/// Exponential gap (seconds) of a Poisson process with `rate` events per second.
pub(crate) fn exp_gap(rng: &mut impl Rng, rate: f64) -> f64 {
    -(1.0 - rng.gen::<f64>()).ln() / rate
}

/// Normal status and body size of one request to `ep` (before any incident).
pub(crate) fn status_and_bytes(rng: &mut impl Rng, ep: &Endpoint) -> (u16, u64) {
    let x = rng.gen::<f64>();
    // The rare background server error, on any endpoint.
    if x < 0.0005 {
        let status = if rng.gen_bool(0.7) { 500 } else { 502 };
        return (status, error_bytes(rng, status));
    }
    let mut acc = 0.0005;
    for &(status, p) in ep.errors {
        acc += p;
        if x < acc {
            return (status, error_bytes(rng, status));
        }
    }
    if ep.not_modified > 0.0 && rng.gen_bool(ep.not_modified) {
        return (304, 0);
    }
    if ep.bytes_mean <= 0.0 {
        return (ep.ok_status, 0);
    }
    (ep.ok_status, lognormal(rng, ep.bytes_mean, 0.2).round() as u64)
}

/// Body size of an error response.
pub(crate) fn error_bytes(rng: &mut impl Rng, status: u16) -> u64 {
    let base = match status {
        401 | 403 => 60.0,
        404 => 150.0,
        400 | 409 | 422 => 110.0,
        502 | 503 => 160.0,
        _ => 90.0,
    };
    lognormal(rng, base, 0.1).round() as u64
}

/// Picks an element index of `weights` (convenience for `WeightedIndex`).
pub(crate) fn pick(rng: &mut impl Rng, weights: &WeightedIndex<f64>) -> usize {
    weights.sample(rng)
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn endpoint_table_is_consistent() {
        let list = endpoints();
        let names: HashSet<_> = list.iter().map(|e| e.name).collect();
        assert_eq!(names.len(), list.len(), "endpoint names are unique");
        for e in &list {
            assert!(e.template.starts_with('/'), "{}", e.name);
            let p_err: f64 = e.errors.iter().map(|(_, p)| p).sum();
            assert!(p_err < 0.05, "{} errors {p_err}", e.name);
            // p99.9 of a lognormal is median * exp(3.09 sigma): keep it within 5x the median.
            assert!((3.09 * e.sigma).exp() <= 5.0, "{} sigma {}", e.name, e.sigma);
        }
    }

    #[test]
    fn clients_are_unique_and_mixed() {
        let mut rng = StdRng::seed_from_u64(7);
        let list = clients(&mut rng);
        assert_eq!(list.len(), CLIENTS);
        let ips: HashSet<_> = list.iter().map(|c| c.ip.as_str()).collect();
        assert_eq!(ips.len(), CLIENTS);
        assert!(list.iter().any(|c| c.ip.contains(':')), "a few IPv6 clients");
        assert!(list.iter().any(|c| c.ip.starts_with("10.")), "private clients");
        assert!(list.iter().any(|c| c.ua.starts_with("ShopApp/4.2")), "mobile app clients");
        assert!(list.iter().filter(|c| c.browser).count() > CLIENTS / 3);
    }

    #[test]
    fn user_agents_and_referer_need_no_escaping() {
        // The line writer writes these verbatim.
        let scanner = crate::source::demo::incidents::SCANNER_UAS.iter();
        let api = API_UAS.iter().map(|(ua, _)| ua);
        let all = BROWSER_UAS.iter().chain(api).chain(scanner).chain([&PROBE_UA, &SCRAPER_UA, &SITE_REFERER]);
        for ua in all {
            assert!(!ua.contains(['"', '\\']) && !ua.chars().any(char::is_control), "{ua}");
        }
    }

    #[test]
    fn paths_follow_templates() {
        let mut rng = StdRng::seed_from_u64(1);
        let list = endpoints();
        let mut out = String::new();
        for e in &list {
            for _ in 0..50 {
                out.clear();
                write_path(&mut rng, e, &mut out);
                assert!(!out.contains("{id}") && !out.contains(' '), "{out}");
                let prefix = e.template.split("{id}").next().unwrap();
                assert!(out.starts_with(prefix), "{out} vs {}", e.template);
            }
        }
    }

    #[test]
    fn lognormal_median_is_close() {
        let mut rng = StdRng::seed_from_u64(3);
        let mut v: Vec<f64> = (0..20_001).map(|_| lognormal(&mut rng, 30.0, 0.4)).collect();
        v.sort_by(f64::total_cmp);
        let median = v[10_000];
        assert!((median - 30.0).abs() < 1.0, "median {median}");
    }
}

//! Every supported access-log format, as each server writes it.
//!
//! 1. One line per format, written from that server's documentation: auto-detection and the
//!    preset both read its method, path, status, latency (in seconds), client and user agent.
//! 2. Generated traffic per format (`FORMATS_LINES` lines, default 20,000, about 0.1 s a format
//!    in the dev build) with 10 requests at 3 s among them: `scan` finds the 10 and flags nothing
//!    else. `scripts/formats_check.sh` prints the README's table (`FORMATS_TABLE=1`);
//!    `FORMATS_ONLY=<name prefix>`, `FORMATS_DEBUG=1` and `FORMATS_DUMP=<file>` help a failing one.

use std::fmt::Write as _;

use anomaly_detector::config::Config;
use anomaly_detector::parse::{FormatChoice, LogEvent, Parser};
use anomaly_detector::scan::{self, ScanOptions, ScanOutput};
use anomaly_detector::source::RawLine;
use jiff::Timestamp;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// What a sample line must yield.
struct Want {
    method: &'static str,
    path: &'static str,
    status: u16,
    secs: f64,
    client: Option<&'static str>,
    agent: Option<&'static str>,
}

fn want(
    method: &'static str,
    path: &'static str,
    status: u16,
    secs: f64,
    client: Option<&'static str>,
    agent: Option<&'static str>,
) -> Want {
    Want { method, path, status, secs, client, agent }
}

fn parse_as(choice: FormatChoice, lines: &[&str]) -> LogEvent {
    let mut cfg = Config::default();
    cfg.parse.format = choice;
    let parser = Parser::new(&cfg.parse);
    let at: Timestamp = "2026-12-02T05:00:00Z".parse().unwrap();
    let mut last = None;
    for (i, l) in lines.iter().enumerate() {
        let e = parser.parse(RawLine::new(at, *l, i as u64 + 1));
        if e.format != anomaly_detector::parse::Format::Directive {
            last = Some(e);
        }
    }
    last.expect("an event")
}

fn check(name: &str, choice: FormatChoice, lines: &[&str], w: &Want) {
    for c in [FormatChoice::Auto, choice] {
        let e = parse_as(c, lines);
        let ctx = format!("{name} ({}): {e:?}", c.name());
        assert_eq!(e.problem, None, "{ctx}");
        assert_eq!(e.method.as_deref(), Some(w.method), "{ctx}");
        assert_eq!(e.path.as_deref(), Some(w.path), "{ctx}");
        assert_eq!(e.status, Some(w.status), "{ctx}");
        let secs = e.response_time_ms.map(|ms| ms / 1000.0);
        assert!(secs.is_some_and(|s| (s - w.secs).abs() < 1e-9), "{ctx}: latency {secs:?} s, want {}", w.secs);
        assert_eq!(e.client.as_deref(), w.client, "{ctx}");
        assert_eq!(e.user_agent.as_deref(), w.agent, "{ctx}");
    }
}

const UA: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0";

#[test]
fn nginx_combined_main_with_request_and_upstream_times() {
    // log_format main '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent
    //   "$http_referer" "$http_user_agent" "$http_x_forwarded_for" $request_time $upstream_response_time';
    let line = r#"203.0.113.7 - - [02/Dec/2026:04:00:00 +0000] "GET /api/items?id=3 HTTP/1.1" 200 612 "https://shop.example/" "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0" "-" 0.123 0.120"#;
    let w = want("GET", "/api/items", 200, 0.123, Some("203.0.113.7"), Some(UA));
    check("nginx", FormatChoice::Nginx, &[line], &w);
}

#[test]
fn nginx_json_escape_json() {
    let line = r#"{"time_local":"02/Dec/2026:04:00:00 +0000","remote_addr":"203.0.113.7","remote_user":"","request":"POST /api/orders HTTP/1.1","status": "201","body_bytes_sent":"88","request_time":"0.250","http_referrer":"","http_user_agent":"curl/8.5.0","upstream_response_time":"0.248"}"#;
    let w = want("POST", "/api/orders", 201, 0.25, Some("203.0.113.7"), Some("curl/8.5.0"));
    check("nginx-json", FormatChoice::NginxJson, &[line], &w);
}

#[test]
fn apache_combined_with_d_t_and_ms_t() {
    let base = r#"198.51.100.4 - frank [02/Dec/2026:04:00:00 -0700] "GET /index.html HTTP/1.1" 200 2326 "http://example.com/start.html" "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0""#;
    let w = |secs| want("GET", "/index.html", 200, secs, Some("198.51.100.4"), Some(UA));
    check("apache %D", FormatChoice::Apache, &[&format!("{base} 42017")], &w(0.042017));
    // %T and %{ms}T are integers too: only the preset can tell them from %D.
    for (choice, tail, secs) in [(FormatChoice::ApacheSecs, "3", 3.0), (FormatChoice::ApacheMs, "42", 0.042)] {
        let e = parse_as(choice, &[&format!("{base} {tail}")]);
        assert_eq!(e.response_time_ms.map(|ms| ms / 1000.0), Some(secs), "{}", choice.name());
    }
    // Apache common: no latency in the format.
    let common = r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326"#;
    assert_eq!(parse_as(FormatChoice::Auto, &[common]).response_time_ms, None);
}

#[test]
fn ingress_nginx() {
    // ingress-nginx's default log-format-upstream.
    let line = r#"192.0.2.10 - - [02/Dec/2026:04:00:00 +0000] "GET /shop/cart HTTP/2.0" 200 1543 "-" "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0" 312 0.004 [default-shop-80] [] 10.244.1.17:8080 1543 0.004 200 6f0c5a4e1d5b2b7d3c9e8f1a2b3c4d5e"#;
    let w = want("GET", "/shop/cart", 200, 0.004, Some("192.0.2.10"), Some(UA));
    check("ingress-nginx", FormatChoice::IngressNginx, &[line], &w);
}

#[test]
fn traefik_json_and_clf() {
    let json = r#"{"ClientAddr":"192.0.2.1:52310","ClientHost":"192.0.2.1","ClientPort":"52310","DownstreamContentSize":517,"DownstreamStatus":404,"Duration":12534000,"OriginDuration":12000000,"OriginStatus":404,"RequestHost":"shop.example","RequestMethod":"GET","RequestPath":"/missing","RequestProtocol":"HTTP/1.1","RouterName":"web@docker","StartUTC":"2026-12-02T04:00:00.123456789Z","level":"info","msg":"","request_User-Agent":"curl/8.5.0","time":"2026-12-02T04:00:00Z"}"#;
    let w = want("GET", "/missing", 404, 0.012534, Some("192.0.2.1"), Some("curl/8.5.0"));
    check("traefik-json", FormatChoice::TraefikJson, &[json], &w);
    let clf = r#"192.0.2.1 - - [02/Dec/2026:04:00:00 +0000] "GET /whoami HTTP/1.1" 200 415 "-" "curl/8.5.0" 3 "web@docker" "http://172.18.0.4:80" 25ms"#;
    let w = want("GET", "/whoami", 200, 0.025, Some("192.0.2.1"), Some("curl/8.5.0"));
    check("traefik-clf", FormatChoice::TraefikClf, &[clf], &w);
}

#[test]
fn caddy_json() {
    let line = r#"{"level":"info","ts":1796184000.5123,"logger":"http.log.access.log0","msg":"handled request","request":{"remote_ip":"192.0.2.3","remote_port":"41342","client_ip":"192.0.2.3","proto":"HTTP/2.0","method":"GET","host":"shop.example","uri":"/api/status","headers":{"Accept":["*/*"],"User-Agent":["curl/7.82.0"]}},"bytes_read":0,"user_id":"","duration":0.000929675,"size":10900,"status":200,"resp_headers":{"Server":["Caddy"]}}"#;
    let w = want("GET", "/api/status", 200, 0.000929675, Some("192.0.2.3"), Some("curl/7.82.0"));
    check("caddy", FormatChoice::Caddy, &[line], &w);
}

#[test]
fn envoy_default() {
    let line = r#"[2026-12-02T04:00:00.310Z] "POST /api/v1/locations HTTP/2" 204 - 154 0 226 100 "10.0.35.28" "nsq2http" "cc21d9b0-cf5c-432b-8c7e-98aeb7988cd2" "locations" "tcp://10.0.2.1:80""#;
    let w = want("POST", "/api/v1/locations", 204, 0.226, Some("10.0.35.28"), Some("nsq2http"));
    check("envoy", FormatChoice::Envoy, &[line], &w);
}

#[test]
fn haproxy_httplog_with_and_without_syslog() {
    let v1 = r#"Dec  2 04:00:00 localhost haproxy[14389]: 10.0.1.2:33317 [02/Dec/2026:04:00:00.655] http-in static/srv1 10/0/30/69/109 200 2750 - - ---- 1/1/1/1/0 0/0 {shop.example} {} "GET /index.html HTTP/1.1""#;
    let v2 = r#"10.0.1.2:33317 [02/Dec/2026:04:00:00.655] http-in~ app/srv1 0/0/1/2999/3001 200 2750 - - ---- 1/1/1/1/0 0/0 "GET /index.html HTTP/1.1""#;
    let rfc5424 = r#"<134>1 2026-12-02T04:00:00.655Z lb1 haproxy 14389 - - 10.0.1.2:33317 [02/Dec/2026:04:00:00.655] http-in app/srv1 0/0/1/40/42 200 2750 - - ---- 1/1/1/1/0 0/0 "GET /index.html HTTP/1.1""#;
    for (line, secs) in [(v1, 0.109), (v2, 3.001), (rfc5424, 0.042)] {
        let w = want("GET", "/index.html", 200, secs, Some("10.0.1.2"), None);
        check("haproxy", FormatChoice::Haproxy, &[line], &w);
    }
}

#[test]
fn aws_alb_and_classic_elb() {
    let alb = r#"https 2026-12-02T04:00:00.186641Z app/my-loadbalancer/50dc6c495c0c9188 192.168.131.39:2817 10.0.0.1:80 0.086 0.048 0.037 200 200 0 57 "GET https://www.example.com:443/api/x HTTP/1.1" "curl/7.46.0" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067 "Root=1-58337281-1d84f3d73c47ec4e58577259" "www.example.com" "arn:aws:acm:us-east-2:123456789012:certificate/12345678-1234-1234-1234-123456789012" 1 2026-12-02T04:00:00.000000Z "authenticate,forward" "-" "-" "10.0.0.1:80" "200" "-" "-""#;
    let w = want("GET", "/api/x", 200, 0.171, Some("192.168.131.39"), Some("curl/7.46.0"));
    check("alb", FormatChoice::Alb, &[alb], &w);
    let elb = r#"2026-12-02T04:00:00.945958Z my-loadbalancer 192.168.131.39:2817 10.0.0.1:80 0.000073 0.001048 0.000057 200 200 0 29 "GET http://www.example.com:80/ HTTP/1.1" "curl/7.38.0" - -"#;
    let w = want("GET", "/", 200, 0.001178, Some("192.168.131.39"), Some("curl/7.38.0"));
    check("elb", FormatChoice::Elb, &[elb], &w);
}

#[test]
fn squid_s3_and_cloud_storage() {
    // Squid's documentation (`logformat squid`); the URL is absolute, its path is used.
    let squid = "1796184000.450    180 192.168.0.224 TCP_MISS/200 411 GET http://www.example.com/api/x - HIER_DIRECT/74.125.39.99 text/html";
    check("squid", FormatChoice::Squid, &[squid], &want("GET", "/api/x", 200, 0.180, Some("192.168.0.224"), None));
    // Amazon S3 server access log, the entry in AWS's "Amazon S3 server access log format" page.
    let s3 = r#"79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be DOC-EXAMPLE-BUCKET1 [02/Dec/2026:04:00:38 +0000] 192.0.2.3 79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be 3E57427F3EXAMPLE REST.GET.VERSIONING - "GET /DOC-EXAMPLE-BUCKET1?versioning HTTP/1.1" 200 - 113 - 7 - "-" "S3Console/0.4" - s9lzHYrFp76ZVxRcpX9+5cjAnEH2ROuNkd2BHfIa6UkFVdtjf5mKR3/eTPFvsiP/XV/VLi31234= SigV4 ECDHE-RSA-AES128-GCM-SHA256 AuthHeader DOC-EXAMPLE-BUCKET1.s3.us-west-1.amazonaws.com TLSV1.2 - -"#;
    check(
        "s3",
        FormatChoice::S3,
        &[s3],
        &want("GET", "/DOC-EXAMPLE-BUCKET1", 200, 0.007, Some("192.0.2.3"), Some("S3Console/0.4")),
    );
    // Google Cloud Storage usage log: the header row Google documents, then a row.
    let gcs = [
        r#""time_micros","c_ip","c_ip_type","c_ip_region","cs_method","cs_uri","sc_status","cs_bytes","sc_bytes","time_taken_micros","cs_host","cs_referer","cs_user_agent","s_request_id","cs_operation","cs_bucket","cs_object""#,
        r#""1796184000208148","192.0.2.1","1","","GET","/example-bucket/photo.jpg","200","0","23456","76000","storage.googleapis.com","","curl/8.5","AFi2b9","GET_Object","example-bucket","photo.jpg""#,
    ];
    check(
        "cloud-storage",
        FormatChoice::CloudStorage,
        &gcs,
        &want("GET", "/example-bucket/photo.jpg", 200, 0.076, Some("192.0.2.1"), Some("curl/8.5")),
    );
}

#[test]
fn cloudfront_and_iis_with_fields_headers() {
    let cf = [
        "#Version: 1.0",
        "#Fields: date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status cs(Referer) cs(User-Agent) cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id x-host-header cs-protocol cs-bytes time-taken x-forwarded-for ssl-protocol ssl-cipher x-edge-response-result-type cs-protocol-version fle-status fle-encrypted-fields c-port time-to-first-byte x-edge-detailed-result-type sc-content-type sc-content-len sc-range-start sc-range-end",
        "2026-12-02\t04:00:00\tLAX1\t392\t192.0.2.100\tGET\td111111abcdef8.cloudfront.net\t/index.html\t200\t-\tMozilla/5.0%20(X11;%20Linux%20x86_64)\t-\t-\tHit\tSOX4xwn4XV6Q4rgb7XiVGOHms_BGlTAC4KyHmureZmBNrjGdRLiNIQ==\td111111abcdef8.cloudfront.net\thttps\t23\t0.001\t-\tTLSv1.2\tECDHE-RSA-AES128-GCM-SHA256\tHit\tHTTP/2.0\t-\t-\t11040\t0.001\tHit\ttext/html\t78\t-\t-",
    ];
    let w = want("GET", "/index.html", 200, 0.001, Some("192.0.2.100"), Some("Mozilla/5.0 (X11; Linux x86_64)"));
    check("cloudfront", FormatChoice::Cloudfront, &cf, &w);
    let iis = [
        "#Software: Microsoft Internet Information Services 10.0",
        "#Version: 1.0",
        "#Date: 2026-12-02 04:00:00",
        "#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken",
        "2026-12-02 04:00:00 10.0.0.4 GET /default.aspx id=7 443 - 203.0.113.9 Mozilla/5.0+(Windows+NT+10.0;+Win64;+x64) - 200 0 0 46",
    ];
    let w = want(
        "GET",
        "/default.aspx",
        200,
        0.046,
        Some("203.0.113.9"),
        Some("Mozilla/5.0 (Windows NT 10.0; Win64; x64)"),
    );
    check("iis", FormatChoice::Iis, &iis, &w);
}

#[test]
fn go_logfmt_durations_with_units() {
    for (d, secs) in [("12.3ms", 0.0123), ("1.2s", 1.2), ("850µs", 0.00085), ("850us", 0.00085), ("1m2s", 62.0)] {
        let line = format!(
            r#"time=2026-12-02T04:00:00.000Z level=INFO msg="request" method=GET path=/api/x status=200 duration={d} remote_addr=192.0.2.5 user_agent="Go-http-client/1.1""#
        );
        let w = want("GET", "/api/x", 200, secs, Some("192.0.2.5"), Some("Go-http-client/1.1"));
        check("logfmt", FormatChoice::Logfmt, &[&line], &w);
    }
}

#[test]
fn gunicorn_and_werkzeug() {
    // gunicorn's default access_log_format plus %(D)s.
    let g = r#"192.0.2.8 - - [02/Dec/2026:04:00:00 +0000] "GET /healthz HTTP/1.1" 200 2 "-" "kube-probe/1.29" 1234"#;
    let w = want("GET", "/healthz", 200, 0.001234, Some("192.0.2.8"), Some("kube-probe/1.29"));
    check("gunicorn", FormatChoice::Gunicorn, &[g], &w);
    // werkzeug has no latency and no user agent.
    let w = r#"127.0.0.1 - - [02/Dec/2026 04:00:00] "GET /hello?x=1 HTTP/1.1" 200 -"#;
    for c in [FormatChoice::Auto, FormatChoice::Werkzeug] {
        let e = parse_as(c, &[w]);
        assert_eq!((e.method.as_deref(), e.path.as_deref(), e.status), (Some("GET"), Some("/hello"), Some(200)));
        assert_eq!(e.time, "2026-12-02T04:00:00Z".parse::<Timestamp>().unwrap());
        assert_eq!(e.response_time_ms, None);
    }
}

#[test]
fn container_wrappers_cri_and_docker() {
    let inner = r#"203.0.113.7 - - [02/Dec/2026:04:00:00 +0000] "GET /api/items HTTP/1.1" 200 612 "-" "curl/8.5.0" "-" 0.123 0.120"#;
    let w = want("GET", "/api/items", 200, 0.123, Some("203.0.113.7"), Some("curl/8.5.0"));
    let cri = format!("2026-12-02T04:00:00.123456789Z stdout F {inner}");
    check("cri", FormatChoice::Nginx, &[&cri], &w);
    // A partial line is held and joined with the rest.
    let (a, b) = inner.split_at(40);
    let p1 = format!("2026-12-02T04:00:00.1Z stdout P {a}");
    let p2 = format!("2026-12-02T04:00:00.1Z stdout F {b}");
    check("cri partial", FormatChoice::Nginx, &[&p1, &p2], &w);
    let docker =
        format!(r#"{{"log":"{}\n","stream":"stdout","time":"2026-12-02T04:00:00.5Z"}}"#, inner.replace('"', "\\\""));
    check("docker", FormatChoice::Nginx, &[&docker], &w);
}

// ---- generated traffic: 10 slow requests among many -------------------------------------------

/// One generated request.
struct Req {
    at: Timestamp,
    client: String,
    method: &'static str,
    path: String,
    status: u16,
    secs: f64,
    bytes: u64,
    agent: &'static str,
}

const AGENTS: [&str; 3] = [
    UA,
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
];

/// Ordinary traffic: a few endpoints, each with its own latency around a typical value.
fn traffic(n: usize, slow_at: &[usize], seed: u64) -> Vec<Req> {
    let mut rng = StdRng::seed_from_u64(seed);
    let start: Timestamp = "2026-11-30T10:00:00Z".parse().unwrap();
    (0..n)
        .map(|i| {
            let at = start + jiff::SignedDuration::from_millis(i as i64 * 50);
            let pick = rng.gen_range(0..100);
            let (method, path, typical, bytes) = match pick {
                0..=39 => ("GET", format!("/api/products/{}", rng.gen_range(1..500)), 0.040, 1800),
                40..=69 => ("GET", "/api/users".to_string(), 0.020, 900),
                70..=84 => ("POST", "/api/orders".to_string(), 0.080, 120),
                _ => ("GET", "/static/app.js".to_string(), 0.003, 48_000),
            };
            let jitter: f64 = rng.gen_range(0.8..1.25);
            let slow = slow_at.contains(&i);
            let (method, path, typical, bytes) =
                if slow { ("GET", "/api/products/7".to_string(), 3.0, 1800) } else { (method, path, typical, bytes) };
            Req {
                at,
                client: format!("10.{}.{}.{}", rng.gen_range(0..4), rng.gen_range(0..20), rng.gen_range(1..250)),
                method,
                path,
                status: if method == "POST" { 201 } else { 200 },
                secs: if slow { typical + (jitter - 1.0) / 10.0 } else { typical * jitter },
                bytes: bytes + rng.gen_range(0..64),
                agent: AGENTS[rng.gen_range(0..AGENTS.len())],
            }
        })
        .collect()
}

fn clf(t: Timestamp) -> String {
    t.strftime("%d/%b/%Y:%H:%M:%S +0000").to_string()
}

fn iso(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// The lines a server writes for `r` (more than one where a format has headers or parts).
type Writer = fn(&Req, usize) -> Vec<String>;

fn combined(r: &Req) -> String {
    format!(
        r#"{} - - [{}] "{} {} HTTP/1.1" {} {} "https://shop.example/" "{}""#,
        r.client,
        clf(r.at),
        r.method,
        r.path,
        r.status,
        r.bytes,
        r.agent
    )
}

fn nginx(r: &Req, _: usize) -> Vec<String> {
    vec![format!(r#"{} "-" {:.3} {:.3}"#, combined(r), r.secs, r.secs * 0.97)]
}

fn nginx_json(r: &Req, _: usize) -> Vec<String> {
    vec![format!(
        r#"{{"time_local":"{}","remote_addr":"{}","request":"{} {} HTTP/1.1","status": "{}","body_bytes_sent":"{}","request_time":"{:.3}","http_referrer":"","http_user_agent":"{}"}}"#,
        clf(r.at),
        r.client,
        r.method,
        r.path,
        r.status,
        r.bytes,
        r.secs,
        r.agent
    )]
}

fn apache_d(r: &Req, _: usize) -> Vec<String> {
    vec![format!("{} {}", combined(r), (r.secs * 1e6) as u64)]
}

fn apache_ms(r: &Req, _: usize) -> Vec<String> {
    vec![format!("{} {}", combined(r), (r.secs * 1e3).round() as u64)]
}

fn ingress(r: &Req, i: usize) -> Vec<String> {
    vec![format!(
        "{} {} {:.3} [default-shop-80] [] 10.244.1.17:8080 {} {:.3} {} {:032x}",
        combined(r),
        300 + i % 200,
        r.secs,
        r.bytes,
        r.secs,
        r.status,
        i
    )]
}

fn traefik_json(r: &Req, _: usize) -> Vec<String> {
    vec![format!(
        r#"{{"ClientAddr":"{c}:40000","ClientHost":"{c}","DownstreamContentSize":{},"DownstreamStatus":{},"Duration":{},"OriginStatus":{},"RequestMethod":"{}","RequestPath":"{}","RequestProtocol":"HTTP/1.1","RouterName":"web@docker","StartUTC":"{}","level":"info","msg":"","request_User-Agent":"{}","time":"{}"}}"#,
        r.bytes,
        r.status,
        (r.secs * 1e9) as u64,
        r.status,
        r.method,
        r.path,
        iso(r.at),
        r.agent,
        iso(r.at),
        c = r.client
    )]
}

fn traefik_clf(r: &Req, i: usize) -> Vec<String> {
    vec![format!(
        r#"{} {} "web@docker" "http://172.18.0.4:80" {}ms"#,
        combined(r),
        i + 1,
        (r.secs * 1e3).round() as u64
    )]
}

fn caddy(r: &Req, _: usize) -> Vec<String> {
    vec![format!(
        r#"{{"level":"info","ts":{:.4},"logger":"http.log.access","msg":"handled request","request":{{"remote_ip":"{c}","client_ip":"{c}","proto":"HTTP/2.0","method":"{}","host":"shop.example","uri":"{}","headers":{{"User-Agent":["{}"]}}}},"bytes_read":0,"duration":{:.6},"size":{},"status":{}}}"#,
        r.at.as_millisecond() as f64 / 1000.0,
        r.method,
        r.path,
        r.agent,
        r.secs,
        r.bytes,
        r.status,
        c = r.client
    )]
}

fn envoy(r: &Req, i: usize) -> Vec<String> {
    let ms = (r.secs * 1e3).round() as u64;
    vec![format!(
        r#"[{}] "{} {} HTTP/1.1" {} - 0 {} {} {} "{}" "{}" "{:08x}-0000-4000-8000-000000000000" "shop" "10.2.0.7:80""#,
        r.at.strftime("%Y-%m-%dT%H:%M:%S%.3fZ"),
        r.method,
        r.path,
        r.status,
        r.bytes,
        ms,
        ms.saturating_sub(1),
        r.client,
        r.agent,
        i
    )]
}

fn haproxy(r: &Req, i: usize) -> Vec<String> {
    let ms = (r.secs * 1e3).round() as u64;
    vec![format!(
        r#"{} lb1 haproxy[812]: {}:{} [{}] web~ app/srv{} 0/0/1/{}/{} {} {} - - ---- 3/3/0/0/0 0/0 "{} {} HTTP/1.1""#,
        r.at.strftime("%b %e %H:%M:%S"),
        r.client,
        30000 + i % 30000,
        r.at.strftime("%d/%b/%Y:%H:%M:%S%.3f"),
        i % 3,
        ms.saturating_sub(1),
        ms,
        r.status,
        r.bytes,
        r.method,
        r.path
    )]
}

/// The fields ALB and Classic ELB share: time, name, client, target, three processing times,
/// both statuses, sizes, the request with its absolute URL, the user agent.
fn load_balancer(r: &Req, name: &str, origin: &str) -> String {
    format!(
        r#"{} {name} {}:40312 10.2.0.7:80 0.000041 {:.6} 0.000032 {} {} 120 {} "{} {origin}{} HTTP/1.1" "{}""#,
        iso(r.at),
        r.client,
        r.secs,
        r.status,
        r.status,
        r.bytes,
        r.method,
        r.path,
        r.agent
    )
}

fn alb(r: &Req, _: usize) -> Vec<String> {
    vec![format!(
        r#"https {} ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/shop/73e2d6bc24d8a067 "Root=1-58337262-36d228ad5d99923122bbe354" "shop.example" "-" 0 {} "forward" "-" "-" "10.2.0.7:80" "{}" "-" "-""#,
        load_balancer(r, "app/shop/50dc6c495c0c9188", "https://shop.example:443"),
        iso(r.at),
        r.status
    )]
}

fn elb(r: &Req, _: usize) -> Vec<String> {
    vec![format!("{} - -", load_balancer(r, "shop", "http://shop.example:80"))]
}

fn squid(r: &Req, _: usize) -> Vec<String> {
    vec![format!(
        "{:.3} {:>6} {} TCP_MISS/{} {} {} http://shop.example{} - HIER_DIRECT/10.2.0.7 application/json",
        r.at.as_millisecond() as f64 / 1000.0,
        (r.secs * 1000.0).round() as u64,
        r.client,
        r.status,
        r.bytes,
        r.method,
        r.path
    )]
}

fn s3(r: &Req, i: usize) -> Vec<String> {
    vec![format!(
        r#"79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be shop-assets [{}] {} - 3E57427F3EX{i:05} REST.{}.OBJECT {} "{} /shop-assets{} HTTP/1.1" {} - {} {} {} {} "-" "{}" - -"#,
        clf(r.at),
        r.client,
        r.method,
        r.path.trim_start_matches('/'),
        r.method,
        r.path,
        r.status,
        r.bytes,
        r.bytes,
        (r.secs * 1000.0).round() as u64,
        (r.secs * 900.0).round() as u64,
        r.agent
    )]
}

fn cloud_storage(r: &Req, i: usize) -> Vec<String> {
    let header = [
        r#""time_micros","c_ip","c_ip_type","c_ip_region","cs_method","cs_uri","sc_status","cs_bytes","sc_bytes","time_taken_micros","cs_host","cs_referer","cs_user_agent","s_request_id","cs_operation","cs_bucket","cs_object""#,
    ];
    let line = format!(
        r#""{}","{}","1","","{}","/shop-assets{}","{}","0","{}","{}","storage.googleapis.com","","{}","AFi2b{i}","GET_Object","shop-assets","{}""#,
        r.at.as_microsecond(),
        r.client,
        r.method,
        r.path,
        r.status,
        r.bytes,
        (r.secs * 1e6).round() as u64,
        r.agent,
        r.path.trim_start_matches('/')
    );
    with_header(i, &header, line)
}

fn with_header(i: usize, header: &[&str], line: String) -> Vec<String> {
    let mut out: Vec<String> = if i == 0 { header.iter().map(|h| h.to_string()).collect() } else { Vec::new() };
    out.push(line);
    out
}

fn cloudfront(r: &Req, i: usize) -> Vec<String> {
    let (path, query) = r.path.split_once('?').unwrap_or((&r.path, "-"));
    let line = format!(
        "{}\t{}\tLAX1\t{}\t{}\t{}\td1.cloudfront.net\t{}\t{}\t-\t{}\t{}\t-\tMiss\tid{i}\tshop.example\thttps\t120\t{:.3}\t-\tTLSv1.3\tTLS_AES_128_GCM_SHA256\tMiss\tHTTP/2.0\t-\t-",
        r.at.strftime("%Y-%m-%d"),
        r.at.strftime("%H:%M:%S"),
        r.bytes,
        r.client,
        r.method,
        path,
        r.status,
        r.agent.replace(' ', "%20"),
        query,
        r.secs
    );
    with_header(
        i,
        &["#Version: 1.0", "#Fields: date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status cs(Referer) cs(User-Agent) cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id x-host-header cs-protocol cs-bytes time-taken x-forwarded-for ssl-protocol ssl-cipher x-edge-response-result-type cs-protocol-version fle-status fle-encrypted-fields"],
        line,
    )
}

fn iis(r: &Req, i: usize) -> Vec<String> {
    let line = format!(
        "{} 10.0.0.4 {} {} - 443 - {} {} - {} 0 0 {}",
        r.at.strftime("%Y-%m-%d %H:%M:%S"),
        r.method,
        r.path,
        r.client,
        r.agent.replace(' ', "+"),
        r.status,
        (r.secs * 1e3).round() as u64
    );
    with_header(
        i,
        &["#Software: Microsoft Internet Information Services 10.0", "#Version: 1.0", "#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken"],
        line,
    )
}

fn go_logfmt(r: &Req, _: usize) -> Vec<String> {
    let d = if r.secs >= 1.0 { format!("{:.3}s", r.secs) } else { format!("{:.1}ms", r.secs * 1e3) };
    vec![format!(
        r#"time={} level=INFO msg="request" method={} path={} status={} duration={} bytes={} remote_addr={} user_agent="{}""#,
        r.at.strftime("%Y-%m-%dT%H:%M:%S%.3fZ"),
        r.method,
        r.path,
        r.status,
        d,
        r.bytes,
        r.client,
        r.agent
    )]
}

fn gunicorn(r: &Req, _: usize) -> Vec<String> {
    apache_d(r, 0)
}

fn werkzeug(r: &Req, _: usize) -> Vec<String> {
    vec![format!(
        r#"{} - - [{}] "{} {} HTTP/1.1" {} -"#,
        r.client,
        r.at.strftime("%d/%b/%Y %H:%M:%S"),
        r.method,
        r.path,
        r.status
    )]
}

fn cri_nginx(r: &Req, i: usize) -> Vec<String> {
    let inner = nginx(r, i).remove(0);
    let t = iso(r.at);
    if i % 7 == 0 {
        let (a, b) = inner.split_at(30);
        vec![format!("{t} stdout P {a}"), format!("{t} stdout F {b}")]
    } else {
        vec![format!("{t} stdout F {inner}")]
    }
}

fn docker_json(r: &Req, i: usize) -> Vec<String> {
    let inner = nginx_json(r, i).remove(0);
    vec![format!(r#"{{"log":"{}\n","stream":"stdout","time":"{}"}}"#, inner.replace('"', "\\\""), iso(r.at))]
}

/// Every generated format: name, writer, whether the format carries a latency.
const GENERATED: &[(&str, Writer, bool)] = &[
    ("nginx", nginx, true),
    ("nginx-json", nginx_json, true),
    ("apache (%D)", apache_d, true),
    ("apache (%{ms}T)", apache_ms, true),
    ("ingress-nginx", ingress, true),
    ("traefik-json", traefik_json, true),
    ("traefik-clf", traefik_clf, true),
    ("caddy", caddy, true),
    ("envoy", envoy, true),
    ("haproxy (syslog)", haproxy, true),
    ("alb", alb, true),
    ("elb", elb, true),
    ("cloudfront", cloudfront, true),
    ("iis", iis, true),
    ("squid", squid, true),
    ("s3", s3, true),
    ("cloud-storage", cloud_storage, true),
    ("go logfmt", go_logfmt, true),
    ("gunicorn (%(D)s)", gunicorn, true),
    ("werkzeug", werkzeug, false),
    ("cri + nginx", cri_nginx, true),
    ("docker + nginx-json", docker_json, true),
];

/// Result of one generated format.
struct Outcome {
    lines: usize,
    with_latency: u64,
    slow_found: usize,
    false_alarms: usize,
    summary: String,
}

fn run_generated(writer: Writer, n: usize) -> Outcome {
    let slow_at: Vec<usize> = (0..10).map(|k| n / 5 + k * (n * 3 / 4) / 10).collect();
    let reqs = traffic(n, &slow_at, 7);
    let mut text = String::new();
    let mut slow_lines = Vec::new();
    let mut lines = 0;
    for (i, r) in reqs.iter().enumerate() {
        for l in writer(r, i) {
            lines += 1;
            writeln!(text, "{l}").unwrap();
        }
        if slow_at.contains(&i) {
            slow_lines.push(lines as u64);
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.log");
    if let Some(dump) = std::env::var_os("FORMATS_DUMP") {
        std::fs::write(dump, &text).unwrap();
    }
    std::fs::write(&path, text).unwrap();
    let opts =
        ScanOptions { inputs: vec![path], train: None, output: ScanOutput::Jsonl, progress: false, redact: false };
    let mut out = Vec::new();
    let summary = scan::run(&Config::default(), &opts, &mut out).unwrap();
    let flagged: Vec<u64> = String::from_utf8(out)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["line"].as_u64())
        .collect();
    let slow_found = slow_lines.iter().filter(|l| flagged.contains(l)).count();
    if std::env::var_os("FORMATS_DEBUG").is_some() {
        eprintln!("slow at lines {slow_lines:?}, flagged {flagged:?}");
    }
    let false_alarms = flagged.iter().filter(|l| !slow_lines.contains(l)).count();
    let with_latency = summary
        .formats
        .iter()
        .filter_map(|s| s.split("latency: ").nth(1).map(|rest| rest.starts_with("all") as u64))
        .sum();
    Outcome { lines, with_latency, slow_found, false_alarms, summary: summary.formats.join("\n") }
}

#[test]
fn ten_slow_requests_are_found_in_every_format_and_nothing_else() {
    let n: usize = std::env::var("FORMATS_LINES").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000);
    let mut table =
        String::from("| format | lines | latency parsed | slow found | false alarms |\n|---|---:|---|---:|---:|\n");
    let mut failures = Vec::new();
    let only = std::env::var("FORMATS_ONLY").ok();
    for &(name, writer, has_latency) in GENERATED {
        if only.as_deref().is_some_and(|o| !name.starts_with(o)) {
            continue;
        }
        let o = run_generated(writer, n);
        let latency = if o.with_latency > 0 { "yes, every line" } else { "none in the format" };
        let found = if has_latency { format!("{}/10", o.slow_found) } else { "–".to_string() };
        writeln!(table, "| {name} | {} | {latency} | {found} | {} |", o.lines, o.false_alarms).unwrap();
        let ok =
            if has_latency { o.with_latency > 0 && o.slow_found == 10 } else { o.summary.contains("latency: none") };
        if !ok || o.false_alarms > 0 {
            failures
                .push(format!("{name}: {} slow found, {} false alarms\n{}", o.slow_found, o.false_alarms, o.summary));
        }
    }
    if std::env::var_os("FORMATS_TABLE").is_some() {
        println!("{table}");
    }
    assert!(failures.is_empty(), "{}\n{table}", failures.join("\n"));
}

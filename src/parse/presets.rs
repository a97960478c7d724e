//! Named formats for `parse.format` / `scan --format`: `auto` (detected per line), the generic
//! syntaxes (`json`, `logfmt`, `access`, `text`) and one preset per server. A preset forces the
//! reader of that server's layout (and the unit of an ambiguous bare request time); a line that
//! does not match it is kept as text with a problem counted. Container wrappers (CRI, Docker
//! json-file) are removed whatever the choice.

use super::access::IntUnit;

/// Which format to parse lines as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FormatChoice {
    #[default]
    Auto,
    Json,
    Logfmt,
    Access,
    Text,
    Nginx,
    NginxJson,
    IngressNginx,
    Apache,
    ApacheSecs,
    ApacheMs,
    Gunicorn,
    Werkzeug,
    TraefikJson,
    TraefikClf,
    Caddy,
    Envoy,
    Haproxy,
    Alb,
    Elb,
    Cloudfront,
    #[serde(alias = "w3c")]
    Iis,
    Squid,
    S3,
    CloudStorage,
}

/// How a choice reads a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reader {
    Auto,
    Json,
    Logfmt,
    Access(IntUnit),
    Envoy,
    Haproxy,
    Alb,
    Elb,
    Squid,
    S3,
    CloudStorage,
    /// W3C extended; `true`: CloudFront's default columns when no `#Fields:` was seen.
    W3c {
        cloudfront: bool,
    },
    Text,
}

/// One documented preset: its name, what it reads, a sample line.
pub struct Preset {
    pub choice: FormatChoice,
    pub name: &'static str,
    pub reads: &'static str,
    pub sample: &'static str,
}

/// Every choice, documented (the README's table is written from this).
pub const PRESETS: &[Preset] = &[
    Preset { choice: FormatChoice::Auto, name: "auto", reads: "detected per line (the default)", sample: "" },
    Preset { choice: FormatChoice::Json, name: "json", reads: "JSON objects, fields found through aliases", sample: r#"{"ts":"2026-12-02T04:00:00Z","method":"GET","path":"/a","status":200,"duration_ms":12}"# },
    Preset { choice: FormatChoice::Logfmt, name: "logfmt", reads: "key=value (Go slog, logrus, Heroku); durations with units", sample: r#"time=2026-12-02T04:00:00Z level=INFO msg=done method=GET path=/a status=200 duration=12.3ms"# },
    Preset { choice: FormatChoice::Access, name: "access", reads: "Common/Combined with any trailing request time", sample: r#"10.0.0.1 - - [02/Dec/2026:04:00:00 +0000] "GET /a HTTP/1.1" 200 512 "-" "curl/8.5""# },
    Preset { choice: FormatChoice::Text, name: "text", reads: "plain text (levels, timestamps, messages)", sample: "2026-12-02 04:00:00,123 ERROR worker died" },
    Preset { choice: FormatChoice::Nginx, name: "nginx", reads: "nginx combined/main + `$request_time` (s) `$upstream_response_time`", sample: r#"10.0.0.1 - - [02/Dec/2026:04:00:00 +0000] "GET /a HTTP/1.1" 200 512 "-" "curl/8.5" "-" 0.042 0.040"# },
    Preset { choice: FormatChoice::NginxJson, name: "nginx-json", reads: "nginx `log_format … escape=json`", sample: r#"{"time_local":"02/Dec/2026:04:00:00 +0000","remote_addr":"10.0.0.1","request":"GET /a HTTP/1.1","status":"200","body_bytes_sent":"512","request_time":"0.042","http_user_agent":"curl/8.5"}"# },
    Preset { choice: FormatChoice::IngressNginx, name: "ingress-nginx", reads: "Kubernetes ingress-nginx default (`$request_length $request_time [upstream] …`)", sample: r#"10.0.0.1 - - [02/Dec/2026:04:00:00 +0000] "GET /a HTTP/1.1" 200 512 "-" "curl/8.5" 431 0.042 [default-web-80] [] 10.2.0.7:8080 512 0.040 200 8f3c2a"# },
    Preset { choice: FormatChoice::Apache, name: "apache", reads: "Apache common/combined; a lone trailing integer is `%D` (µs)", sample: r#"10.0.0.1 - - [02/Dec/2026:04:00:00 +0000] "GET /a HTTP/1.1" 200 512 "-" "curl/8.5" 42000"# },
    Preset { choice: FormatChoice::ApacheSecs, name: "apache-secs", reads: "Apache combined + `%T` (integer seconds)", sample: r#"10.0.0.1 - - [02/Dec/2026:04:00:00 +0000] "GET /a HTTP/1.1" 200 512 "-" "curl/8.5" 3"# },
    Preset { choice: FormatChoice::ApacheMs, name: "apache-ms", reads: "Apache combined + `%{ms}T` (integer milliseconds)", sample: r#"10.0.0.1 - - [02/Dec/2026:04:00:00 +0000] "GET /a HTTP/1.1" 200 512 "-" "curl/8.5" 42"# },
    Preset { choice: FormatChoice::Gunicorn, name: "gunicorn", reads: "gunicorn access log (combined; `%(D)s` µs or `%(L)s` s appended)", sample: r#"10.0.0.1 - - [02/Dec/2026:04:00:00 +0000] "GET /a HTTP/1.1" 200 512 "-" "curl/8.5" 42000"# },
    Preset { choice: FormatChoice::Werkzeug, name: "werkzeug", reads: "werkzeug / Flask dev server (no latency in this format)", sample: r#"127.0.0.1 - - [02/Dec/2026 04:00:00] "GET /a HTTP/1.1" 200 -"# },
    Preset { choice: FormatChoice::TraefikJson, name: "traefik-json", reads: "Traefik JSON access log (`Duration` ns, `DownstreamStatus`, `request_User-Agent`)", sample: r#"{"ClientHost":"10.0.0.1","Duration":42000000,"DownstreamStatus":200,"RequestMethod":"GET","RequestPath":"/a","StartUTC":"2026-12-02T04:00:00Z","request_User-Agent":"curl/8.5"}"# },
    Preset { choice: FormatChoice::TraefikClf, name: "traefik-clf", reads: "Traefik CLF: combined + `count \"router\" \"url\" 42ms`", sample: r#"10.0.0.1 - - [02/Dec/2026:04:00:00 +0000] "GET /a HTTP/1.1" 200 512 "-" "curl/8.5" 7 "web@docker" "http://10.2.0.7:80" 42ms"# },
    Preset { choice: FormatChoice::Caddy, name: "caddy", reads: "Caddy JSON access log (`duration` s, nested `request`, its `headers` `User-Agent`)", sample: r#"{"level":"info","ts":1796184000.5,"logger":"http.log.access","msg":"handled request","request":{"client_ip":"10.0.0.1","method":"GET","uri":"/a"},"duration":0.042,"size":512,"status":200}"# },
    Preset { choice: FormatChoice::Envoy, name: "envoy", reads: "Envoy default access log (`%DURATION%` ms)", sample: r#"[2026-12-02T04:00:00.000Z] "GET /a HTTP/1.1" 200 - 0 512 42 40 "10.0.0.1" "curl/8.5" "8f3c2a" "shop" "10.2.0.7:80""# },
    Preset { choice: FormatChoice::Haproxy, name: "haproxy", reads: "HAProxy `httplog`, 1.x `Tq/Tw/Tc/Tr/Tt` or 2.x `TR/Tw/Tc/Tr/Ta` (last timer, ms), syslog prefix or not", sample: r#"Dec  2 04:00:00 lb1 haproxy[812]: 10.0.0.1:40312 [02/Dec/2026:04:00:00.123] web~ app/srv1 0/0/1/40/42 200 512 - - ---- 1/1/0/0/0 0/0 "GET /a HTTP/1.1""# },
    Preset { choice: FormatChoice::Alb, name: "alb", reads: "AWS Application Load Balancer (sum of the three processing times)", sample: r#"https 2026-12-02T04:00:00.123456Z app/shop/50dc6c495c0c9188 10.0.0.1:40312 10.2.0.7:80 0.000 0.042 0.000 200 200 120 512 "GET https://shop.example:443/a HTTP/1.1" "curl/8.5" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2"# },
    Preset { choice: FormatChoice::Elb, name: "elb", reads: "AWS Classic Load Balancer", sample: r#"2026-12-02T04:00:00.123456Z shop 10.0.0.1:40312 10.2.0.7:80 0.000073 0.042 0.000057 200 200 0 512 "GET http://shop.example:80/a HTTP/1.1" "curl/8.5" - -"# },
    Preset { choice: FormatChoice::Cloudfront, name: "cloudfront", reads: "CloudFront standard log (tabs, `#Fields:` header, `time-taken` s)", sample: "2026-12-02\t04:00:00\tLAX1\t512\t10.0.0.1\tGET\td1.cloudfront.net\t/a\t200\t-\tcurl/8.5\t-\t-\tMiss\tid\tshop.example\thttps\t120\t0.042" },
    Preset { choice: FormatChoice::Squid, name: "squid", reads: "Squid native access log (elapsed ms, `TCP_MISS/200`)", sample: "1796184000.042     42 10.0.0.1 TCP_MISS/200 512 GET http://shop.example/a - HIER_DIRECT/10.2.0.7 text/html" },
    Preset { choice: FormatChoice::S3, name: "s3", reads: "Amazon S3 server access log (`total_time` ms)", sample: r#"79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be shop-assets [02/Dec/2026:04:00:00 +0000] 10.0.0.1 - 3E57427F3EXAMPLE REST.GET.OBJECT a "GET /shop-assets/a HTTP/1.1" 200 - 512 512 42 40 "-" "curl/8.5" -"# },
    Preset { choice: FormatChoice::CloudStorage, name: "cloud-storage", reads: "Google Cloud Storage usage log (CSV after its header row, `time_taken_micros`)", sample: r#""1796184000000000","10.0.0.1","1","","GET","/shop-assets/a","200","0","512","42000","storage.googleapis.com","","curl/8.5","AFi2b9","GET_Object","shop-assets","a""# },
    Preset { choice: FormatChoice::Iis, name: "iis", reads: "IIS / W3C extended (`#Fields:` header, `time-taken` ms); alias `w3c`", sample: "2026-12-02 04:00:00 10.2.0.7 GET /a - 443 - 10.0.0.1 curl/8.5 - 200 0 0 42" },
];

impl FormatChoice {
    /// The name used in config and on the command line.
    pub fn name(self) -> &'static str {
        PRESETS.iter().find(|p| p.choice == self).map_or("auto", |p| p.name)
    }

    /// The choice with this name (`w3c` is `iis`).
    pub fn from_name(name: &str) -> Option<FormatChoice> {
        if name.eq_ignore_ascii_case("w3c") {
            return Some(FormatChoice::Iis);
        }
        PRESETS.iter().find(|p| p.name.eq_ignore_ascii_case(name)).map(|p| p.choice)
    }

    pub(crate) fn reader(self) -> Reader {
        use FormatChoice as C;
        match self {
            C::Auto => Reader::Auto,
            C::Json | C::NginxJson | C::TraefikJson | C::Caddy => Reader::Json,
            C::Logfmt => Reader::Logfmt,
            C::Access | C::Nginx | C::IngressNginx | C::Apache | C::Gunicorn | C::Werkzeug | C::TraefikClf => {
                Reader::Access(IntUnit::Micros)
            }
            C::ApacheSecs => Reader::Access(IntUnit::Secs),
            C::ApacheMs => Reader::Access(IntUnit::Millis),
            C::Envoy => Reader::Envoy,
            C::Haproxy => Reader::Haproxy,
            C::Alb => Reader::Alb,
            C::Elb => Reader::Elb,
            C::Cloudfront => Reader::W3c { cloudfront: true },
            C::Iis => Reader::W3c { cloudfront: false },
            C::Squid => Reader::Squid,
            C::S3 => Reader::S3,
            C::CloudStorage => Reader::CloudStorage,
            C::Text => Reader::Text,
        }
    }
}

impl std::str::FromStr for FormatChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        FormatChoice::from_name(s).ok_or_else(|| {
            let names: Vec<&str> = PRESETS.iter().map(|p| p.name).collect();
            format!("unknown format {s:?}; expected one of {}", names.join(", "))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The README's preset table, written from [`PRESETS`].
    fn readme_table() -> String {
        let mut t = String::from("| `parse.format` / `--format` | reads | sample line |\n|---|---|---|\n");
        for p in PRESETS {
            let sample = if p.sample.is_empty() {
                String::new()
            } else {
                format!("`{}`", p.sample.replace('\t', "→").replace('|', "\\|"))
            };
            t.push_str(&format!("| `{}` | {} | {} |\n", p.name, p.reads, sample));
        }
        t
    }

    #[test]
    fn the_readme_lists_every_preset_with_its_sample() {
        let readme = include_str!("../../README.md");
        let table = readme_table();
        if std::env::var_os("PRINT_PRESETS").is_some() {
            println!("{table}");
        }
        assert!(readme.contains(&table), "README's preset table is out of date; PRINT_PRESETS=1 prints it");
    }

    #[test]
    fn every_sample_parses_with_its_preset_and_auto_detection_agrees() {
        let parse = |choice: FormatChoice, line: &str| {
            let cfg = crate::config::ParseConfig { format: choice, ..Default::default() };
            crate::parse::Parser::new(&cfg).parse(crate::source::RawLine::new(jiff::Timestamp::now(), line, 1))
        };
        for p in PRESETS.iter().filter(|p| !p.sample.is_empty()) {
            let forced = parse(p.choice, p.sample);
            assert_eq!(forced.problem, None, "{}", p.name);
            let auto = parse(FormatChoice::Auto, p.sample);
            assert_eq!(auto.format, forced.format, "{}", p.name);
            if p.choice != FormatChoice::Text {
                assert!(forced.path.is_some() || p.choice == FormatChoice::Logfmt, "{}: {forced:?}", p.name);
            }
            if !matches!(p.choice, FormatChoice::Werkzeug | FormatChoice::Access | FormatChoice::Text) {
                assert!(forced.response_time_ms.is_some(), "{}: no latency", p.name);
                // Only these two presets read a bare integer differently from auto-detection (µs).
                if !matches!(p.choice, FormatChoice::ApacheSecs | FormatChoice::ApacheMs) {
                    assert_eq!(auto.response_time_ms, forced.response_time_ms, "{}", p.name);
                }
            }
        }
    }

    #[test]
    fn every_choice_is_documented_once_and_named_as_serde_names_it() {
        for p in PRESETS {
            assert_eq!(FormatChoice::from_name(p.name), Some(p.choice));
            let json = serde_json::to_string(&p.choice).unwrap();
            assert_eq!(json, format!("\"{}\"", p.name));
        }
        assert_eq!(PRESETS.iter().filter(|p| p.choice == FormatChoice::Iis).count(), 1);
        assert_eq!("w3c".parse::<FormatChoice>(), Ok(FormatChoice::Iis));
        assert!("nginx-xml".parse::<FormatChoice>().unwrap_err().contains("traefik-json"));
    }
}

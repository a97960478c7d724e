//! Rules that know the site, end to end through `scan`: what the site serves to many clients is
//! not a probe, a scanner's refused requests join its incident, and an attack in one parameter is
//! reported with its rule and decoded evidence.

mod support;

use std::io::Write;

use serde_json::Value;

/// One combined-format line at second `s` of the day.
fn line(s: u32, client: &str, target: &str, status: u16, ua: &str) -> String {
    format!(
        "{client} - - [24/Nov/2026:{:02}:{:02}:{:02} +0000] \"GET {target} HTTP/1.1\" {status} 5120 \"-\" \"{ua}\" 0.012",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

const BROWSER: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";

/// `scan --output jsonl` of `lines`: the anomalies, each as JSON.
fn scan(lines: &[String]) -> Vec<Value> {
    scan_with_incidents(lines).0
}

/// The anomalies and the number of incidents `scan` reports.
fn scan_with_incidents(lines: &[String]) -> (Vec<Value>, u64) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.log");
    let mut f = std::fs::File::create(&path).unwrap();
    for l in lines {
        writeln!(f, "{l}").unwrap();
    }
    drop(f);
    let out = support::daemon::bin()
        .args(["scan", "--no-progress", "--output", "jsonl"])
        .arg(&path)
        .env("LOG_LEVEL", "info")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let incidents = stderr
        .split_once(" incidents=")
        .and_then(|(_, rest)| rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok())
        .unwrap_or_else(|| panic!("no incident count in {stderr}"));
    (String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect(), incidents)
}

/// Ordinary browsing by 40 clients over an hour, with the site's own downloads among it.
fn site_traffic() -> Vec<String> {
    let pages = ["/", "/docs/install", "/news", "/download", "/docs/faq", "/about"];
    let mut out = Vec::new();
    for s in 0..3600u32 {
        let client = format!("198.51.100.{}", s % 40 + 1);
        out.push(line(s, &client, pages[(s as usize * 7) % pages.len()], 200, BROWSER));
        // Downloads by 30 of the clients, a different one each time.
        if s % 50 == 7 {
            out.push(line(
                s,
                &format!("198.51.100.{}", s / 50 % 30 + 1),
                "/releases/tool-2.4.1.tar.gz",
                200,
                "Wget/1.21.4",
            ));
        }
        if s % 90 == 11 {
            out.push(line(s, &format!("198.51.100.{}", s / 90 % 30 + 1), "/update/config.xml", 200, "ToolUpdater/2.4"));
        }
    }
    out
}

#[test]
fn what_the_site_serves_to_many_clients_is_not_a_probe() {
    let lines = site_traffic();
    let flagged = scan(&lines);
    let downloads: Vec<&Value> = flagged
        .iter()
        .filter(|a| a["raw"].as_str().is_some_and(|r| r.contains("tar.gz") || r.contains("config.xml")))
        .collect();
    assert!(downloads.is_empty(), "the site's own downloads were flagged: {downloads:#?}");
    // A secret stays a probe however many clients receive it.
    let mut with_secret = site_traffic();
    for i in 0..20u32 {
        with_secret.push(line(3000 + i, &format!("198.51.100.{}", i + 1), "/.env", 200, BROWSER));
    }
    let flagged = scan(&with_secret);
    let env = flagged.iter().filter(|a| a["raw"].as_str().is_some_and(|r| r.contains("/.env"))).count();
    assert_eq!(env, 20, "every /.env fetch is a probe");
}

#[test]
fn a_known_scanners_refused_requests_join_its_incident() {
    let mut lines = site_traffic();
    let scanner = "203.0.113.66";
    let probes = ["/administrator/index.php", "/joomla/", "/admin/login", "/user/register", "/old/", "/cms/"];
    lines.push(line(2000, scanner, "/wp-login.php", 404, BROWSER));
    for (i, p) in probes.iter().enumerate() {
        lines.push(line(2001 + i as u32 * 3, scanner, p, 404, BROWSER));
    }
    // Its ordinary page views are not probes, and another client's 404 is not one either.
    lines.push(line(2030, scanner, "/", 200, BROWSER));
    lines.push(line(2031, "198.51.100.3", "/docs/instal", 404, BROWSER));
    lines.sort_by_key(|l| l[l.find('[').unwrap()..].to_string());
    let (flagged, incidents) = scan_with_incidents(&lines);
    let by_scanner: Vec<&Value> =
        flagged.iter().filter(|a| a["raw"].as_str().is_some_and(|r| r.starts_with(scanner))).collect();
    let raw: Vec<&str> = by_scanner.iter().map(|a| a["raw"].as_str().unwrap()).collect();
    assert_eq!(by_scanner.len(), 1 + probes.len(), "{raw:#?}");
    // Each probe is suspicious: as a known scanner's probe, or, once it has collected enough
    // errors, by `error_scanning` too. The first ones only the scanner's record can catch.
    for a in &by_scanner[1..] {
        assert_eq!(a["kind"], "suspicious", "{a:#}");
    }
    let first = &by_scanner[1];
    assert!(first["detectors"].as_array().unwrap().iter().any(|d| d == "rule:known_scanner"), "{first:#}");
    assert!(
        first["reason"].as_str().unwrap().contains(
            "probe by client 203.0.113.66, a scanner flagged by sensitive_file_probe: 404 on /administrator/index.php"
        ),
        "{first:#}"
    );
    assert_eq!(flagged.len(), by_scanner.len(), "only the scanner is flagged: {flagged:#?}");
    assert_eq!(incidents, 1, "one client, one incident");
    assert!(!flagged.iter().any(|a| a["raw"].as_str().is_some_and(|r| r.contains("/docs/instal "))));
}

#[test]
fn an_attack_in_one_parameter_is_reported_with_its_decoded_evidence() {
    let mut lines = site_traffic();
    lines.push(line(1800, "198.51.100.9", "/docs/faq?lang=en&q=1%27%20or%20%271%27%3D%271", 200, BROWSER));
    lines.push(line(1801, "198.51.100.10", "/news?page=%252e%252e%252f%252e%252e%252fetc%252fpasswd", 200, BROWSER));
    lines.push(line(1802, "198.51.100.11", "/news?page=2&q=O%27Brien+%26+sons", 200, BROWSER));
    lines.sort_by_key(|l| l[l.find('[').unwrap()..].to_string());
    let flagged = scan(&lines);
    let reason = |needle: &str| {
        flagged
            .iter()
            .find(|a| a["raw"].as_str().is_some_and(|r| r.contains(needle)))
            .map(|a| a["reason"].as_str().unwrap().to_string())
    };
    let sqli = reason("q=1%27").expect("the SQL injection is reported");
    assert!(sqli.contains("SQL injection in query parameter q: 1' or '1'='1"), "{sqli}");
    let traversal = reason("%252e").expect("the double-encoded traversal is reported");
    assert!(traversal.contains("path traversal in query parameter page: ../../etc/passwd"), "{traversal}");
    assert_eq!(reason("O%27Brien"), None, "a name with an apostrophe is not an attack");
}

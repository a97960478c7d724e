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

/// `lines` with `extra` added and all of it in time order.
fn with(mut lines: Vec<String>, extra: impl IntoIterator<Item = String>) -> Vec<String> {
    lines.extend(extra);
    lines.sort_by_key(|l| l[l.find('[').unwrap()..].to_string());
    lines
}

/// The flagged lines whose raw text contains `needle`.
fn flagged_with<'a>(flagged: &'a [Value], needle: &str) -> Vec<&'a Value> {
    flagged.iter().filter(|a| a["raw"].as_str().is_some_and(|r| r.contains(needle))).collect()
}

#[test]
fn a_download_the_site_serves_once_is_not_a_probe_but_a_backup_is() {
    // Each file fetched once, as on a site with many small releases (a real public log has this).
    let lines = with(
        site_traffic(),
        [
            line(900, "192.0.2.10", "/files/xdotool/xdotool-2.20101014.tar.gz", 200, "Wget/1.21.4"),
            line(901, "192.0.2.11", "/files/xdotool/xdotool-2.20101014.tar.gz", 416, BROWSER),
            line(902, "192.0.2.12", "/files/logstash/config.xml", 200, BROWSER),
            line(903, "192.0.2.13", "/files/fex/fex-20070729.tgz", 304, BROWSER),
            // Copies of the site: a leak when served, a probe when refused.
            line(1200, "192.0.2.20", "/backup.tar.gz", 200, BROWSER),
            line(1201, "192.0.2.21", "/www.zip", 200, BROWSER),
            line(1202, "192.0.2.22", "/site.tar.gz", 404, BROWSER),
            line(1203, "192.0.2.23", "/files/db.tar.gz", 200, BROWSER),
            // A guessed download that the site does not have.
            line(1204, "192.0.2.24", "/release.zip", 404, BROWSER),
        ],
    );
    let flagged = scan(&lines);
    for download in ["xdotool-2.20101014.tar.gz", "logstash/config.xml", "fex-20070729.tgz"] {
        assert!(flagged_with(&flagged, download).is_empty(), "{download} was flagged: {flagged:#?}");
    }
    for probe in ["/backup.tar.gz", "/www.zip", "/site.tar.gz", "/files/db.tar.gz", "/release.zip"] {
        let hits = flagged_with(&flagged, probe);
        assert_eq!(hits.len(), 1, "{probe}: {flagged:#?}");
        assert!(hits[0]["detectors"].as_array().unwrap().iter().any(|d| d == "rule:sensitive_file_probe"), "{probe}");
    }
}

#[test]
fn the_probes_a_scanner_sent_before_it_was_caught_join_its_incident() {
    // No rule knows these paths: only its run of 404s gives the scanner away, after a few of them.
    let scanner = "203.0.113.77";
    let probes = [
        "/blog/post.html/fckeditor/editor/fckeditor.html",
        "/blog/post.html/include/fckeditor/editor/fckeditor.html",
        "/blog/post.html/js/fckeditor/editor/fckeditor.html",
        "/blog/post.html/admin/FCKeditor/editor/fckeditor.html",
        "/blog/post.html/include/fckeditor/editor/filemanager/connectors/test.html",
        "/blog/post.html/js/fckeditor/_samples/default.html",
        "/blog/post.html/admin/FCKeditor/_samples/default.html",
        "/blog/post.html/fckeditor/_samples/default.html",
    ];
    let lines =
        with(site_traffic(), probes.iter().enumerate().map(|(i, p)| line(2400 + i as u32 * 2, scanner, p, 404, "-")));
    let (flagged, incidents) = scan_with_incidents(&lines);
    let by_scanner = flagged_with(&flagged, scanner);
    let raw: Vec<&str> = by_scanner.iter().map(|a| a["raw"].as_str().unwrap()).collect();
    assert_eq!(by_scanner.len(), probes.len(), "every probe is reported: {raw:#?}");
    let first = flagged_with(&flagged, probes[0]);
    assert_eq!(first.len(), 1);
    assert!(first[0]["detectors"].as_array().unwrap().iter().any(|d| d == "rule:known_scanner"), "{:#}", first[0]);
    assert!(first[0]["reason"].as_str().unwrap().contains("a scanner flagged by error_scanning"), "{:#}", first[0]);
    // The forest may find some odd first: those are behavioral, one incident per endpoint; the
    // rest are the scanner's one incident.
    let behavioral = by_scanner.iter().filter(|a| a["kind"] == "behavioral").count();
    assert!(behavioral < probes.len() / 2, "{by_scanner:#?}");
    assert_eq!(incidents, 1 + behavioral as u64, "the scanner's probes are one incident");
}

#[test]
fn a_crawler_following_broken_links_is_not_a_scanner_but_a_browser_doing_it_is() {
    let broken = ["/blog/geekery%E2%80%A6", "/blog/tags/g", "/scripts//%22file://$file/%22", "/articles/ssh-/"];
    let run = |ua: &str| {
        let client = "192.0.2.99";
        let lines = with(
            site_traffic(),
            (0..12u32).map(|i| line(2600 + i * 2, client, broken[i as usize % broken.len()], 404, ua)),
        );
        flagged_with(&scan(&lines), client).len()
    };
    let crawler = "Mozilla/5.0 (compatible; MJ12bot/v1.4.4; http://www.majestic12.co.uk/bot.php?+)";
    assert_eq!(run(crawler), 0, "a declared crawler's 404s are the site's broken links");
    assert!(run(BROWSER) >= 8, "the same walk from a browser is error scanning");
}

#[test]
fn comment_spam_is_flagged_only_where_the_site_has_no_form() {
    let post = |s: u32, client: &str, target: &str, status: u16| {
        line(s, client, target, status, "-").replace("\"GET ", "\"POST ")
    };
    let lines = with(
        site_traffic(),
        [
            post(1500, "192.0.2.30", "/blog/post.html/trackback/", 404),
            post(1501, "192.0.2.31", "/user/register", 404),
            line(1502, "192.0.2.32", "/projects/x/+++++Result:+chosen+nickname+%22awaro%22;sent;", 404, BROWSER),
            // A site with a sign-up form: its users' posts are answered.
            post(1503, "192.0.2.33", "/user/register", 302),
            post(1504, "192.0.2.34", "/blog/post.html/trackback/", 200),
        ],
    );
    let flagged = scan(&lines);
    for spam in ["192.0.2.30", "192.0.2.31", "192.0.2.32"] {
        let hits = flagged_with(&flagged, spam);
        assert_eq!(hits.len(), 1, "{spam}: {flagged:#?}");
        assert!(hits[0]["detectors"].as_array().unwrap().iter().any(|d| d == "rule:comment_spam"), "{:#}", hits[0]);
    }
    for user in ["192.0.2.33", "192.0.2.34"] {
        assert!(flagged_with(&flagged, user).is_empty(), "{user}: {flagged:#?}");
    }
}

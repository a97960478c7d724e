//! AWS load-balancer access logs: Application Load Balancer and Classic Load Balancer (ELB).
//!
//! Classic: `time elb client:port backend:port request_processing_time backend_processing_time
//! response_processing_time elb_status_code backend_status_code received_bytes sent_bytes
//! "request" "user_agent" ssl_cipher ssl_protocol`. ALB writes the same fields after a leading
//! `type` (`http`, `https`, `h2`, `grpcs`, `ws`, `wss`), then more. The latency is the sum of the
//! three processing times (seconds); any of them `-1` (the request never reached a target, or it
//! closed the connection) means none. The request carries an absolute URL; its path is used.

use std::borrow::Cow;

use super::cursor::Cur;
use super::fields::{Field, Found, TimeUnit, Val};
use super::time;

const RANK: u16 = 1;

/// The ALB connection types that open a line.
const ALB_TYPES: [&str; 6] = ["http", "https", "h2", "grpcs", "ws", "wss"];

/// `type 2026-…T` : the start of an ALB line.
pub(crate) fn looks_like_alb(line: &str) -> bool {
    let Some((kind, rest)) = line.split_once(' ') else { return false };
    ALB_TYPES.contains(&kind) && is_iso_start(rest)
}

/// `2026-…T… name ` : the start of a Classic ELB line.
pub(crate) fn looks_like_elb(line: &str) -> bool {
    is_iso_start(line) && line.as_bytes().get(26..28).is_some()
}

fn is_iso_start(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() > 20 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' && b[7] == b'-' && b[10] == b'T'
}

/// Parses an ALB line (`alb = true`) or a Classic ELB line; `None` if it does not match.
pub(crate) fn parse<'a>(line: &'a str, alb: bool, found: &mut Found<'a>) -> Option<()> {
    let mut c = Cur::at(line, 0);
    if alb {
        c.token();
    }
    let at = c.field()?;
    let _name = c.field()?;
    let client = c.field()?;
    let _target = c.field()?;
    let mut secs = Some(0.0);
    for _ in 0..3 {
        let t: f64 = c.field()?.parse().ok()?;
        secs = secs.filter(|_| t >= 0.0).map(|s| s + t);
    }
    let status = c.field()?;
    let _target_status = c.field()?;
    let _received = c.field()?;
    let sent = c.field()?;
    c.space();
    if !status.bytes().all(|b| b.is_ascii_digit()) || !c.eat(b'"') {
        return None;
    }
    let request = c.quoted()?;
    found.time.val = time::parse_str(&at);
    let host = client.rfind(':').map_or(&*client, |i| &client[..i]).to_string();
    found.offer(Field::Client, RANK, Val::Str(Cow::Owned(host)));
    if let Some(s) = secs {
        found.offer(Field::ResponseTime(TimeUnit::Secs), RANK, Val::F64(s));
    }
    found.offer(Field::Status, RANK, Val::Str(status));
    found.offer(Field::Bytes, RANK, Val::Str(sent));
    found.offer(Field::Path, RANK, Val::Str(request));
    if let Some(ua) = c.field() {
        found.offer(Field::UserAgent, RANK, Val::Str(ua));
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alb_entry_from_the_aws_documentation() {
        let line = r#"http 2018-07-02T22:23:00.186641Z app/my-loadbalancer/50dc6c495c0c9188 192.168.131.39:2817 10.0.0.1:80 0.000 0.001 0.000 200 200 34 366 "GET http://www.example.com:80/ HTTP/1.1" "curl/7.46.0" - - arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067 "Root=1-58337262-36d228ad5d99923122bbe354" "-" "-" 0 2018-07-02T22:22:48.364000Z "forward" "-" "-" "10.0.0.1:80" "200" "-" "-""#;
        assert!(looks_like_alb(line));
        let mut f = Found::default();
        assert_eq!(parse(line, true, &mut f), Some(()));
        assert_eq!(f.status.val, Some(200));
        assert_eq!(f.response_time_ms.val, Some(1.0));
        assert_eq!(f.client.val.as_deref(), Some("192.168.131.39"));
        assert_eq!(f.user_agent.val.as_deref(), Some("curl/7.46.0"));
        assert_eq!(f.method.val.as_deref(), Some("GET"));
        assert_eq!(f.path.val.as_deref(), Some("http://www.example.com:80/"));
    }

    #[test]
    fn classic_elb_and_failed_dispatch() {
        let line = r#"2015-05-13T23:39:43.945958Z my-loadbalancer 192.168.131.39:2817 10.0.0.1:80 0.000073 0.001048 0.000057 200 200 0 29 "GET http://www.example.com:80/ HTTP/1.1" "curl/7.38.0" - -"#;
        assert!(looks_like_elb(line) && !looks_like_alb(line));
        let mut f = Found::default();
        assert_eq!(parse(line, false, &mut f), Some(()));
        assert!((f.response_time_ms.val.unwrap() - 1.178).abs() < 1e-9);
        let failed = r#"2015-05-13T23:39:43.945958Z my-loadbalancer 192.168.131.39:2817 - -1 -1 -1 504 0 0 0 "GET http://www.example.com:80/ HTTP/1.1" "curl/7.38.0" - -"#;
        let mut f = Found::default();
        assert_eq!(parse(failed, false, &mut f), Some(()));
        assert_eq!((f.status.val, f.response_time_ms.val), (Some(504), None));
    }
}

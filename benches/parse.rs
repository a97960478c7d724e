//! Parse throughput per line format. Run: `cargo bench --bench parse`.
//! Criterion reports time per line and lines/s (throughput = 1 element per iteration).

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use jiff::Timestamp;

use anomaly_detector::parse::Parser;
use anomaly_detector::source::RawLine;

const LINES: &[(&str, &str)] = &[
    (
        "json_nginx",
        r#"{"time_iso8601":"2026-11-24T03:00:00+00:00","remote_addr":"10.0.0.7","remote_user":"","request":"GET /api/users/4812?expand=orders HTTP/1.1","status":"200","body_bytes_sent":"1534","request_time":"0.042","http_referer":"","http_user_agent":"Mozilla/5.0 (X11; Linux x86_64)","http_x_forwarded_for":"-","upstream_response_time":"0.040"}"#,
    ),
    (
        "json_demo_app",
        r#"{"ts":"2026-11-24T03:48:59.494Z","level":"info","method":"GET","path":"/api/users/4812","status":200,"response_time_ms":24.3,"client_ip":"10.0.0.24","user_agent":"Mozilla/5.0"}"#,
    ),
    (
        "combined",
        r#"203.0.113.9 - - [24/Nov/2026:03:00:00 +0000] "GET /api/products/17/reviews?page=2 HTTP/1.1" 200 912 "https://shop.example/p/17" "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)" 0.137"#,
    ),
    (
        "logfmt",
        r#"time=2026-11-24T03:00:01.512Z level=INFO msg="request completed" method=GET path=/api/orders/77 status=200 duration=12.345ms remote_addr=10.0.0.5 bytes=2048"#,
    ),
    (
        "text",
        "2015-10-18 18:01:47,978 INFO [main] org.apache.hadoop.mapreduce.v2.app.MRAppMaster: Created MRAppMaster for application appattempt_1445144423722_0020_000001",
    ),
];

fn bench_parse(c: &mut Criterion) {
    let parser = Parser::default();
    let now = Timestamp::now();
    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Elements(1));
    for (name, line) in LINES {
        group.bench_function(*name, |b| {
            b.iter_batched(
                || RawLine::new(now, *line, 1),
                |raw| black_box(parser.parse(raw)),
                criterion::BatchSize::SmallInput,
            )
        });
    }
    // For scale on the machine at hand: a bare serde_json::Value parse of the nginx line.
    group.bench_function("baseline_serde_json_value", |b| {
        b.iter(|| black_box(serde_json::from_str::<serde_json::Value>(black_box(LINES[0].1)).ok()))
    });
    group.finish();
}

criterion_group!(benches, bench_parse);
criterion_main!(benches);

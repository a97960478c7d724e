//! Alerting (issue 6): payloads and escaping per channel (insta snapshots), the real Alertmanager
//! and SMTP server, delivery under failure with paused time, and the policy end to end.

mod alert_support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use alert_support::*;
use anomaly_detector::config::{
    AlertingConfig, AlertmanagerChannelConfig, DiscordChannelConfig, EmailChannelConfig, Severity, SlackChannelConfig,
    SmtpTls, WebhookChannelConfig,
};
use anomaly_detector::metrics::Metrics;
use anomaly_detector::redact::Redactor;
use anomaly_detector::sink::alert::{
    build_channels, send_test_alert, webhook, AlertSink, Body, Channel, Clock, Event, SinkError, TokioClock,
};
use anomaly_detector::sink::finding::{Finding, FindingSink};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const HMAC_SECRET: &str = "s3cret-hmac-key";

/// Log content an attacker controls: mentions, links, markdown, secrets, and a 10 kB line.
fn hostile_examples() -> Vec<String> {
    vec![
        "<!channel> <!here> <@U024BE7LH> @everyone @here [click](http://evil.example/x) <http://evil.example|x> \
         **bold** `tick` ```fence``` || spoiler || # heading"
            .to_string(),
        format!("GET /login?user=bob&password=hunter2&next=/ {}", "A".repeat(10_000)),
        "GET /api?api_key=SECRETKEY123 Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl \
         from alice@example.com <script>alert(1)</script>"
            .to_string(),
    ]
}

fn hostile_incident(fp: &str) -> anomaly_detector::detect::Incident {
    let ex = hostile_examples();
    let refs: Vec<&str> = ex.iter().map(String::as_str).collect();
    let mut inc = incident(fp, 42, Severity::High, &refs);
    inc.endpoint = "GET /search/<!here>/@everyone/[x](http://evil.example)".into();
    inc.client = Some("10.0.0.7".into());
    inc
}

fn base_cfg() -> AlertingConfig {
    AlertingConfig {
        max_alerts_per_minute: 0,
        grafana_url: "http://grafana.example:3000".into(),
        explore_query: r#"{job="demo-app"}"#.into(),
        ..AlertingConfig::default()
    }
}

fn secret_file(dir: &Path, name: &str, value: &str) -> Option<PathBuf> {
    let p = dir.join(name);
    std::fs::write(&p, format!("{value}\n")).unwrap();
    Some(p)
}

struct Running {
    sink: AlertSink,
    handle: JoinHandle<()>,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
}

impl Running {
    async fn stop(self) {
        self.shutdown.cancel();
        self.handle.await.unwrap();
    }
}

fn start(cfg: &AlertingConfig, channels: Vec<Arc<dyn Channel>>, state_dir: &Path, clock: Arc<dyn Clock>) -> Running {
    let metrics = Arc::new(Metrics::new());
    let shutdown = CancellationToken::new();
    let (sink, handle) = AlertSink::spawn_with(
        cfg,
        channels,
        state_dir,
        Arc::new(Redactor::new(&anomaly_detector::config::RedactionConfig::default()).unwrap()),
        metrics.clone(),
        clock,
        shutdown.clone(),
    )
    .unwrap();
    Running { sink, handle, metrics, shutdown }
}

fn opened(i: anomaly_detector::detect::Incident) -> Finding {
    Finding::IncidentOpened(Arc::new(i))
}

fn built(cfg: &AlertingConfig) -> Vec<Arc<dyn Channel>> {
    build_channels(cfg).into_iter().map(|(name, c)| c.unwrap_or_else(|e| panic!("{name}: {e}"))).collect()
}

fn assert_no_secrets(body: &str) {
    for secret in ["hunter2", "SECRETKEY123", "alice@example.com", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0"] {
        assert!(!body.contains(secret), "secret {secret:?} leaked into {body}");
    }
}

// ---------------------------------------------------------------------------------------------
// Exact payloads and escaping (recording HTTP server + insta)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn slack_discord_and_webhook_payloads_escape_hostile_log_content() {
    let rec = Recorder::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = base_cfg();
    cfg.slack.push(SlackChannelConfig {
        name: String::new(),
        min_severity: Severity::Medium,
        webhook_url_env: None,
        webhook_url_file: secret_file(dir.path(), "slack", &rec.url("/slack")),
    });
    cfg.discord.push(DiscordChannelConfig {
        name: String::new(),
        min_severity: Severity::Medium,
        webhook_url_env: None,
        webhook_url_file: secret_file(dir.path(), "discord", &rec.url("/discord")),
        username: "Anomaly Detector".into(),
    });
    cfg.webhook.push(WebhookChannelConfig {
        name: String::new(),
        min_severity: Severity::Low,
        url_env: None,
        url_file: secret_file(dir.path(), "webhook", &rec.url("/webhook")),
        secret_env: None,
        secret_file: secret_file(dir.path(), "hmac", HMAC_SECRET),
    });
    cfg.validate().unwrap();
    let clock = Arc::new(FixedClock(ts("2026-03-01T10:05:00Z")));
    let run = start(&cfg, built(&cfg), dir.path(), clock);

    run.sink.offer(&opened(hostile_incident("fp-hostile")));
    let reqs = rec.wait_until("3 channel posts", Duration::from_secs(10), |r| r.len() >= 3).await;
    let by_path = |p: &str| reqs.iter().find(|r| r.path == p).unwrap_or_else(|| panic!("no POST to {p}")).clone();

    // Slack: nothing that Slack would turn into a mention or a link survives.
    let slack = by_path("/slack");
    let body = String::from_utf8(slack.body.clone()).unwrap();
    for bad in ["<!channel>", "<!here>", "<@U024BE7LH>", "<http://evil", "<script>"] {
        assert!(!body.contains(bad), "Slack payload contains {bad:?}");
    }
    assert!(body.contains("&lt;!channel&gt;"), "escaped text still shown");
    assert_no_secrets(&body);
    let v = slack.json();
    for block in v["blocks"].as_array().unwrap() {
        if let Some(t) = block["text"]["text"].as_str() {
            let max = if block["type"] == "header" { 150 } else { 3000 };
            assert!(t.chars().count() <= max, "Slack {} text is {} chars", block["type"], t.chars().count());
        }
        for f in block["fields"].as_array().into_iter().flatten() {
            assert!(f["text"].as_str().unwrap().chars().count() <= 2000);
        }
    }
    insta::assert_json_snapshot!("slack_opened", v);

    // Discord: mentions never parsed, @everyone/@here broken, no masked links, limits held.
    let discord = by_path("/discord");
    let body = String::from_utf8(discord.body.clone()).unwrap();
    let v = discord.json();
    assert_eq!(v["allowed_mentions"], serde_json::json!({"parse": []}));
    let lower = body.to_lowercase();
    assert!(!lower.contains("@everyone") && !lower.contains("@here"), "unbroken mention in {body}");
    assert_no_secrets(&body);
    let embed = &v["embeds"][0];
    // Outside code blocks no masked link survives; inside them Discord renders no markdown, and no
    // backtick can close a block early (each example is exactly one fenced block).
    let description = embed["description"].as_str().unwrap();
    let parts: Vec<&str> = description.split("```").collect();
    assert_eq!(parts.len(), 7, "3 fenced examples: {description}");
    let outside: String = parts.iter().step_by(2).copied().collect();
    let fields: String = embed["fields"].as_array().unwrap().iter().map(|f| f["value"].as_str().unwrap()).collect();
    for text in [outside.as_str(), fields.as_str(), embed["title"].as_str().unwrap()] {
        assert!(!text.contains("](http") && !text.contains("[click]"), "a masked link survived in {text}");
    }
    let title = embed["title"].as_str().unwrap().chars().count();
    let desc = embed["description"].as_str().unwrap().chars().count();
    let footer = embed["footer"]["text"].as_str().unwrap().chars().count();
    let mut total = title + desc + footer;
    assert!(title <= 256 && desc <= 4096 && footer <= 2048);
    for f in embed["fields"].as_array().unwrap() {
        let (n, val) = (f["name"].as_str().unwrap().chars().count(), f["value"].as_str().unwrap().chars().count());
        assert!(n <= 256 && val <= 1024);
        total += n + val;
    }
    assert!(total <= 6000, "Discord embed total {total}");
    insta::assert_json_snapshot!("discord_opened", v);

    // Webhook: documented schema, redacted and capped, signed.
    let hook = by_path("/webhook");
    let body = String::from_utf8(hook.body.clone()).unwrap();
    assert_no_secrets(&body);
    assert_eq!(hook.header("x-signature-256").unwrap(), webhook::signature(HMAC_SECRET.as_bytes(), &hook.body));
    assert_ne!(hook.header("x-signature-256").unwrap(), webhook::signature(b"another key", &hook.body));
    let v = hook.json();
    assert_eq!(v["schema_version"], 1);
    assert_eq!(v["incident"]["count"], 42);
    assert!(v["incident"]["examples"].as_array().unwrap().iter().all(|e| e.as_str().unwrap().chars().count() <= 500));
    insta::assert_json_snapshot!("webhook_opened", v);

    run.sink.offer(&Finding::IncidentResolved(Arc::new(hostile_incident("fp-hostile"))));
    let reqs = rec.wait_until("resolved posts", Duration::from_secs(10), |r| r.len() >= 6).await;
    let resolved: Vec<_> = reqs[3..].iter().filter(|r| r.path == "/webhook").collect();
    insta::assert_json_snapshot!("webhook_resolved", resolved[0].json());
    run.stop().await;
}

#[tokio::test]
async fn http_429_with_retry_after_then_500_are_retried_until_delivered() {
    let rec = Recorder::start().await;
    rec.script([Reply { status: 429, retry_after: Some("1".into()) }, Reply { status: 500, retry_after: None }]);
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = base_cfg();
    cfg.webhook.push(WebhookChannelConfig {
        name: "hook".into(),
        min_severity: Severity::Low,
        url_env: None,
        url_file: secret_file(dir.path(), "url", &rec.url("/hook")),
        secret_env: None,
        secret_file: None,
    });
    let run = start(&cfg, built(&cfg), dir.path(), Arc::new(FixedClock(ts("2026-03-01T10:05:00Z"))));
    run.sink.offer(&opened(incident("fp-retry", 3, Severity::High, &["line"])));
    let reqs = rec.wait_until("3 tries", Duration::from_secs(15), |r| r.len() >= 3).await;
    assert_eq!(reqs.len(), 3);
    assert!(reqs.iter().all(|r| r.body == reqs[0].body), "the same notification is retried");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while alerts(&run.metrics, "hook", "sent") == 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(alerts(&run.metrics, "hook", "sent"), 1);
    assert_eq!(alerts(&run.metrics, "hook", "failed"), 0);
    run.stop().await;
}

#[tokio::test]
async fn alert_test_reports_each_channel() {
    let rec = Recorder::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = base_cfg();
    cfg.slack.push(SlackChannelConfig {
        name: String::new(),
        min_severity: Severity::Critical,
        webhook_url_env: None,
        webhook_url_file: Some(dir.path().join("missing-secret")),
    });
    cfg.webhook.push(WebhookChannelConfig {
        name: String::new(),
        min_severity: Severity::Critical,
        url_env: None,
        url_file: secret_file(dir.path(), "url", &rec.url("/hook")),
        secret_env: None,
        secret_file: None,
    });
    cfg.discord.push(DiscordChannelConfig {
        name: String::new(),
        min_severity: Severity::Low,
        webhook_url_env: None,
        webhook_url_file: secret_file(dir.path(), "d", &rec.url("/discord")),
        username: String::new(),
    });
    rec.script([Reply { status: 200, retry_after: None }, Reply { status: 403, retry_after: None }]);
    let results = send_test_alert(&cfg).await;
    let names: Vec<&str> = results.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, vec!["slack", "discord", "webhook"]);
    let err = results[0].1.as_ref().unwrap_err();
    assert!(matches!(err, SinkError::Config { .. }));
    assert!(err.to_string().starts_with("alerting.slack[0].webhook_url_file"), "{err}");
    assert!(results[1].1.is_ok(), "{:?}", results[1].1);
    assert!(matches!(results[2].1, Err(SinkError::HttpStatus { status: 403, .. })), "{:?}", results[2].1);
    let hook = rec.requests_to("/hook");
    assert_eq!(hook[0].json()["event"], "test");
}

// ---------------------------------------------------------------------------------------------
// Delivery under failure, with paused time
// ---------------------------------------------------------------------------------------------

fn paused_cfg(queue_capacity: usize) -> AlertingConfig {
    AlertingConfig {
        queue_capacity,
        max_alerts_per_minute: 0,
        max_retries: 10,
        max_backoff_secs: 30,
        timeout_ms: 10_000,
        ..AlertingConfig::default()
    }
}

fn tokio_clock() -> Arc<dyn Clock> {
    Arc::new(TokioClock::starting_at(ts("2026-03-01T10:05:00Z")))
}

async fn advance_until(what: &str, limit: Duration, cond: impl Fn() -> bool) {
    let start = tokio::time::Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "not reached within {limit:?} of paused time: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_down_or_slow_channel_never_blocks_detection_and_loses_nothing_within_the_bound() {
    let down = ScriptedChannel::new("down", Step::ConnectError);
    let slow = ScriptedChannel::new("slow", Step::Hang);
    let dir = tempfile::tempdir().unwrap();
    let run = start(&paused_cfg(50), vec![down.clone(), slow.clone()], dir.path(), tokio_clock());

    // Detection: 10,000 incidents offered back to back; offer never awaits, so paused time stands still.
    let before = tokio::time::Instant::now();
    let mut processed = 0u64;
    for i in 0..10_000 {
        run.sink.offer(&opened(incident(&format!("fp{i:05}"), 1, Severity::High, &["x"])));
        processed += 1;
    }
    assert_eq!(processed, 10_000);
    assert_eq!(tokio::time::Instant::now(), before, "offer waited");
    for ch in ["down", "slow"] {
        assert_eq!(alerts(&run.metrics, ch, "dropped"), 10_000 - 50, "{ch}: drops past the queue bound are counted");
    }

    // Let the channels fail for a while (connect errors, timeouts), then recover.
    tokio::time::sleep(Duration::from_secs(25)).await;
    assert!(down.attempt_times().len() >= 3, "the down channel was retried");
    assert!(slow.attempt_times().len() >= 2, "the slow channel timed out and was retried");
    assert!(down.delivered().is_empty() && slow.delivered().is_empty());
    down.set_default(Step::Ok);
    slow.set_default(Step::Ok);
    advance_until("all queued delivered", Duration::from_secs(600), || {
        down.delivered().len() == 50 && slow.delivered().len() == 50
    })
    .await;
    for ch in [&down, &slow] {
        let fps: Vec<String> = ch.delivered().iter().map(|n| n.incident().unwrap().fingerprint.clone()).collect();
        let expected: Vec<String> = (0..50).map(|i| format!("fp{i:05}")).collect();
        assert_eq!(fps, expected, "{}: everything within the bound arrives, in order", ch.name);
        assert_eq!(alerts(&run.metrics, &ch.name, "sent"), 50);
        assert_eq!(alerts(&run.metrics, &ch.name, "failed"), 0);
    }
    run.stop().await;
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_honoured_and_backoff_doubles() {
    let ch = ScriptedChannel::new("ch", Step::Ok);
    ch.script.lock().unwrap().extend([
        Step::Fail(429, Some(Duration::from_secs(30))),
        Step::Fail(500, None),
        Step::Fail(503, None),
        Step::Ok,
    ]);
    let dir = tempfile::tempdir().unwrap();
    let run = start(&paused_cfg(10), vec![ch.clone()], dir.path(), tokio_clock());
    run.sink.offer(&opened(incident("fp", 1, Severity::High, &["x"])));
    advance_until("delivered", Duration::from_secs(600), || ch.delivered().len() == 1).await;
    let t = ch.attempt_times();
    let gaps: Vec<u64> = t.windows(2).map(|w| (w[1] - w[0]).as_secs()).collect();
    // 429 → its Retry-After (30 s); then 2 s and 4 s of exponential backoff (the first retry's 1 s
    // was replaced by Retry-After).
    assert_eq!(gaps, vec![30, 2, 4]);
    assert_eq!(alerts(&run.metrics, "ch", "sent"), 1);
    run.stop().await;
}

#[tokio::test(start_paused = true)]
async fn after_the_last_try_the_alert_is_dead_lettered_and_the_queue_goes_on() {
    let ch = ScriptedChannel::new("ch", Step::Fail(500, None));
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = paused_cfg(10);
    cfg.max_retries = 2;
    let run = start(&cfg, vec![ch.clone()], dir.path(), tokio_clock());
    run.sink.offer(&opened(incident("a", 1, Severity::High, &["x"])));
    run.sink.offer(&opened(incident("b", 1, Severity::High, &["x"])));
    advance_until("both given up", Duration::from_secs(600), || alerts(&run.metrics, "ch", "failed") == 2).await;
    assert_eq!(ch.attempt_times().len(), 6, "1 try + 2 retries each");
    // A client error is not retried.
    ch.set_default(Step::Fail(400, None));
    run.sink.offer(&opened(incident("c", 1, Severity::High, &["x"])));
    advance_until("c given up", Duration::from_secs(600), || alerts(&run.metrics, "ch", "failed") == 3).await;
    assert_eq!(ch.attempt_times().len(), 7);
    run.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Policy end to end
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn dedup_repeat_interval_min_severity_and_resolve() {
    let all = ScriptedChannel::new("all", Step::Ok);
    let high = ScriptedChannel::with_min("high", Severity::High);
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = paused_cfg(100);
    cfg.repeat_interval_secs = 600;
    cfg.resolve_after_secs = 700;
    let run = start(&cfg, vec![all.clone(), high.clone()], dir.path(), tokio_clock());

    // Same fingerprint twice → one notification.
    run.sink.offer(&opened(incident("a", 1, Severity::High, &["x"])));
    run.sink.offer(&opened(incident("a", 2, Severity::High, &["x"])));
    run.sink.offer(&Finding::IncidentUpdated(Arc::new(incident("a", 3, Severity::High, &["x"]))));
    // Below the "high" channel's minimum.
    run.sink.offer(&opened(incident("low", 1, Severity::Low, &["x"])));
    // Anomalies themselves are not alerted.
    run.sink.offer(&Finding::Anomaly(Arc::new(incident("z", 1, Severity::Critical, &["x"]).examples[0].clone())));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(all.events(), vec![Event::Opened, Event::Opened]);
    assert_eq!(high.events(), vec![Event::Opened]);
    assert_eq!(alerts(&run.metrics, "all", "suppressed"), 2);

    // Within the repeat interval: nothing; after it: a reminder with the new count.
    tokio::time::sleep(Duration::from_secs(200)).await;
    run.sink.offer(&Finding::IncidentUpdated(Arc::new(incident("a", 10, Severity::High, &["x"]))));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(high.events().len(), 1);
    tokio::time::sleep(Duration::from_secs(400)).await;
    run.sink.offer(&Finding::IncidentUpdated(Arc::new(incident("a", 25, Severity::High, &["x"]))));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let last = high.delivered().pop().unwrap();
    assert_eq!((last.event, last.incident().unwrap().count), (Event::Reminder, 25));

    // The app reports it resolved → one resolved notice.
    run.sink.offer(&Finding::IncidentResolved(Arc::new(incident("a", 25, Severity::High, &["x"]))));
    run.sink.offer(&Finding::IncidentResolved(Arc::new(incident("a", 25, Severity::High, &["x"]))));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(high.events(), vec![Event::Opened, Event::Reminder, Event::Resolved]);

    // "low" was never updated: quiet for resolve_after_secs (from t≈0) → resolved without the app saying so.
    let low_resolved = || all.delivered().iter().filter(|n| n.incident().unwrap().fingerprint == "low").count();
    assert_eq!(low_resolved(), 1, "not before resolve_after_secs");
    tokio::time::sleep(Duration::from_secs(100)).await;
    let resolved_low =
        all.delivered().into_iter().any(|n| n.event == Event::Resolved && n.incident().unwrap().fingerprint == "low");
    assert!(resolved_low, "quiet incident resolved after resolve_after_secs");
    assert_eq!(run.sink.open_incidents(), 0);
    run.stop().await;
}

#[tokio::test(start_paused = true)]
async fn the_rate_limit_holds_back_and_then_summarises_once() {
    let chat = ScriptedChannel::new("chat", Step::Ok);
    let am = {
        let mut c = Arc::into_inner(ScriptedChannel::new("am", Step::Ok)).unwrap();
        c.rate_limited = false;
        Arc::new(c)
    };
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = paused_cfg(100);
    cfg.max_alerts_per_minute = 3;
    let run = start(&cfg, vec![chat.clone(), am.clone()], dir.path(), tokio_clock());
    for i in 0..8 {
        run.sink.offer(&opened(incident(&format!("f{i}"), i + 1, Severity::High, &["x"])));
    }
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(chat.events(), vec![Event::Opened; 3], "only the first 3 within the minute");
    assert_eq!(alerts(&run.metrics, "chat", "rate_limited"), 5);
    assert_eq!(am.events().len(), 8, "an exempt channel (Alertmanager) gets everything");

    tokio::time::sleep(Duration::from_secs(35)).await;
    let events = chat.events();
    assert_eq!(events, [vec![Event::Opened; 3], vec![Event::Summary]].concat());
    let summary = chat.delivered().pop().unwrap();
    let Body::Summary { held, total, .. } = &summary.body else { panic!() };
    assert_eq!(*total, 5);
    assert_eq!(held.iter().map(|h| h.count).collect::<Vec<_>>(), vec![4, 5, 6, 7, 8]);
    assert_eq!(am.events().len(), 8, "no summary to the exempt channel");

    tokio::time::sleep(Duration::from_secs(120)).await;
    assert_eq!(chat.events().len(), 4, "the summary is sent once");
    run.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_restart_from_alerts_json_does_not_re_notify() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = paused_cfg(100);
    let first = ScriptedChannel::new("ch", Step::Ok);
    let run = start(&cfg, vec![first.clone()], dir.path(), tokio_clock());
    run.sink.offer(&opened(incident("a", 1, Severity::High, &["x"])));
    advance_until("sent", Duration::from_secs(10), || first.delivered().len() == 1).await;
    run.stop().await;

    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("alerts.json")).unwrap()).unwrap();
    assert_eq!(saved["version"], 2);
    assert_eq!(saved["incidents"]["a"]["open"], true);

    let second = ScriptedChannel::new("ch", Step::Ok);
    let run = start(&cfg, vec![second.clone()], dir.path(), tokio_clock());
    assert_eq!(run.sink.open_incidents(), 1);
    run.sink.offer(&opened(incident("a", 2, Severity::High, &["x"])));
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(second.delivered().is_empty(), "restart re-notified: {:?}", second.events());
    assert_eq!(alerts(&run.metrics, "ch", "suppressed"), 1);
    run.sink.offer(&Finding::IncidentResolved(Arc::new(incident("a", 2, Severity::High, &["x"]))));
    advance_until("resolved", Duration::from_secs(10), || second.delivered().len() == 1).await;
    assert_eq!(second.events(), vec![Event::Resolved]);
    run.stop().await;
}

/// The (event, fingerprint) of each webhook request.
fn notices(reqs: &[Recorded]) -> Vec<(String, String)> {
    let key = |r: &Recorded| {
        let v = r.json();
        (v["event"].as_str().unwrap().to_string(), v["incident"]["fingerprint"].as_str().unwrap().to_string())
    };
    reqs.iter().map(key).collect()
}

fn read_alerts_json(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("alerts.json")).unwrap()).unwrap()
}

/// Every (event, fingerprint) alerts.json says the channel accepted, in no particular order.
fn marked_sent(saved: &serde_json::Value, channel: &str) -> Vec<(String, String)> {
    let incidents = saved["incidents"].as_object().unwrap();
    let sent = |(fp, r): (&String, &serde_json::Value)| {
        r["sent"].get(channel).map(|s| (s["event"].as_str().unwrap().to_string(), fp.clone()))
    };
    incidents.iter().filter_map(sent).collect()
}

/// Issue 11 item 4: notices still queued at shutdown were dropped while alerts.json marked them
/// notified, so they were never sent.
#[tokio::test]
async fn notices_unaccepted_at_shutdown_are_kept_and_sent_once_after_a_restart() {
    let rec = Recorder::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = base_cfg();
    cfg.max_retries = 50;
    cfg.max_backoff_secs = 1;
    cfg.shutdown_drain_secs = 1;
    cfg.webhook.push(WebhookChannelConfig {
        name: "hook".into(),
        min_severity: Severity::Low,
        url_env: None,
        url_file: secret_file(dir.path(), "url", &rec.url("/hook")),
        secret_env: None,
        secret_file: None,
    });
    let clock = || Arc::new(FixedClock(ts("2026-03-01T10:05:00Z")));
    // The receiver takes the first 4 notices, then refuses everything until it is fixed.
    rec.script((0..4).map(|_| Reply { status: 200, retry_after: None }));
    rec.script((0..10_000).map(|_| Reply { status: 503, retry_after: None }));
    let fps: Vec<String> = (0..6).map(|i| format!("fp{i}")).collect();
    let run = start(&cfg, built(&cfg), dir.path(), clock());
    for fp in &fps {
        run.sink.offer(&opened(incident(fp, 1, Severity::High, &["x"])));
    }
    for fp in &fps {
        run.sink.offer(&Finding::IncidentResolved(Arc::new(incident(fp, 2, Severity::High, &["x"]))));
    }
    rec.wait_until("a refusal", Duration::from_secs(15), |r| r.len() > 4).await;
    let metrics = run.metrics.clone();
    run.stop().await;

    let accepted_first = notices(&rec.accepted());
    assert_eq!(accepted_first.len(), 4);
    assert_eq!(alerts(&metrics, "hook", "sent"), 4, "only accepted notices count as sent");
    assert_eq!(alerts(&metrics, "hook", "failed"), 0, "the unaccepted ones are kept, not given up");
    let saved = read_alerts_json(dir.path());
    let mut marked = marked_sent(&saved, "hook");
    marked.sort();
    let mut expected = accepted_first.clone();
    expected.sort();
    assert_eq!(marked, expected, "alerts.json marks exactly the accepted notices as sent");
    assert_eq!(saved["pending"].as_array().unwrap().len(), 12 - 4, "the rest is kept for the next start");

    // Restart with the receiver fixed: the kept notices arrive, none twice, nothing new is sent.
    rec.clear_script();
    let run = start(&cfg, built(&cfg), dir.path(), clock());
    rec.wait_until("every notice", Duration::from_secs(15), |_| rec.accepted().len() >= 12).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The pipeline reports the resolved incidents again after its own restart: still deduplicated.
    for fp in &fps {
        run.sink.offer(&Finding::IncidentResolved(Arc::new(incident(fp, 2, Severity::High, &["x"]))));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let metrics = run.metrics.clone();
    run.stop().await;
    let mut all = notices(&rec.accepted());
    all.sort();
    let mut expected: Vec<(String, String)> =
        fps.iter().flat_map(|fp| [("opened".to_string(), fp.clone()), ("resolved".to_string(), fp.clone())]).collect();
    expected.sort();
    assert_eq!(all, expected, "every notice arrived exactly once");
    assert_eq!(alerts(&metrics, "hook", "sent"), 8);
    let saved = read_alerts_json(dir.path());
    assert!(saved["pending"].as_array().unwrap().is_empty(), "{saved:#}");
    let mut marked = marked_sent(&saved, "hook");
    marked.sort();
    let resolved: Vec<(String, String)> = fps.iter().map(|fp| ("resolved".to_string(), fp.clone())).collect();
    assert_eq!(marked, resolved, "each incident's last accepted notice is its resolution");
}

/// Issue 11 item 4: a channel that stays down is given up on at shutdown after
/// `shutdown_drain_secs`, not after its whole retry budget.
#[tokio::test(start_paused = true)]
async fn the_shutdown_drain_is_bounded_and_retries_within_it() {
    let ch = ScriptedChannel::new("ch", Step::Fail(503, None));
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = paused_cfg(10);
    cfg.max_backoff_secs = 1;
    cfg.shutdown_drain_secs = 5;
    let run = start(&cfg, vec![ch.clone()], dir.path(), tokio_clock());
    run.sink.offer(&opened(incident("a", 1, Severity::High, &["x"])));
    tokio::time::sleep(Duration::from_millis(10)).await;
    let stopped = tokio::time::Instant::now();
    run.stop().await;
    let took = stopped.elapsed();
    assert!(took >= Duration::from_secs(5) && took < Duration::from_secs(6), "drained for {took:?}");
    assert!(ch.attempt_times().len() >= 5, "retried during the drain: {:?}", ch.attempt_times().len());
    let saved = read_alerts_json(dir.path());
    assert_eq!(saved["pending"].as_array().unwrap().len(), 1);
    assert!(marked_sent(&saved, "ch").is_empty());
}

// ---------------------------------------------------------------------------------------------
// Real Alertmanager
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_real_alertmanager_receives_the_alert_and_its_resolution() {
    let Some(bin) = required_env("ALERTMANAGER_BIN", "a_real_alertmanager_receives_the_alert_and_its_resolution")
    else {
        return;
    };
    let rec = Recorder::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (_am, port) = start_alertmanager(&bin, dir.path(), &rec.url("/am-webhook")).await;
    let mut cfg = base_cfg();
    cfg.alertmanager.push(AlertmanagerChannelConfig {
        name: String::new(),
        min_severity: Severity::Low,
        url: format!("http://127.0.0.1:{port}"),
        labels: [("team".to_string(), "web".to_string())].into(),
    });
    cfg.validate().unwrap();
    let metrics = Arc::new(Metrics::new());
    let shutdown = CancellationToken::new();
    let (sink, handle) = AlertSink::spawn(
        &cfg,
        dir.path(),
        Arc::new(Redactor::new(&anomaly_detector::config::RedactionConfig::default()).unwrap()),
        metrics.clone(),
        shutdown.clone(),
    )
    .unwrap();
    let mut inc = incident("fp-am", 17, Severity::Critical, &["GET /api/products?token=abc123 took 612 ms"]);
    let now = jiff::Timestamp::now();
    inc.first_seen = now - jiff::SignedDuration::from_secs(120);
    inc.last_seen = now;
    sink.offer(&opened(inc.clone()));

    let reqs = rec
        .wait_until("firing notification", Duration::from_secs(30), |r| {
            r.iter().any(|r| r.json()["status"] == "firing")
        })
        .await;
    let firing = reqs.iter().find(|r| r.json()["status"] == "firing").unwrap().json();
    let alert = &firing["alerts"][0];
    let labels = &alert["labels"];
    assert_eq!(labels["alertname"], "LogAnomaly");
    assert_eq!(labels["kind"], "response_time");
    assert_eq!(labels["severity"], "critical");
    assert_eq!(labels["endpoint"], "GET /api/products");
    assert_eq!(labels["fingerprint"], "fp-am");
    assert_eq!(labels["team"], "web");
    let summary = alert["annotations"]["summary"].as_str().unwrap();
    assert!(summary.contains("response_time anomaly on GET /api/products"), "{summary}");
    let description = alert["annotations"]["description"].as_str().unwrap();
    assert!(description.contains("17 anomalous lines") && description.contains("612 ms"), "{description}");
    assert!(!description.contains("abc123"), "redacted: {description}");
    assert!(alert["generatorURL"].as_str().unwrap().starts_with("http://grafana.example:3000/explore?"));
    assert_eq!(alerts(&metrics, "alertmanager", "sent"), 1);

    sink.offer(&Finding::IncidentResolved(Arc::new(inc)));
    let reqs = rec
        .wait_until("resolved notification", Duration::from_secs(30), |r| {
            r.iter().any(|r| r.json()["status"] == "resolved")
        })
        .await;
    let resolved = reqs.iter().find(|r| r.json()["status"] == "resolved").unwrap().json();
    assert_eq!(resolved["alerts"][0]["labels"]["fingerprint"], "fp-am");
    assert_eq!(resolved["alerts"][0]["status"], "resolved");
    shutdown.cancel();
    handle.await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// Real SMTP server
// ---------------------------------------------------------------------------------------------

fn email_cfg(port: u16, username: &str, password_file: Option<PathBuf>) -> EmailChannelConfig {
    EmailChannelConfig {
        name: String::new(),
        min_severity: Severity::Medium,
        host: "127.0.0.1".into(),
        port,
        tls: SmtpTls::None,
        username: username.into(),
        password_env: None,
        password_file,
        from: "Anomaly Detector <alerts@example.com>".into(),
        to: vec!["oncall@example.com".into()],
    }
}

#[tokio::test]
async fn a_real_smtp_server_receives_the_email_without_header_injection() {
    let (Some(python), Some(pythonpath)) = (
        required_env("AIOSMTPD_PYTHON", "a_real_smtp_server_receives_the_email_without_header_injection"),
        required_env("AIOSMTPD_PYTHONPATH", "a_real_smtp_server_receives_the_email_without_header_injection"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let maildir = dir.path().join("maildir");
    let (_smtp, port) = start_smtp_mailbox(&python, &pythonpath, &maildir).await;
    let mut cfg = base_cfg();
    cfg.email.push(email_cfg(port, "", None));
    cfg.validate().unwrap();
    let run = start(&cfg, built(&cfg), dir.path(), Arc::new(FixedClock(ts("2026-03-01T10:05:00Z"))));
    let mut inc = hostile_incident("fp-mail");
    inc.endpoint = "GET /x\r\nX-Injected: yes\r\nBcc: victim".into();
    run.sink.offer(&opened(inc));
    let mails = wait_for_mail(&python, &maildir, 1).await;
    let mail = &mails[0];
    let headers: Vec<String> =
        mail["headers"].as_array().unwrap().iter().map(|h| h[0].as_str().unwrap().to_lowercase()).collect();
    assert!(!headers.contains(&"x-injected".to_string()) && !headers.contains(&"bcc".to_string()), "{headers:?}");
    let subject = mail["subject"].as_str().unwrap();
    assert!(subject.starts_with("[HIGH] response_time anomaly on GET /x"), "{subject}");
    assert!(!subject.contains('\n') && !subject.contains('\r'));
    let plain = mail["plain"].as_str().unwrap();
    assert!(plain.contains("42 anomalous lines"), "{plain}");
    assert!(plain.contains("<!channel>"), "plain text shows the line as it was");
    assert!(plain.contains("http://grafana.example:3000/explore?"), "Explore link");
    let html = mail["html"].as_str().unwrap();
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;") && !html.contains("<script>"), "{html}");
    for body in [plain, html] {
        assert_no_secrets(body);
    }
    assert_eq!(alerts(&run.metrics, "email", "sent"), 1);
    run.stop().await;

    // tls = "starttls" never falls back to plain text when the server offers no STARTTLS.
    let mut strict = base_cfg();
    strict.email.push(EmailChannelConfig { tls: SmtpTls::Starttls, ..email_cfg(port, "", None) });
    let results = send_test_alert(&strict).await;
    let err = results[0].1.as_ref().unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    assert_eq!(read_maildir(&python, &maildir).len(), 1, "nothing sent in plain text");
}

#[tokio::test]
async fn smtp_login_with_good_and_bad_passwords() {
    let test = "smtp_login_with_good_and_bad_passwords";
    let (Some(python), Some(pythonpath)) =
        (required_env("AIOSMTPD_PYTHON", test), required_env("AIOSMTPD_PYTHONPATH", test))
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let maildir = dir.path().join("maildir");
    let (_smtp, port) = start_smtp_with_auth(&python, &pythonpath, dir.path(), &maildir, "bot", "correct horse").await;

    let mut good = base_cfg();
    good.email.push(email_cfg(port, "bot", secret_file(dir.path(), "good", "correct horse")));
    good.validate().unwrap();
    let results = send_test_alert(&good).await;
    assert!(results[0].1.is_ok(), "{:?}", results[0].1);
    let mails = wait_for_mail(&python, &maildir, 1).await;
    assert!(mails[0]["subject"].as_str().unwrap().starts_with("[TEST]"));

    let mut bad = base_cfg();
    bad.email.push(email_cfg(port, "bot", secret_file(dir.path(), "bad", "wrong password")));
    let results = send_test_alert(&bad).await;
    let err = results[0].1.as_ref().unwrap_err();
    assert_eq!(err.label(), "smtp_auth", "{err}");
    assert!(!err.is_retryable());
    assert!(!err.to_string().contains("wrong password"), "{err}");
    assert_eq!(read_maildir(&python, &maildir).len(), 1, "nothing delivered with a bad password");

    // Through the sink: a rejected login fails at once (no retries) and is counted.
    let metrics_run = start(&bad, built(&bad), dir.path(), Arc::new(FixedClock(ts("2026-03-01T10:05:00Z"))));
    metrics_run.sink.offer(&opened(incident("fp-auth", 1, Severity::High, &["x"])));
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while alerts(&metrics_run.metrics, "email", "failed") == 0 {
        assert!(std::time::Instant::now() < deadline, "login failure not counted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(alerts(&metrics_run.metrics, "email", "sent"), 0);
    metrics_run.stop().await;
}

//! What the `metrics` feature records: counters by outcome, error kind, event kind, format and
//! key, and the signature age histogram.
#![cfg(feature = "metrics")]

use mailgun_webhooks::testing::{json_body, now, sample_event_data, token};
use mailgun_webhooks::{HandlerError, MemoryReplayStore, Receiver, SigningKey, Verifier};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};

/// (name, labels, value) of each recorded metric.
type Recorded = (String, Vec<(String, String)>, DebugValue);

fn count(snapshot: &[Recorded], labels: &[(&str, &str)]) -> u64 {
    snapshot
        .iter()
        .filter(|(name, _, _)| name == "mailgun_webhooks_deliveries_total")
        .filter(|(_, l, _)| {
            labels
                .iter()
                .all(|(k, v)| l.iter().any(|(lk, lv)| lk == k && lv == v))
        })
        .map(|(_, _, v)| match v {
            DebugValue::Counter(n) => *n,
            other => panic!("not a counter: {other:?}"),
        })
        .sum()
}

#[test]
fn counters_by_outcome_error_kind_event_kind_format_and_key() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let key = SigningKey::new("metrics-key");
    metrics::with_local_recorder(&recorder, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let receiver = Receiver::new(Verifier::new(key.clone()), MemoryReplayStore::new());
            let ts = now();
            let body = json_body(
                &key,
                ts,
                &token(),
                sample_event_data("delivered", ts).unwrap(),
            );
            for _ in 0..2 {
                let _ = receiver
                    .receive(&body.content_type, &body.body, |_| async {
                        Ok::<_, HandlerError>(())
                    })
                    .await;
            }
            let failed = json_body(&key, ts, &token(), sample_event_data("failed", ts).unwrap());
            let _ = receiver
                .receive(&failed.content_type, &failed.body, |_| async {
                    Err::<(), _>("db down")
                })
                .await;
            let forged = json_body(
                &SigningKey::new("api-key"),
                ts,
                &token(),
                sample_event_data("delivered", ts).unwrap(),
            );
            for _ in 0..3 {
                let _ = receiver
                    .receive(&forged.content_type, &forged.body, |_| async {
                        Ok::<_, HandlerError>(())
                    })
                    .await;
            }
        });
    });
    let snapshot: Vec<_> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(k, _, _, v)| {
            let key = k.key();
            let labels = key
                .labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect::<Vec<_>>();
            (key.name().to_owned(), labels, v)
        })
        .collect();
    // Processed (or processed_unproven: the store was created in the signature's second).
    let delivered = [
        ("payload_kind", "event"),
        ("event_kind", "delivered"),
        ("format", "json"),
        ("key", "primary"),
        ("error_kind", "none"),
    ];
    assert_eq!(count(&snapshot, &delivered), 2, "{snapshot:?}");
    assert_eq!(
        count(
            &snapshot,
            &[("outcome", "duplicate"), ("event_kind", "delivered")]
        ),
        1
    );
    assert_eq!(
        count(
            &snapshot,
            &[
                ("error_kind", "handler"),
                ("event_kind", "failed"),
                ("key", "primary")
            ]
        ),
        1
    );
    assert_eq!(
        count(
            &snapshot,
            &[
                ("error_kind", "signature_mismatch"),
                ("key", "none"),
                ("format", "unknown")
            ]
        ),
        3
    );
    assert_eq!(count(&snapshot, &[]), 6);
    let ages: Vec<f64> = snapshot
        .iter()
        .filter(|(n, _, _)| n == "mailgun_webhooks_signature_age_seconds")
        .flat_map(|(_, _, v)| match v {
            DebugValue::Histogram(h) => h.iter().map(|x| x.into_inner()).collect::<Vec<_>>(),
            _ => vec![],
        })
        .collect();
    // Recorded once per verified delivery (3), never for a forged one.
    assert_eq!(ages.len(), 3, "{ages:?}");
    assert!(ages.iter().all(|a| (-1.0..60.0).contains(a)), "{ages:?}");

    // One replay-store timing per call: three reserves (fresh, duplicate, fresh), one commit,
    // one release; none for the forged deliveries, which never reach the store.
    let store_calls = |op: &str, result: &str| -> usize {
        snapshot
            .iter()
            .filter(|(n, l, _)| {
                n == "mailgun_webhooks_replay_store_seconds"
                    && l.iter().any(|(k, v)| k == "op" && v == op)
                    && l.iter().any(|(k, v)| k == "result" && v == result)
            })
            .map(|(_, _, v)| match v {
                DebugValue::Histogram(h) => h.len(),
                other => panic!("not a histogram: {other:?}"),
            })
            .sum()
    };
    let fresh = store_calls("reserve", "fresh") + store_calls("reserve", "fresh_unproven");
    assert_eq!(fresh, 2, "{snapshot:?}");
    assert_eq!(store_calls("reserve", "duplicate"), 1);
    assert_eq!(store_calls("commit", "ok"), 1);
    assert_eq!(store_calls("release", "ok"), 1);
    let all_store_calls: usize = snapshot
        .iter()
        .filter(|(n, _, _)| n == "mailgun_webhooks_replay_store_seconds")
        .map(|(_, _, v)| match v {
            DebugValue::Histogram(h) => h.len(),
            _ => 0,
        })
        .sum();
    assert_eq!(all_store_calls, 5, "{snapshot:?}");
}

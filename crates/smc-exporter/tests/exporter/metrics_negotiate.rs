//! Content negotiation: which exposition format an `Accept` header gets.

use smc_exporter::metrics::{Format, content_type, gzip_acceptable, negotiate};

const PROMETHEUS_3: &str = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,\
application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,\
text/plain;version=0.0.4;q=0.3,*/*;q=0.2";

#[test]
fn negotiation_table() {
    use Format::{OpenMetrics as OM, Text};
    let cases: &[(Option<&str>, Format)] = &[
        (Some(PROMETHEUS_3), OM),
        // Prometheus 2.x default.
        (
            Some(
                "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
            ),
            OM,
        ),
        // Prometheus with scrape_protocols: [PrometheusText0.0.4].
        (Some("text/plain;version=0.0.4"), Text),
        (Some("text/plain"), Text),
        (None, Text),
        (Some(""), Text),
        (Some("garbage"), Text),
        (Some(";;;,,,=="), Text),
        (Some("*/*"), Text),
        (Some("text/*"), Text),
        (Some("application/openmetrics-text;version=1.0.0;q=0"), Text),
        (
            Some("application/openmetrics-text; version=1.0.0; q=0, text/plain"),
            Text,
        ),
        (Some("application/openmetrics-text"), OM),
        (Some("application/openmetrics-text;version=0.0.1"), OM),
        (Some("Application/OpenMetrics-Text; Version=1.0.0"), OM),
        // A version we do not produce is not acceptable as OpenMetrics.
        (Some("application/openmetrics-text;version=2.0.0"), Text),
        // Equal weight: OpenMetrics wins the tie.
        (
            Some("text/plain;q=0.5,application/openmetrics-text;q=0.5"),
            OM,
        ),
        // Text ranked higher.
        (
            Some("application/openmetrics-text;q=0.4,text/plain;q=0.5"),
            Text,
        ),
        (Some("application/openmetrics-text;q=0.5,*/*"), Text),
        // Invalid q: that element is ignored.
        (Some("application/openmetrics-text;q=abc"), Text),
        (
            Some("application/openmetrics-text;q=1.5,text/plain;q=0.1"),
            Text,
        ),
        // Protobuf is not offered by this exporter: fall back to text.
        (
            Some(
                "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited",
            ),
            Text,
        ),
    ];
    for (accept, want) in cases {
        assert_eq!(negotiate(*accept), *want, "Accept: {accept:?}");
    }
}

#[test]
fn content_types() {
    assert_eq!(
        content_type(Format::OpenMetrics),
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    assert_eq!(
        content_type(Format::Text),
        "text/plain; version=0.0.4; charset=utf-8"
    );
}

#[test]
fn gzip_negotiation() {
    assert!(gzip_acceptable(Some("gzip")));
    assert!(gzip_acceptable(Some("gzip, deflate, br")));
    assert!(gzip_acceptable(Some("identity;q=0.5, GZIP;q=0.8")));
    assert!(gzip_acceptable(Some("*;q=0.1")));
    assert!(!gzip_acceptable(Some("gzip;q=0")));
    assert!(!gzip_acceptable(Some("identity")));
    assert!(!gzip_acceptable(Some("")));
    assert!(!gzip_acceptable(None));
}

//! `/metrics`: the API server's Prometheus metrics.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::cache::WatchCache;

/// Labels of a request: its HTTP method and status code.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// GET, POST, ...
    pub method: String,
    /// HTTP status code.
    pub code: String,
}

/// Labels of a request's duration: its method.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MethodLabels {
    /// GET, POST, ...
    pub method: String,
}

/// The API server's metrics, named after upstream's where upstream has one.
pub struct Metrics {
    registry: Mutex<Registry>,
    requests: Family<RequestLabels, Counter>,
    durations: Family<MethodLabels, Histogram>,
    cache_hits: Gauge,
    cache_misses: Gauge,
    cache: Arc<WatchCache>,
}

impl Metrics {
    /// Registers every metric.
    pub fn new(cache: Arc<WatchCache>) -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "apiserver_request",
            "Requests served, by method and status code",
            requests.clone(),
        );
        let durations = Family::<MethodLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0,
            ])
        });
        registry.register(
            "apiserver_request_duration_seconds",
            "Time to answer a request (a watch: to start streaming)",
            durations.clone(),
        );
        let cache_hits = Gauge::default();
        registry.register(
            "bosun_watch_cache_hits",
            "Lists and watches served from the watch cache",
            cache_hits.clone(),
        );
        let cache_misses = Gauge::default();
        registry.register(
            "bosun_watch_cache_misses",
            "Lists and watches the watch cache passed to the store",
            cache_misses.clone(),
        );
        Metrics {
            registry: Mutex::new(registry),
            requests,
            durations,
            cache_hits,
            cache_misses,
            cache,
        }
    }

    /// Records one answered request.
    pub fn observe(&self, method: &str, code: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_string(),
                code: code.to_string(),
            })
            .inc();
        self.durations
            .get_or_create(&MethodLabels {
                method: method.to_string(),
            })
            .observe(seconds);
    }

    /// The metrics in Prometheus' text format.
    pub fn render(&self) -> String {
        self.cache_hits
            .set(self.cache.hits.load(Ordering::Relaxed) as i64);
        self.cache_misses
            .set(self.cache.misses.load(Ordering::Relaxed) as i64);
        let mut out = String::new();
        let registry = self.registry.lock().expect("metrics registry lock");
        let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        out
    }
}

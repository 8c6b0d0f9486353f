//! One render shared by concurrent scrapes ("single flight").
//!
//! A scrape gets a render that **started after the scrape arrived**, so it
//! reflects everything the store published before the request came in: no
//! scrape is answered with state older than itself, and a client that saw a
//! change (say `/-/ready` turning 200) and then scrapes sees that change.
//!
//! Per [`Variant`] (format × gzip) at most one render runs at a time, on its
//! own thread (so at most four render threads exist). A request that arrives
//! while no render of its variant runs starts one. A request that arrives
//! while one runs cannot use it (it started too early), so it joins the single
//! *next* render, which starts the moment the running one ends; every request
//! arriving meanwhile joins that same next render. However many scrapes
//! arrive together, a variant renders at most twice for them, and all the
//! requests of one render share its [`Bytes`] (no copy per response).
//!
//! Renders run on dedicated threads rather than tokio's blocking pool, so a
//! scrape never queues behind blocking DNS lookups (every WebSocket connect to
//! a host name does one there).

use std::panic::{AssertUnwindSafe, catch_unwind};
#[cfg(test)]
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::watch;

use crate::metrics::Format;

/// What one render produces: the body, and whether it is gzip-compressed
/// (a failed compression falls back to the plain body).
#[derive(Debug, Clone)]
pub(super) struct Rendered {
    pub body: Bytes,
    pub gzipped: bool,
}

/// One kind of response body: the exposition format and whether the client
/// accepts gzip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Variant {
    pub format: Format,
    pub gzip: bool,
}

impl Variant {
    const COUNT: usize = 4;

    fn index(self) -> usize {
        let f = match self.format {
            Format::Text => 0,
            Format::OpenMetrics => 1,
        };
        f * 2 + usize::from(self.gzip)
    }
}

/// Renders a variant of the current state. Runs on a render thread.
pub(super) type RenderFn = Arc<dyn Fn(Variant) -> Rendered + Send + Sync>;

/// Why a request got no body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum RenderError {
    #[error("the render panicked")]
    Panicked,
    #[error("cannot start a render thread: {0}")]
    Spawn(String),
}

type Outcome = Result<Rendered, RenderError>;

/// One render that requests wait for.
struct Slot {
    tx: watch::Sender<Option<Outcome>>,
}

impl Slot {
    fn new() -> Slot {
        Slot {
            tx: watch::Sender::new(None),
        }
    }
}

/// The state of one variant.
#[derive(Default)]
struct Lane {
    /// A render thread is working on this variant.
    running: bool,
    /// The render that starts when the running one ends, with its waiters.
    next: Option<Slot>,
}

/// The shared renders of every variant. Cheap to share (`Arc`).
pub(super) struct SingleFlight {
    lanes: [Mutex<Lane>; Variant::COUNT],
    render: RenderFn,
    /// Renders completed (tests count them).
    #[cfg(test)]
    renders: AtomicU64,
}

/// The lane state stays consistent even if a holder panicked (every critical
/// section is a few assignments), so a poisoned lock is simply taken over.
fn lock(lane: &Mutex<Lane>) -> MutexGuard<'_, Lane> {
    lane.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl SingleFlight {
    pub(super) fn new(render: RenderFn) -> Arc<SingleFlight> {
        Arc::new(SingleFlight {
            lanes: Default::default(),
            render,
            #[cfg(test)]
            renders: AtomicU64::new(0),
        })
    }

    /// Renders completed so far (all variants).
    #[cfg(test)]
    pub(super) fn renders(&self) -> u64 {
        self.renders.load(Ordering::Relaxed)
    }

    /// A render of `v` that started after this call.
    pub(super) async fn get(self: &Arc<Self>, v: Variant) -> Outcome {
        let mut rx = self.join(v)?;
        match rx.wait_for(Option::is_some).await {
            Ok(done) => done.clone().unwrap_or(Err(RenderError::Panicked)),
            // The sender went away without a result: only if the render
            // thread died outside the render itself.
            Err(_) => Err(RenderError::Panicked),
        }
    }

    /// Start a render of `v`, or join the next one if one is running.
    fn join(self: &Arc<Self>, v: Variant) -> Result<watch::Receiver<Option<Outcome>>, RenderError> {
        let mut lane = lock(&self.lanes[v.index()]);
        if lane.running {
            return Ok(lane.next.get_or_insert_with(Slot::new).tx.subscribe());
        }
        let slot = Slot::new();
        let rx = slot.tx.subscribe();
        let me = Arc::clone(self);
        std::thread::Builder::new()
            .name("metrics-render".into())
            .spawn(move || me.work(v, slot))
            .map_err(|e| RenderError::Spawn(e.to_string()))?;
        lane.running = true;
        Ok(rx)
    }

    /// The render thread of one lane: render, hand the result to the
    /// waiters, and go on with the next render while requests queued for one.
    fn work(&self, v: Variant, mut slot: Slot) {
        loop {
            let out = catch_unwind(AssertUnwindSafe(|| (self.render)(v))).map_err(|_| {
                tracing::error!("rendering /metrics panicked");
                RenderError::Panicked
            });
            #[cfg(test)]
            self.renders.fetch_add(1, Ordering::Relaxed);
            slot.tx.send_replace(Some(out));
            let mut lane = lock(&self.lanes[v.index()]);
            match lane.next.take() {
                Some(next) => slot = next,
                None => {
                    lane.running = false;
                    return;
                }
            }
        }
    }

    /// Requests waiting for the next render of `v` (tests: a readiness signal).
    #[cfg(test)]
    pub(super) fn queued(&self, v: Variant) -> usize {
        lock(&self.lanes[v.index()])
            .next
            .as_ref()
            .map_or(0, |s| s.tx.receiver_count())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use tokio::task::JoinSet;

    use super::*;

    const TEXT: Variant = Variant {
        format: Format::Text,
        gzip: false,
    };
    const WAIT: Duration = Duration::from_secs(10);

    /// A render function the test drives: each render announces its number
    /// (1, 2, ...) on `started`, then waits for a `release`, then returns the
    /// body `render N`. A release of `false` makes it panic.
    struct Gate {
        started: tokio::sync::mpsc::UnboundedReceiver<u64>,
        release: mpsc::Sender<bool>,
    }

    fn gated() -> (Arc<SingleFlight>, Gate) {
        let (started_tx, started) = tokio::sync::mpsc::unbounded_channel();
        let (release, release_rx) = mpsc::channel::<bool>();
        let release_rx = Mutex::new(release_rx);
        let n = AtomicU64::new(0);
        let render: RenderFn = Arc::new(move |_v| {
            let i = n.fetch_add(1, Ordering::Relaxed) + 1;
            let _ = started_tx.send(i);
            let go = release_rx
                .lock()
                .unwrap()
                .recv_timeout(WAIT)
                .expect("the test released the render");
            assert!(go, "render {i} told to fail");
            Rendered {
                body: Bytes::from(format!("render {i}")),
                gzipped: false,
            }
        });
        (SingleFlight::new(render), Gate { started, release })
    }

    impl Gate {
        async fn started(&mut self) -> u64 {
            tokio::time::timeout(WAIT, self.started.recv())
                .await
                .expect("a render started")
                .expect("render function alive")
        }
    }

    /// Wait (bounded) until `n` requests are queued for the next render.
    async fn queued(f: &SingleFlight, v: Variant, n: usize) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while f.queued(v) < n {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{n} requests never queued"
            );
            tokio::task::yield_now().await;
        }
        assert_eq!(f.queued(v), n);
    }

    fn spawn_gets(set: &mut JoinSet<Outcome>, f: &Arc<SingleFlight>, v: Variant, n: usize) {
        for _ in 0..n {
            let f = Arc::clone(f);
            set.spawn(async move { f.get(v).await });
        }
    }

    async fn bodies(set: JoinSet<Outcome>) -> Vec<Bytes> {
        set.join_all()
            .await
            .into_iter()
            .map(|r| r.unwrap().body)
            .collect()
    }

    #[tokio::test]
    async fn requests_arriving_during_a_render_share_exactly_one_next_render() {
        let (f, mut gate) = gated();
        let mut first = JoinSet::new();
        spawn_gets(&mut first, &f, TEXT, 1);
        assert_eq!(gate.started().await, 1);

        // 50 requests arrive while render 1 runs: none may use render 1.
        let mut during_1 = JoinSet::new();
        spawn_gets(&mut during_1, &f, TEXT, 50);
        queued(&f, TEXT, 50).await;
        gate.release.send(true).unwrap();
        assert_eq!(bodies(first).await, [Bytes::from("render 1")]);

        // Render 2 starts at once for the 50; 30 more arrive during it.
        assert_eq!(gate.started().await, 2);
        let mut during_2 = JoinSet::new();
        spawn_gets(&mut during_2, &f, TEXT, 30);
        queued(&f, TEXT, 30).await;
        gate.release.send(true).unwrap();
        let got = bodies(during_1).await;
        assert_eq!(got.len(), 50);
        for b in &got {
            assert_eq!(b, "render 2");
            // The very same buffer, not a copy per request.
            assert_eq!(b.as_ptr(), got[0].as_ptr());
        }

        assert_eq!(gate.started().await, 3);
        gate.release.send(true).unwrap();
        let got = bodies(during_2).await;
        assert_eq!(got.len(), 30);
        assert!(got.iter().all(|b| b == "render 3"));
        assert_eq!(f.renders(), 3, "81 requests, 3 renders");
        assert_eq!(f.queued(TEXT), 0);
    }

    #[tokio::test]
    async fn a_request_after_a_render_ended_gets_a_new_render() {
        let (f, mut gate) = gated();
        for i in 1..=3 {
            let get = tokio::spawn({
                let f = Arc::clone(&f);
                async move { f.get(TEXT).await }
            });
            assert_eq!(gate.started().await, i);
            gate.release.send(true).unwrap();
            let body = get.await.unwrap().unwrap().body;
            assert_eq!(body, format!("render {i}"));
        }
        assert_eq!(f.renders(), 3);
    }

    #[tokio::test]
    async fn variants_render_separately() {
        let (f, mut gate) = gated();
        let gz = Variant {
            format: Format::OpenMetrics,
            gzip: true,
        };
        let mut set = JoinSet::new();
        spawn_gets(&mut set, &f, TEXT, 1);
        assert_eq!(gate.started().await, 1);
        // A different variant does not wait for the running text render.
        spawn_gets(&mut set, &f, gz, 1);
        assert_eq!(gate.started().await, 2);
        assert_eq!(f.queued(TEXT), 0);
        assert_eq!(f.queued(gz), 0);
        gate.release.send(true).unwrap();
        gate.release.send(true).unwrap();
        let mut got = bodies(set).await;
        got.sort();
        assert_eq!(got, [Bytes::from("render 1"), Bytes::from("render 2")]);
    }

    #[tokio::test]
    async fn a_panicking_render_fails_its_requests_and_the_next_one_renders_again() {
        let (f, mut gate) = gated();
        let mut set = JoinSet::new();
        spawn_gets(&mut set, &f, TEXT, 1);
        assert_eq!(gate.started().await, 1);
        spawn_gets(&mut set, &f, TEXT, 5);
        queued(&f, TEXT, 5).await;
        gate.release.send(false).unwrap();
        // Render 2 (for the five) also panics.
        assert_eq!(gate.started().await, 2);
        gate.release.send(false).unwrap();
        let results = set.join_all().await;
        assert_eq!(results.len(), 6);
        assert!(
            results
                .iter()
                .all(|r| r.as_ref().unwrap_err() == &RenderError::Panicked)
        );

        // The lane is not wedged: a later request renders normally.
        let get = tokio::spawn({
            let f = Arc::clone(&f);
            async move { f.get(TEXT).await }
        });
        assert_eq!(gate.started().await, 3);
        gate.release.send(true).unwrap();
        assert_eq!(get.await.unwrap().unwrap().body, "render 3");
    }
}

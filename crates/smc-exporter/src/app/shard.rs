//! Sharding across replicas (kube-state-metrics' `--shard` /
//! `--total-shards`, and its auto-sharding from a StatefulSet pod name).
//!
//! A replica keeps the engines whose stable hash falls in its shard: the
//! hash is xxh3-64 of `smc name`, a NUL byte, `engine name` (the same on
//! every replica and every release, unlike the per-process random key of
//! the fold's fingerprints), modulo the shard count. Alert domains are not
//! engines: only shard 0 subscribes them, so each is served once.

use xxhash_rust::xxh3::xxh3_64;

/// Which part of the engines this replica serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    ordinal: u32,
    total: u32,
}

impl Default for Shard {
    /// Not sharded: one replica serves everything.
    fn default() -> Self {
        Shard {
            ordinal: 0,
            total: 1,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    #[error("--total-shards: must be at least 1")]
    NoShards,
    #[error("--shard: {ordinal} is not less than --total-shards ({total})")]
    OutOfRange { ordinal: u32, total: u32 },
    #[error("--shard: needs --total-shards")]
    OrdinalWithoutTotal,
    #[error("--pod: {pod:?} does not end in a StatefulSet ordinal (NAME-N); pass --shard instead")]
    NoOrdinal { pod: String },
}

impl Shard {
    /// Shard `ordinal` of `total`.
    pub fn new(ordinal: u32, total: u32) -> Result<Shard, ShardError> {
        if total == 0 {
            return Err(ShardError::NoShards);
        }
        if ordinal >= total {
            return Err(ShardError::OutOfRange { ordinal, total });
        }
        Ok(Shard { ordinal, total })
    }

    /// From the command line: `--shard` wins over the pod name; with
    /// `--total-shards` only, the ordinal is the pod's (the number after
    /// the last `-` of `--pod` / `POD_NAME`); with neither, not sharded.
    pub fn from_flags(
        shard: Option<u32>,
        total: Option<u32>,
        pod: Option<&str>,
    ) -> Result<Shard, ShardError> {
        match (shard, total) {
            (_, None) if shard.is_some() => Err(ShardError::OrdinalWithoutTotal),
            (None, None) => Ok(Shard::default()),
            (Some(n), Some(m)) => Shard::new(n, m),
            (None, Some(m)) => match pod {
                None => Shard::new(0, m),
                Some(p) => {
                    let n =
                        pod_ordinal(p).ok_or_else(|| ShardError::NoOrdinal { pod: p.into() })?;
                    Shard::new(n, m)
                }
            },
            (Some(_), None) => Err(ShardError::OrdinalWithoutTotal),
        }
    }

    pub fn ordinal(&self) -> u32 {
        self.ordinal
    }

    pub fn total(&self) -> u32 {
        self.total
    }

    /// Whether this replica serves `engine` of `smc`.
    pub fn keeps_engine(&self, smc: &str, engine: &str) -> bool {
        self.total <= 1 || engine_shard(smc, engine, self.total) == self.ordinal
    }

    /// Whether this replica serves alert domains (shard 0 only).
    pub fn keeps_alert_domains(&self) -> bool {
        self.ordinal == 0
    }
}

/// The shard of `engine` of `smc` among `total` shards.
pub fn engine_shard(smc: &str, engine: &str, total: u32) -> u32 {
    let mut key = Vec::with_capacity(smc.len() + 1 + engine.len());
    key.extend_from_slice(smc.as_bytes());
    key.push(0);
    key.extend_from_slice(engine.as_bytes());
    // Lossless: the remainder is below `total`, a u32.
    u32::try_from(xxh3_64(&key) % u64::from(total.max(1))).unwrap_or(0)
}

/// The StatefulSet ordinal of a pod name: the decimal number after its last
/// `-` (`smc-exporter-2` → 2).
pub fn pod_ordinal(pod: &str) -> Option<u32> {
    let (_, n) = pod.trim().rsplit_once('-')?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    n.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_ordinal_is_the_number_after_the_last_dash() {
        assert_eq!(pod_ordinal("smc-exporter-0"), Some(0));
        assert_eq!(pod_ordinal("smc-exporter-12"), Some(12));
        assert_eq!(pod_ordinal("a-b-c-7"), Some(7));
        assert_eq!(pod_ordinal("smc-exporter"), None);
        assert_eq!(pod_ordinal("smc-exporter-"), None);
        assert_eq!(pod_ordinal("smc-exporter-+1"), None);
        assert_eq!(pod_ordinal("smc-exporter-99999999999"), None);
        assert_eq!(pod_ordinal("7"), None);
    }

    #[test]
    fn flags_are_validated_like_kube_state_metrics() {
        assert_eq!(Shard::from_flags(None, None, None), Ok(Shard::default()));
        assert_eq!(
            Shard::from_flags(Some(2), Some(3), None).map(|s| s.ordinal()),
            Ok(2)
        );
        assert_eq!(
            Shard::from_flags(Some(3), Some(3), None)
                .unwrap_err()
                .to_string(),
            "--shard: 3 is not less than --total-shards (3)"
        );
        assert_eq!(
            Shard::from_flags(Some(0), Some(0), None)
                .unwrap_err()
                .to_string(),
            "--total-shards: must be at least 1"
        );
        assert_eq!(
            Shard::from_flags(Some(1), None, None)
                .unwrap_err()
                .to_string(),
            "--shard: needs --total-shards"
        );
        // Auto-sharding: the pod's ordinal; an explicit --shard wins.
        assert_eq!(
            Shard::from_flags(None, Some(3), Some("x-2")),
            Ok(Shard::new(2, 3).unwrap())
        );
        assert_eq!(
            Shard::from_flags(Some(1), Some(3), Some("x-2")),
            Ok(Shard::new(1, 3).unwrap())
        );
        assert_eq!(
            Shard::from_flags(None, Some(3), Some("x-5"))
                .unwrap_err()
                .to_string(),
            "--shard: 5 is not less than --total-shards (3)"
        );
        assert_eq!(
            Shard::from_flags(None, Some(3), Some("exporter"))
                .unwrap_err()
                .to_string(),
            "--pod: \"exporter\" does not end in a StatefulSet ordinal (NAME-N); pass --shard instead"
        );
    }

    #[test]
    fn the_hash_is_stable_and_every_engine_is_in_exactly_one_shard() {
        // Pinned: replicas of different builds must agree.
        assert_eq!(
            engine_shard("smc-a", "fw-001", 3),
            engine_shard("smc-a", "fw-001", 3)
        );
        let pinned: Vec<u32> = (1..=12)
            .map(|i| engine_shard("smc-a", &format!("fw-{i:03}"), 3))
            .collect();
        assert_eq!(pinned, PINNED);
        let shards: Vec<Shard> = (0..3).map(|n| Shard::new(n, 3).unwrap()).collect();
        let mut per_shard = [0usize; 3];
        for i in 0..300 {
            let e = format!("fw-{i:03}");
            let owners: Vec<u32> = shards
                .iter()
                .filter(|s| s.keeps_engine("smc-a", &e))
                .map(|s| s.ordinal())
                .collect();
            assert_eq!(owners.len(), 1, "{e}: {owners:?}");
            per_shard[owners[0] as usize] += 1;
        }
        // Spread: no shard is empty or holds most engines.
        assert!(
            per_shard.iter().all(|n| (60..=140).contains(n)),
            "{per_shard:?}"
        );
        // The SMC name is part of the key (NUL-separated: no ambiguity).
        assert!(Shard::default().keeps_engine("smc-a", "anything"));
        assert!(shards[0].keeps_alert_domains());
        assert!(!shards[1].keeps_alert_domains());
    }

    // xxh3-64 of "smc-a\0fw-001" … "smc-a\0fw-012", mod 3.
    const PINNED: [u32; 12] = [0, 2, 2, 2, 1, 1, 1, 2, 2, 1, 0, 2];
}

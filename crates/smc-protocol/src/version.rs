//! SMC API versions: parsing `"7.1"`, the range this exporter speaks, and
//! the pre-7.0 naming (`BLACKLIST`).

/// Parse an SMC API version string (`"7.1"`) into (major, minor).
pub fn parse_api_version(s: &str) -> Option<(u32, u32)> {
    let (a, b) = s.trim().split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// API versions this exporter speaks, oldest first. Session monitoring needs 6.3+.
pub const SUPPORTED_API_VERSIONS: ((u32, u32), (u32, u32)) = ((6, 3), (7, 99));

/// Whether an API version is within [`SUPPORTED_API_VERSIONS`].
pub fn api_version_supported(v: (u32, u32)) -> bool {
    v >= SUPPORTED_API_VERSIONS.0 && v <= SUPPORTED_API_VERSIONS.1
}

/// Below 7.0 the block list is called BLACKLIST.
pub fn is_legacy_api(v: (u32, u32)) -> bool {
    v < (7, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_versions() {
        assert_eq!(parse_api_version("6.10"), Some((6, 10)));
        assert!(parse_api_version("7").is_none());
        assert!(api_version_supported((7, 1)));
        assert!(!api_version_supported((6, 2)));
        assert!(is_legacy_api((6, 10)));
    }
}

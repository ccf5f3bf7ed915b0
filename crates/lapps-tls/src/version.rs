//! The `tls_server_version` / `tls_client_version` policy.

use rustls::SupportedProtocolVersion;
use rustls::version::{TLS12, TLS13};

use crate::error::TlsError;

/// The TLS protocol versions a server offers or a client accepts.
///
/// LAppS configures them with a number, `tls_server_version` and `tls_client_version`
/// ([`from_lapps`](Self::from_lapps)). lapps reads `3` as "TLS 1.2 or newer", where LAppS read
/// it as TLS 1.2 only, and rejects values other than 3 and 4, where LAppS fell back to 4.
#[derive(Clone, Copy, Debug, Default, Eq, Hash, PartialEq)]
pub enum TlsVersions {
    /// TLS 1.2 and TLS 1.3; the setting `3`, and the default.
    #[default]
    Tls12OrNewer,
    /// TLS 1.3 only; the setting `4`.
    Tls13Only,
}

impl TlsVersions {
    /// Reads a `tls_server_version` or `tls_client_version` setting: `3` or `4`.
    ///
    /// # Errors
    ///
    /// [`TlsError::InvalidVersion`] for any other value.
    ///
    /// # Examples
    ///
    /// ```
    /// use lapps_tls::TlsVersions;
    ///
    /// assert_eq!(TlsVersions::from_lapps(3)?, TlsVersions::Tls12OrNewer);
    /// assert_eq!(TlsVersions::from_lapps(4)?, TlsVersions::Tls13Only);
    /// assert!(TlsVersions::from_lapps(2).is_err());
    /// # Ok::<(), lapps_tls::TlsError>(())
    /// ```
    pub const fn from_lapps(setting: i64) -> Result<Self, TlsError> {
        match setting {
            3 => Ok(Self::Tls12OrNewer),
            4 => Ok(Self::Tls13Only),
            other => Err(TlsError::InvalidVersion(other)),
        }
    }

    /// Returns the setting that selects these versions: `3` or `4`.
    pub const fn to_lapps(self) -> i64 {
        match self {
            Self::Tls12OrNewer => 3,
            Self::Tls13Only => 4,
        }
    }

    /// Returns the versions in rustls' form, newest first.
    pub const fn protocol_versions(self) -> &'static [&'static SupportedProtocolVersion] {
        match self {
            Self::Tls12OrNewer => TLS12_OR_NEWER,
            Self::Tls13Only => TLS13_ONLY,
        }
    }
}

const TLS12_OR_NEWER: &[&SupportedProtocolVersion] = &[&TLS13, &TLS12];
const TLS13_ONLY: &[&SupportedProtocolVersion] = &[&TLS13];

#[cfg(test)]
mod tests {
    use rustls::ProtocolVersion;

    use super::*;

    fn versions(setting: i64) -> Vec<ProtocolVersion> {
        TlsVersions::from_lapps(setting)
            .unwrap()
            .protocol_versions()
            .iter()
            .map(|v| v.version)
            .collect()
    }

    #[test]
    fn three_offers_tls12_and_tls13() {
        assert_eq!(
            versions(3),
            [ProtocolVersion::TLSv1_3, ProtocolVersion::TLSv1_2]
        );
    }

    #[test]
    fn four_offers_tls13_only() {
        assert_eq!(versions(4), [ProtocolVersion::TLSv1_3]);
    }

    #[test]
    fn other_settings_are_rejected() {
        for setting in [i64::MIN, -3, 0, 1, 2, 5, 13, i64::MAX] {
            assert!(matches!(
                TlsVersions::from_lapps(setting),
                Err(TlsError::InvalidVersion(v)) if v == setting
            ));
        }
    }

    #[test]
    fn default_is_setting_three() {
        assert_eq!(TlsVersions::default().to_lapps(), 3);
        assert_eq!(TlsVersions::from_lapps(4).unwrap().to_lapps(), 4);
    }
}

//! Platforms: manifold's [`Platform`] (every field a string, kept exactly), the platform an
//! image config describes ([`ImageConfig`]), and Go's name for the architecture manifold runs on.

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};

/// A platform as it appears in index entries and image configs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    /// CPU architecture (`amd64`, `arm64`, ...).
    #[serde(default)]
    pub architecture: String,
    /// Operating system (`linux`, `windows`, ...).
    #[serde(default)]
    pub os: String,
    /// OS version (Windows).
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub os_version: String,
    /// OS features.
    #[serde(rename = "os.features", default, skip_serializing_if = "Vec::is_empty")]
    pub os_features: Vec<String>,
    /// CPU variant (`v7`, `v8`, ...).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub variant: String,
    /// Docker-only CPU features.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<String>,
}

impl Platform {
    /// True when no field is set.
    pub fn is_empty(&self) -> bool {
        *self == Platform::default()
    }
}

impl From<&oci_spec::image::Platform> for Platform {
    fn from(p: &oci_spec::image::Platform) -> Self {
        Platform {
            architecture: p.architecture().to_string(),
            os: p.os().to_string(),
            os_version: p.os_version().clone().unwrap_or_default(),
            os_features: p.os_features().clone().unwrap_or_default(),
            variant: p.variant().clone().unwrap_or_default(),
            features: p.features().clone().unwrap_or_default(),
        }
    }
}

/// The platform fields of an image config blob, and nothing else of it.
///
/// Every field may be missing: a config is read only for its platform, so nothing else in it
/// (a layerless image's missing `rootfs.diff_ids`, an odd container setting) can fail the read.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ImageConfig {
    /// CPU architecture.
    #[serde(default)]
    pub architecture: String,
    /// Operating system.
    #[serde(default)]
    pub os: String,
    /// OS version.
    #[serde(rename = "os.version", default)]
    pub os_version: String,
    /// OS features.
    #[serde(rename = "os.features", default)]
    pub os_features: Vec<String>,
    /// CPU variant.
    #[serde(default)]
    pub variant: String,
}

impl ImageConfig {
    /// Parses a config blob.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        serde_json::from_slice(bytes)
            .map_err(|e| Error::new(ErrorKind::BadContent, format!("parsing image config: {e}")))
    }

    /// The platform this config describes.
    pub fn platform(&self) -> Platform {
        Platform {
            architecture: self.architecture.clone(),
            os: self.os.clone(),
            os_version: self.os_version.clone(),
            os_features: self.os_features.clone(),
            variant: self.variant.clone(),
            features: Vec::new(),
        }
    }
}

/// Go's name for the architecture manifold runs on (`GOARCH`, `docs/go-compat.md#goarch-names`).
///
/// Not oci-spec's `Arch::default()`, which spells x86, loongarch64 and little-endian mips64 the
/// Rust way (`x86`, `loongarch64`, `mips64`) where Go says `386`, `loong64` and `mips64le`.
pub fn go_arch() -> &'static str {
    go_arch_of(std::env::consts::ARCH)
}

fn go_arch_of(rust_arch: &'static str) -> &'static str {
    match rust_arch {
        "x86_64" => "amd64",
        "x86" => "386",
        "aarch64" => "arm64",
        "powerpc64" => {
            if cfg!(target_endian = "little") {
                "ppc64le"
            } else {
                "ppc64"
            }
        }
        "loongarch64" => "loong64",
        "mips64" => {
            if cfg!(target_endian = "little") {
                "mips64le"
            } else {
                "mips64"
            }
        }
        // arm, riscv64, s390x and most others are spelled alike.
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::image::{Arch, Os, PlatformBuilder};

    #[test]
    fn arch_names() {
        assert_eq!(go_arch_of("x86_64"), "amd64");
        assert_eq!(go_arch_of("aarch64"), "arm64");
        assert_eq!(go_arch_of("s390x"), "s390x");
        assert_eq!(go_arch_of("riscv64"), "riscv64");
        assert_eq!(go_arch_of("arm"), "arm");
        assert_eq!(go_arch_of("x86"), "386");
        assert_eq!(go_arch_of("loongarch64"), "loong64");
    }

    #[test]
    fn configs_give_their_platform_whatever_else_they_hold() {
        // Docker omits `rootfs.diff_ids` for an image without layers, go-containerregistry
        // writes null, most configs have no os.version, and container settings vary.
        for body in [
            r#"{"architecture":"arm64","os":"linux","variant":"v8","rootfs":{"type":"layers"}}"#,
            r#"{"architecture":"arm64","os":"linux","variant":"v8","rootfs":{"type":"layers","diff_ids":null}}"#,
            r#"{"architecture":"arm64","os":"linux","variant":"v8","config":{"Labels":{"a":null},"ExposedPorts":7}}"#,
        ] {
            let config = ImageConfig::parse(body.as_bytes()).expect(body);
            assert_eq!(
                config.platform(),
                Platform {
                    architecture: "arm64".into(),
                    os: "linux".into(),
                    variant: "v8".into(),
                    ..Default::default()
                },
                "{body}"
            );
        }
        let windows =
            br#"{"architecture":"amd64","os":"windows","os.version":"10.0.17763.1234","os.features":["win32k"]}"#;
        let p = ImageConfig::parse(windows).expect("a config").platform();
        assert_eq!(
            (p.os_version.as_str(), &p.os_features[..]),
            ("10.0.17763.1234", &["win32k".to_string()][..])
        );
        let e = ImageConfig::parse(b"[").expect_err("not JSON");
        assert_eq!(e.kind(), ErrorKind::BadContent);
        assert!(e.message().starts_with("parsing image config: "), "{e}");
    }

    #[test]
    fn oci_spec_platforms_convert_field_for_field() {
        let theirs = PlatformBuilder::default()
            .architecture(Arch::ARM)
            .os(Os::Linux)
            .os_version("1")
            .os_features(vec!["f".to_string()])
            .variant("v7")
            .features(vec!["x".to_string()])
            .build()
            .expect("a platform");
        assert_eq!(
            Platform::from(&theirs),
            Platform {
                architecture: "arm".into(),
                os: "linux".into(),
                os_version: "1".into(),
                os_features: vec!["f".into()],
                variant: "v7".into(),
                features: vec!["x".into()],
            }
        );
    }
}

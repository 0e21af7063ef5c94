//! Shared set-ups: a plain registry with fixtures, and a manifold configured to read it.

use manifold_tests::fixtures::{self, PushedImage};
pub use manifold_tests::http::esc;
pub use manifold_tests::manifold::insecure_entry;
use manifold_tests::{Manifold, ManifoldOptions, Registry};
use serde_json::Value;

/// A manifold whose configuration marks every given registry insecure.
pub fn manifold_for(regs: &[&Registry]) -> Manifold {
    let config: String = regs.iter().map(|r| insecure_entry(&r.host())).collect();
    Manifold::start(ManifoldOptions::with_config(&config))
}

/// A plain registry holding six single-platform images (`app:<arch>`) and manifold for it.
pub struct World {
    /// The registry.
    pub reg: Registry,
    /// The six images.
    pub singles: Vec<PushedImage>,
    /// manifold.
    pub mf: Manifold,
}

impl World {
    pub fn new() -> World {
        let reg = Registry::plain();
        let singles = fixtures::push_six_singles(&reg, "app");
        let mf = manifold_for(&[&reg]);
        World { reg, singles, mf }
    }
}

/// The `manifests` array of an inspect document.
pub fn entries(doc: &Value) -> Vec<Value> {
    doc["manifests"].as_array().cloned().unwrap_or_default()
}

/// The digests of an inspect document, in order.
pub fn digests(doc: &Value) -> Vec<String> {
    entries(doc)
        .iter()
        .map(|e| e["digest"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// The command prefix that runs a program as `uid`/`gid` without supplementary groups: another
/// user of the machine, as the kernel sees it.
pub fn setpriv(uid: u32, gid: u32) -> Vec<String> {
    vec![
        "setpriv".into(),
        format!("--reuid={uid}"),
        format!("--regid={gid}"),
        "--clear-groups".into(),
    ]
}

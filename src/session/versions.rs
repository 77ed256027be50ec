//! The versions a program is made of (its rule set and every workflow), for the store to keep
//! by hash: built here, so that the runtime knows nothing of what keeps them.

use chrono::Utc;

use crate::runtime::Program;
use crate::store::Version;

impl Program {
    /// The rule set and every workflow, as the store keeps them by hash.
    pub fn versions(&self) -> Vec<Version> {
        let now = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let mut flows: Vec<_> = self.flows.values().collect();
        flows.sort_by(|a, b| a.name().cmp(b.name()));
        std::iter::once(Version {
            kind: "rules".into(),
            hash: self.rules_hash().to_string(),
            name: self.rules.dir().display().to_string(),
            files: self.rules.texts().to_vec(),
            first_seen: now.clone(),
        })
        .chain(flows.into_iter().map(|f| {
            let w = f.graph.workflow();
            Version {
                kind: "workflow".into(),
                hash: f.hash.to_string(),
                name: w.name.value.clone(),
                files: vec![(
                    w.path
                        .file_name()
                        .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
                    w.source.inner().to_string(),
                )],
                first_seen: now.clone(),
            }
        }))
        .collect()
    }
}

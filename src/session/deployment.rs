//! A deployment's shops and the files each one runs: `shops/<shop>/rules/`,
//! `shops/<shop>/workflows/` (or the top-level one) and `shops/<shop>/connectors/tiktok.yaml`,
//! beside the top-level folders, which are shop `default`'s unless `shops/default/` exists.
//! Today's layout, with no `shops/`, is a deployment of the one shop `default`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::model::{valid_shop, DEFAULT_SHOP};

/// The folder, under the deployment's root, that holds one folder per shop.
pub const SHOPS_DIR: &str = "shops";

/// One shop's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShopFiles {
    pub name: String,
    /// Its rule scripts and `policy.yaml`.
    pub rules: PathBuf,
    /// Its workflow files (the top-level folder when the shop has none of its own).
    pub workflows: PathBuf,
    /// Its connector's config (which may not exist: then no connector runs for it).
    pub connector: PathBuf,
    /// Its own folder (`shops/<shop>/`); none for the top-level layout.
    pub dir: Option<PathBuf>,
}

/// The shops of a deployment, by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    shops: BTreeMap<String, ShopFiles>,
    /// Folders under `shops/` whose names cannot name a shop, for `validate` to report.
    pub misnamed: Vec<PathBuf>,
}

impl Deployment {
    /// The deployment around the command's `--rules` and `--workflows`: the shops under
    /// `shops/` beside the rules folder (or in the working folder), and shop `default` on the
    /// top-level folders unless it has a folder of its own.
    pub fn discover(rules: &Path, workflows: &Path) -> Deployment {
        let root = rules
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        let mut shops_dir = root.join(SHOPS_DIR);
        if !shops_dir.is_dir() && Path::new(SHOPS_DIR).is_dir() {
            shops_dir = PathBuf::from(SHOPS_DIR);
        }
        let top_connector = root.join("connectors").join("tiktok.yaml");
        let mut shops = BTreeMap::new();
        let mut misnamed = Vec::new();
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&shops_dir)
            .map(|dir| {
                dir.filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.is_dir())
                    .collect()
            })
            .unwrap_or_default();
        entries.sort();
        let any_shops = !entries.is_empty();
        for dir in entries {
            let Some(name) = dir.file_name().and_then(|n| n.to_str()).map(str::to_string) else {
                misnamed.push(dir);
                continue;
            };
            if !valid_shop(&name) {
                misnamed.push(dir);
                continue;
            }
            let own = |sub: &str, top: &Path| {
                let path = dir.join(sub);
                if path.is_dir() {
                    path
                } else {
                    top.to_path_buf()
                }
            };
            let files = ShopFiles {
                rules: own("rules", rules),
                workflows: own("workflows", workflows),
                connector: dir.join("connectors").join("tiktok.yaml"),
                dir: Some(dir.clone()),
                name: name.clone(),
            };
            shops.insert(name, files);
        }
        // The top-level folders are shop `default`'s: always in a deployment of one shop, and
        // beside `shops/` when they are there.
        if !shops.contains_key(DEFAULT_SHOP) && (!any_shops || rules.is_dir()) {
            shops.insert(
                DEFAULT_SHOP.to_string(),
                ShopFiles {
                    name: DEFAULT_SHOP.to_string(),
                    rules: rules.to_path_buf(),
                    workflows: workflows.to_path_buf(),
                    connector: top_connector,
                    dir: None,
                },
            );
        }
        Deployment { shops, misnamed }
    }

    /// A deployment of the one shop `default` on these folders.
    pub fn single(rules: &Path, workflows: &Path) -> Deployment {
        let connector = PathBuf::from("connectors").join("tiktok.yaml");
        let files = ShopFiles {
            name: DEFAULT_SHOP.to_string(),
            rules: rules.to_path_buf(),
            workflows: workflows.to_path_buf(),
            connector,
            dir: None,
        };
        Deployment {
            shops: BTreeMap::from([(DEFAULT_SHOP.to_string(), files)]),
            misnamed: Vec::new(),
        }
    }

    /// One shop's files; `None` for a shop this deployment does not have.
    pub fn shop(&self, name: &str) -> Option<&ShopFiles> {
        self.shops.get(name)
    }

    /// Every shop, by name.
    pub fn shops(&self) -> impl Iterator<Item = &ShopFiles> {
        self.shops.values()
    }

    /// The shops' names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.shops.keys().map(String::as_str)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.shops.contains_key(name)
    }

    /// How many shops.
    pub fn len(&self) -> usize {
        self.shops.len()
    }

    pub fn is_empty(&self) -> bool {
        self.shops.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dirs(root: &Path, paths: &[&str]) {
        for p in paths {
            std::fs::create_dir_all(root.join(p)).expect("mkdir");
        }
    }

    #[test]
    fn todays_layout_is_one_shop_default() {
        let root = tempfile::tempdir().expect("tmp");
        dirs(root.path(), &["rules", "workflows"]);
        let d = Deployment::discover(&root.path().join("rules"), &root.path().join("workflows"));
        assert_eq!(d.names().collect::<Vec<_>>(), ["default"]);
        let shop = d.shop("default").expect("default");
        assert_eq!(shop.rules, root.path().join("rules"));
        assert_eq!(shop.dir, None);
    }

    #[test]
    fn shops_have_their_own_rules_and_fall_back_to_the_top_level_workflows() {
        let root = tempfile::tempdir().expect("tmp");
        let r = root.path();
        dirs(
            r,
            &[
                "rules",
                "workflows",
                "shops/us/rules",
                "shops/uk/rules",
                "shops/uk/workflows",
                "shops/Bad Name/rules",
            ],
        );
        let d = Deployment::discover(&r.join("rules"), &r.join("workflows"));
        assert_eq!(d.names().collect::<Vec<_>>(), ["default", "uk", "us"]);
        assert_eq!(d.shop("us").expect("us").rules, r.join("shops/us/rules"));
        assert_eq!(d.shop("us").expect("us").workflows, r.join("workflows"));
        assert_eq!(
            d.shop("uk").expect("uk").workflows,
            r.join("shops/uk/workflows")
        );
        assert_eq!(
            d.shop("uk").expect("uk").connector,
            r.join("shops/uk/connectors/tiktok.yaml")
        );
        assert_eq!(d.misnamed, vec![r.join("shops/Bad Name")]);
        assert!(!d.contains("fr"));
    }

    #[test]
    fn a_shop_folder_named_default_replaces_the_top_level_one() {
        let root = tempfile::tempdir().expect("tmp");
        let r = root.path();
        dirs(r, &["rules", "workflows", "shops/default/rules"]);
        let d = Deployment::discover(&r.join("rules"), &r.join("workflows"));
        assert_eq!(
            d.shop("default").expect("default").rules,
            r.join("shops/default/rules")
        );
    }
}

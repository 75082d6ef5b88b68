//! The layer check: each workspace crate depends only on crates in layers below it, and
//! the client-side `virgil` binary links no server crate unless built with its `server`
//! feature.
//!
//! The layers are those of the README's crate map. The dependency edges come from
//! `cargo tree` (normal and build dependencies, every feature on); the client binary's
//! tree is `cargo tree -p virgil-cli --no-default-features`. Both are parsed here, with no
//! dependency, so that xtask keeps building in seconds.

use std::collections::BTreeSet;

/// Every workspace crate and its layer (the README's crate map). A crate may depend only
/// on crates of a strictly lower layer. Add a new crate here when you add it to the
/// workspace; the check refuses crates it does not know.
pub(crate) const LAYERS: &[(&str, u8)] = &[
    ("virgil-crypto", 0),
    ("virgil-card", 1),
    ("virgil-api", 2),
    ("virgil-keystore", 2),
    ("virgil-server", 3),
    ("virgil-client", 3),
    ("virgil", 4),
    ("virgil-directory", 4),
    ("virgil-app-server", 4),
    ("virgil-cards-service", 5),
    ("virgil-deploy", 6),
    ("virgil-cli", 7),
    ("virgil-py", 7),
    ("virgil-testkit", 7),
];

/// Crates outside the layering: tools, not parts of the product.
const OUTSIDE: &[&str] = &["xtask"];

/// Crates the client binary links only with its `server` feature.
pub(crate) const SERVER_CRATES: &[&str] = &[
    "virgil-server",
    "virgil-directory",
    "virgil-cards-service",
    "virgil-app-server",
    "virgil-deploy",
];

/// The budget of unique packages in the client binary's tree without the `server`
/// feature (issue 28's goal). Raising it is a decision: write why in docs/decisions.md.
pub(crate) const CLIENT_DEPENDENCY_BUDGET: usize = 190;

/// The test-support crate: never a normal or build dependency of anything.
const TESTKIT: &str = "virgil-testkit";

fn layer(name: &str) -> Option<u8> {
    LAYERS
        .iter()
        .find(|(crate_name, _)| *crate_name == name)
        .map(|(_, layer)| *layer)
}

/// The package name of a `cargo tree` line (`name v1.2.3 (path) (*)`).
fn package_name(line: &str) -> Option<&str> {
    line.split_whitespace().next()
}

/// Whether a `cargo tree` line names a path dependency inside the workspace at `root`.
fn is_workspace_package(line: &str, root: &str) -> bool {
    line.contains(&format!("({root}"))
}

/// Edges `(dependent, dependency)` between workspace crates, from the output of
/// `cargo tree --workspace --depth 1 --prefix depth --no-dedupe`.
pub(crate) fn workspace_edges(tree: &str, root: &str) -> Vec<(String, String)> {
    let mut edges = Vec::new();
    let mut current: Option<String> = None;
    for line in tree.lines() {
        let (depth, rest) = match line.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
            Some((0, _)) | None => continue,
            Some((at, _)) => (&line[..at], &line[at..]),
        };
        let Some(name) = package_name(rest) else {
            continue;
        };
        match depth {
            "0" => current = Some(name.to_owned()),
            "1" if is_workspace_package(rest, root) => {
                if let Some(dependent) = &current {
                    edges.push((dependent.clone(), name.to_owned()));
                }
            }
            _ => {}
        }
    }
    edges
}

/// Every way `edges` break the layering, as sentences a maintainer can act on.
pub(crate) fn layer_violations(edges: &[(String, String)]) -> Vec<String> {
    let mut problems = BTreeSet::new();
    for (dependent, dependency) in edges {
        if OUTSIDE.contains(&dependent.as_str()) {
            continue;
        }
        if dependency == TESTKIT {
            problems.insert(format!(
                "{dependent} depends on {TESTKIT} outside [dev-dependencies]: test support must not ship"
            ));
            continue;
        }
        match (layer(dependent), layer(dependency)) {
            (None, _) => {
                problems.insert(format!(
                    "{dependent} has no layer: add it to LAYERS in xtask/src/layers.rs and to the README's crate map"
                ));
            }
            (_, None) => {
                problems.insert(format!(
                    "{dependency} (a dependency of {dependent}) has no layer: add it to LAYERS in xtask/src/layers.rs and to the README's crate map"
                ));
            }
            (Some(high), Some(low)) if low >= high => {
                problems.insert(format!(
                    "{dependent} (layer {high}) depends on {dependency} (layer {low}): a crate may depend only on lower layers; move the shared code down or the dependent up"
                ));
            }
            _ => {}
        }
    }
    problems.into_iter().collect()
}

/// What is wrong with the client binary's dependency tree built without its `server`
/// feature (`cargo tree -p virgil-cli --no-default-features -e normal --prefix none`).
pub(crate) fn client_violations(tree: &str) -> Vec<String> {
    let packages: BTreeSet<&str> = tree.lines().filter_map(package_name).collect();
    let mut problems = Vec::new();
    for server in SERVER_CRATES {
        if packages.contains(server) {
            problems.push(format!(
                "the virgil binary links {server} without its `server` feature: gate the code that needs it behind `#[cfg(feature = \"server\")]`"
            ));
        }
    }
    let unique: BTreeSet<&str> = tree
        .lines()
        .map(|line| line.trim_end_matches(" (*)"))
        .collect();
    if unique.len() > CLIENT_DEPENDENCY_BUDGET {
        problems.push(format!(
            "the virgil binary without its `server` feature has {} unique dependencies, over the budget of {CLIENT_DEPENDENCY_BUDGET}: drop one, or raise the budget in xtask/src/layers.rs and say why in docs/decisions.md",
            unique.len()
        ));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: &str = "/w";

    fn edges(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    #[test]
    fn parses_direct_workspace_dependencies_only() {
        let tree = "\
0virgil-card v0.1.0 (/w/crates/virgil-card)
1serde v1.0.0
1virgil-crypto v0.1.0 (/w/crates/virgil-crypto)
0virgil-client v0.1.0 (/w/crates/virgil-client)
1virgil-card v0.1.0 (/w/crates/virgil-card)
2virgil-crypto v0.1.0 (/w/crates/virgil-crypto)
1other v0.1.0 (/elsewhere/other)

0xtask v0.1.0 (/w/xtask)
";
        assert_eq!(
            workspace_edges(tree, ROOT),
            edges(&[
                ("virgil-card", "virgil-crypto"),
                ("virgil-client", "virgil-card")
            ])
        );
    }

    #[test]
    fn the_workspace_as_it_is_meant_to_be_passes() {
        let good = edges(&[
            ("virgil-card", "virgil-crypto"),
            ("virgil-client", "virgil-api"),
            ("virgil", "virgil-client"),
            ("virgil-deploy", "virgil-cards-service"),
            ("virgil-cli", "virgil-deploy"),
            ("virgil-testkit", "virgil-deploy"),
        ]);
        assert_eq!(layer_violations(&good), Vec::<String>::new());
    }

    #[test]
    fn an_upward_or_sideways_dependency_fails() {
        let up = layer_violations(&edges(&[("virgil-card", "virgil-client")]));
        assert_eq!(up.len(), 1, "{up:?}");
        assert!(up[0].contains("virgil-card (layer 1) depends on virgil-client (layer 3)"));
        let sideways = layer_violations(&edges(&[("virgil-api", "virgil-keystore")]));
        assert_eq!(sideways.len(), 1, "{sideways:?}");
    }

    #[test]
    fn the_testkit_as_a_normal_dependency_fails() {
        let problems = layer_violations(&edges(&[("virgil-cli", "virgil-testkit")]));
        assert_eq!(problems.len(), 1);
        assert!(problems[0].contains("outside [dev-dependencies]"));
    }

    #[test]
    fn an_unknown_crate_fails() {
        let problems = layer_violations(&edges(&[("virgil-new", "virgil-crypto")]));
        assert_eq!(problems.len(), 1);
        assert!(problems[0].contains("virgil-new has no layer"));
    }

    #[test]
    fn the_client_binary_linking_a_server_fails() {
        let clean = "virgil-cli v0.1.0 (/w)\nvirgil v0.1.0 (/w)\nserde v1.0.0\nserde v1.0.0 (*)\n";
        assert_eq!(client_violations(clean), Vec::<String>::new());
        let linked = format!("{clean}virgil-deploy v0.1.0 (/w)\nvirgil-server v0.1.0 (/w)\n");
        let problems = client_violations(&linked);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("links virgil-server"));
        assert!(problems[1].contains("links virgil-deploy"));
    }

    #[test]
    fn the_client_binary_over_its_budget_fails() {
        let heavy: String = (0..=CLIENT_DEPENDENCY_BUDGET)
            .map(|n| format!("crate{n} v1.0.0\n"))
            .collect();
        let problems = client_violations(&heavy);
        assert_eq!(problems.len(), 1);
        assert!(problems[0].contains("over the budget"));
    }
}

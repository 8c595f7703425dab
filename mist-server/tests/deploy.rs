//! The deployment files (no Docker engine runs here): docker-compose.yml
//! parses, and every command and `MIST_*` variable it gives mist-server is one
//! the binary accepts; the Dockerfile's entry point is a real command.

use std::collections::BTreeSet;

use clap::Parser;
use mist_server::cli::Cli;
use mist_server::config::RawSettings;
use serde_yaml::Value;

fn repo_file(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The configuration keys mist-server reads from `MIST_*` variables.
fn known_keys() -> BTreeSet<String> {
    let raw = serde_json::to_value(RawSettings::default()).expect("settings serialise");
    raw.as_object().expect("object").keys().cloned().collect()
}

#[test]
fn compose_file_uses_only_what_mist_server_accepts() {
    let compose: Value = serde_yaml::from_str(&repo_file("docker-compose.yml")).expect("docker-compose.yml parses");
    let services = compose["services"].as_mapping().expect("services");
    let known = known_keys();
    let mut mist_services = 0;
    for (name, service) in services {
        if service.get("build").is_none() {
            continue; // postgres, minio: not ours
        }
        mist_services += 1;
        let command: Vec<String> = service["command"]
            .as_sequence()
            .expect("command is a list")
            .iter()
            .map(|v| v.as_str().expect("string").to_owned())
            .collect();
        let args = std::iter::once("mist-server".to_owned()).chain(command.iter().cloned());
        Cli::try_parse_from(args).unwrap_or_else(|e| panic!("{name:?}: mist-server {command:?} is refused: {e}"));
        let env = service["environment"]
            .as_mapping()
            .expect("environment (merged from x-mist-env)");
        for key in env.keys().map(|k| k.as_str().expect("string key")) {
            let ok = match key.strip_prefix("MIST_") {
                Some(rest) => known.contains(&rest.to_ascii_lowercase()),
                None => key == "DATABASE_URL" || key.starts_with("AWS_"),
            };
            assert!(ok, "{name:?}: mist-server does not read {key}");
        }
        for needed in ["DATABASE_URL", "MIST_STORAGE", "MIST_JWT_SECRET", "MIST_MASTER_KEY"] {
            assert!(env.contains_key(needed), "{name:?} lacks {needed}");
        }
    }
    assert!(mist_services >= 3, "migrate, api and worker services");
    let api = &services[&Value::from("api")];
    assert!(
        api["healthcheck"]["test"]
            .as_sequence()
            .is_some_and(|t| t.iter().any(|v| v.as_str().is_some_and(|s| s.contains("/readyz"))))
    );
}

#[test]
fn dockerfile_runs_a_real_command() {
    let dockerfile = repo_file("Dockerfile");
    assert!(dockerfile.contains("ENTRYPOINT [\"mist-server\"]"));
    let cmd = dockerfile
        .lines()
        .find_map(|l| l.strip_prefix("CMD "))
        .expect("CMD line");
    let args: Vec<String> = serde_json::from_str(cmd).expect("CMD is a JSON list");
    Cli::try_parse_from(std::iter::once("mist-server".to_owned()).chain(args)).expect("CMD parses");
    for line in dockerfile.lines().filter_map(|l| l.strip_prefix("ENV ")) {
        for pair in line.split_whitespace() {
            let key = pair.split('=').next().unwrap_or_default();
            let rest = key.strip_prefix("MIST_").expect("only MIST_ variables");
            assert!(known_keys().contains(&rest.to_ascii_lowercase()), "{key}");
        }
    }
}

#[test]
fn operations_doc_names_every_setting() {
    let doc = repo_file("docs/operations.md");
    for key in known_keys() {
        let var = format!("MIST_{}", key.to_ascii_uppercase());
        assert!(
            doc.contains(&format!("`{var}`")),
            "docs/operations.md does not describe {var}"
        );
    }
}

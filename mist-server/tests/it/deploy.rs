//! The deployment files (no Docker engine runs here): docker-compose.yml
//! parses, and every command and `MIST_*` variable it gives mist-server is one
//! the binary accepts; its images are still published, its proxy reaches every
//! API node and the S3 server under the names the API signs; `docker compose
//! config` accepts it where that command exists; the Dockerfile's entry point
//! is a real command.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

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
    let compose = compose();
    let services = compose["services"].as_mapping().expect("services");
    let known = known_keys();
    let mut mist_services = 0;
    for (name, service) in services {
        if service.get("build").is_none() {
            continue; // postgres, the S3 server, the proxy: not ours
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

fn compose() -> Value {
    serde_yaml::from_str(&repo_file("docker-compose.yml")).expect("docker-compose.yml parses")
}

fn str_list(v: &Value) -> Vec<String> {
    v.as_sequence()
        .map(|s| s.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// A compose value with its `${VAR:-default}` interpolations replaced by the default.
fn with_defaults(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').expect("closing brace") + start;
        let inner = &rest[start + 2..end];
        out.push_str(inner.split_once(":-").map(|(_, d)| d).unwrap_or(""));
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

fn in_cidr(ip: Ipv4Addr, cidr: &str) -> bool {
    let (net, bits) = cidr.split_once('/').expect("a/n");
    let net: Ipv4Addr = net.parse().expect("network address");
    let bits: u32 = bits.parse().expect("prefix length");
    let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
    u32::from(ip) & mask == u32::from(net) & mask
}

/// `http://host:port…` → (host, port).
fn host_port(url: &str) -> (String, u16) {
    let url = url::Url::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
    (
        url.host_str().expect("host").to_owned(),
        url.port_or_known_default().expect("port"),
    )
}

#[test]
fn compose_images_are_published_and_the_proxy_reaches_api_nodes_and_s3() {
    let compose = compose();
    let services = compose["services"].as_mapping().expect("services");
    let service = |name: &str| &services[&Value::from(name)];
    for (name, s) in services {
        if let Some(image) = s["image"].as_str() {
            // MinIO's community images were withdrawn from Docker Hub.
            assert!(
                !image.starts_with("minio/"),
                "{name:?} uses {image}, which is no longer published"
            );
            assert!(
                image.contains(':') || image.contains('@'),
                "{name:?}: {image} names no tag"
            );
        } else {
            assert!(s.get("build").is_some(), "{name:?} has neither image nor build");
        }
        for dep in s["depends_on"].as_mapping().into_iter().flat_map(|m| m.keys()) {
            assert!(
                services.contains_key(dep),
                "{name:?} depends on {dep:?}, which is not a service"
            );
        }
    }

    // `--scale api=2` cannot work with a fixed host port on api.
    let api = service("api");
    assert!(
        api.get("ports").is_none(),
        "api publishes a port: scaling it would clash"
    );
    let command = str_list(&api["command"]);
    let listen = command
        .iter()
        .position(|a| a == "--listen")
        .and_then(|i| command.get(i + 1))
        .expect("api --listen");
    let api_port: u16 = listen
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("api port");

    // The proxy: its config file is in the repository and forwards to every api node.
    let proxy = service("proxy");
    let mount = str_list(&proxy["volumes"])
        .into_iter()
        .find(|v| v.ends_with(":/etc/nginx/nginx.conf:ro"))
        .expect("proxy mounts its nginx.conf");
    let conf_path = mount.split(':').next().expect("host path").trim_start_matches("./");
    let conf = repo_file(conf_path);
    assert!(
        conf.contains(&format!("set $api http://api:{api_port};")) && conf.contains("proxy_pass $api;"),
        "{conf_path} must proxy to api:{api_port} through a variable (re-resolved: every scaled node)"
    );
    assert!(
        conf.contains("resolver 127.0.0.11"),
        "{conf_path} must ask Docker's DNS"
    );
    let published: Vec<u16> = str_list(&proxy["ports"])
        .iter()
        .map(|p| p.rsplit(':').next().and_then(|p| p.parse().ok()).expect("port"))
        .collect();
    for port in &published {
        assert!(
            conf.contains(&format!("listen {port};")),
            "{conf_path} does not listen on {port}"
        );
    }

    let env = api["environment"].as_mapping().expect("environment");
    let var = |k: &str| with_defaults(env[&Value::from(k)].as_str().unwrap_or_else(|| panic!("{k}")));
    let (public_host, public_port) = host_port(&var("MIST_PUBLIC_URL"));
    assert_eq!(public_host, "localhost");
    assert!(
        published.contains(&public_port),
        "MIST_PUBLIC_URL's port is not the proxy's"
    );

    // S3 under one name inside and outside: an alias of the proxy that the host
    // resolves to loopback, on a port the proxy publishes and forwards to s3.
    let (s3_host, s3_port) = host_port(&var("AWS_ENDPOINT_URL"));
    let network = &proxy["networks"]["default"];
    assert!(
        str_list(&network["aliases"]).contains(&s3_host),
        "{s3_host} is not an alias of the proxy"
    );
    assert!(
        s3_host.ends_with(".localhost"),
        "{s3_host} does not resolve to loopback on the host"
    );
    assert!(published.contains(&s3_port), "the proxy does not publish {s3_port}");
    assert!(conf.contains("set $s3 http://s3:9000;") && conf.contains("proxy_set_header Host $http_host;"));

    // The trusted proxy is the proxy, on an address no other container can take.
    let proxy_ip: Ipv4Addr = network["ipv4_address"]
        .as_str()
        .expect("ipv4_address")
        .parse()
        .expect("ip");
    assert_eq!(var("MIST_TRUSTED_PROXIES"), format!("[{proxy_ip}]"));
    let ipam = &compose["networks"]["default"]["ipam"]["config"][0];
    assert!(in_cidr(proxy_ip, ipam["subnet"].as_str().expect("subnet")));
    assert!(!in_cidr(proxy_ip, ipam["ip_range"].as_str().expect("ip_range")));
}

/// `docker compose config` where it exists; no container engine or compose
/// plugin here, so this says it is skipped (the structure is checked above).
#[test]
fn docker_compose_config_accepts_the_file() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let available = std::process::Command::new("docker")
        .args(["compose", "version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !available {
        println!("skipped: `docker compose` is not available here (no container engine or compose plugin)");
        return;
    }
    let out = std::process::Command::new("docker")
        .args(["compose", "-f", "docker-compose.yml", "config", "--quiet"])
        .current_dir(&root)
        .env("POSTGRES_PASSWORD", "compose-check")
        .env("S3_SECRET_KEY", "compose-check")
        .env("MIST_JWT_SECRET", "compose-check-compose-check-compose-check")
        .env("MIST_MASTER_KEY", "00".repeat(32))
        .env("MIST_ADMIN_PASSWORD", "compose-check")
        .output()
        .expect("docker compose runs");
    assert!(
        out.status.success(),
        "docker compose config refuses docker-compose.yml: {}",
        String::from_utf8_lossy(&out.stderr)
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

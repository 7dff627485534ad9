//! The endpoint proxy on a real compose-ssh sandbox (issue 16): a private
//! endpoint refused without its token and served with it (header, signed URL
//! then its cookie, by path and by host name), a forged or expired signature
//! refused, another project's member kept out, a public endpoint served to
//! anyone, an upgraded connection (what WebSocket uses) tunnelled both ways,
//! and proxied traffic counted as use.

use super::daemon_support::{call, daemon_yaml, member_yaml, start};
use super::support::E2e;
use sandboxer_tests::loopback;
use serde_json::Value;
use std::io::{Read, Write};
use std::time::Duration;

const MEMBER_TOKEN: &str = "e2e-proxy-member-elsewhere";

/// A profile of one busybox web server on 8080 (its index says `hello from
/// NAME`) and an upgrade echo server on 9000; `extra` adds profile lines.
fn web_profile(e2e: &E2e, name: &str, extra: &str) {
    let dir = e2e.env.path(&format!("profiles/{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("compose.yaml"),
        format!(
            "services:\n  web:\n    image: localhost/sandboxer-busybox:latest\n    command:\n      - sh\n      - -c\n      - |\n        \
             mkdir -p /www && echo 'hello from {name}' > /www/index.html\n        \
             printf '%s\\n' '#!/bin/sh' 'while IFS= read -r l; do [ ${{#l}} -le 1 ] && break; done' \
             'printf \"HTTP/1.1 101 Switching Protocols\\r\\nUpgrade: echo\\r\\nConnection: Upgrade\\r\\n\\r\\n\"' 'exec cat' > /echo.sh\n        \
             chmod +x /echo.sh\n        nc -ll -p 9000 -e /echo.sh &\n        exec httpd -f -p 8080 -h /www\n    \
             stop_signal: SIGKILL\n    ports: [\"127.0.0.1::8080\", \"127.0.0.1::9000\"]\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("profile.yaml"),
        format!(
            "id: profile.{name}\nversion: 1\nextension: ext.compose-ssh\nttl: {{default: 1h, max: 2h}}\n\
             network: {{egress: allow}}\nfiles: [compose.yaml]\n{extra}spec:\n  compose_file: compose.yaml\n  \
             ready: {{http: {{service: web, port: 8080, path: /}}, timeout: 60s}}\n  endpoints:\n    \
             - {{service: web, port: 8080, protocol: http, name: web, path: /}}\n    \
             - {{service: web, port: 9000, protocol: http, name: echo, path: /}}\n"
        ),
    )
    .unwrap();
}

/// A raw HTTP/1.1 GET to the daemon: the status, the headers and the body.
fn get(daemon: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String, String) {
    let authority = daemon.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(authority).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut request = format!("GET {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        request.push_str(&format!("Host: {authority}\r\n"));
    }
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_string(), body.to_string())
}

fn path_of(url: &str) -> String {
    let rest = url.trim_start_matches("http://");
    format!("/{}", rest.split_once('/').map_or("", |(_, p)| p))
}

#[tokio::test]
async fn a_private_endpoint_is_refused_without_its_token_and_served_with_it() {
    let e2e = E2e::new();
    let config = daemon_yaml("30s", "5m") + &member_yaml(MEMBER_TOKEN, "atm:other", "elsewhere");
    e2e.configure_with(&[loopback::host_yaml("loopback", &e2e.workdir)], &config);
    web_profile(&e2e, "private-web", "");
    web_profile(&e2e, "public-web", "public_endpoints: [web]\n");
    let id = e2e.create("profile.private-web", &[])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let open = e2e.create("profile.public-web", &[])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let d = start(&e2e);
    let (status, access) = call(
        &d,
        "GET",
        &format!("/v1/sandboxes/{id}/endpoints/web/access?valid_for=10m"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{access}");
    assert_eq!(access["public"], false);
    let token = access["token"].as_str().unwrap();
    let path = path_of(access["path_url"].as_str().unwrap());
    assert_eq!(path, format!("/proxy/{id}/web/"));

    // Refused without the token, and with a wrong one or another endpoint's.
    let (status, _, body) = get(&d.url, &path, &[]);
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("private"), "{body}");
    let (_, echo_access) = call(
        &d,
        "GET",
        &format!("/v1/sandboxes/{id}/endpoints/echo/access"),
        None,
    )
    .await;
    let echo_token = echo_access["token"].as_str().unwrap();
    for wrong in [echo_token, "00ff", "not-a-token"] {
        let (status, _, _) = get(&d.url, &path, &[("X-Sandboxer-Endpoint-Token", wrong)]);
        assert_eq!(status, 401, "{wrong}");
    }
    // Served with it, by path and by host name.
    let (status, _, body) = get(&d.url, &path, &[("X-Sandboxer-Endpoint-Token", token)]);
    assert_eq!((status, body.trim()), (200, "hello from private-web"));
    let host = access["url"]
        .as_str()
        .unwrap()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    assert!(host.starts_with(&format!("web-{id}.localhost:")), "{host}");
    let (status, _, body) = get(
        &d.url,
        "/",
        &[("Host", &host), ("X-Sandboxer-Endpoint-Token", token)],
    );
    assert_eq!((status, body.trim()), (200, "hello from private-web"));
    let (status, _, _) = get(&d.url, "/", &[("Host", &host)]);
    assert_eq!(status, 401);

    // A signed URL opens it once and leaves a cookie for the rest of the visit.
    let signed = path_of(access["signed_url"].as_str().unwrap());
    let (status, head, body) = get(&d.url, &signed, &[]);
    assert_eq!(
        (status, body.trim()),
        (200, "hello from private-web"),
        "{head}"
    );
    let cookie = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("set-cookie: ")
                .or_else(|| l.strip_prefix("Set-Cookie: "))
        })
        .expect("a cookie")
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let (status, _, _) = get(&d.url, &path, &[("Cookie", &cookie)]);
    assert_eq!(status, 200);
    // A signature changed, or moved to a later expiry, is refused.
    let forged = signed.replace("sandboxer_expires=", "sandboxer_expires=9");
    let (status, _, _) = get(&d.url, &forged, &[]);
    assert_eq!(status, 401);
    let past = format!(
        "{path}?sandboxer_expires=1000&sandboxer_signature={}",
        signed.rsplit('=').next().unwrap()
    );
    let (status, _, _) = get(&d.url, &past, &[]);
    assert_eq!(status, 401);

    // Another project's member gets no access, and no proxying without it.
    let refused = reqwest::Client::new()
        .get(format!("{}/v1/sandboxes/{id}/endpoints/web/access", d.url))
        .bearer_auth(MEMBER_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 404);

    // A public endpoint is served to anyone.
    let (_, public) = call(
        &d,
        "GET",
        &format!("/v1/sandboxes/{open}/endpoints/web/access"),
        None,
    )
    .await;
    assert_eq!(public["public"], true);
    assert!(public.get("token").is_none(), "{public}");
    let (status, _, body) = get(&d.url, &path_of(public["path_url"].as_str().unwrap()), &[]);
    assert_eq!((status, body.trim()), (200, "hello from public-web"));

    // An upgraded connection is tunnelled both ways.
    let echo_path = path_of(echo_access["path_url"].as_str().unwrap());
    let authority = d.url.trim_start_matches("http://");
    let mut tunnel = std::net::TcpStream::connect(authority).unwrap();
    tunnel
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(
        tunnel,
        "GET {echo_path} HTTP/1.1\r\nHost: {authority}\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\
         X-Sandboxer-Endpoint-Token: {echo_token}\r\n\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        tunnel.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    tunnel.write_all(b"ping through the proxy\n").unwrap();
    let mut echoed = [0u8; 23];
    tunnel.read_exact(&mut echoed).unwrap();
    assert_eq!(&echoed, b"ping through the proxy\n");

    // Proxied traffic is use.
    let seen = |e2e: &E2e| -> Value {
        let all = e2e.json(&["list", "--all"]);
        all.as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id.as_str())
            .unwrap()["last_activity_at"]
            .clone()
    };
    let before = seen(&e2e);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let (status, _, _) = get(&d.url, &path, &[("X-Sandboxer-Endpoint-Token", token)]);
    assert_eq!(status, 200);
    assert_ne!(seen(&e2e), before, "a proxied request did not count as use");
    drop(d);
    e2e.json(&["destroy", &id]);
    e2e.json(&["destroy", &open]);
}

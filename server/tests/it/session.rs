//! Signing in from a browser: the form, the session cookie and its flags, the page and the API on
//! the cookie for the token's role, sign-out, and a forged, expired or cross-site use refused.

use std::net::SocketAddr;

use crate::{ANALYST, DASHBOARD, options, start};

fn browser() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// `POST /signin` as the page's form sends it; `origin` as the browser sets it.
async fn sign_in(addr: SocketAddr, token: &str, origin: Option<&str>, https: bool) -> reqwest::Response {
    let mut r = browser().post(format!("http://{addr}/signin")).form(&[("token", token)]);
    if let Some(o) = origin {
        r = r.header("origin", o);
    }
    if https {
        r = r.header("x-forwarded-proto", "https");
    }
    r.send().await.unwrap()
}

fn set_cookie(r: &reqwest::Response) -> String {
    r.headers().get("set-cookie").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default()
}

/// `name=value` of a `Set-Cookie`.
fn pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_string()
}

async fn get_with(addr: SocketAddr, path: &str, cookie: &str) -> (u16, String) {
    let r = browser().get(format!("http://{addr}{path}")).header("cookie", cookie).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn sql_with(addr: SocketAddr, cookie: &str, origin: Option<&str>) -> u16 {
    let mut r = browser()
        .post(format!("http://{addr}/api/v1/sql"))
        .header("cookie", cookie)
        .header("content-type", "text/plain")
        .body("SELECT count(*) AS n FROM indicator_values");
    if let Some(o) = origin {
        r = r.header("origin", o);
    }
    r.send().await.unwrap().status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_signs_a_browser_in_for_its_role_and_nothing_else_does() {
    let (addr, _stop) = start(options()).await;
    let here = format!("http://{addr}");

    // No credential: the form, without the header that opens the browser's own dialog.
    let r = browser().get(format!("{here}/")).header("accept", "text/html").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert!(r.headers().get("www-authenticate").is_none());
    let body = r.text().await.unwrap();
    assert!(body.contains(r#"<form method="post" action="/signin">"#) && body.contains(r#"type="password""#), "{body}");

    // From another site, or with an unknown token: no cookie.
    let r = sign_in(addr, DASHBOARD, Some("http://evil.example"), false).await;
    assert_eq!((r.status().as_u16(), set_cookie(&r)), (400, String::new()));
    let r = sign_in(addr, DASHBOARD, None, false).await;
    assert_eq!(r.status().as_u16(), 400);
    let r = sign_in(addr, "not-a-token", Some(&here), false).await;
    assert_eq!((r.status().as_u16(), set_cookie(&r)), (401, String::new()));
    assert!(r.text().await.unwrap().contains("Unknown token"));

    // The dashboard token: a cookie with the flags, and to the page.
    let r = sign_in(addr, DASHBOARD, Some(&here), false).await;
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(r.headers()["location"], "/");
    let cookie = set_cookie(&r);
    for flag in ["Path=/", "Max-Age=28800", "HttpOnly", "SameSite=Strict"] {
        assert!(cookie.contains(flag), "{flag}: {cookie}");
    }
    assert!(!cookie.contains("Secure") && !cookie.contains(DASHBOARD), "{cookie}");
    let over_tls = set_cookie(&sign_in(addr, DASHBOARD, Some(&here), true).await);
    assert!(over_tls.ends_with("; Secure"), "{over_tls}");
    let dashboard = pair(&cookie);

    // The page and the dashboard's endpoints take it; the controller's and SQL do not.
    let (status, page) = get_with(addr, "/", &dashboard).await;
    assert_eq!(status, 200);
    assert!(page.contains(r#"action="/signout""#) && page.contains("grafana"), "signed in as the token's name");
    assert_eq!(get_with(addr, "/api/v1/indicators/participants?level=national", &dashboard).await.0, 200);
    assert_eq!(get_with(addr, "/api/v1/runs", &dashboard).await.0, 403);
    assert_eq!(sql_with(addr, &dashboard, Some(&here)).await, 403);

    // An analyst's session runs SQL, from this server's page only.
    let analyst = pair(&set_cookie(&sign_in(addr, ANALYST, Some(&here), false).await));
    assert_eq!(sql_with(addr, &analyst, Some(&here)).await, 200);
    assert_eq!(sql_with(addr, &analyst, Some("http://evil.example")).await, 400);
    assert_eq!(sql_with(addr, &analyst, None).await, 400);

    // Forged: another name under the dashboard's MAC, or a changed MAC.
    let value = dashboard.strip_prefix("lms_session=").unwrap();
    let (body, mac) = value.rsplit_once('.').unwrap();
    let (_, expires) = body.split_once('.').unwrap();
    let renamed = format!("lms_session={}.{expires}.{mac}", hex::encode("analyst"));
    assert_eq!(get_with(addr, "/api/v1/runs", &renamed).await.0, 401);
    let flipped = format!("{}{}", &dashboard[..dashboard.len() - 1], if dashboard.ends_with('0') { '1' } else { '0' });
    assert_eq!(get_with(addr, "/api/v1/indicators/participants", &flipped).await.0, 401);
    // A later expiry under the old MAC.
    let later =
        format!("lms_session={}.{}.{mac}", body.split_once('.').unwrap().0, expires.parse::<u64>().unwrap() + 3600);
    assert_eq!(get_with(addr, "/api/v1/indicators/participants", &later).await.0, 401);

    // Signing out: the cookie is dropped (Max-Age=0).
    let r = browser()
        .post(format!("{here}/signout"))
        .header("origin", &here)
        .header("cookie", &dashboard)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    let cleared = set_cookie(&r);
    assert!(cleared.starts_with("lms_session=;") && cleared.contains("Max-Age=0"), "{cleared}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_session_is_refused() {
    let mut o = options();
    // Expiries are whole seconds from now: a lifetime of 3 s leaves at least 2 s to use it in.
    o.session_lifetime = std::time::Duration::from_secs(3);
    let (addr, _stop) = start(o).await;
    let here = format!("http://{addr}");
    let cookie = pair(&set_cookie(&sign_in(addr, DASHBOARD, Some(&here), false).await));
    assert!(cookie.starts_with("lms_session="));
    assert_eq!(get_with(addr, "/api/v1/indicators/participants", &cookie).await.0, 200);
    tokio::time::sleep(std::time::Duration::from_millis(4100)).await;
    assert_eq!(get_with(addr, "/api/v1/indicators/participants", &cookie).await.0, 401);
    // The page offers the form again.
    let (status, body) = get_with(addr, "/", &cookie).await;
    assert_eq!(status, 401);
    assert!(body.contains(r#"action="/signin""#));
}

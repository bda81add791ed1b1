//! Arrow Flight SQL with a real client: Python's `adbc-driver-flightsql` (installed by `.ci/run`)
//! connects with a token, runs a query over `indicator_values` and gets the values the HTTP API
//! serves; without a token, with a role too low, or on a person-level table it is refused.

use std::sync::Arc;

use lms_server::AppState;

use crate::{ANALYST, DASHBOARD, get, options};

/// HTTP and Flight SQL over one state: the HTTP address and the Flight URI.
pub async fn start_with_flight(o: lms_server::ServerOptions) -> (std::net::SocketAddr, String) {
    let state = Arc::new(AppState::new(o).unwrap());
    state.refresh().await.unwrap();
    let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let flight = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (http_addr, flight_addr) = (http.local_addr().unwrap(), flight.local_addr().unwrap());
    tokio::spawn(lms_server::serve(http, state.clone(), std::future::pending()));
    tokio::spawn(lms_server::flight::serve(flight, state, std::future::pending()));
    (http_addr, format!("grpc://{flight_addr}"))
}

async fn client(uri: &str, token: Option<&str>, what: &str) -> serde_json::Value {
    crate::python_json("flight_sql.py", vec![uri.to_string(), token.unwrap_or("-").to_string(), what.to_string()]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adbc_client_reads_what_the_api_serves() {
    if !crate::have_python("adbc_driver_flightsql.dbapi", "the Flight SQL test") {
        return;
    }
    let (http_addr, uri) = start_with_flight(options()).await;

    let sql = "SELECT year, value FROM indicator_values WHERE indicator = 'participants' AND level = 'national' \
               AND breakdown = '' ORDER BY year";
    let answer = client(&uri, Some(ANALYST), sql).await;
    let rows = answer["rows"].as_array().unwrap_or_else(|| panic!("{answer}"));
    let (_, _, api) = get(http_addr, "/api/v1/indicators/participants?level=national&breakdown=", Some(ANALYST)).await;
    let api: serde_json::Value = serde_json::from_str(&api).unwrap();
    let expected: Vec<serde_json::Value> =
        api.as_array().unwrap().iter().map(|r| serde_json::json!([r["year"], r["value"]])).collect();
    assert_eq!(rows, &expected);
    // The same with user and password: the Basic handshake, the token as password.
    let answer = client(&uri, Some(&format!("basic:{ANALYST}")), sql).await;
    assert_eq!(answer["rows"].as_array(), Some(&expected), "{answer}");
    let e = client(&uri, Some("basic:wrong"), sql).await;
    assert!(e["error"].is_string(), "{e}");

    // The tree a tool shows: the published tables and the reference data, nothing person-level.
    let tables = client(&uri, Some(ANALYST), "--tables").await;
    let tables: Vec<&str> = tables["tables"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
    for t in ["indicator_values", "variation", "data_quality", "data_freshness", "regions", "population"] {
        assert!(tables.contains(&t), "{t} in {tables:?}");
    }
    for t in lms_queries::PERSON_LEVEL {
        assert!(!tables.contains(&t), "{t} listed");
    }

    // Refused: no token, a dashboard token, a person-level table, DDL.
    let e = client(&uri, None, sql).await;
    assert!(e["error"].as_str().is_some_and(|m| m.to_lowercase().contains("unauthenticated")), "{e}");
    let e = client(&uri, Some(DASHBOARD), sql).await;
    assert!(e["error"].as_str().is_some_and(|m| m.contains("analyst")), "{e}");
    let e = client(&uri, Some(ANALYST), "SELECT * FROM coding").await;
    assert!(e["error"].as_str().is_some_and(|m| m.contains("coding")), "{e}");
    let e = client(&uri, Some(ANALYST), "DROP TABLE indicator_values").await;
    assert!(e["error"].as_str().is_some_and(|m| m.contains("read-only")), "{e}");
}

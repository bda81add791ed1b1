//! `lms.toml`: one typed configuration with a default for every setting, overridden by `LMS_*`
//! environment variables. Secrets (pseudonymisation key, tokens, S3 credentials) never stand in it:
//! they come from the environment or from files it names.

use std::path::Path;

use serde::Deserialize;

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub lake: LakeConfig,
    #[serde(rename = "source")]
    pub sources: Vec<SourceConfig>,
    pub server: ServerConfig,
    /// `[postgres]`: the PostgreSQL wire protocol, off unless `listen` is set.
    pub postgres: PostgresConfig,
    pub suppression: SuppressionConfig,
    #[serde(rename = "token")]
    pub tokens: Vec<TokenConfig>,
    pub pseudonym: PseudonymConfig,
    pub publish: PublishConfig,
    /// `[retention]`: how long the access log is kept.
    pub retention: RetentionConfig,
    /// `[[target]]`: an indicator's target levels (indicators.md, "Targets"); cells get `target`.
    #[serde(rename = "target")]
    pub targets: Vec<lms_queries::target::Target>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LakeConfig {
    /// `file://…` or `s3://bucket/prefix`.
    pub url: String,
}

impl Default for LakeConfig {
    fn default() -> Self {
        LakeConfig { url: "file://./lms-data/lake".into() }
    }
}

/// One region's drop for one extract (or all three when `extract` is absent).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    pub name: String,
    pub rhf: String,
    pub extract: Option<String>,
    /// `file://`, `s3://` or `https://`.
    pub url: String,
    /// Cron expression with seconds.
    #[serde(default = "default_schedule")]
    pub schedule: String,
}

fn default_schedule() -> String {
    "0 0 3 * * *".into()
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    pub listen: String,
    pub flight_listen: String,
    /// Most rows one SQL query answers, over HTTP, Flight SQL and the PostgreSQL protocol.
    pub sql_row_limit: usize,
    /// Connections open at once on each listener (HTTP, Flight SQL, PostgreSQL).
    pub max_connections: usize,
    /// Seconds a connection may take to send a request head, or stay idle between requests.
    pub header_read_timeout_secs: u64,
    /// Largest SQL statement accepted, over every channel.
    pub max_statement_bytes: usize,
    /// Every read written to the access log (`_audit/` in the lake). Off only to measure its cost.
    pub access_log: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "127.0.0.1:8080".into(),
            flight_listen: "127.0.0.1:50051".into(),
            sql_row_limit: lms_server::ServerOptions::new("").sql_row_limit,
            max_connections: lms_server::ServerOptions::new("").max_connections,
            header_read_timeout_secs: lms_server::ServerOptions::new("").header_read_timeout.as_secs(),
            max_statement_bytes: lms_server::ServerOptions::new("").max_statement_bytes,
            access_log: true,
        }
    }
}

/// The PostgreSQL wire protocol for psql, Grafana's PostgreSQL data source, R, Python and ODBC.
/// A token is the password; from other hosts only over TLS (`tls_cert` and `tls_key`, PEM files).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct PostgresConfig {
    /// IP:PORT, e.g. `127.0.0.1:5433`; absent: not served.
    pub listen: Option<String>,
    pub tls_cert: Option<String>,
    pub tls_key: Option<String>,
}

impl PostgresConfig {
    /// Tokens are passwords here: a listener other hosts reach needs TLS. (Without tokens the
    /// server binds to loopback whatever `listen` says.)
    fn validate(&self, tokens: bool) -> anyhow::Result<()> {
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            anyhow::bail!("[postgres] tls_cert and tls_key go together");
        }
        if let Some(listen) = &self.listen {
            let addr: std::net::SocketAddr = listen
                .parse()
                .map_err(|_| anyhow::anyhow!("[postgres] listen `{listen}`: expected IP:PORT, e.g. 127.0.0.1:5433"))?;
            if tokens && !addr.ip().is_loopback() && self.tls_cert.is_none() {
                anyhow::bail!(
                    "[postgres] listen {addr} is reachable from other hosts: set tls_cert and tls_key, \
                     since clients send their token as the password"
                );
            }
        }
        Ok(())
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SuppressionConfig {
    pub min_count: u32,
}

impl Default for SuppressionConfig {
    fn default() -> Self {
        SuppressionConfig { min_count: lms_queries::suppress::MIN_COUNT as u32 }
    }
}

/// `[retention]`: what the passes' garbage collection and `lms lake vacuum` may delete.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// Days every snapshot stays readable: a file a commit replaced is deleted only this long after.
    pub snapshots_days: u32,
    /// Years of person-level rows kept (by their period); older ones leave the lake by a commit of
    /// `lms lake vacuum --apply`. None: kept.
    pub person_level_years: Option<u32>,
    /// Days the access log's objects are kept (interfaces.md: 730).
    pub audit_days: u32,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            snapshots_days: lms_lake::transaction::default_keep_snapshots().num_days() as u32,
            person_level_years: None,
            audit_days: 730,
        }
    }
}

impl RetentionConfig {
    pub fn keep_snapshots(&self) -> chrono::Duration {
        chrono::Duration::days(i64::from(self.snapshots_days))
    }

    /// What `lms lake vacuum` keeps.
    pub fn retention(&self) -> lms_lake::vacuum::Retention {
        lms_lake::vacuum::Retention {
            keep_snapshots: self.keep_snapshots(),
            person_level_years: self.person_level_years,
            audit: chrono::Duration::days(i64::from(self.audit_days)),
            grace: lms_lake::transaction::default_garbage_grace(),
        }
    }
}

/// The build of the published tables at the end of every run.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct PublishConfig {
    /// MiB the build's aggregations, sorts and hash joins may hold together; beyond it aggregations
    /// and sorts spill to temporary files (0: no limit). The build's other memory (reading Parquet,
    /// the views it keeps) comes on top.
    pub memory_limit_mib: u64,
}

impl Default for PublishConfig {
    fn default() -> Self {
        PublishConfig { memory_limit_mib: (lms_queries::publish::BUILD_MEMORY_LIMIT >> 20) as u64 }
    }
}

impl PublishConfig {
    /// The limit in bytes, `None` for no limit.
    pub fn memory_limit(&self) -> Option<usize> {
        let bytes = self.memory_limit_mib.checked_mul(1 << 20).and_then(|b| usize::try_from(b).ok());
        (self.memory_limit_mib > 0).then(|| bytes.unwrap_or(usize::MAX))
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    pub name: String,
    pub role: String,
    /// SHA-256 of the secret, hex.
    pub sha256: String,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct PseudonymConfig {
    /// A file holding the key as hex (`LMS_PSEUDONYM_KEY_FILE`); the key itself only from the environment.
    pub key_file: Option<String>,
}

impl Config {
    /// Reads `path` if given (else defaults), then applies `LMS_*` overrides from `env`.
    pub fn load(path: Option<&Path>, env: impl Fn(&str) -> Option<String>) -> anyhow::Result<Config> {
        let mut config = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| anyhow::anyhow!("config {}: {e}", p.display()))?;
                toml::from_str(&text).map_err(|e| anyhow::anyhow!("config {}: {e}", p.display()))?
            }
            None => Config::default(),
        };
        if let Some(v) = env("LMS_LAKE_URL") {
            config.lake.url = v;
        }
        if let Some(v) = env("LMS_SERVER_LISTEN") {
            config.server.listen = v;
        }
        if let Some(v) = env("LMS_SERVER_FLIGHT_LISTEN") {
            config.server.flight_listen = v;
        }
        if let Some(v) = env("LMS_SERVER_SQL_ROW_LIMIT") {
            config.server.sql_row_limit =
                v.parse().map_err(|_| anyhow::anyhow!("LMS_SERVER_SQL_ROW_LIMIT={v}: expected a whole number"))?;
        }
        for (name, slot) in [
            ("LMS_SERVER_MAX_CONNECTIONS", &mut config.server.max_connections),
            ("LMS_SERVER_MAX_STATEMENT_BYTES", &mut config.server.max_statement_bytes),
        ] {
            if let Some(v) = env(name) {
                *slot = v.parse().map_err(|_| anyhow::anyhow!("{name}={v}: expected a whole number"))?;
            }
        }
        if let Some(v) = env("LMS_SERVER_HEADER_READ_TIMEOUT_SECS") {
            config.server.header_read_timeout_secs = v
                .parse()
                .map_err(|_| anyhow::anyhow!("LMS_SERVER_HEADER_READ_TIMEOUT_SECS={v}: expected a whole number"))?;
        }
        if let Some(v) = env("LMS_SERVER_ACCESS_LOG") {
            config.server.access_log =
                v.parse().map_err(|_| anyhow::anyhow!("LMS_SERVER_ACCESS_LOG={v}: expected true or false"))?;
        }
        if let Some(v) = env("LMS_RETENTION_SNAPSHOTS_DAYS") {
            config.retention.snapshots_days =
                v.parse().map_err(|_| anyhow::anyhow!("LMS_RETENTION_SNAPSHOTS_DAYS={v}: expected a whole number"))?;
        }
        if let Some(v) = env("LMS_RETENTION_AUDIT_DAYS") {
            config.retention.audit_days =
                v.parse().map_err(|_| anyhow::anyhow!("LMS_RETENTION_AUDIT_DAYS={v}: expected a whole number"))?;
        }
        if let Some(v) = env("LMS_POSTGRES_LISTEN") {
            config.postgres.listen = Some(v);
        }
        if let Some(v) = env("LMS_POSTGRES_TLS_CERT") {
            config.postgres.tls_cert = Some(v);
        }
        if let Some(v) = env("LMS_POSTGRES_TLS_KEY") {
            config.postgres.tls_key = Some(v);
        }
        if let Some(v) = env("LMS_SUPPRESSION_MIN_COUNT") {
            config.suppression.min_count =
                v.parse().map_err(|_| anyhow::anyhow!("LMS_SUPPRESSION_MIN_COUNT={v}: expected a whole number"))?;
        }
        if let Some(v) = env("LMS_PUBLISH_MEMORY_LIMIT_MIB") {
            config.publish.memory_limit_mib = v
                .parse()
                .map_err(|_| anyhow::anyhow!("LMS_PUBLISH_MEMORY_LIMIT_MIB={v}: expected a whole number of MiB"))?;
        }
        if let Some(v) = env("LMS_PSEUDONYM_KEY_FILE") {
            config.pseudonym.key_file = Some(v);
        }
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> anyhow::Result<()> {
        lms_lake::Location::parse(&self.lake.url).map_err(|e| anyhow::anyhow!("[lake] url {e}"))?;
        if self.publish.memory_limit_mib > 1 << 30 {
            anyhow::bail!("[publish] memory_limit_mib {}: at most 2^30 (a pebibyte)", self.publish.memory_limit_mib);
        }
        if self.suppression.min_count < 1 {
            anyhow::bail!("[suppression] min_count must be at least 1");
        }
        lms_queries::target::validate(&self.targets, lms_queries::catalogue::embedded())?;
        self.postgres.validate(!self.tokens.is_empty())?;
        for s in &self.sources {
            s.rhf.parse::<lms_schemas::Rhf>().map_err(|e| anyhow::anyhow!("[[source]] {}: {e}", s.name))?;
            if let Some(x) = &s.extract {
                x.parse::<lms_schemas::ExtractKind>().map_err(|e| anyhow::anyhow!("[[source]] {}: {e}", s.name))?;
            }
        }
        for t in &self.tokens {
            if !["analyst", "controller", "dashboard"].contains(&t.role.as_str()) {
                anyhow::bail!("[[token]] {}: role `{}`: expected analyst, controller or dashboard", t.name, t.role);
            }
            if t.sha256.len() != 64 || !t.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                anyhow::bail!("[[token]] {}: sha256 must be 64 hex characters", t.name);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_without_a_file() {
        let c = Config::load(None, |_| None).unwrap();
        assert_eq!(c.lake.url, "file://./lms-data/lake");
        assert_eq!(c.server.listen, "127.0.0.1:8080");
        assert_eq!(c.suppression.min_count, 5);
        assert_eq!(c.publish.memory_limit(), Some(256 << 20));
    }

    #[test]
    fn targets_are_read_and_checked_against_the_catalogue() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lms.toml");
        let write = |text: &str| std::fs::write(&path, text).unwrap();
        write("[[target]]\nindicator = \"a0099_share\"\nbetter = \"higher\"\ngood = 0.8\nacceptable = 0.6\n");
        let c = Config::load(Some(&path), |_| None).unwrap();
        assert_eq!(c.targets.len(), 1);
        assert_eq!(c.targets[0].better, lms_queries::target::Better::Higher);
        write("[[target]]\nindicator = \"no_such\"\nbetter = \"higher\"\ngood = 0.8\nacceptable = 0.6\n");
        let e = Config::load(Some(&path), |_| None).unwrap_err().to_string();
        assert!(e.contains("[[target]] no_such: no such indicator"), "{e}");
        // Higher is better, so good must be at least acceptable.
        write("[[target]]\nindicator = \"a0099_share\"\nbetter = \"higher\"\ngood = 0.5\nacceptable = 0.6\n");
        let e = Config::load(Some(&path), |_| None).unwrap_err().to_string();
        assert!(e.contains("good must be at least acceptable when higher is better"), "{e}");
        write("[[target]]\nindicator = \"a0099_share\"\nbetter = \"up\"\ngood = 0.8\nacceptable = 0.6\n");
        let e = Config::load(Some(&path), |_| None).unwrap_err().to_string();
        assert!(e.contains("unknown variant `up`"), "{e}");
    }

    #[test]
    fn postgres_needs_tls_where_other_hosts_reach_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lms.toml");
        let token =
            "[[token]]\nname = \"g\"\nrole = \"dashboard\"\nsha256 = \"".to_string() + &"ab".repeat(32) + "\"\n";
        let write = |text: &str| std::fs::write(&path, format!("{token}{text}")).unwrap();
        assert_eq!(Config::load(None, |_| None).unwrap().postgres.listen, None, "off by default");
        write("[postgres]\nlisten = \"127.0.0.1:5433\"\n");
        assert_eq!(Config::load(Some(&path), |_| None).unwrap().postgres.listen.as_deref(), Some("127.0.0.1:5433"));
        write("[postgres]\nlisten = \"0.0.0.0:5433\"\n");
        let e = Config::load(Some(&path), |_| None).unwrap_err().to_string();
        assert!(e.contains("[postgres] listen 0.0.0.0:5433 is reachable from other hosts"), "{e}");
        write("[postgres]\nlisten = \"0.0.0.0:5433\"\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"\n");
        assert!(Config::load(Some(&path), |_| None).is_ok());
        write("[postgres]\nlisten = \"127.0.0.1:5433\"\ntls_cert = \"c.pem\"\n");
        let e = Config::load(Some(&path), |_| None).unwrap_err().to_string();
        assert!(e.contains("tls_cert and tls_key go together"), "{e}");
        write("[postgres]\nlisten = \"127.0.0.1:5433\"\n");
        let env = |k: &str| (k == "LMS_POSTGRES_LISTEN").then(|| "localhost".to_string());
        let e = Config::load(Some(&path), env).unwrap_err().to_string();
        assert!(e.contains("expected IP:PORT"), "{e}");
    }

    #[test]
    fn publish_memory_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lms.toml");
        std::fs::write(&path, "[publish]\nmemory_limit_mib = 512\n").unwrap();
        assert_eq!(Config::load(Some(&path), |_| None).unwrap().publish.memory_limit(), Some(512 << 20));
        let none = |k: &str| (k == "LMS_PUBLISH_MEMORY_LIMIT_MIB").then(|| "0".to_string());
        assert_eq!(Config::load(Some(&path), none).unwrap().publish.memory_limit(), None);
        let bad = |k: &str| (k == "LMS_PUBLISH_MEMORY_LIMIT_MIB").then(|| "1G".to_string());
        let e = Config::load(Some(&path), bad).unwrap_err().to_string();
        assert!(e.contains("LMS_PUBLISH_MEMORY_LIMIT_MIB=1G"), "{e}");
        std::fs::write(&path, "[publish]\nmemory_limit_mib = 17592186044416\n").unwrap();
        let e = Config::load(Some(&path), |_| None).unwrap_err().to_string();
        assert!(e.contains("[publish] memory_limit_mib 17592186044416: at most"), "{e}");
    }

    #[test]
    fn file_then_environment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lms.toml");
        std::fs::write(
            &path,
            r#"
[lake]
url = "s3://lake/lms"
[suppression]
min_count = 3
[[source]]
name = "hv"
rhf = "HV"
url = "file:///drop/hv"
"#,
        )
        .unwrap();
        let c = Config::load(Some(&path), |k| (k == "LMS_SUPPRESSION_MIN_COUNT").then(|| "7".to_string())).unwrap();
        assert_eq!(c.lake.url, "s3://lake/lms");
        assert_eq!(c.suppression.min_count, 7);
        assert_eq!(c.sources[0].schedule, "0 0 3 * * *");
        std::fs::write(&path, "[[source]]\nname = \"x\"\nrhf = \"XX\"\nurl = \"file:///x\"\n").unwrap();
        let e = Config::load(Some(&path), |_| None).unwrap_err().to_string();
        assert!(e.contains("unknown region `XX`"), "{e}");
        std::fs::write(&path, "[lake]\nurl = \"file://x\"\ncolour = 1\n").unwrap();
        assert!(Config::load(Some(&path), |_| None).unwrap_err().to_string().contains("colour"));
    }
}

//! The roles a token can have (a leaf: authentication and the error table both name them).

/// What a caller may do; each role includes the ones before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Indicators, variation, metrics, the overview page.
    Dashboard,
    /// Also sources and run history.
    Controller,
    /// Also read-only SQL over the published tables.
    Analyst,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "dashboard" => Some(Role::Dashboard),
            "controller" => Some(Role::Controller),
            "analyst" => Some(Role::Analyst),
            _ => None,
        }
    }
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Dashboard => "dashboard",
            Role::Controller => "controller",
            Role::Analyst => "analyst",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

//! The published cell and its states: why it is hidden ([`Reason`], served as [`Served`]), how it
//! compares with the nation ([`Compared`]) and where it stands against a target ([`Standing`]).
//! Every step of a build (computing, disclosure control, comparison, targets) works on cells; this
//! module depends on none of them.

use crate::catalogue::Level;

/// One published cell before its figures are withheld.
#[derive(Clone, Debug, PartialEq)]
pub struct Cell {
    pub indicator: String,
    /// The year, or a pooled window's middle year.
    pub year: i32,
    /// `YYYY` (= `year`) for one year, `YYYY-YYYY` for a pooled three-year window.
    pub period: String,
    pub level: Level,
    pub rhf: Option<String>,
    pub hf: Option<String>,
    /// Empty for the total cell, else `name=value`.
    pub breakdown: String,
    pub numerator: i64,
    pub denominator: Option<f64>,
    pub value: Option<f64>,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    /// The 99.8 % interval (`ci_low`/`ci_high` are the 95 % one).
    pub ci99_low: Option<f64>,
    pub ci99_high: Option<f64>,
    /// A share: its complement (denominator − numerator) is checked too.
    pub share: bool,
    /// Its numerator, value and intervals are withheld.
    pub suppressed: bool,
    /// Its denominator is withheld too: a count hidden elsewhere, or a share's denominator of 1 to
    /// `min_count − 1` (set only with `suppressed`).
    pub denominator_suppressed: bool,
    /// Why it is suppressed (set with `suppressed`).
    pub reason: Option<Reason>,
    /// An rhf or hf cell's 95 % interval against the national value (`crate::compare`).
    pub compared: Option<Compared>,
    /// Its region's coverage of the extract that year; a national cell's is the lowest of the
    /// regions' (`crate::publish::quality::coverage`).
    pub coverage: Option<f64>,
    /// Where its value stands against the indicator's configured target (`crate::target`).
    pub target: Option<Standing>,
}

/// Why a cell is hidden, as the warehouse records it (the table `disclosure`, `lms audit
/// disclosure`); what is served is only [`Served`] (indicators.md, third edition, 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reason {
    /// Its numerator is 1 to `min_count − 1`.
    Primary,
    /// A share whose denominator minus numerator is 1 to `min_count − 1`.
    Complement,
    /// A share whose denominator is 1 to `min_count − 1`: hidden with its denominator.
    SmallDenominator,
    /// A count it publishes is hidden in another cell (one count, one fate), or a year of its
    /// pooled window is hidden.
    Shared,
    /// Hidden by secondary suppression, so that no hidden count can be worked out.
    Secondary,
    /// Its region delivered too few months of the extract that year.
    Coverage,
}

impl Reason {
    pub const ALL: [Reason; 6] = [
        Reason::Primary,
        Reason::Complement,
        Reason::SmallDenominator,
        Reason::Shared,
        Reason::Secondary,
        Reason::Coverage,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Primary => "primary",
            Reason::Complement => "complement",
            Reason::SmallDenominator => "small_denominator",
            Reason::Shared => "shared",
            Reason::Secondary => "secondary",
            Reason::Coverage => "coverage",
        }
    }

    pub fn parse(s: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// What is served: every reason of disclosure control is `disclosure`.
    pub fn served(self) -> Served {
        match self {
            Reason::Coverage => Served::Coverage,
            _ => Served::Disclosure,
        }
    }
}

/// Why a cell is hidden, as served (`suppression_reason`): a finer reason would tell an attacker
/// which cell is small (a `complement` beside a shown denominator gives the numerator away).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Served {
    Disclosure,
    Coverage,
}

impl Served {
    pub const ALL: [Served; 2] = [Served::Disclosure, Served::Coverage];

    pub fn as_str(self) -> &'static str {
        match self {
            Served::Disclosure => "disclosure",
            Served::Coverage => "coverage",
        }
    }

    pub fn parse(s: &str) -> Option<Served> {
        Served::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// Each served reason with a sentence in Norwegian bokmål and in English: the table `legend` and
/// `GET /api/v1/legend`.
pub const LEGEND: [(Served, &str, &str); 2] = [
    (
        Served::Disclosure,
        "Prikket av personvernhensyn: tallet er lite, eller det kunne vært regnet ut fra andre publiserte tall.",
        "Suppressed for privacy: the count is small, or it could be worked out from other published figures.",
    ),
    (
        Served::Coverage,
        "Holdt tilbake fordi regionen har levert data for under 75 % av månedene i året.",
        "Withheld because the region delivered data for less than 75 % of the months of the year.",
    ),
];

/// How an rhf or hf cell compares with the nation: its 95 % interval lies wholly above, wholly
/// below, or around the national value of the same indicator, year and breakdown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compared {
    Higher,
    Similar,
    Lower,
}

impl Compared {
    pub fn as_str(self) -> &'static str {
        match self {
            Compared::Higher => "higher",
            Compared::Similar => "similar",
            Compared::Lower => "lower",
        }
    }

    pub fn parse(s: &str) -> Option<Compared> {
        [Compared::Higher, Compared::Similar, Compared::Lower].into_iter().find(|c| c.as_str() == s)
    }
}

impl Cell {
    /// A shown cell of `year` (its own period) with a count and, for a share or rate, its
    /// denominator; the value is their quotient (or the count), with no interval, comparison,
    /// coverage or target.
    #[allow(clippy::too_many_arguments)]
    pub fn shown(
        indicator: &str,
        year: i32,
        level: Level,
        rhf: Option<&str>,
        hf: Option<&str>,
        numerator: i64,
        denominator: Option<f64>,
        share: bool,
    ) -> Cell {
        Cell {
            indicator: indicator.into(),
            year,
            period: year.to_string(),
            level,
            rhf: rhf.map(Into::into),
            hf: hf.map(Into::into),
            breakdown: String::new(),
            numerator,
            denominator,
            value: Some(denominator.map_or(numerator as f64, |d| numerator as f64 / d)),
            ci_low: None,
            ci_high: None,
            ci99_low: None,
            ci99_high: None,
            share,
            suppressed: false,
            denominator_suppressed: false,
            reason: None,
            compared: None,
            coverage: None,
            target: None,
        }
    }

    /// What identifies the cell: (indicator, year, period, level, rhf, hf, breakdown).
    pub fn key(&self) -> (&str, i32, &str, Level, Option<&str>, Option<&str>, &str) {
        (&self.indicator, self.year, &self.period, self.level, self.rhf.as_deref(), self.hf.as_deref(), &self.breakdown)
    }

    /// A pooled window's cell (its period is not its year).
    pub fn pooled(&self) -> bool {
        self.period.len() > 4
    }
}

/// A cell's standing against its target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    Good,
    Acceptable,
    Below,
}

impl Standing {
    pub fn as_str(self) -> &'static str {
        match self {
            Standing::Good => "good",
            Standing::Acceptable => "acceptable",
            Standing::Below => "below",
        }
    }

    pub fn parse(s: &str) -> Option<Standing> {
        [Standing::Good, Standing::Acceptable, Standing::Below].into_iter().find(|x| x.as_str() == s)
    }
}

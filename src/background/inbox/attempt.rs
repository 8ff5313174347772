//! The attempt log: what became of each attempt at a delivery.
//!
//! The dispatcher reports every attempt's outcome to the inbox with the
//! call that records it ([`complete`](super::Inbox::complete),
//! [`retry`](super::Inbox::retry), [`dead_letter`](super::Inbox::dead_letter),
//! [`abandon`](super::Inbox::abandon)), as an [`AttemptRecord`]; the inbox
//! keeps the last [`MAX_ATTEMPT_LOG`] of them with the delivery, and
//! [`Record::attempt_log`](super::Record::attempt_log) shows them. An
//! attempt whose worker never reported (its process died, or it hung past
//! its lease) is logged by the inbox itself as [`AttemptOutcome::Lost`]
//! when the delivery is handed out again.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::InboxError;

/// How many attempts the log of one delivery keeps: the latest.
pub const MAX_ATTEMPT_LOG: usize = 20;

/// The longest error text an [`AttemptRecord`] keeps, in bytes; a longer
/// one is cut at a character boundary and ends with `…`.
pub const MAX_ERROR_LEN: usize = 512;

/// How one attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AttemptOutcome {
    /// The handler succeeded.
    Handled,
    /// The handler returned an error.
    Failed,
    /// The handler ran past the attempt timeout and was stopped.
    TimedOut,
    /// The handler panicked.
    Panicked,
    /// Retrying cannot help: the payload does not fit its handler's type
    /// (or no handler takes it any more), or earlier attempts never
    /// finished and the attempts are used up.
    Unprocessable,
    /// Cut off by a graceful shutdown and handed back; the attempt is not
    /// counted, so the next one has the same number.
    Abandoned,
    /// Its worker never reported: the lease ran out (the process died, or
    /// the handler hung), and the delivery was handed out again.
    Lost,
}

impl AttemptOutcome {
    /// Every outcome.
    pub const ALL: [AttemptOutcome; 7] = [
        AttemptOutcome::Handled,
        AttemptOutcome::Failed,
        AttemptOutcome::TimedOut,
        AttemptOutcome::Panicked,
        AttemptOutcome::Unprocessable,
        AttemptOutcome::Abandoned,
        AttemptOutcome::Lost,
    ];

    /// The outcome's name: `handled`, `failed`, `timed_out`, `panicked`,
    /// `unprocessable`, `abandoned`, `lost`.
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptOutcome::Handled => "handled",
            AttemptOutcome::Failed => "failed",
            AttemptOutcome::TimedOut => "timed_out",
            AttemptOutcome::Panicked => "panicked",
            AttemptOutcome::Unprocessable => "unprocessable",
            AttemptOutcome::Abandoned => "abandoned",
            AttemptOutcome::Lost => "lost",
        }
    }

    /// Whether the attempt failed (any outcome but handled, abandoned or
    /// lost).
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            AttemptOutcome::Failed
                | AttemptOutcome::TimedOut
                | AttemptOutcome::Panicked
                | AttemptOutcome::Unprocessable
        )
    }
}

impl fmt::Display for AttemptOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for AttemptOutcome {
    type Err = InboxError;

    fn from_str(s: &str) -> Result<Self, InboxError> {
        AttemptOutcome::ALL
            .into_iter()
            .find(|outcome| outcome.as_str() == s)
            .ok_or_else(|| InboxError::new(format!("unknown attempt outcome {s:?}")))
    }
}

/// One attempt at a delivery: its number, when it ended, how long it ran,
/// how it ended and its error.
///
/// Times are whole milliseconds since the Unix epoch and durations whole
/// microseconds, so that every inbox gives back exactly what it was given.
///
/// ```
/// use std::time::Duration;
/// use hookwarden::inbox::{AttemptOutcome, AttemptRecord};
///
/// let attempt = AttemptRecord::new(2, AttemptOutcome::Failed, Duration::from_millis(40))
///     .with_error("503 from the billing service");
/// assert_eq!(attempt.attempt(), 2);
/// assert_eq!(attempt.error(), Some("503 from the billing service"));
/// assert_eq!(attempt.duration(), Some(Duration::from_millis(40)));
/// assert_eq!(attempt.started_at(), Some(attempt.finished_at() - Duration::from_millis(40)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRecord {
    attempt: u32,
    outcome: AttemptOutcome,
    finished_at: SystemTime,
    duration: Option<Duration>,
    error: Option<Box<str>>,
}

impl AttemptRecord {
    /// Attempt number `attempt` (counting from 1), which ended now with
    /// `outcome` after running for `duration`.
    pub fn new(attempt: u32, outcome: AttemptOutcome, duration: Duration) -> Self {
        Self {
            attempt,
            outcome,
            finished_at: whole_millis(SystemTime::now()),
            duration: Some(whole_micros(duration)),
            error: None,
        }
    }

    /// An attempt whose worker never reported: its lease ran out at `at`
    /// (for backends, which find it when they hand the delivery out again).
    pub fn lost(attempt: u32, at: SystemTime) -> Self {
        Self {
            attempt,
            outcome: AttemptOutcome::Lost,
            finished_at: whole_millis(at),
            duration: None,
            error: None,
        }
    }

    /// With its error, cut to [`MAX_ERROR_LEN`] bytes.
    pub fn with_error(mut self, error: impl AsRef<str>) -> Self {
        self.error = Some(bounded_error(error.as_ref()).into());
        self
    }

    /// Ended at `at` rather than now.
    pub fn with_finished_at(mut self, at: SystemTime) -> Self {
        self.finished_at = whole_millis(at);
        self
    }

    /// Which attempt, counting from 1 (a replayed dead letter counts from
    /// 1 again).
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// How it ended.
    pub fn outcome(&self) -> AttemptOutcome {
        self.outcome
    }

    /// When it ended; for a [lost](AttemptOutcome::Lost) attempt, when its
    /// lease ran out.
    pub fn finished_at(&self) -> SystemTime {
        self.finished_at
    }

    /// When it started, where known (not for a lost attempt).
    pub fn started_at(&self) -> Option<SystemTime> {
        self.duration.and_then(|ran| self.finished_at.checked_sub(ran))
    }

    /// How long it ran, where known (not for a lost attempt).
    pub fn duration(&self) -> Option<Duration> {
        self.duration
    }

    /// Its error: the handler's, `panic: …`, `timed out after …`, or why
    /// the payload does not fit.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }
}

/// The JSON form of a record, kept by the durable backends.
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
impl AttemptRecord {
    /// The record as one line of compact JSON (for backends):
    /// `{"n":1,"at":<ms since the epoch>,"us":<µs>,"outcome":"failed","error":"…"}`,
    /// without `us` or `error` when there are none.
    pub(crate) fn to_json(&self) -> String {
        let wire = Wire {
            n: self.attempt,
            at: millis_since_epoch(self.finished_at),
            us: self.duration.map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX)),
            outcome: self.outcome.as_str().into(),
            error: self.error.as_deref().map(Into::into),
        };
        serde_json::to_string(&wire).expect("a record always serialises")
    }

    /// Parses one record written by [`to_json`](Self::to_json) (or by a
    /// backend's own code in the same shape).
    pub(crate) fn from_json(json: &str) -> Result<Self, InboxError> {
        let wire: Wire = serde_json::from_str(json)
            .map_err(|e| InboxError::new(format!("malformed attempt record: {e}")))?;
        let at = if wire.at >= 0 {
            UNIX_EPOCH + Duration::from_millis(wire.at.unsigned_abs())
        } else {
            UNIX_EPOCH
                .checked_sub(Duration::from_millis(wire.at.unsigned_abs()))
                .unwrap_or(UNIX_EPOCH)
        };
        Ok(Self {
            attempt: wire.n,
            outcome: wire.outcome.parse()?,
            finished_at: at,
            duration: wire.us.map(Duration::from_micros),
            error: wire.error.map(|e| bounded_error(&e).into()),
        })
    }
}

/// The JSON shape of one record, shared by the durable backends.
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
#[derive(serde::Serialize, serde::Deserialize)]
struct Wire {
    n: u32,
    at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    us: Option<u64>,
    outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// Parses a log kept as JSON lines, one record a line, oldest first (for
/// backends); keeps the last [`MAX_ATTEMPT_LOG`].
#[cfg(any(feature = "sqlite", feature = "redis"))]
pub(crate) fn parse_lines(lines: &str) -> Result<Vec<AttemptRecord>, InboxError> {
    let mut log: Vec<AttemptRecord> = lines
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(AttemptRecord::from_json)
        .collect::<Result<_, _>>()?;
    trim(&mut log);
    Ok(log)
}

/// Parses a log kept as a JSON array of records, oldest first (for
/// backends); keeps the last [`MAX_ATTEMPT_LOG`].
#[cfg(feature = "postgres")]
pub(crate) fn parse_array(json: &str) -> Result<Vec<AttemptRecord>, InboxError> {
    let entries: Vec<&serde_json::value::RawValue> = serde_json::from_str(json)
        .map_err(|e| InboxError::new(format!("malformed attempt log: {e}")))?;
    let mut log: Vec<AttemptRecord> = entries
        .into_iter()
        .map(|raw| AttemptRecord::from_json(raw.get()))
        .collect::<Result<_, _>>()?;
    trim(&mut log);
    Ok(log)
}

#[cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
fn trim(log: &mut Vec<AttemptRecord>) {
    if log.len() > MAX_ATTEMPT_LOG {
        log.drain(..log.len() - MAX_ATTEMPT_LOG);
    }
}

/// `error`, cut to at most [`MAX_ERROR_LEN`] bytes at a character
/// boundary (the cut marked with `…`).
pub(crate) fn bounded_error(error: &str) -> String {
    if error.len() <= MAX_ERROR_LEN {
        return error.to_owned();
    }
    const MARK: &str = "…";
    let mut end = MAX_ERROR_LEN - MARK.len();
    while !error.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{MARK}", &error[..end])
}

#[cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
fn millis_since_epoch(at: SystemTime) -> i64 {
    match at.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_millis()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_millis()).map_or(i64::MIN, |ms| -ms),
    }
}

fn whole_millis(at: SystemTime) -> SystemTime {
    match at.duration_since(UNIX_EPOCH) {
        Ok(after) => {
            UNIX_EPOCH + Duration::from_millis(after.as_millis().min(u64::MAX as u128) as u64)
        }
        Err(_) => UNIX_EPOCH,
    }
}

fn whole_micros(duration: Duration) -> Duration {
    Duration::from_micros(u64::try_from(duration.as_micros()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
    fn a_record_survives_json_exactly() {
        let record =
            AttemptRecord::new(3, AttemptOutcome::Panicked, Duration::from_nanos(1_234_567))
                .with_error("panic: \"quoted\"\nand a new line / slash");
        assert_eq!(record.duration(), Some(Duration::from_micros(1_234)));
        let json = record.to_json();
        assert!(!json.contains('\n'), "one line: {json}");
        assert_eq!(AttemptRecord::from_json(&json).unwrap(), record);
        let lost = AttemptRecord::lost(1, UNIX_EPOCH + Duration::from_millis(1_700_000_000_123));
        assert_eq!(AttemptRecord::from_json(&lost.to_json()).unwrap(), lost);
        assert_eq!(lost.started_at(), None);
    }

    #[test]
    fn long_errors_are_cut_at_a_character_boundary() {
        let long = "é".repeat(1000);
        let record =
            AttemptRecord::new(1, AttemptOutcome::Failed, Duration::ZERO).with_error(&long);
        let error = record.error().unwrap();
        assert!(error.len() <= MAX_ERROR_LEN, "{}", error.len());
        assert!(error.ends_with('…'));
        assert!(error.len() > MAX_ERROR_LEN - 8);
    }

    #[test]
    #[cfg(all(feature = "sqlite", feature = "postgres"))]
    fn logs_keep_the_last_records() {
        let lines: Vec<String> = (1..=25)
            .map(|n| AttemptRecord::new(n, AttemptOutcome::Failed, Duration::ZERO).to_json())
            .collect();
        let log = parse_lines(&lines.join("\n")).unwrap();
        assert_eq!(log.len(), MAX_ATTEMPT_LOG);
        assert_eq!(log[0].attempt(), 6);
        let log = parse_array(&format!("[{}]", lines.join(","))).unwrap();
        assert_eq!(log.len(), MAX_ATTEMPT_LOG);
        assert_eq!(log.last().unwrap().attempt(), 25);
        assert!(parse_array("[]").unwrap().is_empty());
        assert!(parse_lines("").unwrap().is_empty());
    }
}

//! Session ids and where sessions are: an id is the UTC time a session began, sortable and safe
//! in a path; each session is a directory of that name under the data directory's `sessions`.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use super::log::{SessionError, TRANSCRIPT};

/// Seconds since the Unix epoch, now.
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// `YYYY-MM-DDTHH-MM-SSZ` (UTC) for `secs` since the Unix epoch: sortable and safe in a path.
pub fn id_for(secs: f64) -> String {
    let t = secs.max(0.0) as i64;
    let (days, rest) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}-{:02}-{:02}Z",
        rest / 3600,
        (rest / 60) % 60,
        rest % 60
    )
}

/// Whether `id` can name a session: letters, digits, `-`, `_`, `.` (not leading), so it can
/// never reach outside the sessions directory.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && !id.starts_with('.')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Where sessions live under a data directory.
pub fn sessions_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("sessions")
}

/// The directory of session `id` under `data_dir`, if there is one.
pub fn find(data_dir: &Path, id: &str) -> Result<PathBuf, SessionError> {
    let missing = || SessionError::NoSuchSession { id: id.to_string() };
    if !valid_id(id) {
        return Err(missing());
    }
    let dir = sessions_dir(data_dir).join(id);
    if dir.join(TRANSCRIPT).is_file() {
        Ok(dir)
    } else {
        Err(missing())
    }
}

/// The ids of the sessions under `data_dir`, oldest first.
pub fn list_ids(data_dir: &Path) -> Vec<String> {
    let mut ids: Vec<String> = fs::read_dir(sessions_dir(data_dir))
        .map(|d| {
            d.filter_map(Result::ok)
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|id| valid_id(id))
                .collect()
        })
        .unwrap_or_default();
    ids.retain(|id| sessions_dir(data_dir).join(id).join(TRANSCRIPT).is_file());
    ids.sort();
    ids
}

//! The config while it runs: the file's text and hash, reloads (file watch, SIGHUP) and saves
//! (`PUT /api/config`). A config with errors never replaces the running one; requests keep the
//! snapshot they started with.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aperture_auth::{Access, Identity};
use aperture_config::{Config, Diagnostic, Diagnostics, Loader, Mode, Severity};

use crate::compose::Stacks;
use crate::error::Error;
use crate::runtime::{Active, Runtime, Snapshot};

/// SHA-256 of `text`, lowercase hex.
pub fn hash_text(text: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reload {
    /// The file's hash did not change.
    Unchanged,
    /// The new config is serving.
    Applied,
    /// The file could not be read or had errors; the running config stays. The text says why.
    Kept(String),
}

/// Reload counts by source and result, for `/metrics`.
#[derive(Debug, Default)]
pub struct ReloadCounts {
    /// `[file, signal, api]` × `[success, failure]`.
    counts: [[AtomicU64; 2]; 3],
}

impl ReloadCounts {
    fn count(&self, source: ReloadSource, ok: bool) {
        self.counts[source as usize][usize::from(!ok)].fetch_add(1, Ordering::Relaxed);
    }

    /// The count for one source and result.
    pub fn get(&self, source: ReloadSource, ok: bool) -> u64 {
        self.counts[source as usize][usize::from(!ok)].load(Ordering::Relaxed)
    }
}

/// What started a reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReloadSource {
    /// The file changed.
    File = 0,
    /// SIGHUP.
    Signal = 1,
    /// `PUT /api/config`.
    Api = 2,
}

impl ReloadSource {
    /// The name used in logs and `/metrics` labels.
    pub fn name(self) -> &'static str {
        match self {
            ReloadSource::File => "file",
            ReloadSource::Signal => "signal",
            ReloadSource::Api => "api",
        }
    }
}

struct FileState {
    text: String,
    hash: String,
}

/// Composes the stacks for a config version; the store is handed in (weakly) so the admin
/// service can save and reload through it.
pub(crate) type Composer = Box<dyn Fn(Arc<Runtime>, Weak<ConfigStore>) -> Stacks + Send + Sync>;

/// The running config and where it lives.
pub struct ConfigStore {
    snapshot: Snapshot,
    compose: Composer,
    me: Weak<ConfigStore>,
    file: Option<PathBuf>,
    history: PathBuf,
    state: tokio::sync::Mutex<FileState>,
    /// Reload outcomes.
    pub reloads: ReloadCounts,
}

impl std::fmt::Debug for ConfigStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigStore")
            .field("file", &self.file)
            .finish_non_exhaustive()
    }
}

impl ConfigStore {
    /// A store serving `config`, whose text is `text`, with stacks from `compose`. With a
    /// `file`, saves write it and reloads read it; without one (an embedded gateway), saves only
    /// swap the config.
    pub(crate) fn new(
        config: Arc<Config>,
        text: String,
        file: Option<PathBuf>,
        compose: Composer,
    ) -> Arc<Self> {
        let history = config.gateway.data_dir.join("config-history");
        Arc::new_cyclic(|me: &Weak<ConfigStore>| {
            let runtime = Arc::new(Runtime::new(config));
            let stacks = compose(runtime.clone(), me.clone());
            Self {
                snapshot: Snapshot::new(Active { runtime, stacks }),
                compose,
                me: me.clone(),
                file,
                history,
                state: tokio::sync::Mutex::new(FileState {
                    hash: hash_text(&text),
                    text,
                }),
                reloads: ReloadCounts::default(),
            }
        })
    }

    /// Compiles `config`, composes its stacks and makes it the running version.
    fn activate(&self, config: Arc<Config>) {
        let runtime = Arc::new(Runtime::new(config));
        let stacks = (self.compose)(runtime.clone(), self.me.clone());
        self.snapshot.store(Active { runtime, stacks });
    }

    /// The current runtime snapshot.
    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    /// The config file, if any.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// The running config's text and hash.
    pub async fn current(&self) -> (String, String) {
        let s = self.state.lock().await;
        (s.text.clone(), s.hash.clone())
    }

    /// Re-reads the file; applies it when it changed and has no errors (warnings are logged).
    pub async fn reload(&self, source: ReloadSource) -> Reload {
        let mut state = self.state.lock().await;
        self.reload_locked(&mut state, source)
    }

    /// The body of [`ConfigStore::reload`], with the state already locked.
    fn reload_locked(&self, state: &mut FileState, source: ReloadSource) -> Reload {
        let Some(path) = &self.file else {
            return Reload::Unchanged;
        };
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                let why = format!(
                    "cannot read {}: {e}; keeping the running config",
                    path.display()
                );
                tracing::warn!(source = source.name(), "reload: {why}");
                self.reloads.count(source, false);
                return Reload::Kept(why);
            }
        };
        let hash = hash_text(&text);
        if hash == state.hash {
            return Reload::Unchanged;
        }
        let loaded = Loader::new().mode(Mode::Load).load_str(&text);
        let shown = path.display().to_string();
        for d in loaded
            .diagnostics
            .iter()
            .filter(|d| d.severity != Severity::Info)
        {
            tracing::warn!(source = source.name(), "{}", d.render(&shown));
        }
        let Some(config) = loaded.config else {
            let why = format!("{shown} has errors; keeping the running config");
            tracing::warn!(source = source.name(), "reload: {why}");
            self.reloads.count(source, false);
            return Reload::Kept(why);
        };
        self.activate(Arc::new(config));
        *state = FileState {
            text,
            hash: hash.clone(),
        };
        self.reloads.count(source, true);
        tracing::info!(source = source.name(), file = %shown, %hash, "config reloaded");
        Reload::Applied
    }

    /// Validates `text` as a save would (strict mode), without saving.
    pub fn validate(text: &str) -> Diagnostics {
        let mut diagnostics = Loader::new().mode(Mode::Strict).load_str(text).diagnostics;
        if text.trim().is_empty() {
            diagnostics = Diagnostics::new();
            diagnostics.push(Diagnostic::new(
                Severity::Error,
                "",
                "config must not be empty",
            ));
        }
        diagnostics
    }

    /// Replaces the config with `text` if `base_hash` is the running one's, the text passes
    /// strict validation and `saver` stays an admin. `"__REDACTED__"` keeps the running value
    /// at that place. The file is written atomically and the previous one kept in
    /// `data_dir/config-history/` with an audit line. Returns the new hash.
    pub async fn save(
        &self,
        text: &str,
        base_hash: &str,
        saver: &Identity,
        saver_under: &(dyn Fn(&aperture_config::Config) -> Option<Identity> + Sync),
    ) -> Result<String, Error> {
        let mut state = self.state.lock().await;
        // A file edited since the last reload is read first, so a save never silently
        // overwrites an edit the watcher has not picked up yet.
        self.reload_locked(&mut state, ReloadSource::File);
        if base_hash != state.hash {
            return Err(Error::StaleConfig {
                current: state.hash.clone(),
            });
        }
        let text = aperture_config::restore_redacted(text, &state.text).map_err(|missing| {
            let mut ds = Diagnostics::new();
            for p in missing {
                ds.push(Diagnostic::new(
                    Severity::Error,
                    p,
                    "\"__REDACTED__\" cannot be kept here (no secret was here, or where it is sent changed): enter the value",
                ));
            }
            Error::InvalidConfig(ds)
        })?;
        let diagnostics = Self::validate(&text);
        if diagnostics.has_errors() {
            return Err(Error::InvalidConfig(diagnostics));
        }
        let loaded = Loader::new().mode(Mode::Strict).load_str(&text);
        let Some(config) = loaded.config else {
            return Err(Error::InvalidConfig(loaded.diagnostics));
        };
        // The saver, as the new config would identify them, must still be an admin.
        let still_admin = saver_under(&config)
            .is_some_and(|id| Access::for_identity(&config.grants, &id).is_admin());
        if !still_admin {
            let mut ds = Diagnostics::new();
            ds.push(Diagnostic::new(
                Severity::Error,
                "/grants",
                format!(
                    "config would remove admin access for {}",
                    serde_json::Value::from(saver.login.as_str())
                ),
            ));
            return Err(Error::InvalidConfig(ds));
        }
        let hash = hash_text(&text);
        if let Some(path) = &self.file {
            write_atomically(path, &text)
                .map_err(|e| Error::Internal(format!("cannot write {}: {e}", path.display())))?;
            self.record_history(&state, &hash, &saver.login);
        }
        self.activate(Arc::new(config));
        *state = FileState {
            text,
            hash: hash.clone(),
        };
        self.reloads.count(ReloadSource::Api, true);
        tracing::info!(login = %saver.login, %hash, "config saved through the API");
        Ok(hash)
    }

    /// Keeps the replaced text and an audit line (who, when, hashes before and after). Failures
    /// are logged; the save itself has happened.
    fn record_history(&self, before: &FileState, after_hash: &str, login: &str) {
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let result = std::fs::create_dir_all(&self.history)
            .and_then(|()| {
                let name = format!(
                    "{millis}-{}.json",
                    &before.hash[..12.min(before.hash.len())]
                );
                use std::io::Write;
                private_file(&self.history.join(name), 0o600, false)?
                    .write_all(before.text.as_bytes())
            })
            .and_then(|()| {
                use std::io::Write;
                let line = serde_json::json!({
                    "time_ms": millis as u64, "login": login,
                    "before": before.hash, "after": after_hash,
                });
                let mut f = private_file(&self.history.join("audit.jsonl"), 0o600, true)?;
                writeln!(f, "{line}")
            });
        if let Err(e) = result {
            tracing::error!(error = %e, "config saved, but its history could not be recorded");
        }
    }

    /// Watches the file: every `period`, a changed modification time or size triggers a
    /// reload (an unchanged hash is ignored). Runs until the process ends.
    pub async fn watch(self: Arc<Self>, period: Duration) {
        let Some(path) = self.file.clone() else {
            return;
        };
        let stamp = |p: &Path| {
            std::fs::metadata(p)
                .ok()
                .map(|m| (m.modified().ok(), m.len()))
        };
        // The first look always compares hashes: the file may have changed before the watch.
        let mut seen = None;
        let mut tick = tokio::time::interval(period);
        loop {
            tick.tick().await;
            let now = Some(stamp(&path));
            if now != seen {
                seen = now;
                self.reload(ReloadSource::File).await;
            }
        }
    }
}

/// The permission bits of an existing file.
fn existing_mode(path: &Path) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path)
            .ok()
            .map(|m| m.permissions().mode() & 0o777)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// Creates (or appends to) a file with permission bits `mode`, whatever the umask.
pub(crate) fn private_file(path: &Path, mode: u32, append: bool) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.create(true).write(true);
    if append {
        options.append(true);
    } else {
        options.truncate(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(mode);
        let f = options.open(path)?;
        f.set_permissions(std::fs::Permissions::from_mode(mode))?;
        Ok(f)
    }
    #[cfg(not(unix))]
    {
        let _ = mode;
        options.open(path)
    }
}

/// Writes `text` to a temporary file beside `path`, syncs it and renames it over `path`.
fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    // The new file keeps the old one's permissions (0600 for a new one): configs hold keys.
    let mode = existing_mode(path).unwrap_or(0o600);
    let mut f = private_file(&tmp, mode, false)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::hash_text;

    #[test]
    fn sha256_hex() {
        assert_eq!(
            hash_text(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}

//! A private `XDG_RUNTIME_DIR` for the GPU drivers when the environment has
//! no usable one.
//!
//! On Linux, Mesa's Vulkan drivers (lavapipe among them), which the Vulkan
//! loader loads whenever a wgpu instance is created, link libwayland-client,
//! and it prints `error: XDG_RUNTIME_DIR is invalid or not set in the
//! environment.` straight to stderr at every instance when the variable is
//! unset or not an absolute path: on a server, in a container, over ssh
//! without a login session, in CI. Nothing is wrong, there is just no
//! Wayland display to find, but it is the first thing a user would see, and
//! it is printed by C code that no logger filters.
//!
//! So before host-bench's first GPU call ([`prepare`], from
//! `Backend::availability` and `MarkContext::open_gpus`), where the variable
//! is unset, empty, relative or names no directory, it is pointed at a
//! private temporary directory (mode 0700, made by `tempfile`), which
//! [`Cleanup`] removes when host-bench exits; `-vv` says so. A run that
//! touches no GPU (`--backend cpu`, `--help`, a file that fails to resolve)
//! changes nothing. A usable `XDG_RUNTIME_DIR` is left alone.
//!
//! Changing the environment is sound only while no other thread can read
//! it. host-bench's first GPU call comes from the main thread while it
//! plans, before any worker thread starts (clap's parsing of `--backend`, or
//! `Plan::from_args`), and [`prepare`] checks that: if
//! `/proc/self/task` lists more than one thread, it leaves the variable as
//! it is (and the drivers' line may appear).

/// Makes `XDG_RUNTIME_DIR` usable before the first GPU instance (see the
/// module documentation). Only the first call does anything; without the
/// `gpu` feature nothing calls it.
#[cfg_attr(not(feature = "gpu"), allow(dead_code))]
pub fn prepare() {
    #[cfg(all(feature = "gpu", target_os = "linux"))]
    imp::prepare();
}

/// Removes the private directory [`prepare`] made, if any, when dropped:
/// `main` holds one for its whole run.
pub struct Cleanup;

impl Drop for Cleanup {
    fn drop(&mut self) {
        #[cfg(all(feature = "gpu", target_os = "linux"))]
        imp::cleanup();
    }
}

#[cfg(all(feature = "gpu", target_os = "linux"))]
mod imp {
    use std::ffi::OsStr;
    use std::path::Path;
    use std::sync::{Mutex, Once};

    const VAR: &str = "XDG_RUNTIME_DIR";

    static ONCE: Once = Once::new();
    static DIR: Mutex<Option<tempfile::TempDir>> = Mutex::new(None);

    pub fn prepare() {
        ONCE.call_once(|| {
            let Some(why) = unusable(std::env::var_os(VAR).as_deref()) else {
                return;
            };
            let threads = std::fs::read_dir("/proc/self/task").map(|d| d.count());
            if !matches!(threads, Ok(1)) {
                log::debug!(
                    "{VAR} {why}; left so, as other threads are running (the GPU drivers may \
                     complain about it)"
                );
                return;
            }
            match tempfile::Builder::new()
                .prefix("host-bench-runtime-")
                .tempdir()
            {
                Ok(dir) => {
                    // Sound: this process has one thread (checked above).
                    std::env::set_var(VAR, dir.path());
                    log::debug!(
                        "{VAR} {why}: set to {}, a private directory removed at exit, so that \
                         the GPU drivers' Wayland client does not complain",
                        dir.path().display()
                    );
                    if let Ok(mut d) = DIR.lock() {
                        *d = Some(dir);
                    }
                }
                Err(e) => log::debug!("{VAR} {why}, and no directory could be made for it: {e}"),
            }
        });
    }

    pub fn cleanup() {
        if let Ok(mut d) = DIR.lock() {
            d.take();
        }
    }

    /// Why `value` is no usable runtime directory; `None` if it is one.
    pub(super) fn unusable(value: Option<&OsStr>) -> Option<&'static str> {
        let Some(v) = value else {
            return Some("is not set");
        };
        let p = Path::new(v);
        if v.is_empty() {
            Some("is empty")
        } else if !p.is_absolute() {
            Some("is not an absolute path")
        } else if !p.is_dir() {
            Some("names no directory")
        } else {
            None
        }
    }
}

#[cfg(all(test, feature = "gpu", target_os = "linux"))]
mod tests {
    use super::imp::unusable;
    use std::ffi::OsStr;

    #[test]
    fn unusable_values_are_named() {
        assert_eq!(unusable(None), Some("is not set"));
        assert_eq!(unusable(Some(OsStr::new(""))), Some("is empty"));
        assert_eq!(
            unusable(Some(OsStr::new("run/user"))),
            Some("is not an absolute path")
        );
        assert_eq!(
            unusable(Some(OsStr::new("/nonexistent/host-bench"))),
            Some("names no directory")
        );
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(unusable(Some(dir.path().as_os_str())), None);
    }
}

//! What machine a report was measured on, and how much memory is free.
//!
//! Read from `/proc` and `/etc/os-release` where they exist; every field that
//! cannot be learned on a platform is `None` rather than a guess.

use crate::record::Machine;

/// Learning `Machine` (in [`crate::record`]) from the running system.
impl Machine {
    /// Describes the machine this process runs on.
    pub fn detect() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").ok();
        let os_release = std::fs::read_to_string("/etc/os-release").ok();
        Machine {
            cpu_model: cpuinfo.as_deref().and_then(cpu_model),
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            os: os_release
                .as_deref()
                .and_then(pretty_name)
                .unwrap_or_else(|| std::env::consts::OS.to_string()),
            arch: std::env::consts::ARCH.to_string(),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .ok()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty()),
            mem_bytes: meminfo_field("MemTotal"),
        }
    }

    /// One line for the report footer.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{}, {} cores, {} {}",
            self.cpu_model.as_deref().unwrap_or("unknown CPU"),
            self.cores,
            self.os,
            self.arch
        );
        if let Some(m) = self.mem_bytes {
            s.push_str(&format!(", {} RAM", human_bytes(m)));
        }
        s
    }
}

/// The first "model name" (x86) or "Model"/"Processor"-style line of
/// /proc/cpuinfo.
fn cpu_model(cpuinfo: &str) -> Option<String> {
    ["model name", "Model", "cpu model", "Processor"]
        .iter()
        .find_map(|key| {
            cpuinfo.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                (k.trim() == *key && !v.trim().is_empty()).then(|| v.trim().to_string())
            })
        })
}

fn pretty_name(os_release: &str) -> Option<String> {
    os_release.lines().find_map(|l| {
        let v = l.strip_prefix("PRETTY_NAME=")?;
        Some(v.trim().trim_matches('"').to_string())
    })
}

/// A field of /proc/meminfo in bytes ("MemAvailable", "MemTotal").
pub fn meminfo_field(name: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    parse_meminfo(&text, name)
}

fn parse_meminfo(text: &str, name: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        if k.trim() != name {
            return None;
        }
        let mut it = v.split_whitespace();
        let n: u64 = it.next()?.parse().ok()?;
        Some(match it.next() {
            Some("kB") => n * 1024,
            _ => n,
        })
    })
}

/// Bytes as a short human figure ("1.5 GiB").
pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_files() {
        let ci =
            "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Processor\n";
        assert_eq!(cpu_model(ci).as_deref(), Some("Intel(R) Xeon(R) Processor"));
        let mi = "MemTotal:       24000000 kB\nMemAvailable:   22000000 kB\n";
        assert_eq!(parse_meminfo(mi, "MemAvailable"), Some(22_000_000 * 1024));
        assert_eq!(parse_meminfo(mi, "SwapTotal"), None);
        let os = "NAME=\"Ubuntu\"\nPRETTY_NAME=\"Ubuntu 24.04 LTS\"\n";
        assert_eq!(pretty_name(os).as_deref(), Some("Ubuntu 24.04 LTS"));
        assert_eq!(human_bytes(3 << 30), "3.0 GiB");
    }
}

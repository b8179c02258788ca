//! Facts about this host and PID namespace that qualify a PID: boot id, namespace inode, name.

use std::sync::OnceLock;

/// Where a PID is meaningful: a PID from another boot, namespace or host names nothing here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostFacts {
    /// `/proc/sys/kernel/random/boot_id`, changed at every boot.
    pub boot_id: String,
    /// Inode of `/proc/self/ns/pid`: processes in other PID namespaces number their PIDs apart.
    pub pid_ns: u64,
    /// The host name.
    pub host: String,
}

/// The facts of the running host, read once per process.
pub fn host_facts() -> &'static HostFacts {
    static FACTS: OnceLock<HostFacts> = OnceLock::new();
    FACTS.get_or_init(|| HostFacts {
        boot_id: std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .map(|s| s.trim().to_owned())
            .unwrap_or_default(),
        pid_ns: pid_namespace_inode(),
        host: nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default(),
    })
}

fn pid_namespace_inode() -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self/ns/pid").map_or(0, |m| m.ino())
}

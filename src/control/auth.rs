//! Who may use the control socket: root, the supervisor's own user, and members of
//! `socket_group`. The socket's file mode (0600, or 0660 with a group) stops most strangers at
//! `connect`; every accepted connection is checked again with `SO_PEERCRED`, for a socket whose
//! mode was loosened. `SO_PEERCRED` carries only the primary gid, so membership also counts the
//! peer user's supplementary groups (`getgrouplist`).

use std::ffi::CString;
use std::io;
use std::os::unix::net::UnixStream;

use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
use nix::unistd::{getgrouplist, Gid, Uid, User};

/// The peer of a connection, from `SO_PEERCRED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    /// Its user id.
    pub uid: u32,
    /// Its primary group id.
    pub gid: u32,
    /// Its PID.
    pub pid: i32,
}

/// Reads the peer's credentials.
///
/// # Errors
/// When the socket option cannot be read.
pub fn peer_of(stream: &UnixStream) -> io::Result<Peer> {
    let cred = getsockopt(stream, PeerCredentials).map_err(io::Error::from)?;
    Ok(Peer {
        uid: cred.uid(),
        gid: cred.gid(),
        pid: cred.pid(),
    })
}

/// Who is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    /// The supervisor's own user.
    pub own_uid: u32,
    /// `socket_group`'s gid.
    pub group: Option<u32>,
}

impl Access {
    /// Whether `peer` may use the socket; `groups_of` lists a user's supplementary groups.
    pub fn allows(&self, peer: Peer, groups_of: impl Fn(u32, u32) -> Vec<u32>) -> bool {
        if peer.uid == 0 || peer.uid == self.own_uid {
            return true;
        }
        match self.group {
            Some(g) => peer.gid == g || groups_of(peer.uid, peer.gid).contains(&g),
            None => false,
        }
    }

    /// The socket file's mode.
    pub fn mode(&self) -> u32 {
        if self.group.is_some() {
            0o660
        } else {
            0o600
        }
    }
}

/// The supplementary groups of the user with `uid` (empty when unknown).
pub fn supplementary_groups(uid: u32, gid: u32) -> Vec<u32> {
    let Ok(Some(user)) = User::from_uid(Uid::from_raw(uid)) else {
        return Vec::new();
    };
    let Ok(name) = CString::new(user.name) else {
        return Vec::new();
    };
    getgrouplist(&name, Gid::from_raw(gid))
        .map(|g| g.iter().map(|g| g.as_raw()).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_owner_and_group_members_only() {
        let access = Access {
            own_uid: 1000,
            group: Some(50),
        };
        let peer = |uid, gid| Peer { uid, gid, pid: 1 };
        let none = |_, _| Vec::new();
        assert!(access.allows(peer(0, 0), none));
        assert!(access.allows(peer(1000, 1000), none));
        assert!(access.allows(peer(2000, 50), none), "primary group");
        assert!(
            access.allows(peer(2000, 2000), |_, _| vec![2000, 50]),
            "supplementary group"
        );
        assert!(!access.allows(peer(2000, 2000), |_, _| vec![2000]));
        let private = Access {
            own_uid: 1000,
            group: None,
        };
        assert!(!private.allows(peer(2000, 50), |_, _| vec![50]));
        assert_eq!(private.mode(), 0o600);
        assert_eq!(access.mode(), 0o660);
    }
}

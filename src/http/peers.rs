//! The cap on open connections per peer address: one client holding idle
//! connections (a leak, a flood) gets at most [`MAX_PER_PEER`] of the global
//! slots, so probes from elsewhere always find one free.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

/// Open connections per peer address at most; beyond, a new one is closed at once.
pub const MAX_PER_PEER: usize = 64;

/// Open connections per peer address.
#[derive(Default)]
pub struct Peers(Mutex<HashMap<IpAddr, usize>>);

/// One open connection of `ip`; dropping it frees its place.
pub struct PeerSlot {
    peers: Arc<Peers>,
    ip: IpAddr,
}

impl Peers {
    /// A place for one more connection of `ip`, unless it has [`MAX_PER_PEER`].
    pub fn enter(self: &Arc<Self>, ip: IpAddr) -> Option<PeerSlot> {
        let mut open = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let n = open.entry(ip).or_default();
        if *n >= MAX_PER_PEER {
            return None;
        }
        *n += 1;
        Some(PeerSlot {
            peers: self.clone(),
            ip,
        })
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut open = self.peers.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_are_capped_per_address_and_places_come_back() {
        let peers = Arc::new(Peers::default());
        let (a, b): (IpAddr, IpAddr) = ("127.0.0.2".parse().unwrap(), "::1".parse().unwrap());
        let held: Vec<PeerSlot> = (0..MAX_PER_PEER).map_while(|_| peers.enter(a)).collect();
        assert_eq!(held.len(), MAX_PER_PEER);
        assert!(peers.enter(a).is_none());
        assert!(peers.enter(b).is_some(), "another address has its own cap");
        drop(held);
        assert!(peers.enter(a).is_some());
        assert!(
            peers.0.lock().unwrap().is_empty(),
            "no entry kept for closed peers"
        );
    }
}

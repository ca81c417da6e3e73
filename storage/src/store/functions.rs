//! Redis 7 function libraries, kept durably: one record per library in the `keys` keyspace,
//! `TAG_FUNCTION` + library name → the library's code (the server compiles it again at start).
//! Writes go through `pending_keys`, so a FUNCTION LOAD / DELETE / FLUSH / RESTORE commits with
//! its drain's batch and is persisted before its reply, like any write. The startup loader
//! reads other tags only; `sluice check` counts these records and `sluice repair` carries them
//! as they are (`store/salvage.rs`).

use super::{Result, Store};

/// The tag of a function library record (distinct from every other `keys` tag).
pub(super) const TAG_FUNCTION: u8 = 0xF0;

fn library_key(name: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + name.len());
    k.push(TAG_FUNCTION);
    k.extend_from_slice(name);
    k
}

impl Store {
    /// Every library (name, code): the committed records with this drain's staged changes.
    pub fn function_libraries(&self) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut out = std::collections::BTreeMap::new();
        for guard in self.keys.prefix([TAG_FUNCTION]) {
            let (k, v) = guard.into_inner()?;
            out.insert(k[1..].to_vec(), v.to_vec());
        }
        for (k, v) in &self.pending_keys {
            if k.first() == Some(&TAG_FUNCTION) {
                match v {
                    Some(v) => out.insert(k[1..].to_vec(), v.clone()),
                    None => out.remove(&k[1..]),
                };
            }
        }
        Ok(out.into_iter().collect())
    }

    /// Stages a library's code (`None` removes it) for the next commit.
    pub fn stage_function_library(&mut self, name: &[u8], code: Option<&[u8]>) {
        self.pending_keys
            .insert(library_key(name), code.map(<[u8]>::to_vec));
    }
}

// Copyright (c) 2024-present, fjall-rs
// This source code is licensed under both the Apache 2.0 and MIT License
// (found in the LICENSE-* files in the repository)

use super::entry::Entry;
use std::{
    fs::{File, OpenOptions},
    io::{BufReader, Read, Seek},
    path::{Path, PathBuf},
};

/// SLUICE PATCH (see vendor/README.md): counts the bytes an entry's decoding consumes, so the
/// position after each entry is known without asking the file. Upstream called
/// `stream_position` after every entry, an `lseek` system call each: 15% of a restart's time
/// replaying 256 MB of journal.
///
/// SLUICE PATCH 7: it also keeps the bytes of the entry being decoded (`raw`), so the batch
/// reader checksums them as read instead of encoding every item again (see
/// `JournalBatchReader::next`).
struct Counted<'a, R> {
    inner: &'a mut R,
    pos: &'a mut u64,
    raw: &'a mut Vec<u8>,
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        *self.pos += n as u64;
        if let Some(read) = buf.get(..n) {
            self.raw.extend_from_slice(read);
        }
        Ok(n)
    }
}

/// Reads and emits through the entries in a journal file, but doesn't
/// check the validity of batches
///
/// Will truncate the file to the last valid position to prevent corrupt
/// bytes at the end of the file, which would jeopardize future writes into the file.
#[expect(clippy::module_name_repetitions)]
pub struct JournalReader {
    pub(crate) path: PathBuf,
    pub(crate) reader: BufReader<File>,
    pub(crate) last_valid_pos: u64,
    /// SLUICE PATCH: bytes consumed from the start of the file (see [`Counted`]).
    pos: u64,
    /// SLUICE PATCH 7: the bytes of the last entry [`Iterator::next`] returned, as they are in
    /// the file (see [`Counted`]).
    pub(crate) raw: Vec<u8>,
}

impl JournalReader {
    pub fn new<P: AsRef<Path>>(path: P) -> crate::Result<Self> {
        let file = OpenOptions::new().read(true).write(true).open(&path)?;

        Ok(Self {
            path: path.as_ref().into(),
            reader: BufReader::new(file),
            last_valid_pos: 0,
            pos: 0,
            raw: Vec::new(),
        })
    }

    fn truncate_file(&mut self, pos: u64) -> crate::Result<()> {
        log::debug!("truncating journal to {pos}");
        self.reader.get_mut().set_len(pos)?;
        self.reader.get_mut().sync_all()?;
        Ok(())
    }

    fn maybe_truncate_file_to_last_valid_pos(&mut self) -> crate::Result<()> {
        let stream_pos = self.reader.stream_position()?;

        if stream_pos > self.last_valid_pos {
            self.truncate_file(self.last_valid_pos)?;
        }

        Ok(())
    }
}

impl Iterator for JournalReader {
    type Item = crate::Result<Entry>;

    fn next(&mut self) -> Option<Self::Item> {
        self.raw.clear();
        let mut counted = Counted {
            inner: &mut self.reader,
            pos: &mut self.pos,
            raw: &mut self.raw,
        };
        match Entry::decode_from(&mut counted) {
            Ok(item) => {
                // SLUICE PATCH: was `self.reader.stream_position()`, the same figure.
                debug_assert_eq!(
                    self.reader.stream_position().ok(),
                    Some(self.pos),
                    "the counted journal position is the file's"
                );
                self.last_valid_pos = self.pos;
                Some(Ok(item))
            }
            Err(e) => {
                if let crate::Error::Io(e) = e {
                    match e.kind() {
                        std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::Other => {
                            fail_iter!(self.maybe_truncate_file_to_last_valid_pos());
                            None
                        }
                        _ => Some(Err(crate::Error::Io(e))),
                    }
                } else {
                    fail_iter!(self.maybe_truncate_file_to_last_valid_pos());
                    None
                }
            }
        }
    }
}

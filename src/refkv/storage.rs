//! refkv's durable storage: a write-ahead log (WAL) of Raft's hard state and
//! log entries, plus the latest snapshot in a file of its own.
//!
//! ## Format (version 2)
//!
//! `DIR/wal.log` starts with an 8-byte header, the magic `FLWL` and the
//! format version as a `u32` LE, then holds a sequence of records, each
//! `[len: u32 LE][crc32 of len's 4 bytes and the payload: u32 LE][payload:
//! len bytes]`, the payload being one postcard-encoded record: a hard state
//! (term, vote, ...), a run of entries starting at some index (which replaces
//! every entry at or after that index: that is how a follower's conflicting
//! suffix is truncated), or a marker that a snapshot up to some index was
//! installed (every entry up to it is then dropped). `DIR/snapshot.bin`
//! holds the latest snapshot (`[crc32: u32 LE][postcard payload]`), written
//! to a temporary file, fsynced and renamed, so it is either the old or the
//! new one.
//!
//! The checksum covers the length because a file system may leave a crashed
//! append as a run of zero bytes: with a checksum of the payload alone, a
//! zero length and a zero checksum would be a valid empty record (the CRC32
//! of nothing is 0), which then fails to decode and keeps the node from ever
//! starting again. Format 1 (no header, checksum of the payload only) is
//! refused with an error that says so, never misread: the magic's fourth
//! byte, `L`, can never begin a format-1 file, whose first four bytes are a
//! length of at most [`MAX_RECORD`].
//!
//! ## Obligations (what the server relies on)
//!
//! - Nothing written is durable until [`Wal::sync`] returns: the caller must
//!   call it before it answers a client or sends a message that depends on the
//!   writes. One `sync` covers every write buffered since the last one, so many
//!   proposals share one fsync (group commit).
//! - Recovery ([`Wal::open`]) replays every complete record whose checksum
//!   matches, in order, and stops at the first one that is torn (a crash in
//!   the middle of a write, or a zero-filled tail) or corrupt: that record
//!   and everything after it is truncated from the file, never replayed.
//! - Every file and directory the storage creates or renames is made durable
//!   in its parent directory too (the parent is fsynced), so a crash right
//!   after [`Wal::open`] or a snapshot cannot lose the file itself.
//! - [`Wal::save_snapshot`] compacts: once the snapshot is durable the WAL is
//!   rewritten with only the hard state and the entries after the snapshot,
//!   so the log does not grow without bound.
//!
//! ## The `no-fsync` bug
//!
//! With [`Durability::Lazy`] the WAL keeps writes in a user-space buffer and
//! only writes and fsyncs it once [`LAZY_FLUSH_INTERVAL`] has passed since the
//! last flush, while [`Wal::sync`] returns at once: the node acknowledges
//! writes that a SIGKILL then discards.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The largest record [`Wal::open`] accepts; a length above it can only be
/// garbage (a torn or corrupt length field).
pub const MAX_RECORD: usize = 256 << 20;

/// With [`Durability::Lazy`] (bug `no-fsync`), how long writes may sit in the
/// user-space buffer before they are written and fsynced.
pub const LAZY_FLUSH_INTERVAL: Duration = Duration::from_millis(1500);

/// The WAL is rewritten (compacted) after a snapshot only once it is larger
/// than this, so a snapshot taken often does not rewrite a tiny file each time.
pub const COMPACT_MIN_BYTES: u64 = 1 << 20;

/// The first four bytes of a WAL of format 2 or later. Its fourth byte (`L`,
/// 0x4c) is above the highest byte a format-1 file can start with (its
/// first record's length, at most [`MAX_RECORD`], little-endian), so an old
/// WAL is always recognised as one.
const WAL_MAGIC: [u8; 4] = *b"FLWL";

/// The format [`Wal`] writes: 2, the checksum covers the length.
pub const WAL_FORMAT: u32 = 2;

/// Header bytes: the magic and the format version.
const HEADER_LEN: usize = 8;

const WAL_FILE: &str = "wal.log";
const WAL_TMP: &str = "wal.log.tmp";
const SNAPSHOT_FILE: &str = "snapshot.bin";
const SNAPSHOT_TMP: &str = "snapshot.bin.tmp";

/// What went wrong with the storage; messages name the file.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// An I/O error on a file.
    #[error("{path}: {error}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        error: io::Error,
    },
    /// A record or snapshot could not be encoded or decoded.
    #[error("{path}: {what}")]
    Codec {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// The WAL was written in a format this build does not read.
    #[error("{path}: {what}")]
    Format {
        /// The WAL file.
        path: PathBuf,
        /// Which format was found and what to do about it.
        what: String,
    },
    /// The caller broke the log's contiguity (an append beyond the end).
    #[error("{path}: append at index {index} leaves a gap after last index {last}")]
    Gap {
        /// The WAL file.
        path: PathBuf,
        /// The first index of the rejected append.
        index: u64,
        /// The last index the log holds.
        last: u64,
    },
}

/// Whether [`Wal::sync`] really makes writes durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Write and fdatasync on every [`Wal::sync`] (correct).
    Sync,
    /// Bug `no-fsync`: buffer writes in user space, flush them only every
    /// [`LAZY_FLUSH_INTERVAL`].
    Lazy,
}

/// A snapshot: the state machine's content as of log index `index` (whose
/// entry had term `term`). `data` is opaque to the storage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot<D> {
    /// The last log index the snapshot covers.
    pub index: u64,
    /// The term of the entry at `index`.
    pub term: u64,
    /// The snapshot's content (state machine, membership...).
    pub data: D,
}

/// One WAL record.
#[derive(Debug, Serialize, Deserialize)]
enum Record<H, E> {
    /// The latest hard state replaces every earlier one.
    HardState(H),
    /// Entries `first, first+1, ...`; they replace every entry at or after
    /// `first`.
    Entries { first: u64, entries: Vec<E> },
    /// A snapshot up to `index` is durable in the snapshot file: entries up
    /// to `index` are dropped.
    Snapshot { index: u64, term: u64 },
}

/// What [`Wal::open`] found on disk.
#[derive(Debug)]
pub struct Recovered<H, D, E> {
    /// The last hard state written, if any.
    pub hard_state: Option<H>,
    /// The latest snapshot, if any.
    pub snapshot: Option<Snapshot<D>>,
    /// The index of `entries[0]` (snapshot index + 1, or 1).
    pub first_index: u64,
    /// The log entries after the snapshot, contiguous from `first_index`.
    pub entries: Vec<E>,
    /// Bytes of a torn or corrupt tail that were truncated (0 if none).
    pub truncated_bytes: u64,
}

/// The write-ahead log of one node. `H` is Raft's hard state, `E` a log entry,
/// `D` a snapshot's data.
pub struct Wal<H, D, E> {
    dir: PathBuf,
    file: File,
    /// Encoded records not yet written to `file`.
    buf: Vec<u8>,
    /// Whether something was written to `file` since its last fsync.
    unsynced: bool,
    durability: Durability,
    last_flush: Instant,
    /// The bytes in `file` (written, maybe not synced).
    file_len: u64,
    /// fdatasync calls made (for group-commit statistics).
    syncs: u64,
    /// A mirror of the log after the snapshot, so compaction can rewrite the
    /// WAL without asking the caller.
    hard_state: Option<H>,
    first_index: u64,
    entries: Vec<E>,
    snapshot_index: u64,
    _data: std::marker::PhantomData<D>,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StorageError + '_ {
    move |error| StorageError::Io {
        path: path.to_path_buf(),
        error,
    }
}

fn encode_record<T: Serialize>(
    rec: &T,
    out: &mut Vec<u8>,
    path: &Path,
) -> Result<(), StorageError> {
    let payload = postcard::to_stdvec(rec).map_err(|e| StorageError::Codec {
        path: path.to_path_buf(),
        what: format!("cannot encode a record: {e}"),
    })?;
    let len = u32::try_from(payload.len())
        .ok()
        .filter(|&l| (l as usize) <= MAX_RECORD)
        .ok_or_else(|| StorageError::Codec {
            path: path.to_path_buf(),
            what: format!("record of {} bytes is too large", payload.len()),
        })?;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&record_crc(len.to_le_bytes(), &payload).to_le_bytes());
    out.extend_from_slice(&payload);
    Ok(())
}

/// A record's checksum: CRC32 of its length field and its payload, so a
/// zeroed header (length 0, checksum 0) never passes.
fn record_crc(len: [u8; 4], payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&len);
    h.update(payload);
    h.finalize()
}

/// The 8 bytes every WAL file starts with.
fn wal_header() -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..4].copy_from_slice(&WAL_MAGIC);
    h[4..].copy_from_slice(&WAL_FORMAT.to_le_bytes());
    h
}

/// What the start of `wal.log` says.
#[derive(Debug, PartialEq)]
enum Header {
    /// A header of this format: records follow it.
    Valid,
    /// No header yet (a new file), or one torn while the file was created:
    /// the file never held a record (the header is fsynced before any
    /// record is written), so it starts afresh.
    Fresh,
}

/// Read the header of `bytes`, the content of the WAL at `path` in `dir`.
fn check_header(bytes: &[u8], path: &Path, dir: &Path) -> Result<Header, StorageError> {
    let header = wal_header();
    if bytes.len() >= HEADER_LEN && bytes[..4] == WAL_MAGIC {
        let version = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
        if version == WAL_FORMAT {
            return Ok(Header::Valid);
        }
        return Err(StorageError::Format {
            path: path.to_path_buf(),
            what: format!(
                "written in WAL format {version}, but this faultline reads format \
                 {WAL_FORMAT} only: run the faultline that wrote it, or remove the data \
                 directory {} to start this node empty",
                dir.display()
            ),
        });
    }
    let torn_header = bytes.len() < HEADER_LEN && header.starts_with(bytes);
    if torn_header || bytes.iter().all(|&b| b == 0) {
        return Ok(Header::Fresh);
    }
    let first = bytes
        .get(..4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize);
    let what = if first.is_some_and(|len| len <= MAX_RECORD) {
        "has no WAL header: it was written by an older faultline in WAL format 1"
    } else {
        "has no WAL header: it is not a refkv WAL"
    };
    Err(StorageError::Format {
        path: path.to_path_buf(),
        what: format!(
            "{what}, and this faultline reads format {WAL_FORMAT} only; remove the data \
             directory {} to start this node empty (the cluster's other nodes send it the \
             log again)",
            dir.display()
        ),
    })
}

/// `create_dir_all` that also fsyncs the parent of every directory it
/// created, so the new directories survive a crash.
fn create_dir_durably(dir: &Path) -> Result<(), StorageError> {
    let mut missing = Vec::new();
    let mut cur = Some(dir);
    while let Some(d) = cur {
        if d.as_os_str().is_empty() || d.is_dir() {
            break;
        }
        missing.push(d.to_path_buf());
        cur = d.parent();
    }
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    for d in missing.iter().rev() {
        sync_dir(&parent_of(d))?;
    }
    Ok(())
}

/// The directory holding `path` (`.` for a bare relative name).
fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Fsync a directory so a rename or create in it is durable.
fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    #[cfg(test)]
    tests::SYNCED_DIRS.with(|d| d.borrow_mut().push(dir.to_path_buf()));
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

/// Decode a snapshot file: `[crc32 LE][postcard payload]`.
fn decode_snapshot<D: DeserializeOwned>(bytes: &[u8]) -> Result<Snapshot<D>, String> {
    if bytes.len() < 4 {
        return Err(format!("snapshot of {} bytes is too short", bytes.len()));
    }
    let crc = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    if crc32fast::hash(&bytes[4..]) != crc {
        return Err("snapshot fails its checksum".into());
    }
    postcard::from_bytes(&bytes[4..]).map_err(|e| format!("snapshot does not decode: {e}"))
}

/// Split `bytes` into the payloads of its valid records; returns them and the
/// length of the valid prefix (where a torn or corrupt record starts).
fn scan_records(bytes: &[u8]) -> (Vec<&[u8]>, usize) {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while bytes.len() - pos >= 8 {
        let len = u32::from_le_bytes([bytes[pos], bytes[pos + 1], bytes[pos + 2], bytes[pos + 3]])
            as usize;
        let crc = u32::from_le_bytes([
            bytes[pos + 4],
            bytes[pos + 5],
            bytes[pos + 6],
            bytes[pos + 7],
        ]);
        if len > MAX_RECORD || bytes.len() - pos - 8 < len {
            break;
        }
        let payload = &bytes[pos + 8..pos + 8 + len];
        let len_bytes = [bytes[pos], bytes[pos + 1], bytes[pos + 2], bytes[pos + 3]];
        if len == 0 || record_crc(len_bytes, payload) != crc {
            break;
        }
        out.push(payload);
        pos += 8 + len;
    }
    (out, pos)
}

impl<H, D, E> Wal<H, D, E>
where
    H: Serialize + DeserializeOwned + Clone,
    D: Serialize + DeserializeOwned,
    E: Serialize + DeserializeOwned + Clone,
{
    /// Open (or create) the WAL in `dir` and recover its content. A torn or
    /// corrupt tail is truncated from the file (and reported in
    /// [`Recovered::truncated_bytes`]); a record that passes its checksum but
    /// does not decode is an error, since that is not a crash artefact, and
    /// so is a WAL of another format ([`StorageError::Format`], the file
    /// left untouched). A new directory or `wal.log` is made durable in its
    /// parent before this returns.
    pub fn open(
        dir: &Path,
        durability: Durability,
    ) -> Result<(Self, Recovered<H, D, E>), StorageError> {
        create_dir_durably(dir)?;
        let snap_path = dir.join(SNAPSHOT_FILE);
        let snapshot: Option<Snapshot<D>> = match fs::read(&snap_path) {
            Ok(bytes) => Some(decode_snapshot(&bytes).map_err(|what| StorageError::Codec {
                path: snap_path.clone(),
                what,
            })?),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(io_err(&snap_path)(e)),
        };
        let wal_path = dir.join(WAL_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&wal_path)
            .map_err(io_err(&wal_path))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io_err(&wal_path))?;
        if check_header(&bytes, &wal_path, dir)? == Header::Fresh {
            // A new WAL (or one whose creation was cut short): write the
            // header and make both it and the file's name durable before
            // any record can be written after it.
            bytes = wal_header().to_vec();
            file.set_len(0).map_err(io_err(&wal_path))?;
            file.seek(SeekFrom::Start(0)).map_err(io_err(&wal_path))?;
            file.write_all(&bytes).map_err(io_err(&wal_path))?;
            file.sync_all().map_err(io_err(&wal_path))?;
            sync_dir(dir)?;
        }
        let (payloads, body_len) = scan_records(&bytes[HEADER_LEN..]);
        let valid_len = HEADER_LEN + body_len;

        let mut hard_state: Option<H> = None;
        let mut first_index = 1u64;
        let mut entries: Vec<E> = Vec::new();
        let mut snapshot_index = 0u64;
        for (i, payload) in payloads.iter().enumerate() {
            let rec: Record<H, E> =
                postcard::from_bytes(payload).map_err(|e| StorageError::Codec {
                    path: wal_path.clone(),
                    what: format!(
                        "record {} passes its checksum but does not decode: {e}",
                        i + 1
                    ),
                })?;
            match rec {
                Record::HardState(h) => hard_state = Some(h),
                Record::Entries {
                    first,
                    entries: new,
                } => apply_append(&mut first_index, &mut entries, first, new, &wal_path)?,
                Record::Snapshot { index, .. } => {
                    apply_compact(&mut first_index, &mut entries, index);
                    snapshot_index = snapshot_index.max(index);
                }
            }
        }
        // The snapshot file may be newer than the last marker (a crash between
        // the rename and the marker): it is durable, so it wins.
        if let Some(s) = &snapshot {
            if s.index > snapshot_index {
                apply_compact(&mut first_index, &mut entries, s.index);
                snapshot_index = s.index;
            }
        }
        if snapshot_index > 0 && first_index <= snapshot_index {
            first_index = snapshot_index + 1;
        }
        let truncated_bytes = (bytes.len() - valid_len) as u64;
        if truncated_bytes > 0 {
            file.set_len(valid_len as u64).map_err(io_err(&wal_path))?;
            file.sync_all().map_err(io_err(&wal_path))?;
        }
        file.seek(SeekFrom::End(0)).map_err(io_err(&wal_path))?;
        let wal = Wal {
            dir: dir.to_path_buf(),
            file,
            buf: Vec::new(),
            unsynced: false,
            durability,
            last_flush: Instant::now(),
            file_len: valid_len as u64,
            syncs: 0,
            hard_state: hard_state.clone(),
            first_index,
            entries: entries.clone(),
            snapshot_index,
            _data: std::marker::PhantomData,
        };
        Ok((
            wal,
            Recovered {
                hard_state,
                snapshot,
                first_index,
                entries,
                truncated_bytes,
            },
        ))
    }

    fn wal_path(&self) -> PathBuf {
        self.dir.join(WAL_FILE)
    }

    /// Buffer a new hard state (durable after the next [`Wal::sync`]).
    pub fn set_hard_state(&mut self, hs: &H) -> Result<(), StorageError> {
        let path = self.wal_path();
        encode_record(&Record::<&H, E>::HardState(hs), &mut self.buf, &path)?;
        self.hard_state = Some(hs.clone());
        Ok(())
    }

    /// Buffer entries `first, first+1, ...`, replacing every entry at or after
    /// `first` (durable after the next [`Wal::sync`]). `first` may not be
    /// beyond the last index + 1.
    pub fn append(&mut self, first: u64, entries: &[E]) -> Result<(), StorageError> {
        if entries.is_empty() {
            return Ok(());
        }
        let path = self.wal_path();
        let last = self.first_index + self.entries.len() as u64 - 1;
        if first > last + 1 {
            return Err(StorageError::Gap {
                path,
                index: first,
                last,
            });
        }
        encode_record(
            &Record::<H, &E>::Entries {
                first,
                entries: entries.iter().collect(),
            },
            &mut self.buf,
            &path,
        )?;
        apply_append(
            &mut self.first_index,
            &mut self.entries,
            first,
            entries.to_vec(),
            &path,
        )
    }

    /// Buffer the removal of every entry at or after `from` (durable after
    /// the next [`Wal::sync`]); nothing happens when the log ends before
    /// `from`.
    pub fn truncate(&mut self, from: u64) -> Result<(), StorageError> {
        if from > self.last_index() {
            return Ok(());
        }
        let path = self.wal_path();
        encode_record(
            &Record::<H, E>::Entries {
                first: from,
                entries: Vec::new(),
            },
            &mut self.buf,
            &path,
        )?;
        apply_append(
            &mut self.first_index,
            &mut self.entries,
            from,
            Vec::new(),
            &path,
        )
    }

    /// Write and fdatasync every buffered write now, whatever the
    /// [`Durability`] (a clean shutdown).
    pub fn flush_now(&mut self) -> Result<(), StorageError> {
        self.flush_and_sync()
    }

    /// Make every buffered write durable: write it and fdatasync. With
    /// [`Durability::Lazy`] this only happens when [`LAZY_FLUSH_INTERVAL`] has
    /// passed since the last flush (the `no-fsync` bug).
    pub fn sync(&mut self) -> Result<(), StorageError> {
        if self.durability == Durability::Lazy && self.last_flush.elapsed() < LAZY_FLUSH_INTERVAL {
            return Ok(());
        }
        self.flush_and_sync()
    }

    fn flush_and_sync(&mut self) -> Result<(), StorageError> {
        let path = self.wal_path();
        if !self.buf.is_empty() {
            self.file.write_all(&self.buf).map_err(io_err(&path))?;
            self.file_len += self.buf.len() as u64;
            self.buf.clear();
            self.unsynced = true;
        }
        if self.unsynced {
            self.file.sync_data().map_err(io_err(&path))?;
            self.unsynced = false;
            self.syncs += 1;
        }
        self.last_flush = Instant::now();
        Ok(())
    }

    /// Whether writes are buffered that [`Wal::sync`] has not made durable
    /// (with [`Durability::Lazy`], the server polls so they get flushed).
    pub fn has_pending(&self) -> bool {
        !self.buf.is_empty()
    }

    /// Durably store a snapshot (file written, fsynced, renamed), drop the
    /// entries it covers, and compact the WAL when it has grown past
    /// [`COMPACT_MIN_BYTES`]. Buffered writes are flushed first, so on return
    /// everything is durable (whatever the [`Durability`]).
    pub fn save_snapshot(&mut self, snap: &Snapshot<D>) -> Result<(), StorageError> {
        if snap.index <= self.snapshot_index {
            return Ok(());
        }
        self.flush_and_sync()?;
        let tmp = self.dir.join(SNAPSHOT_TMP);
        let dst = self.dir.join(SNAPSHOT_FILE);
        let payload = postcard::to_stdvec(snap).map_err(|e| StorageError::Codec {
            path: dst.clone(),
            what: format!("cannot encode the snapshot: {e}"),
        })?;
        let mut bytes = Vec::with_capacity(payload.len() + 4);
        bytes.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        bytes.extend_from_slice(&payload);
        {
            let mut f = File::create(&tmp).map_err(io_err(&tmp))?;
            f.write_all(&bytes).map_err(io_err(&tmp))?;
            f.sync_all().map_err(io_err(&tmp))?;
        }
        fs::rename(&tmp, &dst).map_err(io_err(&dst))?;
        sync_dir(&self.dir)?;

        apply_compact(&mut self.first_index, &mut self.entries, snap.index);
        self.snapshot_index = snap.index;
        let path = self.wal_path();
        if self.file_len >= COMPACT_MIN_BYTES {
            self.rewrite(snap.index, snap.term)?;
        } else {
            encode_record(
                &Record::<H, E>::Snapshot {
                    index: snap.index,
                    term: snap.term,
                },
                &mut self.buf,
                &path,
            )?;
            self.flush_and_sync()?;
        }
        Ok(())
    }

    /// Rewrite the WAL with only what the snapshot does not cover: marker,
    /// hard state and retained entries, into a temporary file that is fsynced
    /// and renamed over the old one.
    fn rewrite(&mut self, snap_index: u64, snap_term: u64) -> Result<(), StorageError> {
        let path = self.wal_path();
        let tmp = self.dir.join(WAL_TMP);
        let mut out = wal_header().to_vec();
        encode_record(
            &Record::<H, E>::Snapshot {
                index: snap_index,
                term: snap_term,
            },
            &mut out,
            &path,
        )?;
        if let Some(hs) = &self.hard_state {
            encode_record(&Record::<&H, E>::HardState(hs), &mut out, &path)?;
        }
        if !self.entries.is_empty() {
            encode_record(
                &Record::<H, &E>::Entries {
                    first: self.first_index,
                    entries: self.entries.iter().collect(),
                },
                &mut out,
                &path,
            )?;
        }
        {
            let mut f = File::create(&tmp).map_err(io_err(&tmp))?;
            f.write_all(&out).map_err(io_err(&tmp))?;
            f.sync_all().map_err(io_err(&tmp))?;
        }
        fs::rename(&tmp, &path).map_err(io_err(&path))?;
        sync_dir(&self.dir)?;
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(&path)
            .map_err(io_err(&path))?;
        file.seek(SeekFrom::End(0)).map_err(io_err(&path))?;
        self.file = file;
        self.file_len = out.len() as u64;
        self.unsynced = false;
        Ok(())
    }

    /// The size of the WAL file in bytes (written, maybe not yet synced).
    pub fn file_len(&self) -> u64 {
        self.file_len
    }

    /// How many times the WAL was fdatasynced since it was opened.
    pub fn syncs(&self) -> u64 {
        self.syncs
    }

    /// The index of the latest durable snapshot (0 if none).
    pub fn snapshot_index(&self) -> u64 {
        self.snapshot_index
    }

    /// The last log index the WAL holds (the snapshot index when empty).
    pub fn last_index(&self) -> u64 {
        self.first_index + self.entries.len() as u64 - 1
    }
}

/// Append `new` at `first` to the log mirror, truncating a conflicting
/// suffix.
fn apply_append<E>(
    first_index: &mut u64,
    entries: &mut Vec<E>,
    first: u64,
    new: Vec<E>,
    path: &Path,
) -> Result<(), StorageError> {
    let last = *first_index + entries.len() as u64 - 1;
    if first > last + 1 {
        return Err(StorageError::Gap {
            path: path.to_path_buf(),
            index: first,
            last,
        });
    }
    if first < *first_index {
        // Entries before the log's start are covered by a snapshot: skip them.
        let skip = (*first_index - first) as usize;
        entries.clear();
        entries.extend(new.into_iter().skip(skip));
        return Ok(());
    }
    entries.truncate((first - *first_index) as usize);
    entries.extend(new);
    Ok(())
}

/// Drop the entries up to `index` (covered by a snapshot).
fn apply_compact<E>(first_index: &mut u64, entries: &mut Vec<E>, index: u64) {
    if index < *first_index {
        return;
    }
    let drop = ((index + 1 - *first_index) as usize).min(entries.len());
    entries.drain(..drop);
    *first_index = index + 1;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    thread_local! {
        /// Every directory [`sync_dir`] fsynced on this thread (each test
        /// runs on a thread of its own).
        pub(super) static SYNCED_DIRS: RefCell<Vec<PathBuf>> = const { RefCell::new(Vec::new()) };
    }

    fn synced_dirs() -> Vec<PathBuf> {
        SYNCED_DIRS.with(|d| d.borrow_mut().drain(..).collect())
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Hs {
        term: u64,
        vote: Option<String>,
    }
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Ent {
        term: u64,
        data: String,
    }
    type TestWal = Wal<Hs, String, Ent>;

    fn ent(term: u64, data: &str) -> Ent {
        Ent {
            term,
            data: data.into(),
        }
    }

    fn open(dir: &Path) -> (TestWal, Recovered<Hs, String, Ent>) {
        match TestWal::open(dir, Durability::Sync) {
            Ok(x) => x,
            Err(e) => panic!("open failed: {e}"),
        }
    }

    /// A WAL in `dir` holding one entry of term 1 per item of `data`, each
    /// appended and synced in turn (indices from 1); returns the WAL file.
    fn synced_wal(dir: &Path, data: &[&str]) -> PathBuf {
        let (mut w, _) = open(dir);
        for (i, d) in data.iter().enumerate() {
            w.append(i as u64 + 1, &[ent(1, d)]).unwrap();
            w.sync().unwrap();
        }
        dir.join(WAL_FILE)
    }

    #[test]
    fn recovers_hard_state_and_entries_with_truncation() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut w, rec) = open(dir.path());
            assert!(rec.hard_state.is_none());
            assert!(rec.entries.is_empty());
            w.set_hard_state(&Hs {
                term: 1,
                vote: Some("n1".into()),
            })
            .unwrap();
            w.append(1, &[ent(1, "a"), ent(1, "b"), ent(1, "c")])
                .unwrap();
            // A new leader overwrites index 2 and after.
            w.append(2, &[ent(2, "B")]).unwrap();
            w.set_hard_state(&Hs {
                term: 2,
                vote: None,
            })
            .unwrap();
            w.sync().unwrap();
        }
        let (w, rec) = open(dir.path());
        assert_eq!(
            rec.hard_state,
            Some(Hs {
                term: 2,
                vote: None
            })
        );
        assert_eq!(rec.first_index, 1);
        assert_eq!(rec.entries, vec![ent(1, "a"), ent(2, "B")]);
        assert_eq!(rec.truncated_bytes, 0);
        assert_eq!(w.last_index(), 2);
    }

    #[test]
    fn group_commit_makes_many_appends_durable_with_one_fsync() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut w, _) = open(dir.path());
            for i in 1..=100 {
                w.append(i, &[ent(1, "x")]).unwrap();
            }
            w.set_hard_state(&Hs {
                term: 1,
                vote: None,
            })
            .unwrap();
            w.sync().unwrap();
            assert_eq!(w.syncs(), 1);
            // Nothing new: no fsync.
            w.sync().unwrap();
            assert_eq!(w.syncs(), 1);
        }
        let (_, rec) = open(dir.path());
        assert_eq!(rec.entries.len(), 100);
    }

    #[test]
    fn unsynced_writes_are_not_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut w, _) = open(dir.path());
            w.append(1, &[ent(1, "a")]).unwrap();
            w.sync().unwrap();
            w.append(2, &[ent(1, "b")]).unwrap();
            // Dropped without sync: like a SIGKILL before the fsync.
        }
        let (_, rec) = open(dir.path());
        assert_eq!(rec.entries, vec![ent(1, "a")]);
    }

    #[test]
    fn lazy_durability_keeps_writes_in_user_space() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut w, _) = TestWal::open(dir.path(), Durability::Lazy).unwrap();
            w.append(1, &[ent(1, "a")]).unwrap();
            w.sync().unwrap();
            assert!(w.has_pending(), "no-fsync must buffer, not write");
        }
        let (_, rec) = open(dir.path());
        assert!(
            rec.entries.is_empty(),
            "a crash loses lazily acknowledged writes"
        );
    }

    #[test]
    fn torn_last_record_is_truncated_not_replayed() {
        let dir = tempfile::tempdir().unwrap();
        let path = synced_wal(dir.path(), &["a", "b"]);
        let full = fs::read(&path).unwrap();
        // Cut the last record in the middle of its payload.
        fs::write(&path, &full[..full.len() - 5]).unwrap();
        {
            let (mut w, rec) = open(dir.path());
            assert_eq!(rec.entries, vec![ent(1, "a")]);
            assert!(rec.truncated_bytes > 0);
            // The log goes on after the truncation point.
            w.append(2, &[ent(1, "c")]).unwrap();
            w.sync().unwrap();
        }
        let (_, rec) = open(dir.path());
        assert_eq!(rec.entries, vec![ent(1, "a"), ent(1, "c")]);
        assert_eq!(rec.truncated_bytes, 0);
    }

    #[test]
    fn torn_length_header_is_truncated() {
        assert_tail_is_torn(&[0x10, 0x00, 0x00]);
    }

    /// A WAL of one synced entry followed by `tail` recovers that entry and
    /// cuts the whole tail off.
    fn assert_tail_is_torn(tail: &[u8]) {
        let dir = tempfile::tempdir().unwrap();
        let path = synced_wal(dir.path(), &["a"]);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(tail).unwrap();
        drop(f);
        let (_, rec) = open(dir.path());
        assert_eq!(rec.entries, vec![ent(1, "a")]);
        assert_eq!(rec.truncated_bytes, tail.len() as u64);
    }

    #[test]
    fn corrupt_last_record_fails_checksum_and_is_truncated() {
        let dir = tempfile::tempdir().unwrap();
        let path = synced_wal(dir.path(), &["a", "b"]);
        let mut bytes = fs::read(&path).unwrap();
        let n = bytes.len();
        // Flip a byte of the last record's payload: same length, bad crc.
        bytes[n - 3] ^= 0x5a;
        fs::write(&path, &bytes).unwrap();
        let (_, rec) = open(dir.path());
        assert_eq!(rec.entries, vec![ent(1, "a")]);
        assert!(rec.truncated_bytes > 0);
        assert!(fs::metadata(&path).unwrap().len() < n as u64);
    }

    #[test]
    fn record_with_valid_checksum_but_bad_payload_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(WAL_FILE);
        let mut bytes = wal_header().to_vec();
        encode_record(&"not a record", &mut bytes, &path).unwrap();
        fs::write(&path, &bytes).unwrap();
        match TestWal::open(dir.path(), Durability::Sync) {
            Err(StorageError::Codec { what, .. }) => assert!(what.contains("record 1"), "{what}"),
            Err(e) => panic!("wrong error {e}"),
            Ok(_) => panic!("garbage with a valid checksum must not open"),
        }
    }

    #[test]
    fn append_with_a_gap_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let (mut w, _) = open(dir.path());
        w.append(1, &[ent(1, "a")]).unwrap();
        assert!(matches!(
            w.append(3, &[ent(1, "c")]),
            Err(StorageError::Gap {
                index: 3,
                last: 1,
                ..
            })
        ));
    }

    #[test]
    fn snapshot_drops_covered_entries_and_compaction_bounds_the_wal() {
        let dir = tempfile::tempdir().unwrap();
        let big = "x".repeat(1000);
        let mut sizes = Vec::new();
        {
            let (mut w, _) = open(dir.path());
            w.set_hard_state(&Hs {
                term: 3,
                vote: Some("n2".into()),
            })
            .unwrap();
            let mut index = 1;
            for round in 0..4 {
                for _ in 0..1500 {
                    w.append(index, &[ent(3, &big)]).unwrap();
                    index += 1;
                }
                w.sync().unwrap();
                let snap = Snapshot {
                    index: index - 2,
                    term: 3,
                    data: format!("state after round {round}"),
                };
                w.save_snapshot(&snap).unwrap();
                sizes.push(w.file_len());
            }
        }
        assert!(
            sizes.iter().all(|&s| s < 2 * COMPACT_MIN_BYTES),
            "{sizes:?}"
        );
        let (w, rec) = open(dir.path());
        assert_eq!(
            rec.hard_state,
            Some(Hs {
                term: 3,
                vote: Some("n2".into())
            })
        );
        let snap = rec.snapshot.unwrap();
        assert_eq!(snap.index, 5999);
        assert_eq!(snap.data, "state after round 3");
        assert_eq!(rec.first_index, 6000);
        assert_eq!(rec.entries.len(), 1);
        assert_eq!(w.last_index(), 6000);
    }

    #[test]
    fn installed_snapshot_beyond_the_log_empties_it() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut w, _) = open(dir.path());
            w.append(1, &[ent(1, "a"), ent(1, "b")]).unwrap();
            w.sync().unwrap();
            w.save_snapshot(&Snapshot {
                index: 10,
                term: 4,
                data: "s".into(),
            })
            .unwrap();
            assert_eq!(w.last_index(), 10);
            w.append(11, &[ent(4, "k")]).unwrap();
            w.sync().unwrap();
        }
        let (_, rec) = open(dir.path());
        assert_eq!(rec.first_index, 11);
        assert_eq!(rec.entries, vec![ent(4, "k")]);
        assert_eq!(rec.snapshot.unwrap().index, 10);
    }
    /// A crash during an append can leave the file extended with zeros (the
    /// length was made durable, the data never was). Length 0 and checksum 0
    /// used to pass as an empty record that does not decode, so the node
    /// refused to start forever; now it is a torn tail, truncated.
    #[test]
    fn zero_filled_tail_is_torn_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut w, _) = open(dir.path());
            w.append(1, &[ent(1, "a"), ent(1, "b")]).unwrap();
            w.sync().unwrap();
        }
        let path = dir.path().join(WAL_FILE);
        let good = fs::metadata(&path).unwrap().len();
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&[0u8; 4096]).unwrap();
        drop(f);
        let (mut w, rec) = match TestWal::open(dir.path(), Durability::Sync) {
            Ok(x) => x,
            Err(e) => panic!("a zero-filled tail must not stop recovery: {e}"),
        };
        assert_eq!(rec.entries, vec![ent(1, "a"), ent(1, "b")]);
        assert_eq!(rec.truncated_bytes, 4096);
        assert_eq!(fs::metadata(&path).unwrap().len(), good);
        w.append(3, &[ent(1, "c")]).unwrap();
        w.sync().unwrap();
        drop(w);
        let (_, rec) = open(dir.path());
        assert_eq!(rec.entries.len(), 3);
    }

    /// A short run of zeros (less than a record header) is torn as well.
    #[test]
    fn short_zero_tail_is_torn() {
        assert_tail_is_torn(&[0u8; 8]);
    }

    /// A WAL of format 1 (no header; checksum of the payload only), as an
    /// older refkv left it, is refused with an error that names the file
    /// and says what to do, instead of being misread.
    #[test]
    fn format_1_wal_is_refused_with_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(WAL_FILE);
        let payload = postcard::to_stdvec(&Record::<Hs, Ent>::Entries {
            first: 1,
            entries: vec![ent(1, "a")],
        })
        .unwrap();
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        bytes.extend_from_slice(&payload);
        fs::write(&path, &bytes).unwrap();
        match TestWal::open(dir.path(), Durability::Sync) {
            Err(e @ StorageError::Format { .. }) => {
                let msg = e.to_string();
                assert!(msg.contains("wal.log"), "{msg}");
                assert!(msg.contains("format 1"), "{msg}");
                assert!(msg.contains("remove"), "{msg}");
            }
            Err(e) => panic!("wrong error: {e}"),
            Ok(_) => panic!("a format-1 WAL must not be opened as if it were format 2"),
        }
        // The file is left as it was: refusing must not destroy data.
        assert_eq!(fs::read(&path).unwrap(), bytes);
    }

    /// A header of a future format is refused, naming both versions.
    #[test]
    fn unknown_format_version_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(WAL_FILE);
        let mut bytes = WAL_MAGIC.to_vec();
        bytes.extend_from_slice(&9u32.to_le_bytes());
        fs::write(&path, &bytes).unwrap();
        match TestWal::open(dir.path(), Durability::Sync) {
            Err(e @ StorageError::Format { .. }) => {
                assert!(e.to_string().contains("format 9"), "{e}")
            }
            Err(e) => panic!("wrong error: {e}"),
            Ok(_) => panic!("an unknown format must not open"),
        }
    }

    /// A crash while the header itself was being written (a torn or zeroed
    /// header with nothing after it) is a WAL that never held anything.
    #[test]
    fn torn_header_of_an_empty_wal_starts_afresh() {
        for torn in [&WAL_MAGIC[..3], &[0u8; 8][..], &[0u8; 5][..]] {
            let dir = tempfile::tempdir().unwrap();
            fs::write(dir.path().join(WAL_FILE), torn).unwrap();
            {
                let (mut w, rec) = open(dir.path());
                assert!(rec.entries.is_empty());
                w.append(1, &[ent(1, "a")]).unwrap();
                w.sync().unwrap();
            }
            let (_, rec) = open(dir.path());
            assert_eq!(rec.entries, vec![ent(1, "a")], "after {torn:?}");
        }
    }

    /// Creating the data directory and `wal.log` fsyncs their parents, so
    /// the files cannot vanish in a crash after the node acknowledged
    /// writes to them.
    #[test]
    fn creating_the_wal_fsyncs_its_parent_directories() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a").join("b");
        synced_dirs();
        let (mut w, _) = open(&dir);
        let synced = synced_dirs();
        for d in [
            root.path().to_path_buf(),
            root.path().join("a"),
            dir.clone(),
        ] {
            assert!(
                synced.contains(&d),
                "{} not fsynced: {synced:?}",
                d.display()
            );
        }
        // Opening an existing WAL creates nothing: no directory fsync needed.
        w.append(1, &[ent(1, "a")]).unwrap();
        w.sync().unwrap();
        drop(w);
        let (_, rec) = open(&dir);
        assert_eq!(rec.entries, vec![ent(1, "a")]);
        assert!(synced_dirs().is_empty());
    }

    /// A snapshot and a compaction rename files: both fsync the directory.
    #[test]
    fn snapshot_and_compaction_renames_fsync_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let (mut w, _) = open(dir.path());
        w.append(1, &[ent(1, &"x".repeat(2 << 20))]).unwrap();
        w.sync().unwrap();
        synced_dirs();
        w.save_snapshot(&Snapshot {
            index: 1,
            term: 1,
            data: "s".into(),
        })
        .unwrap();
        // One fsync for snapshot.bin's rename, one for wal.log's.
        let synced = synced_dirs();
        assert_eq!(synced, vec![dir.path().to_path_buf(); 2]);
        assert!(w.file_len() < COMPACT_MIN_BYTES);
    }
}

//! Captured output: a service's stdout/stderr go into named pipes in the runtime dir, which the
//! supervisor drains into rotated files in `log_dir`.
//!
//! A FIFO rather than an anonymous pipe, and opened read-write by the service too: if the
//! supervisor is killed, the service still holds a reader, so its writes never raise SIGPIPE
//! (they block once the pipe is full instead), and the next supervisor opens the same FIFO by
//! name and picks the stream up again.
//!
//! Rotation keeps every file at or under `max_bytes`: a chunk that would cross the limit starts
//! the next file, cut at its last line break that fits; only a single line longer than the limit
//! is split. `NAME.out` rotates to `NAME.out.1` … `NAME.out.N` (`backups`).

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Bytes drained from one pipe per turn of the loop, so that a flooding service cannot starve
/// the others (the rest waits for the next turn; poll reports the pipe readable again).
pub const DRAIN_PER_TURN: usize = 256 * 1024;

/// A rotated log file.
#[derive(Debug)]
pub struct LogFile {
    path: PathBuf,
    file: Option<File>,
    size: u64,
    max_bytes: u64,
    backups: u32,
}

impl LogFile {
    /// Opens (appending to) `path`.
    ///
    /// # Errors
    /// When the file cannot be opened.
    pub fn open(path: &Path, max_bytes: u64, backups: u32) -> io::Result<LogFile> {
        let mut log = LogFile {
            path: path.to_path_buf(),
            file: None,
            size: 0,
            max_bytes: max_bytes.max(1),
            backups,
        };
        log.reopen()?;
        Ok(log)
    }

    /// Closes and reopens the file by name (after an external rotation, on SIGUSR1).
    ///
    /// # Errors
    /// When the file cannot be opened.
    pub fn reopen(&mut self) -> io::Result<()> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o640)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&self.path)?;
        self.size = file.metadata()?.len();
        self.file = Some(file);
        Ok(())
    }

    /// Appends `data`, rotating as needed.
    ///
    /// # Errors
    /// When writing or rotating fails.
    pub fn write(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let room = self.max_bytes.saturating_sub(self.size) as usize;
            let piece = fitting_piece(data, room, self.max_bytes as usize);
            if piece == 0 {
                self.rotate()?;
                continue;
            }
            let file = match &mut self.file {
                Some(f) => f,
                None => {
                    self.reopen()?;
                    continue;
                }
            };
            file.write_all(&data[..piece])?;
            self.size += piece as u64;
            data = &data[piece..];
        }
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        self.file = None;
        if self.backups == 0 {
            let _ = std::fs::remove_file(&self.path);
        } else {
            let numbered = |n: u32| PathBuf::from(format!("{}.{n}", self.path.display()));
            let _ = std::fs::remove_file(numbered(self.backups));
            for n in (1..self.backups).rev() {
                let _ = std::fs::rename(numbered(n), numbered(n + 1));
            }
            std::fs::rename(&self.path, numbered(1))?;
        }
        self.reopen()
    }
}

/// How much of `data` goes into a file with `room` bytes left (0: rotate first).
fn fitting_piece(data: &[u8], room: usize, max: usize) -> usize {
    if data.len() <= room {
        return data.len();
    }
    // Cut after the last newline that fits; a file with content rotates rather than take a
    // partial line.
    if let Some(nl) = data[..room].iter().rposition(|b| *b == b'\n') {
        return nl + 1;
    }
    if room < max {
        return 0; // start the next file with this line
    }
    room // a single line longer than the whole limit: split it
}

/// A service's stream: the FIFO the service writes to, and the file it is drained into.
#[derive(Debug)]
pub struct Capture {
    fifo: PathBuf,
    reader: File,
    /// The destination.
    pub sink: LogFile,
}

impl Capture {
    /// Creates (or reuses, after a supervisor restart) the FIFO at `fifo` and opens it for
    /// non-blocking reading.
    ///
    /// # Errors
    /// When the FIFO cannot be created or opened.
    pub fn open(fifo: &Path, sink: LogFile) -> io::Result<Capture> {
        match nix::unistd::mkfifo(fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)) {
            Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
            Err(e) => return Err(e.into()),
        }
        let meta = std::fs::symlink_metadata(fifo)?;
        if !std::os::unix::fs::FileTypeExt::is_fifo(&meta.file_type()) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} exists and is not a FIFO", fifo.display()),
            ));
        }
        // Read-write, so the open never blocks and the pipe never sees "no writers" (EOF).
        let reader = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
            .open(fifo)?;
        Ok(Capture {
            fifo: fifo.to_path_buf(),
            reader,
            sink,
        })
    }

    /// The service's end: the FIFO opened read-write (see the module docs), blocking.
    ///
    /// # Errors
    /// When it cannot be opened.
    pub fn writer(&self) -> io::Result<File> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&self.fifo)
    }

    /// The descriptor to poll.
    pub fn reader(&self) -> &File {
        &self.reader
    }

    /// Moves what is in the pipe (up to [`DRAIN_PER_TURN`]) to the log file.
    ///
    /// # Errors
    /// When writing the log fails (reading errors other than "empty" too).
    pub fn drain(&mut self, tap: &mut dyn FnMut(&[u8])) -> io::Result<usize> {
        let mut buf = [0u8; 64 * 1024];
        let mut total = 0;
        while total < DRAIN_PER_TURN {
            match (&self.reader).read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    self.sink.write(&buf[..n])?;
                    tap(&buf[..n]);
                    total += n;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(total)
    }

    /// Removes the FIFO (the service is gone for good).
    pub fn remove(self) {
        let _ = std::fs::remove_file(&self.fifo);
    }
}

/// The last `lines` lines of the file at `path` (reading at most the last 1 MiB).
///
/// # Errors
/// When the file cannot be read.
pub fn tail_lines(path: &Path, lines: usize) -> io::Result<String> {
    use std::io::{Seek, SeekFrom};
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    let start = len.saturating_sub(1 << 20);
    file.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    let text = String::from_utf8_lossy(&bytes);
    if lines == 0 {
        return Ok(String::new());
    }
    let body = text.strip_suffix('\n').unwrap_or(&text);
    let mut from = body.len();
    for _ in 0..lines {
        match body[..from].rfind('\n') {
            Some(i) => from = i,
            None => return Ok(text.into_owned()),
        }
    }
    Ok(text[from + 1..].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_respect_the_limit_and_line_breaks() {
        assert_eq!(fitting_piece(b"abc\n", 10, 10), 4);
        assert_eq!(fitting_piece(b"ab\ncd\nef", 6, 10), 6);
        assert_eq!(
            fitting_piece(b"abcdef\n", 3, 10),
            0,
            "a line that does not fit starts the next file"
        );
        assert_eq!(
            fitting_piece(b"abcdefghijkl", 10, 10),
            10,
            "only an over-long line is split"
        );
    }

    #[test]
    fn rotation_never_exceeds_max_bytes_and_keeps_backups() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("svc.out");
        let mut log = LogFile::open(&path, 100, 2).unwrap();
        for i in 0..50 {
            log.write(format!("line {i:03} of output\n").as_bytes())
                .unwrap();
        }
        log.write(&[b'x'; 250]).unwrap();
        log.write(b"\n").unwrap();
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, vec!["svc.out", "svc.out.1", "svc.out.2"]);
        for name in &names {
            let len = std::fs::metadata(dir.path().join(name)).unwrap().len();
            assert!(len <= 100, "{name} has {len} bytes");
        }
        let current = std::fs::read_to_string(&path).unwrap();
        assert!(current.ends_with("x\n"), "{current:?}");
    }

    #[test]
    fn whole_lines_stay_whole_across_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("svc.err");
        let mut log = LogFile::open(&path, 64, 3).unwrap();
        for i in 0..20 {
            log.write(format!("event number {i}\n").as_bytes()).unwrap();
        }
        for n in ["svc.err", "svc.err.1", "svc.err.2", "svc.err.3"] {
            let text = std::fs::read_to_string(dir.path().join(n)).unwrap();
            assert!(text.is_empty() || text.ends_with('\n'), "{n}: {text:?}");
            assert!(
                text.lines().all(|l| l.starts_with("event number ")),
                "{n}: {text:?}"
            );
        }
    }

    #[test]
    fn tail_returns_the_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.out");
        std::fs::write(&path, "a\nb\nc\nd\n").unwrap();
        assert_eq!(tail_lines(&path, 2).unwrap(), "c\nd\n");
        assert_eq!(tail_lines(&path, 10).unwrap(), "a\nb\nc\nd\n");
        assert_eq!(tail_lines(&path, 0).unwrap(), "");
    }

    #[test]
    fn a_fifo_capture_drains_into_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let sink = LogFile::open(&dir.path().join("s.out"), 1 << 20, 1).unwrap();
        let mut capture = Capture::open(&dir.path().join("s.out.fifo"), sink).unwrap();
        let mut writer = capture.writer().unwrap();
        writer.write_all(b"hello\n").unwrap();
        let mut seen = Vec::new();
        assert_eq!(
            capture.drain(&mut |b| seen.extend_from_slice(b)).unwrap(),
            6
        );
        assert_eq!(
            capture.drain(&mut |_| {}).unwrap(),
            0,
            "an empty pipe does not block"
        );
        assert_eq!(seen, b"hello\n");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("s.out")).unwrap(),
            "hello\n"
        );
    }
}

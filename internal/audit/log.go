package audit

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// Options configures an audit log opened with Open.
type Options struct {
	// File is the current log file; rotated files are File.1 (newest) to
	// File.<MaxFiles>. Empty: no file.
	File string
	// MaxSize rotates the file before a line would make it larger than
	// this many bytes. 0: never rotate.
	MaxSize int64
	// MaxFiles is how many rotated files are kept; older ones are removed.
	// 0 keeps them all.
	MaxFiles int
	// Stdout also writes every line to this writer (os.Stdout in serve),
	// for a log collector. The same chained line goes to both.
	Stdout io.Writer
	// Key, if set, seals each line with HMAC-SHA256 under it (LoadKey), so
	// that whoever can write the file but not read the key cannot forge a
	// consistent chain.
	Key []byte
	// Replica, if set, is written into every record (replica_id): each
	// replica of a deployment writes its own file and chain, and audit
	// verify tells the chains apart by it.
	Replica string
	// Logger, if set, is told when Open set a torn last line aside.
	Logger *slog.Logger
}

// Log is a hash-chained audit log: a Sink that writes one JSON line per
// record to a file and/or stdout. It is safe for concurrent use.
type Log struct {
	opts Options

	mu     sync.Mutex
	f      *os.File
	size   int64
	seq    uint64
	prev   string
	closed bool
}

// Open opens (or creates) the log and continues the chain from its last
// line, so that a restart does not break it.
func Open(opts Options) (*Log, error) {
	if opts.File == "" && opts.Stdout == nil {
		return nil, errors.New("audit: no sink: give a file, stdout, or both")
	}
	l := &Log{opts: opts}
	if opts.File == "" {
		return l, nil
	}
	if aside, n, err := setTornTailAside(opts.File); err != nil {
		return nil, err
	} else if n > 0 && opts.Logger != nil {
		opts.Logger.Warn("audit: the last line of the log was cut short (a crash during a write); moved it aside and continued the chain from the line before",
			"file", opts.File, "bytes", n, "moved_to", aside)
	}
	// The chain continues from the current file, or from the newest
	// rotated one if the current file is empty (rotation happened just
	// before a restart).
	otherReplica := false
	for i, name := range []string{opts.File, opts.File + ".1"} {
		f, ok, err := lastLine(name, opts.Key)
		if err != nil {
			return nil, err
		}
		if ok {
			l.seq, l.prev = f.Seq, f.Hash
			otherReplica = i == 0 && f.Replica != opts.Replica
			break
		}
	}
	if err := l.openFile(); err != nil {
		return nil, err
	}
	// A file belongs to one replica: if the current file was written under
	// another replica id (a log from before replica_id, or a renamed
	// replica), it is rotated, and the chain goes on in a new file.
	if otherReplica {
		l.mu.Lock()
		err := l.rotate()
		l.mu.Unlock()
		if err != nil {
			return nil, err
		}
	}
	return l, nil
}

func (l *Log) openFile() error {
	f, err := os.OpenFile(l.opts.File, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("audit: %w", err)
	}
	l.f, l.size = f, st.Size()
	return nil
}

// setTornTailAside handles a log whose last line has no newline: a write
// cut short by a crash or a full disk. The partial line was never part of
// the chain, so it is moved to torn-<base>-<time> beside the log (kept,
// not lost) and cut
// from the log, and the chain goes on from the last whole line. The file
// is named so that a glob of the log's rotated files (audit.log*) does not
// take it for one. A tail
// longer than any line the log writes is not a torn write: that is left
// for lastLine to refuse.
func setTornTailAside(name string) (aside string, n int64, err error) {
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return "", 0, nil
	}
	if err != nil {
		return "", 0, fmt.Errorf("audit: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", 0, fmt.Errorf("audit: %w", err)
	}
	size := st.Size()
	if size == 0 {
		return "", 0, nil
	}
	off := max(size-maxLine, 0)
	buf := make([]byte, size-off)
	if _, err := f.ReadAt(buf, off); err != nil {
		return "", 0, fmt.Errorf("audit: %w", err)
	}
	if buf[len(buf)-1] == '\n' {
		return "", 0, nil
	}
	i := bytes.LastIndexByte(buf, '\n')
	if i < 0 && off > 0 {
		return "", 0, nil
	}
	tail := buf[i+1:]
	aside = filepath.Join(filepath.Dir(name), fmt.Sprintf("torn-%s-%d", filepath.Base(name), time.Now().UnixNano()))
	if err := os.WriteFile(aside, tail, 0o600); err != nil {
		return "", 0, fmt.Errorf("audit: setting the torn last line of %s aside: %w", name, err)
	}
	if err := f.Truncate(size - int64(len(tail))); err != nil {
		return "", 0, fmt.Errorf("audit: cutting the torn last line of %s: %w", name, err)
	}
	if err := f.Sync(); err != nil {
		return "", 0, fmt.Errorf("audit: %w", err)
	}
	return aside, int64(len(tail)), nil
}

// lastLine reads the chain fields of the last line of name. ok is false if
// the file is missing or empty. A last line that is incomplete or does not
// verify is an error: appending to it would hide the damage.
func lastLine(name string, key []byte) (chainFields, bool, error) {
	f, err := os.Open(name)
	if errors.Is(err, os.ErrNotExist) {
		return chainFields{}, false, nil
	}
	if err != nil {
		return chainFields{}, false, fmt.Errorf("audit: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return chainFields{}, false, fmt.Errorf("audit: %w", err)
	}
	if st.Size() == 0 {
		return chainFields{}, false, nil
	}
	// Read backwards in growing chunks until the start of the last line.
	size := st.Size()
	for chunk := int64(4096); ; chunk *= 4 {
		off := max(size-chunk, 0)
		buf := make([]byte, size-off)
		if _, err := f.ReadAt(buf, off); err != nil {
			return chainFields{}, false, fmt.Errorf("audit: %w", err)
		}
		if buf[len(buf)-1] != '\n' {
			return chainFields{}, false, fmt.Errorf("audit: %s: the last line is incomplete; run 'gatehouse audit verify %s' and move the file aside", name, name)
		}
		body := buf[:len(buf)-1]
		i := bytes.LastIndexByte(body, '\n')
		if i < 0 && off > 0 {
			if chunk >= maxLine {
				// verify refuses such a line too; reading on would let a
				// planted giant line exhaust memory at every start.
				return chainFields{}, false, fmt.Errorf("audit: %s: the last line is longer than %d bytes; run 'gatehouse audit verify %s' and move the file aside", name, maxLine, name)
			}
			continue
		}
		line := body[i+1:]
		cf, err := checkLine(line, key)
		if errors.Is(err, ErrNeedKey) {
			return chainFields{}, false, fmt.Errorf("audit: %s is sealed with a key: configure audit_key_file, or start a new file (lines without the key after keyed ones would not verify)", name)
		}
		if err != nil {
			return chainFields{}, false, fmt.Errorf("audit: %s: last line: %v; run 'gatehouse audit verify %s'", name, err, name)
		}
		// A sealed line would vouch for every line before it, so it must
		// not go on top of lines the key did not seal: whoever can write
		// the file could have re-written it as a plain chain.
		if key != nil && !cf.keyed() {
			return chainFields{}, false, fmt.Errorf("audit: %s: the last line is not sealed with the key (the log was written without one, or re-written): check it with 'gatehouse audit verify', move it and its rotated files aside, and start a new sealed log", name)
		}
		return cf, true, nil
	}
}

// Write seals r into the chain and writes it. Seq, Prev and Hash of r are
// ignored and set here.
func (l *Log) Write(r Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return errors.New("audit: log is closed")
	}
	r.Replica = l.opts.Replica
	line, h, err := seal(r, l.seq+1, l.prev, l.opts.Key)
	if err != nil {
		return err
	}
	if l.opts.File != "" {
		if l.f == nil { // a failed rotation closed it
			if err := l.openFile(); err != nil {
				return err
			}
		}
		if l.opts.MaxSize > 0 && l.size > 0 && l.size+int64(len(line)) > l.opts.MaxSize {
			if err := l.rotate(); err != nil {
				return err
			}
		}
		// One write per line, with O_APPEND: a line is never interleaved.
		n, err := l.f.Write(line)
		l.size += int64(n)
		if err != nil {
			return fmt.Errorf("audit: %w", err)
		}
	}
	if l.opts.Stdout != nil {
		if _, err := l.opts.Stdout.Write(line); err != nil {
			return fmt.Errorf("audit: stdout: %w", err)
		}
	}
	l.seq, l.prev = l.seq+1, h
	return nil
}

// rotate renames File to File.1, shifting older files up and removing the
// ones beyond MaxFiles, then opens a fresh File. The chain goes on.
func (l *Log) rotate() error {
	if err := l.f.Close(); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	l.f = nil
	name := l.opts.File
	if l.opts.MaxFiles > 0 {
		os.Remove(name + "." + strconv.Itoa(l.opts.MaxFiles))
	}
	top := l.opts.MaxFiles
	if top == 0 {
		// Keep all: find the first free number.
		for top = 1; ; top++ {
			if _, err := os.Stat(name + "." + strconv.Itoa(top)); errors.Is(err, os.ErrNotExist) {
				break
			}
		}
	}
	for i := top - 1; i >= 1; i-- {
		from := name + "." + strconv.Itoa(i)
		if err := os.Rename(from, name+"."+strconv.Itoa(i+1)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("audit: rotate: %w", err)
		}
	}
	if err := os.Rename(name, name+".1"); err != nil {
		return fmt.Errorf("audit: rotate: %w", err)
	}
	return l.openFile()
}

// Close closes the file.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	if l.f == nil {
		return nil
	}
	err := l.f.Sync()
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	return err
}

// Head returns the sequence number and hash of the last line written: an
// anchor to keep elsewhere, so truncation of the log's tail can be detected.
func (l *Log) Head() (uint64, string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seq, l.prev
}

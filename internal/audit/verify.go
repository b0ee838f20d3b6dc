package audit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
)

// A VerifyError is the first place where a log fails verification.
type VerifyError struct {
	File string
	Line int // 1-based; 0 when the problem is the file as a whole
	Msg  string
}

func (e *VerifyError) Error() string {
	if e.Line == 0 {
		return e.File + ": " + e.Msg
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}

// Summary is what a successful Verify saw.
type Summary struct {
	Replica   string // the replica id of the chain ("" for logs from before replica_id)
	Err       error  // VerifyReplicas: the chain's first problem, nil if it verified
	Files     int
	Records   int
	FirstSeq  uint64 // 1 unless older files were rotated away
	LastSeq   uint64
	FirstPrev string // "" when the log starts at its very first record
	LastHash  string // compare with an anchor kept elsewhere to detect truncation
	// Keyed counts the records sealed with the key, and FirstKeyedSeq is
	// the first of them (0: none). Records before it are vouched for by it.
	Keyed         int
	FirstKeyedSeq uint64
}

// maxLine bounds one audit line; real lines are well under 4 KiB.
const maxLine = 1 << 20

// Verify checks one or more log files as one chain: every line's hash
// matches its content, sequence numbers go up by one, and every line names
// the hash of the one before. Files may be given in any order (a shell glob
// sorts log.1 after log); they are put in chain order by the sequence number
// of their first line. It returns the first problem as a *VerifyError.
//
// What it cannot see on its own: lines cut from the end of the newest file,
// or from the start of the oldest one. Compare LastHash with an anchor kept
// elsewhere (the stdout sink's copy, or Log.Head) for those.
//
// A log sealed with a key needs VerifyWithKey; Verify refuses its keyed
// lines, since without the key it cannot tell them from forgeries.
func Verify(files ...string) (Summary, error) { return VerifyWithKey(nil, files...) }

// VerifyWithKey is Verify for a log written with Options.Key. With a key,
// the newest record must be sealed with it, and so must every record after
// the first keyed one: lines sealed without the key are accepted only
// before it (a log that existed before the key was configured), where the
// keyed line's seal, which covers the hash of the line before, vouches for
// them. So a forger who can write the file but does not hold the key can
// neither edit a line nor rewrite the whole file as a plain chain.
func VerifyWithKey(key []byte, files ...string) (Summary, error) {
	ss, err := VerifyReplicas(key, files...)
	if err != nil {
		if len(ss) == 1 {
			return ss[0], err
		}
		return Summary{}, err
	}
	if len(ss) > 1 {
		return Summary{}, fmt.Errorf("audit: the files hold the chains of %d replicas: verify them with VerifyReplicas", len(ss))
	}
	return ss[0], nil
}

// VerifyReplicas checks the files of one or more replicas: it groups them
// by the replica id of their first line ("" for logs written before
// replica_id) and verifies each group as one chain, as VerifyWithKey does.
// Every line of a file must name the file's replica. It returns a Summary
// per replica, sorted by replica id, each with Err set if its chain failed,
// and the errors of all failed chains joined.
func VerifyReplicas(key []byte, files ...string) ([]Summary, error) {
	groups := map[string][]fileStart{}
	for _, name := range files {
		fs, err := readFileStart(name)
		if err != nil {
			return nil, err
		}
		if fs.empty {
			continue // adds nothing to any chain
		}
		groups[fs.replica] = append(groups[fs.replica], fs)
	}
	if len(groups) == 0 {
		return nil, errors.New("audit: no records in the given files")
	}
	ids := make([]string, 0, len(groups))
	for id := range groups {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var out []Summary
	var errs []error
	for _, id := range ids {
		s, err := verifyChain(key, id, groups[id])
		s.Replica, s.Err = id, err
		out = append(out, s)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return out, errors.Join(errs...)
}

type fileStart struct {
	name    string
	seq     uint64
	replica string
	empty   bool
}

// verifyChain checks the files of one replica as one chain.
func verifyChain(key []byte, replica string, order []fileStart) (Summary, error) {
	sort.SliceStable(order, func(i, j int) bool { return order[i].seq < order[j].seq })

	var s Summary
	s.Files = len(order)
	var prev string
	var seq uint64
	started := false
	for _, fs := range order {
		f, err := os.Open(fs.name)
		if err != nil {
			return s, &VerifyError{File: fs.name, Msg: err.Error()}
		}
		err = func() error {
			defer f.Close()
			r := bufio.NewReaderSize(f, 64<<10)
			for n := 1; ; n++ {
				line, err := readLine(r)
				if err == io.EOF {
					return nil
				}
				bad := func(format string, args ...any) error {
					return &VerifyError{File: fs.name, Line: n, Msg: fmt.Sprintf(format, args...)}
				}
				if err != nil {
					return bad("%v", err)
				}
				cf, err := checkLine(line, key)
				if err != nil {
					return bad("%v", err)
				}
				if cf.Replica != replica {
					return bad("replica %q in a file of replica %q: a file holds the records of one replica", cf.Replica, replica)
				}
				if cf.keyed() {
					if s.Keyed == 0 {
						s.FirstKeyedSeq = cf.Seq
					}
					s.Keyed++
				} else if s.Keyed > 0 {
					return bad("not sealed with the key, after %d lines that are: a forged or re-sealed record", s.Keyed)
				}
				if !started {
					started = true
					s.FirstSeq, s.FirstPrev = cf.Seq, cf.Prev
					if cf.Seq == 1 && cf.Prev != "" {
						return bad("the first record names a record before it")
					}
				} else {
					if cf.Seq != seq+1 {
						if cf.Seq <= seq {
							return bad("sequence %d after %d: lines are reordered or repeated", cf.Seq, seq)
						}
						// A gap is all one line shows: the missing records may be gone, or
						// further on (reordered). Say both rather than guess.
						return bad("sequence %d after %d: %d record(s) removed or moved from before this line", cf.Seq, seq, cf.Seq-seq-1)
					}
					if cf.Prev != prev {
						return bad("the chain is broken: this line does not follow the one before")
					}
				}
				seq, prev = cf.Seq, cf.Hash
				s.Records++
			}
		}()
		if err != nil {
			return s, err
		}
	}
	s.LastSeq, s.LastHash = seq, prev
	if s.Records == 0 {
		return s, errors.New("audit: no records in the given files")
	}
	if key != nil && s.Keyed == 0 {
		return s, fmt.Errorf("audit: replica %q: no record is sealed with the key: the log was written without one, or re-written", replica)
	}
	return s, nil
}

// readLine returns the next line without its newline; a final line without
// one is an error (a write was cut short).
func readLine(r *bufio.Reader) ([]byte, error) {
	var buf []byte
	for {
		chunk, err := r.ReadSlice('\n')
		buf = append(buf, chunk...)
		if len(buf) > maxLine {
			return nil, fmt.Errorf("line longer than %d bytes", maxLine)
		}
		switch {
		case err == nil:
			return bytes.TrimSuffix(buf, []byte("\n")), nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err == io.EOF && len(buf) == 0:
			return nil, io.EOF
		case err == io.EOF:
			return nil, errors.New("incomplete last line (no newline)")
		default:
			return nil, err
		}
	}
}

// readFileStart reads the sequence number and replica of a file's first
// line: enough to group and order the files; seals are checked later.
func readFileStart(name string) (fileStart, error) {
	f, err := os.Open(name)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fileStart{}, &VerifyError{File: name, Msg: err.Error()}
	}
	defer f.Close()
	line, err := readLine(bufio.NewReader(f))
	if err == io.EOF {
		return fileStart{name: name, empty: true}, nil // an empty file sorts first and adds nothing
	}
	if err != nil {
		return fileStart{}, &VerifyError{File: name, Line: 1, Msg: err.Error()}
	}
	// Only the sequence number is needed to order the files; the seal is
	// checked when the file's turn comes.
	var cf chainFields
	if err := json.Unmarshal(line, &cf); err != nil {
		return fileStart{}, &VerifyError{File: name, Line: 1, Msg: fmt.Sprintf("not a JSON record: %v", err)}
	}
	return fileStart{name: name, seq: cf.Seq, replica: cf.Replica}, nil
}

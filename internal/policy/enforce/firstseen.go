package enforce

import (
	"encoding/json"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/atomicfile"
)

// firstSeen keeps when gatehouse first saw each version (path@version), in
// a file that survives restarts: the clock of min_age for versions no
// module index lists. The file is replaced whole on each change, so a
// crash leaves the old one or the new one; a file that does not parse
// (emptied, cut short) is set aside and the times start again from now,
// which can only hold versions back longer, never let one in earlier.
type firstSeen struct {
	file string // "": memory only
	log  *slog.Logger

	mu      sync.Mutex
	times   map[string]time.Time
	dirty   bool
	writing bool
	idle    sync.Cond // on mu: signalled when a write ends
}

func openFirstSeen(file string, log *slog.Logger) *firstSeen {
	s := &firstSeen{file: file, log: log, times: map[string]time.Time{}}
	s.idle.L = &s.mu
	if file == "" {
		return s
	}
	data, err := os.ReadFile(file)
	switch {
	case os.IsNotExist(err):
	case err != nil:
		log.Error("policy: cannot read first-seen times; versions are dated from now", "file", file, "err", err)
	case json.Unmarshal(data, &s.times) != nil:
		s.times = map[string]time.Time{}
		bad := file + ".bad"
		os.Rename(file, bad)
		log.Error("policy: first-seen times do not parse (cut short?); set aside, versions are dated from now", "file", file, "moved_to", bad)
	}
	return s
}

// Record returns when key was first seen, which is now if never before.
// A new time is written in the background (the whole file: about 0.1 s
// for 50,000 versions), so no request waits for the disk; a crash before
// it is written dates the version again later, which is the strict side.
func (s *firstSeen) Record(key string) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.times[key]; ok {
		return t
	}
	t := time.Now().UTC().Truncate(time.Millisecond)
	s.times[key] = t
	s.dirty = true
	if s.file != "" && !s.writing {
		s.writing = true
		go s.write()
	}
	return t
}

// write saves the times until no new one came in meanwhile.
func (s *firstSeen) write() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.dirty {
		s.dirty = false
		data, err := json.Marshal(s.times)
		s.mu.Unlock()
		if err == nil {
			err = atomicfile.Write(s.file, data, 0o600)
		}
		s.mu.Lock()
		if err != nil {
			s.log.Error("policy: cannot save first-seen times", "file", s.file, "err", err)
		}
	}
	s.writing = false
	s.idle.Broadcast()
}

// Flush waits for the times recorded so far to be written.
func (s *firstSeen) Flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.writing {
		s.idle.Wait()
	}
}

package testproxy

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"
)

// addTxtar adds a fixture in cmd/go's testdata/mod format: the comment's
// first line is "module <path> <version>" (or the file is named
// path_with_underscores_version.txt, which we do not need); the files
// ".mod" and ".info" are the artifacts (.info optional), the rest make up
// the module zip (".mod" doubles as its go.mod unless go.mod is given).
func (s *Server) addTxtar(data []byte) error {
	comment, files := parseTxtar(data)
	var modPath, version string
	for _, line := range strings.Split(comment, "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "module" {
			modPath, version = f[1], f[2]
			break
		}
	}
	if modPath == "" {
		return fmt.Errorf("no 'module <path> <version>' line in the comment")
	}
	tm := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	zipFiles := map[string]string{}
	for name, content := range files {
		switch name {
		case ".mod":
			if _, ok := files["go.mod"]; !ok {
				zipFiles["go.mod"] = content
			}
		case ".info":
			var err error
			if tm, err = infoTime(content); err != nil {
				return err
			}
		default:
			zipFiles[name] = content
		}
	}
	if _, ok := zipFiles["go.mod"]; !ok {
		return fmt.Errorf("no .mod or go.mod file")
	}
	return s.Add(modPath, version, zipFiles, tm)
}

func infoTime(info string) (time.Time, error) {
	i := strings.Index(info, `"Time":"`)
	if i < 0 {
		return time.Time{}, fmt.Errorf(".info has no Time")
	}
	rest := info[i+len(`"Time":"`):]
	end := strings.IndexByte(rest, '"')
	if end < 0 {
		return time.Time{}, fmt.Errorf(".info Time is not terminated")
	}
	return time.Parse(time.RFC3339, rest[:end])
}

// parseTxtar splits a txtar archive: a comment, then files introduced by
// "-- name --" lines.
func parseTxtar(data []byte) (comment string, files map[string]string) {
	files = map[string]string{}
	var name string
	var buf strings.Builder
	flush := func() {
		if name == "" {
			comment = buf.String()
		} else {
			files[name] = buf.String()
		}
		buf.Reset()
	}
	for _, line := range strings.SplitAfter(string(data), "\n") {
		trimmed := strings.TrimRight(line, "\r\n")
		if strings.HasPrefix(trimmed, "-- ") && strings.HasSuffix(trimmed, " --") && len(trimmed) > 6 {
			flush()
			name = strings.TrimSpace(trimmed[3 : len(trimmed)-3])
			continue
		}
		buf.WriteString(line)
	}
	flush()
	return comment, files
}

func zipReader(data []byte) (*zip.Reader, error) {
	return zip.NewReader(bytes.NewReader(data), int64(len(data)))
}

// memFile is a modzip.File held in memory.
type memFile struct {
	name string
	data []byte
}

func (f memFile) Path() string                 { return f.name }
func (f memFile) Lstat() (os.FileInfo, error)  { return memInfo(f), nil }
func (f memFile) Open() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(f.data)), nil }

type memInfo memFile

func (i memInfo) Name() string       { return i.name }
func (i memInfo) Size() int64        { return int64(len(i.data)) }
func (i memInfo) Mode() fs.FileMode  { return 0o644 }
func (i memInfo) ModTime() time.Time { return time.Time{} }
func (i memInfo) IsDir() bool        { return false }
func (i memInfo) Sys() any           { return nil }

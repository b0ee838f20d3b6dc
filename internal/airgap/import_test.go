package airgap

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
)

func testKey(t *testing.T) string {
	_, vkey, err := note.GenerateKey(nil, "sum.example.test")
	if err != nil {
		t.Fatal(err)
	}
	return vkey
}

// Entry names that could reach outside the store, or into gatehouse's own
// state, are refused as they are read, before anything is written.
func TestImportRefusesBadEntryNames(t *testing.T) {
	for _, name := range []string{
		"files/../../etc/passwd",
		"files/example.com/x/@v/../../../../escape.zip",
		"/files/example.com/x/@v/v1.0.0.zip",
		"files//example.com/x/@v/v1.0.0.zip",
		"files/.gatehouse/sumdb/x/@v/latest.mod",
		"files/sumdb/x/@v/v1.0.0.zip",
		"files/example.com/x/@v/v1.0.0.exe",
		"files/example.com/x/v1.0.0.zip",
		"files/example.com\\x/@v/v1.0.0.zip",
		"sumdb/records/../../latest",
		"sumdb/tile/8/data/000",
		"sumdb/tile/../../x",
		"sumdb/latest2",
		"other",
	} {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			tw := tar.NewWriter(&buf)
			tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: 1, Typeflag: tar.TypeReg})
			tw.Write([]byte("x"))
			tw.Close()
			data := t.TempDir()
			_, err := Import(context.Background(), &buf, ImportOptions{Data: data, SumDBKey: testKey(t)})
			var bad *BadBundleError
			if err == nil || !strings.Contains(err.Error(), "nothing imported") {
				t.Fatalf("entry %q: err %v", name, err)
			}
			if !asBad(err, &bad) || bad.Entry != name {
				t.Errorf("error does not name the entry: %v", err)
			}
			if n := countFiles(t, data); n != 0 {
				t.Errorf("%d files written", n)
			}
		})
	}
}

// Links, directories, entries twice and entries after the manifest are
// refused; a bundle cut short (no manifest) too.
func TestImportRefusesOddTars(t *testing.T) {
	cases := map[string][]*tar.Header{
		"symlink":  {{Name: "files/example.com/x/@v/v1.0.0.zip", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"}},
		"hardlink": {{Name: "files/example.com/x/@v/v1.0.0.zip", Typeflag: tar.TypeLink, Linkname: "manifest.json"}},
		"dir":      {{Name: "files/example.com/", Typeflag: tar.TypeDir}},
		"twice":    {{Name: "sumdb/latest", Typeflag: tar.TypeReg}, {Name: "sumdb/latest", Typeflag: tar.TypeReg}},
		"after":    {{Name: "manifest.json", Typeflag: tar.TypeReg}, {Name: "sumdb/latest", Typeflag: tar.TypeReg}},
		"short":    {{Name: "sumdb/latest", Typeflag: tar.TypeReg}},
	}
	for name, hs := range cases {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			tw := tar.NewWriter(&buf)
			for _, h := range hs {
				var body []byte
				if h.Name == "manifest.json" {
					body = []byte(`{"format":1,"sumdb":"sum.example.test"}`)
				}
				h.Size = int64(len(body))
				if h.Typeflag != tar.TypeReg {
					h.Size = 0
				}
				tw.WriteHeader(h)
				tw.Write(body)
			}
			tw.Close()
			data := t.TempDir()
			if _, err := Import(context.Background(), &buf, ImportOptions{Data: data, SumDBKey: testKey(t)}); err == nil || !strings.Contains(err.Error(), "nothing imported") {
				t.Fatalf("err %v", err)
			}
			if n := countFiles(t, data); n != 0 {
				t.Errorf("%d files written", n)
			}
		})
	}
}

func asBad(err error, bad **BadBundleError) bool {
	b, ok := err.(*BadBundleError)
	*bad = b
	return ok
}

func countFiles(t *testing.T, dir string) int {
	n := 0
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			n++
		}
		return nil
	})
	return n
}

// A long module path stages like a short one (the staged copy's name does
// not grow with the entry's): the import goes on to its checks.
func TestImportStagesLongNames(t *testing.T) {
	name := "files/example.com/" + strings.Repeat("long/", 60) + "@v/v1.0.0.zip"
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: 1, Typeflag: tar.TypeReg})
	tw.Write([]byte("x"))
	tw.Close()
	_, err := Import(context.Background(), &buf, ImportOptions{Data: t.TempDir(), SumDBKey: testKey(t)})
	var bad *BadBundleError
	if !asBad(err, &bad) || bad.Entry != manifestName {
		t.Fatalf("long entry name: %v, want the missing manifest reported", err)
	}
}

// Proofs are bounded: one over a MiB is refused before it is read.
func TestImportBoundsProofs(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: latestName, Mode: 0o644, Size: (1 << 20) + 1, Typeflag: tar.TypeReg})
	tw.Write(make([]byte, (1<<20)+1))
	tw.Close()
	_, err := Import(context.Background(), &buf, ImportOptions{Data: t.TempDir(), SumDBKey: testKey(t)})
	if err == nil || !strings.Contains(err.Error(), "over the limit") {
		t.Fatalf("oversized proof: %v", err)
	}
}

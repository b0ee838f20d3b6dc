package inspect

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"math/rand/v2"
	"net/url"
	"os/exec"
	"strings"
	"testing"
)

type entry struct {
	name, body string
	typ        byte
	link       string
}

func tarOf(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.body)), Typeflag: e.typ, Linkname: e.link}
		if e.typ == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Typeflag != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			tw.Write([]byte(e.body))
		}
	}
	tw.Close()
	return buf.Bytes()
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// scanContext streams ctx through BuildContext as the proxy would and
// returns what dockerd would receive and the refusal, if any.
func scanContext(t testing.TB, ctx []byte, query string) ([]byte, *Violation) {
	t.Helper()
	q, _ := url.ParseQuery(query)
	r := New(nil, 0).BuildContext(io.NopCloser(bytes.NewReader(ctx)), q, Scope{})
	got, err := io.ReadAll(r)
	v := ContextViolation(r)
	var verr *Violation
	if (err != nil) != (v != nil) || (err != nil && !errors.As(err, &verr)) {
		t.Fatalf("read error %v, violation %v", err, v)
	}
	if v == nil && !bytes.Equal(got, ctx) {
		t.Fatalf("an allowed context was changed: %d bytes in, %d out", len(ctx), len(got))
	}
	return got, v
}

func TestBuildContextDockerfile(t *testing.T) {
	other := entry{name: "app/main.go", body: strings.Repeat("package main\n", 5000)}
	for _, tc := range []struct {
		name, dockerfile, query, rule string
	}{
		{"plain", "FROM busybox\nCOPY . /app\nADD local.tar /x/\nRUN echo hi\n", "", ""},
		{"add-dest-variable", "FROM busybox\nARG D=/x\nADD local.tar $D/\n", "", ""},
		{"from-stage", "FROM busybox AS base\nFROM base\nCOPY --from=base /a /b\nCOPY --from=0 /a /c\n", "", ""},
		{"from-arg", "ARG BASE=busybox\nFROM ${BASE}\n", "", ""},
		{"add-url", "FROM busybox\nADD http://127.0.0.1:8080/secret /s\n", "", "no-remote-fetch"},
		{"add-https", "FROM busybox\nADD https://example.com/x /s\n", "", "no-remote-fetch"},
		{"lower-case", "from busybox\nadd http://127.0.0.1/x /s\n", "", "no-remote-fetch"},
		{"mixed-case", "FROM busybox\naDd HTTP://127.0.0.1/x /s\n", "", "no-remote-fetch"},
		{"continuation", "FROM busybox\nADD \\\n  http://127.0.0.1/x \\\n  /s\n", "", "no-remote-fetch"},
		{"continuation-comment", "FROM busybox\nADD \\\n# a comment\n\n  http://127.0.0.1/x /s\n", "", "no-remote-fetch"},
		{"backtick-escape", "# escape=`\nFROM busybox\nADD `\n  http://127.0.0.1/x /s\n", "", "no-remote-fetch"},
		{"crlf", "FROM busybox\r\nADD http://127.0.0.1/x /s\r\n", "", "no-remote-fetch"},
		{"json", "FROM busybox\nADD [\"http://127.0.0.1/x\", \"/s\"]\n", "", "no-remote-fetch"},
		{"json-flags", "FROM busybox\nADD --chown=1:1 [\"http://127.0.0.1/x\",\"/s\"]\n", "", "no-remote-fetch"},
		{"flags", "FROM busybox\nADD --chown=1:1 --chmod=644 http://127.0.0.1/x /s\n", "", "no-remote-fetch"},
		{"quoted", "FROM busybox\nADD \"http://127.0.0.1/x\" /s\n", "", "no-remote-fetch"},
		{"escaped", "FROM busybox\nADD ht\\tp:\\/\\/127.0.0.1/x /s\n", "", "no-remote-fetch"},
		{"variable", "FROM busybox\nARG U=http://127.0.0.1/x\nADD $U /s\n", "", "no-remote-fetch"},
		{"braced-variable", "FROM busybox\nADD ${U:-http://127.0.0.1/x} /s\n", "", "no-remote-fetch"},
		{"several-sources", "FROM busybox\nADD a.txt http://127.0.0.1/x /dir/\n", "", "no-remote-fetch"},
		{"onbuild", "FROM busybox\nONBUILD ADD http://127.0.0.1/x /s\n", "", "no-remote-fetch"},
		{"onbuild-lower", "FROM busybox\nonbuild add http://127.0.0.1/x /s\n", "", "no-remote-fetch"},
		{"tab", "FROM busybox\nADD\thttp://127.0.0.1/x\t/s\n", "", "no-remote-fetch"},
		{"bom", "\ufeffFROM busybox\nADD http://127.0.0.1/x /s\n", "", "no-remote-fetch"},
		{"from-loopback", "FROM 127.0.0.1:5000/x\n", "", "registry-allowlist"},
		{"from-flag", "FROM --platform=linux/amd64 127.0.0.1:5000/x AS b\n", "", "registry-allowlist"},
		{"from-arg-loopback", "ARG R=127.0.0.1:5000\nFROM $R/x\n", "", "registry-allowlist"},
		{"from-buildarg", "ARG R=docker.io\nFROM $R/x\n", "buildargs=" + url.QueryEscape(`{"R":"127.0.0.1:5000"}`), "registry-allowlist"},
		{"from-unknown-variable", "FROM ${R:-127.0.0.1:5000}/x\n", "", "registry-allowlist"},
		{"copy-from-image", "FROM busybox\nCOPY --from=127.0.0.1:5000/x /a /b\n", "", "registry-allowlist"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, compress := range []bool{false, true} {
				ctx := tarOf(t, entry{name: "local.tar", body: "x"}, other, entry{name: "Dockerfile", body: tc.dockerfile})
				if compress {
					ctx = gz(ctx)
				}
				_, v := scanContext(t, ctx, tc.query)
				if (v == nil) != (tc.rule == "") || (v != nil && v.Rule != tc.rule) {
					t.Errorf("gzip=%v: got %v, want rule %q", compress, v, tc.rule)
				}
			}
		})
	}
}

func TestBuildContextEntries(t *testing.T) {
	bad := "FROM busybox\nADD http://127.0.0.1/x /s\n"
	good := "FROM busybox\n"
	for _, tc := range []struct {
		name, query string
		entries     []entry
		rule        string
	}{
		{"no-dockerfile", "", []entry{{name: "a", body: "x"}}, ""},
		{"named", "dockerfile=ci%2FDockerfile.ci", []entry{{name: "Dockerfile", body: bad}, {name: "ci/Dockerfile.ci", body: good}}, ""},
		{"named-bad", "dockerfile=ci%2FDockerfile.ci", []entry{{name: "Dockerfile", body: good}, {name: "./ci/Dockerfile.ci", body: bad}}, "no-remote-fetch"},
		{"lower-case-fallback", "", []entry{{name: "dockerfile", body: bad}}, "no-remote-fetch"},
		{"dot-slash", "", []entry{{name: "./Dockerfile", body: bad}}, "no-remote-fetch"},
		{"absolute-name", "dockerfile=%2FDockerfile", []entry{{name: "/Dockerfile", body: bad}}, "no-remote-fetch"},
		{"second-copy-wins", "", []entry{{name: "Dockerfile", body: good}, {name: "x", body: "y"}, {name: "Dockerfile", body: bad}}, "no-remote-fetch"},
		{"symlink-dockerfile", "", []entry{{name: "evil", body: bad}, {name: "Dockerfile", typ: tar.TypeSymlink, link: "evil"}}, "build-context"},
		{"hardlink-dockerfile", "", []entry{{name: "evil", body: bad}, {name: "Dockerfile", typ: tar.TypeLink, link: "evil"}}, "build-context"},
		{"symlink-parent", "dockerfile=sub%2FDockerfile", []entry{{name: "sub", typ: tar.TypeSymlink, link: "other"}, {name: "other/Dockerfile", body: bad}}, "build-context"},
		{"write-through-link", "", []entry{{name: "a", typ: tar.TypeSymlink, link: "."}, {name: "a/Dockerfile", body: bad}}, "build-context"},
		{"other-symlinks-fine", "", []entry{{name: "lib", typ: tar.TypeSymlink, link: "usr/lib"}, {name: "Dockerfile", body: good}}, ""},
		{"escape", "", []entry{{name: "../Dockerfile", body: bad}}, "build-context"},
		{"fifo-dockerfile", "", []entry{{name: "Dockerfile", typ: tar.TypeFifo}}, "build-context"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, v := scanContext(t, tarOf(t, tc.entries...), tc.query)
			if (v == nil) != (tc.rule == "") || (v != nil && v.Rule != tc.rule) {
				t.Errorf("got %v, want rule %q", v, tc.rule)
			}
		})
	}
	if _, v := scanContext(t, []byte("FROM busybox\nADD http://x/ /\n"), ""); v == nil || v.Rule != "build-context" {
		t.Errorf("a context that is no tar: %v", v)
	}
	if _, v := scanContext(t, append([]byte{0xfd, '7', 'z', 'X', 'Z', 0}, make([]byte, 100)...), ""); v == nil || v.Rule != "build-context" {
		t.Errorf("an xz context: %v", v)
	}
	big := tarOf(t, entry{name: "Dockerfile", body: "FROM busybox\n" + strings.Repeat("RUN true\n", DefaultMaxBody/9+1)})
	if _, v := scanContext(t, big, ""); v == nil || v.Rule != "build-context" {
		t.Errorf("a Dockerfile over the limit: %v", v)
	}
}

// A refused context never reaches dockerd whole: what was handed on before
// the refusal stops short of the end-of-archive marker, so dockerd (which
// reads to that end before it reads the Dockerfile) sees a truncated
// upload. Checked with the Dockerfile as the last entry, the hardest case.
func TestBuildContextHeldBack(t *testing.T) {
	rnd := make([]byte, 1<<20) // incompressible, so gzip streams too
	for i := range rnd {
		rnd[i] = byte(rand.Uint32())
	}
	filler := string(rnd)
	plain := tarOf(t, entry{name: "big", body: filler}, entry{name: "Dockerfile", body: "FROM busybox\nADD http://127.0.0.1/x /s\n"})
	marker := len(plain) - 1024 // tar.Writer ends with two zero blocks
	got, v := scanContext(t, plain, "")
	if v == nil || len(got) > marker {
		t.Errorf("plain: refusal %v after %d of %d bytes; the marker starts at %d", v, len(got), len(plain), marker)
	}
	if len(got) < len(filler) {
		t.Errorf("plain: only %d bytes streamed before the Dockerfile; want the context streamed, not held", len(got))
	}
	comp := gz(plain)
	got, v = scanContext(t, comp, "")
	if v == nil || len(got) >= len(comp) {
		t.Fatalf("gzip: refusal %v after %d of %d bytes", v, len(got), len(comp))
	}
	zr, err := gzip.NewReader(bytes.NewReader(got))
	if err != nil {
		t.Fatal(err)
	}
	n, _ := io.Copy(io.Discard, zr)
	if n < int64(len(filler)) {
		t.Errorf("gzip: only %d bytes streamed before the Dockerfile", n)
	}
	if n > int64(marker) {
		t.Errorf("gzip: what was handed on decompresses to %d bytes, past the marker at %d", n, marker)
	}
}

// BenchmarkBuildContext streams a 64 MiB context through the scanner.
func BenchmarkBuildContext(b *testing.B) {
	body := strings.Repeat("x", 1<<20)
	var entries []entry
	for i := 0; i < 64; i++ {
		entries = append(entries, entry{name: "f" + strings.Repeat("0", i%5) + string(rune('a'+i%26)), body: body})
	}
	ctx := tarOf(b, append(entries, entry{name: "Dockerfile", body: "FROM busybox\n"})...)
	b.SetBytes(int64(len(ctx)))
	for b.Loop() {
		r := New(nil, 0).BuildContext(io.NopCloser(bytes.NewReader(ctx)), nil, Scope{})
		if _, err := io.Copy(io.Discard, r); err != nil {
			b.Fatal(err)
		}
	}
}

// compressWith runs a compressor from the host (bzip2, xz, zstd), which
// dockerd also detects by magic bytes; the test skips if it is missing.
func compressWith(t *testing.T, tool string, b []byte) []byte {
	t.Helper()
	path, err := exec.LookPath(tool)
	if err != nil {
		t.Skipf("%s not installed", tool)
	}
	cmd := exec.Command(path, "-c")
	cmd.Stdin = bytes.NewReader(b)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v", tool, err)
	}
	return out
}

func TestBuildContextCompression(t *testing.T) {
	bad := tarOf(t, entry{name: "Dockerfile", body: "FROM busybox\nADD http://127.0.0.1/x /s\n"})
	good := tarOf(t, entry{name: "Dockerfile", body: "FROM busybox\n"})
	if _, v := scanContext(t, compressWith(t, "bzip2", bad), ""); v == nil || v.Rule != "no-remote-fetch" {
		t.Errorf("bzip2, remote ADD: %v", v)
	}
	if _, v := scanContext(t, compressWith(t, "bzip2", good), ""); v != nil {
		t.Errorf("bzip2, harmless: %v", v)
	}
	for _, tool := range []string{"xz", "zstd"} {
		if _, v := scanContext(t, compressWith(t, tool, good), ""); v == nil || v.Rule != "build-context" {
			t.Errorf("%s: %v; want it refused as uninspected", tool, v)
		}
	}
}

package airgap

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestProgressPlainLines(t *testing.T) {
	var buf bytes.Buffer
	p := &Progress{W: &buf, Interval: time.Nanosecond}
	p.Start("export", 2)
	p.Step(1500)
	p.Step(1500)
	p.Done()
	out := buf.String()
	if strings.Contains(out, "\r") || strings.Contains(out, "\x1b") {
		t.Errorf("plain progress has terminal control characters: %q", out)
	}
	if !strings.Contains(out, "export: 2/2 modules, 3.0 kB") {
		t.Errorf("plain progress: %q", out)
	}
}

func TestProgressTerminalBar(t *testing.T) {
	var buf bytes.Buffer
	p := &Progress{W: &buf, Terminal: true}
	p.Start("import", 4)
	for range 4 {
		p.Step(1e6)
	}
	p.Done()
	out := buf.String()
	if !strings.HasPrefix(out, "\r") || !strings.Contains(out, "import [==============================] 4/4 4.0 MB") || !strings.HasSuffix(out, "\n") {
		t.Errorf("terminal bar: %q", out)
	}
	if strings.Count(out, "\n") != 1 {
		t.Errorf("terminal bar takes more than one line: %q", out)
	}
}

func TestProgressJSON(t *testing.T) {
	var buf bytes.Buffer
	p := &Progress{W: &buf, JSON: true}
	p.Start("mirror", 1)
	p.Step(10)
	p.Done()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("JSON events: %q", buf.String())
	}
	var e struct {
		Event string
		Done  int
		Bytes int64
	}
	if err := json.Unmarshal([]byte(lines[1]), &e); err != nil || e.Event != "progress" || e.Done != 1 || e.Bytes != 10 {
		t.Errorf("progress event %q: %+v %v", lines[1], e, err)
	}
}

// mirror does not know its total ahead: no bar, no "n/0".
func TestProgressUnknownTotal(t *testing.T) {
	var buf bytes.Buffer
	p := &Progress{W: &buf, Terminal: true}
	p.Start("mirror", 0)
	p.Step(5)
	p.Done()
	if out := buf.String(); strings.Contains(out, "/0") || strings.Contains(out, "[=") || !strings.Contains(out, "mirror: 1 modules, 5 B") {
		t.Errorf("unknown total: %q", out)
	}
}

package airgap

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Progress reports how far an export, import or mirror is: a bar redrawn
// in place on a terminal, a plain line every Interval otherwise, or one
// JSON event per step. A nil *Progress reports nothing.
type Progress struct {
	W        io.Writer
	Terminal bool // redraw one line with \r
	JSON     bool
	Interval time.Duration // between plain lines; 0: 2s

	mu       sync.Mutex
	op       string
	total    int
	done     int
	bytes    int64
	start    time.Time
	lastDraw time.Time
}

// Start begins an operation of total steps.
func (p *Progress) Start(op string, total int) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.op, p.total, p.done, p.bytes, p.start = op, total, 0, 0, time.Now()
	p.lastDraw = time.Time{}
	if p.JSON {
		p.event(map[string]any{"event": "start", "op": op, "total": total})
	}
}

// Step counts one finished step of n bytes.
func (p *Progress) Step(n int64) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done++
	p.bytes += n
	now := time.Now()
	switch {
	case p.JSON:
		p.event(map[string]any{"event": "progress", "op": p.op, "done": p.done, "total": p.total, "bytes": p.bytes})
	case p.Terminal:
		if now.Sub(p.lastDraw) >= 100*time.Millisecond || p.done == p.total {
			p.lastDraw = now
			fmt.Fprintf(p.W, "\r%s\x1b[K", p.bar(now))
		}
	default:
		iv := p.Interval
		if iv == 0 {
			iv = 2 * time.Second
		}
		if p.lastDraw.IsZero() {
			p.lastDraw = p.start
		}
		if now.Sub(p.lastDraw) >= iv {
			p.lastDraw = now
			fmt.Fprintln(p.W, p.line(now))
		}
	}
}

// Done ends the operation (the caller prints its own summary).
func (p *Progress) Done() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.Terminal && !p.JSON {
		fmt.Fprintf(p.W, "\r%s\x1b[K\n", p.bar(time.Now()))
	}
}

func (p *Progress) event(e map[string]any) {
	b, _ := json.Marshal(e)
	p.W.Write(append(b, '\n'))
}

func (p *Progress) rate(now time.Time) float64 {
	s := now.Sub(p.start).Seconds()
	if s <= 0 {
		return 0
	}
	return float64(p.bytes) / s
}

func (p *Progress) line(now time.Time) string {
	if p.total == 0 { // not known ahead (mirror)
		return fmt.Sprintf("%s: %d modules, %s, %s/s", p.op, p.done, FormatBytes(p.bytes), FormatBytes(int64(p.rate(now))))
	}
	return fmt.Sprintf("%s: %d/%d modules, %s, %s/s", p.op, p.done, p.total, FormatBytes(p.bytes), FormatBytes(int64(p.rate(now))))
}

func (p *Progress) bar(now time.Time) string {
	if p.total == 0 {
		return p.line(now)
	}
	const width = 30
	fill := width * p.done / p.total
	eta := "?"
	if p.done > 0 {
		left := time.Duration(float64(now.Sub(p.start)) / float64(p.done) * float64(p.total-p.done))
		eta = left.Round(time.Second).String()
	}
	return fmt.Sprintf("%s [%s%s] %d/%d %s %s/s ETA %s", p.op, strings.Repeat("=", fill), strings.Repeat(" ", width-fill),
		p.done, p.total, FormatBytes(p.bytes), FormatBytes(int64(p.rate(now))), eta)
}

// FormatBytes prints n in B, kB, MB or GB.
func FormatBytes(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.1f GB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d B", n)
}

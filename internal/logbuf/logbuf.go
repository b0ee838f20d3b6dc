// Package logbuf takes log lines off the request path: a Writer keeps whole
// lines in memory and writes them out together, when its buffer fills, on
// a timer and at Close, so that a request costs no write system call of
// its own. Lines that must not wait (warnings, errors, the start and stop
// messages) go through Direct, which writes what is buffered first, so the
// two kinds keep their order in one stream and a line is never split.
package logbuf

import (
	"io"
	"sync"
	"time"
)

// Writer buffers writes to an underlying writer. Each Write is kept whole:
// a log handler writes one line per call.
type Writer struct {
	mu     sync.Mutex
	out    io.Writer
	buf    []byte
	size   int
	closed bool // after Close, writes go straight through

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// New returns a Writer over out that keeps up to size bytes and writes them
// at least every interval.
func New(out io.Writer, interval time.Duration, size int) *Writer {
	w := &Writer{out: out, buf: make([]byte, 0, size), size: size, stop: make(chan struct{}), done: make(chan struct{})}
	go w.flushEvery(interval)
	return w
}

func (w *Writer) flushEvery(interval time.Duration) {
	defer close(w.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			w.Flush()
		case <-w.stop:
			return
		}
	}
}

// Write keeps p, writing out what is kept first if p would not fit. A line
// larger than the buffer is written at once.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed || len(w.buf)+len(p) > w.size {
		if err := w.flushLocked(); err != nil {
			return 0, err
		}
		if w.closed || len(p) > w.size {
			return w.out.Write(p)
		}
	}
	w.buf = append(w.buf, p...)
	return len(p), nil
}

// Flush writes out what is kept.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.flushLocked()
}

func (w *Writer) flushLocked() error {
	if len(w.buf) == 0 {
		return nil
	}
	_, err := w.out.Write(w.buf)
	w.buf = w.buf[:0] // a failed write loses its lines rather than growing without end
	return err
}

// Close stops the timer and writes out what is kept; later writes go
// straight through, so a line logged during shutdown is not lost.
func (w *Writer) Close() error {
	w.once.Do(func() { close(w.stop) })
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	return w.flushLocked()
}

// Direct returns a writer that writes through at once, after what w keeps.
func (w *Writer) Direct() io.Writer { return direct{w} }

type direct struct{ w *Writer }

func (d direct) Write(p []byte) (int, error) {
	d.w.mu.Lock()
	defer d.w.mu.Unlock()
	if err := d.w.flushLocked(); err != nil {
		return 0, err
	}
	return d.w.out.Write(p)
}

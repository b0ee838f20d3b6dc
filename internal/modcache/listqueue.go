package modcache

import (
	"context"
	"sync"
)

// listQueue rewrites stored @v/list files in the background, off the
// request path: a fetch only names the module, and one rewrite serves any
// number of fetches of it that came meanwhile. The queue is bounded; when
// it is full the fetch rewrites the list itself. A crash can lose a
// pending rewrite: the list is only a derived copy (for GOPROXY=file://
// readers of the store; gatehouse itself reads the directory), and the
// next fetch of that module writes it again from the directory.
type listQueue struct {
	mu      sync.Mutex
	pending map[string]bool // queued, not yet being written
	work    chan string
	closed  bool
	done    sync.WaitGroup
}

func (c *Cache) startListQueue(size int) {
	q := &listQueue{pending: map[string]bool{}, work: make(chan string, size)}
	c.lists = q
	q.done.Add(1)
	go func() {
		defer q.done.Done()
		for modPath := range q.work {
			q.mu.Lock()
			delete(q.pending, modPath)
			q.mu.Unlock()
			if err := c.updateList(context.Background(), modPath); err != nil {
				c.log.Warn("updating stored version list", "module", modPath, "err", err)
			}
		}
	}()
}

// listChanged has modPath's stored list rewritten, soon or now.
func (c *Cache) listChanged(ctx context.Context, modPath string) error {
	if q := c.lists; q != nil {
		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
		} else if q.pending[modPath] {
			q.mu.Unlock()
			return nil // a rewrite not yet started will see this version
		} else {
			select {
			case q.work <- modPath:
				q.pending[modPath] = true
				q.mu.Unlock()
				return nil
			default: // full: write it here
				q.mu.Unlock()
			}
		}
	}
	return c.updateList(ctx, modPath)
}

// Close writes the list rewrites still queued and stops the queue; later
// fetches rewrite their lists themselves.
func (c *Cache) Close() error {
	if q := c.lists; q != nil {
		q.mu.Lock()
		if !q.closed {
			q.closed = true
			close(q.work)
		}
		q.mu.Unlock()
		q.done.Wait()
	}
	return nil
}

package coldbench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fileServerEnv names the directory the test binary, started again with it
// set, serves with a bare http.FileServer: a process of its own, as
// gatehouse is, so that neither shares the load generator's process.
const fileServerEnv = "COLDBENCH_FILESERVER"

func serveFiles(dir string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("listen=%s\n", ln.Addr())
	go func() { io.Copy(io.Discard, os.Stdin); os.Exit(0) }() // the parent went away
	http.Serve(ln, http.FileServer(http.Dir(dir)))
}

type fileServer struct {
	url   string
	cmd   *exec.Cmd
	stdin io.Closer
}

func startFileServer(t *testing.T, dir string) *fileServer {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), fileServerEnv+"="+dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	fs := &fileServer{cmd: cmd, stdin: stdin}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listen=")
	if err != nil || !ok {
		fs.stop()
		t.Fatalf("file server did not start: %q %v", line, err)
	}
	fs.url = "http://" + addr
	return fs
}

func (fs *fileServer) stop() {
	fs.stdin.Close()
	fs.cmd.Process.Kill()
	fs.cmd.Wait()
}

// storeURLs returns the URL paths of a store's .mod and .zip files, and of
// the @v/list and @latest of each module in it.
func storeURLs(t *testing.T, data string) (mods, zips, lists, latests []string) {
	err := filepath.WalkDir(data, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".gatehouse" {
			return filepath.SkipDir
		}
		rel := "/" + filepath.ToSlash(strings.TrimPrefix(p, data+string(filepath.Separator)))
		switch {
		case d.IsDir() && d.Name() == "@v":
			mod := strings.TrimSuffix(rel, "/@v")
			lists = append(lists, mod+"/@v/list")
			latests = append(latests, mod+"/@latest")
		case strings.HasSuffix(rel, ".mod"):
			mods = append(mods, rel)
		case strings.HasSuffix(rel, ".zip"):
			zips = append(zips, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(mods) == 0 || len(zips) == 0 {
		t.Fatalf("store %s holds %d .mod and %d .zip files", data, len(mods), len(zips))
	}
	return mods, zips, lists, latests
}

type loadResult struct {
	rate   float64 // successful requests per second
	errors int     // failed requests and non-200 answers
}

// loadTest fetches paths from base round-robin over conns keep-alive
// connections for d, reading every body whole.
func loadTest(ctx context.Context, base string, paths []string, conns int, d time.Duration) loadResult {
	tr := &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var ok, failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := c; ctx.Err() == nil; i++ {
				req, _ := http.NewRequestWithContext(ctx, "GET", base+paths[i%len(paths)], nil)
				resp, err := client.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						failed.Add(1)
					}
					continue
				}
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				switch {
				case err == nil && resp.StatusCode == 200:
					ok.Add(1)
				case ctx.Err() == nil:
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return loadResult{rate: float64(ok.Load()) / time.Since(start).Seconds(), errors: int(failed.Load())}
}

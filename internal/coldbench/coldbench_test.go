package coldbench

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/mod/modfile"

	"github.com/gatehouse-dev/gatehouse/internal/benchrelay"
	"github.com/gatehouse-dev/gatehouse/internal/testproxy"
)

var (
	runBench  = flag.Bool("coldbench", false, "run the cold-path benchmark (off in make test; see scripts/coldbench.sh)")
	live      = flag.Bool("coldbench.live", os.Getenv("GATEHOUSE_LIVE") == "1", "fetch a real project's modules from proxy.golang.org instead of the hermetic generated ones")
	runs      = flag.Int("coldbench.runs", 5, "runs of each kind (direct, gatehouse; warm gatehouse, file://)")
	delays    = flag.String("coldbench.delays", "0ms,20ms", "comma-separated delays the relay adds to every upstream request")
	hitsFor   = flag.Duration("coldbench.hits", 2*time.Second, "length of one round of the warm-hit load test (3 rounds per server and kind); 0 skips it")
	conns     = flag.Int("coldbench.conns", 32, "connections of the warm-hit load test")
	reportOut = flag.String("coldbench.out", "", "also write the report (markdown) to this file")
	timeLimit = flag.Duration("coldbench.timeout", 2*time.Minute, "time limit of one go mod download")
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(fileServerEnv); dir != "" {
		serveFiles(dir) // the bare FileServer of the load test, in a process of its own
		return
	}
	os.Exit(m.Run())
}

// upstream is what the relay forwards to.
type upstream struct {
	name   string // for the report
	url    string // GOPROXY base URL
	sumdb  string // GOSUMDB value (and gatehouse --sumdb)
	goMod  string // the project's go.mod
	detail string // for the report: module count, sizes
}

func TestColdBench(t *testing.T) {
	if !*runBench {
		t.Skip("the cold-path benchmark runs only when asked: scripts/coldbench.sh, or -coldbench")
	}
	ds, err := parseDelays(*delays)
	if err != nil {
		t.Fatal(err)
	}
	if *runs < 1 || *conns < 1 {
		t.Fatalf("-coldbench.runs %d and -coldbench.conns %d: both must be at least 1", *runs, *conns)
	}
	// Each go command has its own limit (-coldbench.timeout); the whole
	// benchmark stops short of go test's -timeout (scripts/coldbench.sh: 60m).
	ctx := t.Context()
	if dl, ok := t.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, dl.Add(-30*time.Second))
		defer cancel()
	}

	up := startUpstream(t) // first: a live upstream that does not answer fails fast
	bin := buildGatehouse(t)
	r := &report{upstream: up, load0: loadAvg(), start: time.Now()}

	// go.sum: written once by a download straight from the upstream (not
	// timed), so that each timed run checks against a complete go.sum, as a
	// project's CI does, and the go command needs no checksum database.
	project := t.TempDir()
	write(t, filepath.Join(project, "go.mod"), up.goMod)
	// "go mod download PATHS" records the zips' sums; "go list -m all" the
	// go.mod sums of the rest of the module graph, as go mod tidy would.
	for _, args := range [][]string{append([]string{"mod", "download"}, requiredPaths(t, up.goMod)...), {"list", "-mod=mod", "-m", "all"}} {
		if _, err := goRun(ctx, project, up.url, up.sumdb, true, args...); err != nil {
			t.Fatalf("writing go.sum by a direct download: %v", err)
		}
	}

	for i, d := range ds {
		r.rows = append(r.rows, benchDelay(ctx, t, bin, up, project, d, i == len(ds)-1))
	}
	r.versions = len(r.rows[0].direct.stats[0].Versions())
	r.load1 = loadAvg()
	text := r.String()
	fmt.Println(text)
	if *reportOut != "" {
		write(t, *reportOut, text)
	}
}

// benchDelay runs everything at one added delay; the hit load test (which
// no upstream delay can touch) only with hits set.
func benchDelay(ctx context.Context, t *testing.T, bin string, up upstream, project string, d time.Duration, hits bool) row {
	relay, err := benchrelay.New(up.url, d)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(relay)
	defer srv.Close()
	res := row{delay: d}

	// Cold: alternating runs, each gatehouse on an empty data dir; the
	// order flips every pair so that neither side always goes first.
	var lastData string
	for i := range *runs {
		direct := func() {
			relay.Reset()
			took, err := goRun(ctx, project, srv.URL, up.sumdb, false, "mod", "download")
			if err != nil {
				t.Fatalf("direct run: %v", err)
			}
			st := relay.Reset()
			t.Logf("%s: direct run %d: %v, %d upstream requests", ms(d), i+1, took.Round(time.Millisecond), st.Total)
			res.direct.add(took, st)
		}
		cold := func() {
			data := t.TempDir()
			g := startGatehouse(t, bin, data, srv.URL, up.sumdb)
			relay.Reset() // what gatehouse asked at start is not the download's
			took, err := goRun(ctx, project, g.url, up.sumdb, false, "mod", "download")
			g.stop(t) // background work it started counts as the run's
			if err != nil {
				t.Fatalf("gatehouse run: %v\n%s", err, g.logTail())
			}
			st := relay.Reset()
			t.Logf("%s: gatehouse cold run %d: %v, %d upstream requests", ms(d), i+1, took.Round(time.Millisecond), st.Total)
			res.cold.add(took, st)
			if lastData != "" {
				os.RemoveAll(lastData)
			}
			lastData = data
		}
		if i%2 == 0 {
			direct()
			cold()
		} else {
			cold()
			direct()
		}
	}

	// Warm: the last cold run's store, through gatehouse and as file://.
	// The load test below is 32 connections from one address, which the
	// default per-address rate limit would answer with 429s: it is off.
	g := startGatehouse(t, bin, lastData, srv.URL, up.sumdb, "--rate-limit", "0")
	defer g.stop(t)
	for i := range *runs {
		viaGatehouse := func() {
			relay.Reset()
			took, err := goRun(ctx, project, g.url, up.sumdb, false, "mod", "download")
			if err != nil {
				t.Fatalf("warm gatehouse run: %v\n%s", err, g.logTail())
			}
			res.warm.add(took, relay.Reset())
		}
		viaFile := func() {
			// Same complete go.sum: the go command never asks a checksum
			// database here either, which a file:// proxy could not answer.
			took, err := goRun(ctx, project, "file://"+lastData, "off", false, "mod", "download")
			if err != nil {
				t.Fatalf("file:// run: %v", err)
			}
			res.file.add(took, benchrelay.Stats{})
		}
		if i%2 == 0 {
			viaGatehouse()
			viaFile()
		} else {
			viaFile()
			viaGatehouse()
		}
	}

	if *hitsFor > 0 {
		mods, zips, lists, latests := storeURLs(t, lastData)
		relay.Reset()
		res.list = loadTest(ctx, g.url, lists, *conns, *hitsFor)
		res.latest = loadTest(ctx, g.url, latests, *conns, *hitsFor)
		res.listUpstream = relay.Reset().Total
		if hits && raceEnabled {
			t.Log("race detector on: no hit load test, the FileServer would run under it too")
		} else if hits {
			fs := startFileServer(t, lastData)
			defer fs.stop()
			res.hits = map[string][2]float64{}
			for _, k := range []struct {
				kind string
				urls []string
			}{{".mod", mods}, {".zip", zips}} {
				var gh, fh []float64
				for range 3 {
					gh = append(gh, loadTest(ctx, g.url, k.urls, *conns, *hitsFor).rate)
					fh = append(fh, loadTest(ctx, fs.url, k.urls, *conns, *hitsFor).rate)
				}
				res.hits[k.kind] = [2]float64{median(gh), median(fh)}
			}
		}
	}
	return res
}

func parseDelays(s string) ([]time.Duration, error) {
	var ds []time.Duration
	for _, f := range strings.Split(s, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(f))
		if err != nil || d < 0 || d > time.Second {
			return nil, fmt.Errorf("-coldbench.delays: %q is not a delay between 0 and 1s", f)
		}
		ds = append(ds, d)
	}
	return ds, nil
}

func buildGatehouse(t *testing.T) string {
	bin := filepath.Join(t.TempDir(), "gatehouse")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/gatehouse-dev/gatehouse/cmd/gatehouse")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building gatehouse: %v\n%s", err, out)
	}
	return bin
}

func startUpstream(t *testing.T) upstream {
	if *live {
		const proxy = "https://proxy.golang.org"
		c := &http.Client{Timeout: 15 * time.Second}
		resp, err := c.Get(proxy + "/sumdb/sum.golang.org/supported")
		if err != nil {
			t.Fatalf("live mode: the public proxy does not answer: %v", err)
		}
		resp.Body.Close()
		data, err := os.ReadFile("testdata/lazygit/go.mod")
		if err != nil {
			t.Fatal(err)
		}
		return upstream{name: "live: proxy.golang.org", url: proxy, sumdb: "sum.golang.org", goMod: string(data),
			detail: fmt.Sprintf("the %d required modules of lazygit (testdata/lazygit/go.mod)", len(requiredPaths(t, string(data))))}
	}
	up := testproxy.New(t)
	mods := hermeticProject()
	zipBytes, err := addTo(up, mods)
	if err != nil {
		t.Fatal(err)
	}
	return upstream{name: "hermetic: internal/testproxy on loopback", url: up.URL, sumdb: up.GOSUMDB(), goMod: goModOf(mods),
		detail: fmt.Sprintf("%d generated modules required (+%d older versions in the graph), %.1f MB of zips", hermeticModules, len(mods)-hermeticModules, float64(zipBytes)/1e6)}
}

func requiredPaths(t *testing.T, goMod string) []string {
	f, err := modfile.ParseLax("go.mod", []byte(goMod), nil)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, r := range f.Require {
		paths = append(paths, r.Mod.Path)
	}
	return paths
}

// goRun runs the go command in a copy of project with a fresh module cache,
// and returns how long it took. With keepSum, the go.sum it leaves is
// copied back to project.
func goRun(ctx context.Context, project, proxy, sumdb string, keepSum bool, args ...string) (time.Duration, error) {
	home, err := os.MkdirTemp("", "coldbench-go-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(home)
	dir := filepath.Join(home, "project")
	os.Mkdir(dir, 0o755)
	for _, name := range []string{"go.mod", "go.sum"} {
		if data, err := os.ReadFile(filepath.Join(project, name)); err == nil {
			os.WriteFile(filepath.Join(dir, name), data, 0o644)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, *timeLimit)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + home,
		"GOPATH=" + filepath.Join(home, "gopath"), "GOMODCACHE=" + filepath.Join(home, "modcache"),
		"GOCACHE=" + filepath.Join(home, "gocache"), "GOENV=off", "GOFLAGS=-modcacherw",
		"GOTOOLCHAIN=local", "GOWORK=off", "GOTELEMETRY=off", "GONOSUMDB=", "GONOSUMCHECK=",
		"GONOPROXY=", "GOPRIVATE=", "GOINSECURE=", "GOPROXY=" + proxy, "GOSUMDB=" + sumdb,
	}
	start := time.Now()
	out, err := cmd.CombinedOutput()
	took := time.Since(start)
	if err != nil {
		return took, fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	if keepSum {
		data, err := os.ReadFile(filepath.Join(dir, "go.sum"))
		if err != nil {
			return took, fmt.Errorf("no go.sum written: %v", err)
		}
		if err := os.WriteFile(filepath.Join(project, "go.sum"), data, 0o644); err != nil {
			return took, err
		}
	}
	return took, nil
}

// gatehouse is a running gatehouse serve.
type gatehouse struct {
	url, log string
	cmd      *exec.Cmd
	done     chan struct{}
}

var listenRE = regexp.MustCompile(`msg="gatehouse serving" listen=(\S+)`)

func startGatehouse(t *testing.T, bin, data, upstreamURL, sumdb string, args ...string) *gatehouse {
	logFile := filepath.Join(t.TempDir(), "gatehouse.log")
	f, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(bin, "serve", "--listen", "127.0.0.1:0", "--data", data, "--upstream", upstreamURL, "--sumdb", sumdb)
	cmd.Args = append(cmd.Args, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	cmd.Stderr = f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	g := &gatehouse{log: logFile, cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); close(g.done) }()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		select {
		case <-g.done:
			t.Fatalf("gatehouse exited at start:\n%s", g.logTail())
		default:
		}
		if m := listenRE.FindStringSubmatch(g.logTail()); m != nil {
			g.url = "http://" + m[1]
			return g
		}
	}
	g.stop(t)
	t.Fatalf("gatehouse did not start:\n%s", g.logTail())
	return nil
}

// logTail returns the last 4 KB of the log.
func (g *gatehouse) logTail() string {
	data, _ := os.ReadFile(g.log)
	return string(data[max(0, len(data)-4096):])
}

func (g *gatehouse) stop(t *testing.T) {
	select {
	case <-g.done:
		return
	default:
	}
	g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-g.done:
	case <-time.After(30 * time.Second):
		g.cmd.Process.Kill()
		<-g.done
		t.Errorf("gatehouse did not stop on SIGTERM")
	}
}

func write(t *testing.T, name, data string) {
	if err := os.WriteFile(name, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func loadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// series is the runs of one kind at one delay.
type series struct {
	took  []time.Duration
	stats []benchrelay.Stats
}

func (s *series) add(d time.Duration, st benchrelay.Stats) {
	s.took = append(s.took, d)
	s.stats = append(s.stats, st)
}

func (s *series) median() time.Duration {
	v := slices.Clone(s.took)
	slices.Sort(v)
	if len(v) == 0 {
		return 0
	}
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// requests returns the median run's upstream request count and its stats.
func (s *series) requests() (int, benchrelay.Stats) {
	if len(s.stats) == 0 {
		return 0, benchrelay.Stats{}
	}
	idx := make([]int, len(s.stats))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return s.stats[a].Total - s.stats[b].Total })
	st := s.stats[idx[len(idx)/2]]
	return st.Total, st
}

func median(v []float64) float64 {
	v = slices.Clone(v)
	slices.Sort(v)
	if len(v) == 0 {
		return 0
	}
	return v[len(v)/2]
}

// row is everything measured at one delay.
type row struct {
	delay                    time.Duration
	direct, cold, warm, file series
	list, latest             loadResult
	listUpstream             int
	hits                     map[string][2]float64 // kind → gatehouse, FileServer req/s
}

type report struct {
	upstream     upstream
	versions     int // module versions a direct go mod download fetched
	load0, load1 string
	start        time.Time
	rows         []row
}

func (r *report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "### Cold-path benchmark: %s\n\n", r.upstream.name)
	fmt.Fprintf(&b, "%s; %d module versions fetched by a direct `go mod download`. %d runs of each kind, medians; %s, %d cores, %s/%s. Load average %s before, %s after (%s in all).\n\n",
		r.upstream.detail, r.versions, *runs, runtime.Version(), runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, r.load0, r.load1, time.Since(r.start).Round(time.Second))
	b.WriteString("| added delay | direct | gatehouse, cold | ratio | upstream requests per module version: direct | gatehouse |\n|---|---|---|---|---|---|\n")
	for _, w := range r.rows {
		dn, _ := w.direct.requests()
		gn, _ := w.cold.requests()
		fmt.Fprintf(&b, "| %s | %s %s | %s %s | **%.2f×** | %.2f (%d) | %.2f (%d) |\n", ms(w.delay),
			sec(w.direct.median()), spread(w.direct.took), sec(w.cold.median()), spread(w.cold.took),
			ratio(w.cold.median(), w.direct.median()), perVersion(dn, r.versions), dn, perVersion(gn, r.versions), gn)
	}
	b.WriteString("\nUpstream requests by kind (the median run):\n\n| added delay | path | " + strings.Join(kinds, " | ") + " | most for one version | answers other than 200 |\n|---|---|" + strings.Repeat("---|", len(kinds)+2) + "\n")
	for _, w := range r.rows {
		for _, p := range []struct {
			name string
			s    *series
		}{{"direct", &w.direct}, {"gatehouse", &w.cold}} {
			_, st := p.s.requests()
			fmt.Fprintf(&b, "| %s | %s |", ms(w.delay), p.name)
			for _, k := range kinds {
				fmt.Fprintf(&b, " %d |", st.ByKind[k])
			}
			fmt.Fprintf(&b, " %s | %s |\n", mostAsked(st), otherStatuses(st))
		}
	}
	b.WriteString("\nWarm: the store the last cold run filled, through gatehouse and as `GOPROXY=file://` (fresh module cache each run):\n\n| added delay | gatehouse, warm | file:// | ratio | upstream requests (gatehouse) |\n|---|---|---|---|---|\n")
	for _, w := range r.rows {
		n, _ := w.warm.requests()
		fmt.Fprintf(&b, "| %s | %s %s | %s %s | **%.2f×** | %d |\n", ms(w.delay), sec(w.warm.median()), spread(w.warm.took),
			sec(w.file.median()), spread(w.file.took), ratio(w.warm.median(), w.file.median()), n)
	}
	if *hitsFor > 0 {
		fmt.Fprintf(&b, "\nWarm hits, %d keep-alive connections, %v rounds (3 per server, alternating; medians), every stored file of the kind in turn:\n\n| kind | gatehouse req/s | FileServer req/s | ratio |\n|---|---|---|---|\n", *conns, *hitsFor)
		for _, w := range r.rows {
			for _, k := range []string{".mod", ".zip"} {
				if h, ok := w.hits[k]; ok {
					fmt.Fprintf(&b, "| `%s` | %.0f | %.0f | **%.2f×** |\n", k, h[0], h[1], h[0]/h[1])
				}
			}
		}
		b.WriteString("\n`@v/list` and `@latest` on the warm store (one round each, every module in turn):\n\n| added delay | `@v/list` req/s | `@latest` req/s | upstream requests | errors |\n|---|---|---|---|---|\n")
		for _, w := range r.rows {
			fmt.Fprintf(&b, "| %s | %.0f | %.0f | %d | %d |\n", ms(w.delay), w.list.rate, w.latest.rate, w.listUpstream, w.list.errors+w.latest.errors)
		}
	}
	return b.String()
}

var kinds = []string{benchrelay.KindInfo, benchrelay.KindMod, benchrelay.KindZip, benchrelay.KindList, benchrelay.KindLatest,
	benchrelay.KindLookup, benchrelay.KindTile, benchrelay.KindSumLatest, benchrelay.KindSupported, benchrelay.KindOther}

func mostAsked(st benchrelay.Stats) string {
	best, n := "", 0
	for _, v := range st.Versions() {
		if st.ByVersion[v] > n {
			best, n = v, st.ByVersion[v]
		}
	}
	if best == "" {
		return "-"
	}
	return fmt.Sprintf("%d (%s)", n, best)
}

func ms(d time.Duration) string { return fmt.Sprintf("%d ms", d.Milliseconds()) }

// otherStatuses lists the upstream's answers other than 200 (a 302 would
// send the client around the relay; a 502 is an upstream the relay could not reach).
func otherStatuses(st benchrelay.Stats) string {
	var codes []int
	for c := range st.ByStatus {
		if c != http.StatusOK {
			codes = append(codes, c)
		}
	}
	slices.Sort(codes)
	var parts []string
	for _, c := range codes {
		parts = append(parts, fmt.Sprintf("%d×%d", st.ByStatus[c], c))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func sec(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

func spread(v []time.Duration) string {
	if len(v) < 2 {
		return ""
	}
	return fmt.Sprintf("(%.2f–%.2f)", slices.Min(v).Seconds(), slices.Max(v).Seconds())
}

func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func perVersion(n, versions int) float64 {
	if versions == 0 {
		return 0
	}
	return float64(n) / float64(versions)
}

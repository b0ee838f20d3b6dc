// Package coldbench holds the cold-path benchmark (issue 21): the real go
// command downloads a whole project's modules straight from an upstream and
// through an empty gatehouse, both through the same delaying, counting relay
// (internal/benchrelay), in alternating runs; then the same through a full
// store against GOPROXY=file://, and a warm-hit load test against a bare
// http.FileServer on the same files.
//
// It is a test that runs only when asked (scripts/coldbench.sh, or
// go test ./internal/coldbench -run ColdBench -coldbench): hermetic by
// default, on ~75 generated modules served by internal/testproxy on
// loopback; with -coldbench.live (or GATEHOUSE_LIVE=1) on a real project's
// module list (testdata/lazygit/go.mod) fetched from proxy.golang.org.
// See docs/benchmarks.md.
package coldbench

// Package integration holds end-to-end tests: the gatehouse binary, built
// once per run, serves the real go command from hermetic test upstreams.
package integration

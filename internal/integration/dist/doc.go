// Package dist tests the shipped files under dist/ and the Makefile's
// release targets: the systemd units (systemd-analyze), the compose
// example (as YAML, it cannot run here) and make release.
package dist

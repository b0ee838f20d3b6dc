// Package dockerguard holds the end-to-end tests of gatehouse docker: a real
// dockerd on a private unix socket, the gatehouse binary in front of it, and
// the real docker CLI as the client.
package dockerguard

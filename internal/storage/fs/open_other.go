//go:build !linux

package fs

import "os"

func openDir(string) (int, error) { return -1, nil }

func closeDir(int) {}

func openBeneath(_ int, root *os.Root, name string) (*os.File, error) {
	return root.Open(name)
}

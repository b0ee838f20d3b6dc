//go:build !unix

package doctor

import "io/fs"

// fileOwner is unknown where files have no uid; the current-user check is
// then skipped (group and others still are checked).
func fileOwner(fs.FileInfo) (int, bool) { return 0, false }

//go:build unix

package file

import "syscall"

// oNoFollow makes opening a symlink fail: the checked, resolved path is
// what is opened, so a symlink there appeared after the check.
const oNoFollow = syscall.O_NOFOLLOW

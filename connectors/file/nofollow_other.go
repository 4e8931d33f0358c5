//go:build !unix

package file

const oNoFollow = 0

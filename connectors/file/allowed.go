package file

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/weirlog/weir/plugins"
)

// Which files FileStream connectors may touch. A REST caller chooses the
// "file" of a connector, and the worker opens it as its own user: without
// a bound, anyone who reaches the REST API could stream /etc/shadow into a
// topic or overwrite any file the broker can write. So every path must
// resolve — symlinks and ".." followed as the kernel would — to somewhere
// under one of the allowed directories, and tasks open the resolved path
// (refusing a symlink as the last component), not the string they were
// given. A rename inside an allowed directory between the check and the
// open can still redirect a path within it; nothing can point it outside
// without write access to the allowed directory itself.

// AllowedDirsSetting is the `weir serve` flag that sets the allowed
// directories (environment variable AllowedDirsEnv).
const (
	AllowedDirsSetting = "--connect-file-allowed-dirs"
	AllowedDirsEnv     = "WEIR_CONNECT_FILE_ALLOWED_DIRS"
	// DefaultAllowedDir is where FileStream connectors may read and write
	// when nothing else is configured: connect-files under the worker's
	// working directory.
	DefaultAllowedDir = "connect-files"
)

var allowed struct {
	mu   sync.RWMutex
	set  bool
	dirs []string // absolute, symlinks resolved where they exist
}

// SetAllowedDirs sets the directories FileStream connectors may use in
// this process (relative ones are taken from the working directory). An
// empty list means the default: AllowedDirsEnv's comma-separated list when
// set, else DefaultAllowedDir.
func SetAllowedDirs(dirs []string) error {
	var out []string
	for _, d := range dirs {
		if d = strings.TrimSpace(d); d == "" {
			continue
		}
		r, err := resolveDir(d)
		if err != nil {
			return fmt.Errorf("%s %s: %w", AllowedDirsSetting, d, err)
		}
		out = append(out, r)
	}
	allowed.mu.Lock()
	defer allowed.mu.Unlock()
	allowed.set = len(out) > 0
	allowed.dirs = out
	return nil
}

// AllowedDirs returns the directories FileStream connectors may use.
func AllowedDirs() []string {
	allowed.mu.RLock()
	if allowed.set {
		defer allowed.mu.RUnlock()
		return append([]string(nil), allowed.dirs...)
	}
	allowed.mu.RUnlock()
	var out []string
	for _, d := range defaultDirs() {
		if r, err := resolveDir(d); err == nil {
			out = append(out, r)
		}
	}
	return out
}

func defaultDirs() []string {
	if v := os.Getenv(AllowedDirsEnv); strings.TrimSpace(v) != "" {
		return strings.Split(v, ",")
	}
	return []string{DefaultAllowedDir}
}

// resolveDir makes d absolute and resolves its symlinks if it exists (an
// allowed directory that does not exist yet is taken as written).
func resolveDir(d string) (string, error) {
	abs, err := filepath.Abs(d)
	if err != nil {
		return "", err
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		return r, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	return abs, nil
}

// resolvePath follows p as the kernel would: the symlinks of every
// component that exists, and ".." after them. Components that do not exist
// yet (a sink creates its file, a source waits for it) are appended as
// written; they hold no symlinks (".." among them is refused).
func resolvePath(p string) (string, error) {
	cur := p
	if !filepath.IsAbs(cur) {
		wd, err := os.Getwd()
		if err != nil {
			return "", err
		}
		// No filepath.Join: it would clean "link/.." lexically, which is
		// not where the kernel goes when link is a symlink.
		cur = wd + string(filepath.Separator) + cur
	}
	var rest []string
	for {
		r, err := filepath.EvalSymlinks(cur)
		if err == nil {
			for _, c := range rest {
				if c == ".." {
					// Lexically, missing/../link would step onto an
					// existing symlink the open would then follow.
					return "", fmt.Errorf("%q has \"..\" after a directory that does not exist", p)
				}
			}
			return filepath.Join(append([]string{r}, rest...)...), nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		i := strings.LastIndexByte(cur, filepath.Separator)
		if i < 0 {
			return "", err
		}
		rest = append([]string{cur[i+1:]}, rest...)
		if cur = cur[:i]; cur == "" {
			cur = string(filepath.Separator)
		}
	}
}

// checkPath resolves a connector's file and refuses it unless it lies
// under an allowed directory; it returns the path to open.
func checkPath(p string) (string, error) {
	dirs := AllowedDirs()
	r, err := resolvePath(p)
	if err != nil {
		return "", fmt.Errorf("file %q: %w", p, err)
	}
	for _, d := range dirs {
		if rel, err := filepath.Rel(d, r); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && rel != "." {
			return r, nil
		}
	}
	where := "none"
	if len(dirs) > 0 {
		where = strings.Join(dirs, ", ")
	}
	msg := fmt.Sprintf("file %q", p)
	if r != p {
		msg += fmt.Sprintf(" (%s)", r)
	}
	return "", fmt.Errorf("%s is outside the directories this worker lets FileStream connectors read and write (%s / %s: %s)",
		msg, AllowedDirsSetting, AllowedDirsEnv, where)
}

// fileValidator is the "file" key's check, run by REST validation, so a
// path outside the allowed directories is a 400 before anything starts.
var fileValidator = plugins.ValidatorFunc("a path under the worker's allowed directories", func(_ string, v any) error {
	s, _ := v.(string)
	if s == "" {
		return nil // standard input or output
	}
	_, err := checkPath(s)
	return err
})

package file

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weirlog/weir/plugins"
)

// The other tests use t.TempDir(): allow the system's temporary directory.
func TestMain(m *testing.M) {
	if err := SetAllowedDirs([]string{os.TempDir()}); err != nil {
		panic(err)
	}
	os.Exit(m.Run())
}

// TestFilePathsOutsideAllowedDirsRefused: validation, connector and task
// start refuse a file outside the allowed directories, following symlinks
// and ".." as the kernel does, and name the setting.
func TestFilePathsOutsideAllowedDirsRefused(t *testing.T) {
	root := t.TempDir()
	allowedDir := filepath.Join(root, "allowed")
	outside := filepath.Join(root, "outside")
	for _, d := range []string{allowedDir, outside, filepath.Join(allowedDir, "sub")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	secret := filepath.Join(outside, "secret.txt")
	os.WriteFile(secret, []byte("s3cret\n"), 0o600)
	os.Symlink(secret, filepath.Join(allowedDir, "link-to-secret"))
	os.Symlink(outside, filepath.Join(allowedDir, "link-to-outside"))
	os.Symlink(filepath.Join(allowedDir, "sub"), filepath.Join(outside, "link-in")) // outside → inside is fine
	aliased := filepath.Join(root, "alias")
	os.Symlink(allowedDir, aliased)
	if err := SetAllowedDirs([]string{aliased}); err != nil { // an allowed dir behind a symlink
		t.Fatal(err)
	}
	t.Cleanup(func() { SetAllowedDirs([]string{os.TempDir()}) })

	for _, p := range []string{
		filepath.Join(allowedDir, "in.txt"), filepath.Join(aliased, "sub", "new.txt"),
		filepath.Join(outside, "link-in", "x.txt"), allowedDir + "/sub/../in.txt",
		filepath.Join(allowedDir, "new-dir", "new.txt"),
	} {
		if _, err := checkPath(p); err != nil {
			t.Errorf("%s refused: %v", p, err)
		}
	}
	for _, p := range []string{
		secret, "/etc/passwd", allowedDir + "/../outside/secret.txt",
		filepath.Join(allowedDir, "link-to-secret"),
		// Lexically this is allowed/secret.txt; the kernel goes through
		// the symlink first and lands in outside/.
		allowedDir + "/link-to-outside/../outside/secret.txt",
		filepath.Join(allowedDir, "link-to-outside", "new.txt"),
		allowedDir, // a directory, not a file under it
	} {
		_, err := checkPath(p)
		if err == nil || !strings.Contains(err.Error(), AllowedDirsSetting) {
			t.Errorf("%s: %v, want a refusal naming %s", p, err, AllowedDirsSetting)
		}
	}

	if _, err := checkPath(allowedDir + "/missing/../link-to-outside/new.txt"); err == nil {
		t.Error(`".." after a missing directory onto a symlink out was allowed`)
	}

	// Through the connectors' own config checks (what REST validation and
	// Start run) and the tasks.
	src := &SourceConnector{}
	if err := src.Start(nil, plugins.Config{"file": "/etc/passwd", "topic": "t"}); err == nil || !strings.Contains(err.Error(), AllowedDirsSetting) {
		t.Fatalf("source connector start: %v", err)
	}
	infos := sourceConfigDef.ValidateInfos("FileStreamSource", plugins.Config{"file": secret, "topic": "t"})
	if infos.ErrorCount != 1 {
		t.Fatalf("validation of an outside path: %+v", infos)
	}
	sink := &SinkTask{}
	if err := sink.Start(sinkCtx{}, plugins.Config{"file": filepath.Join(allowedDir, "link-to-outside", "w.txt")}); err == nil || !strings.Contains(err.Error(), AllowedDirsSetting) {
		t.Fatalf("sink task start through a symlink: %v", err)
	}
	if _, err := os.Stat(filepath.Join(outside, "w.txt")); err == nil {
		t.Fatal("the sink wrote outside")
	}
	// A source whose file appears later as a symlink out: its task fails.
	late := filepath.Join(allowedDir, "late.txt")
	task := &SourceTask{}
	if err := task.Start(taskCtx{offsets{}}, plugins.Config{"file": late, "topic": "t"}); err != nil {
		t.Fatal(err)
	}
	defer task.Stop()
	if recs, err := task.Poll(context.Background()); err != nil || len(recs) != 0 {
		t.Fatalf("poll before the file exists: %v %v", recs, err)
	}
	os.Symlink(secret, late)
	if _, err := task.Poll(context.Background()); err == nil || !strings.Contains(err.Error(), AllowedDirsSetting) {
		t.Fatalf("poll of a file that became a symlink out: %v", err)
	}
}

// TestDefaultAllowedDir: with nothing configured, the allowed directory is
// connect-files under the working directory (or the environment's list).
func TestDefaultAllowedDir(t *testing.T) {
	SetAllowedDirs(nil)
	t.Cleanup(func() { SetAllowedDirs([]string{os.TempDir()}) })
	wd, _ := os.Getwd()
	t.Setenv(AllowedDirsEnv, "")
	if got := AllowedDirs(); len(got) != 1 || got[0] != filepath.Join(wd, DefaultAllowedDir) {
		t.Fatalf("default allowed dirs %v", got)
	}
	d := t.TempDir()
	t.Setenv(AllowedDirsEnv, d+",/nonexistent-weir")
	if got := AllowedDirs(); len(got) != 2 || got[1] != "/nonexistent-weir" {
		t.Fatalf("allowed dirs from %s: %v", AllowedDirsEnv, got)
	}
}

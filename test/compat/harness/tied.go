package harness

import (
	"os/exec"
	"runtime"
	"sync"
	"syscall"
)

// StartTied starts cmd in its own process group with PR_SET_PDEATHSIG
// set to SIGKILL, so a test binary that is itself killed (go test
// -timeout, kill -9) takes its weir processes with it instead of leaving
// them holding ports and data dirs for the next run.
//
// The kernel sends the death signal when the *thread* that forked the
// child exits, and Go ends a thread whenever a goroutine that locked it
// returns (test/cluster's namespace dialer does exactly that). So every
// tied child is forked from one goroutine that locks its thread and never
// returns: that thread lives as long as the process.
func StartTied(cmd *exec.Cmd) error {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	spawnerOnce.Do(func() {
		go func() {
			runtime.LockOSThread() // never unlocked: see above
			for req := range spawnReqs {
				req.done <- req.cmd.Start()
			}
		}()
	})
	req := spawnReq{cmd, make(chan error, 1)}
	spawnReqs <- req
	return <-req.done
}

type spawnReq struct {
	cmd  *exec.Cmd
	done chan error
}

var (
	spawnerOnce sync.Once
	spawnReqs   = make(chan spawnReq)
)

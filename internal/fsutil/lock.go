package fsutil

import (
	"fmt"
	"os"
	"syscall"
)

// Lock holds an exclusive advisory lock (flock) on a lock file. The kernel
// drops it when the process dies, so a kill -9 never leaves a stale lock.
type Lock struct{ f *os.File }

// lock blocks until it holds the exclusive lock on f.
func lock(f *os.File) (*Lock, error) {
	var err error
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", f.Name(), err)
	}
	return &Lock{f: f}, nil
}

// Unlock releases the lock.
func (l *Lock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close() // closing the descriptor releases the flock
	l.f = nil
	return err
}

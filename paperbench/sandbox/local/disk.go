package local

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// mountDisk gives the sandbox's writable folders (under dir/fs) a file system of their own
// capped at size bytes: a sparse ext4 image file in dir, loop-mounted (nosuid, nodev) on
// dir/fs. It needs root and the host's mkfs.ext4 and mount; the error says what failed.
func mountDisk(dir string, size int64) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("a loop mount needs root")
	}
	img, fs := filepath.Join(dir, "disk.img"), filepath.Join(dir, "fs")
	f, err := os.Create(img)
	if err != nil {
		return err
	}
	err = f.Truncate(size)
	f.Close()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(fs, 0o755); err != nil {
		return err
	}
	for _, argv := range [][]string{
		{"mkfs.ext4", "-q", "-F", "-m", "0", img},
		{"mount", "-o", "loop,nosuid,nodev", img, fs},
	} {
		if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %v %s", argv[0], err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}

// unmountDisk unmounts dir/fs when something is mounted there (its device differs from
// dir's), lazily when it is still busy.
func unmountDisk(dir string) error {
	fs := filepath.Join(dir, "fs")
	var a, b syscall.Stat_t
	if syscall.Stat(dir, &a) != nil || syscall.Stat(fs, &b) != nil || a.Dev == b.Dev {
		return nil
	}
	if err := syscall.Unmount(fs, 0); err != nil {
		if err := syscall.Unmount(fs, syscall.MNT_DETACH); err != nil {
			return fmt.Errorf("unmount %s: %w", fs, err)
		}
	}
	return nil
}

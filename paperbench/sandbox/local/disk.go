package local

import (
	"errors"
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

// shmDir is the folder, in a persistent sandbox's folder, of the tmpfs the holder and every
// Exec bind at /dev/shm.
const shmDir = "shm"

// mountShm mounts a tmpfs of size bytes (0: the kernel's default, half the memory) on
// dir/shm, shared by all of a persistent sandbox's processes as /dev/shm. It needs root.
func mountShm(dir string, size int64) error {
	shm := filepath.Join(dir, shmDir)
	if err := os.MkdirAll(shm, 0o755); err != nil {
		return err
	}
	opts := "mode=1777"
	if size > 0 {
		opts += fmt.Sprintf(",size=%d", size)
	}
	if err := syscall.Mount("tmpfs", shm, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, opts); err != nil {
		return fmt.Errorf("sandbox local: /dev/shm tmpfs on %s: %w", shm, err)
	}
	return nil
}

// unmountDisk unmounts dir/shm and dir/fs where something is mounted.
func unmountDisk(dir string) error {
	return errors.Join(unmount(dir, shmDir), unmount(dir, "fs"))
}

// unmount unmounts dir/sub when something is mounted there (its device differs from dir's),
// lazily when it is still busy.
func unmount(dir, sub string) error {
	fs := filepath.Join(dir, sub)
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

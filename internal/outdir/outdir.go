// Package outdir holds the rule every latent command follows for a folder it writes: it refuses
// a folder that already holds something unless it was told --force, and it builds a new folder
// beside the target, putting it in place only once it is complete, so that a failed or
// interrupted command leaves what was there before and no partial files.
package outdir

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Check returns an error naming flag when dir exists and is not an empty folder, unless force
// is set; a file in dir's place is refused even with force.
func Check(flag, dir string, force bool) error {
	if dir == "" {
		return fmt.Errorf("%s: give an output folder", flag)
	}
	st, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %w", flag, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("%s %s: a file is in the way (want a folder)", flag, dir)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("%s: %w", flag, err)
	}
	if len(entries) > 0 && !force {
		return fmt.Errorf("%s %s: the folder is not empty (%d entries); pass --force to replace it", flag, dir, len(entries))
	}
	return nil
}

// Build makes the folder dir by calling fill on a new temporary folder beside it, then putting
// that folder in dir's place. An existing non-empty dir is refused unless force is set, and is
// replaced only after fill succeeded. When fill fails or ctx is cancelled, the temporary folder
// is removed and dir is left as it was.
func Build(ctx context.Context, dir string, force bool, fill func(tmp string) error) error {
	if err := Check("output", dir, force); err != nil {
		return err
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".partial-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp) // a no-op once tmp has become dir
	if err := fill(tmp); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	return replace(tmp, dir)
}

// replace renames the folder tmp to dir, first moving an existing dir aside and deleting it
// once tmp is in place (or moving it back if that fails).
func replace(tmp, dir string) error {
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return os.Rename(tmp, dir)
	}
	aside, err := os.MkdirTemp(filepath.Dir(dir), "."+filepath.Base(dir)+".old-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(aside)
	old := filepath.Join(aside, "old")
	if err := os.Rename(dir, old); err != nil {
		return err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return errors.Join(err, os.Rename(old, dir))
	}
	return nil
}

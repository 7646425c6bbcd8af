package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/latentlab/latent/paperbench/reproduce"
	"github.com/latentlab/latent/paperbench/sandbox"
)

var reproduceCmd = &cobra.Command{
	Use: "reproduce --submission DIR|TAR --out DIR",
	Example: `  paperbench reproduce --submission runs/g/rice/1/submission --out /tmp/repro
  paperbench reproduce --submission sub.tar --out /tmp/repro --sandbox docker --image pb-env --timeout 12h --json
  paperbench reproduce --submission sub.tar --out /tmp/repro --sandbox kubernetes --namespace pb --runtime-class gvisor --image registry.example/pb-env:1 --gpus 1`,
	Short: "Run a submission's reproduce.sh in a fresh sandbox and keep what it produced",
	Long: `Reproduce copies the submission (a folder, or a tar / tar.gz extracted safely) into a fresh
sandbox at /submission, writes reproduce.log.creation_time, runs bash reproduce.sh there under
--timeout (which kills everything the script started) and streams reproduce.log into OUT.

OUT receives submission_executed/ (the executed submission; files over --max-file are kept in
the manifest as size, sha256 and a head sample), reproduce.log and reproduction.json (every
attempt with exit code, timed-out flag, duration, log size, start time and the limits the
sandbox enforced; the kept attempt; the manifest saying which files reproduction created or
changed). A failed attempt (non-zero exit, timeout or empty log) is retried up to --retries
times in a fresh sandbox; the best attempt is kept, not the last.

The sandbox has no network unless --network full. Its labels (run, stage, attempt and any
--label) let 'paperbench sandbox cleanup' remove what a crashed run left. Ctrl-C or SIGTERM
stops the script and removes the sandbox. The command exits non-zero when every attempt failed
(OUT is still written).`,
	Args: cobra.NoArgs,
	RunE: runReproduce,
}

func init() {
	f := reproduceCmd.Flags()
	f.String("submission", "", "submission folder or tar / tar.gz with reproduce.sh at its root (required)")
	f.String("out", "", "output folder (required)")
	f.Duration("timeout", 12*time.Hour, "time limit of one attempt")
	f.Int("retries", 0, "extra attempts after a failed one")
	f.String("rootfs", "", "local backend: root filesystem folder to run on instead of the host's system folders")
	f.String("image", "", "docker and kubernetes backends: image name")
	f.Float64("cpus", 0, "CPU limit (0: none)")
	f.String("memory", "", "memory limit, e.g. 16g (default: none)")
	f.String("shm", "", "size of /dev/shm, e.g. 2g (default: the backend's)")
	f.String("disk", "", "cap on the sandbox's writable space, e.g. 100g, where the backend can enforce it (default: none)")
	f.Int("max-procs", 0, "process limit (0: none)")
	f.Int("gpus", 0, "GPUs to give the sandbox")
	f.String("network", "none", "network: none or full")
	f.StringArray("env", nil, "KEY=VALUE set for reproduce.sh (repeatable)")
	f.StringArray("label", nil, "key=value label on the sandboxes, for cleanup (repeatable)")
	f.String("max-file", "10m", "files larger than this stay in the manifest only")
	f.Bool("json", false, "print the record as JSON")
	backendFlags(reproduceCmd)
	rootCmd.AddCommand(reproduceCmd)
}

func runReproduce(cmd *cobra.Command, _ []string) error {
	opt, err := reproduceOptions(cmd)
	if err != nil {
		return fmt.Errorf("reproduce: %w", err)
	}
	if opt.Provider, err = newProvider(cmd); err != nil {
		return fmt.Errorf("reproduce: %w", err)
	}
	if c, ok := opt.Provider.(interface {
		Check(context.Context, sandbox.Spec) error
	}); ok {
		if err := c.Check(cmd.Context(), opt.Spec); err != nil {
			return fmt.Errorf("reproduce: %w", err)
		}
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rec, err := reproduce.Run(ctx, opt)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("reproduce: interrupted (%w); the sandbox was removed", err)
		}
		return err
	}
	if err := printRecord(cmd.OutOrStdout(), opt, rec, cmd.Flags().Changed("json")); err != nil {
		return err
	}
	kept := rec.Attempts[rec.Kept-1]
	if kept.ExitCode != 0 || kept.TimedOut || kept.LogBytes == 0 {
		return fmt.Errorf("reproduce: reproduce.sh failed in all %d attempts (kept attempt %d: %s); outputs are in %s",
			len(rec.Attempts), kept.Number, outcome(kept), opt.Out)
	}
	return nil
}

// reproduceOptions checks every flag before any work starts.
func reproduceOptions(cmd *cobra.Command) (reproduce.Options, error) {
	f := cmd.Flags()
	var opt reproduce.Options
	opt.Submission, _ = f.GetString("submission")
	opt.Out, _ = f.GetString("out")
	opt.Timeout, _ = f.GetDuration("timeout")
	opt.Retries, _ = f.GetInt("retries")
	switch {
	case opt.Submission == "" || opt.Out == "":
		return opt, errors.New("--submission and --out are required")
	case opt.Timeout <= 0:
		return opt, fmt.Errorf("--timeout %v: must be positive", opt.Timeout)
	case opt.Retries < 0:
		return opt, fmt.Errorf("--retries %d: must be 0 or more", opt.Retries)
	}
	if _, err := os.Stat(opt.Submission); err != nil {
		return opt, fmt.Errorf("--submission: %w", err)
	}
	if fi, err := os.Stat(opt.Out); err == nil && !fi.IsDir() {
		return opt, fmt.Errorf("--out %s is a file, not a folder", opt.Out)
	}
	maxFile, err := parseSize(mustString(cmd, "max-file"))
	if err != nil {
		return opt, fmt.Errorf("--max-file: %w", err)
	}
	opt.MaxFile = maxFile
	opt.Spec, err = specFromFlags(cmd)
	return opt, err
}

func mustString(cmd *cobra.Command, name string) string {
	s, _ := cmd.Flags().GetString(name)
	return s
}

// specFromFlags builds the sandbox spec from the limit, image and label flags.
func specFromFlags(cmd *cobra.Command) (sandbox.Spec, error) {
	f := cmd.Flags()
	var s sandbox.Spec
	var err error
	s.CPUs, _ = f.GetFloat64("cpus")
	s.MaxProcs, _ = f.GetInt("max-procs")
	s.GPUs, _ = f.GetInt("gpus")
	s.RootFS, s.Image = mustString(cmd, "rootfs"), mustString(cmd, "image")
	backend := mustString(cmd, "sandbox")
	switch {
	case s.CPUs < 0 || s.MaxProcs < 0 || s.GPUs < 0:
		return s, errors.New("--cpus, --max-procs and --gpus must be 0 or more")
	case s.RootFS != "" && backend != "local":
		return s, fmt.Errorf("--rootfs is for the local backend; %s takes --image", backend)
	case s.Image != "" && backend == "local":
		return s, errors.New("--image is for the docker and kubernetes backends; the local backend takes --rootfs")
	case s.GPUs > 0 && backend == "local":
		return s, errors.New("--gpus: the local backend gives no GPUs; use --sandbox docker or kubernetes")
	case s.Image == "" && backend == "docker":
		return s, errors.New("--sandbox docker needs --image NAME (a local image; none is pulled)")
	case s.Image == "" && backend == "kubernetes":
		return s, errors.New("--sandbox kubernetes needs --image NAME (an image the cluster's nodes can pull)")
	}
	if s.RootFS != "" {
		if s.RootFS, err = filepath.Abs(s.RootFS); err != nil {
			return s, err
		}
		if fi, err := os.Stat(s.RootFS); err != nil || !fi.IsDir() {
			return s, fmt.Errorf("--rootfs %s: not a folder", s.RootFS)
		}
	}
	switch n := sandbox.Network(mustString(cmd, "network")); n {
	case sandbox.NetworkNone, sandbox.NetworkFull:
		s.Network = n
	default:
		return s, fmt.Errorf("--network %q: want none or full", n)
	}
	for name, dst := range map[string]*int64{"memory": &s.MemBytes, "shm": &s.ShmBytes, "disk": &s.DiskBytes} {
		if v := mustString(cmd, name); v != "" {
			if *dst, err = parseSize(v); err != nil {
				return s, fmt.Errorf("--%s: %w", name, err)
			}
		}
	}
	return s, labelsAndEnv(cmd, &s)
}

// labelsAndEnv reads --label and --env; a run label is made up when none is given.
func labelsAndEnv(cmd *cobra.Command, s *sandbox.Spec) error {
	kv, _ := cmd.Flags().GetStringArray("label")
	l, err := parseLabels(kv)
	if err != nil {
		return fmt.Errorf("--label: %w", err)
	}
	if l["run"] == "" {
		l["run"] = fmt.Sprintf("reproduce-%d", time.Now().UnixNano())
	}
	s.Labels = l
	kv, _ = cmd.Flags().GetStringArray("env")
	env, err := parseLabels(kv)
	if err != nil {
		return fmt.Errorf("--env: %w", err)
	}
	s.Env = env
	return nil
}

func outcome(a reproduce.Attempt) string {
	switch {
	case a.TimedOut:
		return "timed out"
	case a.LogBytes == 0 && a.ExitCode == 0:
		return "empty reproduce.log"
	default:
		return fmt.Sprintf("exit %d", a.ExitCode)
	}
}

func printRecord(w io.Writer, opt reproduce.Options, rec *reproduce.Record, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rec)
	}
	for _, a := range rec.Attempts {
		fmt.Fprintf(w, "attempt %d: %s after %.1f s, reproduce.log %d bytes, sandbox %s\n", a.Number, outcome(a), a.DurationS, a.LogBytes, a.Sandbox)
	}
	a := rec.Attempts[rec.Kept-1]
	fmt.Fprintf(w, "kept attempt %d (run label %s)\nenforced: %v\n", rec.Kept, opt.Spec.Labels["run"], a.Enforced)
	if len(a.Unenforced) > 0 {
		fmt.Fprintf(w, "not enforced: %v\n", a.Unenforced)
	}
	_, err := fmt.Fprintf(w, "wrote %s (%d files in the manifest), %s, %s\n", filepath.Join(opt.Out, "submission_executed"),
		len(rec.Manifest), filepath.Join(opt.Out, "reproduce.log"), filepath.Join(opt.Out, "reproduction.json"))
	return err
}
